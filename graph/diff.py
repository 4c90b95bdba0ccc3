"""What changed between two scans (`driftgraph/diff/1`): a pure comparison of two snapshots, a reader and a renderer.

Only what both scans covered is compared: the same account and region, and for a resource its type listed
without failure in both. Anything else is neither deleted nor resolved, and `compared.not_compared` says so.
The reader is the only part that knows how scans are stored.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlite_utils

from graph.records import GLOBAL
from graph.report import escape_markdown, managed_percent, latest_scan_id, loads, optional_cell, scan_row

SCHEMA = "driftgraph/diff/1"

# The order changes are listed and counted in.
CHANGES = (
    "new_unmanaged", "resolved_unmanaged", "new_missing", "resolved_missing", "new_conflict", "resolved_conflict",
    "new_drift", "resolved_drift", "deleted", "new_failed_listing",
)
TRACKED = ("unmanaged", "missing", "conflict")  # statuses whose arrival and departure are changes
NOT_LIVE = ("missing", "unknown")  # statuses of a declaration nothing live answers to: it cannot be deleted
LISTING_OK = "ok"


@dataclass(frozen=True)
class Snapshot:
    """One scan as the comparison needs it: its row, resources by id, drift by (id, attribute), listings.

    With `statuses` (every resource the scan said, counted by account, region, type and status) `resources` and
    `drift` may hold only the resources the other snapshot differs on within the accounts and regions both
    scanned: those the two say alike change nothing, and are counted for the managed percent from `statuses`
    alone; the comparison reports nothing elsewhere."""

    scan: dict[str, Any]
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    drift: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    listings: tuple[dict[str, Any], ...] = ()
    statuses: dict[tuple[str, str, str, str], int] | None = None

    @property
    def accounts(self) -> list[str]:
        return sorted(self.scan.get("accounts") or [])

    @property
    def regions(self) -> list[str]:
        return sorted(self.scan.get("regions") or [])


RESOURCE_FIELDS = ("id", "type", "account", "region", "name", "status")
_VERSION_COLUMNS = f"version, {', '.join(RESOURCE_FIELDS)}, from_scan, until_scan"


class _Said:
    """Whether scan `scan_id` said a version, as the store's scan_resources view decides it: the version was
    current then in a place the scan looked at, and the scan did not keep it as last seen behind a failed listing
    without reporting it (scan_gap_reports)."""

    def __init__(self, db: sqlite_utils.Database, scan_id: int) -> None:
        self.scan_id = scan_id
        # tuples: a connection may make rows of another kind (Datasette's make sqlite3.Row)
        self.scopes = {tuple(r) for r in db.execute("select account, region from scan_scopes where scan_id = ?",
                                                     [scan_id])}
        self.gaps = {tuple(r) for r in db.execute("select account, region, type from scan_gaps where scan_id = ?",
                                                   [scan_id])}
        # versions it kept behind a failed listing and yet reported (found unchanged where the listing failed)
        self.reported = {r[0] for r in db.execute("select version from scan_gap_reports where scan_id = ?", [scan_id])}

    def __call__(self, v: dict[str, Any]) -> bool:
        return ((v["account"], v["region"]) in self.scopes and v["from_scan"] <= self.scan_id
                and (v["until_scan"] is None or v["until_scan"] > self.scan_id)
                and not (v["from_scan"] < self.scan_id and v["type"] is not None
                         and (v["account"], v["region"], v["type"]) in self.gaps
                         and v["version"] not in self.reported))


def _changed_versions(db: sqlite_utils.Database, early: _Said, late: _Said, compared) -> dict[int, list[dict]]:
    """Scan id -> the versions it said and the other did not, for both scans (early.scan_id < late.scan_id), in
    the places both cover (`compared(account, region)`: elsewhere the comparison reports nothing). Only these can
    differ: one that began after the early scan or ended by the late one, and one that spans both in a place only
    one of them looked at or where one kept it behind a failed listing. The versions neither changed nor touched
    are not read."""
    lo, hi = early.scan_id, late.scan_id
    found: dict[int, dict[str, Any]] = {}

    def read(where: str, params: list) -> None:
        for row in db.query(f"select {_VERSION_COLUMNS} from resources where {where}", params):
            found[row["version"]] = row

    for account, region in {p for p in early.scopes | late.scopes if compared(*p)}:
        read("account is ? and region is ? and from_scan > ? and from_scan <= ?", [account, region, lo, hi])
    read("until_scan > ? and until_scan <= ?", [lo, hi])
    for account, region in {p for p in early.scopes ^ late.scopes if compared(*p)}:
        read("account is ? and region is ? and from_scan <= ? and (until_scan is null or until_scan > ?)",
             [account, region, lo, hi])
    # a type's versions in a place by the (until_scan, type) index: `+` keeps SQLite off the (account, region,
    # from_scan) one, which would read every version of the place
    for account, region, type_ in {g for g in early.gaps | late.gaps if compared(*g[:2])}:
        read("until_scan is null and type = ? and +account is ? and +region is ? and +from_scan <= ?",
             [type_, account, region, lo])
        read("until_scan > ? and type = ? and +account is ? and +region is ? and +from_scan <= ?",
             [hi, type_, account, region, lo])
    said: dict[int, list[dict[str, Any]]] = {lo: [], hi: []}
    for _, v in sorted(found.items()):
        if compared(v["account"], v["region"]) and (by_early := early(v)) != late(v):
            said[lo if by_early else hi].append(v)
    return said


def _drift(db: sqlite_utils.Database, versions: list[int]) -> dict[tuple[str, str], dict[str, Any]]:
    """Drift by (resource, attribute) of the given versions, one row per pair (two owners declaring one attribute
    drift once: the first owner's values, in the order tool, source, address)."""
    # the versions as one JSON array: one statement, each version looked up by the drift (version) index
    rows = list(db.query("select resource_id, attribute, declared, live, tool, source, address, ignored from drift "
                         "where version in (select value from json_each(?))", [json.dumps(versions)]))
    rows.sort(key=lambda d: tuple((d[k] is not None, d[k] or "") for k in ("resource_id", "attribute", "tool",
                                                                            "source", "address")))
    drift: dict[tuple[str, str], dict[str, Any]] = {}
    for d in rows:
        if d.get("ignored"):
            continue  # set aside by an ignore rule (TYPE:ID:attribute): never new drift, never resolved
        drift.setdefault((d["resource_id"], d["attribute"]),
                         {"declared": loads(d.get("declared")), "live": loads(d.get("live"))})
    return drift


def _statuses(db: sqlite_utils.Database, scan_id: int) -> dict[tuple, int] | None:
    """What scan `scan_id` said, counted (the store's scan_counts); None for a scan committed without them."""
    if not db["scan_counts"].exists():
        return None
    rows = [tuple(row) for row in db.execute("select account, region, type, status, resources from scan_counts "
                                             "where scan_id = ?", [scan_id])]
    return {row[:4]: row[4] for row in rows} if rows else None


def _counted(versions: list[dict[str, Any]]) -> Counter:
    return Counter((v["account"], v["region"], v["type"], v["status"]) for v in versions)


def read_snapshots(db: sqlite_utils.Database, before_id: int, after_id: int) -> tuple[Snapshot, Snapshot]:
    """Scans `before_id` and `after_id` as the comparison needs them, from the versions only one of them said (what
    changed between them), with every resource each said counted; ValueError when there is no such scan.

    A scan says one version of a resource at most (its resources are keyed by id, and an id names one account and
    region), so a resource whose version both said is the same in both, and is left out of both."""
    rows = {scan_id: scan_row(db, scan_id) for scan_id in (before_id, after_id)}
    early, late = sorted((_Said(db, row["id"]) for row in rows.values()), key=lambda said: said.scan_id)
    accounts, regions = (set(loads(rows[before_id].get(k)) or []) & set(loads(rows[after_id].get(k)) or [])
                         for k in ("accounts", "regions"))

    def compared(account: str | None, region: str | None) -> bool:  # as _Coverage.covers, before the types
        return account in accounts and (region is None or region == GLOBAL or region in regions)

    said = (_changed_versions(db, early, late, compared) if early.scan_id != late.scan_id
            else {early.scan_id: []})
    statuses = {scan_id: _statuses(db, scan_id) for scan_id in said}
    if statuses[early.scan_id] is None and statuses[late.scan_id] is None:
        statuses[late.scan_id] = {tuple(row)[:4]: row[4] for row in db.execute(
            "select account, region, type, status, count(*) from scan_resources where scan_id = ? "
            "group by 1, 2, 3, 4", [late.scan_id])}
    # what one said is what the other said, less what only the other said, and with what only it said
    for scan_id, other in ((early.scan_id, late.scan_id), (late.scan_id, early.scan_id)):
        if statuses[scan_id] is None:
            counts = Counter(statuses[other]) - _counted(said[other]) + _counted(said[scan_id])
            statuses[scan_id] = dict(counts)

    def snapshot(row: dict[str, Any]) -> Snapshot:
        scan_id = row["id"]
        scan = {"id": scan_id, "finished_at": row.get("finished_at"), "status": row.get("status"),
                "accounts": loads(row.get("accounts")) or [], "regions": loads(row.get("regions")) or []}
        resources = {v["id"]: {k: v[k] for k in RESOURCE_FIELDS} for v in said[scan_id]}
        listings = tuple({k: l.get(k) for k in ("account", "region", "type", "outcome", "call")}
                         for l in db.query("select * from listings where scan_id = ?", [scan_id]))
        return Snapshot(scan, resources, _drift(db, [v["version"] for v in said[scan_id]]), listings,
                        statuses[scan_id])

    return snapshot(rows[before_id]), snapshot(rows[after_id])


def _listing_outcomes(snapshot: Snapshot) -> dict[tuple[str, str, str], bool]:
    """(account, region, type) -> whether every call for it succeeded (a failed detail call too: attributes it
    would have read are unknown, so drift on them can neither appear nor go away)."""
    outcomes: dict[tuple[str, str, str], bool] = {}
    for listing in snapshot.listings:
        key = (listing["account"], listing["region"], listing["type"])
        outcomes[key] = outcomes.get(key, True) and listing["outcome"] == LISTING_OK
    return outcomes


class _Coverage:
    """What both scans covered: accounts and regions both scanned, types listed without failure in both."""

    def __init__(self, before: Snapshot, after: Snapshot) -> None:
        self.accounts = sorted(set(before.accounts) & set(after.accounts))
        self.regions = sorted(set(before.regions) & set(after.regions))
        self.before, self.after = _listing_outcomes(before), _listing_outcomes(after)
        self._covered: dict[tuple, bool] = {}  # by (account, region, type): asked once per resource

    def in_scope(self, account: str | None, region: str | None) -> bool:
        return account in self.accounts and (region in self.regions or region == GLOBAL)

    def _listed_ok(self, outcomes: dict, account: str, region: str | None, type_: str) -> bool:
        # a regional resource of a type listed once per account (S3 buckets) is covered by the global listing
        regions = (region, GLOBAL) if region else (*self.regions, GLOBAL)
        found = [outcomes[k] for r in regions if (k := (account, r, type_)) in outcomes]
        return bool(found) and all(found)

    def covers(self, resource: dict[str, Any]) -> bool:
        key = (resource["account"], resource["region"], resource["type"])
        if key not in self._covered:
            self._covered[key] = self._covers(*key)
        return self._covered[key]

    def _covers(self, account: str | None, region: str | None, type_: str | None) -> bool:
        if not (account in self.accounts and (region is None or self.in_scope(account, region))):
            return False
        return all(self._listed_ok(outcomes, account, region, type_) for outcomes in (self.before, self.after))

    def not_compared(self, before: Snapshot, after: Snapshot) -> list[dict[str, Any]]:
        """Every scope one scan covered and the comparison left out, with why."""
        scopes = []
        for name, mine, theirs in (("before", before, after), ("after", after, before)):
            for account in sorted(set(mine.accounts) - set(theirs.accounts)):
                scopes.append({"account": account, "region": None, "type": None,
                               "reason": f"account scanned only in the {name} scan ({mine.scan['id']})"})
            for region in sorted(set(mine.regions) - set(theirs.regions)):
                scopes.append({"account": None, "region": region, "type": None,
                               "reason": f"region scanned only in the {name} scan ({mine.scan['id']})"})
        for account, region, type_ in sorted(set(self.before) | set(self.after), key=lambda k: tuple(map(str, k))):
            if not self.in_scope(account, region):
                continue
            reasons = [f"{name} scan ({snap.scan['id']}): {'not listed' if key not in outcomes else 'a call failed'}"
                       for name, snap, outcomes in (("before", before, self.before), ("after", after, self.after))
                       if not outcomes.get(key := (account, region, type_), False)]
            if reasons:
                scopes.append({"account": account, "region": region, "type": type_, "reason": "; ".join(reasons)})
        return scopes


def _compared_statuses(snapshot: Snapshot, coverage: _Coverage, compared: dict[str, dict[str, Any]]) -> Counter:
    """The statuses of every resource of `snapshot` the comparison covers: `compared`'s, or from its counts."""
    if snapshot.statuses is None:
        return Counter(r["status"] for r in compared.values())
    found: Counter = Counter()
    for (account, region, type_, status), n in snapshot.statuses.items():
        if coverage.covers({"account": account, "region": region, "type": type_}):
            found[status] += n
    return found


def _change(resource: dict[str, Any], change: str, before: str | None, after: str | None,
            attribute: str | None = None, declared: Any = None, live: Any = None) -> dict[str, Any]:
    return {"id": resource.get("id"), "type": resource.get("type"), "account": resource.get("account"),
            "region": resource.get("region"), "name": resource.get("name"), "change": change, "before": before,
            "after": after, "attribute": attribute, "declared": declared, "live": live}


def _status_changes(resource: dict[str, Any], before: str | None, after: str | None) -> list[dict[str, Any]]:
    if before is not None and after is None:
        if before == "missing":
            return [_change(resource, "resolved_missing", before, after)]
        return [] if before in NOT_LIVE else [_change(resource, "deleted", before, after)]
    changes = []
    for status in TRACKED:
        if after == status and before != status:
            changes.append(_change(resource, f"new_{status}", before, after))
        elif before == status and after != status:
            changes.append(_change(resource, f"resolved_{status}", before, after))
    return changes


def _scan_summary(snapshot: Snapshot) -> dict[str, Any]:
    return {k: snapshot.scan.get(k) for k in ("id", "finished_at")} | {"accounts": snapshot.accounts,
                                                                       "regions": snapshot.regions}


def diff_snapshots(before: Snapshot, after: Snapshot) -> dict[str, Any]:
    """The `driftgraph/diff/1` document: what changed from `before` to `after` within what both covered."""
    coverage = _Coverage(before, after)
    changes: list[dict[str, Any]] = []
    compared_before = {i: r for i, r in before.resources.items() if coverage.covers(r)}
    compared_after = {i: r for i, r in after.resources.items() if coverage.covers(r)}
    for resource_id in sorted(set(compared_before) | set(compared_after)):
        old, new = compared_before.get(resource_id), compared_after.get(resource_id)
        changes += _status_changes(new or old, old and old["status"], new and new["status"])
    drift_keys = {k for k in set(before.drift) | set(after.drift) if k[0] in compared_after}
    for resource_id, attribute in sorted(drift_keys):
        resource = compared_after[resource_id]
        if (resource_id, attribute) not in before.drift:
            if resource_id in compared_before or resource_id not in before.resources:
                found = after.drift[(resource_id, attribute)]
                changes.append(_change(resource, "new_drift", compared_before.get(resource_id, {}).get("status"),
                                       resource["status"], attribute, found["declared"], found["live"]))
        elif (resource_id, attribute) not in after.drift and resource_id in compared_before:
            found = before.drift[(resource_id, attribute)]
            changes.append(_change(resource, "resolved_drift", compared_before[resource_id]["status"],
                                   resource["status"], attribute, found["declared"], found["live"]))
    failed_before = {(l["account"], l["region"], l["type"], l["call"]) for l in before.listings
                     if l["outcome"] != LISTING_OK}
    seen = set()
    for listing in after.listings:
        key = (listing["account"], listing["region"], listing["type"], listing["call"])
        if listing["outcome"] == LISTING_OK or key in failed_before or key in seen:
            continue
        if not coverage.in_scope(listing["account"], listing["region"]):
            continue  # a scope the before scan never looked at cannot have newly failed
        seen.add(key)
        was = next((l["outcome"] for l in before.listings
                    if (l["account"], l["region"], l["type"], l["call"]) == key), None)
        changes.append(_change({"type": listing["type"], "account": listing["account"], "region": listing["region"],
                                "name": listing["call"]}, "new_failed_listing", was, listing["outcome"]))
    order = {change: n for n, change in enumerate(CHANGES)}
    changes.sort(key=lambda c: (order[c["change"]], *(str(c[k] or "") for k in ("type", "account", "region", "id",
                                                                                 "name", "attribute"))))
    counts = Counter(c["change"] for c in changes)
    return {
        "schema": SCHEMA,
        "from_scan": _scan_summary(before),
        "to_scan": _scan_summary(after),
        "compared": {"accounts": coverage.accounts, "regions": coverage.regions,
                     "not_compared": coverage.not_compared(before, after)},
        "summary": {**{change: counts.get(change, 0) for change in CHANGES},
                    "coverage_before": managed_percent(_compared_statuses(before, coverage, compared_before)),
                    "coverage_after": managed_percent(_compared_statuses(after, coverage, compared_after))},
        "changes": changes,
    }


_DURATION = re.compile(r"(\d+)([hdw])")
_UNITS = {"h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """`24h`, `7d`, `2w` as a timedelta; ValueError for anything else."""
    match = _DURATION.fullmatch(text.strip())
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"{text!r} is not a duration: a positive whole number then h, d or w (24h, 7d, 2w)")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def _finished(scan: dict[str, Any]) -> datetime | None:
    try:
        return datetime.fromisoformat(scan["finished_at"])
    except (TypeError, ValueError, KeyError):
        return None


def earlier_scan(db: sqlite_utils.Database, to: dict[str, Any], since: timedelta | None) -> int:
    """The scan to compare `to` with: the latest earlier one of the same accounts and regions, else the latest
    sharing an account and a region with it; with `since`, only among those finished that long before `to`."""
    accounts, regions = set(loads(to.get("accounts")) or []), set(loads(to.get("regions")) or [])
    limit = _finished(to) - since if since is not None and _finished(to) else None
    candidates = []
    query = "select id, finished_at, accounts, regions from scans where id < ? order by id desc"
    for row in db.query(query, [to["id"]]):
        if limit is not None and not ((finished := _finished(row)) and finished <= limit):
            continue
        candidates.append((row["id"], set(loads(row["accounts"]) or []), set(loads(row["regions"]) or [])))
    same = [i for i, a, r in candidates if a == accounts and r == regions]
    overlapping = [i for i, a, r in candidates if a & accounts and r & regions]
    if same or overlapping:
        return (same or overlapping)[0]
    when = f" finished at least {since} before it" if since is not None else ""
    raise ValueError(f"no scan earlier than scan {to['id']}{when} covers its accounts and regions "
                     f"({', '.join(sorted(accounts))}; {', '.join(sorted(regions))}): give --from SCAN")


def build_diff(db: sqlite_utils.Database, from_scan: int | None = None, to_scan: int | None = None,
               since: timedelta | None = None) -> dict[str, Any]:
    """The diff between two scans of the database; `to` defaults to the latest, `from` to the scan before it of
    the same accounts and regions (with `since`: the latest finished at least that long before `to`)."""
    if from_scan is not None and since is not None:
        raise ValueError("give --from or --since, not both")
    to = scan_row(db, to_scan or latest_scan_id(db))
    from_id = from_scan if from_scan is not None else earlier_scan(db, to, since)
    if from_id == to["id"]:
        raise ValueError(f"--from and --to are both scan {from_id}: nothing to compare")
    return diff_snapshots(*read_snapshots(db, from_id, to["id"]))


TITLES = {
    "new_unmanaged": "New unmanaged", "resolved_unmanaged": "No longer unmanaged", "new_missing": "Newly missing",
    "resolved_missing": "No longer missing", "new_conflict": "New conflicts", "resolved_conflict": "Conflicts resolved",
    "new_drift": "New drift", "resolved_drift": "Drift gone", "deleted": "Deleted",
    "new_failed_listing": "Listings that newly failed",
}


def render_diff_markdown(diff: dict[str, Any]) -> str:
    before, after, summary = diff["from_scan"], diff["to_scan"], diff["summary"]
    compared = diff["compared"]
    lines = [
        f"# driftgraph diff: scan {before['id']} to scan {after['id']}",
        "",
        escape_markdown(f"From {before['finished_at']} to {after['finished_at']}; compared accounts "
                        f"{', '.join(compared['accounts']) or 'none'}, "
                        f"regions {', '.join(compared['regions']) or 'none'}."),
        "",
        f"Managed: {summary['coverage_before']}% then, {summary['coverage_after']}% now (of the compared scope).",
        "",
        "| change | count |",
        "|---|---:|",
    ]
    lines += [f"| {change} | {summary[change]} |" for change in CHANGES]
    for change in CHANGES:
        rows = [c for c in diff["changes"] if c["change"] == change]
        if not rows:
            continue
        lines += ["", f"## {TITLES[change]} ({len(rows)})", ""]
        if change == "new_failed_listing":
            lines += ["| type | call | where | before | after |", "|---|---|---|---|---|"]
            lines += [f"| {optional_cell(c['type'])} | {optional_cell(c['name'] or 'list')} "
                      f"| {optional_cell(c['account'])}/{optional_cell(c['region'])} | {optional_cell(c['before'])} | {optional_cell(c['after'])} |"
                      for c in rows]
        elif change.endswith("_drift"):
            lines += ["| type | name | where | attribute | declared | live |", "|---|---|---|---|---|---|"]
            lines += [f"| {optional_cell(c['type'])} | {optional_cell(c['name'])} | {optional_cell(c['account'])}/{optional_cell(c['region'])} "
                      f"| {optional_cell(c['attribute'])} | {optional_cell(c['declared'])} | {optional_cell(c['live'])} |" for c in rows]
        else:
            lines += ["| type | name | where | before | after |", "|---|---|---|---|---|"]
            lines += [f"| {optional_cell(c['type'])} | {optional_cell(c['name'])} | {optional_cell(c['account'])}/{optional_cell(c['region'])} "
                      f"| {optional_cell(c['before'])} | {optional_cell(c['after'])} |" for c in rows]
    if compared["not_compared"]:
        lines += ["", f"## Not compared ({len(compared['not_compared'])}): changes there are unknown", "",
                  "| account | region | type | why |", "|---|---|---|---|"]
        lines += [f"| {optional_cell(s['account'])} | {optional_cell(s['region'])} | {optional_cell(s['type'])} | {optional_cell(s['reason'])} |"
                  for s in compared["not_compared"]]
    return "\n".join(lines) + "\n"
