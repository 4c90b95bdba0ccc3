"""CloudFormation: template loading and intrinsic resolution (pure), template files, and deployed stacks read
through the real boto3 path from a moto server."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from graph.records import CLOUDFORMATION, GLOBAL, UNRESOLVED, Owner
from importers.cfn_template import (
    NO_VALUE,
    SAM,
    TemplateError,
    declared_resources,
    evaluate_condition,
    exported_names,
    imported_names,
    inline_transforms,
    load_template,
    make_context,
    resolve,
    transforms,
)
from graph.resource_types import CATALOG
from importers.cloudformation import (
    deployed_parameters,
    import_stacks,
    import_template_files,
    resource_arn,
    stack_to_result,
)
from scanner.clients import AwsSession

REPO = Path(__file__).parents[1]
FIXTURES = REPO / "fixtures" / "cfn" / "tests"
CDK_TEMPLATE = REPO / "fixtures" / "cdk" / "v2" / "cdk.out" / "orders-service.template.json"
CORPUS = Path(__file__).parents[2] / "shared" / "corpus" / "cfn"
ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"


def needs_corpus():
    if not CORPUS.is_dir():
        pytest.skip(f"third-party corpus not present at {CORPUS} (it lives outside the repo, in ../shared)")


# ------------------------------------------------------------------------------------------------ loading


def test_short_form_yaml_becomes_long_form():
    template = load_template((FIXTURES / "shortform.yaml").read_text(), "shortform.yaml")
    assert template["AWSTemplateFormatVersion"] == "2010-09-09"  # a date stays text
    assert template["Conditions"] == {
        "IsProd": {"Fn::Equals": [{"Ref": "Env"}, "prod"]},
        "Both": {
            "Fn::And": [
                {"Condition": "IsProd"},
                {"Fn::Not": [{"Fn::Equals": [{"Ref": "AWS::Region"}, "cn-north-1"]}]},
            ]
        },
        "Either": {"Fn::Or": [{"Condition": "IsProd"}, {"Fn::Equals": ["a", "b"]}]},
    }
    properties = template["Resources"]["Queue"]["Properties"]
    assert properties["QueueName"] == {"Fn::Sub": "${Env}-queue"}
    assert properties["DelaySeconds"] == {"Fn::FindInMap": ["Sizes", {"Ref": "Env"}, "Memory"]}
    assert properties["RedrivePolicy"] == {"Fn::If": ["IsProd", {"maxReceiveCount": 5}, {"Ref": "AWS::NoValue"}]}
    tags = {tag["Key"]: tag["Value"] for tag in properties["Tags"]}
    assert tags == {
        "joined": {"Fn::Join": ["-", ["a", {"Fn::Select": [1, {"Fn::Split": [",", "x,y,z"]}]}]]},
        "arn": {"Fn::GetAtt": ["Queue", "Arn"]},
        "nested": {"Fn::GetAtt": ["App", "Outputs.Name"]},  # split at the first dot only
        "imported": {"Fn::ImportValue": "shared-name"},
        "data": {"Fn::Base64": "hello"},
        "zones": {"Fn::Select": [0, {"Fn::GetAZs": ""}]},
        "cidr": {"Fn::Select": [0, {"Fn::Cidr": ["10.0.0.0/16", 4, 8]}]},
        "embedded": {"Rain::Embed": "file.txt"},  # an unknown vendor tag keeps its name
    }


def test_json_and_yaml_twins_load_alike():
    from_yaml = load_template((FIXTURES / "named.yaml").read_text(), "named.yaml")
    from_json = load_template((FIXTURES / "named.json").read_text(), "named.json")
    assert from_yaml == from_json


def test_yaml_booleans_follow_cloudformation():
    # CloudFormation reads YAML 1.1: unquoted Yes/No are booleans, which Fn::Equals compares as "true"/"false"
    template = load_template(
        "Parameters:\n  Create: {Type: String, Default: No}\n"
        "Conditions:\n  Creating: !Equals [!Ref Create, Yes]\n"
        "Resources:\n  Q: {Type: AWS::SQS::Queue, Condition: Creating}\n",
        "yes-no.yaml",
    )
    context = make_context(template)
    assert evaluate_condition("Creating", context) is False
    assert declared_resources(template, context) == {}
    assert evaluate_condition("Creating", make_context(template, parameters={"Create": "true"})) is True


@pytest.mark.parametrize(
    "name, text, line, fragment",
    [
        ("truncated.yaml", (FIXTURES / "broken" / "truncated.yaml").read_text(), 6, "invalid YAML"),
        ("truncated.json", (FIXTURES / "broken" / "truncated.json").read_text(), 6, "invalid JSON"),
        ("tabs.yaml", "Resources:\n  Q:\n\tType: AWS::SQS::Queue\n", 3, "invalid YAML"),
        ("bad.json", '{\n  "Resources": {\n    "Q": {"Type": "AWS::SQS::Queue" "X": 1}\n  }\n}\n', 3, "invalid JSON"),
        ("no-resources.yaml", (FIXTURES / "broken" / "no-resources.yaml").read_text(), None, "no Resources"),
        ("list.yaml", "- a\n- b\n", None, "not a mapping"),
        ("empty.yaml", "\n\n", None, "empty"),
        ("empty-resources.json", '{"Resources": {}}', None, "Resources section is empty"),
    ],
)
def test_unreadable_templates_name_file_and_line(name, text, line, fragment):
    with pytest.raises(TemplateError) as caught:
        load_template(text, name)
    assert caught.value.source == name
    assert caught.value.line == line
    assert fragment in caught.value.message
    assert str(caught.value).startswith(f"{name}:{line}: " if line else f"{name}: ")


def test_json_that_only_yaml_accepts_still_loads():
    # CloudFormation falls back to YAML, which takes a trailing comma in a flow mapping
    template = load_template('{"Resources": {"Q": {"Type": "AWS::SQS::Queue",}}}', "comma.json")
    assert template == {"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}


# ------------------------------------------------------------------------------------------------ resolving

TEMPLATE = {
    "Parameters": {
        "Env": {"Type": "String", "Default": "prod"},
        "Count": {"Type": "Number", "Default": 3},
        "Subnets": {"Type": "CommaDelimitedList", "Default": "subnet-a, subnet-b"},
        "Zones": {"Type": "List<AWS::EC2::AvailabilityZone::Name>"},
        "Password": {"Type": "String", "NoEcho": "true", "Default": "hunter2hunter2"},
        "Ami": {"Type": "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>", "Default": "/aws/service/ami"},
        "Required": {"Type": "String"},
    },
    "Mappings": {"Region": {"eu-west-1": {"Ami": "ami-123", "Sizes": ["s", "m"]}}},
    "Conditions": {
        "IsProd": {"Fn::Equals": [{"Ref": "Env"}, "prod"]},
        "IsDev": {"Fn::Not": [{"Condition": "IsProd"}]},
        "NeedsRequired": {"Fn::Equals": [{"Ref": "Required"}, "x"]},
        "ProdOrUnknown": {"Fn::Or": [{"Condition": "IsProd"}, {"Condition": "NeedsRequired"}]},
        "DevAndUnknown": {"Fn::And": [{"Condition": "IsDev"}, {"Condition": "NeedsRequired"}]},
        "ProdAndUnknown": {"Fn::And": [{"Condition": "IsProd"}, {"Condition": "NeedsRequired"}]},
        "Loop": {"Fn::Not": [{"Condition": "Loop"}]},
    },
    "Resources": {
        "Queue": {"Type": "AWS::SQS::Queue"},
        "Topic": {"Type": "AWS::SNS::Topic"},
        "DevOnly": {"Type": "AWS::SQS::Queue", "Condition": "IsDev"},
        "Maybe": {"Type": "AWS::SQS::Queue", "Condition": "NeedsRequired"},
    },
}


def _context(**overrides):
    arguments = dict(
        account=ACCOUNT,
        region="eu-west-1",
        partition="aws",
        stack_name="shop",
        stack_id="arn:aws:cloudformation:eu-west-1:123456789012:stack/shop/1",
        physical_ids={"Queue": "https://sqs.eu-west-1.amazonaws.com/123456789012/shop-q"},
        attributes={("Queue", "Arn"): "arn:aws:sqs:eu-west-1:123456789012:shop-q"},
        exports={"shared-vpc": "vpc-1"},
    )
    arguments.update(overrides)
    return make_context(TEMPLATE, **arguments)


@pytest.mark.parametrize(
    "expression, expected",
    [
        ({"Ref": "Env"}, "prod"),
        ({"Ref": "Count"}, "3"),  # a Number parameter is text once referenced
        ({"Ref": "Subnets"}, ["subnet-a", "subnet-b"]),
        ({"Ref": "Zones"}, UNRESOLVED),  # no value, no default
        ({"Ref": "Password"}, UNRESOLVED),  # NoEcho: never read
        ({"Ref": "Ami"}, UNRESOLVED),  # the default names an SSM parameter, not its value
        ({"Ref": "AWS::Region"}, "eu-west-1"),
        ({"Ref": "AWS::AccountId"}, ACCOUNT),
        ({"Ref": "AWS::Partition"}, "aws"),
        ({"Ref": "AWS::URLSuffix"}, "amazonaws.com"),
        ({"Ref": "AWS::StackName"}, "shop"),
        ({"Ref": "AWS::StackId"}, "arn:aws:cloudformation:eu-west-1:123456789012:stack/shop/1"),
        ({"Ref": "AWS::NotificationARNs"}, UNRESOLVED),
        ({"Ref": "Queue"}, "https://sqs.eu-west-1.amazonaws.com/123456789012/shop-q"),
        ({"Ref": "Topic"}, UNRESOLVED),  # a resource whose physical id we do not know
        ({"Ref": "Nowhere"}, UNRESOLVED),
        ({"Ref": "AWS::NoValue"}, NO_VALUE),
        ({"Fn::Sub": "${AWS::StackName}-${Env}-q"}, "shop-prod-q"),
        ({"Fn::Sub": "${Queue.Arn}/x"}, "arn:aws:sqs:eu-west-1:123456789012:shop-q/x"),
        ({"Fn::Sub": "${!Literal}-${Env}"}, "${Literal}-prod"),
        ({"Fn::Sub": ["${Name}-${Env}", {"Name": {"Ref": "AWS::Region"}}]}, "eu-west-1-prod"),
        ({"Fn::Sub": ["${Name}", {"Name": {"Fn::GetAZs": ""}}]}, UNRESOLVED),
        ({"Fn::Sub": "${Topic}-x"}, UNRESOLVED),
        ({"Fn::Sub": "${Topic.TopicName}"}, UNRESOLVED),
        ({"Fn::Join": [":", ["a", {"Ref": "Env"}, 3]]}, "a:prod:3"),
        ({"Fn::Join": [",", {"Ref": "Subnets"}]}, "subnet-a,subnet-b"),
        ({"Fn::Join": [",", ["a", {"Ref": "Topic"}]]}, UNRESOLVED),
        ({"Fn::Join": [",", ["a", {"Ref": "AWS::NoValue"}, "b"]]}, "a,b"),
        ({"Fn::Select": ["1", {"Ref": "Subnets"}]}, "subnet-b"),
        ({"Fn::Select": [5, ["a"]]}, UNRESOLVED),
        ({"Fn::Select": [0, {"Fn::GetAZs": {"Ref": "AWS::Region"}}]}, UNRESOLVED),
        ({"Fn::Select": [1, ["a", {"Ref": "Topic"}]]}, UNRESOLVED),
        ({"Fn::Select": [0, ["a", {"Ref": "Topic"}]]}, "a"),
        ({"Fn::Split": ["/", "a/b/c"]}, ["a", "b", "c"]),
        ({"Fn::Split": ["/", {"Ref": "Topic"}]}, UNRESOLVED),
        ({"Fn::FindInMap": ["Region", {"Ref": "AWS::Region"}, "Ami"]}, "ami-123"),
        ({"Fn::FindInMap": ["Region", {"Ref": "AWS::Region"}, "Sizes"]}, ["s", "m"]),
        ({"Fn::FindInMap": ["Region", "us-east-1", "Ami"]}, UNRESOLVED),
        ({"Fn::FindInMap": ["Region", "us-east-1", "Ami", {"DefaultValue": "ami-0"}]}, "ami-0"),
        ({"Fn::FindInMap": ["Region", {"Ref": "Zones"}, "Ami"]}, UNRESOLVED),
        ({"Fn::If": ["IsProd", "big", "small"]}, "big"),
        ({"Fn::If": ["IsDev", "big", "small"]}, "small"),
        ({"Fn::If": ["NeedsRequired", "big", "small"]}, UNRESOLVED),
        ({"Fn::If": ["Missing", "big", "small"]}, UNRESOLVED),
        ({"Fn::ImportValue": "shared-vpc"}, "vpc-1"),
        ({"Fn::ImportValue": {"Fn::Sub": "shared-${Nope}"}}, UNRESOLVED),
        ({"Fn::ImportValue": "other"}, UNRESOLVED),
        ({"Fn::GetAtt": ["Queue", "Arn"]}, "arn:aws:sqs:eu-west-1:123456789012:shop-q"),
        ({"Fn::GetAtt": "Queue.Arn"}, "arn:aws:sqs:eu-west-1:123456789012:shop-q"),
        ({"Fn::GetAtt": ["Queue", "QueueName"]}, UNRESOLVED),
        ({"Fn::GetAtt": ["Topic", "TopicName"]}, UNRESOLVED),
        ({"Fn::Equals": [{"Ref": "Env"}, "prod"]}, True),
        ({"Fn::Equals": [{"Ref": "Count"}, 3]}, True),
        ({"Fn::Equals": [{"Ref": "Required"}, "x"]}, UNRESOLVED),
        # plain data around intrinsics
        (
            {"A": {"Ref": "Env"}, "B": {"Ref": "AWS::NoValue"}, "C": [{"Ref": "AWS::NoValue"}, {"Ref": "Topic"}]},
            {"A": "prod", "C": [UNRESOLVED]},
        ),
        ({"Condition": {"StringEquals": {"k": "v"}}}, {"Condition": {"StringEquals": {"k": "v"}}}),  # IAM, not Fn
        ("plain", "plain"),
        (7, 7),
    ],
)
def test_resolve(expression, expected):
    assert resolve(expression, _context()) == expected


@pytest.mark.parametrize(
    "expression",
    [
        {"Fn::Base64": "hello"},
        {"Fn::GetAZs": ""},
        {"Fn::Cidr": ["10.0.0.0/16", 4, 8]},
        {"Fn::Length": [1, 2]},
        {"Fn::ToJsonString": {"a": 1}},
        {"Fn::Transform": {"Name": "AWS::Include", "Parameters": {"Location": "s3://b/k"}}},
        {"Fn::ForEach::Loop": ["X", ["a"], {}]},
        {"Rain::Embed": "file.txt"},
        {"Fn::ValueOf": ["Param", "VpcId"]},
        # malformed intrinsics are CloudFormation's error to report; we just do not know the value
        {"Fn::Select": ["x", ["a"]]},
        {"Fn::Select": "oops"},
        {"Fn::Join": "oops"},
        {"Fn::If": ["IsProd"]},
        {"Fn::Sub": 5},
        {"Fn::FindInMap": ["Region"]},
        {"Fn::GetAtt": []},
        {"Ref": ["a"]},
    ],
)
def test_unsupported_or_malformed_intrinsics_are_unresolved(expression):
    assert resolve(expression, _context()) is UNRESOLVED
    assert resolve({"Wrapped": [expression]}, _context()) == {"Wrapped": [UNRESOLVED]}


def test_template_files_know_no_stack():
    context = make_context(TEMPLATE, account=ACCOUNT, region="eu-west-1", partition="aws-cn")
    assert resolve({"Ref": "AWS::StackName"}, context) is UNRESOLVED
    assert resolve({"Ref": "AWS::URLSuffix"}, context) == "amazonaws.com.cn"
    assert resolve({"Ref": "Queue"}, context) is UNRESOLVED


def test_given_parameters_override_defaults_but_never_no_echo():
    context = _context(parameters={"Env": "dev", "Password": "shown", "Zones": "a,b", "Ami": "ami-9"})
    assert resolve({"Ref": "Env"}, context) == "dev"
    assert resolve({"Ref": "Password"}, context) is UNRESOLVED
    assert resolve({"Ref": "Zones"}, context) == ["a", "b"]
    assert resolve({"Ref": "Ami"}, context) == "ami-9"  # a deployment's resolved SSM value


def test_conditions():
    context = _context()
    outcomes = {name: evaluate_condition(name, context) for name in TEMPLATE["Conditions"]}
    assert outcomes == {
        "IsProd": True,
        "IsDev": False,
        "NeedsRequired": UNRESOLVED,
        "ProdOrUnknown": True,  # one true operand decides an Or
        "DevAndUnknown": False,  # one false operand decides an And
        "ProdAndUnknown": UNRESOLVED,
        "Loop": UNRESOLVED,
    }
    # a resource whose condition is false is not declared; an unknown condition keeps it
    assert sorted(declared_resources(TEMPLATE, context)) == ["Maybe", "Queue", "Topic"]


def test_transforms_and_cross_stack_names():
    template = load_template((FIXTURES / "named.yaml").read_text(), "named.yaml")
    context = make_context(template, account=ACCOUNT, region=REGION)
    assert transforms(template) == ()
    # Env defaults to dev: the dev export resolves; the prod-only output is not declared
    assert exported_names(template, context) == ["dev-orders-queue-arn"]
    assert imported_names(template, context) == ["shared-queue-name", "dev-vpc-id"]
    assert imported_names(template, make_context(template, parameters={"Env": "prod"})) == [
        "shared-queue-name",
        "prod-vpc-id",
    ]
    assert exported_names(template, make_context(template, parameters={"Env": "prod"})) == [
        "prod-orders-queue-arn",
        "prod-only-queue",
    ]
    sam = load_template((FIXTURES / "sam.yaml").read_text(), "sam.yaml")
    assert transforms(sam) == (SAM,)
    assert transforms({"Transform": ["AWS::LanguageExtensions", {"Name": "AWS::Include"}]}) == (
        "AWS::LanguageExtensions",
        "AWS::Include",
    )
    assert inline_transforms({"Resources": {"A": {"Properties": {"X": {"Fn::Transform": [{"Name": "Date"}]}}}}}) == (
        "Date",
    )
    unresolved = {"Resources": {"A": {"Type": "T", "Properties": {"X": {"Fn::ImportValue": {"Ref": "Missing"}}}}}}
    assert imported_names(unresolved, make_context(unresolved)) == [UNRESOLVED]


# ------------------------------------------------------------------------------------------------ template files


def _by_address(records):
    return {record.owner.address: record for record in records}


def test_template_file_records_resources_with_literal_names():
    result = import_template_files([str(FIXTURES / "named.yaml")], ACCOUNT, "aws", "eu-west-1")
    # ProdOnlyQueue is not there under the parameters' defaults: said, with its condition, never silent;
    # VpcQueue's condition reads a parameter without a default: kept, unknown when not live, said too
    left_out, undecided = result.errors
    assert left_out.kind == undecided.kind == "warning"
    assert left_out.message == "1 resource left out, condition false under the parameters' defaults: ProdOnlyQueue (IsProd)"
    assert undecided.message == (
        "1 resource declared under a condition that could not be decided from the parameters' defaults, "
        "unknown when not found live: VpcQueue (HasVpc); HasVpc reads Vpc (no default)"
    )
    records = _by_address(result.records)
    assert set(records) == {"Queue", "Topic", "Role", "Database", "VpcQueue", "Parameter"}
    assert {(r.type, r.natural_id, r.region) for r in result.records} == {
        ("AWS::SQS::Queue", "dev-orders", "eu-west-1"),
        ("AWS::SNS::Topic", "dev-events", "eu-west-1"),  # a topic's id is its ARN; the graph matches the name
        ("AWS::IAM::Role", "dev-worker", GLOBAL),
        ("AWS::RDS::DBInstance", "orders-db", "eu-west-1"),  # RDS lowercases identifiers
        ("AWS::SQS::Queue", "vpc-queue", "eu-west-1"),
        ("AWS::SSM::Parameter", "/orders/vpc", "eu-west-1"),
    }
    queue = records["Queue"]
    assert queue.source_kind == CLOUDFORMATION
    assert queue.owner == Owner(
        tool="cloudformation",
        source=str(FIXTURES / "named.yaml"),
        address="Queue",
        framework="cloudformation",
        stack_name=None,
    )
    assert queue.attributes == {"visibility_timeout": 30}  # from Mappings
    assert queue.tags == {"team": "orders", "secret": UNRESOLVED}  # a NoEcho value is never read
    assert queue.arn == "arn:aws:sqs:eu-west-1:123456789012:dev-orders"
    assert queue.raw_type == "AWS::SQS::Queue"
    assert records["Role"].arn == "arn:aws:iam::123456789012:role/service/dev-worker"
    assert records["Role"].attributes["path"] == "/service/"
    assert records["Database"].aliases == ("Orders-DB",)
    assert "master_user_password" not in records["Database"].attributes
    assert records["VpcQueue"].note == "declared only if condition HasVpc holds"
    assert records["VpcQueue"].condition == "HasVpc" and records["Queue"].condition is None
    assert records["Topic"].arn is None and records["Topic"].attributes == {"display_name": "Events"}
    [source] = result.sources
    assert source["kind"] == "cloudformation_template" and source["status"] == "warning"
    assert left_out.message in source["message"] and undecided.message in source["message"]
    assert source["resource_count"] == 6 and source["format_version"] == "2010-09-09"
    # UnnamedBucket has no name; ImportedName's name is an ImportValue nobody can resolve from a file
    assert "2 resources have no physical name and can only be matched through a deployed stack" in source["message"]
    # nothing from the template but comparables and tags: no parameter default, no output, no description
    stored = repr(result)
    for leak in ("not-a-real-password", "literal physical names", "Outputs"):
        assert leak not in stored


def test_json_and_yaml_templates_give_the_same_records():
    def shape(path):
        result = import_template_files([str(path)], ACCOUNT, "aws", "eu-west-1")
        return sorted((r.type, r.natural_id, repr(r.attributes), repr(r.tags)) for r in result.records)

    assert shape(FIXTURES / "named.yaml") == shape(FIXTURES / "named.json")


def test_sam_template_file_is_warned_about_not_expanded():
    result = import_template_files([str(FIXTURES / "sam.yaml")], ACCOUNT, "aws", REGION)
    warning, left_out = result.errors
    assert warning.kind == left_out.kind == "warning" and warning.source == str(FIXTURES / "sam.yaml")
    assert "AWS::Serverless-2016-10-31" in warning.message and "not expanded" in warning.message
    assert left_out.message == "1 SAM resource left out until the transform runs: Handler"
    # plain resources still count; the SAM function is only a resource once the transform ran
    assert [(r.type, r.natural_id) for r in result.records] == [("AWS::DynamoDB::Table", "sam-table")]
    assert result.sources[0]["status"] == "warning"


def test_bad_files_are_errors_with_lines_and_the_others_still_load(tmp_path):
    (tmp_path / "good.yaml").write_text("Resources:\n  Q: {Type: AWS::SQS::Queue, Properties: {QueueName: good}}\n")
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00Resources")
    (tmp_path / "package.json").write_text('{"name": "not-a-template"}')
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "ignored.yaml").write_text("not: [valid")
    broken = FIXTURES / "broken"
    result = import_template_files(
        [str(tmp_path), str(broken), str(tmp_path / "missing.yaml")], ACCOUNT, "aws", REGION
    )
    assert [(r.type, r.natural_id) for r in result.records] == [("AWS::SQS::Queue", "good")]
    errors = {(Path(e.source).name, e.kind, e.line) for e in result.errors}
    assert errors == {
        ("binary.yaml", "error", None),
        ("package.json", "warning", None),  # other JSON in a directory: skipped, said so
        ("missing.yaml", "error", None),
        ("truncated.yaml", "error", 6),
        ("truncated.json", "error", 6),
        ("no-resources.yaml", "error", None),
    }
    statuses = {Path(s["path"]).name: s["status"] for s in result.sources}
    assert statuses == {
        "good.yaml": "ok",
        "binary.yaml": "error",
        "missing.yaml": "error",  # a path that names nothing failed like an unreadable file: its owner is unknown
        "package.json": "skipped",
        "truncated.yaml": "error",
        "truncated.json": "error",
        "no-resources.yaml": "error",
    }
    # a file named explicitly must be a template
    explicit = import_template_files([str(tmp_path / "package.json")], ACCOUNT, "aws", REGION)
    assert [e.kind for e in explicit.errors] == ["error"]


def test_error_messages_are_redacted(tmp_path):
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    (tmp_path / "leak.yaml").write_text(f"Resources:\n  Q: [{secret}\n")
    result = import_template_files([str(tmp_path)], ACCOUNT, "aws", REGION)
    assert result.errors and secret not in repr(result)


# ------------------------------------------------------------------------------------------------ corpus

# Templates whose resources a file cannot show: a Transform (SAM, LanguageExtensions, a macro), an inline
# Fn::Transform, a rain module. They load, and say so in a warning.
TEMPLATES = "aws-cloudformation__aws-cloudformation-templates/"
SAM_EXAMPLES = "aws__serverless-application-model/examples/2016-10-31/"
CORPUS_TRANSFORMS = {
    TEMPLATES + "AWSSupplyChain/SapPrivateLink/SapPrivateLink.json": "(LanguageExtensions)",
    TEMPLATES + "AWSSupplyChain/SapPrivateLink/SapPrivateLink.yaml": "(LanguageExtensions)",
    TEMPLATES + "CloudFormation/CustomResources/getfromjson/src/template.yml": "(SAM)",
    TEMPLATES + "CloudFormation/MacrosExamples/Count/test.yaml": "(macro Count)",
    TEMPLATES + "CloudFormation/MacrosExamples/DateFunctions/date_example.yaml": "(macro Date)",
    TEMPLATES + "CloudFormation/MacrosExamples/S3Objects/macro.yaml": "(SAM)",
    TEMPLATES + "CloudFormation/MacrosExamples/StackMetrics/macro.json": "(SAM)",
    TEMPLATES + "CloudFormation/MacrosExamples/StackMetrics/macro.yaml": "(SAM)",
    TEMPLATES + "CloudFormation/StackSets/log-setup-management-pkg.json": "(LanguageExtensions)",
    TEMPLATES + "CloudFormation/StackSets/log-setup-management.yaml": "(LanguageExtensions)",
    TEMPLATES + "CloudFormation/fn-foreach-ddb.json": "(LanguageExtensions)",
    TEMPLATES + "CloudFormation/fn-foreach-s3-outputs.yaml": "(LanguageExtensions)",
    # rain modules (`Type: !Rain::Module file.yml`) are expanded by `rain pkg`, not by CloudFormation
    TEMPLATES + "CloudFormation/StackSets/common-resources.yaml": "Type Rain::Module",
    TEMPLATES + "RainModules/static-site.yml": "Type Rain::Module",
    SAM_EXAMPLES + "api_cognito_auth/template.yaml": "(SAM)",
    SAM_EXAMPLES + "lambda_safe_deployments/template.yaml": "(SAM)",
    SAM_EXAMPLES + "nested_app/template.yaml": "(SAM)",
    # `!Rain::Embed file` is inlined by `rain pkg`; a template that still has it is not what was deployed
    TEMPLATES + "APIGateway/apigateway_lambda_integration.yaml": "unsupported intrinsic Rain::Embed",
    TEMPLATES + "ElastiCache/Elasticache-snapshot.yaml": "unsupported intrinsic Rain::Embed",
    TEMPLATES + "IoT/amzn2-greengrass-cfn.yaml": "unsupported intrinsic Rain::Embed",
}
# Resources a template file leaves out, said per file with their logical ids (and the condition, for a
# condition false under the parameters' defaults)
SOLUTIONS = TEMPLATES + "Solutions/"
CORPUS_LEFT_OUT = {
    TEMPLATES + "AWSSupplyChain/SapPrivateLink/SapPrivateLink.json": "1 custom resource left out, not checked: ASC",
    TEMPLATES + "AWSSupplyChain/SapPrivateLink/SapPrivateLink.yaml": "1 custom resource left out, not checked: ASC",
    TEMPLATES + "CloudFormation/CustomResources/getfromjson/example-templates/getfromjson-consumer.yml": "2 custom",
    TEMPLATES + "CloudFormation/CustomResources/getfromjson/src/template.yml": "1 SAM resource left out until",
    TEMPLATES + "CloudFormation/MacrosExamples/S3Objects/macro.yaml": "2 SAM resources left out until",
    TEMPLATES + "CloudFormation/MacrosExamples/StackMetrics/macro.json": "2 SAM resources left out until",
    TEMPLATES + "CloudFormation/MacrosExamples/StackMetrics/macro.yaml": "2 SAM resources left out until",
    TEMPLATES + "ElastiCache/Elasticache-snapshot.yaml": "1 custom resource left out, not checked: EnableShapshotTrigger",
    TEMPLATES + "IoT/amzn2-greengrass-cfn.yaml": "3 custom resources left out, not checked: IoTThing, Group",
    TEMPLATES + "RDS/RDS_MySQL_With_Read_Replica.yaml": "defaults: DBEC2SecurityGroup (IsEC2VPC)",
    TEMPLATES + "SQS/SQSFIFOQueue.yaml": "1 resource left out, condition false under the parameters' defaults: "
    "MyDeadLetterQueue (CreateDeadLetterQueue)",
    TEMPLATES + "ServiceCatalog/Portfolio.yaml": "ServiceCatalogPortfolioShare (ConditionShareThisPortfolio)",
    SOLUTIONS + "ADConnector/templates/ADCONNECTOR.cfn.yaml": "8 resources left out, condition false",
    SOLUTIONS + "ManagedAD/templates/MANAGEDAD.cfn.yaml": "8 resources left out, condition false",
    SOLUTIONS + "VPCFlowLogs/templates/VPCFlowLogs-main.cfn.json": "VPCFlowLogsS3Stack (VPCFlowLogsToS3Condition)",
    SOLUTIONS + "VPCFlowLogs/templates/VPCFlowLogs-main.cfn.yaml": "VPCFlowLogsS3Stack (VPCFlowLogsToS3Condition)",
    SOLUTIONS + "VPCPeering/templates/VPCPeering-Accepter-Tag.cfn.yaml": "1 custom resource left out, not checked",
    SAM_EXAMPLES + "api_cognito_auth/template.yaml": "3 SAM resources left out until the transform runs",
    SAM_EXAMPLES + "lambda_safe_deployments/template.yaml": "2 SAM resources left out until the transform runs",
    SAM_EXAMPLES + "nested_app/template.yaml": "2 SAM resources left out until the transform runs",
}
# Resources under a condition a template file cannot decide (it reads a parameter without a default): kept,
# unknown when not found live, said per file with the conditions and what they read
CORPUS_UNDECIDED = {
    TEMPLATES + "NeptuneDB/Neptune.json": "NeptuneAlarmTopic (CreateSnsTopic), NeptuneAlarmSubscription "
    "(CreateSnsSubscription); CreateSnsSubscription reads SNSEmailSubscription (no default); "
    "CreateSnsTopic reads NeptuneSNSTopicArn (no default)",
    TEMPLATES + "NeptuneDB/Neptune.yaml": "NeptuneAlarmTopic (CreateSnsTopic), NeptuneAlarmSubscription",
    SOLUTIONS + "VPCFlowLogs/templates/VPCFlowLogsS3.cfn.yaml": "2 resources declared under a condition that "
    "could not be decided from the parameters' defaults, unknown when not found live: VPCFlowLogsBucket",
    SOLUTIONS + "VPCPeering/templates/VPCPeering-Updates.cfn.yaml": "; 2RouteTableCondition, 3RouteTableCondition, "
    "4RouteTableCondition, 5RouteTableCondition, 6RouteTableCondition read NumberOfRouteTables (no default); ",
}


@pytest.mark.corpus
def test_every_corpus_template_loads():
    needs_corpus()
    result = import_template_files([str(CORPUS)], ACCOUNT, "aws", REGION)
    files = sorted(p for p in CORPUS.rglob("*") if p.is_file())
    assert len(result.sources) == len(files) == 64
    assert [e for e in result.errors if e.kind != "warning"] == []
    warned, left_out, undecided = {}, {}, {}
    for error in result.errors:
        found = left_out if " left out" in error.message else undecided if "not be decided" in error.message else warned
        found.setdefault(str(Path(error.source).relative_to(CORPUS)), []).append(error.message)
    assert set(warned) == set(CORPUS_TRANSFORMS)
    for name, what in CORPUS_TRANSFORMS.items():
        assert any(what in message for message in warned[name]), (name, warned[name])
    assert set(left_out) == set(CORPUS_LEFT_OUT)
    for name, what in CORPUS_LEFT_OUT.items():
        assert any(what in message for message in left_out[name]), (name, left_out[name])
    assert set(undecided) == set(CORPUS_UNDECIDED)
    for name, what in CORPUS_UNDECIDED.items():
        assert any(what in message for message in undecided[name]), (name, undecided[name])
    # loading is more than not crashing: every template has resources and every record names one
    for path in files:
        template = load_template(path.read_text(encoding="utf-8"), str(path))
        assert template["Resources"]
    assert all(r.natural_id and r.owner.address for r in result.records)
    assert {r.type for r in result.records} >= {"AWS::S3::Bucket", "AWS::IAM::Role", "AWS::Lambda::Function"}


@pytest.mark.corpus
def test_corpus_json_and_yaml_twins_resolve_alike():
    needs_corpus()
    base = CORPUS / "aws-cloudformation__aws-cloudformation-templates"
    pairs = [
        "VPC/VPC_With_Managed_NAT_And_Private_Subnet",
        "NeptuneDB/Neptune",
        "Solutions/VPCFlowLogs/templates/VPCFlowLogs-main.cfn",
        "Solutions/WebApp/webapp",
        "ECS/FargateLaunchType/services/public-service",
    ]
    for stem in pairs:
        loaded = [
            load_template((base / f"{stem}.{suffix}").read_text(), stem) for suffix in ("json", "yaml")
        ]
        contexts = [make_context(t, account=ACCOUNT, region=REGION) for t in loaded]
        declared = [sorted(declared_resources(t, c)) for t, c in zip(loaded, contexts)]
        assert declared[0] == declared[1], stem
        assert imported_names(loaded[0], contexts[0]) == imported_names(loaded[1], contexts[1]), stem


@pytest.mark.corpus
def test_corpus_cross_stack_names():
    needs_corpus()
    base = CORPUS / "aws-cloudformation__aws-cloudformation-templates"

    def names(relative):
        template = load_template((base / relative).read_text(), relative)
        context = make_context(template, account=ACCOUNT, region=REGION)
        return imported_names(template, context), exported_names(template, context)

    imported, exported = names("NeptuneDB/Neptune.yaml")
    assert imported == ["vpc-VPCID", "vpc-PrivateSubnet1", "vpc-PrivateSubnet2"]
    assert "dev-appname-neptune-endpoint-address" in exported
    imported, exported = names("ECS/FargateLaunchType/clusters/public-vpc.yaml")
    assert imported == [] and exported and all(n is UNRESOLVED for n in exported)  # ${AWS::StackName}: no stack
    imported, _ = names("CloudFormation/CustomResources/getfromjson/example-templates/getfromjson-consumer.yml")
    assert imported == ["Custom-GetFromJson"]


# ------------------------------------------------------------------------------------------------ one stack (pure)

STACK_ID = "arn:aws:cloudformation:eu-west-1:123456789012:stack/shop/1111"
CHILD_STACK_ID = "arn:aws:cloudformation:eu-west-1:123456789012:stack/shop-Child-X/2"


def _row(logical, kind, physical, status="CREATE_COMPLETE"):
    return {
        "LogicalResourceId": logical,
        "ResourceType": kind,
        "PhysicalResourceId": physical,
        "ResourceStatus": status,
    }


def _stack(**extra):
    return {"StackId": STACK_ID, "StackName": "shop", "StackStatus": "UPDATE_COMPLETE", **extra}


def _one_stack(template, rows, stack=None, exports=None):
    return stack_to_result(
        stack or _stack(), rows, template, exports, account=ACCOUNT, partition="aws", region="eu-west-1"
    )


def test_stack_resources_by_kind():
    template = {
        "Parameters": {
            "Secret": {"Type": "String", "NoEcho": True},
            "Ami": {"Type": "AWS::SSM::Parameter::Value<String>"},
        },
        "Resources": {
            "Group": {
                "Type": "AWS::EC2::SecurityGroup",
                "Properties": {
                    "GroupDescription": "g",
                    "SecurityGroupIngress": [],
                    "Tags": [{"Key": "a", "Value": "template"}],
                },
            },
            "Out": {
                "Type": "AWS::EC2::SecurityGroupEgress",
                "Properties": {"GroupId": {"Ref": "Group"}, "IpProtocol": "-1"},
            },
            "Child": {"Type": "AWS::CloudFormation::Stack", "Properties": {"TemplateURL": "https://x"}},
            "Custom": {"Type": "Custom::Seed", "Properties": {"ServiceToken": "arn:x", "Password": {"Ref": "Secret"}}},
            "Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"},
            "Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": {"Ref": "Ami"}}},
            "Gone": {"Type": "AWS::SQS::Queue"},
            "Failed": {"Type": "AWS::SQS::Queue"},
            "Live": {"Type": "AWS::SQS::Queue"},
            "Policy": {
                "Type": "AWS::SQS::QueuePolicy",
                "Properties": {"Queues": [{"Ref": "Gone"}, {"Ref": "Failed"}, {"Ref": "Live"}]},
            },
        },
    }
    rows = [
        _row("Group", "AWS::EC2::SecurityGroup", "sg-1"),
        _row("Out", "AWS::EC2::SecurityGroupEgress", "sgr-1"),
        _row("Child", "AWS::CloudFormation::Stack", CHILD_STACK_ID),
        _row("Custom", "Custom::Seed", ""),
        _row("Handle", "AWS::CloudFormation::WaitConditionHandle", "https://wait"),
        _row("Api", "AWS::ApiGateway::RestApi", "abc123"),
        _row("Gone", "AWS::SQS::Queue", "https://sqs.eu-west-1.amazonaws.com/123456789012/gone", "DELETE_COMPLETE"),
        _row("Failed", "AWS::SQS::Queue", "", "CREATE_FAILED"),
        _row("Policy", "AWS::SQS::QueuePolicy", "shop-Policy-1"),
        _row("Live", "AWS::SQS::Queue", "https://sqs.eu-west-1.amazonaws.com/123456789012/live"),
    ]
    stack = _stack(
        Tags=[{"Key": "a", "Value": "stack"}, {"Key": "b", "Value": "stack"}],
        Parameters=[
            {"ParameterKey": "Secret", "ParameterValue": "****"},
            {"ParameterKey": "Ami", "ParameterValue": "/ami/latest", "ResolvedValue": "ami-1"},
        ],
    )
    result = _one_stack(template, rows, stack)
    records = _by_address(result.records)
    # Gone was deleted (a rollback), Failed never got a physical id: neither is there to match
    assert set(records) == {"Group", "Out", "Child", "Custom", "Handle", "Api", "Policy", "Live", "shop"}
    group = records["Group"]
    # a separate egress resource: the declared egress is not the whole truth; ingress stays compared
    assert group.attributes == {"description": "g", "ingress": [], "egress": UNRESOLVED}
    assert group.tags == {"a": "template", "b": UNRESOLVED}  # stack tags: propagated to some types only, never compared
    assert records["Out"].parent == ("AWS::EC2::SecurityGroup", "sg-1")
    child = records["Child"]
    assert (child.type, child.natural_id, child.owner.source) == (
        "AWS::CloudFormation::Stack",
        CHILD_STACK_ID,
        STACK_ID,
    )
    assert (records["Custom"].natural_id, records["Custom"].note) == (f"{STACK_ID}/Custom", "bookkeeping")
    assert records["Handle"].type == "AWS::CloudFormation::WaitConditionHandle"
    assert records["Handle"].note == "bookkeeping"
    assert (records["Api"].type, records["Api"].natural_id, records["Api"].attributes) == (
        "AWS::ApiGateway::RestApi",
        "abc123",
        {},
    )
    # QueuePolicy: the first queue whose physical id is known
    assert records["Policy"].parent == ("AWS::SQS::Queue", "https://sqs.eu-west-1.amazonaws.com/123456789012/live")
    assert records["shop"].type == "AWS::CloudFormation::Stack" and records["shop"].natural_id == STACK_ID
    assert result.stacks[0]["resource_count"] == 8  # Gone was deleted and Failed never existed
    assert "****" not in repr(result)


def test_nested_stack_is_owned_by_its_parent_not_recorded_again():
    stack = _stack(ParentId="arn:aws:cloudformation:eu-west-1:123456789012:stack/root/0", RootId="arn:root")
    template = {"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}
    rows = [_row("Q", "AWS::SQS::Queue", "https://sqs/x/q")]
    result, nested = _one_stack(template, rows), _one_stack(template, rows, stack)
    assert [r.type for r in result.records] == ["AWS::SQS::Queue", "AWS::CloudFormation::Stack"]
    assert [r.type for r in nested.records] == ["AWS::SQS::Queue"]
    assert (nested.stacks[0]["parent_id"], nested.stacks[0]["root_id"]) == (stack["ParentId"], "arn:root")


def test_deployed_parameters():
    template = {
        "Parameters": {
            "Secret": {"Type": "String", "NoEcho": True},
            "Ami": {"Type": "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>"},
            "Version": {"Type": "AWS::SSM::Parameter::Value<String>"},
        }
    }
    stack = _stack(
        Parameters=[
            {"ParameterKey": "Secret", "ParameterValue": "****"},
            {"ParameterKey": "Ami", "ParameterValue": "/aws/ami", "ResolvedValue": "ami-1"},
            {"ParameterKey": "Version", "ParameterValue": "/cdk-bootstrap/hnb659fds/version"},  # moto: no ResolvedValue
            {"ParameterKey": "Env", "ParameterValue": "prod"},
        ]
    )
    assert deployed_parameters(stack, template) == {
        "Secret": UNRESOLVED,
        "Ami": "ami-1",
        "Version": UNRESOLVED,
        "Env": "prod",
    }


def test_iam_arns_carry_the_path():
    role, policy = CATALOG["AWS::IAM::Role"], CATALOG["AWS::IAM::ManagedPolicy"]
    assert resource_arn(role, "r", {}, "aws", REGION, ACCOUNT) == f"arn:aws:iam::{ACCOUNT}:role/r"
    assert resource_arn(role, "r", {"Path": "/a/b/"}, "aws", REGION, ACCOUNT) == f"arn:aws:iam::{ACCOUNT}:role/a/b/r"
    assert resource_arn(role, "r", {"Path": UNRESOLVED}, "aws", REGION, ACCOUNT) is None
    arn = f"arn:aws:iam::{ACCOUNT}:policy/p"
    assert resource_arn(policy, arn, {"Path": "/x/"}, "aws", REGION, ACCOUNT) == arn
    assert resource_arn(CATALOG["AWS::SNS::Topic"], "by-name", {}, "aws", REGION, ACCOUNT) is None


def test_security_group_without_separate_rules_keeps_its_inline_rules():
    template = {
        "Resources": {
            "Group": {
                "Type": "AWS::EC2::SecurityGroup",
                "Properties": {
                    "GroupDescription": "g",
                    "SecurityGroupIngress": [
                        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "CidrIp": "0.0.0.0/0"}
                    ],
                },
            }
        }
    }
    [group, _] = _one_stack(template, [_row("Group", "AWS::EC2::SecurityGroup", "sg-1")]).records
    # egress not declared: AWS adds allow-all, so it is left out rather than declared empty
    assert group.attributes == {
        "description": "g",
        "ingress": [{"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "CidrIp": "0.0.0.0/0"}],
    }


def test_stack_template_problems_are_warnings_and_records_remain():
    rows = [_row("Q", "AWS::SQS::Queue", "https://sqs.eu-west-1.amazonaws.com/123456789012/q")]
    unreadable = _one_stack("Resources: [oops", rows)
    still_sam = _one_stack({"Transform": SAM, "Resources": {"F": {"Type": "AWS::Serverless::Function"}}}, rows)
    for result in (unreadable, still_sam):
        assert [r.natural_id for r in result.records] == ["q", STACK_ID]
        assert [e.kind for e in result.errors] == ["warning"]
        assert result.sources[0]["status"] == "warning"
    assert "unreadable" in unreadable.sources[0]["message"]
    assert "Transform AWS::Serverless-2016-10-31" in still_sam.sources[0]["message"]


# ------------------------------------------------------------------------------------------------ moto

MOTO_REGIONS = [REGION, "eu-west-1"]


def _aws_env(monkeypatch, endpoint, tmp_dir):
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_dir / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_dir / "no-credentials"))
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def aws(moto_endpoint, tmp_path_factory):
    """Environment pointing boto3 at the moto server, with the stacks deployed once for the module."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        _aws_env(monkeypatch, moto_endpoint, tmp_path_factory.mktemp("aws"))
        cloudformation = boto3.client("cloudformation", region_name=REGION)
        ids = {}
        ids["jobs"] = cloudformation.create_stack(
            StackName="jobs",
            TemplateBody=(FIXTURES / "stack.yaml").read_text(),
            Parameters=[{"ParameterKey": "Token", "ParameterValue": "tok-3f9a7c"}],
            Tags=[{"Key": "owner", "Value": "platform"}, {"Key": "team", "Value": "stack-level"}],
            Capabilities=["CAPABILITY_IAM"],
        )["StackId"]
        # fixtures/cdk/README.md: the CDK v2 stack needs its bootstrap version and the payments export first
        boto3.client("ssm", region_name=REGION).put_parameter(
            Name="/cdk-bootstrap/hnb659fds/version", Value="21", Type="String"
        )
        ids["payments-network"] = cloudformation.create_stack(
            StackName="payments-network",
            TemplateBody=json.dumps(
                {
                    "Resources": {"Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.9.0.0/16"}}},
                    "Outputs": {"VpcId": {"Value": {"Ref": "Vpc"}, "Export": {"Name": "payments-vpc-id"}}},
                }
            ),
        )["StackId"]
        ids["orders-service"] = cloudformation.create_stack(
            StackName="orders-service", TemplateBody=CDK_TEMPLATE.read_text(), Capabilities=["CAPABILITY_IAM"]
        )["StackId"]
        for stack_id in ids.values():
            status = cloudformation.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"]
            assert status == "CREATE_COMPLETE", (stack_id, status)
        yield ids


@pytest.fixture(scope="module")
def scanned(aws):
    return import_stacks(AwsSession(), ACCOUNT, "aws", MOTO_REGIONS)


def _stack_records(result, stack_name):
    return _by_address(r for r in result.records if r.owner.stack_name == stack_name)


def test_moto_stack_records(aws, scanned):
    assert scanned.errors == []
    jobs_id = aws["jobs"]
    records = _stack_records(scanned, "jobs")
    # moto skips AWS::CDK::Metadata and answers a blank row for it: no record, no error
    assert set(records) == {"Queue", "Web", "Admin", "SshFromAdmin", "Worker", "WorkerPolicy", "jobs"}
    # the template carries a CDKMetadata resource whose Analytics is cut short: CDK, major version not provable
    owner = Owner(tool="cloudformation", source=jobs_id, address="Queue", framework="cdk", stack_name="jobs")

    queue = records["Queue"]
    queue_url = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/jobs-jobs"
    assert (queue.type, queue.natural_id, queue.region) == ("AWS::SQS::Queue", "jobs-jobs", REGION)
    assert queue.aliases == (queue_url,)
    assert queue.source_kind == CLOUDFORMATION and queue.owner == owner and queue.raw_type == "AWS::SQS::Queue"
    assert queue.arn == f"arn:aws:sqs:{REGION}:{ACCOUNT}:jobs-jobs"
    assert queue.attributes == {"visibility_timeout": "45"}  # Ref to a Number parameter is text
    # stack tags under the template's; the NoEcho parameter is unknown, never its deployed value
    assert queue.tags == {"owner": UNRESOLVED, "team": "jobs", "token": UNRESOLVED}

    web, admin = records["Web"], records["Admin"]
    assert web.type == admin.type == "AWS::EC2::SecurityGroup"
    assert web.natural_id.startswith("sg-") and admin.natural_id.startswith("sg-")
    # SshFromAdmin adds to Web's ingress, so Web's inline list is not the whole truth
    assert web.attributes == {"description": "web servers", "ingress": UNRESOLVED}
    assert admin.attributes == {
        "description": "admin hosts",
        "ingress": [{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "SourceSecurityGroupId": web.natural_id}],
    }
    ingress = records["SshFromAdmin"]
    assert ingress.type == "AWS::EC2::SecurityGroupIngress"
    assert ingress.natural_id == f"{jobs_id}/SshFromAdmin"  # moto gives it no physical id
    assert ingress.parent == ("AWS::EC2::SecurityGroup", web.natural_id)

    role, policy = records["Worker"], records["WorkerPolicy"]
    assert (role.type, role.region) == ("AWS::IAM::Role", GLOBAL)
    assert role.natural_id.startswith("jobs-Worker-")
    assert role.arn == f"arn:aws:iam::{ACCOUNT}:role/{role.natural_id}"
    assert role.attributes["assume_role_policy"]["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert (policy.type, policy.region) == ("AWS::IAM::Policy", GLOBAL)
    assert policy.parent == ("AWS::IAM::Role", role.natural_id)

    stack = records["jobs"]
    assert (stack.type, stack.natural_id, stack.name) == ("AWS::CloudFormation::Stack", jobs_id, "jobs")
    assert stack.aliases == ("jobs",)
    assert stack.owner == Owner("cloudformation", jobs_id, "jobs", "cdk", "jobs")
    assert "tok-3f9a7c" not in repr(scanned)  # moto echoes NoEcho values in DescribeStacks; we never keep them


def test_moto_stack_rows(aws, scanned):
    stacks = {row["name"]: row for row in scanned.stacks}
    assert set(stacks) == {"jobs", "payments-network", "orders-service"}
    jobs = stacks["jobs"]
    assert {k: v for k, v in jobs.items() if k != "created_at"} == {
        "id": aws["jobs"],
        "name": "jobs",
        "account": ACCOUNT,
        "region": REGION,
        "status": "CREATE_COMPLETE",
        "framework": "cdk",
        "cdk_version": None,
        "synthesizer": None,
        "evidence": ["AWS::CDK::Metadata resource CDKMetadata", "CDKMetadata Analytics unreadable (compressed data truncated)",
                     "CDK major version not provable (no CDKMetadata library list)"],
        "modules": [],
        "language": None,
        "parent_id": None,
        "root_id": aws["jobs"],
        "description": "the small stack tests/test_cloudformation.py deploys to moto",
        "resource_count": 6,
        "updated_at": None,
        "tags": {"owner": "platform", "team": "stack-level"},
    }
    assert jobs["created_at"][:2] == "20"
    # the CDK v2 fixture, really synthesized: its version, synthesizer and construct paths come through
    orders = stacks["orders-service"]
    assert (orders["framework"], orders["cdk_version"], orders["synthesizer"]) == ("cdk-v2", "2.275.0", "default")
    queue = next(r for r in scanned.records if r.owner.stack_name == "orders-service" and r.owner.address == "OrdersQueue3DFA1D51")
    assert (queue.owner.framework, queue.owner.construct_path) == ("cdk-v2", "orders-service/OrdersQueue/Resource")
    assert sorted((r["stack_id"], r["export_name"]) for r in scanned.exports) == sorted(
        [
            (aws["jobs"], "jobs-jobs-arn"),
            (aws["payments-network"], "payments-vpc-id"),
            (aws["orders-service"], "orders-queue-arn"),
        ]
    )
    assert scanned.imports == [
        {
            "stack_id": aws["orders-service"],
            "export_name": "payments-vpc-id",
            "exporting_stack_id": aws["payments-network"],
            "account": ACCOUNT,
            "region": REGION,
        }
    ]
    sources = {row["path"]: row for row in scanned.sources}
    assert set(sources) == set(aws.values())
    assert sources[aws["jobs"]] == {
        "path": aws["jobs"],
        "kind": "cloudformation_stack",
        "status": "ok",
        "format_version": None,
        "tool_version": None,
        "lineage": None,
        "serial": None,
        "resource_count": 7,
        "message": None,
        "superseded_by": None,
        "framework": None,  # a stack's is on its stacks row
        "evidence": None,
    }


def test_moto_cdk_stack(aws, scanned):
    records = _stack_records(scanned, "orders-service")
    named = sorted((r.type, r.natural_id) for r in records.values() if not r.type.startswith(("AWS::IAM", "AWS::Cl")))
    assert named == [
        ("AWS::DynamoDB::Table", "orders"),
        ("AWS::Lambda::Function", "orders-handler"),
        ("AWS::Logs::LogGroup", "/aws/lambda/orders-handler"),
        ("AWS::SNS::Topic", f"arn:aws:sns:{REGION}:{ACCOUNT}:order-events"),
        ("AWS::SQS::Queue", "orders-dlq"),
        ("AWS::SQS::Queue", "orders-queue"),
        ("AWS::SSM::Parameter", "/orders/vpc-id"),
    ]
    queue = records["OrdersQueue3DFA1D51"]
    assert queue.attributes == {"visibility_timeout": 60}
    assert queue.tags == {"team": "orders", "env": "demo"}
    handler = records["OrdersHandlerA8584A8A"]
    assert handler.attributes == {
        "runtime": "python3.12",
        "handler": "index.handler",
        "memory_size": 256,
        "timeout": 30,
    }
    role = records["OrdersHandlerServiceRole858CF771"]
    assert records["OrdersHandlerServiceRoleDefaultPolicyB60DC6B6"].parent == ("AWS::IAM::Role", role.natural_id)
    assert records["PaymentsVpcIdParam1382983D"].attributes == {"type": "String"}  # the imported value is not kept
    assert "CDKMetadata" not in records
    vpc_id = _stack_records(scanned, "payments-network")["Vpc"].natural_id
    assert vpc_id.startswith("vpc-") and vpc_id not in repr(records)  # the parameter's imported value


class _DenyingClient:
    """The real boto3 client, except that the named operations answer AccessDenied (the edge, not our code)."""

    def __init__(self, client, denied):
        self._client, self._denied = client, denied

    def _deny(self, operation):
        raise ClientError(
            {"Error": {"Code": "AccessDenied", "Message": f"not authorized to perform {operation}; password=hunter2"}},
            operation,
        )

    def get_paginator(self, method):
        paginator = self._client.get_paginator(method)
        if method not in self._denied:
            return paginator
        deny = self._deny

        class Denied:
            def paginate(self, **_):
                deny(method)

        return Denied()

    def get_template(self, **kwargs):
        if "get_template" in self._denied:
            self._deny("GetTemplate")
        return self._client.get_template(**kwargs)


class _DenyingSession:
    def __init__(self, denied_by_region):
        self._session, self._denied = AwsSession(), denied_by_region

    def client(self, service, region=None):
        return _DenyingClient(self._session.client(service, region), self._denied.get(region, ()))


def test_access_denied_is_recorded_and_the_rest_continues(aws):
    result = import_stacks(_DenyingSession({"eu-west-1": {"describe_stacks"}}), ACCOUNT, "aws", ["eu-west-1", REGION])
    [error] = result.errors
    assert (error.source, error.region, error.account, error.code, error.kind) == (
        "aws:cloudformation:DescribeStacks",
        "eu-west-1",
        ACCOUNT,
        "AccessDenied",
        "error",
    )
    assert "hunter2" not in error.message and "DescribeStacks" in error.message
    assert {row["name"] for row in result.stacks} == {"jobs", "payments-network", "orders-service"}


def test_denied_stack_calls_keep_the_stack(aws):
    denied = {REGION: {"get_template", "list_exports"}}
    result = import_stacks(_DenyingSession(denied), ACCOUNT, "aws", [REGION])
    sources = {(e.source, e.code) for e in result.errors}
    assert sources == {
        ("aws:cloudformation:ListExports", "AccessDenied"),
        ("jobs", "AccessDenied"),
        ("payments-network", "AccessDenied"),
        ("orders-service", "AccessDenied"),
    }
    records = _stack_records(result, "jobs")
    assert records["Queue"].natural_id == "jobs-jobs" and records["Queue"].attributes == {}  # no template
    assert {row["status"] for row in result.sources} == {"warning"}
    assert result.exports == []  # neither ListExports nor the templates could say

    denied = {REGION: {"list_stack_resources"}}
    result = import_stacks(_DenyingSession(denied), ACCOUNT, "aws", [REGION])
    assert {row["status"] for row in result.sources} == {"error"}
    assert sorted(r.type for r in result.records) == ["AWS::CloudFormation::Stack"] * 3
    assert {row["resource_count"] for row in result.stacks} == {None}


def test_rolled_back_stack_is_no_resource_and_unknown_tag_sets_are_not_declared():
    template = {
        "Conditions": {"Unknown": {"Fn::Equals": [{"Ref": "AWS::NotificationARNs"}, "x"]}},
        "Resources": {
            "Q": {
                "Type": "AWS::SQS::Queue",
                "Properties": {
                    "Tags": [
                        {"Key": "a", "Value": "1"},
                        {"Fn::If": ["Unknown", {"Key": "b", "Value": "2"}, {"Ref": "AWS::NoValue"}]},
                    ]
                },
            }
        },
    }
    rows = [_row("Q", "AWS::SQS::Queue", "https://sqs.eu-west-1.amazonaws.com/123456789012/q")]
    result = _one_stack(template, rows, _stack(StackStatus="ROLLBACK_COMPLETE"))
    assert [r.type for r in result.records] == ["AWS::SQS::Queue"]
    assert result.records[0].tags is None  # tag b may or may not exist: comparing a, alone, would invent drift
    assert result.stacks[0]["status"] == "ROLLBACK_COMPLETE"


def test_unsupported_intrinsics_are_named_with_file_and_path_and_never_compared(tmp_path):
    template = tmp_path / "weird.yaml"
    template.write_text(
        "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      QueueName: weird-q\n"
        "      VisibilityTimeout: !Frobnicate [1, 2]\n      DelaySeconds: 5\n"
    )
    result = import_template_files([str(template)], ACCOUNT, "aws", REGION)
    (warning,) = result.errors
    assert warning.kind == "warning" and str(template) in warning.message
    assert "Fn::Frobnicate at Resources.Q.Properties.VisibilityTimeout" in warning.message
    (record,) = result.records
    assert record.attributes == {"visibility_timeout": UNRESOLVED, "delay_seconds": 5}
    assert result.sources[0]["status"] == "warning"
