"""Merging the databases of one scan split into jobs (by account or by region) into one scan, as a single scan of
every place would have written it.

A job scans some places (account, region) and reads the same IaC inputs as every other job, so its rows are exact
for the regions it covered: each such place is taken from the one job that covered it, and two jobs covering one
region is an error. What every job of an account sees is combined, resource by resource, as one scan would have
seen it: its global resources (IAM, Route 53: a job knows only the stacks of its own regions, so the owners of a
role made by a stack in another region are unknown to it), its resources of no known region, and the declarations
of places no job covered. Where a job's view was partial because of its split, the view of the job that saw more
wins; where jobs' views cannot be told apart, the merge says so (`warnings`, stored as scan errors).

What spans places is computed again over the merged rows, as the scan computes it: import groups, stack
dependencies and upgrade waves. Reading is read-only; writing goes through the store's one writer, so a merged
scan is versioned, diffed and pruned as any scan is.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections import Counter, defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Iterable, Iterator, Sequence

from graph.analysis import import_groups
from graph.records import CLOUDFORMATION, CONFLICT, GLOBAL, LISTING_OK, MANAGED, UNKNOWN, UNMANAGED
from graph.redact import redact_text
from graph.report import scan_summary
from graph.resource_types import catalog_as_dicts
from graph.stack_deps import StackEdge, StackReferences, dependency_graph, graph_edges, upgrade_waves
from graph.store import (
    BUSY_TIMEOUT_S,
    CONTENT,
    SCHEMA_VERSION,
    TABLES,
    ScanWriter,
    check_database,
    check_writable,
    listing_gaps,
)

Scope = tuple  # (account, region): where a scan looked, or where a row lies

# Per-scan tables copied by the scope of each row; stack_dependencies is computed again over the merged stacks.
COPIED = tuple(name for name, columns in TABLES.items()
               if "scan_id" in columns and name not in ("scan_scopes", "scan_gaps", "scan_gap_reports",
                                                                   "stack_dependencies"))
# Columns that vary from run to run of the same listing: left out when two jobs' rows are compared.
TIMING = frozenset({"duration_ms"})
# Computed again over the merged rows (import groups) or following from the status (import ids): left out when
# two jobs' versions of a resource are compared.
RECOMPUTED = frozenset({"import_group", "import_id"})
ASSEMBLY_STATUS_ORDER = ("deployed", "ambiguous", "not_deployed", "not_scanned")  # the first that any job found wins
MERGE_SOURCE = "driftgraph merge"


class MergeError(ValueError):
    """The databases cannot be merged into one scan (not driftgraph's, two covering one place, ...): nothing written."""


@dataclass
class Version:
    """One job's version of one resource: its row and the rows hanging off it, as the job's database stores them."""

    row: dict[str, Any]
    owners: Sequence[dict[str, Any]]
    edges: Sequence[dict[str, Any]]
    drift: Sequence[dict[str, Any]]
    job: int

    @property
    def scope(self) -> Scope:
        return (self.row.get("account"), self.row.get("region"))

    @property
    def live(self) -> bool:
        return self.row.get("attributes") is not None  # only what was found live has attributes, even empty ones

    @property
    def owner_keys(self) -> frozenset:
        return frozenset(_owner_key(o) for o in self.owners)

    def content(self) -> tuple:
        """Everything this version says, for comparing two jobs' versions (the recomputed columns aside)."""
        return (tuple(sorted((k, v) for k, v in self.row.items() if k not in RECOMPUTED)),
                *(tuple(sorted(_tuple(r) for r in rows)) for rows in (self.owners, self.edges, self.drift)))


@dataclass
class Job:
    """The latest scan of one input database."""

    path: str
    scan: dict[str, Any]
    covered: set[Scope]
    resources: dict[str, Version]
    tables: dict[str, list[dict[str, Any]]]
    gaps: set[tuple]

    @property
    def accounts(self) -> list[str]:
        return _json_list(self.scan.get("accounts"))

    @property
    def regions(self) -> list[str]:
        return _json_list(self.scan.get("regions"))


@dataclass
class Merged:
    """One scan made of the jobs: its scans row, the places it covered, its rows by table, and what to warn of."""

    scan: dict[str, Any]
    finish: dict[str, Any]
    scopes: set[Scope]
    rows: dict[str, list[dict[str, Any]]]
    warnings: list[str] = field(default_factory=list)
    inputs: list[Job] = field(default_factory=list)


# ------------------------------------------------------------------------------------------------ reading


def read_job(path: str | os.PathLike) -> Job:
    """The latest scan of a driftgraph database, read-only, its resources not yet read (read_resources); MergeError
    naming the file when it is not one."""
    path = str(path)
    try:
        if not check_database(path):
            raise MergeError(f"{path}: holds no driftgraph scan (a missing or empty file)")
    except MergeError:
        raise
    except ValueError as error:  # not ours, of a newer driftgraph, locked: its message names the file
        raise MergeError(str(error)) from None
    with _reading(path) as connection:
        return _read_job(connection, path)


@contextmanager
def _reading(path: str) -> Iterator[sqlite3.Connection]:
    """A read-only connection to a job's database; MergeError naming the file when it cannot be read."""
    connection = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)
    connection.row_factory = sqlite3.Row
    try:
        yield connection
    except sqlite3.DatabaseError as error:
        raise MergeError(f"{path}: cannot be read ({error})") from None
    finally:
        connection.close()


def read_resources(job: Job, n: int, wanted: Callable[[int, Scope], bool]) -> None:
    """Job `n`'s resources of its latest scan, with their owners, edges and drift, into `job.resources`: only those
    in places `wanted` says the job speaks for. The merge's memory at scale is these rows, so each is read once,
    as the dict of its content columns, and none is held that another job's view replaces (the declarations of
    another job's account, which every job reads)."""
    scan_id = job.scan["id"]
    resources: dict[str, Version] = {}
    by_version: dict[int, Version] = {}
    with _reading(job.path) as connection:
        for version, row in _content_rows(connection, "resources", scan_id):
            if wanted(n, (row["account"], row["region"])):
                resources[row["id"]] = by_version[version] = Version(row, _NO_ROWS, _NO_ROWS, _NO_ROWS, n)
        for table in ("owners", "edges", "drift"):
            rows: dict[int, list[dict[str, Any]]] = {}
            for version, row in _content_rows(connection, table, scan_id):
                if version in by_version:
                    rows.setdefault(version, []).append(row)
            for version, children in rows.items():
                setattr(by_version[version], table, children)
    job.resources = resources


def _read_job(connection: sqlite3.Connection, path: str) -> Job:
    version = connection.execute("select value from meta where key = 'schema_version'").fetchone()[0]
    if int(version) < SCHEMA_VERSION:
        raise MergeError(f"{path}: written by an older driftgraph (schema {version}); open it once with this one "
                         f"(`driftgraph report --db {path}` upgrades it), then merge it")
    tables = {row[0] for row in connection.execute("select name from sqlite_master where type = 'table'")}
    scan = connection.execute("select * from scans order by id desc limit 1").fetchone()
    if scan is None:
        raise MergeError(f"{path}: holds no scan yet")
    scan = dict(scan)
    scan_id = scan["id"]

    per_scan = {}
    for table in COPIED:
        if table not in tables:
            per_scan[table] = []  # an older driftgraph's database, from before the table: it found none
            continue
        columns = tuple(c for c in TABLES[table] if c != "scan_id")
        per_scan[table] = [_columns(dict(r), columns)
                           for r in connection.execute(f"select * from [{table}] where scan_id = ? order by rowid",
                                                       [scan_id])]

    scopes = {(r[0], r[1]) for r in connection.execute("select account, region from scan_scopes where scan_id = ?",
                                                       [scan_id])}
    accounts, regions = _json_list(scan.get("accounts")), _json_list(scan.get("regions"))
    # the scopes the scan looked at: its listings and its accounts' regions; a scope only its rows name (the
    # declarations of a region it did not scan, `outside_scan`) was not looked at
    looked = {(l["account"], l["region"]) for l in per_scan["listings"]}
    looked |= {(a, r) for a in accounts for r in [*regions, GLOBAL, None]}
    return Job(path, scan, scopes & looked, {}, per_scan, listing_gaps(per_scan["listings"]))


_NO_ROWS: tuple = ()  # the owners, edges or drift of a resource that has none (shared: never changed in place)


_REPEATS_AFTER = 10_000  # rows read between judgements of which columns repeat their values
_SHARED_VALUES = 65_536  # distinct values shared per column, at most (a few MB)


def _content_rows(connection: sqlite3.Connection, table: str, scan_id: int) -> Iterator[tuple[int, dict[str, Any]]]:
    """(version, its content columns as a dict) of every row of a versioned table in the scan. SQLite gives each
    value as an object of its own: a text column whose values repeat (a type, a region, a status, a state file,
    an edge's target) shares one object per value, which at a million rows saves a third of the merge's memory.
    A column of unique values (ids, reasons) stops sharing once its first rows show it."""
    columns = CONTENT[table]
    seen: dict[int, dict[str, str]] = {i: {} for i, c in enumerate(columns) if TABLES[table][c] is str}
    sharing = [(i, values.setdefault) for i, values in seen.items()]
    cursor = connection.cursor()
    cursor.row_factory = None  # plain tuples: the dict is made once, here
    names = ", ".join(f"[{c}]" for c in ("version", *columns))
    rows = cursor.execute(f"select {names} from [scan_{table}] where scan_id = ?", [scan_id])
    for n, (version, *values) in enumerate(rows, 1):
        for i, share in sharing:
            value = values[i]
            if value.__class__ is str:  # a text column may hold a number: 1 and 1.0 are one key
                values[i] = share(value, value)
        if n % _REPEATS_AFTER == 0 and sharing:  # a column mostly unique so far stops; a full one only looks up
            sharing = [(i, seen[i].setdefault if len(seen[i]) < _SHARED_VALUES else seen[i].get)
                       for i, _ in sharing if len(seen[i]) <= n // 2]
        yield version, dict(zip(columns, values))


def _columns(row: dict[str, Any], columns: Iterable[str]) -> dict[str, Any]:
    return {c: row.get(c) for c in columns}


def _tuple(row: dict[str, Any], leave_out: frozenset = frozenset()) -> tuple:
    return tuple(sorted((k, v) for k, v in row.items() if k not in leave_out))


def _json_list(text: Any) -> list:
    if isinstance(text, list):
        return text
    try:
        value = json.loads(text) if text else []
    except (TypeError, ValueError):
        return []
    return value if isinstance(value, list) else []


def _owner_key(owner: dict[str, Any]) -> tuple:
    return (owner.get("tool"), owner.get("source"), owner.get("address"))


def _owner_text(owner: dict[str, Any]) -> str:
    """An owner as reconcile names it in a reason."""
    if owner.get("tool") == CLOUDFORMATION:
        where = f"stack {owner['stack_name']}" if owner.get("stack_name") else f"template {owner.get('source')}"
        return f"CloudFormation {where} ({owner.get('address')})"
    return f"Terraform state {owner.get('source')} ({owner.get('address')})"


def _is_template_file(owner: dict[str, Any]) -> bool:
    return owner.get("tool") == CLOUDFORMATION and not owner.get("stack_name")


def _when(text: Any) -> datetime | None:
    """A stored time (ISO 8601, UTC), comparable with any other (one without a zone is taken as UTC)."""
    try:
        when = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


# ------------------------------------------------------------------------------------------------ merging


def merge_jobs(paths: Iterable[str | os.PathLike]) -> Merged:
    """Read each database's latest scan and merge them into one scan (MergeError when they cannot be)."""
    paths = [str(p) for p in paths]
    if not paths:
        raise MergeError("no database to merge")
    for i, path in enumerate(paths):
        for other in paths[:i]:
            if _same_file(path, other):
                raise MergeError(f"{path} is given twice (as {other})")
    jobs = [read_job(path) for path in paths]
    merger = _Merger(jobs)  # which job speaks for which place, from the jobs' scopes: before any resource is read
    for n, job in enumerate(jobs):
        read_resources(job, n, merger.speaks_for)
    return merger.merge()


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def _regional(scope: Scope) -> bool:
    return scope[0] is not None and scope[1] not in (None, GLOBAL)


class _Merger:
    def __init__(self, jobs: list[Job]) -> None:
        self.jobs = jobs
        self.warnings: list[str] = []
        partitions = {job.scan.get("partition") for job in jobs} - {None}
        if len(partitions) > 1:
            raise MergeError("the databases scanned different partitions (" + ", ".join(
                f"{job.path}: {job.scan.get('partition')}" for job in jobs) + "): one scan covers one partition")
        # each region of each account is the one job's that covered it
        self.owner_of: dict[Scope, int] = {}
        overlaps: dict[tuple[int, int], list[Scope]] = defaultdict(list)
        for n, job in enumerate(jobs):
            for scope in sorted(job.covered, key=str):
                if not _regional(scope):
                    continue
                if scope in self.owner_of:
                    overlaps[(self.owner_of[scope], n)].append(scope)
                else:
                    self.owner_of[scope] = n
        if overlaps:
            (first, second), scopes = next(iter(overlaps.items()))
            shown = ", ".join(f"{a}/{r}" for a, r in scopes[:3]) + (f" and {len(scopes) - 3} more" if len(scopes) > 3 else "")
            raise MergeError(f"{jobs[first].path} and {jobs[second].path} both scanned {shown}: a place must come "
                             "from one job (split the jobs by region or account without overlap, or leave one out)")
        self.check_inputs()
        self.accounts = sorted({a for job in jobs for a in job.accounts})
        # the regions one scan of each account would have covered: reconcile names them in its reasons
        self.regions_of: dict[str | None, list[str]] = {
            account: sorted({r for job in jobs if account in job.accounts for r in job.regions})
            for account in self.accounts}
        self.void = self._void_sources()

    def check_inputs(self) -> None:
        """Jobs that read different IaC inputs each reconciled against their own: warn, naming what differs."""
        first = _read_options(self.jobs[0].scan)
        for job in self.jobs[1:]:
            options = _read_options(job.scan)
            differing = [key for key in IAC_OPTIONS if options.get(key) != first.get(key)]
            if differing:
                self.warnings.append(f"{job.path} read other inputs than {self.jobs[0].path} ({', '.join(differing)}): "
                                     "each job's resources were reconciled against its own, and can disagree")

    # -- which jobs speak for a place

    def participants(self, account: str | None) -> list[int]:
        """The jobs that scanned `account` (every job, for an account none scanned)."""
        found = [n for n, job in enumerate(self.jobs) if account in job.accounts]
        return found or list(range(len(self.jobs)))

    def speaks_for(self, n: int, scope: Scope) -> bool:
        """Whether job `n`'s view of `scope` counts: the one job that covered it, else every job of its account."""
        if self.kind(scope) == "own":
            return self.owner_of[scope] == n
        return n in self.participants(scope[0])

    def kind(self, scope: Scope) -> str:
        """own: one job covered it; global: every job of the account saw it; shared: each job of the account has
        its own view of it (no region known, or a region no job covered)."""
        if scope in self.owner_of:
            return "own"
        return "global" if scope[1] == GLOBAL else "shared"

    # -- the cloud assemblies: an environment-agnostic stack is deployed where any job found it

    def _assembly_rows(self) -> list[dict[str, Any]]:
        rows, agnostic = [], defaultdict(list)
        for n, job in enumerate(self.jobs):
            for row in job.tables["assembly_stacks"]:
                scope = (row.get("account"), row.get("region"))
                if row.get("region") is None:
                    agnostic[(row.get("assembly"), row.get("artifact_id"))].append((n, row))
                elif self.owner_of.get(scope, None) == n or (scope not in self.owner_of and n == self.participants(
                        scope[0])[0]):
                    rows.append(row)
        for (assembly, artifact), found in agnostic.items():
            deployed = {row.get("stack_id") for _, row in found if row.get("status") == "deployed"}
            if len(deployed) > 1:
                # found deployed by two jobs, in two regions: one scan would have called it ambiguous
                base = dict(next(row for _, row in found if row.get("status") == "deployed"))
                base.update(status="ambiguous", stack_id=None)
                self.warnings.append(f"cloud assembly {assembly}: stack {artifact} names no region and is deployed "
                                     f"in several jobs' regions ({', '.join(sorted(deployed))}): ambiguous")
                rows.append(base)
                continue
            rows.append(min((row for _, row in found), key=lambda r: ASSEMBLY_STATUS_ORDER.index(r.get("status"))
                            if r.get("status") in ASSEMBLY_STATUS_ORDER else len(ASSEMBLY_STATUS_ORDER)))
        self.assembly_stacks = rows
        return rows

    def _void_sources(self) -> list[set[str]]:
        """Per job, the template files it read as the code of a synthesized stack it found not deployed, though
        another job found it deployed: one scan would not have read them, so what they declared is void."""
        merged = {(row.get("assembly"), row.get("artifact_id")): row.get("status") for row in self._assembly_rows()}
        void: list[set[str]] = []
        for job in self.jobs:
            templates = [row["path"] for row in job.tables["sources"] if row.get("kind") == "cloudformation_template"
                         and row.get("path")]
            found = set()
            for row in job.tables["assembly_stacks"]:
                key = (row.get("assembly"), row.get("artifact_id"))
                if row.get("status") != "not_deployed" or merged.get(key) == "not_deployed":
                    continue
                # the template file CDK writes for a stack: ARTIFACT.template.json in the assembly folder
                name = f"{row.get('artifact_id')}.template.json"
                folder = os.path.normpath(str(row.get("assembly") or ""))
                matches = [p for p in templates if os.path.basename(p) == name
                           and os.path.normpath(os.path.dirname(p)).endswith(folder.lstrip("./") or folder)]
                if matches:
                    found.update(matches)
                else:
                    self.warnings.append(f"{job.path}: stack {row.get('artifact_id')} of cloud assembly "
                                         f"{row.get('assembly')} was found not deployed there, deployed elsewhere, "
                                         "and its template file is not known: what it declared stays")
            void.append(found)
        return void

    def is_void(self, version: Version) -> bool:
        return any(_is_template_file(o) and o.get("source") in self.void[version.job] for o in version.owners)

    # -- resources

    def resources(self) -> dict[str, Version]:
        own: dict[str, list[Version]] = defaultdict(list)
        shared: dict[str, list[Version]] = defaultdict(list)
        for job in self.jobs:  # read_resources read only the versions each job speaks for
            for id_, version in job.resources.items():
                (own if self.kind(version.scope) == "own" else shared)[id_].append(version)
        chosen: dict[str, Version] = {}
        for id_, versions in own.items():
            # one id in two jobs' regions: a bucket (its ARN names no region) a state declares in the wrong region
            # is found live by the job of its region and `missing` by the job of the region the state says; one
            # scan matches the declaration to the live bucket, by its name
            live = [v for v in versions if v.live] or versions
            chosen[id_] = live[0]
            if len(live) > 1:
                self.warnings.append(f"{live[0].row.get('type')} {id_}: found live by several jobs (in "
                                     f"{', '.join(str(v.row.get('region')) for v in live)}); taken from "
                                     f"{self.jobs[live[0].job].path}")
        for id_, versions in shared.items():
            if id_ in chosen:
                continue  # a job that covered its region saw it there
            version = self.combine(versions)
            if version is not None:
                chosen[id_] = version
        self.resolve_shared_owners(chosen)
        return chosen

    def combine(self, versions: list[Version]) -> Version | None:
        """One resource as every job of its account saw it, as one scan would have seen it."""
        scope = versions[0].scope
        if self.kind(scope) == "shared" and len({v.job for v in versions}) < len(self.participants(scope[0])):
            return None  # a job that did not see it here found it in a region it covered (or no declaration)
        usable = [self.with_regions(v) for v in versions if not self.is_void(v)]
        if not usable:
            return None
        every_owner = frozenset().union(*(v.owner_keys for v in usable))
        # a job whose listing of its type failed there kept it as last seen, and one whose listing of another type
        # failed there saw less of what it relates to: the look of the job whose listings answered wins
        good = [v for v in usable if (*v.scope, v.row.get("type")) not in self.jobs[v.job].gaps] or usable
        fewest = min(self.gap_count(v) for v in good)
        good = [v for v in good if self.gap_count(v) == fewest]
        whole = [v for v in good if v.owner_keys == every_owner]
        if whole:
            pick = whole[0]
            others = [v for v in whole[1:] if v.content() != pick.content()]
            if others:
                self.warnings.append(
                    f"{pick.row.get('type')} {pick.row.get('id')}: the jobs saw it differently ("
                    + ", ".join(self.jobs[v.job].path for v in [pick, *others])
                    + f"); taken from {self.jobs[pick.job].path}")
            return pick
        return self.claimed_by_several(good, usable)

    def gap_count(self, version: Version) -> int:
        return sum(1 for gap in self.jobs[version.job].gaps if gap[:2] == version.scope)

    def with_regions(self, version: Version) -> Version:
        """A declaration no job found names the job's regions where it was not found: one scan names them all."""
        row = version.row
        account, reason = row.get("account"), row.get("reason") or ""
        if row.get("region") is not None or row.get("rule") != "region_unknown" or account not in self.regions_of:
            return version
        job = self.jobs[version.job]
        said = f"not found in the scanned regions ({', '.join(sorted(job.regions))})"
        if said not in reason:
            return version
        whole = f"not found in the scanned regions ({', '.join(self.regions_of[account])})"
        return Version({**row, "reason": reason.replace(said, whole)}, version.owners, version.edges, version.drift,
                       version.job)

    def claimed_by_several(self, good: list[Version], usable: list[Version]) -> Version:
        """Owners no one job saw together (a role that stacks of two regions declare): one scan would have seen
        them all. Where each job that saw one found the resource live, each owner's drift is known and the
        resource is what one scan calls it (a conflict; missing, declared by all); otherwise the merge cannot
        tell, keeps the view of the job that saw the most, and says so."""
        base = max(good, key=lambda v: len(v.owner_keys))  # the first of those that saw the most
        claiming = [v for v in usable if v.owner_keys]
        owners = _unique([o for v in [base, *claiming] for o in v.owners], _owner_key)
        claims = " and by ".join(_owner_text(o) for o in owners)
        row = dict(base.row)
        if all(_owned_and_live(v) for v in claiming) and _owned_and_live(base):
            row.update(status=CONFLICT, rule="two_owners", reason=f"claimed by {claims}")
        elif all(v.row.get("rule") == "declared_not_live" for v in claiming) and base in claiming:
            row["reason"] = f"declared by {claims} but not found in {row.get('account')}/{row.get('region')}"
        else:
            self.warnings.append(f"{row.get('type')} {row.get('id')}: declared by {claims}, which no one job both "
                                 f"saw and listed; kept as {self.jobs[base.job].path} saw it ({row.get('status')})")
            return base
        drift = _unique([d for v in [base, *claiming] for d in v.drift], _tuple)
        edges = _unique([e for v in [base, *claiming] for e in v.edges], _tuple)
        _count(row, owners, drift)
        return Version(row, owners, edges, drift, base.job)

    def resolve_shared_owners(self, chosen: dict[str, Version]) -> None:
        """One declaration owns one resource in a scan. A declaration that names no region (or a wrong one for a
        bucket) can be matched by several jobs, each in its own regions: where one job found it live, the others'
        `missing` or `region_unknown` for it are void; where several found it live, one scan could not have told
        which it declares, and calls each `unknown` (region_unknown), as reconcile does."""
        by_owner: dict[tuple, list[str]] = defaultdict(list)
        for id_, version in chosen.items():
            for key in version.owner_keys:
                by_owner[key].append(id_)
        shared = {key: ids for key, ids in by_owner.items() if len(ids) > 1}
        if not shared:
            return
        dropped: set[str] = set()
        for key, ids in sorted(shared.items(), key=str):
            live = [i for i in ids if chosen[i].live]
            for id_ in ids:
                version = chosen[id_]
                # not live, and every claim on it found live elsewhere: it exists only because a job did not see that
                if not version.live and live and all(
                        any(chosen[x].live for x in by_owner[k] if x != id_) for k in version.owner_keys):
                    dropped.add(id_)
            if len(live) > 1:
                for id_ in live:
                    self.unclaim(chosen, id_, key, [chosen[x].row.get("region") for x in live if x != id_])
        for id_ in dropped:
            chosen.pop(id_, None)

    def unclaim(self, chosen: dict[str, Version], id_: str, key: tuple, elsewhere: list[str | None]) -> None:
        version = chosen[id_]
        claim = next(o for o in version.owners if _owner_key(o) == key)
        owners = [o for o in version.owners if _owner_key(o) != key]
        drift = [d for d in version.drift if _owner_key(d) != key]
        row = dict(version.row)
        if owners:
            self.warnings.append(f"{row.get('type')} {id_}: {_owner_text(claim)} names no region and matches live "
                                 f"resources in several jobs' regions; its other owners keep it {row.get('status')}")
        else:
            hint = "; give the template's region (PATH@REGION or --cfn-template-region) to check it there" \
                if _is_template_file(claim) else ""
            row.update(status=UNKNOWN, rule="region_unknown", import_id=None, reason=(
                f"{_owner_text(claim)} declares a resource of this name without a region, and one is also live in "
                f"{', '.join(sorted(str(r) for r in set(elsewhere)))}: which one it declares is unknown{hint}"))
        _count(row, owners, drift)
        chosen[id_] = Version(row, owners, version.edges, drift, version.job)

    # -- per-scan tables

    def table_rows(self, table: str, resources: dict[str, Version]) -> list[dict[str, Any]]:
        if table == "assembly_stacks":
            return self.assembly_stacks
        if table == "listings":
            return self.listing_rows()
        columns = TABLES[table]
        kept: list[dict[str, Any]] = []
        shared: dict[Scope, list[tuple[int, dict]]] = defaultdict(list)
        for n, job in enumerate(self.jobs):
            stack_scope = {s["id"]: (s.get("account"), s.get("region")) for s in job.tables["stacks"]}
            for row in job.tables[table]:
                if "resource_id" in columns and "account" not in columns:
                    chosen = resources.get(row.get("resource_id"))
                    if chosen is not None and chosen.job == n:  # it follows the job its resource came from
                        kept.append(row)
                    continue
                if row.get("stack_id") in stack_scope:
                    scope = stack_scope[row["stack_id"]]
                elif "account" in columns and "region" in columns:
                    scope = (row.get("account"), row.get("region"))
                else:
                    scope = (None, None)
                if self.kind(scope) == "own":
                    if self.owner_of[scope] == n:
                        kept.append(row)
                elif n in self.participants(scope[0]):
                    shared[scope].append((n, row))
        for scope, found in shared.items():
            kept += self.shared_rows(table, found)
        return kept

    def shared_rows(self, table: str, found: list[tuple[int, dict]]) -> list[dict[str, Any]]:
        """Rows every job has (an error in a state file, a state read): once each, as often as one job has it."""
        found = [(n, row) for n, row in found if not self.from_void(table, n, row)]
        if table == "scan_errors":
            found = self.unused_ignore_rules(found)
        counts: dict[tuple, int] = {}
        first: dict[tuple, dict] = {}
        for n in sorted({n for n, _ in found}):
            mine = Counter(_tuple(row, TIMING) for m, row in found if m == n)
            for key, count in mine.items():
                counts[key] = max(counts.get(key, 0), count)
        rows = []
        for _, row in found:
            key = _tuple(row, TIMING)
            first.setdefault(key, row)
        for key, row in first.items():
            rows += [row] * counts[key]
        if table == "sources":
            read: dict[tuple, dict[int, set]] = defaultdict(lambda: defaultdict(set))
            for n, row in found:
                read[(row.get("kind"), row.get("path"))][n].add(_tuple(row))
            for (kind, path), by_job in read.items():
                if len({frozenset(rows) for rows in by_job.values()}) > 1:
                    self.warnings.append(f"the jobs read {kind} {path} differently (a file changed while they ran?): "
                                         "each job's resources were reconciled against what it read")
        return rows

    def from_void(self, table: str, n: int, row: dict[str, Any]) -> bool:
        column = "path" if table == "sources" else "source" if table == "scan_errors" else None
        return column is not None and row.get(column) in self.void[n]

    def unused_ignore_rules(self, found: list[tuple[int, dict]]) -> list[tuple[int, dict]]:
        """An ignore rule unused by one job may match in another's regions: unused only when unused by every job."""
        def is_unused_rule(n: int, row: dict) -> bool:
            options = _read_options(self.jobs[n].scan)
            return bool(options.get("ignore_file")) and row.get("source") == options.get("ignore_file") \
                and row.get("kind") == "warning" and "matched no resource" in (row.get("message") or "")
        readers = {n for n, job in enumerate(self.jobs) if _read_options(job.scan).get("ignore_file")}
        unused: dict[tuple, set[int]] = defaultdict(set)
        for n, row in found:
            if is_unused_rule(n, row):
                unused[_tuple(row)].add(n)
        return [(n, row) for n, row in found if not is_unused_rule(n, row) or unused[_tuple(row)] >= readers]

    def listing_rows(self) -> list[dict[str, Any]]:
        """Listings of the places each job covered; a global type's from the first job whose listing of it
        answered (every job of an account lists them)."""
        rows = []
        global_rows: dict[tuple, dict[int, list[dict]]] = defaultdict(lambda: defaultdict(list))
        for n, job in enumerate(self.jobs):
            for row in job.tables["listings"]:
                scope = (row.get("account"), row.get("region"))
                if self.kind(scope) == "own":
                    if self.owner_of[scope] == n:
                        rows.append(row)
                elif n in self.participants(scope[0]):
                    global_rows[(*scope, row.get("type"))][n].append(row)
        for _key, by_job in global_rows.items():
            answered = [n for n, found in by_job.items()
                        if all(r.get("outcome") in (LISTING_OK, "unsupported") for r in found if not r.get("call"))]
            rows += by_job[(answered or sorted(by_job))[0]]
        return rows

    # -- what spans places, again over the merged rows

    def stack_dependencies(self, tables: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
        """Dependencies between the merged stacks and their upgrade waves, as the scan computes them
        (driftgraph.scan.stack_dependency_rows): a stack of one job may depend on one of another's."""
        deployed = {(r["assembly"], r["artifact_id"]): r["stack_id"] for r in tables["assembly_stacks"]
                    if r.get("status") == "deployed" and r.get("stack_id")}
        manifest = [StackEdge(deployed[(r["assembly"], r["artifact_id"])], deployed[(r["assembly"], needed)], "manifest")
                    for r in tables["assembly_stacks"] if (r.get("assembly"), r.get("artifact_id")) in deployed
                    for needed in _json_list(r.get("dependencies")) if (r["assembly"], needed) in deployed]
        graph = dependency_graph(tables["stacks"], tables["stack_imports"], tables["stack_exports"],
                                 references_from_rows(tables["stack_references"]), manifest)
        waves, _cycles = upgrade_waves(graph)
        wave_of = {stack_id: index for index, wave in enumerate(waves) for stack_id in wave}
        tables["stacks"] = [{**stack, "wave": wave_of.get(stack["id"])} for stack in tables["stacks"]]
        return [{"stack_id": e.stack, "depends_on": e.depends_on, "via": redact_text(e.via)}
                for e in graph_edges(graph) + list(graph.graph["unmet"])]

    def merge(self) -> Merged:
        resources = self.resources()
        versions = sorted(resources.values(), key=lambda v: v.row["id"])
        edges = [(e["source_id"], e["relation"], e["target_id"]) for v in versions for e in v.edges]
        groups = import_groups([SimpleNamespace(key=v.row["id"], status=v.row["status"]) for v in versions], edges)
        for v in versions:  # in place: each chosen row is its version's own, and a copy of each would double them
            v.row["import_group"] = groups.get(v.row["id"])
        rows: dict[str, list[dict[str, Any]]] = {
            "resources": [v.row for v in versions],
            "owners": [o for v in versions for o in v.owners],
            "edges": [e for v in versions for e in v.edges],
            "drift": [d for v in versions for d in v.drift],
        }
        for table in COPIED:
            rows[table] = self.table_rows(table, resources)
        rows["stack_dependencies"] = self.stack_dependencies(rows)
        return Merged(self.scan_row(), self.finish_row(rows), self.scopes(), rows,
                      list(dict.fromkeys(self.warnings)), self.jobs)

    def scopes(self) -> set[Scope]:
        return {scope for job in self.jobs for scope in job.covered}

    def scan_row(self) -> dict[str, Any]:
        callers = sorted({job.scan.get("caller_arn") for job in self.jobs} - {None})
        return {
            "started_at": min((job.scan["started_at"] for job in self.jobs if _when(job.scan.get("started_at"))),
                              key=_when, default=None),
            "status": "running",
            "accounts": self.accounts,
            "regions": sorted({r for job in self.jobs for r in job.regions}),
            "partition": next((job.scan.get("partition") for job in self.jobs if job.scan.get("partition")), None),
            "caller_arn": ", ".join(callers) or None,
            "options": {"merged": [{
                "database": job.path, "scan_id": job.scan["id"], "accounts": job.accounts, "regions": job.regions,
                "status": job.scan.get("status"), "started_at": job.scan.get("started_at"),
                "finished_at": job.scan.get("finished_at"), "driftgraph_version": job.scan.get("driftgraph_version"),
                "options": _options(job.scan)} for job in self.jobs]},
        }

    def finish_row(self, rows: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
        resources = rows["resources"]
        durations = [job.scan["duration_seconds"] for job in self.jobs if job.scan.get("duration_seconds") is not None]
        finished = [job.scan["finished_at"] for job in self.jobs if _when(job.scan.get("finished_at")) is not None]
        return {
            "finished_at": max(finished, key=_when, default=None),
            "status": "partial" if self.partial(rows) else "complete",
            "duration_seconds": max(durations, default=None),  # the jobs run side by side
            "resource_count": len(resources),
            "summary": scan_summary([row["status"] for row in resources],
                                    sum(1 for row in resources if row.get("drift_count"))),
        }

    def partial(self, rows: dict[str, list[dict[str, Any]]]) -> bool:
        """Partial as the scan judges it, over the merged rows: a failed listing (a job's failed listing of a global
        type another job's answered is not one), an error, a source not read; and any job partial for a reason
        its rows do not show."""
        def shown(listings, errors, sources) -> bool:
            return (any(l.get("outcome") != LISTING_OK for l in listings) or any(e.get("kind") == "error" for e in errors)
                    or any(s.get("status") in ("error", "refused") for s in sources))

        unexplained = any(job.scan.get("status") != "complete" and not shown(
            job.tables["listings"], job.tables["scan_errors"], job.tables["sources"]) for job in self.jobs)
        return unexplained or shown(rows["listings"], rows["scan_errors"], rows["sources"])


def _owned_and_live(version: Version) -> bool:
    """Found live and claimed: what two claims make a conflict."""
    return version.live and version.row.get("status") in (MANAGED, CONFLICT)


def _count(row: dict[str, Any], owners: list[dict], drift: list[dict]) -> None:
    row["owner_count"] = len(owners)
    row["owner_tools"] = ",".join(sorted({o.get("tool") for o in owners if o.get("tool")})) or None
    row["drift_count"] = sum(1 for d in drift if not d.get("ignored"))
    if row.get("status") != UNMANAGED:
        row["import_id"] = None


def _unique(rows: list[dict], key) -> list[dict]:
    seen, out = set(), []
    for row in rows:
        k = key(row)
        if k not in seen:
            seen.add(k)
            out.append(row)
    return out


# The scan options that say what IaC a job read: every job of a split scan must read the same.
IAC_OPTIONS = ("tfstates", "cfn_templates", "cfn_template_region", "cdk_outs", "tf_dirs", "live_stacks", "ignore_file",
               "types")


def _read_options(scan: dict[str, Any]) -> dict[str, Any]:
    """The options a scan read its inputs with; a merged scan's are its first job's."""
    options = _options(scan)
    for _ in range(100):  # a merge of merges: each level names its jobs
        jobs = options.get("merged")
        if not (isinstance(jobs, list) and jobs and isinstance(jobs[0], dict)):
            break
        options = jobs[0].get("options") if isinstance(jobs[0].get("options"), dict) else {}
    return options


def _options(scan: dict[str, Any]) -> dict[str, Any]:
    try:
        value = json.loads(scan.get("options") or "{}")
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


# The kinds of stack_references rows, and those that carry a region (importers.stack_links writes them).
_REFERENCE_KINDS = ("ssm_writes", "ssm_reads", "bootstrap", "nested", "cross_region_reads", "cross_region_writes",
                    "unresolved")
_REGIONAL_REFERENCES = ("cross_region_reads", "cross_region_writes")


def references_from_rows(rows: list[dict]) -> dict[str, StackReferences]:
    """Each stack's StackReferences from its `stack_references` rows, as importers.stack_links.references_from_rows
    reads them back (graph/ imports nothing above it; tests/test_merge.py holds the two to the same answer)."""
    fields: dict[str, dict[str, list]] = {}
    for row in rows:
        if row["kind"] not in _REFERENCE_KINDS:
            continue
        item = (row.get("region"), row["name"]) if row["kind"] in _REGIONAL_REFERENCES else row["name"]
        fields.setdefault(row["stack_id"], {}).setdefault(row["kind"], []).append(item)
    return {stack_id: StackReferences(**{kind: tuple(dict.fromkeys(items)) for kind, items in found.items()})
            for stack_id, found in fields.items()}


# ------------------------------------------------------------------------------------------------ writing


def write_merged(out: str | os.PathLike, merged: Merged, driftgraph_version: str | None = None) -> int:
    """Write the merged scan into `out` (created when absent) in one transaction, through the store's writer, so
    its history and versions work as any scan's; returns the new scan's id. MergeError, with nothing written,
    when `out` already holds a newer look at one of its places (merging last week's jobs over this week's)."""
    check_writable(out)  # a missing folder or a read-only file, said before the lock and the journal are made
    writer = ScanWriter(out)
    try:
        _check_not_older(writer.connection, merged, str(out))
        writer.begin({**merged.scan, "driftgraph_version": driftgraph_version})
        writer.write_scopes(merged.scopes, complete=True)  # as run_scan: the places looked at, all of them
        for table in ("resources", "owners", "edges", "drift"):
            writer.write_stored(table, merged.rows[table])
        errors = merged.rows["scan_errors"] + [
            {"source": MERGE_SOURCE, "kind": "warning", "message": redact_text(w)} for w in merged.warnings]
        for table, rows in merged.rows.items():
            if table not in ("resources", "owners", "edges", "drift"):
                writer.write_stored(table, errors if table == "scan_errors" else rows)
        writer.write_catalog(catalog_as_dicts())
        writer.finish(merged.finish)
        scan_id = writer.scan_id
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    return scan_id


def _check_not_older(connection: sqlite3.Connection, merged: Merged, out: str) -> None:
    """Each job's look at its places must be newer than what `out` already holds for them: merging the same jobs
    twice, or last week's after this week's, would put an older picture over a newer one."""
    if "scan_scopes" not in {r[0] for r in connection.execute("select name from sqlite_master where type = 'table'")}:
        return
    for job in merged.inputs:
        finished = _when(job.scan.get("finished_at"))
        if finished is None:
            continue
        for account, region in sorted((s for s in job.covered if _regional(s) or s[1] == GLOBAL),
                                       key=lambda s: (s[1] == GLOBAL, str(s))):  # a region named first
            row = connection.execute(
                "select s.id, s.finished_at from scans s join scan_scopes c on c.scan_id = s.id "
                "where c.account is ? and c.region is ? order by s.id desc limit 1", [account, region]).fetchone()
            if row is None or _when(row[1]) is None:
                continue
            if finished <= _when(row[1]):
                raise MergeError(f"{job.path}: its scan of {account}/{region} (finished {job.scan.get('finished_at')}) "
                                 f"is not newer than scan {row[0]} already in {out} (finished {row[1]}): already "
                                 "merged, or older than what is there")
