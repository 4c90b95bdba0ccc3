"""CDK cloud assemblies (importers/cdk_assembly.py): the real synthesized fixtures and the corpus' assemblies load
with their stacks, environments, dependencies and CDK major version; broken assemblies made here fail file by
file; synthesized stacks match deployed rows."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from conftest import needs_corpus

from importers.cdk_assembly import (
    MAX_NESTING,
    AssemblyStack,
    match_assemblies,
    read_assemblies,
)

REPO = Path(__file__).resolve().parents[1]
CDK_FIXTURES = REPO / "fixtures" / "cdk"




def read_json(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


def requirements_major(app: Path) -> int:
    """The CDK major version a Python app pins in requirements.txt: aws-cdk-lib is v2, aws-cdk.core is v1."""
    names = {re.split(r"[=<>~!\[ ]", line.strip(), maxsplit=1)[0].lower()
             for line in (app / "requirements.txt").read_text().splitlines() if line.strip()}
    majors = {2 if n == "aws-cdk-lib" else 1 for n in names if n in ("aws-cdk-lib", "aws-cdk.core")}
    assert len(majors) == 1, names
    return majors.pop()


def package_major(app: Path) -> int:
    """The CDK major version a TypeScript app's package.json depends on."""
    package = read_json(app / "package.json")
    deps = {n for kind in ("dependencies", "devDependencies", "peerDependencies") for n in package.get(kind, {})}
    majors = {2 if n == "aws-cdk-lib" else 1 for n in deps if n in ("aws-cdk-lib", "@aws-cdk/core", "monocdk")}
    assert len(majors) == 1, deps
    return majors.pop()


def by_id(stacks: list[AssemblyStack]) -> dict[str, AssemblyStack]:
    return {s.artifact_id: s for s in stacks}


def manifest_stacks(out: Path):
    """(assembly folder, artifact id, artifact) of every stack in an assembly and its nested ones, read plainly."""
    pending = [out]
    while pending:
        folder = pending.pop()
        for artifact_id, artifact in read_json(folder / "manifest.json")["artifacts"].items():
            if artifact["type"] == "aws:cloudformation:stack":
                yield folder, artifact_id, artifact
            elif artifact["type"] == "cdk:cloud-assembly":
                pending.append(folder / artifact["properties"]["directoryName"])


# ------------------------------------------------------------------------------------------------ fixtures


FIXTURE_APPS = ("v1", "v1-multi", "v1-no-version-reporting", "v2")


@pytest.mark.parametrize("app", FIXTURE_APPS)
def test_every_fixture_assembly_loads_with_its_stacks_and_the_apps_major_version(app):
    out = CDK_FIXTURES / app / "cdk.out"
    stacks, errors, sources = read_assemblies([str(out)])
    assert errors == []
    expected = {artifact_id: artifact for _, artifact_id, artifact in manifest_stacks(out)}
    assert set(by_id(stacks)) == set(expected)
    major = requirements_major(CDK_FIXTURES / app / "app")
    for stack in stacks:
        template = read_json(out / expected[stack.artifact_id]["properties"]["templateFile"])
        assert stack.assembly == str(out)
        assert stack.template == template
        assert stack.template_path == str(out / expected[stack.artifact_id]["properties"]["templateFile"])
        assert (stack.account, stack.region) == (None, None)  # fixtures/cdk/README.md: every stack env-agnostic
        assert stack.stack_name == stack.artifact_id
        assert stack.logical_ids == tuple(sorted(template["Resources"]))
        assert stack.origin.framework == f"cdk-v{major}"
        assert stack.origin.cdk_version.split(".")[0] == str(major)
        # tree.json's constructInfo under the stack: its core library at the app's major version
        core = "aws-cdk-lib.Stack" if major == 2 else "@aws-cdk/core.Stack"
        assert any(c.endswith("!" + core) and c.startswith(f"{major}.") for c in stack.constructs)
        assert stack.construct_path == stack.artifact_id
        # every resource carries aws:cdk:path (the CLI synthesized them)
        assert stack.construct_paths == {lid: r["Metadata"]["aws:cdk:path"] for lid, r in template["Resources"].items()}
    assert [(s["path"], s["kind"], s["status"], s["format_version"]) for s in sources] == [
        (str(out), "cdk_assembly", "ok", read_json(out / "manifest.json")["version"])]
    assert sources[0]["resource_count"] == sum(len(s.logical_ids) for s in stacks)


def test_v1_multi_dependencies_come_from_the_manifest():
    stacks, errors, _ = read_assemblies([str(CDK_FIXTURES / "v1-multi" / "cdk.out")])
    assert errors == []
    # fixtures/cdk/README.md: legacy-ingest -> legacy-platform, legacy-analytics -> legacy-ingest
    assert {s.artifact_id: s.dependencies for s in stacks} == {
        "legacy-platform": (), "legacy-ingest": ("legacy-platform",), "legacy-analytics": ("legacy-ingest",)}


def test_v2_asset_artifacts_are_no_dependency_and_schema_55_metadata_file_is_read(tmp_path):
    out = CDK_FIXTURES / "v2" / "cdk.out"
    manifest = read_json(out / "manifest.json")
    assert manifest["artifacts"]["orders-service"]["dependencies"] == ["orders-service.assets"]
    assert "metadata" not in manifest["artifacts"]["orders-service"]  # schema 55: in additionalMetadataFile
    stacks, _, _ = read_assemblies([str(out)])
    assert stacks[0].dependencies == ()
    assert stacks[0].schema_version == "55.0.0"

    # without aws:cdk:path in the template, construct paths come from orders-service.metadata.json
    copy = tmp_path / "cdk.out"
    shutil.copytree(out, copy)
    template_path = copy / "orders-service.template.json"
    template = read_json(template_path)
    for resource in template["Resources"].values():
        resource.get("Metadata", {}).pop("aws:cdk:path", None)
    template_path.write_text(json.dumps(template))
    stacks, errors, _ = read_assemblies([str(copy)])
    assert errors == []
    metadata = read_json(copy / "orders-service.metadata.json")
    expected = {e["data"]: path.lstrip("/") for path, entries in metadata.items() for e in entries
                if e["type"] == "aws:cdk:logicalId" and e["data"] in template["Resources"]}
    assert expected and stacks[0].construct_paths == expected
    assert expected["OrdersQueue3DFA1D51"] == "orders-service/OrdersQueue/Resource"


def test_tree_json_proves_v1_for_a_stack_without_cdk_metadata(tmp_path):
    out = CDK_FIXTURES / "v1-no-version-reporting" / "cdk.out"
    stacks, errors, _ = read_assemblies([str(out)])
    assert errors == [] and "CDKMetadata" not in stacks[0].template["Resources"]
    assert (stacks[0].origin.framework, stacks[0].origin.cdk_version) == ("cdk-v1", "1.204.0")
    assert any("tree.json" in fact for fact in stacks[0].origin.evidence)

    # the same assembly without its tree: CDK for certain, its major version not provable
    copy = tmp_path / "cdk.out"
    shutil.copytree(out, copy)
    manifest = read_json(copy / "manifest.json")
    del manifest["artifacts"]["Tree"]
    (copy / "manifest.json").write_text(json.dumps(manifest))
    stacks, errors, _ = read_assemblies([str(copy)])
    assert errors == [] and stacks[0].constructs == ()
    assert stacks[0].origin.framework == "cdk"


def test_an_app_folder_or_the_manifest_itself_names_the_assembly():
    out = CDK_FIXTURES / "v1" / "cdk.out"
    for given in (out, out / "manifest.json", out.parent):
        stacks, errors, _ = read_assemblies([str(given)])
        assert errors == [] and [s.assembly for s in stacks] == [str(out)], given


def test_an_assembly_given_twice_is_read_once():
    out = CDK_FIXTURES / "v1" / "cdk.out"
    stacks, errors, sources = read_assemblies([str(out), str(out / "manifest.json")])
    assert errors == [] and len(stacks) == 1 and len(sources) == 1


# -------------------------------------------------------------------------------------------------- corpus


@pytest.mark.corpus
def test_every_corpus_assembly_loads_with_its_stacks_envs_dependencies_and_major_version():
    cdk = needs_corpus("cdk")
    roots = sorted(p.parent for p in (cdk / "synth").glob("*/*/cdk.out/manifest.json"))
    assert roots
    stacks, errors, sources = read_assemblies([str(r) for r in roots])
    assert errors == []
    every_manifest = sorted(str(p.parent) for p in (cdk / "synth").rglob("manifest.json"))
    assert sorted(s["path"] for s in sources) == every_manifest  # nested assemblies read through their parent
    assert all(s["status"] == "ok" for s in sources)
    read = {(s.assembly, s.artifact_id): s for s in stacks}
    expected = [(folder, artifact_id, artifact) for root in roots for folder, artifact_id, artifact in manifest_stacks(root)]
    assert set(read) == {(str(folder), artifact_id) for folder, artifact_id, _ in expected}
    for folder, artifact_id, artifact in expected:
        stack = read[(str(folder), artifact_id)]
        account, region = artifact["environment"].removeprefix("aws://").split("/")
        assert stack.account == (None if account == "unknown-account" else account)
        assert stack.region == (None if region == "unknown-region" else region)
        assert stack.stack_name == artifact["properties"].get("stackName", artifact_id)
        dependencies = [d for d in artifact.get("dependencies", [])
                        if read_json(folder / "manifest.json")["artifacts"][d]["type"] == "aws:cloudformation:stack"]
        assert stack.dependencies == tuple(sorted(dependencies))
        app = next(cdk.glob(f"apps-v*/{folder.relative_to(cdk / 'synth').parts[1]}"))
        assert stack.origin.framework == f"cdk-v{package_major(app)}", (artifact_id, stack.origin)
        assert stack.template is not None and stack.logical_ids == tuple(sorted(stack.template["Resources"]))
    # the corpus README: a v1 app with a stage (a nested assembly) and a v2 app, one stack each
    assert sorted((s.stack_name, s.origin.framework) for s in stacks) == [
        ("cdk-ecs-2048-on-fargate", "cdk-v2"), ("pipeline", "cdk-v1"), ("pre-prod-web-service", "cdk-v1")]


@pytest.mark.corpus
def test_a_stage_stack_without_display_name_finds_its_construct_path_from_its_artifact_id():
    cdk = needs_corpus("cdk")
    root = cdk / "synth" / "v1" / "Barrokgl__cdk-pipeline-demo" / "cdk.out"
    stacks, errors, _ = read_assemblies([str(root)])
    assert errors == []
    stage = next(s for s in stacks if s.assembly != str(root))
    assert "displayName" not in read_json(Path(stage.assembly) / "manifest.json")["artifacts"][stage.artifact_id]
    # the root's tree.json holds the stage under the pipeline stack: pipeline/pre-prod/web-service
    tree = read_json(root / "tree.json")["tree"]
    assert "web-service" in tree["children"]["pipeline"]["children"]["pre-prod"]["children"]
    assert stage.construct_path == "pipeline/pre-prod/web-service"
    assert all(p.startswith("pipeline/pre-prod/web-service/") for p in stage.construct_paths.values())


@pytest.mark.corpus
def test_corpus_v2_tree_constructs_are_the_stacks_own():
    cdk = needs_corpus("cdk")
    stacks, errors, _ = read_assemblies([str(p.parent) for p in (cdk / "synth" / "v2").glob("*/cdk.out/manifest.json")])
    assert errors == [] and stacks
    for stack in stacks:
        assert stack.constructs and all(c.split("!")[0].startswith("2.") for c in stack.constructs
                                        if "aws-cdk-lib" in c)


# ------------------------------------------------------------------------------------- broken assemblies


def copy_fixture(tmp_path: Path, app: str = "v1-multi") -> Path:
    out = tmp_path / app / "cdk.out"
    shutil.copytree(CDK_FIXTURES / app / "cdk.out", out)
    return out


def edit_manifest(out: Path, change) -> None:
    manifest = read_json(out / "manifest.json")
    change(manifest)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))


def errors_of(errors):
    return [(e.source, e.kind, e.line) for e in errors]


def test_a_manifest_that_is_not_json_is_an_error_naming_it_and_its_line_and_others_still_load(tmp_path):
    broken = copy_fixture(tmp_path)
    (broken / "manifest.json").write_text('{\n "version": "21.0.0",\n "artifacts": {,\n}\n')
    good = CDK_FIXTURES / "v1" / "cdk.out"
    stacks, errors, sources = read_assemblies([str(broken), str(good)])
    assert [s.stack_name for s in stacks] == ["legacy-reports"]
    assert errors_of(errors) == [(str(broken / "manifest.json"), "error", 3)]
    assert "invalid JSON" in errors[0].message
    assert [(s["path"], s["status"]) for s in sources] == [(str(broken), "error"), (str(good), "ok")]


@pytest.mark.parametrize("content, what", [("[]", "not a JSON object"), ('{"artifacts": []}', "artifacts is not")])
def test_a_manifest_of_the_wrong_shape_is_an_error_naming_it(tmp_path, content, what):
    out = copy_fixture(tmp_path)
    (out / "manifest.json").write_text(content)
    stacks, errors, _ = read_assemblies([str(out)])
    assert stacks == [] and errors_of(errors) == [(str(out / "manifest.json"), "error", None)]
    assert what in errors[0].message


def test_a_malformed_template_is_an_error_naming_it_and_the_other_stacks_load(tmp_path):
    out = copy_fixture(tmp_path)
    (out / "legacy-ingest.template.json").write_text('{\n "Resources": {\n  "A": \n}\n')
    stacks, errors, sources = read_assemblies([str(out)])
    assert sorted(s.artifact_id for s in stacks) == ["legacy-analytics", "legacy-ingest", "legacy-platform"]
    broken = by_id(stacks)["legacy-ingest"]
    assert broken.template is None and broken.logical_ids == () and broken.dependencies == ("legacy-platform",)
    assert errors_of(errors) == [(str(out / "legacy-ingest.template.json"), "error", 4)]
    assert sources[0]["status"] == "error"
    assert all(s.origin.framework == "cdk-v1" for s in stacks if s.artifact_id != "legacy-ingest")


def test_a_missing_template_is_an_error_naming_it(tmp_path):
    out = copy_fixture(tmp_path)
    (out / "legacy-platform.template.json").unlink()
    stacks, errors, _ = read_assemblies([str(out)])
    assert errors_of(errors) == [(str(out / "legacy-platform.template.json"), "error", None)]
    assert "no such file" in errors[0].message and len(stacks) == 3


def test_a_template_past_the_size_limit_is_refused(tmp_path):
    out = copy_fixture(tmp_path, "v1")
    stacks, errors, _ = read_assemblies([str(out)], max_input_bytes=100)
    assert stacks[0].template is None
    assert errors_of(errors) == [(str(out / "legacy-reports.template.json"), "error", None)]
    assert "limit" in errors[0].message


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes need POSIX")
def test_a_fifo_in_place_of_a_template_is_refused_without_hanging(tmp_path):
    out = copy_fixture(tmp_path, "v1")
    (out / "legacy-reports.template.json").unlink()
    os.mkfifo(out / "legacy-reports.template.json")
    stacks, errors, _ = read_assemblies([str(out)])  # opening a FIFO to read would wait for a writer forever
    assert errors_of(errors) == [(str(out / "legacy-reports.template.json"), "error", None)]
    assert "named pipe" in errors[0].message


def test_a_malformed_tree_is_an_error_naming_it_and_the_stacks_still_load(tmp_path):
    out = copy_fixture(tmp_path, "v1-no-version-reporting")
    (out / "tree.json").write_text('{"version": "tree-0.1",\n "tree": {\n')
    stacks, errors, _ = read_assemblies([str(out)])
    assert errors_of(errors) == [(str(out / "tree.json"), "error", 3)]
    assert len(stacks) == 1 and stacks[0].constructs == () and stacks[0].origin.framework == "cdk"


def test_a_malformed_metadata_file_is_an_error_naming_it(tmp_path):
    out = copy_fixture(tmp_path, "v2")
    (out / "orders-service.metadata.json").write_text("{\n\n oops")
    stacks, errors, _ = read_assemblies([str(out)])
    assert errors_of(errors) == [(str(out / "orders-service.metadata.json"), "error", 3)]
    assert stacks[0].origin.framework == "cdk-v2"


@pytest.mark.parametrize("field", ["templateFile", "additionalMetadataFile", "tree", "directoryName"])
def test_a_manifest_naming_a_file_outside_the_assembly_is_refused(tmp_path, field):
    out = copy_fixture(tmp_path, "v2")
    secret = tmp_path / "secret.json"
    secret.write_text('{"Resources": {"Stolen": {"Type": "AWS::S3::Bucket"}}}')

    def change(manifest):
        artifacts = manifest["artifacts"]
        if field == "tree":
            artifacts["Tree"]["properties"]["file"] = "../../secret.json"
        elif field == "directoryName":
            artifacts["stage"] = {"type": "cdk:cloud-assembly", "properties": {"directoryName": "../.."}}
        elif field == "templateFile":
            artifacts["orders-service"]["properties"]["templateFile"] = str(secret)  # absolute
        else:
            artifacts["orders-service"][field] = "../../secret.json"
    edit_manifest(out, change)
    stacks, errors, _ = read_assemblies([str(out)])
    assert errors and all(e.source == str(out / "manifest.json") for e in errors)
    assert all(s.template is None or "Stolen" not in s.template["Resources"] for s in stacks)
    assert len(stacks) == (0 if field == "templateFile" else 1)


def make_nested_chain(root: Path, levels: int) -> None:
    """An assembly whose stage holds a stage... `levels` deep, each with one tiny stack."""
    folder = root
    for level in range(levels + 1):
        folder.mkdir(parents=True, exist_ok=True)
        artifacts = {f"s{level}": {"type": "aws:cloudformation:stack", "environment": "aws://unknown-account/unknown-region",
                                   "properties": {"templateFile": "t.json"}}}
        if level < levels:
            artifacts["next"] = {"type": "cdk:cloud-assembly", "properties": {"directoryName": "next"}}
        (folder / "manifest.json").write_text(json.dumps({"version": "21.0.0", "artifacts": artifacts}))
        (folder / "t.json").write_text('{"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}')
        folder = folder / "next"


def test_nested_assemblies_are_followed_to_a_bounded_depth(tmp_path):
    make_nested_chain(tmp_path / "ok", MAX_NESTING)
    stacks, errors, _ = read_assemblies([str(tmp_path / "ok")])
    assert errors == [] and len(stacks) == MAX_NESTING + 1
    make_nested_chain(tmp_path / "deep", MAX_NESTING + 1)
    stacks, errors, _ = read_assemblies([str(tmp_path / "deep")])
    assert len(stacks) == MAX_NESTING + 1
    assert len(errors) == 1 and errors[0].kind == "warning" and "deeper than" in errors[0].message


def test_a_nested_assembly_naming_its_own_folder_ends(tmp_path):
    out = copy_fixture(tmp_path, "v1")
    edit_manifest(out, lambda m: m["artifacts"].update(
        {"self": {"type": "cdk:cloud-assembly", "properties": {"directoryName": "."}}}))
    stacks, errors, sources = read_assemblies([str(out)])
    assert errors == [] and len(stacks) == 1 and len(sources) == 1


def test_a_path_without_a_manifest_is_an_error_naming_it(tmp_path):
    stacks, errors, sources = read_assemblies([str(tmp_path), str(tmp_path / "missing")])
    assert stacks == [] and errors_of(errors) == [(str(tmp_path), "error", None),
                                                  (str(tmp_path / "missing"), "error", None)]
    assert [s["status"] for s in sources] == ["error", "error"]


def test_environments_with_an_account_and_region_and_unknown_dependencies(tmp_path):
    out = copy_fixture(tmp_path)

    def change(manifest):
        artifacts = manifest["artifacts"]
        artifacts["legacy-platform"]["environment"] = "aws://123456789012/eu-west-1"
        artifacts["legacy-ingest"]["environment"] = "aws://unknown-account/eu-west-1"
        artifacts["legacy-analytics"]["environment"] = "aws://${Token[1]}/eu-west-1"
        artifacts["legacy-analytics"]["dependencies"] = ["legacy-ingest", "gone"]
    edit_manifest(out, change)
    stacks, errors, _ = read_assemblies([str(out)])
    envs = {s.artifact_id: (s.account, s.region) for s in stacks}
    assert envs == {"legacy-platform": ("123456789012", "eu-west-1"), "legacy-ingest": (None, "eu-west-1"),
                    "legacy-analytics": (None, "eu-west-1")}
    assert by_id(stacks)["legacy-analytics"].dependencies == ("legacy-ingest",)
    assert sorted(e.kind for e in errors) == ["warning", "warning"]
    assert all(e.source == str(out / "manifest.json") and "Token" not in e.message for e in errors)


def test_tree_subtree_references_are_followed(tmp_path):
    """CDK writes subtrees to forest files past 500,000 nodes (aws-cdk-lib tree-metadata.ts); made small here."""
    out = copy_fixture(tmp_path, "v1-no-version-reporting")
    tree = read_json(out / "tree.json")
    stack = tree["tree"]["children"]["legacy-audit"]
    tree["tree"]["children"]["legacy-audit"] = {"id": "legacy-audit", "path": "legacy-audit",
                                                "fileName": "trees-1.json", "treeId": "t0"}
    (out / "tree.json").write_text(json.dumps(tree))
    (out / "trees-1.json").write_text(json.dumps({"version": "forest-0.1", "forest": {"t0": stack}}))
    stacks, errors, _ = read_assemblies([str(out)])
    assert errors == [] and stacks[0].origin.framework == "cdk-v1" and stacks[0].constructs


# -------------------------------------------------------------------------------------------------- matching


ACCOUNT = "123456789012"


def synthesized(name: str, *, account=None, region=None, resources=None, artifact_id=None) -> AssemblyStack:
    from importers.stack_origin import stack_origin

    template = {"Resources": resources if resources is not None else {"Q": {"Type": "AWS::SQS::Queue"}}}
    return AssemblyStack(
        assembly="/x/cdk.out", artifact_id=artifact_id or name, stack_name=name, account=account, region=region,
        template_path=f"/x/cdk.out/{name}.template.json", template=template, dependencies=(), constructs=(),
        logical_ids=tuple(sorted(template["Resources"])), origin=stack_origin(template), construct_paths={})


def row(name, region, framework="cdk-v1", **extra):
    return {"id": f"arn:aws:cloudformation:{region}:{ACCOUNT}:stack/{name}/1", "name": name, "account": ACCOUNT,
            "region": region, "framework": framework, **extra}


def test_match_sorts_stacks_into_deployed_not_deployed_ambiguous_not_scanned_and_orphans():
    pinned = synthesized("pinned", account=ACCOUNT, region="eu-west-1")
    agnostic = synthesized("agnostic")
    twice = synthesized("twice")
    missing = synthesized("missing")
    elsewhere = synthesized("elsewhere", account="210987654321", region="eu-west-1")
    other_region = synthesized("other-region", region="ap-south-1")
    rows = [row("pinned", "eu-west-1"), row("pinned", "us-east-1"),  # the us-east-1 one is no match: an orphan
            row("agnostic", "us-east-1"), row("twice", "us-east-1"), row("twice", "eu-west-1"),
            row("legacy-thing", "us-east-1", "cdk"), row("CDKToolkit", "us-east-1", "cdk-bootstrap"),
            row("plain", "us-east-1", "cloudformation"), row("nested", "us-east-1", "cdk-v2", parent_id="arn:p"),
            row("gone", "us-east-1", "cdk-v2", status="DELETE_COMPLETE")]
    ids = {(r["name"], r["region"]): r["id"] for r in rows}
    match = match_assemblies([pinned, agnostic, twice, missing, elsewhere, other_region], rows, {}, ACCOUNT,
                             ["us-east-1", "eu-west-1"])
    assert match.deployed == [(agnostic, ids["agnostic", "us-east-1"]), (pinned, ids["pinned", "eu-west-1"])]
    assert match.not_deployed == [missing]
    assert match.ambiguous == [(twice, sorted([ids["twice", "us-east-1"], ids["twice", "eu-west-1"]]))]
    assert match.not_scanned == [elsewhere, other_region]
    assert match.orphans == sorted([ids["pinned", "us-east-1"], ids["legacy-thing", "us-east-1"]])


def test_resource_diffs_leave_out_cdk_metadata_blank_rows_and_absent_conditional_resources():
    stack = synthesized("app", resources={
        "Queue": {"Type": "AWS::SQS::Queue"},
        "Topic": {"Type": "AWS::SNS::Topic"},
        "Key": {"Type": "AWS::KMS::Key", "Condition": "UseKey"},  # may rightly be absent
        "Swapped": {"Type": "AWS::SNS::Topic"},
        "CDKMetadata": {"Type": "AWS::CDK::Metadata", "Condition": "CDKMetadataAvailable"},
    })
    deployed = [row("app", "us-east-1")]
    stack_id = deployed[0]["id"]
    live = [("Queue", "AWS::SQS::Queue"), ("Swapped", "AWS::SQS::Queue"), ("Old", "AWS::S3::Bucket"),
            ("", ""), ("CDKMetadata", "AWS::CDK::Metadata")]
    match = match_assemblies([stack], deployed, {stack_id: live}, ACCOUNT, ["us-east-1"])
    assert match.resource_diffs == [
        {"stack_id": stack_id, "logical_id": "Swapped", "type": "AWS::SNS::Topic", "diff": "in_code_not_deployed"},
        {"stack_id": stack_id, "logical_id": "Topic", "type": "AWS::SNS::Topic", "diff": "in_code_not_deployed"},
        {"stack_id": stack_id, "logical_id": "Old", "type": "AWS::S3::Bucket", "diff": "deployed_not_in_code"},
        {"stack_id": stack_id, "logical_id": "Swapped", "type": "AWS::SQS::Queue", "diff": "deployed_not_in_code"},
    ]
    # a conditional resource that is deployed and still in the code is no diff either
    live.append(("Key", "AWS::KMS::Key"))
    assert len(match_assemblies([stack], deployed, {stack_id: live}, ACCOUNT, ["us-east-1"]).resource_diffs) == 4


def test_no_resource_diff_without_the_deployed_resources_or_with_a_transform():
    plain = synthesized("plain")
    sam = synthesized("sam", resources={"Fn": {"Type": "AWS::Serverless::Function"}})
    sam.template["Transform"] = "AWS::Serverless-2016-10-31"
    rows = [row("plain", "us-east-1"), row("sam", "us-east-1")]
    live = {rows[1]["id"]: [("FnRole", "AWS::IAM::Role"), ("Fn", "AWS::Lambda::Function")]}
    match = match_assemblies([plain, sam], rows, live, ACCOUNT, ["us-east-1"])
    assert match.resource_diffs == []
    assert [stack_id for stack_id, _ in match.undiffed] == [rows[0]["id"], rows[1]["id"]]


def test_the_fixture_assemblies_match_their_deployed_stacks_with_no_resource_diff():
    """The demo deploys every fixture stack by its name (fixtures/cdk/README.md); a ListStackResources of what
    each template declares (moto lists CDKMetadata as a blank row) gives no diff."""
    stacks, errors, _ = read_assemblies([str(CDK_FIXTURES / app / "cdk.out") for app in FIXTURE_APPS])
    assert errors == []
    rows = [row(s.stack_name, "us-east-1") for s in stacks] + [row("CDKToolkit", "us-east-1", "cdk-bootstrap")]
    listed = {r["id"]: [(lid, res["Type"]) for lid, res in s.template["Resources"].items()
                        if res["Type"] != "AWS::CDK::Metadata"] + [("", "")]
              for r, s in zip(rows, stacks)}
    match = match_assemblies(stacks, rows, listed, ACCOUNT, ["us-east-1"])
    assert len(match.deployed) == len(stacks) == 6
    assert match.not_deployed == match.ambiguous == match.orphans == match.resource_diffs == []


def test_a_template_linked_to_a_file_outside_the_assembly_is_refused(tmp_path):
    out = copy_fixture(tmp_path, "v1")
    secret = tmp_path / "secret.json"
    secret.write_text('{"Resources": {"Stolen": {"Type": "AWS::S3::Bucket"}}}')
    (out / "legacy-reports.template.json").unlink()
    (out / "legacy-reports.template.json").symlink_to(secret)
    stacks, errors, _ = read_assemblies([str(out)])
    assert stacks == [] and errors_of(errors) == [(str(out / "manifest.json"), "error", None)]
    assert "leaves the assembly folder" in errors[0].message


@pytest.mark.parametrize("artifact", [
    {"type": "aws:cloudformation:stack", "properties": []},
    {"type": "aws:cloudformation:stack", "properties": {"templateFile": 7}},
    {"type": "aws:cloudformation:stack", "environment": 5, "dependencies": "legacy-platform", "metadata": [1],
     "displayName": {}, "properties": {"templateFile": "legacy-platform.template.json", "stackName": ["x"]}},
    {"type": "aws:cloudformation:stack", "metadata": {"/p": [None, {"type": "aws:cdk:logicalId", "data": 3}], "/q": 1},
     "additionalMetadataFile": 12, "properties": {"templateFile": "legacy-platform.template.json"}},
    {"type": "cdk:cloud-assembly", "properties": {"directoryName": None}},
    {"type": "cdk:tree", "properties": {"file": "legacy-platform.template.json"}},
    "not an artifact",
])
def test_odd_manifest_shapes_are_errors_or_warnings_never_a_traceback(tmp_path, artifact):
    out = copy_fixture(tmp_path)
    edit_manifest(out, lambda m: m["artifacts"].update({"odd": artifact}))
    stacks, errors, sources = read_assemblies([str(out)])
    assert {"legacy-platform", "legacy-ingest", "legacy-analytics"} <= set(by_id(stacks))
    assert len(sources) == 1 and sources[0]["status"] in ("ok", "warning", "error")
    assert not any("depends on" in e.message for e in errors)  # a string of dependencies is no list of them
    odd = by_id(stacks).get("odd")
    if odd is not None:  # read with what could be read: the stack name falls back to the artifact id
        assert odd.stack_name == "odd" and odd.dependencies in ((), ("legacy-platform",))
