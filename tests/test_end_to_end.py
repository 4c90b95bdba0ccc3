"""The acceptance path on the demo estate: `driftgraph scan` and `driftgraph report` against moto in server mode."""

from __future__ import annotations

from conftest import run_cli

from driftgraph.demo_estate import PLANTED_SECRETS
from graph.records import STATUSES


def _find(report, key):
    """A resource by ARN, id, natural name or ARN tail, as the estate recorded it."""
    for resource in report["resources"]:
        if key in (resource["id"], resource["arn"], resource["name"]):
            return resource
    for resource in report["resources"]:
        if (resource["arn"] or "").endswith(("/" + key, ":" + key)):
            return resource
    raise AssertionError(f"{key} is not in the report")


def test_the_report_follows_the_contract(estate_scan):
    report = estate_scan["report"]
    assert report["schema"] == "driftgraph/report/1"
    assert set(report) >= {"schema", "scan", "summary", "resources", "stacks", "errors"}
    assert report["scan"]["status"] == "complete" and report["scan"]["regions"] == ["us-east-1", "eu-west-1"]
    assert set(report["summary"]["by_status"]) == set(STATUSES)
    assert report["summary"]["resources"] == len(report["resources"])
    for resource in report["resources"]:
        assert set(resource) >= {"id", "arn", "type", "account", "region", "name", "status", "reason", "owners", "drift"}
        assert resource["status"] in STATUSES and resource["reason"]
        for owner in resource["owners"]:
            assert set(owner) == {"tool", "source", "address", "framework", "construct_path"}
            assert owner["tool"] in ("terraform", "cloudformation")
    assert {s["name"] for s in report["stacks"]} >= {"payments-network", "orders-service", "legacy-reports", "CDKToolkit"}


def test_every_planted_resource_has_its_status(estate_scan):
    report, estate = estate_scan["report"], estate_scan["estate"]
    wrong = {key: (_find(report, key)["status"], want) for key, want in estate.expected.items()
             if _find(report, key)["status"] != want}
    assert not wrong, wrong


def test_hand_made_resources_and_only_they_are_unmanaged(estate_scan):
    report, estate = estate_scan["report"], estate_scan["estate"]
    unmanaged = {r["id"] for r in report["resources"] if r["status"] == "unmanaged"}
    planted = {_find(report, k)["id"] for k, v in estate.expected.items() if v == "unmanaged"}
    assert unmanaged == planted


def test_owners_name_the_state_file_address_and_stack(estate_scan):
    report = estate_scan["report"]
    instance = _find(report, "platform-app-1")
    assert instance["owners"] == [{"tool": "terraform", "source": str(estate_scan["workdir"] / "terraform" / "platform" / "terraform.tfstate"),
                                   "address": "aws_instance.app[1]", "framework": "terraform", "construct_path": None}]
    subnet = _find(report, "platform-private-b")
    assert subnet["owners"][0]["address"] == 'module.network.aws_subnet.private["b"]'
    queue = _find(report, "orders-queue")
    assert queue["owners"][0]["tool"] == "cloudformation" and queue["owners"][0]["address"].startswith("OrdersQueue")
    conflict = _find(report, "driftgraph-demo-payments-artifacts")
    assert {o["tool"] for o in conflict["owners"]} == {"terraform", "cloudformation"}
    replica = _find(report, "platform-replica")
    assert replica["region"] == "eu-west-1" and replica["status"] == "managed"
    ghost = _find(report, "platform-legacy-jobs")
    assert ghost["arn"] == "arn:aws:sqs:us-east-1:123456789012:platform-legacy-jobs"


def test_drift_is_exactly_what_was_planted(estate_scan):
    report = estate_scan["report"]
    found = {(r["name"], d["attribute"], str(d["declared"]), str(d["live"])) for r in report["resources"] for d in r["drift"]}
    assert {(n, a) for n, a, _, _ in found} == {
        ("platform-app-1", "instance_type"),
        ("platform-app", "ingress"),
        ("platform-jobs", "visibility_timeout"),
        ("payments-events", "visibility_timeout"),
    }
    assert ("platform-app-1", "instance_type", "t3.micro", "t3.large") in found
    assert ("payments-events", "visibility_timeout", "45", "300") in found


def test_no_planted_secret_reaches_the_database_reports_or_logs(estate_scan):
    places = {
        "database": estate_scan["db"].read_bytes().decode("latin-1"),
        "json report": str(estate_scan["report"]),
        "markdown report": estate_scan["markdown"],
        "scan log": estate_scan["scan"].stdout + estate_scan["scan"].stderr,
    }
    for secret in PLANTED_SECRETS:
        for place, text in places.items():
            assert secret not in text, f"{secret} leaked into the {place}"


def test_fail_on_gives_a_ci_exit_code(estate_scan):
    db = str(estate_scan["db"])
    assert run_cli(["report", "--db", db, "--format", "json", "--fail-on", "unmanaged"], estate_scan["endpoint"], check=False).returncode == 3
    assert run_cli(["report", "--db", db, "--format", "json", "--fail-on", "drift"], estate_scan["endpoint"], check=False).returncode == 3
    assert run_cli(["report", "--db", db, "--format", "json", "--fail-on", "unknown"], estate_scan["endpoint"], check=False).returncode == 0


def test_markdown_report_lists_what_a_reader_acts_on(estate_scan):
    text = estate_scan["markdown"]
    assert "## Unmanaged (13)" in text and "bastion-by-hand" in text
    assert "## Missing (2)" in text and "## Conflicts (1)" in text and "## Drift (4 resources)" in text


def test_every_canned_query_runs_on_a_real_scan(estate_scan):
    """The Datasette queries against the demo estate's database, not only the hand-made fixture."""
    import asyncio

    from driftgraph.serve import datasette_metadata, make_app

    db = estate_scan["db"]
    app = make_app(db)
    queries = datasette_metadata(db)["databases"][db.stem]["queries"]

    async def fetch_all():
        answers = {}
        for name, query in queries.items():
            params = "&id=" + _find(estate_scan["report"], "platform-jobs")["id"] if name == "resource" else ""
            response = await app.client.get(f"/{db.stem}/{name}.json?_shape=array{params}")
            answers[name] = (response.status_code, response.json())
        return answers

    answers = asyncio.run(fetch_all())
    assert all(status == 200 for status, _ in answers.values()), {k: v for k, v in answers.items() if v[0] != 200}
    assert sum(row["unmanaged"] for row in answers["unmanaged_counts"][1]) == 13
    all_services = answers["coverage_by_service"][1][0]
    assert all_services["service"] == "(all services)"
    assert all_services["percent_managed"] == estate_scan["report"]["summary"]["managed_percent"]
    assert {row["name"] for row in answers["missing"][1]} == {"platform-legacy-jobs", "platform-old-images"}
    assert {row["attribute"] for row in answers["drifted_attributes"][1]} == {"instance_type", "ingress", "visibility_timeout"}
    assert any(row.get("value") == "visibility_timeout" or "visibility_timeout" in str(row) for row in answers["resource"][1])


def test_the_scan_ends_with_one_line_naming_what_needs_a_person(estate_scan):
    report = estate_scan["report"]
    counts, summary = report["summary"]["by_status"], report["summary"]
    (line,) = estate_scan["scan"].stdout.strip().splitlines()
    assert line.startswith(f"scan {report['scan']['id']} complete: {summary['resources']} resources (")
    assert (f"({counts['unmanaged']} unmanaged, {counts['missing']} missing, {summary['drifted_resources']} drifted, "
            f"{counts['conflict']} in conflict, {counts['unknown']} unknown)") in line
