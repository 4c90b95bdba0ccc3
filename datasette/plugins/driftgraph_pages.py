"""Datasette plugin for driftgraph's own pages: the database page's dashboard (coverage, resources by status, the
trend over recent scans, what changed in the last week) and one page per resource (/DB/-/resource?id=ID).

A module of @hookimpl functions, loaded from datasette/plugins by driftgraph/serve.py (plugins_dir). It only
reads: every query of a page runs on the server's read-only connections, under Datasette's time limit; "what
changed" is also made between pages, on a read-only connection of its own (startup, below).
The templates are datasette/templates/database.html (the dashboard, above Datasette's own database page) and
driftgraph_resource.html; links and badges come from the cells plugin (driftgraph_cells.py).
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import threading
import time
import weakref
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from datasette import hookimpl
from datasette.database import QueryInterrupted
from datasette.utils import sqlite_timelimit, tilde_decode
from datasette.utils.asgi import NotFound, Response
from datasette.views.base import DatasetteError

from graph.diff import CHANGES, TITLES, build_diff
from graph.records import STATUSES
from graph.report import COUNTED, managed_percent

RECENT = timedelta(days=7)  # "what is new": since the latest scan finished at least this long before the latest
TREND_SCANS = 20  # scans the trend charts show, the latest last
LISTED_CHANGES = 20  # changes of one kind listed on the dashboard; the rest are counted
LOOK_EVERY_S = 2.0  # how often the server looks for a new scan to compare, between pages
COMPARE_LIMIT_MS = 60_000  # the longest a comparison made between pages may take (a page's: the server's limit)
NEEDS_A_PERSON = ("unmanaged", "missing", "conflict")  # the statuses the second trend chart counts, with drift

RESOURCE_FIELDS = ("id", "arn", "type", "service", "account", "region", "name", "natural_id", "status", "reason",
                   "rule", "owner_tools", "owner_count", "drift_count", "import_group", "import_id")


class Unavailable(Exception):
    """A dashboard section that could not be read (a query cut by the time limit): said on the page instead."""


def _is_driftgraph(table_names: list[str]) -> bool:
    return {"scans", "resources", "meta"} <= set(table_names)


def _loads(text: Any) -> Any:
    try:
        return json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None


async def _rows(db, sql: str, params=None) -> list[dict[str, Any]]:
    try:
        results = await db.execute(sql, params or [])
    except sqlite3.DatabaseError as error:  # QueryInterrupted is not one: it is caught by section()
        raise Unavailable(str(error)) from None
    return [dict(zip(results.columns, row)) for row in results.rows]


async def section(coroutine) -> dict[str, Any]:
    """{"value": ...} or {"error": why}: one slow or failing part leaves the rest of the page standing."""
    try:
        return {"value": await coroutine}
    except QueryInterrupted:
        return {"error": "took longer than the server's time limit"}
    except Unavailable as error:
        return {"error": str(error)}


# ------------------------------------------------------------------------------------------------ dashboard


async def _counted_drift(db) -> str:
    """The condition on drift rows that count: drift an ignore rule set aside (drift.ignored, in databases that
    have it) does not, as in the report."""
    return "ignored is null" if "ignored" in await db.table_columns("drift") else "1"


async def _status_counts(db) -> dict[str, Any]:
    # current_counts: the store's summary of current_resources, when it is of the latest scan
    summarised = await db.table_exists("current_counts") and (await _rows(
        db, "select (select value from meta where key = 'summaries_of_scan') = "
            "cast((select max(id) from scans) as text) as fresh"))[0]["fresh"]
    counted = ("select status, sum(resources) as n from current_counts group by status" if summarised
               else "select status, count(*) as n from current_resources group by status")
    counts = {row["status"]: row["n"] for row in await _rows(db, counted)}
    statuses = [*STATUSES, *sorted(s for s in counts if s not in STATUSES and s is not None)]
    # from the drift rows (few) to their versions, never from every current version to its drift
    drifted = (await _rows(db, f"select count(distinct resource_id) as n from drift d where {await _counted_drift(db)} "
                               "and exists (select 1 from resources r where r.version = d.version "
                               "and r.until_scan is null)"))[0]["n"]
    return {
        "by_status": [{"status": s, "count": counts.get(s, 0)} for s in statuses],
        "total": sum(counts.values()),
        "counted": sum(counts.get(s, 0) for s in COUNTED),
        "managed_percent": managed_percent(counts),
        "drifted_resources": drifted,
    }


async def _problems(db) -> dict[str, int]:
    failed = await _rows(db, "select count(*) as n from current_listings where outcome not in ('ok', 'unsupported')")
    errors = await _rows(db, "select count(*) as n from current_scan_errors where kind = 'error'")
    return {"failed_listings": failed[0]["n"], "errors": errors[0]["n"]}


async def _picture(db) -> dict[str, Any]:
    """How old each part of the current picture is: the scans it is pieced from, the part scanned longest ago,
    and how many parts come from a scan that was partial (current_scopes: every account and region)."""
    whole = await _rows(db, "select count(distinct scan_id) as scans, count(*) as parts, min(scan_id) as first, "
                            "max(scan_id) as last, coalesce(sum(status != 'complete'), 0) as partial_parts "
                            "from current_scopes where account is not null")
    oldest = await _rows(db, "select account, region, scan_id, finished_at from current_scopes "
                             "where account is not null order by finished_at, account, region limit 1")
    return {**whole[0], "oldest": oldest[0] if oldest else None}


async def _trend(db) -> list[dict[str, Any]]:
    """The latest TREND_SCANS scans, oldest first, with their numbers: from scans.summary, or counted from the
    scan's rows for a scan an older driftgraph wrote without one; none for such a scan whose rows were pruned
    (scans.pruned_at, in databases that have it): a gap, never a false zero."""
    pruned = "pruned_at" if "pruned_at" in await db.table_columns("scans") else "null"
    scans = await _rows(db, f"select id, started_at, finished_at, status, summary, {pruned} as pruned_at from scans "
                            "order by id desc limit ?", [TREND_SCANS])
    scans.reverse()
    points, unsummarised = [], []
    for scan in scans:
        summary = _loads(scan["summary"])
        if not (isinstance(summary, dict) and isinstance(summary.get("by_status"), dict)):
            summary = None
            if not scan["pruned_at"]:
                unsummarised.append(scan["id"])
        points.append({**{k: scan[k] for k in ("id", "started_at", "finished_at", "status")}, "summary": summary})
    if unsummarised:
        marks = ", ".join("?" * len(unsummarised))
        counts: dict[int, Counter] = {i: Counter() for i in unsummarised}
        for row in await _rows(db, f"select scan_id, status, count(*) as n from scan_resources "
                                   f"where scan_id in ({marks}) group by scan_id, status", unsummarised):
            counts[row["scan_id"]][row["status"]] = row["n"]
        drifted = {row["scan_id"]: row["n"] for row in await _rows(
            db, f"select scan_id, count(distinct resource_id) as n from scan_drift where scan_id in ({marks}) "
                f"and {await _counted_drift(db)} group by scan_id", unsummarised)}
        for point in points:
            if point["id"] in counts:
                by_status = counts[point["id"]]
                point["summary"] = {"by_status": dict(by_status), "drifted_resources": drifted.get(point["id"], 0),
                                    "managed_percent": managed_percent(by_status)}
    return points


def _nice_ceiling(value: float) -> int:
    """The smallest whole 1, 2, 2.5, 3, 4, 5, 6 or 8 times a power of ten that is at least `value` (a tick step)."""
    power = 1
    while power * 10 < value:
        power *= 10
    return next(int(step * power) for step in (1, 2, 2.5, 3, 4, 5, 6, 8, 10)
                if step * power >= value and (step * power) % 1 == 0)


def line_chart(points: list[dict[str, Any]], series: list[str], top: float | None = None, unit: str = "",
               width: int = 720, height: int = 210) -> dict[str, Any]:
    """The geometry of a line chart over scans (x: scan order; y: 0 .. top) for the template to draw as SVG.
    `series` names the keys of each point's values drawn, a line each; a missing value leaves a gap."""
    left, right, above, below = 52, 44, 14, 46  # room for the axis labels, and the last scan's date
    plot_w, plot_h = width - left - right, height - above - below
    values = [p["values"].get(key) for p in points for key in series]
    top = top or 4 * _nice_ceiling(max([v for v in values if v is not None] or [0]) / 4)  # 4 whole steps
    n = len(points)

    def x(i: int) -> float:
        return round(left + (plot_w / 2 if n == 1 else plot_w * i / (n - 1)), 1)

    def y(v: float) -> float:
        return round(above + plot_h * (1 - v / top), 1)

    every = max(1, -(-n // 8))  # at most 8 scan labels under the axis
    lines = []
    for key in series:
        label = SERIES_LABELS.get(key, key)
        segments, current, dots = [], [], []
        for i, point in enumerate(points):
            value = point["values"].get(key)
            if value is None:
                segments, current = segments + ([current] if current else []), []
                continue
            current.append(f"{x(i)},{y(value)}")
            shown = f"{value:g}{unit}"
            dots.append({"x": x(i), "y": y(value), "title": f"scan {point['id']} ({point['when']}): {label} {shown}"})
        segments += [current] if current else []
        lines.append({"key": key, "label": label, "segments": [" ".join(s) for s in segments], "dots": dots})
    return {
        "width": width, "height": height, "left": left, "right": width - right, "top": above, "bottom": above + plot_h,
        "y_ticks": [{"y": y(top * k / 4), "text": f"{top * k / 4:g}{unit}"} for k in range(5)],
        # counted back from the latest, which always has its label
        "x_labels": [{"x": x(i), "scan": p["id"], "when": p["when"]} for i, p in enumerate(points)
                     if (n - 1 - i) % every == 0],
        "lines": lines,
    }


def _number(value: Any) -> float | None:
    """A value a chart can place; anything else (a summary another program wrote oddly) is a gap."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        return None
    return value


def trend_charts(points: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The two charts' geometry: managed percent, and the resources that need a person (with drifted ones)."""
    if not points:
        return None
    for point in points:
        summary = point["summary"]
        point["when"] = (point.get("finished_at") or point.get("started_at") or "")[:10]
        if summary is None:  # nothing known of it: a gap in every line
            point["values"] = {}
            continue
        by_status = summary.get("by_status") or {}
        point["values"] = {"managed_percent": _number(summary.get("managed_percent")),
                           "drifted": _number(summary.get("drifted_resources")),
                           **{status: _number(by_status.get(status, 0)) for status in NEEDS_A_PERSON}}
    return {
        "coverage": line_chart(points, ["managed_percent"], top=100, unit="%"),
        "attention": line_chart(points, [*NEEDS_A_PERSON, "drifted"]),
        "scans": len(points),
    }


SERIES_LABELS = {"managed_percent": "managed", "drifted": "drifted resources"}

_last_diff: dict[str, tuple[tuple, dict[str, Any]]] = {}  # by database path: (what it was of, the diff)


def _diff_of(path: str, connection: sqlite3.Connection) -> dict[str, Any]:
    """The diff behind "what changed", on a read-only connection: since the latest scan finished at least RECENT
    before the latest, else since the previous scan, else none. It reads only what changed between the two
    scans (graph.diff), so it is computed in the page, under the server's time limit like any query; the last
    one is kept for the next page while the database is as it was (the same file, unchanged since, no new scan)."""
    import sqlite_utils

    try:
        stat = os.stat(path)
        identity = (stat.st_ino, stat.st_mtime_ns, stat.st_size)  # read first: a commit after it only changes it
    except OSError:
        identity = None
    key = (identity, *connection.execute("select max(id), count(*) from scans").fetchone())
    kept = _last_diff.get(path)
    if identity is not None and kept is not None and kept[0] == key:
        return kept[1]
    db = sqlite_utils.Database(connection, recursive_triggers=False, execute_plugins=False)
    try:
        found = {"diff": build_diff(db, since=RECENT), "since_week": True}
    except ValueError:
        try:
            found = {"diff": build_diff(db), "since_week": False}
        except ValueError:
            found = {"diff": None, "since_week": False}
    _last_diff[path] = (key, found)
    return found


@hookimpl
def startup(datasette):
    """"What changed" made ahead of the pages: a thread per database file compares a new scan with the one before
    as soon as it lands (0.3 s at a million resources), so the first page after a scan finds the comparison made
    rather than making it. A page that comes before it makes its own, as it always did; none waits on another."""
    for name, database in datasette.databases.items():
        if database.path and not database.is_memory:
            threading.Thread(target=_compare_new_scans, args=(weakref.ref(datasette), name, database.path),
                             name=f"driftgraph-what-changed-{name}", daemon=True).start()


def _compare_new_scans(server: weakref.ref, name: str, path: str) -> None:
    """Keeps _diff_of's comparison of one database current until the server (or its database) is gone."""
    uri = f"{Path(path).resolve().as_uri()}?mode=ro"
    while (datasette := server()) is not None and name in datasette.databases:
        del datasette  # held only while asked: a server no one else holds is let go
        try:
            connection = sqlite3.connect(uri, uri=True)
        except sqlite3.Error:
            connection = None  # a file mid-replacement: the next look finds the new one
        if connection is not None:
            try:
                connection.execute("PRAGMA query_only = 1")
                tables = [row[0] for row in connection.execute("select name from sqlite_master where type = 'table'")]
                if _is_driftgraph(tables):
                    with sqlite_timelimit(connection, COMPARE_LIMIT_MS):
                        _diff_of(path, connection)
            except Exception:  # noqa: BLE001 (the page that needs it makes it, and says what went wrong)
                pass
            finally:
                connection.close()
        time.sleep(LOOK_EVERY_S)


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


async def _changes(db) -> dict[str, Any]:
    """The diff of the dashboard, computed (or the last one, kept) in a query thread under the server's time
    limit."""

    def run(connection: sqlite3.Connection) -> dict[str, Any]:
        with sqlite_timelimit(connection, db.ds.setting("sql_time_limit_ms")):
            return _diff_of(db.path, connection)

    try:
        found = await db.execute_fn(run)
    except sqlite3.OperationalError as error:
        if "interrupted" in str(error):
            raise QueryInterrupted(error, "diff", []) from None
        raise Unavailable(str(error)) from None
    diff = found["diff"]
    if diff is None:
        return {"diff": None}
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for c in diff["changes"]:
        by_kind.setdefault(c["change"], []).append(c)
    kinds = []
    for change in CHANGES:
        if rows := by_kind.get(change):
            listed = [{**c, "declared_json": _json_text(c.get("declared")), "live_json": _json_text(c.get("live"))}
                      for c in rows[:LISTED_CHANGES]]  # only those shown: a week can change thousands
            kinds.append({"change": change, "title": TITLES[change], "count": len(rows), "rows": listed,
                          "more": max(0, len(rows) - LISTED_CHANGES)})
    return {"diff": diff, "since_week": found["since_week"], "kinds": kinds,
            "not_compared": len(diff["compared"]["not_compared"])}


async def dashboard(datasette, database: str) -> dict[str, Any] | None:
    """What the database page shows above Datasette's lists; None for a database that is not driftgraph's."""
    db = datasette.get_database(database)
    if not _is_driftgraph(await db.table_names()):
        return None
    latest = await _rows(db, "select id, started_at, finished_at, status, accounts, regions from latest_scan")
    if not latest:
        return {"latest": None}
    scan = latest[0]
    trend = await section(_trend(db))
    return {
        "latest": {**scan, "accounts": _loads(scan["accounts"]) or [], "regions": _loads(scan["regions"]) or []},
        "counts": await section(_status_counts(db)),
        "problems": await section(_problems(db)),
        "picture": await section(_picture(db)),
        "trend": {"value": trend_charts(trend["value"])} if "value" in trend else trend,
        "changes": await section(_changes(db)),
        "week_days": RECENT.days,
    }


@hookimpl
def extra_template_vars(template, database, view_name, datasette):
    if view_name != "database" or template != "database.html" or not database:
        return {}

    async def variables():
        return {"driftgraph": await dashboard(datasette, database)}

    return variables


# ------------------------------------------------------------------------------------------- resource page


async def resource_details(db, resource_id: str) -> dict[str, Any] | None:
    """Everything the database holds about one resource id; None when no version has it."""
    versions = await _rows(
        db,
        "select r.*, f.started_at as from_started_at, f.finished_at as from_finished_at, "
        "u.started_at as until_started_at, u.finished_at as until_finished_at "
        "from resources r left join scans f on f.id = r.from_scan left join scans u on u.id = r.until_scan "
        "where r.id = ? order by r.version",
        [resource_id],
    )
    if not versions:
        return None
    current = [v for v in versions if v["until_scan"] is None]
    shown = current or [versions[-1]]  # gone from the current picture: its last version
    numbers = [v["version"] for v in shown]
    marks = ", ".join("?" * len(numbers))
    owners = await _rows(db, f"select * from owners where version in ({marks}) order by tool, source, address",
                         numbers)
    edges_out = await _rows(
        db,
        "select e.relation, e.target_id as other, "
        "(select t.type from current_resources t where t.id = e.target_id limit 1) as type, "
        "(select t.status from current_resources t where t.id = e.target_id limit 1) as status, "
        "(select t.name from current_resources t where t.id = e.target_id limit 1) as name "
        f"from edges e where e.version in ({marks}) order by e.relation, e.target_id",
        numbers,
    )
    edges_in = await _rows(
        db,
        "select e.relation, e.source_id as other, r.type, r.status, r.name "
        "from edges e join resources r on r.version = e.version "
        "where e.target_id = ? and r.until_scan is null order by e.relation, e.source_id",
        [resource_id],
    )
    drift = await _rows(db, f"select * from drift where version in ({marks}) order by attribute, tool, source",
                        numbers)
    creators = None
    if await db.table_exists("creators"):
        # rows written per scan (a scan_id column) are read from the latest scan that wrote any for the resource
        latest = ("and scan_id = (select max(scan_id) from creators where resource_id = :id)"
                  if "scan_id" in await db.table_columns("creators") else "")
        creators = await _rows(db, f"select * from creators where resource_id = :id {latest} order by event_time",
                               {"id": resource_id})
    history, previous = [], None
    for version in versions:
        history.append({**version, "status_changed": previous is not None and version["status"] != previous})
        previous = version["status"]
    return {
        "id": resource_id,
        "current": bool(current),
        "versions": [
            {"fields": [(k, v[k]) for k in RESOURCE_FIELDS],
             "tags": _loads(v["tags"]) if isinstance(_loads(v["tags"]), dict) else None,
             "raw_tags": v["tags"],
             "attributes": _pretty(v["attributes"]),
             "aliases": _loads(v["aliases"]) if isinstance(_loads(v["aliases"]), list) else None,
             **{k: v[k] for k in ("version", "name", "type", "status", "first_seen", "status_since", "from_scan",
                                  "until_scan", "until_finished_at", "account", "region")}}
            for v in shown
        ],
        "owners": owners,
        "edges_out": edges_out,
        "edges_in": edges_in,
        "drift": drift,
        "creators": creators,
        "history": list(reversed(history)),  # the latest first
    }


def _pretty(text: Any) -> str | None:
    value = _loads(text)
    if value in (None, {}, []):
        return None
    return json.dumps(value, indent=2, sort_keys=True) if isinstance(value, (dict, list)) else str(text)


async def resource_page(datasette, request):
    route = tilde_decode(request.url_vars["database"])
    try:
        database = datasette.get_database(route=route).name
    except KeyError:
        raise NotFound("Database not found") from None
    await datasette.ensure_permissions(request.actor, [("view-database", database), "view-instance"])
    db = datasette.get_database(database)
    if not _is_driftgraph(await db.table_names()):
        raise NotFound("Not a driftgraph database")
    resource_id = request.args.get("id", "")
    try:
        resource = await resource_details(db, resource_id) if resource_id else None
    except QueryInterrupted:
        raise DatasetteError("Reading this resource took longer than the server's time limit", status=503) from None
    except Unavailable as error:
        raise DatasetteError(f"This resource could not be read: {error}", status=500) from None
    context = {"database": database, "resource_id": resource_id, "resource": resource}
    html = await datasette.render_template("driftgraph_resource.html", context, request=request,
                                           view_name="driftgraph_resource")
    return Response.html(html, status=200 if resource or not resource_id else 404)


@hookimpl
def register_routes():
    # /DB/-/resource?id=ID: an id holds "/" and ":" (ARNs), which a query parameter carries as they are
    return [(r"^/(?P<database>[^/]+)/-/resource$", resource_page)]
