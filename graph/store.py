"""The only module that writes SQLite: the graph's schema and an atomic, append-only scan writer.

A scan is written into a copy of the database and moved over the original only when complete, so a crash
mid-scan leaves the last good database as it was. Every row is redacted on the way in.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
from pathlib import Path
from typing import Any, Iterable

import sqlite_utils

from graph.redact import REDACTED, is_secret_attribute, redact, redact_tags, redact_text

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
    },
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


def ensure_schema(db: sqlite_utils.Database) -> None:
    for name, columns in TABLES.items():
        if not db[name].exists():
            db[name].create(columns, pk=PRIMARY_KEYS.get(name), not_null=None)
            for index in INDEXES.get(name, []):
                db[name].create_index(index)
    for name, sql in VIEWS.items():
        db.create_view(name, sql, replace=True)
    db["meta"].upsert({"key": "schema_version", "value": str(SCHEMA_VERSION)}, pk="key")


def _json(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(value, sort_keys=True, default=str)


def _redacted_drift(row: dict[str, Any]) -> dict[str, Any]:
    """A drift row keeps its attribute name; its values go if the attribute says secret (`tags.password.v2` by
    its whole tag key, `environment.variables.X` by lying in an environment), else are judged by shape."""
    attribute, declared, live = row["attribute"], row.get("declared"), row.get("live")
    secret = is_secret_attribute(attribute, declared) or is_secret_attribute(attribute, live)

    def shown(value: Any) -> str | None:
        if value is None:
            return None
        return REDACTED if secret else _json(redact(value))

    return {**row, "declared": shown(declared), "live": shown(live)}


# Identifier columns name things; they are never secrets, and masking a span of one would break the graph.
IDENTIFIER_COLUMNS = frozenset(
    {"id", "arn", "natural_id", "name", "type", "account", "region", "resource_id", "source_id", "target_id",
     "stack_id", "parent_id", "root_id", "exporting_stack_id", "export_name", "address", "source", "path",
     "stack_name", "declared_type", "relation", "status", "tool", "framework", "outcome", "rule", "service"}
)


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    """Text columns redacted for secret-looking spans; dict/list columns redacted and stored as JSON."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key in IDENTIFIER_COLUMNS:
            out[key] = value
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
    """Writes one scan into a working copy of the database; `commit()` moves it into place atomically.

    Writers of one database take turns (an exclusive lock on `<db>.lock`): a second scan waits, then copies
    the database the first one committed, so no scan is ever lost to a concurrent one."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._lock = open(self.path.with_name(self.path.name + ".lock"), "a")
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        for stale in self.path.parent.glob(self.path.name + ".tmp-*"):
            stale.unlink()  # left by a scan that was killed: no writer holds it while we hold the lock
        self.work_path = self.path.with_name(self.path.name + f".tmp-{os.getpid()}")
        if self.path.exists():
            # sqlite3's backup API copies a consistent snapshot even if a reader has the file open
            source = sqlite3.connect(self.path)
            target = sqlite3.connect(self.work_path)
            source.backup(target)
            source.close()
            target.close()
        self.db = sqlite_utils.Database(self.work_path)
        ensure_schema(self.db)
        self.scan_id: int | None = None

    def _release(self) -> None:
        fcntl.flock(self._lock, fcntl.LOCK_UN)
        self._lock.close()

    def begin(self, scan: dict[str, Any]) -> int:
        table = self.db["scans"]
        table.insert(_clean(scan))
        self.scan_id = table.last_pk
        return self.scan_id

    def write(self, table: str, rows: Iterable[dict[str, Any]]) -> None:
        if table == "drift":
            cleaned = [{**_redacted_drift(r), "scan_id": self.scan_id} for r in rows]
        else:
            cleaned = [{**_clean(r), "scan_id": self.scan_id} for r in rows]
        if cleaned:
            self.db[table].insert_all(cleaned, alter=True)

    def write_catalog(self, catalog: Iterable[dict[str, Any]]) -> None:
        """The catalog (`catalog_as_dicts()`) as the `resource_types` table: one row a type, lists as JSON."""
        rows = [{k: _json(v) if isinstance(v, (list, dict)) else v for k, v in row.items()} for row in catalog]
        self.db["resource_types"].upsert_all(rows, pk="type")

    def finish(self, updates: dict[str, Any]) -> None:
        self.db["scans"].update(self.scan_id, _clean(updates))

    def commit(self) -> Path:
        try:
            self.db.conn.commit()
            self.db.close()
            os.replace(self.work_path, self.path)
        finally:
            self._release()
        return self.path

    def abort(self) -> None:
        try:
            self.db.close()
        finally:
            if self.work_path.exists():
                self.work_path.unlink()
            self._release()


def open_database(path: str | os.PathLike) -> sqlite_utils.Database:
    """Open an existing graph for reading; a clear error when it is not one."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such database (run `driftgraph scan --db {path}` first)")
    db = sqlite_utils.Database(path)
    if not db["scans"].exists():
        raise ValueError(f"{path}: not a driftgraph database (no scans table)")
    return db
