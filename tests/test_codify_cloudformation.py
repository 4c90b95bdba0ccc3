"""The CloudFormation and CDK outputs of `driftgraph codify`: lint-clean templates, the ResourcesToImport that
CreateChangeSet takes, identifiers that match the resource schemas, blockers listed, the CDK app."""

import ast
import json

import pytest
import yaml

from graph.codify import CodifyResource, Group
from graph.codify_cloudformation import (
    MAX_RESOURCES_PER_TEMPLATE,
    NOT_IMPORTABLE,
    READ_ONLY_IDENTIFIERS,
    REQUIRED_PROPERTIES,
    TAGS_AS_MAP,
    TAGS_PROPERTY,
    render_cdk,
    render_cloudformation,
)
from graph.resource_types import RESOURCE_TYPES

ACCOUNT, REGION = "123456789012", "us-east-1"
VPC, SUBNET, GROUP, INSTANCE = "vpc-0a1b2c3d4e5f60718", "subnet-0a1b2c3d4e5f60718", "sg-0a1b2c3d4e5f60718", "i-0a1b2c3d4e5f60718"


def resource(type_, natural_id, arn=None, name=None, tags=None, attributes=None, edges=(), region=REGION):
    return CodifyResource(
        id=arn or f"{type_}:{ACCOUNT}:{region}:{natural_id}", type=type_, account=ACCOUNT, region=region, name=name,
        natural_id=natural_id, arn=arn, tags=tags or {}, attributes=attributes or {}, status="unmanaged",
        edges_out=list(edges),
    )


def legacy_group():
    """A hand-built network with a server in it, its role, and a few loose resources."""
    vpc = resource("AWS::EC2::VPC", VPC, f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc/{VPC}", tags={"Name": "legacy"},
                   attributes={"cidr_block": "10.0.0.0/16"})
    subnet = resource("AWS::EC2::Subnet", SUBNET, f"arn:aws:ec2:{REGION}:{ACCOUNT}:subnet/{SUBNET}",
                      tags={"Name": "legacy-a"}, edges=[("in_vpc", vpc.id)],
                      attributes={"cidr_block": "10.0.1.0/24", "availability_zone": "us-east-1a"})
    group = resource("AWS::EC2::SecurityGroup", GROUP, f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/{GROUP}",
                     name="web", edges=[("in_vpc", vpc.id)], attributes={
                         "description": "web servers",
                         "ingress": [{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
                                      "IpRanges": [{"CidrIp": "10.0.0.0/8"}], "UserIdGroupPairs": [{"GroupId": GROUP}]}],
                         "egress": [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]})
    role = resource("AWS::IAM::Role", "web-role", f"arn:aws:iam::{ACCOUNT}:role/web-role", region="global",
                    attributes={"path": "/", "max_session_duration": 3600, "assume_role_policy": {
                        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                                "Principal": {"Service": "ec2.amazonaws.com"}}]}})
    profile = resource("AWS::IAM::InstanceProfile", "web-profile", f"arn:aws:iam::{ACCOUNT}:instance-profile/web-profile",
                       region="global", attributes={"path": "/", "roles": ["web-role"]}, edges=[("uses_role", role.id)])
    instance = resource("AWS::EC2::Instance", INSTANCE, f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{INSTANCE}",
                        tags={"Name": "web-1", "db_password": "<redacted>", "aws:cloudformation:stack-name": "x"},
                        attributes={"instance_type": "t3.micro", "security_groups": [GROUP]},
                        edges=[("in_subnet", subnet.id), ("uses_security_group", group.id),
                               ("uses_instance_profile", profile.id), ("in_vpc", vpc.id)])
    queue = resource("AWS::SQS::Queue", "jobs", f"arn:aws:sqs:{REGION}:{ACCOUNT}:jobs", tags={"team": "ops"},
                     attributes={"visibility_timeout": "30", "fifo_queue": "false", "delay_seconds": "0"})
    table = resource("AWS::DynamoDB::Table", "cache", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/cache",
                     attributes={"billing_mode": "PAY_PER_REQUEST", "hash_key": "k"})
    parameter = resource("AWS::SSM::Parameter", "/ops/window", f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/ops/window",
                         attributes={"type": "String"})
    address = resource("AWS::EC2::EIP", "eipalloc-0a1b2c3d", f"arn:aws:ec2:{REGION}:{ACCOUNT}:elastic-ip/eipalloc-0a1b2c3d",
                       edges=[("attached_to", instance.id)])
    return Group("legacy", "legacy network", [vpc, subnet, group, role, profile, instance, queue, table, parameter,
                                               address])


def lint_errors(text, region=REGION):
    import cfnlint.api

    return [m for m in cfnlint.api.lint(text, regions=[region]) if m.rule.id.startswith("E")]


def templates(files):
    return {path: text for path, text in files.items() if path.endswith("template.yaml")}


def test_templates_pass_cfn_lint_and_declare_retain_identifiers_and_references():
    files = render_cloudformation([legacy_group()], [])
    (path, text), = templates(files).items()
    assert path == "legacy/template.yaml"
    assert lint_errors(text) == []
    template = yaml.safe_load(text)
    resources = template["Resources"]
    assert all(r["DeletionPolicy"] == "Retain" and r["UpdateReplacePolicy"] == "Retain" for r in resources.values())
    assert set(resources) == {"LegacyVPC", "LegacyASubnet", "WebSecurityGroup", "WebRole", "WebProfileInstanceProfile",
                              "Web1Instance", "JobsQueue", "CacheTable"}
    instance = resources["Web1Instance"]["Properties"]
    assert instance["SubnetId"] == {"Ref": "LegacyASubnet"}
    assert instance["SecurityGroupIds"] == [{"Fn::GetAtt": ["WebSecurityGroup", "GroupId"]}]
    assert instance["IamInstanceProfile"] == {"Ref": "WebProfileInstanceProfile"}
    assert instance["ImageId"] == {"Ref": "Web1InstanceImageId"}  # read at import time by import.sh
    assert instance["Tags"] == [{"Key": "Name", "Value": "web-1"}]  # no secret, no aws: tag
    assert "InstanceId" not in instance  # read-only: only in ResourcesToImport
    assert resources["LegacyASubnet"]["Properties"]["VpcId"] == {"Ref": "LegacyVPC"}
    assert resources["WebRole"]["Properties"]["RoleName"] == "web-role"
    assert resources["WebProfileInstanceProfile"]["Properties"]["Roles"] == [{"Ref": "WebRole"}]
    assert resources["JobsQueue"]["Properties"] == {
        "QueueName": "jobs", "VisibilityTimeout": 30, "DelaySeconds": 0, "Tags": [{"Key": "team", "Value": "ops"}]}
    rules = resources["WebSecurityGroup"]["Properties"]["SecurityGroupIngress"]
    assert {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "SourceSecurityGroupId": GROUP} in rules
    assert "<redacted>" not in "".join(files.values())


def test_resources_to_import_is_what_create_change_set_takes():
    import botocore.session
    from botocore.validate import ParamValidator

    files = render_cloudformation([legacy_group()], [])
    to_import = json.loads(files["legacy/resources-to-import.json"])
    model = botocore.session.get_session().get_service_model("cloudformation").operation_model("CreateChangeSet")
    request = {"StackName": "driftgraph-legacy", "ChangeSetName": "driftgraph-import", "ChangeSetType": "IMPORT",
               "TemplateBody": files["legacy/template.yaml"], "ResourcesToImport": to_import,
               "Capabilities": ["CAPABILITY_NAMED_IAM"],
               "Parameters": [{"ParameterKey": "Web1InstanceImageId", "ParameterValue": "ami-12345678"}]}
    report = ParamValidator().validate(request, model.input_shape)
    assert not report.has_errors(), report.generate_report()
    by_logical = {entry["LogicalResourceId"]: entry for entry in to_import}
    assert by_logical["Web1Instance"] == {"ResourceType": "AWS::EC2::Instance", "LogicalResourceId": "Web1Instance",
                                          "ResourceIdentifier": {"InstanceId": INSTANCE}}
    assert by_logical["JobsQueue"]["ResourceIdentifier"] == {
        "QueueUrl": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/jobs"}
    assert by_logical["WebSecurityGroup"]["ResourceIdentifier"] == {"Id": GROUP}
    template = yaml.safe_load(files["legacy/template.yaml"])
    assert set(by_logical) == set(template["Resources"])
    script = files["legacy/import.sh"]
    assert ("aws cloudformation create-change-set --region us-east-1 --stack-name driftgraph-legacy "
            "--change-set-name driftgraph-import --change-set-type IMPORT "
            "--resources-to-import file://resources-to-import.json --template-body file://template.yaml") in script
    assert "--capabilities CAPABILITY_NAMED_IAM" in script
    assert "aws cloudformation execute-change-set --region us-east-1 --stack-name driftgraph-legacy" in script


def test_moto_accepts_the_import_change_set_request(aws):
    """moto's CloudFormation accepts ChangeSetType IMPORT but ignores ResourcesToImport (executing it would
    create, not adopt), so this proves the request is well-formed on the wire, nothing about the import."""
    import boto3

    files = render_cloudformation([legacy_group()], [])
    client = boto3.client("cloudformation", region_name=REGION)
    answer = client.create_change_set(
        StackName="driftgraph-legacy", ChangeSetName="driftgraph-import", ChangeSetType="IMPORT",
        TemplateBody=files["legacy/template.yaml"],
        ResourcesToImport=json.loads(files["legacy/resources-to-import.json"]), Capabilities=["CAPABILITY_NAMED_IAM"],
        Parameters=[{"ParameterKey": "Web1InstanceImageId", "ParameterValue": "ami-12345678"},
                    {"ParameterKey": "CacheTableKey1Type", "ParameterValue": "S"}])
    described = client.describe_change_set(ChangeSetName=answer["Id"])
    assert described["Status"] == "CREATE_COMPLETE"


def test_a_group_of_more_than_500_is_split_into_templates_of_at_most_500():
    queues = [resource("AWS::SQS::Queue", f"q-{n:04d}", f"arn:aws:sqs:{REGION}:{ACCOUNT}:q-{n:04d}")
              for n in range(MAX_RESOURCES_PER_TEMPLATE * 2 + 3)]
    files = render_cloudformation([Group("queues", "many queues", queues)], [])
    parts = templates(files)
    assert sorted(parts) == [f"queues/part-0{n}/template.yaml" for n in (1, 2, 3)]
    counts = [len(yaml.safe_load(parts[p])["Resources"]) for p in sorted(parts)]
    assert counts == [500, 500, 3]
    imports = [json.loads(files[p.replace("template.yaml", "resources-to-import.json")]) for p in sorted(parts)]
    assert [len(i) for i in imports] == counts
    names = {e["ResourceIdentifier"]["QueueUrl"] for part in imports for e in part}
    assert len(names) == len(queues)
    # a template past 51,200 bytes goes through S3, as --template-body cannot take it
    large = [p for p in sorted(parts) if len(parts[p].encode()) > 51_200]
    for path in large:
        assert "--template-url" in files[path.replace("template.yaml", "import.sh")]
    assert "--stack-name driftgraph-queues-part-03" in files["queues/part-03/import.sh"]


def test_regions_get_stacks_of_their_own_and_global_resources_join_one():
    east = resource("AWS::SQS::Queue", "a", f"arn:aws:sqs:us-east-1:{ACCOUNT}:a")
    west = resource("AWS::SQS::Queue", "b", f"arn:aws:sqs:eu-west-1:{ACCOUNT}:b", region="eu-west-1")
    user = resource("AWS::IAM::User", "ops-alice", f"arn:aws:iam::{ACCOUNT}:user/ops-alice", region="global")
    files = render_cloudformation([Group("tag-team-ops", "team=ops", [east, west, user])], [])
    parts = {p: yaml.safe_load(t) for p, t in templates(files).items()}
    assert {tuple(sorted(t["Resources"])) for t in parts.values()} == {("AQueue", "OpsAliceUser"), ("BQueue",)}
    assert "--region eu-west-1" in files["tag-team-ops/part-02/import.sh"]


@pytest.mark.parametrize("row", RESOURCE_TYPES, ids=lambda r: r.type)
def test_identifiers_and_tables_agree_with_the_cloudformation_schemas(row):
    """Every catalog row: its import identifier is the schema's primaryIdentifier, the writer's tables of
    required, read-only and map-tag properties are the schema's, and the type is importable (create, read and
    delete handlers) unless it is a listed blocker."""
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", row.type).schema
    primary = tuple(p.split("/")[-1] for p in schema["primaryIdentifier"])
    read_only = {p.split("/")[-1] for p in schema.get("readOnlyProperties", [])}
    if row.type in NOT_IMPORTABLE:
        assert row.type == "AWS::CloudFormation::Stack"
    else:
        assert row.import_identifier == primary
        assert {"create", "read", "delete"} <= set(schema.get("handlers", {}))
    assert READ_ONLY_IDENTIFIERS.get(row.type, frozenset()) == set(primary) & read_only
    assert REQUIRED_PROPERTIES.get(row.type, ()) == tuple(schema.get("required", ()))
    tags = schema["properties"].get("Tags")
    assert (row.type in TAGS_AS_MAP) == bool(tags and tags.get("type") == "object")
    if any(c.kind == "tags" for c in row.comparables):
        written = TAGS_PROPERTY.get(row.type, "Tags")
        assert written is None or written in schema["properties"], f"{row.type} has no property {written}"


def test_blockers_are_listed_never_dropped():
    caller = {"id": "arn:aws:cloudformation:us-east-1:1:stack/s/1", "type": "AWS::CloudFormation::Stack", "name": "s",
              "reason": "a stack is imported as a nested stack of its parent"}
    stack = resource("AWS::CloudFormation::Stack", "arn:aws:cloudformation:us-east-1:1:stack/t/2",
                     "arn:aws:cloudformation:us-east-1:1:stack/t/2", name="t")
    group = legacy_group()
    files = render_cloudformation([Group(group.key, group.title, group.resources + [stack])], [caller])
    blockers = {b["name"]: b for b in json.loads(files["blockers.json"])}
    assert set(blockers) == {"s", "t", "/ops/window", "eipalloc-0a1b2c3d"}
    assert "Value" in blockers["/ops/window"]["reason"]
    assert "PublicIp" in blockers["eipalloc-0a1b2c3d"]["reason"]
    assert "nesting" in blockers["t"]["reason"]
    for name in blockers:
        assert name in files["README.md"]
    # every resource given is either imported or a blocker
    imported = json.loads(files["legacy/resources-to-import.json"])
    assert len(imported) + len(blockers) - 1 == len(group.resources) + 1


def test_the_cdk_app_adopts_each_template_and_maps_its_identifiers():
    files = render_cdk([legacy_group()], [])
    assert templates(files)  # the CloudFormation output is all there
    app = files["cdk/app.py"]
    tree = ast.parse(app)
    assert "CfnInclude" in app and "templates/driftgraph-legacy.yaml" in app
    assert any(isinstance(n, ast.ClassDef) and n.name == "AdoptedStack" for n in tree.body)
    assert files["cdk/templates/driftgraph-legacy.yaml"] == files["legacy/template.yaml"]
    mapping = json.loads(files["cdk/mappings/driftgraph-legacy.json"])
    to_import = json.loads(files["legacy/resources-to-import.json"])
    assert mapping == {e["LogicalResourceId"]: e["ResourceIdentifier"] for e in to_import}
    assert all(isinstance(v, dict) and all(isinstance(x, str) for x in v.values()) for v in mapping.values())
    assert json.loads(files["cdk/cdk.json"])["app"] == "python3 app.py"
    requirements = files["cdk/requirements.txt"].splitlines()
    assert any(r.startswith("aws-cdk-lib") and "<3" in r and ">=2." in r for r in requirements)
    assert "cdk import driftgraph-legacy --resource-mapping mappings/driftgraph-legacy.json" in files["cdk/README.md"]


def test_nothing_secret_is_written():
    leaky = resource("AWS::SQS::Queue", "jobs", f"arn:aws:sqs:{REGION}:{ACCOUNT}:jobs",
                     tags={"api_token": "ghp_abcdefghijklmnopqrstuvwxyz0123456789", "Name": "jobs",
                           "note": "password=hunter2-hunter2"})
    files = render_cdk([Group("g", "g", [leaky])], [])
    text = "".join(files.values())
    assert "ghp_abcdefghijklmnopqrstuvwxyz0123456789" not in text and "hunter2" not in text
    assert yaml.safe_load(files["g/template.yaml"])["Resources"]["JobsQueue"]["Properties"]["Tags"] == [
        {"Key": "Name", "Value": "jobs"}]


def test_the_demo_estate_codifies_to_lint_clean_templates(estate_scan):
    import sqlite_utils

    from graph.codify import codify

    db = sqlite_utils.Database(estate_scan["db"])
    plan = codify(db, tool="cloudformation")
    files = render_cdk(plan.groups, plan.blockers)
    chosen = {r.id for g in plan.groups for r in g.resources} | {b["id"] for b in plan.blockers}
    imported = set()
    for path, text in templates(files).items():
        if path.startswith("cdk/"):
            continue
        region = next(line.split("--region ")[1].split()[0] for line in files[path.replace("template.yaml", "import.sh")]
                      .splitlines() if "create-change-set" in line)
        assert lint_errors(text, region) == [], path
        imported |= {e["LogicalResourceId"] for e in json.loads(files[path.replace("template.yaml",
                                                                                    "resources-to-import.json")])}
    blocked = {b["id"] for b in json.loads(files["blockers.json"])}
    assert len(chosen) == 13
    assert len(imported) + len(blocked) == len(chosen)
    assert "PLANTED" not in "".join(files.values())
