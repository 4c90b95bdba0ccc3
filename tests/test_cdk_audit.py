"""`driftgraph cdk-audit` on the demo estate (really synthesized CDK v1 and v2 apps, the real bootstrap template, SAM,
plain CloudFormation, deployed in moto): every stack's origin, owners carrying it, waves that respect imports,
the blockers of each v1 stack; and the self-contained HTML page in headless Chromium."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_cli
from graph.cdk_audit import _alpha_modules, modern_bootstraps

# what each demo stack was made with, from fixtures/ (the CDK CLIs and libraries that synthesized them, the tools
# that wrote the others): not from the detector's output
MADE_WITH = {
    "payments-network": ("cloudformation", None),
    "CDKToolkit": ("cdk-bootstrap", None),
    "orders-service": ("cdk-v2", "2.275.0"),
    "legacy-reports": ("cdk-v1", "1.204.0"),
    "legacy-platform": ("cdk-v1", "1.204.0"),
    "legacy-ingest": ("cdk-v1", "1.204.0"),
    "legacy-analytics": ("cdk-v1", "1.204.0"),
    # synthesized by CDK v1 with version reporting off: no CDKMetadata, so only its cloud assembly's tree.json
    # (given with --cdk-out) proves v1; without it the stack is `cdk` (see test_without_its_assembly...)
    "legacy-audit": ("cdk-v1", "1.204.0"),
    "visit-counter": ("sam", None),
}


@pytest.fixture(scope="module")
def audit(estate_scan):
    result = run_cli(["cdk-audit", "--db", str(estate_scan["db"]), "--format", "json"], estate_scan["endpoint"])
    return json.loads(result.stdout)


def test_every_stack_gets_the_framework_and_version_it_was_made_with(audit):
    assert audit["schema"] == "driftgraph/cdk-audit/1"
    got = {s["name"]: (s["framework"], s["cdk_version"]) for s in audit["stacks"]}
    assert got == MADE_WITH
    assert audit["summary"]["v1_stacks"] == 5 and audit["summary"]["stacks"] == len(MADE_WITH)
    by_name = {s["name"]: s for s in audit["stacks"]}
    for stack in audit["stacks"]:
        assert stack["evidence"], f"{stack['name']}: a framework without evidence cannot be explained"
        assert set(stack) >= {"id", "name", "account", "region", "framework", "cdk_version", "synthesizer", "evidence",
                              "modules", "depends_on", "dependents", "wave", "resources", "drifted_resources",
                              "in_assembly"}
    assert by_name["orders-service"]["synthesizer"] == "default" and by_name["legacy-reports"]["synthesizer"] == "legacy"
    assert any("aws:cdk:path" in fact for fact in by_name["legacy-audit"]["evidence"])
    assert any("tree.json" in fact for fact in by_name["legacy-audit"]["evidence"])
    assert "@aws-cdk/core@1.204.0" in by_name["legacy-platform"]["modules"]


def test_every_stack_resource_s_owner_carries_the_stack_s_framework_and_construct_path(estate_scan, audit):
    frameworks = {s["id"]: s["framework"] for s in audit["stacks"]}
    owners = [o for r in estate_scan["report"]["resources"] for o in r["owners"] if o["tool"] == "cloudformation"
              and o["source"] in frameworks]
    assert owners
    assert all(o["framework"] == frameworks[o["source"]] for o in owners)
    cdk_paths = {o["construct_path"] for o in owners if frameworks[o["source"]] in ("cdk-v1", "cdk-v2", "cdk")}
    assert "legacy-reports/JobsQueue/Resource" in cdk_paths
    assert all(o["construct_path"] is None for o in owners if frameworks[o["source"]] == "cloudformation")


def test_waves_put_every_stack_after_the_stacks_it_imports_from(audit):
    wave = {s["id"]: s["wave"] for s in audit["stacks"]}
    names = {s["id"]: s["name"] for s in audit["stacks"]}
    edges = [(s["id"], d["stack"], d["via"]) for s in audit["stacks"] for d in s["depends_on"] if d["stack"]]
    assert any(via.startswith("export ") for _, _, via in edges)
    for stack, needed, via in edges:
        assert wave[stack] > wave[needed], (names[stack], names[needed], via)
    assert [sorted(names[x] for x in w) for w in audit["waves"]] == [
        ["CDKToolkit", "legacy-platform", "payments-network", "visit-counter"],
        ["legacy-audit", "legacy-ingest", "orders-service"],
        ["legacy-analytics", "legacy-reports"],
    ]
    assert audit["cycles"] == []
    # the stacks that break if legacy-platform's exports change, through legacy-ingest too
    platform = next(s for s in audit["stacks"] if s["name"] == "legacy-platform")
    assert sorted(names[x] for x in platform["blast_radius"]) == ["legacy-analytics", "legacy-audit", "legacy-ingest"]


def test_each_v1_stack_says_what_blocks_it(audit):
    by_name = {s["name"]: s for s in audit["stacks"]}
    platform = {b["kind"]: b for b in by_name["legacy-platform"]["blockers"]}
    assert set(platform) == {"exports-imported", "legacy-synthesizer"}
    assert set(platform["exports-imported"]["detail"]["legacy-platform-events-arn"]) == {
        by_name["legacy-ingest"]["id"], by_name["legacy-audit"]["id"]}
    assert "found" in platform["legacy-synthesizer"]["detail"]  # the real bootstrap stack is deployed there
    assert {b["kind"] for b in by_name["legacy-analytics"]["blockers"]} == {"legacy-synthesizer"}  # nothing imports it
    assert all(not s["blockers"] for s in audit["stacks"] if s["framework"] != "cdk-v1")


def test_the_given_assemblies_are_matched_to_their_deployed_stacks(estate_scan, audit):
    """The demo scan reads the four cdk.out folders of the apps it deployed: each synthesized stack is found
    deployed, the manifest's dependencies join the graph, and no deployed CDK stack is an orphan."""
    by_name = {s["name"]: s for s in audit["stacks"]}
    cdk = {n for n, s in by_name.items() if s["framework"].startswith("cdk") and s["framework"] != "cdk-bootstrap"}
    assert {n: by_name[n]["in_assembly"] for n in cdk} == {n: True for n in cdk}
    assert {n: s["in_assembly"] for n, s in by_name.items() if n not in cdk} == {n: None for n in by_name if n not in cdk}
    assembled = audit["assemblies"]
    assert sorted((a["stack_name"], a["status"]) for a in assembled["stacks"]) == [
        ("legacy-analytics", "deployed"), ("legacy-audit", "deployed"), ("legacy-ingest", "deployed"),
        ("legacy-platform", "deployed"), ("legacy-reports", "deployed"), ("orders-service", "deployed")]
    assert assembled["orphans"] == [] and assembled["resource_diffs"] == []
    manifest = {(by_id(audit)[s["id"]], by_id(audit)[d["stack"]]) for s in audit["stacks"] for d in s["depends_on"]
                if d["via"] == "manifest"}
    assert manifest == {("legacy-ingest", "legacy-platform"), ("legacy-analytics", "legacy-ingest")}


def by_id(audit):
    return {s["id"]: s["name"] for s in audit["stacks"]}


def test_without_its_assembly_a_stack_lacking_cdk_metadata_is_cdk_and_the_others_are_orphans(estate_scan, tmp_path):
    """Only the v1 chain's assembly given, plus one synthesized stack nobody deployed: the other deployed CDK stacks
    are orphans, the undeployed one says so, and legacy-audit (no CDKMetadata, no assembly) is CDK, version unproven."""
    import shutil

    from driftgraph.demo_estate import FIXTURES

    renamed = tmp_path / "next" / "cdk.out"
    shutil.copytree(FIXTURES / "cdk" / "v2" / "cdk.out", renamed)
    manifest = json.loads((renamed / "manifest.json").read_text())
    manifest["artifacts"]["orders-service"]["properties"]["stackName"] = "orders-service-next"
    (renamed / "manifest.json").write_text(json.dumps(manifest))
    db = tmp_path / "partial.db"
    run_cli(["scan", "--db", str(db), "--region", "us-east-1", "--type", "AWS::CloudFormation::Stack",
             "--type", "AWS::SQS::Queue", "--cdk-out", str(FIXTURES / "cdk" / "v1-multi" / "cdk.out"),
             "--cdk-out", str(renamed)], estate_scan["endpoint"])
    audit = json.loads(run_cli(["cdk-audit", "--db", str(db), "--format", "json"], estate_scan["endpoint"]).stdout)
    names = by_id(audit)
    assert sorted(names[x] for x in audit["assemblies"]["orphans"]) == ["legacy-audit", "legacy-reports", "orders-service"]
    assert {(a["stack_name"], a["status"]) for a in audit["assemblies"]["stacks"]} >= {("orders-service-next", "not_deployed")}
    legacy_audit = next(s for s in audit["stacks"] if s["name"] == "legacy-audit")
    assert (legacy_audit["framework"], legacy_audit["in_assembly"]) == ("cdk", False)
    markdown = run_cli(["cdk-audit", "--db", str(db)], estate_scan["endpoint"]).stdout
    assert "## Cloud assemblies" in markdown and "Deployed CDK stacks no given assembly holds" in markdown


def test_modules_whose_v2_home_is_an_alpha_package_block_but_their_l1_classes_do_not():
    assert _alpha_modules(["@aws-cdk/aws-glue.Table@1.204.0", "@aws-cdk/aws-s3.Bucket@1.204.0"]) == ["aws-glue"]
    assert _alpha_modules(["@aws-cdk/aws-glue.CfnTable@1.204.0", "aws-cdk-lib.aws_glue.CfnTable@2.0.0"]) == []
    assert _alpha_modules(["@aws-cdk/aws-lambda-python@1.204.0"]) == ["aws-lambda-python"]


def test_markdown_and_fail_on(estate_scan):
    db, endpoint = str(estate_scan["db"]), estate_scan["endpoint"]
    markdown = run_cli(["cdk-audit", "--db", db], endpoint).stdout
    assert "## CDK v1 stacks: what blocks each" in markdown and "### legacy-platform (wave 0" in markdown
    failing = run_cli(["cdk-audit", "--db", db, "--fail-on", "v1", "--format", "json"], endpoint, check=False)
    assert failing.returncode == 3 and "found: v1" in failing.stderr
    assert run_cli(["cdk-audit", "--db", db, "--fail-on", "cycles"], endpoint, check=False).returncode == 0
    typo = run_cli(["cdk-audit", "--db", db, "--fail-on", "v2"], endpoint, check=False)
    assert typo.returncode == 2 and "unknown: v2" in typo.stderr


@pytest.mark.browser
def test_the_html_page_opens_offline_in_chromium_without_console_errors(estate_scan, tmp_path):
    from test_browser import CHROMIUM, CHROMIUM_ARGS

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    page_path = tmp_path / "cdk-audit.html"
    run_cli(["cdk-audit", "--db", str(estate_scan["db"]), "--format", "html", "-o", str(page_path)],
            estate_scan["endpoint"])
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            problems, requests = [], []
            page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(page_path.as_uri())
            assert page.locator("h1").inner_text().startswith("CDK audit")
            assert page.locator("tr.v1").count() == 5
            waves = page.locator("ol li").all_inner_texts()
            assert len(waves) == 3 and "legacy-platform" in waves[0] and "legacy-analytics" in waves[2]
            assert problems == []
            assert requests == [page_path.as_uri()]  # self-contained: nothing else fetched
        finally:
            browser.close()


def test_an_assembly_is_never_called_not_deployed_where_the_deployed_stacks_are_unknown(estate_scan, tmp_path):
    """--no-stacks: nothing is known of what is deployed, so no synthesized stack is `not_deployed` (and none
    of its resources turns into a declaration that could read as missing)."""
    from driftgraph.demo_estate import FIXTURES

    db = tmp_path / "nostacks.db"
    run_cli(["scan", "--db", str(db), "--region", "us-east-1", "--no-stacks", "--type", "AWS::SQS::Queue",
             "--cdk-out", str(FIXTURES / "cdk" / "v1-multi" / "cdk.out")], estate_scan["endpoint"])
    audit = json.loads(run_cli(["cdk-audit", "--db", str(db), "--format", "json"], estate_scan["endpoint"]).stdout)
    assert {a["status"] for a in audit["assemblies"]["stacks"]} == {"not_scanned"}
    report = json.loads(run_cli(["report", "--db", str(db), "--format", "json"], estate_scan["endpoint"]).stdout)
    assert report["summary"]["by_status"]["missing"] == 0


def test_template_files_carry_their_framework_to_their_source_row_owners_and_the_audit(estate_scan, tmp_path):
    from driftgraph.demo_estate import FIXTURES

    db = tmp_path / "files.db"
    templates = {"v2": FIXTURES / "cdk" / "v2" / "cdk.out" / "orders-service.template.json",
                 "sam": FIXTURES / "sam" / "visit-counter.yaml",
                 "plain": FIXTURES / "cfn" / "payments-network.yaml"}
    run_cli(["scan", "--db", str(db), "--region", "us-east-1", "--no-stacks", "--type", "AWS::SQS::Queue",
             *[a for path in templates.values() for a in ("--cfn-template", f"{path}@us-east-1")]], estate_scan["endpoint"])
    audit = json.loads(run_cli(["cdk-audit", "--db", str(db), "--format", "json"], estate_scan["endpoint"]).stdout)
    assert {Path(f["path"]).name: f["framework"] for f in audit["template_files"]} == {
        "orders-service.template.json": "cdk-v2", "visit-counter.yaml": "sam", "payments-network.yaml": "cloudformation"}
    assert all(f["evidence"] for f in audit["template_files"])
    report = json.loads(run_cli(["report", "--db", str(db), "--format", "json"], estate_scan["endpoint"]).stdout)
    queue = next(r for r in report["resources"] if r["name"] == "orders-queue")
    assert [(o["framework"], o["construct_path"]) for o in queue["owners"]] == [("cdk-v2", "orders-service/OrdersQueue/Resource")]


def test_only_a_bootstrap_v2_can_deploy_through_counts_as_modern():
    def row(account, facts):
        return {"account": account, "region": "us-east-1", "framework": "cdk-bootstrap", "evidence": json.dumps(facts)}

    rows = [row("111111111111", ["CdkBootstrapVersion SSM parameter (bootstrap version 33)"]),
            row("222222222222", ["StagingBucket resource and BucketName output (legacy v1 bootstrap template,"
                                 " no BootstrapVersion output: bootstrap version 0)"]),
            row("333333333333", ["CdkBootstrapVersion SSM parameter (bootstrap version 5)"]),
            {"account": "444444444444", "region": "us-east-1", "framework": "cdk-v1",
             "evidence": json.dumps(["bootstrap version 33"])}]
    assert modern_bootstraps(rows) == {("111111111111", "us-east-1")}


def test_a_scan_from_before_stack_origins_says_so_instead_of_calling_every_stack_cloudformation(tmp_path):
    """Scans written before this audit stored framework "cloudformation" for every stack and no evidence."""
    from graph.cdk_audit import build_audit, render_audit_markdown
    from graph.store import ScanWriter, open_database

    writer = ScanWriter(tmp_path / "old.db")
    writer.begin({"started_at": "2026-01-01T00:00:00Z", "status": "running", "accounts": ["123456789012"]})
    writer.write("stacks", [{"id": f"arn:aws:cloudformation:us-east-1:123456789012:stack/{n}/1", "name": n,
                             "account": "123456789012", "region": "us-east-1", "framework": "cloudformation"}
                            for n in ("a", "b")])
    writer.finish({"status": "complete"})
    writer.commit()
    audit = build_audit(open_database(tmp_path / "old.db"))
    assert audit["summary"]["by_framework"] == {"unknown": 2} and audit["summary"]["v1_stacks"] == 0
    assert audit["notes"] and "scan again" in audit["notes"][0]
    assert "scan again" in render_audit_markdown(audit)
