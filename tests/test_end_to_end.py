"""The acceptance path on the demo estate: `driftgraph scan` and `driftgraph report` against moto in server mode."""

from __future__ import annotations

import json
import sqlite3

from conftest import run_cli

from driftgraph.demo_estate import DEMO_STACKS, FIXTURES, PLANTED_SECRETS
from graph.records import STATUSES
from importers.cfn_template import load_template


def _find(report, key):
    """A resource by ARN, id, natural name or ARN tail, as the estate recorded it."""
    for resource in report["resources"]:
        if key in (resource["id"], resource["arn"], resource["name"]):
            return resource
    for resource in report["resources"]:
        if (resource["arn"] or "").endswith(("/" + key, ":" + key)):
            return resource
    raise AssertionError(f"{key} is not in the report")


def _owned_by(report, stack_name):
    """The resources a deployed stack owns, as {(type, logical id): resource}."""
    return {(r["type"], o["address"]): r for r in report["resources"] for o in r["owners"]
            if o["tool"] == "cloudformation" and o["source"].split("/")[1:2] == [stack_name]}


def _template(relative_path):
    return load_template((FIXTURES / relative_path).read_text(), relative_path)


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


def test_every_demo_stack_is_deployed_and_read(estate_scan):
    stacks = {s["name"]: s["status"] for s in estate_scan["report"]["stacks"]}
    assert stacks == {stack.name: "CREATE_COMPLETE" for stack in DEMO_STACKS}


def test_every_stack_is_deployed_after_the_stacks_whose_exports_it_imports(estate_scan):
    with sqlite3.connect(estate_scan["db"]) as db:
        edges = set(db.execute(
            "select importer.name, exporter.name, i.export_name from stack_imports i "
            "join stacks importer on importer.id = i.stack_id and importer.scan_id = i.scan_id "
            "join stacks exporter on exporter.id = i.exporting_stack_id and exporter.scan_id = i.scan_id"))
    order = [stack.name for stack in DEMO_STACKS]
    assert all(order.index(exporter) < order.index(importer) for importer, exporter, _ in edges)
    # the CDK v1 app's chain, by an export name in the code and by one CDK made for a construct passed across
    assert {(i, e) for i, e, _ in edges} >= {("legacy-ingest", "legacy-platform"), ("legacy-analytics", "legacy-ingest"),
                                             ("legacy-audit", "legacy-platform"), ("legacy-reports", "orders-service")}
    assert {n for i, e, n in edges if (i, e) == ("legacy-ingest", "legacy-platform")} == {
        "legacy-platform-events-arn", "legacy-platform:ExportsOutputFnGetAttArchiveBucket9DECBF5DArn0B88E833"}
    manifest = json.loads((FIXTURES / "cdk" / "v1-multi" / "cdk.out" / "manifest.json").read_text())
    assert {name: artifact.get("dependencies") for name, artifact in manifest["artifacts"].items()
            if artifact["type"] == "aws:cloudformation:stack"} == {
        "legacy-platform": None, "legacy-ingest": ["legacy-platform"], "legacy-analytics": ["legacy-ingest"]}


def test_the_cdk_bootstrap_stack_is_the_real_template_and_shows_no_false_status(estate_scan):
    template = _template("cdk/bootstrap/bootstrap-template.yaml")
    # the whole template `cdk bootstrap --show-template` prints, not a subset
    assert template["Parameters"]["Qualifier"]["Default"] == "hnb659fds" and "Conditions" in template
    assert template["Resources"]["CdkBootstrapVersion"]["Properties"]["Value"] == template["Outputs"]["BootstrapVersion"]["Value"]
    assert template["Resources"]["FileAssetsBucketEncryptionKey"]["Condition"] == "CreateNewKey"
    owned = _owned_by(estate_scan["report"], "CDKToolkit")
    assert {key: r["status"] for key, r in owned.items()} == {
        ("AWS::CloudFormation::Stack", "CDKToolkit"): "managed",
        ("AWS::S3::Bucket", "StagingBucket"): "managed",
        ("AWS::ECR::Repository", "ContainerAssetsRepository"): "managed",
        ("AWS::IAM::Role", "FilePublishingRole"): "managed",
        ("AWS::IAM::Role", "ImagePublishingRole"): "managed",
        ("AWS::IAM::Role", "LookupRole"): "managed",
        ("AWS::IAM::Role", "DeploymentActionRole"): "managed",
        ("AWS::IAM::Role", "CloudFormationExecutionRole"): "managed",
        ("AWS::IAM::Policy", "FilePublishingRoleDefaultPolicy"): "child",
        ("AWS::IAM::Policy", "ImagePublishingRoleDefaultPolicy"): "child",
        ("AWS::SSM::Parameter", "CdkBootstrapVersion"): "managed",
    }
    assert _find(estate_scan["report"], "cdk-hnb659fds-assets-123456789012-us-east-1")["owners"][0]["address"] == "StagingBucket"
    assert not [(key, r["drift"]) for key, r in owned.items() if r["drift"]]
    # the KMS key, its alias and the permissions boundary are left out by the default parameters: nothing to miss
    assert not [r["name"] for r in estate_scan["report"]["resources"]
                if "hnb659fds" in (r["name"] or "") and r["status"] in ("unmanaged", "missing", "conflict", "unknown")]


def test_the_cdk_v1_stacks_are_deployed_and_wholly_managed(estate_scan):
    report = estate_scan["report"]
    expected = {
        "legacy-platform": {"AWS::S3::Bucket", "AWS::SNS::Topic"},
        "legacy-ingest": {"AWS::SQS::Queue", "AWS::IAM::Role", "AWS::IAM::Policy"},
        "legacy-analytics": {"AWS::IAM::Role", "AWS::IAM::Policy", "AWS::SSM::Parameter"},
        "legacy-audit": {"AWS::SQS::Queue", "AWS::SNS::Topic", "AWS::IAM::Role", "AWS::IAM::Policy", "AWS::SSM::Parameter"},
    }
    for stack, types in expected.items():
        owned = _owned_by(report, stack)
        assert {kind for kind, _ in owned} == types | {"AWS::CloudFormation::Stack"}, stack
        assert all(r["status"] == ("child" if kind == "AWS::IAM::Policy" else "managed") for (kind, _), r in owned.items()), stack
        assert not [r["name"] for r in owned.values() if r["drift"]], stack
    assert _find(report, "/legacy-audit/platform-events-topic-arn")["status"] == "managed"


def test_the_v1_stack_without_version_reporting_is_still_cdk_output(estate_scan):
    resources = _template("cdk/v1-no-version-reporting/cdk.out/legacy-audit.template.json")["Resources"]
    assert "AWS::CDK::Metadata" not in {r["Type"] for r in resources.values()}
    assert all(r["Metadata"]["aws:cdk:path"].startswith("legacy-audit/") for r in resources.values())
    tree = json.loads((FIXTURES / "cdk" / "v1-no-version-reporting" / "cdk.out" / "tree.json").read_text())
    assert tree["tree"]["children"]["legacy-audit"]["constructInfo"] == {"fqn": "@aws-cdk/core.Stack", "version": "1.204.0"}
    for path in ("cdk/v1-multi/cdk.out/legacy-platform.template.json", "cdk/v1/cdk.out/legacy-reports.template.json"):
        assert _template(path)["Resources"]["CDKMetadata"]["Type"] == "AWS::CDK::Metadata"  # the others report


def test_the_sam_stack_has_no_false_missing_or_unmanaged(estate_scan):
    """moto keeps a SAM stack and its template but makes none of its AWS::Serverless resources (nor their
    expansion): what it lists of them is blank rows. The plain resource beside them is made and managed."""
    report = estate_scan["report"]
    template = _template("sam/visit-counter.yaml")
    assert template["Transform"] == "AWS::Serverless-2016-10-31"
    owned = _owned_by(report, "visit-counter")
    assert {key: r["status"] for key, r in owned.items()} == {
        ("AWS::CloudFormation::Stack", "visit-counter"): "managed", ("AWS::SNS::Topic", "AlertsTopic"): "managed"}
    assert not [r["name"] for r in report["resources"] if (r["name"] or "").startswith("sam-")
                and r["status"] in ("unmanaged", "missing", "unknown")]
    warnings = [e["message"] for e in report["errors"] if e["source"] == "visit-counter"]
    assert warnings == ["template still declares Transform AWS::Serverless-2016-10-31: "
                        "resources it expands have no declared attributes"]
