"""Datasette plugin for facets that stay fast at a million resources: the `counted` facet type.

A module of @hookimpl functions, loaded from datasette/plugins by driftgraph/serve.py (plugins_dir). metadata.yaml
asks for it as `facets: [{counted: status}, ...]` on resources and current_resources. A counted facet shows
what a column facet shows (values, counts, links that filter the table), but reads the counts from the summary
the store writes as a scan commits (current_counts, version_counts) while the page's filters are equalities on
columns that summary keeps; for any other filter, or a database whose summary is missing or older than its
latest scan, it counts the rows as Datasette's column facet does, under the facet time limit.
"""

from __future__ import annotations

from datasette import hookimpl
from datasette.database import QueryInterrupted
from datasette.facets import ColumnFacet
from datasette.utils import escape_sqlite, path_with_added_args, path_with_removed_args

# table or view -> (its summary table, the summary's count column)
SUMMARIES = {"current_resources": ("current_counts", "resources"), "resources": ("version_counts", "versions")}
SUMMARY_COLUMNS = {"current_counts": ("account", "region", "type", "service", "status", "team"),
                   "version_counts": ("account", "region", "type", "status")}
SUMMARISED_SCAN = "summaries_of_scan"  # meta: the scan the summaries were written with (graph/store.py)

# query-string arguments that change how rows show, never which rows are counted
PRESENTATION_ARGUMENTS = frozenset({
    "_facet", "_facet_size", "_sort", "_sort_desc", "_next", "_size", "_labels", "_nolabels", "_nocount",
    "_nofacet", "_nosuggest", "_col", "_nocol", "_extra", "_shape", "_json", "_json_infinity", "_trace",
    "_hide_sql", "_timelimit", "_ttl", "_stream", "_dl", "_context",
})


def equality_filters(pairs: list[tuple[str, str]]) -> dict[str, str] | None:
    """The page's filters as {column: value} when every one is `column=value` or `column__exact=value` (one each);
    None when any filter is something else (a search, a range, `_where`, ...), which a summary cannot answer."""
    filters: dict[str, str] = {}
    for key, value in pairs:
        if key.startswith("_facet_") or key in PRESENTATION_ARGUMENTS:
            continue
        if key.startswith("_"):
            return None
        column, _, operation = key.partition("__")
        if operation not in ("", "exact") or column in filters:
            return None
        filters[column] = value
    return filters


class CountedFacet(ColumnFacet):
    """A column facet counted from a summary table when the summary can answer the page exactly."""

    type = "counted"

    async def suggest(self):
        return []  # asked for in metadata only

    async def _summary(self) -> tuple[str, str] | None:
        summary = SUMMARIES.get(self.table)
        if summary is None:
            return None
        db = self.ds.get_database(self.database)
        if not await db.table_exists(summary[0]):
            return None
        fresh = await db.execute(
            "select (select value from meta where key = ?) = cast((select max(id) from scans) as text)",
            [SUMMARISED_SCAN])
        return summary if fresh.rows and fresh.rows[0][0] else None

    async def facet_results(self):
        pairs = self.get_querystring_pairs()
        summary = await self._summary()
        filters = equality_filters(pairs) if summary else None
        size = self.get_facet_size()
        results, timed_out = [], []
        for source_and_config in self.get_configs():
            config = source_and_config["config"]
            column = config.get("column") or config["simple"]
            if filters is not None and {column, *filters} <= set(SUMMARY_COLUMNS[summary[0]]):
                where = "".join(f" and {escape_sqlite(c)} = :f{n}" for n, c in enumerate(filters))
                sql = (f"select {escape_sqlite(column)} as value, sum({summary[1]}) as count from {summary[0]} "
                       f"where {escape_sqlite(column)} is not null{where} group by value "
                       f"order by count desc, value limit {size + 1}")
                params = {f"f{n}": value for n, value in enumerate(filters.values())}
            else:  # what Datasette's column facet counts
                sql = (f"select {escape_sqlite(column)} as value, count(*) as count from ({self.sql}) "
                       f"where {escape_sqlite(column)} is not null group by value "
                       f"order by count desc, value limit {size + 1}")
                params = self.params
            try:
                rows = await self.ds.execute(self.database, sql, params, truncate=False,
                                             custom_time_limit=self.ds.setting("facet_time_limit_ms"))
            except QueryInterrupted:
                timed_out.append(column)
                continue
            results.append({
                "name": column,
                "type": self.type,
                "hideable": source_and_config["source"] != "metadata",
                "toggle_url": self.ds.urls.path(path_with_removed_args(self.request, {"_facet": column})),
                "results": [self._value(column, row["value"], row["count"], pairs) for row in rows.rows[:size]],
                "truncated": len(rows.rows) > size,
            })
        return results, timed_out

    def _value(self, column: str, value, count: int, pairs: list[tuple[str, str]]) -> dict:
        selected = (column, str(value)) in pairs
        toggle = (path_with_removed_args(self.request, {column: str(value)}) if selected
                  else path_with_added_args(self.request, {column: value}))
        return {"value": value, "label": value, "count": count, "selected": selected,
                "toggle_url": self.ds.absolute_url(self.request, self.ds.urls.path(toggle))}


@hookimpl
def register_facet_classes():
    return [CountedFacet]
