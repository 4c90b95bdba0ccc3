"""Browse a driftgraph database in Datasette, read-only, with the descriptions and canned queries of datasette/.

datasette/ is a plain configuration folder (metadata.yaml, plugins/, templates/ when present) beside this
package; its metadata names the database `driftgraph`, and Datasette names a database after its file's stem,
so the entry is re-keyed to the served file's name before Datasette sees it.
"""

from __future__ import annotations

import asyncio
import os
import webbrowser
from pathlib import Path
from typing import Any

import yaml

CONFIG_DIR = Path(__file__).resolve().parents[1] / "datasette"
METADATA_DATABASE = "driftgraph"  # the database key used in datasette/metadata.yaml


def database_name(db_path: str | os.PathLike) -> str:
    """The name Datasette gives the database at `db_path` (its file stem: estate.db -> estate)."""
    return Path(db_path).stem


def datasette_metadata(db_path: str | os.PathLike) -> dict[str, Any]:
    """datasette/metadata.yaml with its `driftgraph` database entry re-keyed under `db_path`'s database name."""
    metadata = yaml.safe_load((CONFIG_DIR / "metadata.yaml").read_text(encoding="utf-8"))
    databases = metadata.get("databases") or {}
    if METADATA_DATABASE in databases:
        databases[database_name(db_path)] = databases.pop(METADATA_DATABASE)
    metadata["databases"] = databases
    return metadata


def _config_subdir(name: str) -> str | None:
    path = CONFIG_DIR / name
    return str(path) if path.is_dir() else None


def make_app(db_path: str | os.PathLike):
    """A Datasette instance serving `db_path` immutable (opened read-only, never written) with our metadata."""
    from datasette.app import Datasette  # imported here so `driftgraph --help` stays fast

    path = Path(db_path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"{db_path}: no such database (run `driftgraph scan --db {db_path}` first)")
    return Datasette(
        immutables=[str(path)],
        metadata=datasette_metadata(path),
        template_dir=_config_subdir("templates"),
        plugins_dir=_config_subdir("plugins"),
        static_mounts=[("static", s)] if (s := _config_subdir("static")) else None,
    )


def serve(
    db_path: str | os.PathLike,
    host: str = "127.0.0.1",
    port: int = 8001,
    open_browser: bool = False,
) -> None:
    """Serve `db_path` in Datasette on http://host:port/ until interrupted (Ctrl-C)."""
    import uvicorn

    from graph.store import open_database

    open_database(db_path).close()  # a clear error for a missing file or one that is not a driftgraph graph
    ds = make_app(db_path)
    # What `datasette serve` does before handing the app to uvicorn: run plugins' startup hooks.
    asyncio.run(ds.invoke_startup())
    url = f"http://{host}:{port}/{database_name(db_path)}"
    print(f"driftgraph: serving {db_path} read-only at {url} (Ctrl-C to stop)", flush=True)
    if open_browser:
        webbrowser.open(url)
    uvicorn.run(ds.app(), host=host, port=port, log_level="warning", lifespan="on", workers=1)
