"""The report contract (`driftgraph/report/1`) built from the database, and its Markdown rendering.

The JSON shape is what scripts and our own tests rely on; the README documents it. Fields are added,
never renamed or removed, without a new schema name.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any, Callable, Iterable

import sqlite_utils

from graph.records import STATUSES

SCHEMA = "driftgraph/report/1"

# Statuses a coverage figure counts: AWS-made, dependent and ignored resources are nobody's code to write.
COUNTED = ("managed", "unmanaged", "missing", "conflict")


def managed_percent(by_status: dict[str, int]) -> float | None:
    """Managed and conflict over what code could own (COUNTED); None when there is nothing to count."""
    counted = sum(by_status.get(s, 0) for s in COUNTED)
    return round(100.0 * (by_status.get("managed", 0) + by_status.get("conflict", 0)) / counted, 1) if counted else None


def scan_summary(statuses: Iterable[str], drifted_resources: int) -> dict[str, Any]:
    """What a scan found, in numbers: stored with the scan (scans.summary) so trends never re-read resources."""
    by_status = Counter(statuses)
    return {"resources": sum(by_status.values()), "by_status": {s: by_status.get(s, 0) for s in STATUSES},
            "drifted_resources": drifted_resources, "managed_percent": managed_percent(by_status)}


def loads(value: Any) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return value


def latest_scan_id(db: sqlite_utils.Database) -> int | None:
    row = db.execute("select max(id) from scans").fetchone()
    return row[0] if row else None


def scan_row(db: sqlite_utils.Database, scan_id: int | None = None) -> dict[str, Any]:
    """The scans row of `scan_id` (the latest by default); ValueError naming what is not there."""
    scan_id = scan_id or latest_scan_id(db)
    if scan_id is None:
        raise ValueError("the database holds no scan yet")
    scans = list(db.query("select * from scans where id = ?", [scan_id]))
    if not scans:
        raise ValueError(f"no scan with id {scan_id}")
    return scans[0]


class Reading:
    """Where a report reads its rows: one scan's own (`scan_id`: what that scan said) or the current picture
    (None: for every account and region, what its latest scan said, so a scan of one account never hides the
    others). Each table gives a FROM clause with a condition, to which a query adds its own."""

    # tables whose rows hang off a resource version: one scan's through the scan_* views
    VERSIONED = ("resources", "owners", "edges", "drift")
    # per-scan tables with a current_* view (the rows of the latest scan of their account and region)
    PER_SCAN = ("listings", "scan_errors", "stacks")

    def __init__(self, scan_id: int | None) -> None:
        self.scan_id = scan_id

    def table(self, name: str, alias: str = "t") -> tuple[str, list[Any]]:
        if self.scan_id is not None:
            view = f"scan_{name}" if name in self.VERSIONED else name
            return f"{view} {alias} where {alias}.scan_id = ?", [self.scan_id]
        if name in self.VERSIONED or name in self.PER_SCAN:
            return f"current_{name} {alias} where 1", []
        # inputs (sources) carry no account: those of the scans the picture is made of
        return (f"{name} {alias} where {alias}.scan_id in (select scan_id from current_scopes "
                "union select max(id) from scans)", [])

    def parts(self, db: sqlite_utils.Database) -> list[dict[str, Any]]:
        """Every account and region the report covers, with the scan it comes from and when that scan finished."""
        if self.scan_id is not None:
            sql = ("select s.account, s.region, s.scan_id, c.finished_at, c.status from scan_scopes s "
                   "join scans c on c.id = s.scan_id where s.scan_id = ?")
            rows = db.execute(sql, [self.scan_id]).fetchall()
        else:
            rows = db.execute("select account, region, scan_id, finished_at, status from current_scopes").fetchall()
        keys = ("account", "region", "scan_id", "finished_at", "status")
        return sorted((dict(zip(keys, row)) for row in rows if row[0] is not None),
                      key=lambda p: (p["account"], p["region"] or ""))


def picture(parts: list[dict[str, Any]], latest: dict[str, Any], current: bool) -> dict[str, Any]:
    """How old each part of the picture is, and whether the whole is complete: partial when any scan it comes
    from was, so a picture pieced from several scans never reads as complete because its newest part is."""
    scans = sorted({p["scan_id"] for p in parts} or {latest["id"]})
    statuses = {p["status"] for p in parts} or {latest.get("status")}
    # the part scanned longest ago, when the picture is pieced from several scans
    oldest = min(parts, key=lambda p: p["finished_at"] or "", default=None) if len(scans) > 1 else None
    return {"current": current, "scans": scans, "status": "complete" if statuses == {"complete"} else "partial",
            "oldest_finished_at": oldest["finished_at"] if oldest else latest.get("finished_at"),
            "oldest_part": f"{oldest['account']}/{oldest['region']}" if oldest else None, "parts": parts}


def build_report(db: sqlite_utils.Database, scan_id: int | None = None) -> dict[str, Any]:
    """The whole report as one document (for Markdown, baselines and checks); `write_report_json` streams it."""
    report = stream_report(db, scan_id)
    report["resources"] = list(report["resources"])
    return report


# A resource's owners, drift and parent, gathered by SQLite next to the resource (the indexes on `version` find
# them), so that the report streams in one ordered pass instead of holding every owner and drift row by id.
# A column an older database lacks reads as null.
_RESOURCES_SQL = """
select r.*,
  (select target_id from edges e where e.version = r.version and e.relation = 'belongs_to'
   order by e.rowid desc limit 1) as [:parent],
  (select json_group_array(json_array({owners})) from
    (select * from owners o where o.version = r.version order by tool, source, address)) as [:owners],
  (select json_group_array(json_array({drift})) from
    (select * from drift d where d.version = r.version order by attribute, rowid)) as [:drift]
from {resources} order by r.type, r.account, r.region, r.id
"""
_OWNER_KEYS = ("tool", "source", "address", "framework", "construct_path")
_DRIFT_KEYS = ("attribute", "declared", "live", "tool", "source", "address")
_RESOURCE_KEYS = ("id", "arn", "type", "account", "region", "name", "status", "reason", "rule")


def _ignored_column(db: sqlite_utils.Database) -> str:
    """The ignore rule that set a drift row aside, or null: a database written before ignore rules had
    attributes has no drift.ignored column."""
    return "nullif(ignored, '')" if "ignored" in db["drift"].columns_dict else "null"


def _report_resources(db: sqlite_utils.Database, reading: Reading) -> Iterable[dict[str, Any]]:
    def present(table: str, names: Iterable[str]) -> str:
        have = db[table].columns_dict
        return ", ".join(name if name in have else "null" for name in names)

    ignored = _ignored_column(db)
    resources, params = reading.table("resources", alias="r")
    sql = _RESOURCES_SQL.format(owners=present("owners", _OWNER_KEYS),
                                drift=f"{present('drift', _DRIFT_KEYS)}, {ignored}", resources=resources)
    cursor = db.execute(sql, params)
    names = [d[0] for d in cursor.description]
    for values in cursor:
        row = dict(zip(names, values))
        counted, set_aside = [], []
        for *fields, why in json.loads(row[":drift"]):
            entry = dict(zip(_DRIFT_KEYS, fields))
            entry["declared"], entry["live"] = loads(entry["declared"]), loads(entry["live"])
            if why:
                set_aside.append({**entry, "ignored": why})
            else:
                counted.append(entry)
        yield {**{k: row.get(k) for k in _RESOURCE_KEYS}, "parent": row[":parent"], "tags": loads(row.get("tags")),
               "owners": [dict(zip(_OWNER_KEYS, owner)) for owner in json.loads(row[":owners"])],
               "drift": counted, "ignored_drift": set_aside}


def stream_report(db: sqlite_utils.Database, scan_id: int | None = None) -> dict[str, Any]:
    """The report of scan `scan_id`, or without one of the current picture (every account and region as its
    latest scan saw it; `scan` is then the latest scan and `picture` says how old each part is), with its
    `resources` an iterator read from a cursor: the summary is counted by SQL first, so memory does not grow
    with the number of resources."""
    scan = scan_row(db, scan_id)
    reading = Reading(scan_id and scan["id"])

    def rows(table: str, where: str = "", order: str = "") -> Iterable[dict[str, Any]]:
        source, params = reading.table(table)
        return db.query(f"select * from {source}{where}{order}", params)

    ignored = _ignored_column(db)
    resources, params = reading.table("resources")
    by_status = Counter(dict(db.execute(f"select status, count(*) from {resources} group by status", params).fetchall()))
    drift, params = reading.table("drift")
    drifted_resources, drifted_attributes, ignored_attributes = db.execute(
        f"select count(distinct case when {ignored} is null then resource_id end), "
        f"coalesce(sum({ignored} is null), 0), coalesce(sum({ignored} is not null), 0) from {drift}", params).fetchone()
    errors = [
        {k: row[k] for k in ("source", "kind", "message", "line", "account", "region", "type", "code")}
        for row in rows("scan_errors", order=" order by kind, source")
    ]
    failed_listings = [
        {k: row.get(k) for k in ("account", "region", "type", "outcome", "error_code", "message", "call", "count")}
        for row in sorted(rows("listings", where=" and outcome != 'ok'"),
                          key=lambda r: (r.get("type") or "", r.get("call") or ""))  # `call` is newer than some databases
    ]
    sources = {}
    for row in rows("sources", order=" order by scan_id"):  # an input read by several scans: as the latest read it
        sources[row.get("path")] = {k: row.get(k) for k in ("path", "kind", "status", "resource_count", "message",
                                                            "superseded_by")}
    sources = sorted(sources.values(), key=lambda row: (row["kind"] or "", row["path"] or ""))
    stacks = [
        {**{k: row[k] for k in ("id", "name", "account", "region", "status", "framework", "parent_id", "description")},
         "resource_count": row.get("resource_count"), "cdk_version": row.get("cdk_version"),
         "synthesizer": row.get("synthesizer"), "evidence": loads(row.get("evidence")) or []}
        for row in rows("stacks", order=" order by account, region, name")
    ]
    return {
        "schema": SCHEMA,
        "scan": {
            "id": scan.get("id"),
            "started_at": scan.get("started_at"),
            "finished_at": scan.get("finished_at"),
            "status": scan.get("status"),
            "accounts": loads(scan.get("accounts")),
            "regions": loads(scan.get("regions")),
            "duration_seconds": scan.get("duration_seconds"),
            "driftgraph_version": scan.get("driftgraph_version"),
        },
        "picture": picture(reading.parts(db), scan, current=reading.scan_id is None),
        "summary": {
            "resources": sum(by_status.values()),
            "by_status": {status: by_status.get(status, 0) for status in STATUSES},
            "drifted_resources": drifted_resources,
            "drifted_attributes": drifted_attributes,
            "ignored_drift_attributes": ignored_attributes,
            "managed_percent": managed_percent(by_status),
            "failed_listings": len(failed_listings),
            "errors": sum(1 for e in errors if e["kind"] == "error"),
            "warnings": sum(1 for e in errors if e["kind"] != "error"),
        },
        "resources": _report_resources(db, reading),
        "stacks": stacks,
        "failed_listings": failed_listings,
        "errors": errors,
        "sources": sources,
    }


def write_report_json(report: dict[str, Any], write: Callable[[str], Any]) -> None:
    """`report` as `json.dumps(report, indent=2)` writes it, byte for byte, with its `resources` (an iterator)
    written one at a time as they are read."""
    write("{\n")
    last = len(report) - 1
    for n, (key, value) in enumerate(report.items()):
        write(f"  {json.dumps(key)}: ")
        if key == "resources":
            empty = True
            for resource in value:
                write("[\n    " if empty else ",\n    ")
                write(json.dumps(resource, indent=2).replace("\n", "\n    "))
                empty = False
            write("[]" if empty else "\n  ]")
        else:
            write(json.dumps(value, indent=2).replace("\n", "\n  "))
        write(",\n" if n < last else "\n")
    write("}")


# Markdown that a value from AWS or a state file must not be able to write: raw HTML (a tag value
# `<img onerror=...>`), links and images, emphasis and code spans, table cells. Escaped, the text shows as written.
_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_MARKDOWN = re.compile(r"[\\`*\[\]|]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


# Characters that act instead of showing: terminal controls (an ESC sequence can clear a screen, move the
# cursor or set a clipboard), bidirectional overrides (U+202E shows text backwards), invisible ones and line
# separators. A name from AWS or a file shows them as \uXXXX, so it can neither rewrite nor spoof a line.
_ACTING = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def printable(text: str) -> str:
    """`text` with every character that acts rather than shows written as a visible \\uXXXX escape."""
    return _ACTING.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)


def escape_markdown(text: str) -> str:
    """`text` as literal Markdown (one line): HTML inert, link, emphasis and table syntax escaped, terminal and
    direction controls made visible."""
    text = "".join(_HTML.get(c, c) for c in printable(str(text).replace("\r", " ").replace("\n", " ")))
    return _MARKDOWN.sub(lambda m: "\\" + m.group(0), text)


def markdown_cell(value: Any) -> str:
    """One Markdown table cell: text escaped, anything else as JSON (a missing value shows as null)."""
    return escape_markdown(value if isinstance(value, str) else json.dumps(value, default=str))


def optional_cell(value: Any) -> str:
    """One Markdown table cell that shows nothing for a missing value."""
    return "" if value is None else markdown_cell(value)


def picture_line(report: dict[str, Any]) -> str:
    """What the report covers and how old it is, in a sentence: one scan's, or a picture pieced from several."""
    scan, seen = report["scan"], report.get("picture")
    if not seen or len(seen["scans"]) <= 1:
        return escape_markdown(f"Accounts {', '.join(scan['accounts'] or [])}; regions {', '.join(scan['regions'] or [])}; "
                               f"finished {scan['finished_at']} ({scan['status']}, {scan['duration_seconds']} s).")
    accounts = sorted({p["account"] for p in seen["parts"]})
    regions = sorted({p["region"] for p in seen["parts"] if p["region"] not in (None, "global")})
    where = f"Accounts {', '.join(accounts)}; regions {', '.join(regions)}"
    return escape_markdown(
        f"{where}: the current picture, pieced from scans {', '.join(map(str, seen['scans']))} "
        f"({seen['status']}); the latest finished {scan['finished_at']}, the oldest part ({seen['oldest_part']}) "
        f"was scanned at {seen['oldest_finished_at']}.")


def render_markdown(report: dict[str, Any]) -> str:
    scan, summary = report["scan"], report["summary"]
    lines = [
        f"# driftgraph report: scan {scan['id']}",
        "",
        picture_line(report),
        "",
        "| status | resources |",
        "|---|---:|",
    ]
    lines += [f"| {status} | {count} |" for status, count in summary["by_status"].items()]
    lines += [
        "",
        f"Managed: {summary['managed_percent']}% of the resources code could own. "
        f"Drift: {summary['drifted_attributes']} attributes on {summary['drifted_resources']} resources. "
        f"Failed listings: {summary['failed_listings']}. Errors: {summary['errors']}.",
    ]

    def section(title: str, status: str, columns: tuple[str, ...]) -> None:
        rows = [r for r in report["resources"] if r["status"] == status]
        if not rows:
            return
        lines.extend(["", f"## {title} ({len(rows)})", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)])
        for r in rows:
            values = {
                "type": r["type"],
                "name": r["name"],
                "where": f"{r['account']}/{r['region']}",
                "reason": r["reason"],
                "owners": "; ".join(f"{o['tool']} {o['source']} {o['address']}" for o in r["owners"]),
            }
            lines.append("| " + " | ".join(markdown_cell(values[c]) for c in columns) + " |")

    section("Unmanaged", "unmanaged", ("type", "name", "where"))
    section("Missing", "missing", ("type", "name", "where", "owners"))
    section("Conflicts", "conflict", ("type", "name", "where", "owners"))
    section("Unknown", "unknown", ("type", "name", "where", "reason"))
    drifted = [r for r in report["resources"] if r["drift"]]
    if drifted:
        lines += ["", f"## Drift ({len(drifted)} resources)", "", "| resource | attribute | declared | live | declared by |", "|---|---|---|---|---|"]
        for r in drifted:
            for d in r["drift"]:
                lines.append(
                    f"| {markdown_cell(r['type'] + ' ' + str(r['name']))} | {markdown_cell(d['attribute'])} | {markdown_cell(d['declared'])} "
                    f"| {markdown_cell(d['live'])} | {markdown_cell(d['tool'] + ' ' + d['address'])} |"
                )
    set_aside_drift = [(r, d) for r in report["resources"] for d in r.get("ignored_drift", [])]
    if set_aside_drift:
        lines += ["", f"## Drift set aside by ignore rules ({len(set_aside_drift)} attributes): not counted", "",
                  "| resource | attribute | declared | live | ignored by |", "|---|---|---|---|---|"]
        lines += [f"| {markdown_cell(r['type'] + ' ' + str(r['name']))} | {markdown_cell(d['attribute'])} "
                  f"| {markdown_cell(d['declared'])} | {markdown_cell(d['live'])} | {markdown_cell(d['ignored'])} |"
                  for r, d in set_aside_drift]
    if report["failed_listings"]:
        lines += ["", f"## Failed listings ({len(report['failed_listings'])}): what they would have told is unknown", "",
                  "| type | call | where | outcome | message |", "|---|---|---|---|---|"]
        for f in report["failed_listings"]:
            call = f"{f['call']} ({f['count']} resources)" if f.get("call") else "list"
            lines.append(
                f"| {markdown_cell(f['type'])} | {markdown_cell(call)} | {markdown_cell(f['account'])}/{markdown_cell(f['region'])} "
                f"| {markdown_cell(f['outcome'])} ({markdown_cell(f['error_code'])}) | {markdown_cell(f['message'])} |"
            )
    set_aside = [row for row in report.get("sources", []) if row["status"] not in ("loaded", "ok")]
    if set_aside:
        lines += ["", f"## Inputs not read, or read with a caveat ({len(set_aside)})", "",
                  "| input | status | why |", "|---|---|---|"]
        for row in set_aside:
            why = row["message"] or ""
            if row.get("superseded_by") and row["superseded_by"] not in why:
                why = f"superseded by {row['superseded_by']}; {why}".rstrip("; ")
            lines.append(f"| {markdown_cell(row['path'])} | {markdown_cell(row['status'])} | {markdown_cell(why)} |")
    if report["errors"]:
        lines += ["", f"## Errors and warnings ({len(report['errors'])})", "", "| kind | source | where | message |", "|---|---|---|---|"]
        for e in report["errors"]:
            where = "/".join(x for x in (e["account"], e["region"], e["type"]) if x) or (f"line {e['line']}" if e["line"] else "")
            lines.append(f"| {e['kind']} | {markdown_cell(e['source'])} | {markdown_cell(where)} | {markdown_cell(e['message'])} |")
    return "\n".join(lines) + "\n"
