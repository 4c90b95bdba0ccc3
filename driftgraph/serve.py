"""Browse a driftgraph database in Datasette, read-only, with the descriptions and canned queries of datasette/.

datasette/ is a plain configuration folder (metadata.yaml, plugins/, templates/ when present) beside this
package; its metadata names the database `driftgraph`, and Datasette names a database after its file's stem,
so the entry is re-keyed to the served file's name before Datasette sees it.

The file is served read-only but not immutable: a scan committed while serve runs shows on the next page load,
and a file replaced underneath (a database copied over it) is reopened. The guards that make a long-running
server safe to leave up (loopback Host names only, bounded results and responses, connections that cannot
write) are the plugin datasette/plugins/driftgraph_guard.py.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import sqlite3
import threading
import webbrowser
from pathlib import Path
from typing import Any

import yaml
from datasette.database import Database

CONFIG_DIR = Path(__file__).resolve().parents[1] / "datasette"
METADATA_DATABASE = "driftgraph"  # the database key used in datasette/metadata.yaml
GUARD_PLUGIN = "driftgraph-guard"  # the plugin configuration key datasette/plugins/driftgraph_guard.py reads

# Datasette's settings, stated rather than inherited from whichever version is installed.
SETTINGS = {
    "sql_time_limit_ms": 1000,  # a query runs for one second at most, then SQLite interrupts it
    "max_returned_rows": 1000,  # rows one query returns, a page or a JSON/CSV export alike
    "default_cache_ttl": 0,  # no cached page: the page loaded after a scan shows that scan
    # no suggested facets: each is a query over the whole table, seconds on a million resources; the useful ones
    # are configured in metadata.yaml (counted from the store's summaries)
    "suggest_facets": False,
}

# All of SQLite's memory in the serve process (every connection's page cache and every value a query builds):
# the backstop under the plugin's per-value limit, and the only value bound on Python 3.10, which lacks
# Connection.setlimit. Process-wide, so serve() sets it, not the plugin (tests run Datasette in-process).
SQLITE_HEAP_LIMIT = 128 * 2**20


class ServeError(Exception):
    """`serve` cannot start: the port is taken or the address cannot be used."""


def database_name(db_path: str | os.PathLike) -> str:
    """The name Datasette gives the database at `db_path` (its file stem: estate.db -> estate)."""
    return Path(db_path).stem


def datasette_metadata(db_path: str | os.PathLike, host: str = "127.0.0.1") -> dict[str, Any]:
    """datasette/metadata.yaml with its `driftgraph` database entry re-keyed under `db_path`'s database name, and
    the address bound, `host`, for the guard plugin: it answers that Host name and the loopback ones."""
    metadata = yaml.safe_load((CONFIG_DIR / "metadata.yaml").read_text(encoding="utf-8"))
    databases = metadata.get("databases") or {}
    if METADATA_DATABASE in databases:
        databases[database_name(db_path)] = entry = databases.pop(METADATA_DATABASE)
        _drop_facets_on_missing_columns(entry.get("tables") or {}, db_path)
    metadata["databases"] = databases
    metadata.setdefault("plugins", {})[GUARD_PLUGIN] = {"bound_host": host}
    return metadata


def _drop_facets_on_missing_columns(tables: dict[str, Any], db_path: str | os.PathLike) -> None:
    """Leave out a configured facet whose column the file lacks (a view from before the column was added, kept
    until the next scan rewrites the views): Datasette would fail the whole page on it."""
    try:
        connection = sqlite3.connect(f"{Path(db_path).resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return
    try:
        for name, table in tables.items():
            if table.get("facets"):
                have = {row[1] for row in connection.execute(f"pragma table_info([{name}])")}
                table["facets"] = [f for f in table["facets"] if _facet_column(f) is None or _facet_column(f) in have]
    except sqlite3.Error:
        return
    finally:
        connection.close()


def _facet_column(facet: Any) -> str | None:
    """The column a configured facet counts: `status`, or `{counted: status}` (a facet type and its column)."""
    if isinstance(facet, str):
        return facet
    if isinstance(facet, dict) and len(facet) == 1 and isinstance(next(iter(facet.values())), str):
        return next(iter(facet.values()))
    return None


def _is_hot_journal(error: sqlite3.OperationalError) -> bool:
    """The error a read-only connection meets on a journal left by a killed writer (SQLITE_READONLY_ROLLBACK;
    Python 3.10 gives only the message, which every read-only refusal shares, and no SELECT writes)."""
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return code == 776  # SQLITE_READONLY_ROLLBACK (sqlite3.SQLITE_READONLY_ROLLBACK from Python 3.11)
    return "attempt to write a readonly database" in str(error)


def _file_identity(path: str) -> tuple[int, int] | None:
    """What tells one file from the one that replaced it at the same path; None when nothing is there."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


class ReadOnlyDatabase(Database):
    """A database file Datasette reads through read-only connections, reopened when the file is replaced.

    Datasette 0.65 opens a mutable file `?mode=ro` for reads but read-write for its write connection (canned
    `write: true` queries, plugins' execute_write), and an immutable one with `?immutable=1`, which lets SQLite
    skip locks and change checks and so can show pages from before a scan. Here every connection, the write
    one included, is `?mode=ro`; the plugin adds `PRAGMA query_only`. An open connection keeps reading the
    file it opened, so each thread's connection is replaced when the path's inode changes."""

    def __init__(self, ds, path: str | os.PathLike):
        super().__init__(ds, path=str(path), is_mutable=True)
        self._per_thread = threading.local()

    def connect(self, write: bool = False) -> sqlite3.Connection:
        # as_uri quotes ?, # and %, which Datasette's f"file:{path}" would read as URI syntax
        uri = f"{Path(self.path).resolve().as_uri()}?mode=ro"
        connection = sqlite3.connect(uri, uri=True, check_same_thread=False)
        self._all_file_connections.append(connection)
        return connection

    def _current_connection(self) -> sqlite3.Connection:
        """This thread's connection to the file now at the path (identity read before opening, so a file
        replaced in between is caught on the next query rather than missed)."""
        identity = _file_identity(self.path)
        held = getattr(self._per_thread, "held", None)
        # a path with no file (deleted, or mid-copy) keeps the last file open rather than fail every page
        if held is not None and identity is not None and held[0] != identity:
            stale = held[1]
            self._per_thread.held = held = None
            self._all_file_connections.remove(stale)
            stale.close()
        if held is None:
            connection = self.connect()
            self.ds._prepare_connection(connection, self.name)
            self._per_thread.held = held = (identity, connection)
        return held[1]

    def _query(self, fn):
        try:
            return fn(self._current_connection())
        except MemoryError:
            # SQLite's heap limit (SQLITE_NOMEM, which Python raises as MemoryError): an SQL error, so Datasette
            # shows the query's error page rather than a 500
            raise sqlite3.OperationalError(
                f"query needs more than the {SQLITE_HEAP_LIMIT // 2**20} MB of memory this server gives SQLite; "
                "select fewer rows or columns"
            ) from None

    def _run(self, fn):
        try:
            return self._query(fn)
        except sqlite3.OperationalError as error:
            if not _is_hot_journal(error):
                raise
        # A scan killed mid-write left its journal, which a read-only connection cannot roll back: the store's
        # check does (as any driftgraph command does on open), restoring the last committed scan.
        from graph.store import check_database

        try:
            check_database(self.path)
        except ValueError as refused:  # NotADriftgraphDatabase: an error page that says why
            raise sqlite3.OperationalError(str(refused)) from None
        return self._query(fn)

    async def execute_fn(self, fn):
        if self.ds.executor is None:  # Datasette's non-threaded mode (num_sql_threads 0)
            return self._run(fn)
        return await asyncio.get_running_loop().run_in_executor(self.ds.executor, self._run, fn)


def _config_subdir(name: str) -> str | None:
    path = CONFIG_DIR / name
    return str(path) if path.is_dir() else None


GUARD_MODULE = "driftgraph_guard.py"  # how Datasette names that plugin's module: its file name


def make_app(db_path: str | os.PathLike, host: str = "127.0.0.1"):
    """A Datasette instance serving `db_path` read-only (never written, a new scan shown) with our metadata,
    answering the Host names of a server bound to `host`."""
    from datasette.app import Datasette

    path = Path(db_path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"{db_path}: no such database (run `driftgraph scan --db {db_path}` first)")
    ds = Datasette(
        files=[str(path)],
        metadata=datasette_metadata(path, host),
        settings=SETTINGS,
        template_dir=_config_subdir("templates"),
        plugins_dir=_config_subdir("plugins"),
        static_mounts=[("static", s)] if (s := _config_subdir("static")) else None,
    )
    # Datasette's own error handler dumps a rich traceback with every local variable for each 404; our plugin
    # (driftgraph_guard.handle_exception) answers every error with one log line. Datasette runs every handler,
    # so the default one has to go, not just be outranked.
    from datasette.plugins import pm

    if pm.get_plugin("datasette.handle_exception") is not None and pm.get_plugin(GUARD_MODULE) is not None:
        pm.unregister(name="datasette.handle_exception")
    # Datasette made its own Database for the file (no connection opened yet); ours takes its place
    name = database_name(path)
    ds.remove_database(name)
    ds.add_database(ReadOnlyDatabase(ds, path), name=name)
    return ds


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to host:port (port 0: any free port), or a ServeError saying why not."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: a restart needs no wait
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise ServeError(f"port {port} on {host} is in use: stop what listens there, or pick another --port") from None
        raise ServeError(f"cannot listen on {host} port {port}: {error.strerror or error}") from None
    sock.listen(2048)  # now, not when uvicorn starts: a client of the printed URL queues instead of being refused
    return sock


def _limit_sqlite_heap() -> None:
    connection = sqlite3.connect(":memory:")
    try:
        # a no-op on SQLite before 3.31, which lacks the pragma: the plugin's limits still hold
        connection.execute(f"PRAGMA hard_heap_limit = {SQLITE_HEAP_LIMIT}")
    finally:
        connection.close()


def serve(
    db_path: str | os.PathLike,
    host: str = "127.0.0.1",
    port: int = 8001,
    open_browser: bool = False,
    sock: socket.socket | None = None,
) -> None:
    """Serve `db_path` in Datasette on http://host:port/ until interrupted (Ctrl-C); port 0 takes a free port.
    `sock`, a socket from `listen`, is used instead of binding (the demo binds before it builds, to fail early).

    Raises FileNotFoundError or graph.store.NotADriftgraphDatabase for a bad database, ServeError for a port
    that cannot be used; nothing is served then."""
    import uvicorn

    from graph.store import open_database

    open_database(db_path).close()  # a clear error for a missing file or one that is not a driftgraph graph
    ds = make_app(db_path, host)
    sock = sock or listen(host, port)
    try:
        _limit_sqlite_heap()
        # What `datasette serve` does before handing the app to uvicorn: run plugins' startup hooks.
        asyncio.run(ds.invoke_startup())
        bound_port = sock.getsockname()[1]
        shown_host = f"[{host}]" if ":" in host else host
        from datasette.utils import tilde_encode

        url = f"http://{shown_host}:{bound_port}/{tilde_encode(database_name(db_path))}"  # as Datasette routes it
        print(f"driftgraph: serving {db_path} read-only at {url} (Ctrl-C to stop)", flush=True)
        if open_browser:
            webbrowser.open(url)
        config = uvicorn.Config(ds.app(), log_level="warning", lifespan="on", workers=1)
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
