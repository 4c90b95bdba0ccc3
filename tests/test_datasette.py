"""Datasette over the fixture graph: every canned query in datasette/metadata.yaml runs and returns what it should,
every table and column is described, the plugin renders, and the database is served read-only."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from urllib.parse import urlencode

import pytest
import yaml

import driftgraph.serve as serve_module
from driftgraph.serve import CONFIG_DIR, database_name, datasette_metadata, make_app, serve
from graph.store import TABLES, VIEWS
from graph_fixture import (
    ARTIFACTS_BUCKET,
    BASIC_EXECUTION_ATTACHMENT,
    CI_ROLE,
    LEGACY_QUEUE,
    LEGACY_TFSTATE,
    ORDER_EVENTS_TOPIC,
    ORDERS_FUNCTION,
    ORDERS_QUEUE,
    ORDERS_ROLE,
    ORDERS_STACK,
    PAYMENTS_DLQ,
    SHARED_STACK,
    TFSTATE,
    UPLOADS_BUCKET,
    build_fixture_db,
)

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
    assert set(by_name) == {"orders-stack", "orders-stack-ApiNestedStack-1Q2W3E4R5T6Y", "shared-infra"}
    orders = by_name["orders-stack"]
    assert (orders["framework"], orders["owned_in_graph"], orders["drifted_attributes"], orders["imports"]) == (
        "cdk-v2", 2, 1, 1
    )
    assert by_name["orders-stack-ApiNestedStack-1Q2W3E4R5T6Y"]["parent"] == "orders-stack"
    shared = by_name["shared-infra"]
    assert (shared["owned_in_graph"], shared["exports"], shared["imports"], shared["parent"]) == (1, 1, 0, None)


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
    import sqlite3

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
    assert "Every resource seen by any source in a scan" in table_page.text
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


# ------------------------------------------------------------------------------------------------ read-only


def test_database_is_served_immutable_and_refuses_writes(fixture_db, monkeypatch):
    before = hashlib.sha256(fixture_db.read_bytes()).hexdigest()

    databases, arbitrary_write = fetch(
        fixture_db, "/-/databases.json", f"/{DB_NAME}.json?sql=delete+from+resources"
    )
    assert [(d["name"], d["is_mutable"]) for d in databases.json()] == [(DB_NAME, False)]
    assert arbitrary_write.status_code == 400
    assert "Statement must be a SELECT" in arbitrary_write.json()["error"]

    # even a canned query marked as a write is refused: the file is opened immutable
    metadata = datasette_metadata(fixture_db)
    metadata["databases"][DB_NAME]["queries"]["wipe"] = {"sql": "delete from resources", "write": True}
    monkeypatch.setattr(serve_module, "datasette_metadata", lambda path: metadata)
    ds = serve_module.make_app(fixture_db)

    async def post():
        return await ds.client.post(f"/{DB_NAME}/wipe", data={})

    refused = asyncio.run(post())
    assert refused.status_code == 403
    assert "Database is immutable" in refused.text

    assert hashlib.sha256(fixture_db.read_bytes()).hexdigest() == before
    assert len(query_rows(fixture_db, "unmanaged")) == 4


def test_missing_database_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such database"):
        make_app(tmp_path / "nope.db")
    with pytest.raises(FileNotFoundError, match="no such database"):
        serve(tmp_path / "nope.db")
