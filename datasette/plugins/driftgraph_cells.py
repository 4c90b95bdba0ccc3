"""Datasette plugin for how driftgraph values show: a status as a coloured badge, a resource id as a link to its
page, a stack ARN as a link to the `stack` query, a scan number as a link to its row, a drill_down as a link.

A module of @hookimpl functions, loaded from datasette/plugins by driftgraph/serve.py (plugins_dir). The same
link and badge builders reach our templates as `resource_url`, `stack_url`, `scan_url`, `status_badge` and
`chart_colour` (Datasette loads each plugin file as its own module, so the pages plugin cannot import them).
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

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

# Lines of the dashboard's trend charts: a status in its badge's colour, drift in blue.
CHART_COLOURS = {**STATUS_COLOURS, "managed_percent": STATUS_COLOURS["managed"], "drifted": "#0969da"}

# Where a `status` column holds a resource status: the resources table, its views, and canned query results.
STATUS_TABLES = (None, "resources", "current_resources", "scan_resources")

RESOURCE_PAGE = "-/resource"  # under the database: /DB/-/resource?id=ID (an id holds / and :, so a parameter)
STACK_QUERY = "stack"  # the canned query that shows one stack, by name or ARN

# Columns that hold a resource id wherever they stand; import_group is named by its first member's id.
RESOURCE_ID_COLUMNS = frozenset({"resource_id", "source_id", "target_id", "import_group"})
# Columns that hold a stack ARN wherever they stand.
STACK_ID_COLUMNS = frozenset({"stack_id", "depends_on", "exporting_stack_id", "parent_id", "root_id"})
# Columns that may hold a stack ARN among other things (a state file path, a template path).
SOURCE_COLUMNS = frozenset({"source", "path"})
# Columns that hold a scan number (scans.id); tables with a foreign key get Datasette's own link instead.
SCAN_COLUMNS = frozenset({"scan_id", "from_scan", "until_scan", "first_seen", "status_since"})
# Tables and views whose `id` is a resource id, and those whose `id` is a stack ARN.
RESOURCE_TABLES = frozenset({"resources", "current_resources", "scan_resources"})
STACK_TABLES = frozenset({"stacks", "current_stacks"})

STACK_ARN = re.compile(r"arn:aws[a-z-]*:cloudformation:[a-z0-9-]+:\d{12}:stack/[^/]+/\S+")


def resource_url(datasette, database: str, resource_id: str) -> str:
    return f"{datasette.urls.database(database)}/{RESOURCE_PAGE}?{urlencode({'id': resource_id})}"


def stack_url(datasette, database: str, stack: str) -> str:
    return f"{datasette.urls.query(database, STACK_QUERY)}?{urlencode({'name': stack})}"


def scan_url(datasette, database: str, scan_id: int) -> str:
    return datasette.urls.row(database, "scans", str(int(scan_id)))


def status_badge(status: str) -> Markup:
    colour = STATUS_COLOURS.get(status, "#6e7781")
    return Markup(
        '<span class="dg-status dg-status-{status}" style="background:{colour};color:#fff;'
        'border-radius:0.8em;padding:0.1em 0.6em;font-size:0.85em;white-space:nowrap">{status}</span>'
    ).format(status=status, colour=colour)


def link(href: str, text, css_class: str) -> Markup:
    return Markup('<a class="{css_class}" href="{href}">{text}</a>').format(css_class=css_class, href=href, text=text)


def is_stack_arn(value) -> bool:
    return isinstance(value, str) and STACK_ARN.fullmatch(value) is not None


def _field(row, name: str):
    """A column of a result row, None when the row has no such column."""
    try:
        return row[name]
    except (IndexError, KeyError, TypeError):
        return None


def _link_for(row, value, column: str, table: str | None, database: str, datasette) -> Markup | None:
    # a foreign key Datasette expanded arrives as {"value", "label"} and gets Datasette's own link
    if value in (None, "") or isinstance(value, (dict, bytes, float)):
        return None
    if column in SCAN_COLUMNS:
        return link(scan_url(datasette, database, value), value, "dg-scan-link") if isinstance(value, int) else None
    if column == "version" and table is not None:
        # a view's version (the tables link it themselves, as their key or a foreign key)
        return link(datasette.urls.row(database, "resources", str(value)), value, "dg-version-link") \
            if isinstance(value, int) else None
    if not isinstance(value, str):
        return None
    if column in RESOURCE_ID_COLUMNS:
        return link(resource_url(datasette, database, value), value, "dg-resource-link")
    if column in STACK_ID_COLUMNS or (column in SOURCE_COLUMNS and is_stack_arn(value)):
        return link(stack_url(datasette, database, value), value, "dg-stack-link")
    if column == "id":
        if table in STACK_TABLES or (table is None and is_stack_arn(value)):
            return link(stack_url(datasette, database, value), value, "dg-stack-link")
        if table in RESOURCE_TABLES or table is None:
            return link(resource_url(datasette, database, value), value, "dg-resource-link")
        return None
    if table is None:
        # the rows of the `resource` and `stack` queries: the other end of an edge, the other stack
        section = _field(row, "section")
        if column == "value" and section in ("edge out", "edge in"):
            return link(resource_url(datasette, database, value), value, "dg-resource-link")
        if column == "detail" and section in ("depends on", "needed by"):
            return link(stack_url(datasette, database, value), value, "dg-stack-link")
    return None


@hookimpl
def render_cell(row, value, column, table, database, datasette):
    if column == "status" and table in STATUS_TABLES and value in STATUS_COLOURS:
        return status_badge(value)
    # drill_down values are relative links to another canned query of the same database, built in the SQL
    if column == "drill_down" and table is None and isinstance(value, str) and value.startswith("unmanaged?"):
        return Markup('<a class="dg-drill-down" href="{href}">list</a>').format(href=value)
    return _link_for(row, value, column, table, database, datasette)


@hookimpl
def extra_template_vars(database, datasette):
    """The link and badge builders, for our templates (the dashboard and the resource page)."""
    if not database:
        return {}
    return {
        "resource_url": lambda resource_id: resource_url(datasette, database, resource_id),
        "stack_url": lambda stack: stack_url(datasette, database, stack),
        "scan_url": lambda scan_id: scan_url(datasette, database, scan_id),
        "status_badge": status_badge,
        "chart_colour": lambda key: CHART_COLOURS.get(key, "#57606a"),
        "is_stack_arn": is_stack_arn,
    }
