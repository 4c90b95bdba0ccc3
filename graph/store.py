"""The only module that writes SQLite: the graph's schema and an atomic, append-only scan writer.

A scan is written in place inside one SQLite transaction: readers (a report, Datasette) see the last committed
scan until the new one commits, and a crash, a full disk or Ctrl-C mid-write rolls back to the last good
database. The file itself is never replaced, so its mode, owner and symlinks stay as the user made them.
Every row is redacted on the way in.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import math
import os
import sqlite3
from pathlib import Path
from typing import Any, Iterable

import sqlite_utils

from graph.redact import REDACTED, is_secret_attribute, redact, redact_identifier, redact_tags, redact_text

log = logging.getLogger("driftgraph.store")

SCHEMA_VERSION = 1

# Columns by table; sqlite-utils creates them. Keys and indexes follow.
TABLES: dict[str, dict[str, type]] = {
    "scans": {
        "id": int,
        "started_at": str,
        "finished_at": str,
        "status": str,  # complete | partial (some listings failed: see listings and scan_errors)
        "accounts": str,
        "regions": str,
        "partition": str,
        "caller_arn": str,
        "driftgraph_version": str,
        "options": str,
        "duration_seconds": float,
        "resource_count": int,
    },
    "resources": {
        "scan_id": int,
        "id": str,
        "arn": str,
        "type": str,
        "service": str,
        "account": str,
        "region": str,
        "name": str,
        "natural_id": str,
        "status": str,
        "reason": str,
        "rule": str,
        "owner_tools": str,
        "owner_count": int,
        "drift_count": int,
        "import_group": int,
        "tags": str,
        "attributes": str,
        "aliases": str,  # JSON list of the other identifiers it answers to (URL, public address): import ids
        "import_id": str,  # for an unmanaged resource: the id `terraform import` takes (see codify)
    },
    "owners": {
        "scan_id": int,
        "resource_id": str,
        "tool": str,
        "source": str,
        "address": str,
        "framework": str,
        "stack_name": str,
        "declared_type": str,
        "construct_path": str,
    },
    "edges": {"scan_id": int, "source_id": str, "relation": str, "target_id": str},
    "drift": {
        "scan_id": int,
        "resource_id": str,
        "attribute": str,
        "declared": str,
        "live": str,
        "tool": str,
        "source": str,
        "address": str,
        "ignored": str,  # the ignore rule that set this drift aside ("ignored by FILE:LINE (RULE)"), else null
    },
    "listings": {
        "scan_id": int,
        "account": str,
        "region": str,
        "type": str,
        "outcome": str,
        "count": int,
        "error_code": str,
        "message": str,
        "duration_ms": int,
        "call": str,
    },
    "scan_errors": {
        "scan_id": int,
        "source": str,
        "kind": str,
        "message": str,
        "line": int,
        "account": str,
        "region": str,
        "type": str,
        "code": str,
    },
    "stacks": {
        "scan_id": int,
        "id": str,
        "name": str,
        "account": str,
        "region": str,
        "status": str,
        "framework": str,
        "parent_id": str,
        "root_id": str,
        "description": str,
        "resource_count": int,
        "created_at": str,
        "updated_at": str,
        "tags": str,
        "cdk_version": str,
        "synthesizer": str,
        "evidence": str,  # JSON list of the facts that decided `framework`
        "modules": str,  # JSON list of construct libraries (CDK Analytics)
        "language": str,
        "wave": int,  # upgrade wave: 0 depends on no other stack
        "in_assembly": int,  # 1: a given cloud assembly holds it; 0: a CDK stack none holds; null: not known
    },
    # each stack synthesized in a given cloud assembly (--cdk-out) and what became of it
    "assembly_stacks": {
        "scan_id": int,
        "assembly": str,
        "artifact_id": str,
        "stack_name": str,
        "account": str,
        "region": str,
        "status": str,  # deployed | not_deployed | ambiguous | not_scanned
        "stack_id": str,
        "framework": str,
        "cdk_version": str,
        "dependencies": str,
    },
    # a matched stack's resources the code and the deployed stack disagree on
    "assembly_diffs": {"scan_id": int, "stack_id": str, "logical_id": str, "type": str, "diff": str},
    # what a stack's template reads or writes that ties it to others: ssm / bootstrap / nested / cross-region names
    "stack_references": {"scan_id": int, "stack_id": str, "kind": str, "name": str, "region": str},
    # one row per fact that makes a stack depend on another; depends_on is empty when no scanned stack provides it
    "stack_dependencies": {"scan_id": int, "stack_id": str, "depends_on": str, "via": str},
    "stack_exports": {"scan_id": int, "stack_id": str, "export_name": str, "account": str, "region": str},
    "stack_imports": {
        "scan_id": int,
        "stack_id": str,
        "export_name": str,
        "exporting_stack_id": str,
        "account": str,
        "region": str,
    },
    "sources": {
        "scan_id": int,
        "path": str,
        "kind": str,
        "status": str,
        "format_version": str,
        "tool_version": str,
        "lineage": str,
        "serial": int,
        "resource_count": int,
        "message": str,
        "superseded_by": str,
        "framework": str,  # a template file's origin (cdk-v2, sam, ...), as a stack's
        "evidence": str,  # JSON list of the facts that decided it
    },
    "resource_types": {  # the catalog, as graph.resource_types.catalog_as_dicts() gives it
        "type": str,
        "service": str,
        "scope": str,
        "list_call": str,
        "describe_calls": str,
        "tags_call": str,
        "id": str,
        "arn": str,
        "terraform_types": str,
        "terraform_children": str,
        "cloudformation_children": str,
        "default_rule": str,
        "compared_attributes": str,
        "import_identifier": str,
    },
    "meta": {"key": str, "value": str},
}

PRIMARY_KEYS = {
    "scans": "id",
    "resources": ("scan_id", "id"),
    "resource_types": "type",
    "meta": "key",
}

INDEXES = {
    "resources": [["scan_id", "status"], ["scan_id", "type"], ["scan_id", "account", "region"]],
    "owners": [["scan_id", "resource_id"]],
    "edges": [["scan_id", "source_id"], ["scan_id", "target_id"]],
    "drift": [["scan_id", "resource_id"]],
    "listings": [["scan_id"]],
    "scan_errors": [["scan_id"]],
    "stacks": [["scan_id"]],
    "stack_dependencies": [["scan_id", "stack_id"], ["scan_id", "depends_on"]],
    "stack_references": [["scan_id", "stack_id"]],
}

FOREIGN_KEYS = {
    "owners": [("scan_id", "scans", "id")],
    "drift": [("scan_id", "scans", "id")],
    "listings": [("scan_id", "scans", "id")],
    "scan_errors": [("scan_id", "scans", "id")],
}

# The latest scan: what Datasette's canned queries and the report read unless asked for another.
VIEWS = {
    "latest_scan": "select * from scans where id = (select max(id) from scans)",
    "current_resources": "select * from resources where scan_id = (select max(id) from scans)",
}


SQL_TYPES = {int: "INTEGER", str: "TEXT", float: "FLOAT"}


class NotADriftgraphDatabase(ValueError):
    """The file is not a database driftgraph wrote: never add our tables to someone else's data."""


class DatabaseBusy(ValueError):
    """Another process holds the database's write lock (not a scan of ours: those take turns on PATH.lock)."""


class DatabaseUnwritable(ValueError):
    """The database, its folder or its lock file cannot be written: found before a scan, not after it."""


MIN_SECRET_CHARS = 6  # a known secret shorter than this is not masked wherever it appears (see ScanWriter.forget)
BUSY_TIMEOUT_S = 15  # how long a reader waits for another process's write transaction to commit


def check_writable(path: str | os.PathLike) -> None:
    """Raise DatabaseUnwritable when a scan could not write `path` (a dangling symlink, a missing or read-only
    folder, a read-only file), so a scan fails at once instead of after listing everything."""
    path = Path(path)
    if path.is_symlink() and not path.exists():
        raise DatabaseUnwritable(f"{path}: a symbolic link to {os.readlink(path)}, which does not exist")
    real = Path(os.path.realpath(path))
    if not real.parent.is_dir():
        raise DatabaseUnwritable(f"{path}: the folder {real.parent} does not exist")
    if not os.access(real.parent, os.W_OK | os.X_OK):
        raise DatabaseUnwritable(f"{path}: the folder {real.parent} cannot be written (the lock and journal go there)")
    if real.exists() and not os.access(real, os.R_OK | os.W_OK):
        raise DatabaseUnwritable(f"{path}: the file cannot be written")
    try:
        open(path.with_name(path.name + ".lock"), "a").close()
    except OSError as error:
        raise DatabaseUnwritable(f"{path}.lock: {error.strerror or error}") from None


def check_database(path: str | os.PathLike) -> bool:
    """True when `path` holds a driftgraph database, False when there is nothing yet (no file, an empty file,
    an SQLite database without tables); raises NotADriftgraphDatabase for anything else, saying what it is."""
    path = Path(path)
    if not path.exists():
        return False
    if path.is_dir():
        raise NotADriftgraphDatabase(f"{path}: is a directory, not a database file")
    if not path.is_file():
        raise NotADriftgraphDatabase(f"{path}: not a regular file")
    if path.stat().st_size == 0:
        return False
    with open(path, "rb") as handle:
        header = handle.read(16)
    if header != b"SQLite format 3\x00":
        raise NotADriftgraphDatabase(f"{path}: not an SQLite database; driftgraph writes only its own databases")
    try:
        # read-write, never create: a hot journal left by a killed scan is rolled back here, as any open would
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True, timeout=BUSY_TIMEOUT_S)
        try:
            tables = {row[0] for row in connection.execute("select name from sqlite_master where type = 'table'")}
            version = None
            if "meta" in tables:
                found = connection.execute("select value from meta where key = 'schema_version'").fetchone()
                version = found[0] if found else None
        finally:
            connection.close()
    except sqlite3.OperationalError as error:
        if "locked" in str(error) or "busy" in str(error):
            raise DatabaseBusy(f"{path}: locked by another process writing to it; try again when it is done") from None
        raise NotADriftgraphDatabase(f"{path}: cannot be read as an SQLite database ({error})") from None
    except sqlite3.DatabaseError as error:
        raise NotADriftgraphDatabase(f"{path}: cannot be read as an SQLite database ({error})") from None
    if not tables:
        return False
    if "scans" not in tables or version is None:
        shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
        raise NotADriftgraphDatabase(
            f"{path}: another application's SQLite database (tables {shown}); driftgraph writes only its own databases"
        )
    if not str(version).isdigit():
        raise NotADriftgraphDatabase(f"{path}: its schema version is not a number; not a database driftgraph wrote")
    if int(version) > SCHEMA_VERSION:
        raise NotADriftgraphDatabase(
            f"{path}: written by a newer driftgraph (schema {version}; this one reads {SCHEMA_VERSION})"
        )
    return True


def _create_table_sql(name: str, columns: dict[str, type]) -> str:
    pk = PRIMARY_KEYS.get(name)
    keys = (pk,) if isinstance(pk, str) else tuple(pk or ())
    definitions = [f"[{column}] {SQL_TYPES[kind]}" for column, kind in columns.items()]
    if keys:
        definitions.append(f"PRIMARY KEY ({', '.join(f'[{k}]' for k in keys)})")
    definitions += [f"FOREIGN KEY([{c}]) REFERENCES [{t}]([{tc}])" for c, t, tc in FOREIGN_KEYS.get(name, [])]
    return f"CREATE TABLE [{name}] (\n   " + ",\n   ".join(definitions) + "\n)"


def ensure_schema(connection: sqlite3.Connection) -> None:
    """Create what is missing (tables, columns added since, indexes, views) inside the caller's transaction.

    Plain SQL rather than sqlite-utils' create(): that commits, and the scan must stay one transaction."""
    existing = {row[0] for row in connection.execute("select name from sqlite_master where type = 'table'")}
    for name, columns in TABLES.items():
        if name not in existing:
            connection.execute(_create_table_sql(name, columns))
        else:
            have = {row[1] for row in connection.execute(f"pragma table_info([{name}])")}
            for column, kind in columns.items():
                if column not in have:
                    connection.execute(f"ALTER TABLE [{name}] ADD COLUMN [{column}] {SQL_TYPES[kind]}")
        for index in INDEXES.get(name, []):
            index_name = f"idx_{name}_{'_'.join(index)}"
            columns_sql = ", ".join(f"[{c}]" for c in index)
            connection.execute(f"CREATE INDEX IF NOT EXISTS [{index_name}] ON [{name}] ({columns_sql})")
    for name, sql in VIEWS.items():
        connection.execute(f"DROP VIEW IF EXISTS [{name}]")
        connection.execute(f"CREATE VIEW [{name}] AS {sql}")
    connection.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
    )


def _json(value: Any) -> str | None:
    """Strict JSON: NaN and infinities (YAML `.nan`, a state's "1e999") are written as text, never as the bare
    `NaN` other JSON readers refuse."""
    if value is None:
        return None
    try:
        return json.dumps(value, sort_keys=True, default=str, allow_nan=False)
    except (TypeError, ValueError):  # a non-finite float, or keys of mixed types
        return json.dumps(_finite(value), default=str, allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in sorted(value.items(), key=lambda item: str(item[0]))}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_finite(v) for v in value]
    return value


def _redacted_drift(row: dict[str, Any]) -> dict[str, Any]:
    """A drift row keeps its attribute name; its values go if the attribute says secret (`tags.password.v2` by
    its whole tag key, `environment.variables.X` by lying in an environment), else are judged by shape."""
    attribute, declared, live = row["attribute"], row.get("declared"), row.get("live")
    secret = is_secret_attribute(attribute, declared) or is_secret_attribute(attribute, live)

    def shown(value: Any) -> str | None:
        if value is None:
            return None
        return REDACTED if secret else _json(redact(value))

    return {**row, "attribute": redact_identifier(_storable(attribute)), "declared": shown(declared), "live": shown(live)}


# Identifier columns name things and join the tables: only credentials in them are masked, the same way
# wherever they stand (redact_identifier), since free-text masking of a span would break the graph.
IDENTIFIER_COLUMNS = frozenset(
    {"id", "arn", "natural_id", "type", "account", "region", "resource_id", "source_id", "target_id",
     "stack_id", "parent_id", "root_id", "exporting_stack_id", "export_name", "address", "source", "path",
     "stack_name", "declared_type", "relation", "status", "tool", "framework", "outcome", "rule", "service"}
)
# ...except these, which no table joins on and whose text can be anything a user wrote (a Terraform address
# quotes a for_each key; a name is often a `Name` tag): masked as free text.
FREE_IDENTIFIER_COLUMNS = frozenset({"address", "name"})


MAX_TEXT_CHARS = 65536  # one stored text value; Datasette pages and reports stay usable past a hostile name


def _storable(value: Any) -> Any:
    """Text SQLite can store and a page can show: a file name that is not UTF-8 comes from Python with lone
    surrogates (`st\udcffate.tfstate`), which SQLite refuses, so they are written as `\udcff`; a value longer
    than MAX_TEXT_CHARS (a 20 MB name in a state) is cut, with its length and a digest so that two long
    identifiers stay apart. One odd value never fails the whole scan."""
    if not isinstance(value, str):
        return value
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = value.encode("utf-8", "backslashreplace").decode("utf-8")
    if len(value) > MAX_TEXT_CHARS:
        digest = hashlib.sha256(value.encode("utf-8")).hexdigest()[:12]
        value = f"{value[:MAX_TEXT_CHARS]}...[{len(value)} characters, sha256 {digest}]"
    return value


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    """Text columns redacted for secret-looking spans; dict/list columns redacted and stored as JSON."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        value = _storable(value)
        if key in FREE_IDENTIFIER_COLUMNS and isinstance(value, str):
            out[key] = redact_text(value)  # a Terraform address may quote a for_each key: any text at all
        elif key in IDENTIFIER_COLUMNS:
            out[key] = redact_identifier(value)
        elif key == "tags":
            out[key] = _json(redact_tags(value))
        elif isinstance(value, (dict, list, tuple)):
            out[key] = _json(redact(value))
        elif isinstance(value, str):
            out[key] = redact_text(value)
        else:
            out[key] = value
    return out


class ScanWriter:
    """Writes one scan into the database inside one transaction; `commit()` makes it visible, `abort()` (or a
    crash) leaves the database as the last scan left it.

    Writers of one database take turns (an exclusive lock on `<db>.lock`): a second scan waits for the first
    to commit, so no scan is ever lost to a concurrent one. The database must be driftgraph's or not exist yet."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        check_database(self.path)  # fail before taking the lock: nothing of ours is written to a stranger's file
        self._lock = open(self.path.with_name(self.path.name + ".lock"), "a")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.warning("%s: another scan is writing to it; waiting for it to finish", self.path)
            fcntl.flock(self._lock, fcntl.LOCK_EX)
        try:
            check_database(self.path)  # again, now that no other writer is mid-scan
            # isolation_level=None: no implicit commits; the one transaction is ours from BEGIN to COMMIT
            self.connection = sqlite3.connect(self.path, isolation_level=None, timeout=60)
            self.connection.execute("BEGIN IMMEDIATE")
            ensure_schema(self.connection)
        except BaseException:
            self._close(rollback=True)
            raise
        self.scan_id: int | None = None
        self._secrets: list[str] = []

    def forget(self, secrets: Iterable[str]) -> None:
        """Values known to be secrets, masked in every text this writer stores from now on (a NoEcho parameter's
        value in a tag or name AWS made from it). Values shorter than MIN_SECRET_CHARS are left: masking `x`
        everywhere would destroy the inventory, and such a value protects nothing."""
        known = {s for s in secrets if isinstance(s, str) and len(s) >= MIN_SECRET_CHARS} | set(self._secrets)
        self._secrets = sorted(known, key=len, reverse=True)  # a longer secret first: it may hold a shorter one

    def _masked(self, value: Any) -> Any:
        if isinstance(value, str) and self._secrets:
            for secret in self._secrets:
                if secret in value:
                    value = value.replace(secret, REDACTED)
        return value

    def _close(self, rollback: bool) -> None:
        try:
            connection = getattr(self, "connection", None)
            if connection is not None:
                if rollback and connection.in_transaction:
                    connection.execute("ROLLBACK")
                connection.close()
                self.connection = None
        finally:
            if not self._lock.closed:
                fcntl.flock(self._lock, fcntl.LOCK_UN)
                self._lock.close()

    def _insert(self, table: str, rows: list[dict[str, Any]], verb: str = "INSERT") -> None:
        if not rows:
            return
        columns = TABLES[table]
        unknown = {key for row in rows for key in row} - set(columns)
        if unknown:
            raise ValueError(f"no column {', '.join(sorted(unknown))} in table {table}")
        names = [c for c in columns if any(c in row for row in rows)]
        sql = f"{verb} INTO [{table}] ({', '.join(f'[{c}]' for c in names)}) VALUES ({', '.join('?' * len(names))})"
        self.connection.executemany(sql, ([self._masked(row.get(c)) for c in names] for row in rows))

    def begin(self, scan: dict[str, Any]) -> int:
        self._insert("scans", [_clean(scan)])
        self.scan_id = self.connection.execute("select last_insert_rowid()").fetchone()[0]
        return self.scan_id

    def write(self, table: str, rows: Iterable[dict[str, Any]]) -> None:
        if table == "drift":
            cleaned = []
            for row in rows:
                drift = _redacted_drift(row)  # values judged by their attribute; the other columns as any row's
                cleaned.append({**_clean({k: v for k, v in drift.items() if k not in ("declared", "live")}),
                                "declared": drift["declared"], "live": drift["live"], "scan_id": self.scan_id})
        else:
            cleaned = [{**_clean(r), "scan_id": self.scan_id} for r in rows]
        self._insert(table, cleaned)

    def write_catalog(self, catalog: Iterable[dict[str, Any]]) -> None:
        """The catalog (`catalog_as_dicts()`) as the `resource_types` table: one row a type, lists as JSON."""
        rows = [{k: _json(v) if isinstance(v, (list, dict)) else v for k, v in row.items()} for row in catalog]
        self._insert("resource_types", rows, verb="INSERT OR REPLACE")

    def write_meta(self, values: dict[str, str]) -> None:
        """Facts about the database itself (`demo`: made by `driftgraph demo`, so a rerun may replace it)."""
        self._insert("meta", [{"key": k, "value": str(v)} for k, v in values.items()], verb="INSERT OR REPLACE")

    def finish(self, updates: dict[str, Any]) -> None:
        cleaned = _clean(updates)
        assignments = ", ".join(f"[{column}] = ?" for column in cleaned)
        self.connection.execute(f"UPDATE scans SET {assignments} WHERE id = ?", [*cleaned.values(), self.scan_id])

    def commit(self) -> Path:
        try:
            self.connection.execute("COMMIT")
        except BaseException:
            self._close(rollback=True)
            raise
        self._close(rollback=False)
        return self.path

    def abort(self) -> None:
        self._close(rollback=True)


def read_meta(path: str | os.PathLike) -> dict[str, str]:
    """The `meta` table of a driftgraph database ({} when there is no database yet)."""
    if not check_database(path):
        return {}
    connection = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
    try:
        return dict(connection.execute("select key, value from meta"))
    finally:
        connection.close()


def open_database(path: str | os.PathLike) -> sqlite_utils.Database:
    """Open an existing graph for reading; a clear error when it is not one."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such database (run `driftgraph scan --db {path}` first)")
    if not check_database(path):
        raise NotADriftgraphDatabase(f"{path}: holds no driftgraph scan yet (run `driftgraph scan --db {path}` first)")
    return sqlite_utils.Database(path)
