"""Meta-tests over the catalog: every row is real (botocore, CloudFormation schemas) and consistent."""

from __future__ import annotations

import json
import string

import boto3
import botocore.session
import jmespath
import pytest

from graph.resource_types import (
    CATALOG,
    CHILD_TYPES,
    FUNCTIONS,
    RESOURCE_TYPES,
    TERRAFORM_TYPES,
    catalog_as_dicts,
    format_arn,
)

REQUIRED_TYPES = {
    "AWS::EC2::VPC", "AWS::EC2::Subnet", "AWS::EC2::SecurityGroup", "AWS::EC2::Instance", "AWS::EC2::Volume",
    "AWS::EC2::EIP", "AWS::EC2::NatGateway", "AWS::EC2::InternetGateway", "AWS::EC2::RouteTable",
    "AWS::EC2::NetworkInterface", "AWS::S3::Bucket", "AWS::IAM::Role", "AWS::IAM::User", "AWS::IAM::Group",
    "AWS::IAM::ManagedPolicy", "AWS::IAM::InstanceProfile", "AWS::Lambda::Function", "AWS::SQS::Queue",
    "AWS::SNS::Topic", "AWS::DynamoDB::Table", "AWS::RDS::DBInstance", "AWS::RDS::DBCluster",
    "AWS::RDS::DBSubnetGroup", "AWS::KMS::Key", "AWS::KMS::Alias", "AWS::Logs::LogGroup", "AWS::CloudWatch::Alarm",
    "AWS::ECS::Cluster", "AWS::ECS::Service", "AWS::ECS::TaskDefinition",
    "AWS::ElasticLoadBalancingV2::LoadBalancer", "AWS::ElasticLoadBalancingV2::TargetGroup",
    "AWS::ElasticLoadBalancingV2::Listener", "AWS::ElastiCache::CacheCluster", "AWS::ElastiCache::ReplicationGroup",
    "AWS::Route53::HostedZone", "AWS::SSM::Parameter", "AWS::SecretsManager::Secret", "AWS::Events::Rule",
    "AWS::ECR::Repository", "AWS::CloudFormation::Stack",
}

_session = botocore.session.get_session()


def _operation(service: str, method: str):
    client = boto3.client(service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    operation = client.meta.method_to_api_mapping.get(method)
    assert operation, f"{service} has no method {method}"
    return client.meta.service_model.operation_model(operation)


def test_catalog_covers_the_required_types_and_more_than_forty():
    assert REQUIRED_TYPES <= set(CATALOG)
    assert len(RESOURCE_TYPES) >= 40
    assert len(CATALOG) == len(RESOURCE_TYPES), "a type is declared twice"


@pytest.mark.parametrize("row", RESOURCE_TYPES, ids=lambda r: r.type)
def test_every_call_exists_in_botocore_and_is_a_read(row):
    calls = [row.list] + [call for _, call in row.details] + ([row.tags.call] if row.tags and row.tags.call else [])
    calls += [row.tags.bulk] if row.tags and row.tags.bulk else []
    for call in calls:
        model = _operation(row.service, call.method)
        assert model.name.startswith(("Describe", "List", "Get")), model.name
        members = model.input_shape.members if model.input_shape else {}
        params = set(call.params) | (set(row.parent[1]) if row.parent and call is row.list else set())
        assert params <= set(members), f"{call.method} takes no {params - set(members)}"
        jmespath.compile(call.path)


@pytest.mark.parametrize("row", RESOURCE_TYPES, ids=lambda r: r.type)
def test_batched_and_bulk_calls_say_how_their_answers_match_the_items(row):
    """A call asked for several items at once reads a list of entries and says which item each is about; a type
    whose tags come from the Tagging API or a bulk call keeps its own tag call for when those fail."""
    calls = [call for _, call in row.details] + ([row.tags.call] if row.tags and row.tags.call else [])
    for call in calls + ([row.tags.bulk] if row.tags and row.tags.bulk else []):
        if call.batch or (row.tags and call is row.tags.bulk):
            assert call.entries and call.identity, call.method
            jmespath.compile(call.entries)
            members = _operation(row.service, call.method).input_shape.members
            lists = [k for k, v in call.params.items() if isinstance(v, list) and len(v) == 1 and "{" in str(v[0])]
            if call.batch:
                assert len(lists) == 1 and members[lists[0]].type_name == "list", call.method
    if row.tags and (row.tags.tagging or row.tags.bulk):
        assert row.tags.call is not None, "the per-item tag call is the fallback"
    if row.tags and row.tags.tagging:
        assert row.scope == "regional", "GetResources answers per region"


@pytest.mark.parametrize("row", RESOURCE_TYPES, ids=lambda r: r.type)
def test_every_row_is_complete_and_its_functions_exist(row):
    assert row.type.count("::") == 2 and row.type.startswith("AWS::")
    assert row.terraform, "every type says how Terraform declares it"
    assert row.scope in ("regional", "global", "global_list")
    for name in (row.keep, row.normalize, row.finish, row.default, row.physical_id):
        assert name is None or name in FUNCTIONS, name
    for path in (row.id, row.arn_field, row.name, *row.aliases, *(e.path for e in row.edges)):
        if path:
            jmespath.compile(path)
    for edge in row.edges:
        assert edge.target in CATALOG, edge.target
    if row.parent:
        assert row.parent[0] in CATALOG
    arn = format_arn(row, "aws", "us-east-1", "123456789012", "arn:aws:x:us-east-1:123456789012:thing/x"
                     if row.arn == "{id}" else "thing-1")
    assert arn and arn.startswith("arn:aws:")
    assert not set(f for _, f, _, _ in string.Formatter().parse(row.arn) if f) - {"partition", "region", "account", "id"}


def test_cloudformation_types_and_compared_properties_are_real():
    """Checked against the CloudFormation resource schemas that cfn-lint ships."""
    schemas = pytest.importorskip("cfnlint.schema", reason="cfn-lint is a test dependency (pip install -e .[test])")
    manager = schemas.PROVIDER_SCHEMA_MANAGER
    for row in RESOURCE_TYPES:
        schema = manager.get_resource_schema("us-east-1", row.type).schema
        properties = schema["properties"]
        for comparable in row.comparables:
            if comparable.cloudformation:
                head = comparable.cloudformation.split(".")[0].split("[")[0]
                assert head in properties, f"{row.type} has no property {head}"
        if row.cloudformation_name:
            assert row.cloudformation_name in properties, (row.type, row.cloudformation_name)
    for child, (parent, attribute) in CHILD_TYPES.items():
        if child.startswith("AWS::"):
            properties = manager.get_resource_schema("us-east-1", child).schema["properties"]
            assert attribute in properties, (child, attribute)


def test_terraform_types_are_unique_and_children_point_at_catalog_types():
    declared = [tf for row in RESOURCE_TYPES for tf in row.terraform_types]
    assert len(declared) == len(set(declared)) == len(TERRAFORM_TYPES)
    assert all(t.startswith("aws_") for t in declared)
    assert not set(declared) & set(CHILD_TYPES)
    for parent, _ in CHILD_TYPES.values():
        assert parent in CATALOG


def test_types_command_lists_the_catalog_as_json():
    from click.testing import CliRunner

    from driftgraph.cli import cli

    result = CliRunner().invoke(cli, ["types", "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["type"] for r in rows] == [r.type for r in RESOURCE_TYPES]
    assert rows == catalog_as_dicts()


def test_the_shipped_iam_policy_is_the_one_the_catalog_needs_and_only_reads():
    from pathlib import Path

    from scanner.permissions import policy_json, required_actions

    shipped = (Path(__file__).resolve().parents[1] / "docs" / "iam-policy.json").read_text()
    assert shipped == policy_json(), "regenerate with: driftgraph iam-policy > docs/iam-policy.json"
    actions = required_actions()
    assert "s3:ListAllMyBuckets" in actions and "cloudwatch:DescribeAlarms" in actions
    assert "elasticloadbalancing:DescribeTags" in actions and "cloudformation:GetTemplate" in actions
    # cloudtrail:LookupEvents: who made a resource (scanner/cloudtrail.py)
    assert all(a.split(":")[1].startswith(("Describe", "List", "Get", "Lookup")) for a in actions), actions


def test_the_default_policy_reads_no_s3_object_and_lists_no_bucket():
    """Terraform state is the only S3 content driftgraph reads; the default policy grants none of it."""
    from pathlib import Path

    policy = json.loads((Path(__file__).resolve().parents[1] / "docs" / "iam-policy.json").read_text())
    granted = [a for statement in policy["Statement"] for a in statement["Action"]]
    assert [s["Resource"] for s in policy["Statement"]] == ["*"]
    assert "s3:GetObject" not in granted and "s3:ListBucket" not in granted
    assert not [a for a in granted if a.endswith("*")]


def _policy(*args):
    from click.testing import CliRunner

    from driftgraph.cli import cli

    result = CliRunner().invoke(cli, ["iam-policy", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_the_policy_grants_state_reads_only_under_the_named_prefixes():
    policy = _policy("--tfstate", "s3://acme-states/prod/", "--tfstate", "s3://acme-states/legacy",
                     "--tfstate", "s3://team-states", "--tfstate", "s3://acme-states/prod/")
    account, objects, *listings = policy["Statement"]
    assert account["Resource"] == "*" and "s3:GetObject" not in account["Action"]
    assert objects == {
        "Sid": "DriftgraphStateObjects",
        "Effect": "Allow",
        "Action": ["s3:GetObject"],
        "Resource": ["arn:aws:s3:::acme-states/legacy*", "arn:aws:s3:::acme-states/prod/*",
                     "arn:aws:s3:::team-states/*"],
    }
    assert listings == [
        {"Sid": "DriftgraphStateList1", "Effect": "Allow", "Action": ["s3:ListBucket"],
         "Resource": "arn:aws:s3:::acme-states",
         "Condition": {"StringLike": {"s3:prefix": ["legacy*", "prod/*"]}}},
        # s3://team-states names the whole bucket: no prefix condition
        {"Sid": "DriftgraphStateList2", "Effect": "Allow", "Action": ["s3:ListBucket"],
         "Resource": "arn:aws:s3:::team-states"},
    ]
    sids = [s["Sid"] for s in policy["Statement"]]
    assert len(sids) == len(set(sids))
    for statement in policy["Statement"]:
        assert all(a.split(":")[1].startswith(("Describe", "List", "Get", "Lookup")) for a in statement["Action"]), \
            statement


def test_the_state_statements_take_the_partition_and_escape_iam_wildcards():
    policy = _policy("--tfstate", "s3://cn-states/team*a/v?$x", "--partition", "aws-cn")
    _, objects, listing = policy["Statement"]
    # an S3 prefix holds '*', '?' and '$' literally; IAM would read them as wildcards or variables
    assert objects["Resource"] == ["arn:aws-cn:s3:::cn-states/team${*}a/v${?}${$}x*"]
    assert listing["Resource"] == "arn:aws-cn:s3:::cn-states"
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["team${*}a/v${?}${$}x*"]}}


@pytest.mark.parametrize("args, message", [
    (["--tfstate", "infra/prod.tfstate"], "not an s3://bucket/prefix location"),
    (["--tfstate", "s3:///prod"], "no bucket named"),
    (["--tfstate", "s3://bucket*/prod"], "is not a bucket name"),
    (["--partition", "mars"], "'mars' is not one of aws, aws-cn"),
])
def test_the_policy_refuses_what_it_cannot_scope(args, message):
    from click.testing import CliRunner

    from driftgraph.cli import cli

    result = CliRunner().invoke(cli, ["iam-policy", *args])
    assert result.exit_code == 2 and message in result.output, result.output


def test_the_resource_types_table_holds_the_whole_catalog(tmp_path):
    import sqlite_utils

    from graph.store import TABLES, ScanWriter

    assert set(TABLES["resource_types"]) == set(catalog_as_dicts()[0])
    writer = ScanWriter(tmp_path / "g.db")
    writer.begin({"started_at": "now", "status": "running"})
    writer.write_catalog(catalog_as_dicts())
    writer.commit()
    rows = {r["type"]: r for r in sqlite_utils.Database(tmp_path / "g.db")["resource_types"].rows}
    assert len(rows) == len(RESOURCE_TYPES)
    sqs = rows["AWS::SQS::Queue"]
    assert json.loads(sqs["terraform_types"])[0]["type"] == "aws_sqs_queue"
    assert json.loads(sqs["import_identifier"]) == ["QueueUrl"]
