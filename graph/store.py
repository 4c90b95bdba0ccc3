"""The only module that writes SQLite: the graph's schema and an atomic scan writer that stores change, not scans.

A resource is stored as versions: a row holds what scans said about it from `from_scan` until `until_scan` (the
first scan of its account and region that said something else, or did not see it; null while current), with
its owners, edges and drift attached to that version. A scan that finds an estate unchanged adds a scans row,
its scopes and its listings, and no resource rows; history (first seen, the scan its status last changed, every
status it had) is read from the versions. The `scan_resources` view gives back any scan's own rows.

A scan is written in place inside one SQLite transaction: readers (a report, Datasette) see the last committed
scan until the new one commits, and a crash, a full disk or Ctrl-C mid-write rolls back to the last good
database. The file itself is never replaced, so its mode, owner and symlinks stay as the user made them.
Every row is redacted on the way in.
"""

from __future__ import annotations

import fcntl
import glob
import json
import logging
import marshal
import operator
import os
import pickle
import re
import sqlite3
import subprocess
import sys
import tempfile
import threading
from array import array
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from itertools import compress
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import sqlite_utils

from graph.cleaning import (batch_cleaner, clean_row, cleaned_with_digests, column_batcher, json_text, legacy_digest,
                            masker, raw_digester, row_cleaner, rules_digest)
from graph.records import GLOBAL, LISTING_OK, bulk_work, held, hold
from graph.redact import redact_text
from graph.resource_types import CATALOG

log = logging.getLogger("driftgraph.store")

# 3: the read model (summaries written as a scan commits, read indexes) and raw digests; 2: resources, owners,
# edges and drift stored as versions; 1: every row again in every scan
SCHEMA_VERSION = 3

# Tables whose rows are versions of a resource, and the column naming the version they belong to.
VERSIONED = ("resources", "owners", "edges", "drift")

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
        "summary": str,  # JSON: resources by status, drifted resources, managed_percent (graph.report.scan_summary)
        "pruned_at": str,  # set by `driftgraph prune`: the scan's own rows are gone, its row kept for ages
    },
    "resources": {
        "version": int,  # this row: one version of the resource `id`
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
        "import_group": str,  # the group of related unmanaged resources: its first member's id
        "tags": str,
        "attributes": str,
        "aliases": str,  # JSON list of the other identifiers it answers to (URL, public address): import ids
        "import_id": str,  # for an unmanaged resource: the id `terraform import` takes (see codify)
        "from_scan": int,  # the first scan that said this (the version's start)
        "until_scan": int,  # the first scan of its account and region that said otherwise; null: still current
        "first_seen": int,  # the first scan that saw the resource at all
        "status_since": int,  # the scan its status last changed in
        "digest": int,  # of everything this version says, owners, edges and drift included: equal means unchanged
        # of the rows the scan gave for it, before cleaning (and the cleaning rules): equal means unchanged, uncleaned
        "raw_digest": int,
    },
    "owners": {
        "version": int,
        "resource_id": str,
        "tool": str,
        "source": str,
        "address": str,
        "framework": str,
        "stack_name": str,
        "declared_type": str,
        "construct_path": str,
    },
    "edges": {"version": int, "source_id": str, "relation": str, "target_id": str},
    "drift": {
        "version": int,
        "resource_id": str,
        "attribute": str,
        "declared": str,
        "live": str,
        "tool": str,
        "source": str,
        "address": str,
        "ignored": str,  # the ignore rule that set this drift aside ("ignored by FILE:LINE (RULE)"), else null
    },
    # the (account, region) pairs a scan looked at: a version it did not repeat there ends with it, others do not
    "scan_scopes": {"scan_id": int, "account": str, "region": str},
    # the (account, region, type) a scan's listing failed for: what it had there stays current, as last seen
    "scan_gaps": {"scan_id": int, "account": str, "region": str, "type": str},
    # the versions a scan reported unchanged inside one of its gaps (a declared resource there is `unknown` scan
    # after scan): said by that scan, though the gap alone would read them as only kept as last seen
    "scan_gap_reports": {"scan_id": int, "version": int},
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
    # pending RDS and ElastiCache maintenance the scan read (scanner/maintenance.py)
    "maintenance": {
        "scan_id": int, "account": str, "region": str, "resource": str, "resource_id": str, "type": str,
        "action": str, "description": str, "status": str, "apply_after": str, "forced_apply_date": str,
        "recommended_apply_by": str, "opt_in_status": str, "severity": str, "source": str,
    },
    # who made a new unmanaged resource (scanner/cloudtrail.py): one row per resource a scan looked up
    "creators": {
        "scan_id": int, "resource_id": str, "status": str, "principal": str, "principal_type": str, "role_arn": str,
        "role_name": str, "user_name": str, "principal_id": str, "invoked_by": str, "via": str, "event_name": str,
        "event_source": str, "event_time": str, "event_region": str, "event_id": str, "source": str, "reason": str,
    },
    "meta": {"key": str, "value": str},
}

PRIMARY_KEYS = {
    "scans": "id",
    "resources": "version",
    "resource_types": "type",
    "meta": "key",
}

INDEXES = {
    "resources": [["id"], ["account", "region", "from_scan"], ["until_scan", "status"], ["until_scan", "type"]],
    "owners": [["version"], ["resource_id"]],
    "edges": [["version"], ["source_id"], ["target_id"]],
    "drift": [["version"], ["resource_id"]],
    "scan_scopes": [["scan_id"], ["account", "region", "scan_id"]],
    "scan_gaps": [["scan_id", "account", "region", "type"]],
    "scan_gap_reports": [["scan_id", "version"]],
    "maintenance": [["scan_id", "resource_id"]],
    "creators": [["resource_id", "scan_id"]],
    "listings": [["scan_id"]],
    "scan_errors": [["scan_id"]],
    "stacks": [["scan_id"]],
    "stack_dependencies": [["scan_id", "stack_id"], ["scan_id", "depends_on"]],
    "stack_references": [["scan_id", "stack_id"]],
}

FOREIGN_KEYS = {
    "owners": [("version", "resources", "version")],
    "edges": [("version", "resources", "version")],
    "drift": [("version", "resources", "version")],
    "scan_scopes": [("scan_id", "scans", "id")],
    "scan_gaps": [("scan_id", "scans", "id")],
    "scan_gap_reports": [("scan_id", "scans", "id")],
    "maintenance": [("scan_id", "scans", "id")],
    "creators": [("scan_id", "scans", "id")],
    "listings": [("scan_id", "scans", "id")],
    "scan_errors": [("scan_id", "scans", "id")],
}

# A version was said by every scan of its account and region from `from_scan` until `until_scan`, except by a
# scan whose listing of its type failed there and that did not report it again: that scan kept it as last seen,
# without saying it.
_SAID_BY_SCAN = ("from scan_scopes s join resources r on r.account is s.account and r.region is s.region "
                 "and r.from_scan <= s.scan_id and (r.until_scan is null or r.until_scan > s.scan_id) "
                 "and not (r.from_scan < s.scan_id and exists (select 1 from scan_gaps g where g.scan_id = s.scan_id "
                 "and g.account is r.account and g.region is r.region and g.type = r.type) "
                 "and not exists (select 1 from scan_gap_reports k where k.scan_id = s.scan_id "
                 "and k.version = r.version))")

# a resource's team: its tag `team` (or `Team`), as current_resources and current_counts give it
TEAM = "case when json_valid(tags) then coalesce(json_extract(tags, '$.team'), json_extract(tags, '$.Team')) end"

# the scans that are the latest of some account and region, and the latest scan: the only ones a current_ view of a
# per-scan table can show rows of (the latest scan of an account is the latest of one of its regions)
_LATEST_SOMEWHERE = "select max(scan_id) from scan_scopes group by account, region union select max(id) from scans"

VIEWS = {
    "latest_scan": "select * from scans where id = (select max(id) from scans)",
    # what each scan said, as if every scan had stored its own rows: `where scan_id = N`
    "scan_resources": f"select s.scan_id as scan_id, r.* {_SAID_BY_SCAN}",
    **{f"scan_{table}": f"select s.scan_id as scan_id, c.* {_SAID_BY_SCAN} join {table} c on c.version = r.version"
       for table in ("owners", "edges", "drift")},
    # the current picture: for every account and region, what the latest scan of it said
    # with `team`, the team tag (`team` or `Team`), so Datasette can facet and filter on it
    "current_resources": f"select *, {TEAM} as team from resources where until_scan is null",
    **{f"current_{table}": f"select c.* from {table} c join resources r on r.version = c.version "
                           "where r.until_scan is null" for table in ("owners", "edges", "drift")},
    # per-scan tables: the rows of the latest scan of their account and region; a row of an account and no
    # region (the account not reached), of the latest scan that looked anywhere in its account; the latest scan's,
    # for a row of no account. Only the scans latest somewhere are read (through the table's scan_id index): the
    # condition alone, asked of every scan's rows, made the stack queries grow with the history (600 ms at 11 scans)
    **{f"current_{table}": f"select * from {table} x where x.scan_id in ({_LATEST_SOMEWHERE}) and x.scan_id = "
                           "coalesce((select max(c.scan_id) from scan_scopes c where c.account is x.account and "
                           "(x.region is null or c.region is x.region) and x.account is not null), "
                           "(select max(id) from scans))"
       for table in ("listings", "scan_errors", "stacks", "stack_exports", "stack_imports", "maintenance")},
    # how old each part of the current picture is: every account and region, the latest scan of it and when
    "current_scopes": "select s.account, s.region, s.scan_id, c.finished_at, c.status from (select account, region, "
                      "max(scan_id) as scan_id from scan_scopes group by account, region) s "
                      "join scans c on c.id = s.scan_id",
    # the latest look for each resource's creator (found, not_found, failed or skipped)
    "current_creators": "select * from creators c where c.scan_id = (select max(x.scan_id) from creators x "
                        "where x.resource_id = c.resource_id)",
    **{f"current_{table}": f"select d.* from {table} d join current_stacks s on s.id = d.stack_id "
                           "and s.scan_id = d.scan_id" for table in ("stack_dependencies", "stack_references")},
}


# ------------------------------------------------------------------------------------------------ read model
# What Datasette's pages and canned queries read, so that each answers in well under a second at a million
# resources: counts summarised as a scan commits (refresh_summaries) and indexes for the reads that select a few
# rows out of many. Kept apart from the write path above; ensure_schema creates them, the scan writer refreshes
# the summaries inside its transaction.
SUMMARY_TABLES: dict[str, dict[str, type]] = {
    # current_resources counted (the landing page, coverage_by_service, unmanaged_counts, its facets)
    "current_counts": {"account": str, "region": str, "type": str, "service": str, "status": str, "team": str,
                       "resources": int},
    # every version counted (the facets of the resources table); grows with the versions a scan adds
    "version_counts": {"account": str, "region": str, "type": str, "status": str, "versions": int},
    # every component of current resources (import_group) and its size: migration_components, largest first
    "current_components": {"import_group": str, "size": int},
    # what each scan said, counted (written as it commits, never changed after): the managed percent of a diff
    # between two scans without reading every resource either said (graph/diff.py)
    "scan_counts": {"scan_id": int, "account": str, "region": str, "type": str, "status": str, "resources": int},
}
TABLES.update(SUMMARY_TABLES)
SUMMARY_KEYS = {"current_counts": ("account", "region", "type", "service", "status", "team"),
                "version_counts": ("account", "region", "type", "status")}
VERSIONS_COUNTED = "version_counts_upto"  # meta: the highest version version_counts has counted
SUMMARISED_SCAN = "summaries_of_scan"  # meta: the latest scan when the summaries were written

READ_INDEXES = (
    # a stack's resources and drift (the stack and cloudformation_stacks queries) look owners and drift up by stack
    "CREATE INDEX IF NOT EXISTS idx_owners_source ON owners (source)",
    "CREATE INDEX IF NOT EXISTS idx_drift_source ON drift (source)",
    # the owners and edges table pages' facets (datasette/metadata.yaml), each counted from its column's index, not
    # from a read of every row: at a million owners 85 ms a facet against 450 (built in 0.5-1.2 s each)
    "CREATE INDEX IF NOT EXISTS idx_owners_tool ON owners (tool)",
    "CREATE INDEX IF NOT EXISTS idx_owners_framework ON owners (framework)",
    "CREATE INDEX IF NOT EXISTS idx_edges_relation ON edges (relation)",
    # the unmanaged query, in its order: the first page of rows without sorting every unmanaged resource
    "CREATE INDEX IF NOT EXISTS idx_resources_current_unmanaged ON resources (account, region, type, name) "
    "WHERE until_scan IS NULL AND status = 'unmanaged'",
    # migration_components: a component's size
    "CREATE INDEX IF NOT EXISTS idx_resources_import_group ON resources (import_group) WHERE import_group IS NOT NULL",
    # ...and the sizes of every current component, from the index alone (not every current version)
    "CREATE INDEX IF NOT EXISTS idx_resources_current_import_groups ON resources (until_scan, import_group) "
    "WHERE import_group IS NOT NULL",
    # cloudformation_stacks counts each stack's exports and imports
    "CREATE INDEX IF NOT EXISTS idx_stack_exports_scan_stack ON stack_exports (scan_id, stack_id)",
    "CREATE INDEX IF NOT EXISTS idx_stack_imports_scan_stack ON stack_imports (scan_id, stack_id)",
    # the stack queries look a stack up by id (a parent, a dependency) and by name
    "CREATE INDEX IF NOT EXISTS idx_stacks_id ON stacks (id, scan_id)",
    "CREATE INDEX IF NOT EXISTS idx_stacks_name ON stacks (name)",
    # cdk_v1_upgrade_order and stack: the stacks that need a stack, of any scan
    "CREATE INDEX IF NOT EXISTS idx_stack_dependencies_depends_on ON stack_dependencies (depends_on)",
    "CREATE INDEX IF NOT EXISTS idx_scan_counts_scan_id ON scan_counts (scan_id)",
    # migration_components in its order: the components largest first, each one's resources found by the index above,
    # then the unmanaged resources in no component, by type and name
    "CREATE INDEX IF NOT EXISTS idx_current_components_order ON current_components (size DESC, import_group)",
    "CREATE INDEX IF NOT EXISTS idx_resources_current_unmanaged_alone ON resources (type, name) "
    "WHERE until_scan IS NULL AND status = 'unmanaged' AND import_group IS NULL",
)


def refresh_summaries(connection: sqlite3.Connection, scan: tuple[int, int] | None = None) -> None:
    """Rewrite current_counts and current_components from the current versions and scan_counts of the latest scan
    (what it said), and add the versions not yet counted to version_counts (all of them again after prune dropped
    some), inside the caller's transaction. With `scan` (the id of the latest scan, the first version it could have
    added), current_counts are brought up to date from what that scan changed when they are the counts of the
    scan before it (an unchanged scan at 1M: 0.6 s for all the summaries instead of 4.0), else counted again from
    every current version."""
    keys = SUMMARY_KEYS["current_counts"]
    latest_scan = connection.execute("select coalesce(max(id), 0) from scans").fetchone()[0]
    current = _updated_counts(connection, *scan) if scan is not None and scan[0] == latest_scan else None
    if current is not None:
        grouped = _grouped_by_place(connection, latest_scan, current)
    else:
        grouped = _grouped_current(connection, latest_scan)
        current = defaultdict(int)
        for *key, _began, n in grouped:
            current[tuple(key)] += n
    _replace_rows(connection, "current_counts", (*keys, "resources"), [(*key, n) for key, n in current.items()])
    _replace_rows(connection, "current_components", ("import_group", "size"), connection.execute(
        "select import_group, count(*) from resources where until_scan is null and import_group is not null "
        "group by import_group").fetchall())
    # rewritten at every commit (rows a merge copied from its jobs are theirs, not its own): the same numbers
    # again after a prune or an upgrade, which leave what the latest scan said as it was
    connection.execute("DELETE FROM scan_counts WHERE scan_id = ?", [latest_scan])
    _insert_tuples(connection, "scan_counts", ("scan_id", "account", "region", "type", "status", "resources"),
                   [(latest_scan, *key, n) for key, n in _said_by_scan(connection, latest_scan, grouped).items()])
    counted = connection.execute(f"select value from meta where key = '{VERSIONS_COUNTED}'").fetchone()
    latest = connection.execute("select coalesce(max(version), 0) from resources").fetchone()[0]
    upto = int(counted[0]) if counted and str(counted[0]).isdigit() and int(counted[0]) <= latest else None
    totals: dict[tuple, int] = defaultdict(int)
    if upto is None and not connection.execute(
            "select exists (select 1 from resources where until_scan is not null)").fetchone()[0]:
        # none counted yet and every version current (a first scan): the current counts count them all already
        for (account, region, type_, _service, status, _team), n in current.items():
            totals[(account, region, type_, status)] += n
    else:
        if upto is not None:
            for *key, n in connection.execute("select account, region, type, status, versions from version_counts"):
                totals[tuple(key)] += n
        for *key, n in connection.execute("select account, region, type, status, count(*) from resources "
                                          "where version > ? group by 1, 2, 3, 4", [upto or 0]):
            totals[tuple(key)] += n
    _replace_rows(connection, "version_counts", (*SUMMARY_KEYS["version_counts"], "versions"),
                  [(*key, n) for key, n in totals.items()])
    connection.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", [
        (VERSIONS_COUNTED, str(latest)),
        # a reader trusts the summaries only while they are of the latest scan (an older driftgraph writes none)
        (SUMMARISED_SCAN, str(connection.execute("select coalesce(max(id), 0) from scans").fetchone()[0]))])


# the team as current_counts stores it (a TEXT column: a tag's number read as text), so that counts read back and
# counts made now add up under one key
_COUNTED = f"select account, region, type, service, status, cast({TEAM} as text), count(*) from resources"
_COUNTED_BY = "group by 1, 2, 3, 4, 5, 6"


def _updated_counts(connection: sqlite3.Connection, scan_id: int, first_version: int) -> dict[tuple, int] | None:
    """current_counts as scan `scan_id` leaves them: those of the scan before it, plus its new versions (numbered
    from `first_version`), less the versions it ended. None when the stored counts are not of the scan before it
    (the first scan, a database an older driftgraph wrote, one edited by hand): they are then counted again."""
    summarised = connection.execute(f"select value from meta where key = '{SUMMARISED_SCAN}'").fetchone()
    previous = connection.execute("select max(id) from scans where id < ?", [scan_id]).fetchone()[0]
    if previous is None or summarised is None or str(summarised[0]) != str(previous):
        return None
    counts: dict[tuple, int] = defaultdict(int)
    for *key, n in connection.execute(f"select {', '.join(SUMMARY_KEYS['current_counts'])}, resources "
                                      "from current_counts"):
        counts[tuple(key)] += n
    for *key, n in connection.execute(f"{_COUNTED} where version >= ? and until_scan is null {_COUNTED_BY}",
                                      [first_version]):
        counts[tuple(key)] += n
    for *key, n in connection.execute(f"{_COUNTED} where until_scan = ? {_COUNTED_BY}", [scan_id]):
        counts[tuple(key)] -= n
    if any(n < 0 for n in counts.values()):
        return None  # they did not count what is there: counted again
    return {key: n for key, n in counts.items() if n}


def _grouped_by_place(connection: sqlite3.Connection, scan_id: int, current: dict[tuple, int]) -> list[tuple]:
    """The current versions grouped as refresh_summaries' full count groups them, from the counts: whether a
    version began with the scan matters only where its listing failed (scan_gaps), so only there is it asked."""
    gaps = set(connection.execute("select account, region, type from scan_gaps where scan_id = ?", [scan_id]))
    grouped = [(*key, 0, n) for key, n in current.items() if key[:3] not in gaps]
    for account, region, type_ in gaps:
        grouped += _grouped_current(connection, scan_id, " and type = ? and account is ? and region is ?",
                                    [type_, account, region])
    return grouped


def _grouped_current(connection: sqlite3.Connection, scan_id: int, where: str = "",
                     params: Sequence[Any] = ()) -> list[tuple]:
    """Current versions (those `where` adds to the condition picks) grouped by current_counts' keys and `began`:
    whether the version began with scan `scan_id` (said by it even where its listing of the type failed)."""
    return connection.execute(
        f"select account, region, type, service, status, {TEAM}, from_scan = ? as began, count(*) from resources "
        f"where until_scan is null{where} group by 1, 2, 3, 4, 5, 6, 7", [scan_id, *params]).fetchall()


def _said_by_scan(connection: sqlite3.Connection, scan_id: int, grouped: list[tuple]) -> dict[tuple, int]:
    """(account, region, type, status) -> how many resources the latest scan `scan_id` said, from the current
    versions grouped as refresh_summaries groups them: those of its scopes, but for versions it kept as last seen
    behind a failed listing without reporting them (_SAID_BY_SCAN, for the one scan whose said versions are all
    current)."""
    scopes = set(connection.execute("select account, region from scan_scopes where scan_id = ?", [scan_id]))
    gaps = set(connection.execute("select account, region, type from scan_gaps where scan_id = ?", [scan_id]))
    said: dict[tuple, int] = defaultdict(int)
    for account, region, type_, _service, status, _team, began, n in grouped:
        if (account, region) in scopes and (began or type_ is None or (account, region, type_) not in gaps):
            said[(account, region, type_, status)] += n
    # of the versions kept behind a failed listing, those the scan reported all the same (scan_gap_reports)
    for account, region, type_, status, n in connection.execute(
            "select r.account, r.region, r.type, r.status, count(*) from scan_gap_reports k join resources r "
            "on r.version = k.version where k.scan_id = ? and r.from_scan < ? group by 1, 2, 3, 4", [scan_id, scan_id]):
        if (account, region) in scopes and (account, region, type_) in gaps:
            said[(account, region, type_, status)] += n
    return said


def _replace_rows(connection: sqlite3.Connection, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    connection.execute(f"DELETE FROM [{table}]")
    _insert_tuples(connection, table, columns, rows)


def forget_version_counts(connection: sqlite3.Connection) -> None:
    """Versions were removed (prune): the next refresh counts them all again."""
    connection.execute(f"DELETE FROM meta WHERE key = '{VERSIONS_COUNTED}'")


SQL_TYPES = {int: "INTEGER", str: "TEXT", float: "FLOAT"}


class NotADriftgraphDatabase(ValueError):
    """The file is not a database driftgraph wrote: never add our tables to someone else's data."""


class DatabaseBusy(ValueError):
    """Another process holds the database's write lock (not a scan of ours: those take turns on PATH.lock)."""


class DatabaseUnwritable(ValueError):
    """The database, its folder or its lock file cannot be written: found before a scan, not after it."""


CACHE_KIB = 65536  # SQLite's page cache while a scan is written (64 MiB; its default is 2 MiB; 256 MiB took 200 MB more
# at 200k resources for no time saved)
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
    for name in VIEWS:
        connection.execute(f"DROP VIEW IF EXISTS [{name}]")
    per_scan = "resources" in existing and "scan_id" in {r[1] for r in connection.execute("pragma table_info(resources)")}
    if per_scan:  # schema 1: every scan's rows again; set aside, then replayed as versions below
        for table in VERSIONED:
            if table in existing:
                connection.execute(f"ALTER TABLE [{table}] RENAME TO [v1_{table}]")
                existing.discard(table)
    for name, columns in TABLES.items():
        if name not in existing:
            connection.execute(_create_table_sql(name, columns))
        else:
            have = {row[1] for row in connection.execute(f"pragma table_info([{name}])")}
            for column, kind in columns.items():
                if column not in have:
                    connection.execute(f"ALTER TABLE [{name}] ADD COLUMN [{column}] {SQL_TYPES[kind]}")
        _create_indexes(connection, [name])
    for index in READ_INDEXES:
        connection.execute(index)
    if per_scan:
        _replay_schema_1(connection)
    for name, sql in VIEWS.items():
        connection.execute(f"CREATE VIEW [{name}] AS {sql}")
    connection.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
    )


def _replay_schema_1(connection: sqlite3.Connection) -> None:
    """A schema-1 database's scans, oldest first, written again as versions (the rows are already redacted);
    each scan's scopes are its accounts and regions and the places its listings went."""
    connection.row_factory = sqlite3.Row
    try:
        for scan in connection.execute("select id, accounts, regions from scans order by id").fetchall():
            said = {}
            for table in VERSIONED:
                rows = connection.execute(f"select * from [v1_{table}] where scan_id = ?", [scan["id"]]).fetchall()
                said[table] = [{k: row[k] for k in row.keys() if k in TABLES[table]} for row in rows]
            accounts = _json_list(scan["accounts"])
            scopes = {(a, r) for a in accounts for r in [*_json_list(scan["regions"]), GLOBAL, None]}
            scopes |= {(row["account"], row["region"]) for row in connection.execute(
                "select distinct account, region from listings where scan_id = ?", [scan["id"]])}
            write_versions(connection, scan["id"], said, scopes)
    finally:
        connection.row_factory = None
    for table in VERSIONED:
        connection.execute(f"DROP TABLE [v1_{table}]")


def _json_list(text: str | None) -> list:
    try:
        value = json.loads(text) if text else []
    except ValueError:
        return []
    return value if isinstance(value, list) else []



# A version's bookkeeping; every other column is what the scan said, and decides whether anything changed.
_BOOKKEEPING = frozenset({"version", "from_scan", "until_scan", "first_seen", "status_since", "digest", "raw_digest"})
CONTENT = {table: tuple(c for c in TABLES[table] if c not in _BOOKKEEPING) for table in VERSIONED}
# the column tying a child row to its resource
CHILD_OF = {"owners": "resource_id", "edges": "source_id", "drift": "resource_id"}
# how given rows become stored ones (graph.cleaning): a raw digest taken under other rules never matches
RULES = rules_digest(CONTENT)
_IN_CHUNK = 500  # ids per `in (...)` lookup: well under SQLite's variable limit



_RESOURCE_INSERT = ("version", *CONTENT["resources"], "from_scan", "until_scan", "first_seen", "status_since",
                    "digest", "raw_digest")
_I_ID, _I_STATUS = CONTENT["resources"].index("id"), CONTENT["resources"].index("status")


def _insert_versions(connection: sqlite3.Connection, scan_id: int, batch: list[tuple[tuple, int, int | None, tuple]],
                     first_version: int, earlier: dict[str, tuple]) -> None:
    """New versions (resource, digest, raw digest, children by table), numbered on from `first_version`; a
    resource seen before (`earlier`: first seen, status since, status) keeps its history."""
    def resource_rows():
        for version, (resource, digest, raw, _) in enumerate(batch, first_version):
            before = earlier.get(resource[_I_ID])
            first_seen = before[0] if before and before[0] is not None else scan_id
            status_since = before[1] if before and before[2] == resource[_I_STATUS] and before[1] else scan_id
            yield (version, *resource, scan_id, None, first_seen, status_since, digest, raw)

    def child_rows(position: int):
        for version, (_, _, _, own) in enumerate(batch, first_version):
            for row in own[position]:
                yield (version, *row)

    _insert_tuples(connection, "resources", _RESOURCE_INSERT, resource_rows())
    for position, table in enumerate(CHILD_OF):
        _insert_tuples(connection, table, ("version", *CONTENT[table]), child_rows(position))


def write_versions(connection: sqlite3.Connection, scan_id: int, said: dict[str, list[dict[str, Any]]],
                   scopes: Iterable[tuple[str | None, str | None]], secrets: Iterable[str] = (),
                   gaps: Iterable[tuple[str | None, str | None, str]] = (), scopes_complete: bool = False,
                   cleaned: bool = True) -> dict[str, int]:
    """Store what scan `scan_id` said (`said`: rows by table; with `cleaned`, as a database stores them, else as
    given to ScanWriter.write) as versions, inside the caller's transaction: a resource whose current version says
    the same is left alone; a changed one gets a new version; a current version in a scope the scan looked at
    and did not report ends. A resource whose rows, as given, digest as its current version's did (`raw_digest`)
    is the same without being cleaned: only changed rows are redacted and serialised. `secrets` are masked in
    every stored value. The scopes (with those of the rows reported, and no account/no region) become the scan's
    `scan_scopes`. With `scopes_complete` the scopes are every place the scan looked: one it only reports a row in
    (a declaration in an account or region it did not scan) keeps what an earlier scan saw there, as behind a
    failed listing. Returns the counts."""
    secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
    as_tuples: dict[str, bool] = {}
    said = dict(said)
    for table in VERSIONED:
        rows = said.get(table, ())
        said[table], as_tuples[table] = _one_form(table, rows if isinstance(rows, list) else list(rows))
    mask, clean_resources, clean_children, raw_digest = _cleaners(cleaned, secrets, as_tuples)

    # children by the id they hang off, as given: one lookup a resource. An id with one child holds the row itself
    # (rows are tuples or dicts), a list only where there are more: a list each would take 140 MB at a million
    children: dict[str, dict[Any, dict | tuple | list]] = {}
    for table, key in CHILD_OF.items():
        by_id: dict[Any, dict | tuple | list] = {}
        key_of = _column_of(table, key, as_tuples[table])
        for row in said.get(table, ()):
            hold(by_id, key_of(row), row)
        children[table] = by_id
    owners_of, edges_of, drift_of = (children[table] for table in CHILD_OF)

    resources = said.get("resources", ())
    id_of = _column_of("resources", "id", as_tuples["resources"])

    stored_before = connection.execute("select exists (select 1 from resources)").fetchone()[0]

    def key_column(column: str) -> list[Any]:
        """One of the columns every resource needs cleaned to be found (its id) and placed (account, region,
        type), cleaned a batch at a time. Into an empty store there is nothing to find: no ids."""
        if column == "id" and not stored_before:
            return [None] * len(resources)
        values = list(map(_column_of("resources", column, as_tuples["resources"]), resources))
        if not cleaned:
            batch = column_batcher("resources", column)
            values = [value for start in range(0, len(values), _CLEAN_ROWS)
                      for value in batch(values[start:start + _CLEAN_ROWS])]
        return values if mask is None else list(map(mask, values))

    # (id, account, region, type) of every resource, as four columns: a tuple a resource would take 100 MB at 1.3M
    placed = [key_column(column) for column in ("id", "account", "region", "type")]
    looked = {*scopes, (None, None)}
    covered = looked | set(zip(placed[1], placed[2]))
    connection.executemany("INSERT INTO scan_scopes (scan_id, account, region) VALUES (?, ?, ?)",
                           [(scan_id, a, r) for a, r in sorted(covered, key=str)])
    gaps = set(gaps)
    # a place the scan reports a resource in without having looked there (a declaration in an account or region it
    # did not scan): what an earlier scan saw there stays as last seen, as behind a failed listing, never gone
    touched = covered - looked if scopes_complete else set()
    if touched:
        gaps |= {(a, r, t) for a, r, t in connection.execute(
            "select distinct account, region, type from resources where until_scan is null") if (a, r) in touched}
    connection.executemany("INSERT INTO scan_gaps (scan_id, account, region, type) VALUES (?, ?, ?, ?)",
                           [(scan_id, *gap) for gap in sorted(gaps, key=str)])

    current = _CurrentVersions()
    carried: dict[int, str] = {}  # current versions in a gap, by position: kept as last seen unless the scan reports the id
    for version, id_, account, region, type_, digest, raw in connection.execute(
        "select version, id, account, region, type, digest, raw_digest from resources where until_scan is null"
    ):
        if (account, region) in covered:
            position = current.add(id_, version, digest, raw)
            if (account, region, type_) in gaps:
                carried[position] = id_
    versions_at, digests_at, raws_at = current.versions, current.digests, current.raws

    earlier: dict[str, tuple] = {}  # id -> (first seen, status since, status) of its latest earlier version
    next_version = connection.execute("select coalesce(max(version), 0) from resources").fetchone()[0] + 1

    def store_new(batch: list[tuple[tuple, int, int | None, tuple]]) -> None:
        """New versions stored, numbered on from next_version."""
        nonlocal next_version
        _insert_versions(connection, scan_id, batch, next_version, earlier)
        next_version += len(batch)

    # a first scan into an empty store: every resource is new and has no history, so each batch is stored as soon
    # as it is cleaned (no million cleaned rows held at once); large, it loads first and indexes after (one sort
    # per index, not a million seeks)
    streamed = not stored_before
    bulk = streamed and len(resources) >= _BULK_ROWS
    if bulk:
        _drop_indexes(connection, VERSIONED)
    stored = 0
    kept = bytearray(len(versions_at))  # by position: 1 for a current version the scan said again
    gap_reports: list[tuple[int, int]] = []  # (scan, version) reported unchanged in a gap: said, not only carried
    refreshed: list[tuple[int, int, int]] = []  # (digest, raw digest, version): the same, given differently
    new: list[tuple[tuple, int, int | None, tuple]] = []  # (resource, digest, raw digest, its children by table)

    def judge(pending: list[tuple[tuple, int | None, Sequence[int], tuple]]) -> None:
        """Resources whose raw digest found no version, cleaned together (column by column), then compared by the
        digest of what would be stored: the same as a current version, or new."""
        nonlocal new, stored
        cleaned = cleaned_with_digests([given for given, _, _, _ in pending], clean_resources, clean_children)
        for (given, raw, positions, place), (resource, own, digest) in zip(pending, cleaned):
            # a version without a raw digest was written before them (its digest of repr) or from rows marshal
            # could not write: either digest says it is the same
            same = next((p for p in positions if not kept[p] and (digests_at[p] == digest or (
                raws_at[p] == _NO_DIGEST and digests_at[p] == legacy_digest(resource, own)))), None)
            if same is None:
                new.append((resource, digest, raw, own))
                if streamed and len(new) >= _STREAM_ROWS:
                    store_new(new)
                    stored += len(new)
                    new = []
                continue
            refreshed.append((digest, raw, versions_at[same]))
            keep(same, place)

    def keep(position: int, place: tuple) -> None:
        kept[position] = 1
        if place in gaps:
            gap_reports.append((scan_id, versions_at[position]))

    def given_of(row: dict | tuple) -> tuple:
        """A resource's row with its children, as the scan gave them: what its raw digest is taken of."""
        raw_id = id_of(row)
        # each as a list (none: _NO_ROWS), a lone row being held as itself (records.hold, above): read here rather
        # than through records.held, a call each on a path taken for every resource
        owners = owners_of.get(raw_id, _NO_ROWS)
        edges = edges_of.get(raw_id, _NO_ROWS)
        drift = drift_of.get(raw_id, _NO_ROWS)
        return (row, owners if owners is _NO_ROWS or owners.__class__ is list else [owners],
                edges if edges is _NO_ROWS or edges.__class__ is list else [edges],
                drift if drift is _NO_ROWS or drift.__class__ is list else [drift])

    def load(items: Iterable[tuple[tuple, tuple]]) -> None:
        """Resources as (given, (id, account, region, type)): the same as a current version, or new."""
        pending: list[tuple[tuple, int | None, Sequence[int], tuple]] = []  # (given, raw digest, positions, place)
        for given, (id_, account, region, type_) in items:
            raw = raw_digest(given)
            positions = current.positions(id_)
            same = None
            if raw is not None:
                same = next((p for p in positions if raws_at[p] == raw and not kept[p]), None)
            if same is None:
                pending.append((given, raw, positions, (account, region, type_)))
                if len(pending) >= _CLEAN_ROWS:
                    judge(pending)
                    pending = []
                continue
            keep(same, (account, region, type_))
        judge(pending)

    def items(start: int, end: int) -> Iterable[tuple[tuple, tuple]]:
        return zip(map(given_of, resources[start:end]), zip(*(column[start:end] for column in placed)))

    # a large first load takes the second core: a worker process cleans, digests and stores the second half of the
    # resources (all new, numbered after the first half) into a file of its own while this process does the first
    half = int(len(resources) * (1 - _WORKER_SHARE)) if bulk and len(resources) >= _PARALLEL_ROWS else len(resources)
    worker = None
    if half < len(resources):
        worker = _LoadWorker.start(connection, {
            "scan_id": scan_id, "first_version": next_version + half, "cleaned": cleaned, "secrets": secrets,
            "as_tuples": as_tuples, "rules": RULES})
    try:
        if worker is not None:
            worker.send([given_of(row) for row in resources[start:min(start + _CLEAN_ROWS, len(resources))]]
                        for start in range(half, len(resources), _CLEAN_ROWS))
        load(items(0, half if worker is not None else len(resources)))
        if worker is not None:
            store_new(new)  # the first half's last batch, before the second half's versions
            stored += len(new)
            new = []
            if worker.join(connection, len(resources) - half):
                stored += len(resources) - half
                next_version += len(resources) - half
            else:
                load(items(half, len(resources)))
    finally:
        if worker is not None:
            worker.close()
    # a version in a gap ends only when the scan reported its id (elsewhere, or changed); every other one not said
    reported = set(placed[0]) if carried else set()
    placed = []  # freed
    unsaid = set(compress(range(len(kept)), kept.translate(_NOT)))
    left = {p for p, id_ in carried.items() if p in unsaid and id_ not in reported}
    ended = [versions_at[p] for p in sorted(unsaid - left)]
    unchanged = len(kept) - len(unsaid)
    current = kept = None  # freed

    # history carries over from the resource's latest earlier version (ended by a failed listing, or elsewhere)
    ids = sorted({resource[_I_ID] for resource, _, _, _ in new if resource[_I_ID] is not None}) if stored_before else []
    for start in range(0, len(ids), _IN_CHUNK):
        chunk = ids[start:start + _IN_CHUNK]
        for id_, first_seen, status_since, status in connection.execute(
            f"select id, first_seen, status_since, status from resources where id in ({','.join('?' * len(chunk))}) "
            "order by version", chunk,
        ):
            firsts = [x for x in (earlier[id_][0] if id_ in earlier else None, first_seen) if x is not None]
            earlier[id_] = (min(firsts) if firsts else None, status_since, status)

    connection.executemany("update resources set until_scan = ? where version = ?", ((scan_id, v) for v in ended))
    # versions stored under other rules, or given in another form, that still say the same: digests brought up to
    # date so that the next scan finds them without cleaning
    connection.executemany("update resources set digest = ?, raw_digest = ? where version = ?", refreshed)
    _insert_tuples(connection, "scan_gap_reports", ("scan_id", "version"), gap_reports)
    store_new(new)
    stored += len(new)
    if bulk:
        _create_indexes(connection, VERSIONED, read_indexes=True)
    return {"new": stored, "ended": len(ended), "unchanged": unchanged, "carried": len(left)}


def _cleaners(cleaned: bool, secrets: list[str], as_tuples: dict[str, bool]) -> tuple[Callable | None, Callable,
                                                                                     dict[str, Callable], Callable]:
    """What a write (or its load worker) cleans and digests with: the known `secrets`' mask, the resources' and
    each child table's batch cleaner, and the raw digester."""
    mask = masker(secrets) if secrets else None
    clean_children = {table: batch_cleaner(table, CONTENT[table], cleaned, mask, as_tuples[table]) for table in CHILD_OF}
    clean_resources = batch_cleaner("resources", CONTENT["resources"], cleaned, mask, as_tuples["resources"])
    return mask, clean_resources, clean_children, raw_digester(RULES, cleaned, secrets)


_NO_ROWS = ()  # a resource's children where it has none
_NO_DIGEST = -(2**63)  # a null digest in _CurrentVersions' arrays
_id_key = hash  # what _CurrentVersions finds an id's versions by
_NOT = bytes([1, 0]) + bytes(254)  # bytes.translate: 0 and 1 swapped


class _CurrentVersions:
    """The current versions a scan compares its rows with, found by resource id: three 8-byte numbers a version,
    in arrays, found through the id's hash. A million of them are held through a scan: as lists of tuples keyed by
    the ids' text they took 480 MB at 1.3M. Ids that share a hash share an entry; their versions are told apart
    by the digests, which cover the id."""

    def __init__(self) -> None:
        self._at: dict[int, int | list[int]] = {}  # hash of an id -> the position of its version(s)
        self.versions, self.digests, self.raws = array("q"), array("q"), array("q")

    def add(self, id_: str, version: int, digest: int | None, raw: int | None) -> int:
        position = len(self.versions)
        self.versions.append(version)
        self.digests.append(_digest_number(digest))
        self.raws.append(_digest_number(raw))
        hold(self._at, _id_key(id_), position)
        return position

    def positions(self, id_: str) -> Sequence[int]:
        """Where the versions that may be `id_`'s are (a few more only when another id has its hash)."""
        return held(self._at, _id_key(id_))


def _digest_number(value: Any) -> int:
    """A stored digest as the arrays hold it: null, or anything but a 64-bit number (a database edited by hand), is
    no digest, which nothing matches: the row is then compared cleaned, or stored anew."""
    return value if value.__class__ is int and _NO_DIGEST < value < 2**63 else _NO_DIGEST


def _column_of(table: str, column: str, as_tuples: bool) -> Callable[[Any], Any]:
    """Reads one column of a versioned table's row given as a dict, or as a tuple of its content columns."""
    if as_tuples:
        return operator.itemgetter(CONTENT[table].index(column))
    return operator.methodcaller("get", column)


_BULK_ROWS = 10_000  # a first load at least this large drops the versioned tables' indexes and builds them after
_STREAM_ROWS = 20_000  # new versions of a first load stored at a time
_CLEAN_ROWS = 5_000  # resources cleaned together (each column of them searched at once)


def _stored_row(table: str, row: dict[str, Any] | tuple) -> dict[str, Any]:
    """A versioned table's row as given, cleaned as the database stores it."""
    return dict(zip(CONTENT[table], row_cleaner(table, CONTENT[table], False, None, row.__class__ is tuple)(row)))


def _one_form(table: str, rows: list) -> tuple[list, bool]:
    """The rows of a versioned table all in one form (dicts, or tuples of its content columns when every row is
    one), and whether they are tuples."""
    if not rows:
        return rows, False
    width = len(CONTENT[table])
    if set(map(type, rows)) == {tuple} and set(map(len, rows)) == {width}:  # the scan's own form, at C speed
        return rows, True
    tuples = sum(1 for row in rows if row.__class__ is tuple)
    if tuples and any(row.__class__ is tuple and len(row) != width for row in rows):
        raise ValueError(f"a {table} row given as a tuple has {width} values: {', '.join(CONTENT[table])}")
    if tuples == len(rows):
        return rows, True
    if tuples:
        rows = [dict(zip(CONTENT[table], row)) if row.__class__ is tuple else row for row in rows]
    return rows, False


def listing_gaps(listings: Iterable[dict[str, Any]]) -> set[tuple[str | None, str | None, str]]:
    """(account, region, type) of every list call that failed, with the types found through that one (children,
    types listed per parent item): nothing the scan says there can end what an earlier scan saw."""
    gaps = set()
    for row in listings:
        if row.get("call") or row.get("outcome") in (LISTING_OK, "unsupported"):
            continue  # a failed detail call leaves resources listed: their attributes are unknown, not them
        for type_ in _listed_through(row.get("type")):
            gaps.add((row.get("account"), row.get("region"), type_))
    return gaps


def _listed_through(type_: str | None) -> set[str]:
    """`type_` and the types whose resources a failure to list it would hide."""
    found = {type_} if type_ else set()
    row = CATALOG.get(type_) if type_ else None
    if row is not None:
        found |= {child.type for child in row.cloudformation_children}
        found |= {other.type for other in CATALOG.values() if other.parent and other.parent[0] == type_}
    return found


def _insert_tuples(connection: sqlite3.Connection, table: str, columns: tuple[str, ...], rows: Iterable[tuple]) -> None:
    """Rows as tuples in `columns` order, in one executemany (a generator is consumed as it goes: no list)."""
    names = ", ".join(f"[{c}]" for c in columns)
    connection.executemany(f"INSERT INTO [{table}] ({names}) VALUES ({', '.join('?' * len(columns))})", rows)


def _index_name(table: str, columns: list[str]) -> str:
    return f"idx_{table}_{'_'.join(columns)}"


def _create_indexes(connection: sqlite3.Connection, tables: Iterable[str], read_indexes: bool = False) -> None:
    """The tables' indexes (with `read_indexes`, the read model's on them too)."""
    for table in tables:
        for index in INDEXES.get(table, []):
            columns_sql = ", ".join(f"[{c}]" for c in index)
            connection.execute(f"CREATE INDEX IF NOT EXISTS [{_index_name(table, index)}] ON [{table}] ({columns_sql})")
        for sql in _READ_INDEXES_ON.get(table, []) if read_indexes else ():
            connection.execute(sql)


def _drop_indexes(connection: sqlite3.Connection, tables: Iterable[str]) -> None:
    """Every index on the tables, for a bulk load that builds them after (one sort each, not a million seeks)."""
    for table in tables:
        for index in INDEXES.get(table, []):
            connection.execute(f"DROP INDEX IF EXISTS [{_index_name(table, index)}]")
        for sql in _READ_INDEXES_ON.get(table, []):
            connection.execute(f"DROP INDEX IF EXISTS [{_READ_INDEX.match(sql)['name']}]")


_READ_INDEX = re.compile(r"CREATE INDEX IF NOT EXISTS (?P<name>\w+) ON (?P<table>\w+)")
_READ_INDEXES_ON: dict[str, list[str]] = defaultdict(list)
for _sql in READ_INDEXES:
    _READ_INDEXES_ON[_READ_INDEX.match(_sql)["table"]].append(_sql)


_PARALLEL_ROWS = 100_000  # a first load of at least this many resources is split with a worker process (_LoadWorker)
# the time a worker is given before it is stopped as hung: 60 s, and 1 ms a resource (it takes about 0.07)
_WORKER_SECONDS, _WORKER_SECONDS_A_ROW = 60.0, 0.001
_WORKER_SHARE = 0.55  # of the resources: this process also sends the worker its rows, so at 0.5 the worker ended
# 11-12 s before this process's share at 1M; at 0.55, 1.7 s before it at 1M and 0.1 s after it at 400k


class _LoadWorker:
    """The second half of a large first load, cleaned, digested and stored by a worker process (the second core)
    into a file of its own beside the database, then copied in by SQLite itself (ATTACH, INSERT ... SELECT).

    A fresh interpreter, not a fork: a forked child shares the scan's pages, and every object either process then
    reads gets its page copied (a read writes a reference count), which doubled the memory. The rows reach it
    through a pipe (marshal, a batch at a time, from a thread of this process). A worker that fails costs only
    time: its half is loaded again here."""

    def __init__(self, path: str, process: subprocess.Popen, errors: Any):
        self.path, self.process, self.errors = path, process, errors
        self.feeder: threading.Thread | None = None

    @classmethod
    def start(cls, connection: sqlite3.Connection, header: dict[str, Any]) -> "_LoadWorker | None":
        main_file = connection.execute("PRAGMA database_list").fetchone()[2]
        if not main_file or (os.cpu_count() or 1) < 2:
            return None
        path = None
        try:
            handle, path = tempfile.mkstemp(prefix=_load_file_prefix(main_file), suffix=".db",
                                            dir=os.path.dirname(main_file))
            os.close(handle)
            errors = tempfile.TemporaryFile()
            process = subprocess.Popen([sys.executable, "-c", _WORKER_CODE, str(Path(__file__).resolve().parents[1])],
                                       stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errors)
        except OSError as error:
            log.warning("no worker process for the first load (%s): it is loaded here alone", error)
            if path is not None:
                os.unlink(path)
            return None
        worker = cls(path, process, errors)
        try:
            _send_batch(process.stdin, {**header, "path": path})
        except OSError:
            pass  # the worker stopped at once: join() says why
        return worker

    def send(self, batches: Iterable[list]) -> None:
        """The worker's rows, sent by a thread while this process loads its own half (the pipe holds little: the
        thread waits on the worker, not this process)."""
        def feed() -> None:
            try:
                with self.process.stdin as pipe:
                    for batch in batches:
                        _send_batch(pipe, batch)
            except OSError:  # the worker stopped: join() says so
                pass
        self.feeder = threading.Thread(target=feed, name="driftgraph-load-feeder", daemon=True)
        self.feeder.start()

    def join(self, connection: sqlite3.Connection, rows: int) -> bool:
        """Waits for the worker (a time bound for its `rows`: one that hangs is stopped) and copies what it stored
        into the scan's transaction; False when it failed."""
        try:
            code = self.process.wait(timeout=_WORKER_SECONDS + rows * _WORKER_SECONDS_A_ROW)
            said = None
        except subprocess.TimeoutExpired:
            self.process.kill()  # its pipe breaks: the thread feeding it stops too
            code, said = self.process.wait(), f"no answer after {_WORKER_SECONDS + rows * _WORKER_SECONDS_A_ROW:.0f} s"
        if self.feeder is not None:
            self.feeder.join()
        if code != 0:
            self.errors.seek(0)
            said = said or self.errors.read().decode("utf-8", "replace").strip() or f"exit status {code}"
            log.warning("the worker loading half of the first scan failed; that half is loaded here: %s",
                        redact_text(said.splitlines()[-1]))  # an error's message may quote a value
            return False
        alias = f"load_{os.getpid()}_{id(self)}"
        connection.execute(f"ATTACH DATABASE ? AS [{alias}]", (self.path,))
        for table in VERSIONED:
            names = ", ".join(f"[{c}]" for c in TABLES[table])
            connection.execute(f"INSERT INTO main.[{table}] ({names}) SELECT {names} FROM [{alias}].[{table}]")
        return True  # stays attached (SQLite detaches nothing mid-transaction) until the connection closes

    def close(self) -> None:
        """The worker stopped (killed if still running) and its files gone."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self.feeder is not None:
            self.feeder.join()
        self.errors.close()
        for leftover in (self.path, self.path + "-journal"):
            try:
                os.unlink(leftover)
            except FileNotFoundError:
                pass


def _load_file_prefix(database: str | os.PathLike) -> str:
    """A worker's file beside `database` starts so: one left by a scan killed mid-load is removed by the next."""
    return f".{Path(database).name}.load-"


def _remove_stale_load_files(database: Path) -> None:
    """Files of a worker whose scan was killed; only the writer holding the lock makes them, and we do now."""
    # named as tempfile.mkstemp names them: eight characters between the prefix and the suffix
    for stale in database.parent.glob(glob.escape(_load_file_prefix(database)) + "?" * 8 + ".db"):
        try:
            stale.unlink()
        except OSError as error:
            log.warning("%s: a stale file of a killed scan could not be removed: %s", stale, error)


# the worker's program: graph.store from the same tree as the scan's, whatever the working directory holds
_WORKER_CODE = "import sys; sys.path.insert(0, sys.argv[1]); from graph.store import load_worker; sys.exit(load_worker())"


def load_worker(stream: Any = None) -> int:
    """A worker process's whole work (_LoadWorker): new versions of the resources the pipe brings, numbered from
    the header's first_version, into a fresh database at the header's path."""
    batches = _batches_from(stream or sys.stdin.buffer)
    header = next(batches)
    if header["rules"] != RULES:
        raise RuntimeError("the cleaning rules (graph.cleaning, graph.redact, the schema) changed on disk during the "
                           "scan")
    _, clean_resources, clean_children, raw_digest = _cleaners(header["cleaned"], header["secrets"],
                                                               header["as_tuples"])
    part = sqlite3.connect(header["path"], isolation_level=None)
    part.execute("PRAGMA journal_mode = OFF")  # a scratch file: no journal, nothing to keep on a crash
    part.execute("PRAGMA synchronous = OFF")
    for table in VERSIONED:
        part.execute(_create_table_sql(table, TABLES[table]))
    part.execute("BEGIN")
    version = header["first_version"]
    with bulk_work():
        for givens in batches:
            done = [(resource, digest, raw_digest(given), own)
                    for given, (resource, own, digest) in zip(givens, cleaned_with_digests(givens, clean_resources, clean_children))]
            _insert_versions(part, header["scan_id"], done, version, {})
            version += len(done)
    part.execute("COMMIT")
    part.close()
    return 0


def _send_batch(pipe: Any, batch: Any) -> None:
    """One batch on the pipe: its form (marshal; pickle for what marshal cannot write, a date), length, bytes."""
    try:
        form, data = b"m", marshal.dumps(batch, 2)
    except ValueError:
        form, data = b"p", pickle.dumps(batch, pickle.HIGHEST_PROTOCOL)
    pipe.write(form + len(data).to_bytes(8, "big") + data)


def _batches_from(pipe: Any) -> Iterator[Any]:
    while header := pipe.read(9):
        data = pipe.read(int.from_bytes(header[1:], "big"))
        yield marshal.loads(data) if header[:1] == b"m" else pickle.loads(data)


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
            _remove_stale_load_files(self.path)
            # isolation_level=None: no implicit commits; the one transaction is ours from BEGIN to COMMIT
            self.connection = sqlite3.connect(self.path, isolation_level=None, timeout=60)
            # the rollback journal (SQLite's default) keeps the last good database whole until COMMIT; a larger page
            # cache lets a million-row write and its index builds stay in memory instead of reading pages back
            self.connection.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
            self.connection.execute("BEGIN IMMEDIATE")
            ensure_schema(self.connection)
        except BaseException:
            self._close(rollback=True)
            raise
        self.scan_id: int | None = None
        self._secrets: list[str] = []
        # resources, owners, edges and drift as the scan gave them (lists of rows, kept, not copied), cleaned in
        # finish() only where a resource changed; `_stored_form`: given as a database stores them (write_stored)
        self._said: dict[str, list[list[dict[str, Any]]]] = {table: [] for table in VERSIONED}
        self._stored_form: bool | None = None
        self._scopes: set[tuple[str | None, str | None]] = set()
        self._scopes_complete = False
        self._gaps: set[tuple[str | None, str | None, str]] = set()
        self.versions: dict[str, int] = {}  # what finish() stored: new, ended and unchanged resource versions
        self._first_version: int | None = None  # the first version this scan could add, once finish() stored them

    def forget(self, secrets: Iterable[str]) -> None:
        """Values known to be secrets, masked in every text this writer stores from now on (a NoEcho parameter's
        value in a tag or name AWS made from it). Values shorter than MIN_SECRET_CHARS are left: masking `x`
        everywhere would destroy the inventory, and such a value protects nothing."""
        known = {s for s in secrets if isinstance(s, str) and len(s) >= MIN_SECRET_CHARS} | set(self._secrets)
        self._secrets = sorted(known, key=len, reverse=True)  # a longer secret first: it may hold a shorter one

    def _masked(self, value: Any) -> Any:
        return masker(self._secrets)(value) if self._secrets else value

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
        self._insert("scans", [clean_row(scan)])
        self.scan_id = self.connection.execute("select last_insert_rowid()").fetchone()[0]
        return self.scan_id

    def write(self, table: str, rows: Iterable[dict[str, Any] | tuple]) -> None:
        """Rows of one table for this scan. Resources, owners, edges and drift are kept as given until `finish()`,
        which cleans and stores only what changed (so the rows must not change before it); a row of theirs may be
        a tuple of the table's content columns (`CONTENT[table]`: a third of a dict's memory, for a million owners
        and edges). Other tables are cleaned and written at once, with this scan's id."""
        if table in VERSIONED:
            self._keep_said(table, rows, stored_form=False)
        else:
            self._keep(table, [clean_row(r) for r in rows])

    def write_stored(self, table: str, rows: Iterable[dict[str, Any]]) -> None:
        """Rows of one table as a driftgraph database already stores them (redacted, lists and dicts as JSON),
        without their scan id or version: `driftgraph merge` copies them from the databases it merges. Cleaning
        them again would encode their JSON a second time; they are kept or written as `write` keeps or writes
        the rows it cleaned."""
        if table in VERSIONED:
            self._keep_said(table, rows, stored_form=True)
        else:
            self._keep(table, [dict(row) for row in rows])

    def _keep_said(self, table: str, rows: Iterable[dict[str, Any]], stored_form: bool) -> None:
        rows = rows if isinstance(rows, list) else list(rows)
        if self._stored_form is None:
            self._stored_form = stored_form
        if stored_form != self._stored_form:
            # both forms in one scan (driftgraph itself never mixes them): what was given is cleaned now
            if self._stored_form:
                rows = [_stored_row(table, row) for row in rows]
            else:
                for name, chunks in self._said.items():
                    self._said[name] = [[_stored_row(name, row) for chunk in chunks for row in chunk]]
                self._stored_form = True
        self._said[table].append(rows)

    def _keep(self, table: str, rows: list[dict[str, Any]]) -> None:
        """Stored rows of a table that is not versioned: written now, with this scan's id."""
        if table == "listings":
            self._gaps.update(listing_gaps(rows))
        self._insert(table, [{**row, "scan_id": self.scan_id} for row in rows])

    def write_scopes(self, scopes: Iterable[tuple[str | None, str | None]], complete: bool = False) -> None:
        """The (account, region) pairs this scan looked at, failed listings included: a resource there that the
        scan does not report is gone (its version ends); one elsewhere is untouched. The scopes of the rows the
        scan reports, and (no account, no region), are added by `finish()`; with `complete` (these are every place
        the scan looked) a row reported elsewhere ends nothing there."""
        self._scopes.update((a, r) for a, r in scopes)
        self._scopes_complete = self._scopes_complete or complete

    def _write_versions(self) -> dict[str, int]:
        if self.scan_id is not None and not self.versions:
            self._first_version = self.connection.execute(
                "select coalesce(max(version), 0) + 1 from resources").fetchone()[0]
            said = {table: chunks[0] if len(chunks) == 1 else [row for chunk in chunks for row in chunk]
                    for table, chunks in self._said.items()}
            with bulk_work():
                self.versions = write_versions(self.connection, self.scan_id, said, self._scopes, self._secrets,
                                               self._gaps, self._scopes_complete, cleaned=bool(self._stored_form))
        return self.versions

    def write_catalog(self, catalog: Iterable[dict[str, Any]]) -> None:
        """The catalog (`catalog_as_dicts()`) as the `resource_types` table: one row a type, lists as JSON."""
        rows = [{k: json_text(v) if isinstance(v, (list, dict)) else v for k, v in row.items()} for row in catalog]
        self._insert("resource_types", rows, verb="INSERT OR REPLACE")

    def write_meta(self, values: dict[str, str]) -> None:
        """Facts about the database itself (`demo`: made by `driftgraph demo`, so a rerun may replace it)."""
        self._insert("meta", [{"key": k, "value": str(v)} for k, v in values.items()], verb="INSERT OR REPLACE")

    def finish(self, updates: dict[str, Any]) -> None:
        self._write_versions()
        cleaned = clean_row(updates)
        assignments = ", ".join(f"[{column}] = ?" for column in cleaned)
        self.connection.execute(f"UPDATE scans SET {assignments} WHERE id = ?", [*cleaned.values(), self.scan_id])

    def commit(self) -> Path:
        try:
            self._write_versions()
            refresh_summaries(self.connection, None if self._first_version is None else
                              (self.scan_id, self._first_version))
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
    if int(read_meta(path).get("schema_version", SCHEMA_VERSION)) < SCHEMA_VERSION:
        upgrade(path)
    return sqlite_utils.Database(path)


def upgrade(path: str | os.PathLike) -> None:
    """Bring a database an older driftgraph wrote to this schema, in one transaction (its scans kept)."""
    log.warning("%s: written by an older driftgraph; upgrading it to schema %d", path, SCHEMA_VERSION)
    try:
        ScanWriter(path).commit()
    except (OSError, sqlite3.Error, DatabaseUnwritable) as error:
        raise DatabaseUnwritable(f"{path}: written by an older driftgraph and cannot be upgraded here ({error}); "
                                 "run a scan into it where it can be written") from None


# Tables holding a scan's own rows (scan_id): what prune removes for a scan it drops.
PER_SCAN = tuple(name for name, columns in TABLES.items() if "scan_id" in columns and name != "scan_scopes")


def prune(path: str | os.PathLike, keep_scans: Iterable[int], dry_run: bool = False,
          vacuum: bool = True) -> dict[str, int]:
    """Drop every scan but `keep_scans` (the caller keeps at least the latest of each account and region): their
    own rows and scopes go, and every resource version no kept scan can show; the scans rows stay (marked
    `pruned_at`) so that first-seen times and ages still read. One transaction, under the writers' lock."""
    keep = set(keep_scans)
    writer = ScanWriter(path)
    try:
        connection = writer.connection
        dropped = [row[0] for row in connection.execute("select id from scans where pruned_at is null order by id")
                   if row[0] not in keep]
        if not keep:
            raise ValueError("prune would keep no scan")
        oldest_kept = min(keep)
        # a version that ended by the oldest kept scan was said by no kept scan: nothing can show it any more
        gone = "select version from resources where until_scan is not null and until_scan <= ?"
        counts = {"scans": len(dropped),
                  "versions": connection.execute(f"select count(*) from ({gone})", [oldest_kept]).fetchone()[0]}
        if not dry_run and dropped:
            marks = ",".join("?" * len(dropped))
            for table in (*PER_SCAN, "scan_scopes"):
                connection.execute(f"delete from [{table}] where scan_id in ({marks})", dropped)
            for table in CHILD_OF:
                connection.execute(f"delete from [{table}] where version in ({gone})", [oldest_kept])
            connection.execute(f"delete from resources where version in ({gone})", [oldest_kept])
            forget_version_counts(connection)
            connection.execute(f"update scans set pruned_at = ? where id in ({marks})",
                               [_utc_now(), *dropped])
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    if vacuum and not dry_run and dropped:
        with open(Path(path).with_name(Path(path).name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # no scan writes while the file is rewritten
            connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S)
            try:
                connection.execute("VACUUM")  # the room back to the disk: the same file, rewritten under a journal
            finally:
                connection.close()
    return counts


def scans_to_keep(db: sqlite_utils.Database, keep: int | None = None, within: timedelta | None = None) -> set[int]:
    """The scans `prune` keeps: the last `keep` scans or those finished within `within` of the latest, and
    always the latest scan of every account and region (the current picture stands on them)."""
    scans = [(row[0], row[1]) for row in db.execute("select id, finished_at from scans where pruned_at is null "
                                                    "order by id desc")]
    kept = {row[0] for row in db.execute("select max(scan_id) from scan_scopes group by account, region")}
    if keep is not None:
        kept |= {scan_id for scan_id, _ in scans[:keep]}
    if within is not None and scans:
        def when(text):
            try:
                return datetime.fromisoformat(text)
            except (TypeError, ValueError):
                return None
        latest = max((w for _, f in scans if (w := when(f)) is not None), default=None)
        kept |= {scan_id for scan_id, finished in scans
                 if latest is None or (w := when(finished)) is None or w >= latest - within}
    return kept


def _utc_now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()
