"""The weekly report (`driftgraph/weekly/1`) as Markdown and as one self-contained, printable HTML page.

The page has no script and fetches nothing (inline CSS, an inline SVG chart), so it opens anywhere, offline, and
prints as it shows. It is a Jinja template with autoescaping: every value from AWS or a state file is text, a
planted `<script>` in a tag or a name included. Long lists are cut at a stated length; the JSON has them all.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import jinja2
from markupsafe import Markup

from graph.diff import CHANGES, TITLES
from graph.report import escape_markdown, optional_cell, printable

ROWS_SHOWN = 200  # rows of one list a page shows; the rest are counted, and the JSON lists them
SPARK = "▁▂▃▄▅▆▇█"
NOT_A_NUMBER = "–"


def when(value: Any) -> str:
    """A stored time as a reader wants it: `2026-11-24 09:05 UTC`; anything that is not an ISO time as it is."""
    if value is None or value == "":
        return ""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _count(value: Any) -> str:
    """A whole number with thousands separated (101,206), as a page shows it; anything else as it is."""
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _percent(value: Any) -> str:
    return NOT_A_NUMBER if value is None else f"{value:.1f}%"


def _points(now: Any, before: Any) -> str | None:
    """A change of coverage in percentage points, signed; None when either end is unknown."""
    if now is None or before is None:
        return None
    return f"{now - before:+.1f} points"


def _where(row: dict[str, Any]) -> str:
    return f"{row.get('account') or ''}/{row.get('region') or ''}"


def _value(value: Any) -> str:
    """A declared or live value as one line of text: strings as they are, anything else as JSON."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def _creator(creator: dict[str, Any] | None) -> str:
    if not creator:
        return ""
    return " ".join(str(x) for x in (creator.get("principal"), creator.get("event_time") and
                                     f"({when(creator['event_time'])})") if x)


def _age(row: dict[str, Any]) -> str:
    if row["age_days"] is None:
        return NOT_A_NUMBER
    return f"≥ {row['age_days']}" if row["age_at_least"] else str(row["age_days"])


def sparkline(values: list[float | None]) -> str:
    """Coverage values as block characters over 0-100 (a gap as a space): the trend in a line of text."""
    return "".join(" " if v is None else SPARK[min(len(SPARK) - 1, int(v / 100 * len(SPARK)))] for v in values)


def _changes_by_kind(doc: dict[str, Any]) -> list[tuple[str, str, list[dict[str, Any]]]]:
    diff = doc["diff"]
    if not diff:
        return []
    return [(change, TITLES[change], rows) for change in CHANGES
            if (rows := [c for c in diff["changes"] if c["change"] == change])]


def _window(doc: dict[str, Any]) -> str:
    scan, before = doc["scan"], doc["from_scan"]
    text = (f"Accounts {', '.join(scan['accounts']) or 'none'}; regions {', '.join(scan['regions']) or 'none'}. "
            f"Scan {scan['id']} finished {when(scan['finished_at'])} ({scan['status']}).")
    if before:
        text += f" Compared with scan {before['id']}, finished {when(before['finished_at'])} (--since {doc['since']})."
    elif doc["since"] is None:
        text += " No comparison: give --since 7d to compare with the scan of a week before."
    return text


# ---------------------------------------------------------------------------------------------------- Markdown

def render_weekly_markdown(doc: dict[str, Any]) -> str:
    """The weekly document as Markdown: every value from AWS or a file escaped, so it shows as written."""
    head, scan = doc["headline"], doc["scan"]
    lines = [f"# driftgraph weekly report: scan {scan['id']}", "", escape_markdown(_window(doc)), ""]
    before = ""
    if doc["from_scan"]:
        before = (f" ({_percent(head['managed_percent_before'])} at scan {doc['from_scan']['id']}, "
                  f"{_points(head['managed_percent'], head['managed_percent_before']) or 'no change known'})")
    lines += [f"Managed: **{_percent(head['managed_percent'])}** of the resources code could own{before}.", ""]
    _table(lines, "| resources | " + " | ".join(head["by_status"]) + " | drifted | baselined |", [head],
           lambda h: f"| {h['resources']} | " + " | ".join(str(n) for n in h["by_status"].values())
           + f" | {h['drifted']} | {h['baselined']} |", right=len(head["by_status"]) + 3)
    _markdown_trend(doc, lines)
    _markdown_changes(doc, lines)
    _markdown_oldest(doc, lines)
    for dimension, rows in doc["breakdowns"].items():
        title = f"team (tag {escape_markdown(doc['team_tag'])})" if dimension == "team" else dimension
        lines += ["", f"## By {title}", ""]
        _table(lines, f"| {dimension} | resources | managed | unmanaged | missing | conflict | drifted | managed % |",
               rows, lambda r: f"| {optional_cell(r['key'])} | {r['resources']} | {r['managed']} | {r['unmanaged']} "
                               f"| {r['missing']} | {r['conflict']} | {r['drifted']} "
                               f"| {_percent(r['managed_percent'])} |", right=7)
    _markdown_required_tags(doc, lines)
    _markdown_coverage(doc, lines)
    _markdown_maintenance(doc, lines)
    if doc["notes"]:
        lines += ["", "## Notes", ""] + [f"- {escape_markdown(note)}" for note in doc["notes"]]
    lines += ["", f"_{doc['schema']}, generated {escape_markdown(when(doc['generated_at']))}._"]
    return "\n".join(lines) + "\n"


def _table(lines: list[str], header: str, rows: list, row: Any, right: int = 0) -> None:
    """A Markdown table: its header (the last `right` columns right-aligned: the numbers), the first ROWS_SHOWN
    rows, and a line saying how many more the JSON has."""
    columns = header.strip().strip("|").count("|") + 1
    lines += [header, "|" + "---|" * (columns - right) + "---:|" * right]
    lines += [row(r) for r in rows[:ROWS_SHOWN]]
    if len(rows) > ROWS_SHOWN:
        lines += ["", f"_{len(rows) - ROWS_SHOWN} more not shown: `--format json` lists them all._"]


def _markdown_trend(doc: dict[str, Any], lines: list[str]) -> None:
    trend = doc["trend"]
    lines += ["", f"## Trend: the last {len(trend)} scans of these accounts and regions", ""]
    if not trend:
        lines.append("No scan of these accounts and regions to show.")
        return
    lines += [f"Managed: `{sparkline([p['managed_percent'] for p in trend])}` "
              f"({_percent(trend[0]['managed_percent'])} to {_percent(trend[-1]['managed_percent'])})", ""]
    _table(lines, "| scan | finished | status | managed % | resources | unmanaged | missing | drifted |", trend,
           lambda p: f"| {p['scan']} | {optional_cell(when(p['finished_at']))} | {optional_cell(p['status'])} "
                     f"| {_percent(p['managed_percent'])} | {p['resources']} | {p['unmanaged']} | {p['missing']} "
                     f"| {optional_cell(p['drifted'])} |", right=5)


def _markdown_changes(doc: dict[str, Any], lines: list[str]) -> None:
    diff = doc["diff"]
    if not diff:
        return
    summary = diff["summary"]
    lines += ["", f"## What changed since scan {diff['from_scan']['id']}", "",
              escape_markdown(f"Compared accounts {', '.join(diff['compared']['accounts']) or 'none'}, regions "
                              f"{', '.join(diff['compared']['regions']) or 'none'}; managed "
                              f"{_percent(summary['coverage_before'])} then, {_percent(summary['coverage_after'])} "
                              "now over what both scans covered."), ""]
    _table(lines, "| change | count |", list(CHANGES), lambda change: f"| {TITLES[change]} | {summary[change]} |",
           right=1)
    for change, title, rows in _changes_by_kind(doc):
        lines += ["", f"### {title} ({len(rows)})", ""]
        if change == "new_failed_listing":
            _table(lines, "| type | call | where | before | after |", rows,
                   lambda c: f"| {optional_cell(c['type'])} | {optional_cell(c['name'] or 'list')} "
                             f"| {optional_cell(_where(c))} | {optional_cell(c['before'])} "
                             f"| {optional_cell(c['after'])} |")
        elif change.endswith("_drift"):
            _table(lines, "| type | name | where | attribute | declared | live |", rows,
                   lambda c: f"| {optional_cell(c['type'])} | {optional_cell(c['name'])} | {optional_cell(_where(c))} "
                             f"| {optional_cell(c['attribute'])} | {optional_cell(_value(c['declared']))} "
                             f"| {optional_cell(_value(c['live']))} |")
        else:
            _table(lines, "| type | name | where | before | after |", rows,
                   lambda c: f"| {optional_cell(c['type'])} | {optional_cell(c['name'])} | {optional_cell(_where(c))} "
                             f"| {optional_cell(c['before'])} | {optional_cell(c['after'])} |")
    not_compared = diff["compared"]["not_compared"]
    if not_compared:
        lines += ["", f"### Not compared ({len(not_compared)}): changes there are unknown", ""]
        _table(lines, "| account | region | type | why |", not_compared,
               lambda s: f"| {optional_cell(s['account'])} | {optional_cell(s['region'])} | {optional_cell(s['type'])} "
                         f"| {optional_cell(s['reason'])} |")


def _markdown_oldest(doc: dict[str, Any], lines: list[str]) -> None:
    rows = doc["oldest_unmanaged"]
    lines += ["", f"## Oldest unmanaged ({len(rows)} of {doc['headline']['unmanaged']})", ""]
    if not rows:
        lines.append("Nothing unmanaged.")
        return
    _table(lines, "| type | name | where | first seen | age (days) | unmanaged since | created by |", rows,
           lambda r: f"| {optional_cell(r['type'])} | {optional_cell(r['name'])} | {optional_cell(_where(r))} "
                     f"| {optional_cell(when(r['first_seen']))} | {_age(r)} "
                     f"| {optional_cell(when(r['unmanaged_since']))} "
                     f"| {optional_cell(_creator(r['creator']))} |")
    if any(r["age_at_least"] for r in rows):
        lines += ["", "≥: already there at the first scan of its place, so older than that."]


def _markdown_required_tags(doc: dict[str, Any], lines: list[str]) -> None:
    tags = doc["required_tags"]
    lines += ["", "## Required tags", ""]
    if not tags["tags"]:
        lines.append("No required tags configured.")
        return
    counts = ", ".join(f"{escape_markdown(t)}: {n}" for t, n in tags["by_tag"].items())
    lines.append(f"Every resource must carry {', '.join(escape_markdown(t) for t in tags['tags'])}: {tags['count']} "
                 f"of {tags['checked']} checked lack one ({counts}); the tags of {tags['tags_not_read']} were not "
                 "read.")
    if tags["violations"]:
        lines.append("")
        _table(lines, "| type | name | where | status | missing | present in another case |", tags["violations"],
               lambda v: f"| {optional_cell(v['type'])} | {optional_cell(v['name'])} | {optional_cell(_where(v))} "
                         f"| {optional_cell(v['status'])} | {optional_cell(', '.join(v['missing']))} "
                         f"| {optional_cell(', '.join(v['other_case']))} |")


def _markdown_coverage(doc: dict[str, Any], lines: list[str]) -> None:
    rows = doc["not_listed"]
    lines += ["", f"## Not listed ({len(rows)}): what these calls would have found is unknown", ""]
    if not rows:
        lines.append("Every call answered.")
        return
    _table(lines, "| type | call | where | outcome | error | message |", rows,
           lambda f: f"| {optional_cell(f['type'])} | {optional_cell(f['call'] or 'list')} "
                     f"| {optional_cell(_where(f))} | {optional_cell(f['outcome'])} | {optional_cell(f['error_code'])} "
                     f"| {optional_cell(f['message'])} |")


def _maintenance_read(doc: dict[str, Any]) -> bool:
    return not any(note.startswith("Pending maintenance not read") for note in doc["notes"])


def _markdown_maintenance(doc: dict[str, Any], lines: list[str]) -> None:
    rows = doc["maintenance"]
    lines += ["", f"## Pending maintenance ({len(rows)})", ""]
    if not rows:
        lines.append(MAINTENANCE_NONE if _maintenance_read(doc) else MAINTENANCE_NOT_READ)
        return
    _table(lines, "| resource | type | where | action | description | apply after | forced on | opt-in | severity |",
           rows, lambda m: f"| {optional_cell(m['resource'])} | {optional_cell(m['type'])} "
                           f"| {optional_cell(_where(m))} "
                           f"| {optional_cell(m['action'])} | {optional_cell(m['description'])} "
                           f"| {optional_cell(when(m['apply_after']))} | {optional_cell(when(m['forced_apply_date']))} "
                           f"| {optional_cell(m['opt_in_status'])} | {optional_cell(m['severity'])} |")


MAINTENANCE_NONE = "None pending where RDS and ElastiCache answered."
MAINTENANCE_NOT_READ = "Not read (see Notes)."


# -------------------------------------------------------------------------------------------------------- HTML

CHART_WIDTH, CHART_HEIGHT = 1000, 250
CHART_MARGIN = {"left": 48, "right": 48, "top": 14, "bottom": 30}


def _count_axis_top(value: float) -> int:
    """The right axis's top for counts up to `value`: four gridline steps of 1, 2 or 5 times a power of ten,
    so that every gridline is a whole number."""
    scale = 1
    while True:
        for step in (1, 2, 5):
            if 4 * step * scale >= value:
                return 4 * step * scale
        scale *= 10


def chart(trend: list[dict[str, Any]], from_scan: int | None) -> dict[str, Any] | None:
    """The trend chart's geometry (numbers only; the template escapes the labels): managed % as an area on the
    left axis (0-100), unmanaged resources as a line on the right axis, scans spaced evenly, the from-scan marked."""
    if not trend:
        return None
    m = CHART_MARGIN
    inner_w, inner_h = CHART_WIDTH - m["left"] - m["right"], CHART_HEIGHT - m["top"] - m["bottom"]
    top_count = _count_axis_top(max((p["unmanaged"] or 0) for p in trend))
    step = inner_w / (len(trend) - 1) if len(trend) > 1 else 0

    def x(n: int) -> float:
        return round(m["left"] + (n * step if len(trend) > 1 else inner_w / 2), 1)

    def y_percent(v: float) -> float:
        return round(m["top"] + inner_h * (1 - v / 100), 1)

    def y_count(v: float) -> float:
        return round(m["top"] + inner_h * (1 - v / top_count), 1)

    points = [{"x": x(n), "y": y_percent(p["managed_percent"]) if p["managed_percent"] is not None else None,
               "yu": y_count(p["unmanaged"] or 0), "scan": p["scan"], "finished_at": when(p["finished_at"]),
               "percent": _percent(p["managed_percent"]), "unmanaged": _count(p["unmanaged"]),
               "partial": p["status"] != "complete"}
              for n, p in enumerate(trend)]
    known = [p for p in points if p["y"] is not None]
    line = " ".join(f"{p['x']},{p['y']}" for p in known)
    bottom = m["top"] + inner_h
    area = f"{known[0]['x']},{bottom} {line} {known[-1]['x']},{bottom}" if known else ""
    marker = next((p["x"] for p in points if p["scan"] == from_scan), None)
    labels = [points[0]] + ([points[-1]] if len(points) > 1 else [])
    return {
        "width": CHART_WIDTH, "height": CHART_HEIGHT, "left": m["left"], "right": CHART_WIDTH - m["right"],
        "top": m["top"], "bottom": bottom, "points": points, "line": line, "area": area,
        "unmanaged_line": " ".join(f"{p['x']},{p['yu']}" for p in points),
        "grid": [{"y": y_percent(v), "percent": f"{v}%", "count": _count(top_count * v // 100)}
                 for v in (0, 25, 50, 75, 100)],
        "marker": marker, "labels": [{"x": p["x"], "text": f"scan {p['scan']} · {p['finished_at'][:10]}",
                                       "anchor": "start" if n == 0 else "end"} for n, p in enumerate(labels)],
    }


_CSS = """
:root{--ink:#1d2330;--muted:#5b6576;--line:#dde2ea;--zebra:#f5f7fa;--accent:#2563eb;--accent-soft:#dbe7fd;
--bad:#c2410c;--good:#15803d;--card:#ffffff;--page:#f1f4f8}
*{box-sizing:border-box}
body{margin:0;background:var(--page);color:var(--ink);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,
"Helvetica Neue",Arial,sans-serif;-webkit-print-color-adjust:exact;print-color-adjust:exact}
main{max-width:76rem;margin:0 auto;padding:1.5rem 1.5rem 3rem}
header{background:#1d2330;color:#fff;padding:1.6rem 1.5rem}
header .inner{max-width:73rem;margin:0 auto}
header h1{margin:0 0 .3rem;font-size:1.55rem;font-weight:650;letter-spacing:-.01em}
header p{margin:0;color:#c9d2e3}
h2{font-size:1.15rem;margin:2.2rem 0 .7rem;padding-bottom:.3rem;border-bottom:2px solid var(--line)}
h3{font-size:1rem;margin:1.4rem 0 .4rem}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(10.5rem,1fr));gap:.75rem;margin-top:1.2rem}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:.8rem 1rem;
box-shadow:0 1px 2px rgba(20,30,50,.06)}
.card .label{color:var(--muted);font-size:.78rem;text-transform:uppercase;letter-spacing:.05em}
.card .value{font-size:1.7rem;font-weight:650;font-variant-numeric:tabular-nums;margin-top:.15rem}
.card .sub{color:var(--muted);font-size:.82rem}
.card.main{grid-column:span 2;background:var(--accent-soft);border-color:#b8cdf8}
.card.main .value{font-size:2.4rem;color:#1e3a8a}
.up{color:var(--good)}.down{color:var(--bad)}.worse{color:var(--bad)}.better{color:var(--good)}
.panel{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:1rem 1.1rem;overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:.88rem;background:var(--card)}
th,td{padding:.38rem .6rem;text-align:left;vertical-align:top;border-bottom:1px solid var(--line)}
th{background:#e9edf3;font-weight:600;white-space:nowrap}
tbody tr:nth-child(even){background:var(--zebra)}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.when{white-space:nowrap}
td.id{word-break:break-all;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.8rem}
.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(40rem,1fr));gap:1rem}
.chips{display:flex;flex-wrap:wrap;gap:.4rem;list-style:none;padding:0;margin:.6rem 0 0}
.chips li{border:1px solid var(--line);border-radius:999px;padding:.15rem .7rem;font-size:.84rem;background:#fff}
.chips li b{font-variant-numeric:tabular-nums;margin-right:.3rem}.chips li.zero{color:var(--muted);border-style:dashed}
.badge{display:inline-block;padding:.05rem .45rem;border-radius:999px;font-size:.78rem;background:#e9edf3}
.badge.new{background:#fde2d3;color:#9a3412}.badge.resolved{background:#d8f3e0;color:#166534}
.muted{color:var(--muted)}.more{color:var(--muted);font-style:italic;margin:.4rem 0 0}
svg{width:100%;height:auto;display:block}
.legend{display:flex;gap:1.2rem;font-size:.82rem;color:var(--muted);margin:.2rem 0 .6rem}
.key{display:inline-block;width:.9rem;height:.55rem;border-radius:2px;margin-right:.35rem;vertical-align:middle}
ul.notes{margin:.3rem 0;padding-left:1.2rem}
footer{color:var(--muted);font-size:.8rem;margin-top:2.5rem}
@page{margin:12mm}
@media print{
 body{background:#fff;font-size:10pt}
 header{padding:0 0 .6rem;background:#fff;color:var(--ink);border-bottom:2px solid var(--ink)}
 header p{color:var(--muted)}
 main{max-width:none;padding:0}
 .card,.panel{box-shadow:none;break-inside:avoid}
 h2,h3{break-after:avoid}
 tr{break-inside:avoid}
 thead{display:table-header-group}
 .panel{overflow:visible;border:none;padding:0}
}
"""

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>driftgraph weekly report: scan {{ doc.scan.id }}</title>
<style>{{ css }}</style></head>
<body>
<header><div class="inner">
<h1>Weekly report · scan {{ doc.scan.id }}</h1>
<p>{{ window }}</p>
</div></header>
<main>
{%- set head = doc.headline %}
<section class="cards" aria-label="Headline">
 <div class="card main"><div class="label">Managed</div><div class="value">{{ percent(head.managed_percent) }}</div>
  <div class="sub">of what code could own{% if doc.from_scan %}: {{ percent(head.managed_percent_before) }} at scan {{ doc.from_scan.id }}{% if change %}, <span class="{{ change_class }}">{{ change }}</span>{% endif %}{% endif %}</div></div>
 {%- for card in cards %}
 <div class="card"><div class="label">{{ card.label }}</div><div class="value">{{ count(card.value) }}</div>
  {%- if card.sub %}<div class="sub">{{ card.sub }}</div>{% endif %}</div>
 {%- endfor %}
</section>

<h2>Trend</h2>
<div class="panel">
{%- if chart %}
<div class="legend"><span><span class="key" style="background:#2563eb"></span>managed % (left axis)</span>
<span><span class="key" style="background:#c2410c"></span>unmanaged resources (right axis)</span>
{%- if chart.marker is not none %}<span><span class="key" style="background:#5b6576;height:2px"></span>compared with</span>{% endif %}</div>
<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {{ chart.width }} {{ chart.height }}" role="img" aria-label="Managed percent and unmanaged resources over the last {{ doc.trend|length }} scans">
{%- for g in chart.grid %}
<line x1="{{ chart.left }}" x2="{{ chart.right }}" y1="{{ g.y }}" y2="{{ g.y }}" stroke="#dde2ea" stroke-width="1"/>
<text x="{{ chart.left - 6 }}" y="{{ g.y + 4 }}" text-anchor="end" font-size="12" fill="#5b6576">{{ g.percent }}</text>
<text x="{{ chart.right + 6 }}" y="{{ g.y + 4 }}" font-size="12" fill="#c2410c">{{ g.count }}</text>
{%- endfor %}
{%- if chart.area %}<polygon points="{{ chart.area }}" fill="#2563eb" fill-opacity="0.12"/>
<polyline points="{{ chart.line }}" fill="none" stroke="#2563eb" stroke-width="2.5" stroke-linejoin="round"/>{% endif %}
<polyline points="{{ chart.unmanaged_line }}" fill="none" stroke="#c2410c" stroke-width="2" stroke-dasharray="5 3" stroke-linejoin="round"/>
{%- if chart.marker is not none %}
<line x1="{{ chart.marker }}" x2="{{ chart.marker }}" y1="{{ chart.top }}" y2="{{ chart.bottom }}" stroke="#5b6576" stroke-width="1.5" stroke-dasharray="3 3"/>
{%- endif %}
{%- for p in chart.points %}
<g><title>scan {{ p.scan }} · {{ p.finished_at }} · managed {{ p.percent }} · {{ p.unmanaged }} unmanaged{% if p.partial %} · partial{% endif %}</title>
{%- if p.y is not none %}<circle cx="{{ p.x }}" cy="{{ p.y }}" r="3.5" fill="{{ '#ffffff' if p.partial else '#2563eb' }}" stroke="#2563eb" stroke-width="2"/>{% endif %}
<circle cx="{{ p.x }}" cy="{{ p.yu }}" r="2.5" fill="#c2410c"/></g>
{%- endfor %}
{%- for label in chart.labels %}
<text x="{{ label.x }}" y="{{ chart.bottom + 20 }}" text-anchor="{{ label.anchor }}" font-size="12" fill="#5b6576">{{ label.text }}</text>
{%- endfor %}
</svg>
<table><thead><tr><th class="num">scan</th><th>finished</th><th>status</th><th class="num">managed</th>
<th class="num">resources</th><th class="num">unmanaged</th><th class="num">missing</th><th class="num">drifted</th></tr></thead><tbody>
{%- for p in doc.trend %}
<tr><td class="num">{{ p.scan }}</td><td class="when">{{ when(p.finished_at) }}</td><td>{{ p.status or '' }}</td><td class="num">{{ percent(p.managed_percent) }}</td>
<td class="num">{{ count(p.resources) }}</td><td class="num">{{ count(p.unmanaged) }}</td><td class="num">{{ count(p.missing) }}</td><td class="num">{{ '' if p.drifted is none else count(p.drifted) }}</td></tr>
{%- endfor %}
</tbody></table>
{%- else %}<p class="muted">No scan of these accounts and regions to draw.</p>{% endif %}
</div>

{%- if doc.diff %}
{%- set s = doc.diff.summary %}
<h2>What changed since scan {{ doc.diff.from_scan.id }}</h2>
<div class="panel">
<p>Over what both scans covered (accounts {{ doc.diff.compared.accounts|join(', ') or 'none' }}; regions
{{ doc.diff.compared.regions|join(', ') or 'none' }}): managed {{ percent(s.coverage_before) }} then, {{ percent(s.coverage_after) }} now.</p>
<ul class="chips">
{%- for change in change_names %}<li class="{{ 'zero' if not s[change] }}"><b>{{ s[change] }}</b>{{ titles[change] }}</li>{% endfor %}
</ul>
{%- for change, title, rows in changes %}
<h3><span class="badge {{ 'resolved' if change.startswith('resolved') else 'new' }}">{{ title }}</span> {{ rows|length }}</h3>
<table><thead><tr><th>type</th><th>{{ 'call' if change == 'new_failed_listing' else 'name' }}</th><th>where</th>
{%- if change.endswith('_drift') %}<th>attribute</th><th>declared</th><th>live</th>{% else %}<th>before</th><th>after</th>{% endif %}</tr></thead><tbody>
{%- for c in rows[:shown] %}
<tr><td>{{ c.type or '' }}</td><td>{{ c.name or ('list' if change == 'new_failed_listing' else '') }}</td><td>{{ where(c) }}</td>
{%- if change.endswith('_drift') %}<td>{{ c.attribute or '' }}</td><td>{{ value(c.declared) }}</td><td>{{ value(c.live) }}</td>
{%- else %}<td>{{ c.before or '' }}</td><td>{{ c.after or '' }}</td>{% endif %}</tr>
{%- endfor %}
</tbody></table>{{ more(rows) }}
{%- endfor %}
{%- if doc.diff.compared.not_compared %}
<h3>Not compared ({{ doc.diff.compared.not_compared|length }}): changes there are unknown</h3>
<table><thead><tr><th>account</th><th>region</th><th>type</th><th>why</th></tr></thead><tbody>
{%- for n in doc.diff.compared.not_compared[:shown] %}<tr><td>{{ n.account or '' }}</td><td>{{ n.region or '' }}</td><td>{{ n.type or '' }}</td><td>{{ n.reason }}</td></tr>{% endfor %}
</tbody></table>{{ more(doc.diff.compared.not_compared) }}
{%- endif %}
</div>
{%- endif %}

<h2>Oldest unmanaged ({{ doc.oldest_unmanaged|length }} of {{ head.unmanaged }})</h2>
<div class="panel">
{%- if doc.oldest_unmanaged %}
<table><thead><tr><th>type</th><th>name</th><th>where</th><th>first seen</th><th class="num">age (days)</th><th>unmanaged since</th><th>created by</th></tr></thead><tbody>
{%- for r in doc.oldest_unmanaged %}
<tr><td>{{ r.type }}</td><td>{{ r.name or '' }}</td><td>{{ where(r) }}</td><td class="when">{{ when(r.first_seen) }}</td><td class="num">{{ age(r) }}</td>
<td class="when">{{ when(r.unmanaged_since) }}</td><td>{{ creator(r.creator) }}</td></tr>
{%- endfor %}
</tbody></table>
{%- if doc.oldest_unmanaged|selectattr('age_at_least')|list %}<p class="more">≥: already there at the first scan of its place, so older than that.</p>{% endif %}
{%- else %}<p class="muted">Nothing unmanaged.</p>{% endif %}
</div>

<h2>Breakdowns</h2>
<div class="grid2">
{%- for dimension, rows in doc.breakdowns.items() %}
<div class="panel"><h3>By {{ dimension }}{% if dimension == 'team' %} <span class="muted">(tag “{{ doc.team_tag }}”)</span>{% endif %}</h3>
<table><thead><tr><th>{{ dimension }}</th><th class="num">resources</th><th class="num">managed</th><th class="num">unmanaged</th>
<th class="num">missing</th><th class="num">conflict</th><th class="num">drifted</th><th class="num">managed %</th></tr></thead><tbody>
{%- for r in rows[:shown] %}
<tr><td>{{ r.key }}</td><td class="num">{{ count(r.resources) }}</td><td class="num">{{ count(r.managed) }}</td><td class="num">{{ count(r.unmanaged) }}</td>
<td class="num">{{ count(r.missing) }}</td><td class="num">{{ count(r.conflict) }}</td><td class="num">{{ count(r.drifted) }}</td><td class="num">{{ percent(r.managed_percent) }}</td></tr>
{%- endfor %}
</tbody></table>{{ more(rows) }}</div>
{%- endfor %}
</div>

{%- set t = doc.required_tags %}
<h2>Required tags</h2>
<div class="panel">
{%- if t.tags %}
<p>Every resource must carry {% for tag in t.tags %}<code>{{ tag }}</code>{{ ', ' if not loop.last }}{% endfor %}:
{{ t.count }} of {{ t.checked }} checked lack one{% if t.by_tag %} ({% for tag, n in t.by_tag.items() %}{{ tag }}: {{ n }}{{ ', ' if not loop.last }}{% endfor %}){% endif %};
the tags of {{ t.tags_not_read }} were not read.</p>
{%- if t.violations %}
<table><thead><tr><th>type</th><th>name</th><th>where</th><th>status</th><th>missing</th><th>present in another case</th></tr></thead><tbody>
{%- for v in t.violations[:shown] %}
<tr><td>{{ v.type }}</td><td>{{ v.name or '' }}</td><td>{{ where(v) }}</td><td>{{ v.status }}</td><td>{{ v.missing|join(', ') }}</td><td>{{ v.other_case|join(', ') }}</td></tr>
{%- endfor %}
</tbody></table>{{ more(t.violations) }}
{%- endif %}
{%- else %}<p class="muted">No required tags configured.</p>{% endif %}
</div>

<h2>Not listed ({{ doc.not_listed|length }})</h2>
<div class="panel">
{%- if doc.not_listed %}
<p>What these calls would have found is unknown: nothing there is reported unmanaged, deleted or fixed.</p>
<table><thead><tr><th>type</th><th>call</th><th>where</th><th>outcome</th><th>error</th><th>message</th></tr></thead><tbody>
{%- for f in doc.not_listed[:shown] %}
<tr><td>{{ f.type or '' }}</td><td>{{ f.call or 'list' }}</td><td>{{ where(f) }}</td><td>{{ f.outcome }}</td><td>{{ f.error_code or '' }}</td><td>{{ f.message or '' }}</td></tr>
{%- endfor %}
</tbody></table>{{ more(doc.not_listed) }}
{%- else %}<p class="muted">Every call answered.</p>{% endif %}
</div>

<h2>Pending maintenance ({{ doc.maintenance|length }})</h2>
<div class="panel">
{%- if doc.maintenance %}
<table><thead><tr><th>resource</th><th>type</th><th>where</th><th>action</th><th>description</th><th>apply after</th><th>forced on</th><th>opt-in</th><th>severity</th></tr></thead><tbody>
{%- for m in doc.maintenance[:shown] %}
<tr><td>{{ m.resource or '' }}</td><td>{{ m.type or '' }}</td><td>{{ where(m) }}</td><td>{{ m.action or '' }}</td><td>{{ m.description or '' }}</td>
<td class="when">{{ when(m.apply_after) }}</td><td class="when">{{ when(m.forced_apply_date) }}</td><td>{{ m.opt_in_status or '' }}</td><td>{{ m.severity or '' }}</td></tr>
{%- endfor %}
</tbody></table>{{ more(doc.maintenance) }}
{%- else %}<p class="muted">{{ maintenance_empty }}</p>{% endif %}
</div>

{%- if doc.notes %}
<h2>Notes</h2>
<div class="panel"><ul class="notes">{% for note in doc.notes %}<li>{{ note }}</li>{% endfor %}</ul></div>
{%- endif %}
<footer>{{ doc.schema }} · generated {{ when(doc.generated_at) }} · driftgraph report --since {{ doc.since or '(none)' }}</footer>
</main>
</body></html>
"""

def _shown(value: Any) -> Any:
    """Every value the page shows: text with terminal and direction controls made visible (a U+202E in a name
    would otherwise show the rest of its line backwards), then escaped by the template."""
    return printable(value) if isinstance(value, str) and not isinstance(value, Markup) else value


_ENVIRONMENT = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                                  finalize=_shown)
_PAGE = _ENVIRONMENT.from_string(_TEMPLATE)


def _cards(doc: dict[str, Any]) -> list[dict[str, Any]]:
    head, summary = doc["headline"], (doc["diff"] or {}).get("summary")

    def moved(new: str, resolved: str) -> str | None:
        return f"+{_count(summary[new])} new, −{_count(summary[resolved])} fixed" if summary else None

    tags = doc["required_tags"]
    return [
        {"label": "Resources", "value": head["resources"], "sub": f"{_count(head['managed'])} managed"},
        {"label": "Unmanaged", "value": head["unmanaged"], "sub": moved("new_unmanaged", "resolved_unmanaged")},
        {"label": "Missing", "value": head["missing"], "sub": moved("new_missing", "resolved_missing")},
        {"label": "Conflict", "value": head["conflict"], "sub": moved("new_conflict", "resolved_conflict")},
        {"label": "Drifted", "value": head["drifted"], "sub": moved("new_drift", "resolved_drift") and
         f"+{_count(summary['new_drift'])} / −{_count(summary['resolved_drift'])} attributes"},
        {"label": "Unknown", "value": head["unknown"], "sub": "status undecidable"},
        {"label": "Ignored", "value": head["ignored"], "sub": "set aside by rules"},
        {"label": "Baselined", "value": head["baselined"], "sub": "findings a baseline accepts"},
        {"label": "Not listed", "value": len(doc["not_listed"]), "sub": "failed calls"},
        {"label": "Tag violations", "value": tags["count"] if tags["tags"] else NOT_A_NUMBER,
         "sub": f"of {_count(tags['checked'])} checked" if tags["tags"] else "none required"},
        {"label": "Maintenance", "value": len(doc["maintenance"]), "sub": "pending actions"},
    ]


def render_weekly_html(doc: dict[str, Any]) -> str:
    """The weekly document as one self-contained HTML page (no script, nothing fetched, a print stylesheet)."""
    head = doc["headline"]
    change = _points(head["managed_percent"], head["managed_percent_before"])

    def more(rows: list) -> Markup:
        if len(rows) <= ROWS_SHOWN:
            return Markup("")
        return Markup('<p class="more">{} more not shown: <code>--format json</code> lists them all.</p>').format(
            len(rows) - ROWS_SHOWN)

    return _PAGE.render(
        doc=doc, css=Markup(_CSS), window=_window(doc), cards=_cards(doc), change=change,
        change_class="" if not change or change.startswith("+0.0") else ("up" if change.startswith("+") else "down"),
        chart=chart(doc["trend"], (doc["from_scan"] or {}).get("id")), changes=_changes_by_kind(doc),
        change_names=CHANGES, titles=TITLES, shown=ROWS_SHOWN, more=more, percent=_percent, where=_where,
        value=_value, age=_age, creator=_creator, when=when, count=_count,
        maintenance_empty=MAINTENANCE_NONE if _maintenance_read(doc) else MAINTENANCE_NOT_READ,
    )
