"""Stack origins (importers/stack_origin.py) from real synthesized output: the CDK fixtures, the corpus' cloud
assemblies and CloudFormation templates, and templates or stack facts that real tools write."""

from __future__ import annotations

import base64
import copy
import gzip
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from conftest import CORPUS, needs_corpus

from importers.cfn_template import load_template
from importers.stack_origin import (
    Origin,
    construct_paths,
    decode_analytics,
    read_analytics,
    stack_origin,
    tree_constructs,
)

REPO = Path(__file__).resolve().parents[1]
CDK_FIXTURES = REPO / "fixtures" / "cdk"
V1_OUT = CDK_FIXTURES / "v1" / "cdk.out"
V2_OUT = CDK_FIXTURES / "v2" / "cdk.out"




def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def v1_template() -> dict:
    return read_json(V1_OUT / "legacy-reports.template.json")


def v2_template() -> dict:
    return read_json(V2_OUT / "orders-service.template.json")


def pinned(requirements: Path) -> dict[str, str]:
    """name -> version of a requirements.txt's `name==version` lines."""
    lines = requirements.read_text(encoding="utf-8").splitlines()
    return dict(line.strip().split("==", 1) for line in lines if "==" in line)


def with_analytics(template: dict, value) -> dict:
    changed = copy.deepcopy(template)
    changed["Resources"]["CDKMetadata"]["Properties"]["Analytics"] = value
    return changed


def cdk_format_analytics(infos: list[tuple[str, str, list | None]]) -> str:
    """(version, fqn, telemetry) as CDK writes them (aws-cdk-lib core/lib/private/metadata-resource.ts,
    formatAnalytics): a trie split after every non-alphanumeric character, telemetry as a JSON leaf,
    prefix-encoded with {} and commas, gzipped with the OS byte set to 255, base64."""
    trie: dict = {}
    for version, fqn, telemetry in infos:
        node = trie
        parts = re.sub(r"[^a-z0-9]", lambda m: m.group(0) + " ", f"{version}!{fqn}", flags=re.IGNORECASE).split(" ")
        for part in parts:
            node = node.setdefault(part, {})
        if telemetry:
            node.setdefault(json.dumps(telemetry, separators=(",", ":")), {})

    def encode(node: dict) -> str:
        return ",".join(key + ("{" + encode(child) + "}" if len(child) > 1 else encode(child))
                        for key, child in node.items())

    data = bytearray(gzip.compress(encode(trie).encode(), mtime=0))
    data[9] = 255
    return "v2:deflate64:" + base64.b64encode(bytes(data)).decode()


def gzip64(data: bytes) -> str:
    return base64.b64encode(gzip.compress(data)).decode()


# ------------------------------------------------------------------------------------------- CDK fixtures


def test_v1_fixture_is_cdk_v1_with_its_version_legacy_synthesizer_and_modules():
    requirements = pinned(CDK_FIXTURES / "v1" / "app" / "requirements.txt")
    template = v1_template()
    origin = stack_origin(template)
    assert origin.framework == "cdk-v1"
    assert origin.cdk_version == requirements["aws-cdk.core"]
    # fixtures/cdk/README.md: the v1 app keeps v1's default LegacyStackSynthesizer (and has no assets)
    assert origin.synthesizer == "legacy"
    # each Python dist aws-cdk.<module> is the npm package @aws-cdk/<module>
    assert set(origin.modules) == {f"@aws-cdk/{name.split('.', 1)[1]}@{version}"
                                   for name, version in requirements.items() if name.startswith("aws-cdk.")}
    assert origin.language == "python"  # the app is app.py
    with_path = sum(1 for r in template["Resources"].values() if "aws:cdk:path" in r.get("Metadata", {}))
    assert origin.evidence[:3] == (
        "AWS::CDK::Metadata resource CDKMetadata",
        f"CDKMetadata Analytics v2:deflate64 -> {requirements['aws-cdk.core']}",
        "Analytics lists @aws-cdk/core (CDK v1)",
    )
    assert f"aws:cdk:path metadata on {with_path} resources" in origin.evidence
    assert "no BootstrapVersion parameter: CDK v1's default legacy synthesizer" in origin.evidence


def test_v2_fixture_is_cdk_v2_with_its_version_default_synthesizer_and_modules():
    requirements = pinned(CDK_FIXTURES / "v2" / "app" / "requirements.txt")
    origin = stack_origin(v2_template())
    assert origin == Origin(
        framework="cdk-v2",
        cdk_version=requirements["aws-cdk-lib"],
        synthesizer="default",  # fixtures/cdk/README.md: DefaultStackSynthesizer, v2's default
        evidence=origin.evidence,
        modules=(f"aws-cdk-lib@{requirements['aws-cdk-lib']}",),
        language="python",
    )
    assert "BootstrapVersion parameter and CheckBootstrapVersion rule" in origin.evidence
    assert "bootstrap qualifier hnb659fds" in origin.evidence
    assert stack_origin(v2_template()) == origin  # deterministic


def test_v1_stack_without_cdk_metadata_is_still_cdk_and_its_tree_proves_v1():
    # Stands for version reporting off: the real v1 template with its CDKMetadata resource and condition removed.
    template = v1_template()
    del template["Resources"]["CDKMetadata"]
    del template["Conditions"]["CDKMetadataAvailable"]
    origin = stack_origin(template)
    assert origin.framework == "cdk"
    assert origin.cdk_version is None and origin.synthesizer is None
    assert "aws:cdk:path metadata on 5 resources" in origin.evidence
    assert "CDK major version not provable (no CDKMetadata library list)" in origin.evidence

    # the cloud assembly's tree.json records each construct's library: that proves v1
    constructs = tree_constructs(read_json(V1_OUT / "tree.json"), "legacy-reports")
    proven = stack_origin(template, constructs=constructs)
    core = pinned(CDK_FIXTURES / "v1" / "app" / "requirements.txt")["aws-cdk.core"]
    assert (proven.framework, proven.cdk_version, proven.synthesizer) == ("cdk-v1", core, "legacy")
    assert "tree.json constructInfo lists @aws-cdk/core (CDK v1)" in proven.evidence


def test_cdk_logical_ids_alone_are_weak_evidence_said_so():
    # The same stack with path metadata off too (`--no-path-metadata`): only CDK's hashed logical ids remain.
    template = v1_template()
    del template["Resources"]["CDKMetadata"]
    del template["Conditions"]
    for resource in template["Resources"].values():
        resource.pop("Metadata", None)
    origin = stack_origin(template)
    assert origin.framework == "cdk"
    assert origin.evidence == (
        "CDK-style logical ids (8 hex suffix) on 5 of 5 resources (weak evidence: no other CDK mark)",)


def test_legacy_synthesizer_asset_parameters_do_not_prove_v1():
    # v2 can use the LegacyStackSynthesizer too: the real v2 template given the parameters it writes for a
    # file asset (legacy.ts / asset-parameters.ts naming) instead of the BootstrapVersion parameter and rule.
    template = v2_template()
    del template["Parameters"]["BootstrapVersion"]
    del template["Rules"]
    asset = "a" * 64
    for kind, suffix in (("S3Bucket", "1C2D3E4F"), ("S3VersionKey", "9A8B7C6D"), ("ArtifactHash", "0F1E2D3C")):
        template["Parameters"][f"AssetParameters{asset}{kind}{suffix}"] = {"Type": "String"}
    origin = stack_origin(template)
    assert (origin.framework, origin.synthesizer) == ("cdk-v2", "legacy")
    assert "AssetParameters...S3Bucket parameters for 1 asset (legacy synthesizer)" in origin.evidence

    bare = copy.deepcopy(template)
    del bare["Resources"]["CDKMetadata"]
    assert (stack_origin(bare).framework, stack_origin(bare).synthesizer) == ("cdk", "legacy")


def test_deployed_stack_facts_without_a_template():
    # What DescribeStacks alone shows of the v2 fixture deployed: parameter names and output keys.
    template = v2_template()
    origin = stack_origin(None, stack_name="orders-service", parameters={"BootstrapVersion": "21"},
                          outputs=list(template["Outputs"]))
    assert (origin.framework, origin.synthesizer) == ("cdk", "default")
    assert origin.evidence[0] == "deployed parameter BootstrapVersion (DefaultStackSynthesizer)"


def test_construct_paths_are_the_manifests_logical_ids():
    v1_metadata = read_json(V1_OUT / "manifest.json")["artifacts"]["legacy-reports"]["metadata"]
    v2_metadata = read_json(V2_OUT / "orders-service.metadata.json")
    for template, metadata in ((v1_template(), v1_metadata), (v2_template(), v2_metadata)):
        expected = {entry["data"]: path.lstrip("/") for path, entries in metadata.items() for entry in entries
                    if entry["type"] == "aws:cdk:logicalId" and entry["data"] in template["Resources"]}
        assert construct_paths(template) == expected
        assert len(expected) == len(template["Resources"])
    assert construct_paths(None) == {} and construct_paths({"Resources": {"A": {"Metadata": []}}}) == {}


# ---------------------------------------------------------------------------------------- corpus: CDK


def corpus_stacks(root: Path):
    """(assembly dir, stack artifact id, artifact, template path) of every stack in every cloud assembly."""
    for manifest_path in sorted(root.rglob("manifest.json")):
        for artifact_id, artifact in read_json(manifest_path)["artifacts"].items():
            if artifact["type"] == "aws:cloudformation:stack":
                template = manifest_path.parent / artifact["properties"]["templateFile"]
                yield manifest_path.parent, artifact_id, artifact, template


def app_major(app: Path) -> int:
    """The CDK major version an app's package.json depends on (SOURCES.md pairs synth/<name> with apps-*/<name>)."""
    package = read_json(app / "package.json")
    deps = {name for kind in ("dependencies", "devDependencies", "peerDependencies") for name in package.get(kind, {})}
    majors = {2 if name == "aws-cdk-lib" else 1 for name in deps if name in ("aws-cdk-lib", "@aws-cdk/core", "monocdk")}
    assert len(majors) == 1, (app, deps)
    return majors.pop()


@pytest.mark.corpus
def test_every_corpus_cloud_assembly_stack_gets_its_apps_major_version():
    cdk = needs_corpus("cdk")
    stacks = list(corpus_stacks(cdk / "synth"))
    assert {t for *_, t in stacks} == set((cdk / "synth").rglob("*.template.json"))  # every template, via a manifest
    found = Counter()
    for assembly, artifact_id, artifact, path in stacks:
        name = path.relative_to(cdk / "synth").parts[1]
        app = next(cdk.glob(f"apps-v*/{name}"))
        major = app_major(app)
        template = load_template(path.read_text(encoding="utf-8"), str(path))
        origin = stack_origin(template, stack_name=artifact.get("displayName", artifact_id))
        assert origin.framework == f"cdk-v{major}", (path, origin)
        assert origin.cdk_version.split(".")[0] == str(major), (path, origin)
        assert origin.language == "node.js"  # both apps are TypeScript
        assert all(m.startswith("@aws-cdk/" if major == 1 else "aws-cdk-lib@") for m in origin.modules)
        tree = assembly / "tree.json"
        if tree.is_file() and "constructInfo" in tree.read_text(encoding="utf-8"):  # CDK 1.90+ trees only
            constructs = tree_constructs(read_json(tree), artifact.get("displayName", artifact_id))
            assert constructs and stack_origin(template, constructs=constructs).framework == origin.framework
        found[origin.framework] += 1
    # SOURCES.md: the v1 app (CDK 1.70, old Modules string, modern synthesizer) has a stack and a nested
    # assembly's stack; the v2 app one stack
    assert found == Counter({"cdk-v1": 2, "cdk-v2": 1})


@pytest.mark.corpus
def test_corpus_v1_stacks_with_the_modules_string_and_modern_synthesizer_are_v1():
    cdk = needs_corpus("cdk")
    for path in sorted((cdk / "synth").rglob("*.template.json")):
        template = read_json(path)
        if "Modules" not in template["Resources"]["CDKMetadata"]["Properties"]:
            continue
        origin = stack_origin(template)
        core = dict(m.split("=", 1) for m in template["Resources"]["CDKMetadata"]["Properties"]["Modules"].split(","))
        assert (origin.framework, origin.cdk_version) == ("cdk-v1", core["@aws-cdk/core"])
        assert origin.synthesizer == "default"
        assert "Modules property lists @aws-cdk/core (CDK v1)" in origin.evidence
        assert "BootstrapVersion parameter and CheckBootstrapVersion rule" in origin.evidence


# ---------------------------------------------------------------------------------------- corpus: CloudFormation


@pytest.mark.corpus
def test_corpus_cloudformation_templates_are_sam_or_plain_cloudformation():
    cfn = needs_corpus("cfn")
    # the corpus README's table names each file's features: SAM is the files with the SAM transform
    readme = (CORPUS / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([^`]+)` \| (?:json|yaml) \|[^|]*\|[^|]*\| ([^|]*) \|", readme, flags=re.MULTILINE)
    expected = {name: "sam" if "Transform=AWS::Serverless-2016-10-31" in features else "cloudformation"
                for name, features in rows if (cfn / name).is_file()}
    files = sorted(p for p in cfn.rglob("*") if p.is_file())
    assert len(expected) == len(files) == 64
    found = {}
    for path in files:
        origin = stack_origin(load_template(path.read_text(encoding="utf-8"), str(path)))
        found[str(path.relative_to(cfn))] = origin.framework
        assert origin.cdk_version is None and origin.synthesizer is None and origin.modules == ()
        if origin.framework == "sam":
            assert origin.evidence[0] == "Transform AWS::Serverless-2016-10-31"
        else:
            assert origin.evidence == ("no framework marks in the template",)
    assert found == expected
    assert Counter(found.values()) == Counter({"cloudformation": 57, "sam": 7})


@pytest.mark.corpus
def test_sam_transform_counts_in_the_original_template_only():
    cfn = needs_corpus("cfn")
    path = cfn / "aws__serverless-application-model/examples/2016-10-31/lambda_safe_deployments/template.yaml"
    original = load_template(path.read_text(encoding="utf-8"), str(path))
    processed = {"Resources": {"safeTestFunction": {"Type": "AWS::Lambda::Function", "Properties": {}}}}
    origin = stack_origin(processed, original=original)
    assert origin.framework == "sam"
    assert origin.evidence[:2] == ("Transform AWS::Serverless-2016-10-31 (original template)",
                                   "2 AWS::Serverless::* resources in the original template")


# -------------------------------------------------------------------------------------------- Analytics


def test_analytics_round_trips_the_way_cdk_encodes_it():
    infos = [
        ("2.275.0", "aws-cdk-lib.Stack", None),
        ("2.275.0", "aws-cdk-lib.aws_s3.Bucket", [{"bucketName": "*", "versioned": True}]),
        ("2.275.0", "aws-cdk-lib.aws_s3.CfnBucket", None),
        ("2.275.0", "aws-cdk-lib.aws_sqs.Queue", [{"note": "a ] and a [ and {x,y} inside a string"}]),
        ("2.275.0-alpha.0", "@aws-cdk/aws-apprunner-alpha.Service", None),
        ("2.150.0", "@aws-solutions-constructs/aws-lambda-sqs.LambdaToSqs", None),
        ("DotNet/8.0.1/.NETCoreApp-Version=v8.0/1.0.0.0", "jsii-runtime.Runtime", None),
    ]
    value = cdk_format_analytics(infos)
    assert sorted(decode_analytics(value)) == sorted(f"{v}!{fqn}" for v, fqn, _ in infos)
    origin = stack_origin(with_analytics(v2_template(), value))
    assert origin.framework == "cdk-v2" and origin.cdk_version == "2.275.0" and origin.language == "dotnet"
    assert origin.modules == ("@aws-cdk/aws-apprunner-alpha@2.275.0-alpha.0",
                              "@aws-solutions-constructs/aws-lambda-sqs@2.150.0", "aws-cdk-lib@2.275.0")


def test_analytics_of_the_fixtures_agree_with_their_cloud_assembly_trees():
    for out, stack in ((V1_OUT, "legacy-reports"), (V2_OUT, "orders-service")):
        template = read_json(out / f"{stack}.template.json")
        entries = decode_analytics(template["Resources"]["CDKMetadata"]["Properties"]["Analytics"])
        constructs = [e for e in entries if not e.endswith("!jsii-runtime.Runtime")]
        assert len(constructs) == len(entries) - 1 > 5
        assert set(constructs) <= set(tree_constructs(read_json(out / "tree.json"), stack))


def test_analytics_in_plaintext_and_the_cdk_migrate_app_info():
    assert decode_analytics("v2:plaintext:1.2.3!@aws-cdk/core.{Stack,CfnResource}") == [
        "1.2.3!@aws-cdk/core.Stack", "1.2.3!@aws-cdk/core.CfnResource"]
    template = v2_template()
    value = template["Resources"]["CDKMetadata"]["Properties"]["Analytics"] + ":" + gzip64(b"cdk-migrate")
    assert read_analytics(value).app_info == "cdk-migrate"
    origin = stack_origin(with_analytics(template, value))
    assert (origin.framework, origin.cdk_version) == ("cdk-migrate", stack_origin(template).cdk_version)
    assert "Analytics app info cdk-migrate" in origin.evidence


BAD_ANALYTICS = {
    "format not recognised": "v3:zstd:AAAA",
    "format not recognised ": "deflate64:" + gzip64(b"1.0.0!@aws-cdk/core.Stack"),  # RFC 253's draft shape
    "not base64": "v2:deflate64:@@not base64@@",
    "not gzip or deflate data": "v2:deflate64:" + base64.b64encode(b"plain text, not compressed").decode(),
    "compressed data truncated": "v2:deflate64:" + base64.b64encode(gzip.compress(b"1.0.0!x.Y" * 200)[:-30]).decode(),
    "inflates beyond 1048576 bytes": "v2:deflate64:" + gzip64(b"0" * (8 << 20)),  # a deflate bomb
    "not UTF-8 text": "v2:deflate64:" + gzip64(b"\xff\xfe\x00"),
    "unbalanced braces": "v2:deflate64:" + gzip64(b"1.0.0!@aws-cdk/core.{Stack,Construct"),
    "unbalanced braces ": "v2:plaintext:1.0.0!x.Y}",
    "nested too deep": "v2:plaintext:" + "a{" * 300 + "b" + "}" * 300,
    "more than 20000 entries": "v2:plaintext:1.0.0!x.{" + ",".join(f"C{i}" for i in range(25_000)) + "}",
    "entry too long": "v2:plaintext:1.0.0!" + "x" * 5_000,
    "unterminated construct metadata": "v2:plaintext:1.0.0!x.Bucket[{\"a\":\"]",
    "longer than 1000000 characters": "v2:deflate64:" + "A" * 1_000_001,
    "not a string": {"Fn::Join": ["", ["v2:deflate64:", "AAAA"]]},
}


@pytest.mark.parametrize("problem", sorted(BAD_ANALYTICS))
def test_unreadable_analytics_is_evidence_never_an_exception(problem):
    value = BAD_ANALYTICS[problem]
    assert decode_analytics(value) == []
    assert read_analytics(value).problem == problem.strip()
    origin = stack_origin(with_analytics(v2_template(), value))
    # still CDK (the resource, path metadata and bootstrap rule say so), its major version no longer proven
    assert (origin.framework, origin.cdk_version, origin.synthesizer) == ("cdk", None, "default")
    assert f"CDKMetadata Analytics unreadable ({problem.strip()})" in origin.evidence


# -------------------------------------------------------------------------------- other frameworks

# The Serverless Framework's core template, verbatim (serverless/serverless
# lib/plugins/aws/package/lib/core-cloudformation-template.json): every service's stack starts as this.
SERVERLESS_CORE = {
    "AWSTemplateFormatVersion": "2010-09-09",
    "Description": "The AWS CloudFormation template for this Serverless application",
    "Resources": {
        "ServerlessDeploymentBucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketEncryption": {
            "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}}},
        "ServerlessDeploymentBucketPolicy": {"Type": "AWS::S3::BucketPolicy", "Properties": {
            "Bucket": {"Ref": "ServerlessDeploymentBucket"},
            "PolicyDocument": {"Statement": [{
                "Action": "s3:*", "Effect": "Deny", "Principal": "*",
                "Resource": [{"Fn::Join": ["", ["arn:aws:s3:::", {"Ref": "ServerlessDeploymentBucket"}, "/*"]]}],
                "Condition": {"Bool": {"aws:SecureTransport": False}}}]}}},
    },
    "Outputs": {"ServerlessDeploymentBucketName": {"Value": {"Ref": "ServerlessDeploymentBucket"}}},
}

# The legacy (v1 default) `cdk bootstrap` template, as aws-cdk's packages/aws-cdk/lib/api/bootstrap/
# legacy-template.ts builds it (bucket name and KMS key left to CloudFormation).
LEGACY_BOOTSTRAP = {
    "Description": "The CDK Toolkit Stack. It was created by `cdk bootstrap` and manages resources necessary for "
                   "managing your Cloud Applications with AWS CDK.",
    "Resources": {
        "StagingBucket": {"Type": "AWS::S3::Bucket", "Properties": {"AccessControl": "Private"}},
        "StagingBucketPolicy": {"Type": "AWS::S3::BucketPolicy", "Properties": {"Bucket": {"Ref": "StagingBucket"}}},
    },
    "Outputs": {"BucketName": {"Value": {"Ref": "StagingBucket"}},
                "BucketDomainName": {"Value": {"Fn::GetAtt": ["StagingBucket", "RegionalDomainName"]}}},
}

# The modern bootstrap stack as DescribeStacks shows it: the parameters and outputs of aws-cdk-cli's
# bootstrap-template.yaml.
MODERN_BOOTSTRAP_PARAMETERS = dict.fromkeys(
    ["TrustedAccounts", "TrustedAccountsForLookup", "CloudFormationExecutionPolicies", "FileAssetsBucketName",
     "FileAssetsBucketKmsKeyId", "ContainerAssetsRepositoryName", "Qualifier", "PublicAccessBlockConfiguration",
     "InputPermissionsBoundary", "UseExamplePermissionsBoundary", "BootstrapVariant"], "")
MODERN_BOOTSTRAP_OUTPUTS = ["BucketName", "BucketDomainName", "FileAssetKeyArn", "ImageRepositoryName",
                            "BootstrapVersion"]

# A SAM app after the transform: the resources (types and the tags the translator adds) of
# aws/serverless-application-model tests/translator/output/implicit_api.json, other properties left out.
SAM_PROCESSED = {"Resources": {
    "GetHtmlFunction": {"Type": "AWS::Lambda::Function",
                        "Properties": {"Tags": [{"Key": "lambda:createdBy", "Value": "SAM"}]}},
    "GetHtmlFunctionGetHtmlPermissionProd": {"Type": "AWS::Lambda::Permission", "Properties": {}},
    "GetHtmlFunctionRole": {"Type": "AWS::IAM::Role",
                            "Properties": {"Tags": [{"Key": "lambda:createdBy", "Value": "SAM"}]}},
    "ServerlessRestApi": {"Type": "AWS::ApiGateway::RestApi", "Properties": {}},
    "ServerlessRestApiDeployment127e3fb911": {"Type": "AWS::ApiGateway::Deployment", "Properties": {}},
    "ServerlessRestApiProdStage": {"Type": "AWS::ApiGateway::Stage", "Properties": {}},
}}


def test_serverless_framework_from_its_core_template_and_from_stack_facts():
    origin = stack_origin(SERVERLESS_CORE)
    assert origin.framework == "serverless"
    assert origin.evidence == ("description 'The AWS CloudFormation template for this Serverless application'",
                               "ServerlessDeploymentBucket resource", "ServerlessDeploymentBucketName output")
    deployed = stack_origin(None, stack_name="hello-dev", outputs=["HelloLambdaFunctionQualifiedArn",
                                                                  "ServerlessDeploymentBucketName"])
    assert deployed.framework == "serverless"


def test_sam_from_the_processed_template_alone():
    origin = stack_origin(SAM_PROCESSED)
    assert origin.framework == "sam"
    assert origin.evidence == ("tag lambda:createdBy=SAM on 2 resources", "SAM implicit API ServerlessRestApi")


def test_cdk_bootstrap_stacks():
    legacy = stack_origin(LEGACY_BOOTSTRAP, stack_name="CDKToolkit")
    assert legacy.framework == "cdk-bootstrap"
    assert legacy.evidence[0].endswith("no BootstrapVersion output: bootstrap version 0)")
    assert "stack name CDKToolkit (the name `cdk bootstrap` gives)" in legacy.evidence
    modern = stack_origin(None, stack_name="CDKToolkit", parameters=MODERN_BOOTSTRAP_PARAMETERS,
                          outputs=MODERN_BOOTSTRAP_OUTPUTS)
    assert modern == Origin("cdk-bootstrap", evidence=(
        "BootstrapVersion output and BucketName output", "parameters Qualifier and BootstrapVariant",
        "stack name CDKToolkit (the name `cdk bootstrap` gives)"))
    assert stack_origin(None, stack_name="CDKToolkit").framework == "cdk-bootstrap"  # the name alone: weak


def test_amplify_gen2_is_amplify_and_keeps_the_cdk_facts():
    # Amplify Gen 2 deploys CDK v2 stacks and tags them (amplify-backend: created-by, amplify:deployment-type)
    origin = stack_origin(v2_template(), tags={"created-by": "amplify", "amplify:deployment-type": "sandbox"})
    v2 = stack_origin(v2_template())
    assert (origin.framework, origin.cdk_version, origin.modules) == ("amplify", v2.cdk_version, v2.modules)
    assert origin.evidence[:2] == ("tag amplify:deployment-type (Amplify Gen 2)", "tag created-by=amplify")
    gen1 = stack_origin(None, description="Root Stack for AWS Amplify CLI", tags={"user:Application": "shop",
                                                                                   "user:Stack": "dev"})
    assert gen1.framework == "amplify" and gen1.cdk_version is None


def test_copilot_and_elastic_beanstalk_from_stack_facts():
    copilot = stack_origin(None, stack_name="shop-test-api", tags={
        "copilot-application": "shop", "copilot-environment": "test", "copilot-service": "api"})
    assert copilot.evidence == ("tag copilot-application", "tag copilot-environment", "tag copilot-service")
    beanstalk = stack_origin(None, stack_name="awseb-e-uzfan9cb4a-stack", tags={
        "elasticbeanstalk:environment-name": "web-prod", "elasticbeanstalk:environment-id": "e-uzfan9cb4a"})
    assert beanstalk.framework == "elastic-beanstalk"
    assert beanstalk.evidence[0] == "stack name awseb-e-uzfan9cb4a-stack (Elastic Beanstalk naming)"


def test_nothing_known_is_plain_cloudformation_said_so():
    assert stack_origin(None) == Origin("cloudformation", evidence=(
        "no template: only stack name, description, tags, parameters and outputs read",))
    broken = stack_origin({"Resources": "not a mapping", "Transform": 7})
    assert broken.evidence == ("no framework marks in the template",)


def test_evidence_never_quotes_a_parameter_tag_or_description_value():
    secrets = {"hunter2-database-password", "acme-secret-app", "prod-secret-stack", "confidential plan"}
    origin = stack_origin(v2_template(), description="confidential plan",
                          parameters={"DbPassword": "hunter2-database-password", "BootstrapVersion": "21"},
                          tags={"user:Application": "acme-secret-app", "user:Stack": "prod-secret-stack"})
    assert origin.framework == "amplify"
    assert not [e for e in origin.evidence if any(s in e for s in secrets)]


def test_odd_shapes_are_read_as_unknown_never_raise():
    from graph.records import UNRESOLVED

    template = v2_template()
    template["Resources"]["OrdersQueue3DFA1D51"]["Metadata"] = "not a mapping"
    template["Resources"]["OrdersDlq16CD0DA3"]["Properties"]["Tags"] = UNRESOLVED
    template["Resources"]["Broken"] = ["not", "a", "resource"]
    template["Parameters"]["BootstrapVersion"] = UNRESOLVED
    template["Outputs"] = ["not", "a", "mapping"]
    origin = stack_origin(template, original=UNRESOLVED, stack_name=7, description={"Fn::Sub": "x"},
                          tags={"copilot-application": None, 3: "x"}, parameters=["BootstrapVersion"],
                          outputs="ServerlessDeploymentBucketName", constructs=["1.0.0!broken", 5])
    # still CDK v2 by its Analytics; the rule alone now says which synthesizer; the bad inputs count for nothing
    assert (origin.framework, origin.synthesizer) == ("cdk-v2", "default")
    assert "CheckBootstrapVersion rule" in origin.evidence
    assert "aws:cdk:path metadata on 9 resources" in origin.evidence
    assert not [e for e in origin.evidence if "copilot" in e or "Serverless" in e]


# ------------------------------------------------------------------------- the real outputs in fixtures/


def _fixture(relative: str) -> dict:
    path = Path(__file__).resolve().parents[1] / "fixtures" / relative
    return load_template(path.read_text(encoding="utf-8"), str(path))


def test_real_fixtures_of_every_tool_are_classified_as_the_tool_that_made_them():
    """Each made by its own tool (see fixtures/*/README.md): serverless@3 package, the SAM translator, the CDK CLIs."""
    sam_original, sam_processed = _fixture("sam/visit-counter.yaml"), _fixture("sam/visit-counter.processed.json")
    cases = {
        "serverless": stack_origin(_fixture("serverless/cloudformation-template-update-stack.json")),
        "sam (original)": stack_origin(sam_original),
        "sam (processed, with its original)": stack_origin(sam_processed, original=sam_original),
        "sam (processed alone)": stack_origin(sam_processed),
        "bootstrap": stack_origin(_fixture("cdk/bootstrap/bootstrap-template.yaml"), stack_name="CDKToolkit"),
        "v1 chain": stack_origin(_fixture("cdk/v1-multi/cdk.out/legacy-ingest.template.json")),
        "v1 without metadata": stack_origin(_fixture("cdk/v1-no-version-reporting/cdk.out/legacy-audit.template.json")),
    }
    assert {name: origin.framework for name, origin in cases.items()} == {
        "serverless": "serverless", "sam (original)": "sam", "sam (processed, with its original)": "sam",
        "sam (processed alone)": "sam", "bootstrap": "cdk-bootstrap", "v1 chain": "cdk-v1",
        "v1 without metadata": "cdk",
    }
    assert cases["v1 chain"].cdk_version == "1.204.0" and cases["v1 chain"].synthesizer == "legacy"
    assert any("bootstrap version 33" in fact for fact in cases["bootstrap"].evidence)
