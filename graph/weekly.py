"""The weekly report (`driftgraph/weekly/1`): coverage and its trend, what changed, what is oldest, who owns what.

Pure over the database (no AWS): one scan's rows, the scans before it, and the tables other parts of a scan
may have written (`maintenance`, `creators`), read only where they exist. The renderers are in
graph/weekly_render.py.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from typing import Any, Collection, Iterable, Sequence

import orjson
import sqlite_utils

from graph.diff import diff_snapshots, earlier_scan, read_snapshots
from graph.records import GLOBAL, STATUSES
from graph.report import COUNTED, loads, managed_percent, scan_row

SCHEMA = "driftgraph/weekly/1"

# The trend: at least the last TREND_MIN_POINTS scans of the same accounts and regions, and always back to
# TREND_BEFORE_FROM scans before the from-scan (so the window shows with what led to it); at most TREND_MAX_POINTS.
TREND_MIN_POINTS = 12
TREND_BEFORE_FROM = 4
TREND_MAX_POINTS = 400
OLDEST_LISTED = 20  # the oldest unmanaged resources listed

UNTAGGED = "untagged"  # the team of a resource whose tags were read and carry no team tag
TAGS_NOT_READ = "(tags not read)"  # the team of a resource whose tags are unknown (its type has none we read)
NO_VALUE = "(none)"  # a breakdown key for a missing account, region or service (a template given no region)

# Statuses whose resources must carry the required tags: live and code's business. AWS-made (`default`) and
# dependent (`child`) resources often cannot be tagged or inherit their parent's; `ignored` ones were set aside
# on purpose; `missing` and `unknown` have no live tags to read.
TAGGED_STATUSES = ("managed", "unmanaged", "conflict")
BASELINE_KINDS = ("unmanaged", "missing", "conflict")  # statuses a baseline can accept; and `drift`, per attribute


def build_weekly(db: sqlite_utils.Database, since: timedelta | None, team_tag: str = "team",
                 required_tags: Sequence[str] = (), scan_id: int | None = None, now: datetime | None = None,
                 baseline: Collection[tuple] = ()) -> dict[str, Any]:
    """The weekly document of scan `scan_id` (the latest by default), compared with the latest scan of its
    accounts and regions finished at least `since` before it (no comparison when `since` is None).

    `now` is when the report is made (default: the clock), also the time ages run to (default: the scan's finish).
    `baseline` holds the findings a baseline file accepts, as (kind, resource id) or (kind, resource id,
    attribute) tuples: they are counted as baselined, never left out."""
    scan = scan_row(db, scan_id)
    notes: list[str] = []
    scans = {row["id"]: row for row in db.query("select id, started_at, finished_at, status, accounts, regions, "
                                                  "summary from scans order by id")}
    from_id = _from_scan(db, scan, since, notes)
    resources = _scan_resources(db, scan["id"])
    drift = _drifted_attributes(db, scan["id"])
    by_status = Counter(r["status"] for r in resources)
    before = _scan_figures(db, scans[from_id]) if from_id is not None else None
    accepted = {(kind, id_, attribute[0] if attribute else None) for kind, id_, *attribute in baseline}
    findings = {(r["status"], r["id"], None) for r in resources if r["status"] in BASELINE_KINDS}
    findings |= {("drift", id_, attribute) for id_, attributes in drift.items() for attribute in attributes}
    headline = {
        "managed_percent": managed_percent(by_status),
        "managed_percent_before": before["managed_percent"] if before else None,
        "resources": len(resources),
        **{status: by_status.get(status, 0) for status in ("managed", "unmanaged", "missing", "conflict")},
        "drifted": len(drift),
        "unknown": by_status.get("unknown", 0),
        "ignored": by_status.get("ignored", 0),
        "baselined": len(findings & accepted),
        "by_status": {status: by_status.get(status, 0) for status in STATUSES},
    }
    reference = _time(now) or _time(scan.get("finished_at"))
    generated = _time(now) or datetime.now(timezone.utc)
    return {
        "schema": SCHEMA,
        "generated_at": generated.isoformat(timespec="seconds"),
        "since": duration_text(since),
        "scan": _scan_fields(scans[scan["id"]], with_status=True),
        "from_scan": _scan_fields(scans[from_id], with_status=True) if from_id is not None else None,
        "headline": headline,
        "trend": _trend(db, scans, scan["id"], from_id, notes),
        "diff": diff_snapshots(*read_snapshots(db, from_id, scan["id"]))
                 if from_id is not None else None,
        "oldest_unmanaged": _oldest_unmanaged(db, resources, scans, reference, notes),
        "team_tag": team_tag,
        "breakdowns": _breakdowns(resources, set(drift), team_tag),
        "required_tags": _required_tags(resources, required_tags),
        "not_listed": _not_listed(db, scan["id"]),
        "maintenance": _maintenance(db, scan["id"], notes),
        "notes": notes,
    }


def duration_text(since: timedelta | None) -> str | None:
    """A window as `--since` takes it: `7d`, `36h` (whole days as days)."""
    if since is None:
        return None
    seconds = int(since.total_seconds())
    if seconds % 86400 == 0:
        return f"{seconds // 86400}d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    return f"{seconds}s"


def _time(value: Any) -> datetime | None:
    """An ISO time (naive ones are UTC, as scans write them) or a datetime; None for anything else."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _places(scan: dict[str, Any]) -> tuple[frozenset, frozenset]:
    return frozenset(loads(scan.get("accounts")) or []), frozenset(loads(scan.get("regions")) or [])


def _scan_fields(scan: dict[str, Any], with_status: bool = False) -> dict[str, Any]:
    accounts, regions = _places(scan)
    fields = {"id": scan["id"], "started_at": scan.get("started_at"), "finished_at": scan.get("finished_at")}
    if with_status:
        fields["status"] = scan.get("status")
    return {**fields, "accounts": sorted(accounts), "regions": sorted(regions)}


def _has_rows(db: sqlite_utils.Database, scan_id: int) -> bool:
    """Whether the scan's own rows are still there (`driftgraph prune` removes them, keeping the scans row)."""
    return db.execute("select 1 from scan_scopes where scan_id = ? limit 1", [scan_id]).fetchone() is not None


def _from_scan(db: sqlite_utils.Database, scan: dict[str, Any], since: timedelta | None,
               notes: list[str]) -> int | None:
    """The scan to compare with (diff's choice: the latest of the same accounts and regions finished at least
    `since` before), or None with a note saying why there is none."""
    if since is None:
        return None
    try:
        from_id = earlier_scan(db, scan, since)
    except ValueError:
        notes.append(f"No scan of these accounts and regions finished at least {duration_text(since)} before scan "
                     f"{scan['id']}: nothing to compare with, so nothing is reported new or fixed.")
        return None
    if not _has_rows(db, from_id):
        notes.append(f"Scan {from_id}, the one to compare with, was pruned: nothing is reported new or fixed.")
        return None
    return from_id


def _tags(text: str | None) -> dict[str, Any] | None:
    """A tags column: a dict, or None when the tags were not read (orjson: a third of the weekly's time at
    100,000 resources went to json.loads here)."""
    try:
        tags = orjson.loads(text) if text is not None else None
    except orjson.JSONDecodeError:
        return None
    return tags if isinstance(tags, dict) else None


def _scan_resources(db: sqlite_utils.Database, scan_id: int) -> list[dict[str, Any]]:
    return [
        {**row, "tags": _tags(row["tags"])}
        for row in db.query("select id, type, service, account, region, name, status, tags, first_seen, status_since "
                            "from scan_resources where scan_id = ?", [scan_id])
    ]


def _drifted_attributes(db: sqlite_utils.Database, scan_id: int) -> dict[str, set[str]]:
    drift: dict[str, set[str]] = defaultdict(set)
    for resource_id, attribute in db.execute("select resource_id, attribute from scan_drift where scan_id = ?",
                                             [scan_id]).fetchall():
        drift[resource_id].add(attribute)
    return drift


def _scan_figures(db: sqlite_utils.Database, scan: dict[str, Any]) -> dict[str, Any] | None:
    """Statuses, drifted resources and coverage of a scan: what scans.summary stored, or for a scan written
    before it was, counted from its rows; None when neither is there (a pruned scan without a summary)."""
    summary = loads(scan.get("summary"))
    if isinstance(summary, dict) and isinstance(summary.get("by_status"), dict):
        return {"by_status": summary["by_status"], "drifted": summary.get("drifted_resources"),
                "managed_percent": summary.get("managed_percent"), "resources": summary.get("resources")}
    if not _has_rows(db, scan["id"]):
        return None
    by_status = dict(db.execute("select status, count(*) from scan_resources where scan_id = ? group by status",
                                [scan["id"]]).fetchall())
    drifted = db.execute("select count(distinct resource_id) from scan_drift where scan_id = ?",
                         [scan["id"]]).fetchone()[0]
    return {"by_status": by_status, "drifted": drifted, "managed_percent": managed_percent(by_status),
            "resources": sum(by_status.values())}


def _trend(db: sqlite_utils.Database, scans: dict[int, dict], scan_id: int, from_id: int | None,
           notes: list[str]) -> list[dict[str, Any]]:
    """The scans of exactly the report scan's accounts and regions, up to it (see TREND_*), oldest first."""
    places = _places(scans[scan_id])
    ids = [i for i, row in scans.items() if i <= scan_id and _places(row) == places]
    start = max(0, len(ids) - TREND_MIN_POINTS)
    if from_id is not None:
        first_in_window = next(n for n, i in enumerate(ids) if i >= from_id)
        start = min(start, max(0, first_in_window - TREND_BEFORE_FROM))
    start = max(start, len(ids) - TREND_MAX_POINTS)
    points, unreadable = [], []
    for i in ids[start:]:
        figures = _scan_figures(db, scans[i])
        if figures is None:
            unreadable.append(str(i))
            continue
        by_status = figures["by_status"]
        points.append({"scan": i, "finished_at": scans[i].get("finished_at"), "status": scans[i].get("status"),
                       "managed_percent": figures["managed_percent"], "resources": figures["resources"],
                       "unmanaged": by_status.get("unmanaged", 0), "missing": by_status.get("missing", 0),
                       "drifted": figures["drifted"]})
    if unreadable:
        notes.append(f"Scans {', '.join(unreadable)} are left out of the trend: pruned before scans kept a summary.")
    return points


def _first_scans(scans: dict[int, dict]) -> tuple[dict[tuple, int], dict[str, int]]:
    """The first scan of each (account, region), and of each account: a resource seen in it may be older."""
    by_place: dict[tuple, int] = {}
    by_account: dict[str, int] = {}
    for i, row in scans.items():  # in id order: the first kept is the earliest
        accounts, regions = _places(row)
        for account in accounts:
            by_account.setdefault(account, i)
            for region in (*regions, GLOBAL):
                by_place.setdefault((account, region), i)
    return by_place, by_account


def _oldest_unmanaged(db: sqlite_utils.Database, resources: list[dict[str, Any]], scans: dict[int, dict],
                      reference: datetime | None, notes: list[str]) -> list[dict[str, Any]]:
    """The OLDEST_LISTED unmanaged resources first seen earliest, with their age and, where known, who made them."""
    def started(scan_id: Any) -> str | None:
        return scans[scan_id].get("started_at") if scan_id in scans else None

    earliest = datetime.min.replace(tzinfo=timezone.utc)  # a scan without a start time sorts first: the oldest
    unmanaged = sorted((r for r in resources if r["status"] == "unmanaged"),
                       key=lambda r: (_time(started(r["first_seen"])) or earliest, r["first_seen"] or 0, r["id"]))
    unmanaged = unmanaged[:OLDEST_LISTED]
    creators = _creators(db, [r["id"] for r in unmanaged], notes)
    first_by_place, first_by_account = _first_scans(scans)
    listed = []
    for r in unmanaged:
        seen = _time(started(r["first_seen"]))
        first_there = first_by_place.get((r["account"], r["region"]), first_by_account.get(r["account"]))
        listed.append({
            "id": r["id"], "type": r["type"], "name": r["name"], "account": r["account"], "region": r["region"],
            "first_seen": started(r["first_seen"]),
            "age_days": (reference - seen).days if seen and reference else None,
            # seen by the first scan of its place: it was there before driftgraph looked, so older than age_days
            "age_at_least": first_there is not None and r["first_seen"] is not None and r["first_seen"] <= first_there,
            "unmanaged_since": started(r["status_since"]),
            "creator": creators.get(r["id"]),
        })
    return listed


def _table_exists(db: sqlite_utils.Database, name: str) -> bool:
    return db.execute("select 1 from sqlite_master where type = 'table' and name = ?", [name]).fetchone() is not None


_IN_CHUNK = 500  # ids per `in (...)` lookup: well under SQLite's variable limit


def _creators(db: sqlite_utils.Database, ids: list[str], notes: list[str]) -> dict[str, dict[str, Any]]:
    """resource id -> the earliest event that made it, from the `creators` table where a scan found one."""
    if not _table_exists(db, "creators"):
        notes.append("Creators not read: this database has no creators table (its scans did not look up who made "
                     "resources), so no creator is shown.")
        return {}
    asked = [row[0] for row in db.execute("select json_extract(options, '$.cloudtrail') from scans "
                                          "where pruned_at is null order by id desc limit 1")]
    if not asked or asked[0] in (None, "off"):
        notes.append("Creators not looked up by the latest scan (scan --cloudtrail off, or a scan older than the "
                     "lookup): a creator is shown only where an earlier scan found one.")
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), _IN_CHUNK):
        chunk = ids[start:start + _IN_CHUNK]
        rows = db.query(f"select * from creators where resource_id in ({','.join('?' * len(chunk))}) "
                        "and coalesce(status, 'found') = 'found' "
                        "order by resource_id, event_time is null, event_time, event_id", chunk)
        for row in rows:
            found.setdefault(row["resource_id"], {k: row.get(k) for k in ("principal", "event_name", "event_time",
                                                                          "source")})
    return found


def _key(value: Any) -> str:
    return NO_VALUE if value is None or value == "" else str(value)


def tag_value(tags: dict[str, Any] | None, key: str) -> str | None:
    """The value of tag `key`, its case ignored (`team`, `Team` and `TEAM` are one tag, the exact spelling first,
    else the first in sorted order); None when there is none or only an empty one."""
    if not tags:
        return None
    value = tags.get(key)
    if value is None or str(value).strip() == "":
        wanted = key.casefold()
        value = next((tags[k] for k in sorted(tags, key=str) if str(k).casefold() == wanted
                      and tags[k] is not None and str(tags[k]).strip()), None)
    return None if value is None or str(value).strip() == "" else str(value)


def team_of(resource: dict[str, Any], team_tag: str) -> str:
    tags = resource["tags"]
    if not isinstance(tags, dict):
        return TAGS_NOT_READ
    return tag_value(tags, team_tag) or UNTAGGED


def _breakdowns(resources: list[dict[str, Any]], drifted: set[str], team_tag: str) -> dict[str, list[dict]]:
    """Per account, region, service and team: resources, the counted statuses, drifted, coverage; the most
    unmanaged first (where to act first), then the largest."""
    keys = {"account": lambda r: _key(r["account"]), "region": lambda r: _key(r["region"]),
            "service": lambda r: _key(r["service"]), "team": lambda r: team_of(r, team_tag)}
    out = {}
    for dimension, key_of in keys.items():
        statuses: dict[str, Counter] = defaultdict(Counter)
        drift_counts: Counter = Counter()
        for r in resources:
            key = key_of(r)
            statuses[key][r["status"]] += 1
            drift_counts[key] += r["id"] in drifted
        rows = [{"key": key, "resources": sum(counts.values()), **{s: counts.get(s, 0) for s in COUNTED},
                 "drifted": drift_counts[key], "managed_percent": managed_percent(counts)}
                for key, counts in statuses.items()]
        out[dimension] = sorted(rows, key=lambda row: (-row["unmanaged"], -row["resources"], row["key"]))
    return out


def _required_tags(resources: list[dict[str, Any]], required: Iterable[str]) -> dict[str, Any]:
    """Live resources of TAGGED_STATUSES whose tags were read and lack a required tag (its exact key, with a
    value: monitoring filters on the exact key, so `Team` does not stand in for `team`; it is named in
    `other_case`). A resource whose tags were not read is counted in `tags_not_read`, never called in violation."""
    tags = list(dict.fromkeys(t.strip() for t in required if t and t.strip()))
    checked = [r for r in resources if r["status"] in TAGGED_STATUSES]
    readable = [r for r in checked if isinstance(r["tags"], dict)]
    violations, by_tag = [], Counter()
    for r in readable if tags else ():
        present = {str(k): v for k, v in r["tags"].items() if v is not None and str(v).strip()}
        missing = [t for t in tags if t not in present]
        if not missing:
            continue
        by_tag.update(missing)
        wanted = {t.casefold() for t in missing}
        other_case = sorted(k for k in present if k.casefold() in wanted and k not in missing)
        violations.append({"id": r["id"], "type": r["type"], "name": r["name"], "account": r["account"],
                           "region": r["region"], "status": r["status"], "missing": missing,
                           "other_case": other_case})
    violations.sort(key=lambda v: tuple(str(v[k] or "") for k in ("type", "account", "region", "id")))
    return {"tags": tags, "violations": violations, "count": len(violations),
            "by_tag": {t: by_tag.get(t, 0) for t in tags}, "checked": len(readable),
            "tags_not_read": len(checked) - len(readable)}


def _not_listed(db: sqlite_utils.Database, scan_id: int) -> list[dict[str, Any]]:
    """The scan's failed calls: what they would have listed (or told about what was listed) is unknown."""
    rows = db.query("select * from listings where scan_id = ? and outcome != 'ok'", [scan_id])
    failed = [{k: row.get(k) for k in ("account", "region", "type", "outcome", "error_code", "message", "call",
                                       "count")} for row in rows]
    return sorted(failed, key=lambda f: tuple(str(f[k] or "") for k in ("type", "account", "region", "call")))


MAINTENANCE_FIELDS = ("account", "region", "resource", "resource_id", "type", "action", "description",
                      "apply_after", "forced_apply_date", "opt_in_status", "severity", "source")


def _maintenance(db: sqlite_utils.Database, scan_id: int, notes: list[str]) -> list[dict[str, Any]]:
    """Pending RDS and ElastiCache maintenance the scan read, soonest first (where the API said when)."""
    asked = db.execute("select json_extract(options, '$.maintenance') from scans where id = ?", [scan_id]).fetchone()
    if not _table_exists(db, "maintenance") or not asked or not asked[0]:
        notes.append(f"Pending maintenance not read: scan {scan_id} did not ask RDS and ElastiCache (scan "
                     "--no-maintenance, or a scan older than the question), so none is shown.")
        return []
    rows = [{k: row.get(k) for k in MAINTENANCE_FIELDS}
            for row in db.query("select * from maintenance where scan_id = ?", [scan_id])]

    def when(row: dict[str, Any]) -> tuple:
        dates = [d for d in (row["forced_apply_date"], row["apply_after"]) if d]
        return (not dates, min(dates) if dates else "", *(str(row[k] or "") for k in ("account", "region",
                                                                                    "resource", "action")))
    return sorted(rows, key=when)
