"""Datasette plugin for driftgraph pages: a status renders as a coloured badge, a drill_down as a link.

A module of @hookimpl functions, loaded from datasette/plugins by driftgraph/serve.py (plugins_dir).
"""

from __future__ import annotations

from datasette import hookimpl
from markupsafe import Markup

# Colours by status (graph/records.py STATUSES): green is good, red and purple need a person, grey is noise.
STATUS_COLOURS = {
    "managed": "#1a7f37",
    "unmanaged": "#bc4c00",
    "missing": "#cf222e",
    "conflict": "#8250df",
    "child": "#6e7781",
    "default": "#6e7781",
    "ignored": "#6e7781",
    "unknown": "#9a6700",
}

# Where a `status` column holds a resource status: the resources table, its view, and canned query results.
STATUS_TABLES = (None, "resources", "current_resources")


@hookimpl
def render_cell(value, column, table):
    if column == "status" and table in STATUS_TABLES and value in STATUS_COLOURS:
        return Markup(
            '<span class="dg-status dg-status-{status}" style="background:{colour};color:#fff;'
            'border-radius:0.8em;padding:0.1em 0.6em;font-size:0.85em;white-space:nowrap">{status}</span>'
        ).format(status=value, colour=STATUS_COLOURS[value])
    # drill_down values are relative links to another canned query of the same database, built in the SQL
    if column == "drill_down" and table is None and isinstance(value, str) and value.startswith("unmanaged?"):
        return Markup('<a class="dg-drill-down" href="{href}">list</a>').format(href=value)
    return None
