"""Hostile and surprising CloudFormation input: a bad template is that input's error, never the scan's; what a
template file leaves out is said; a deployed stack's conditions come from its real parameters.

Every bad input is built here, in tmp_path or in memory. Tests that could hang if a bound regressed run in a
subprocess with a generous timeout, so a regression fails instead of hanging."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import boto3
import pytest

from driftgraph.scan import failed_owner_sources
from graph.drift import canonical_policy, compare
from graph.reconcile import Scope, reconcile
from graph.records import LIVE, UNRESOLVED, Listing, Record
from graph.resource_types import CATALOG
from importers.cfn_template import MAX_DEPTH, MAX_VALUES, TemplateError, load_template, make_context, resolve
from importers.cloudformation import deployed_parameters, import_stacks, import_template_files, stack_to_result
from importers.limits import MAX_INPUT_BYTES, BudgetExceeded, time_budget
from scanner.clients import AwsSession

ACCOUNT = "123456789012"
REGION = "us-east-1"
STACK_ID = "arn:aws:cloudformation:eu-west-1:123456789012:stack/shop/1111"
GOOD = "Resources:\n  Q: {Type: AWS::SQS::Queue, Properties: {QueueName: good}}\n"
# generous: proves "does not hang", not speed (a bounded input loads in well under a second)
HANG_GUARD_S = 120


def _sqs_row(logical, name):
    return {
        "LogicalResourceId": logical,
        "ResourceType": "AWS::SQS::Queue",
        "PhysicalResourceId": f"https://sqs.eu-west-1.amazonaws.com/{ACCOUNT}/{name}",
        "ResourceStatus": "CREATE_COMPLETE",
    }


def _stack(**extra):
    return {"StackId": STACK_ID, "StackName": "shop", "StackStatus": "UPDATE_COMPLETE", **extra}


def _one_stack(template, rows, stack=None, exports=None, **limits):
    return stack_to_result(
        stack or _stack(), rows, template, exports, account=ACCOUNT, partition="aws", region="eu-west-1", **limits
    )


def _beside_a_good_one(tmp_path, name, text, **options):
    (tmp_path / "good.yaml").write_text(GOOD)
    (tmp_path / name).write_text(text)
    return import_template_files([str(tmp_path)], ACCOUNT, "aws", REGION, **options)


def _deep(levels):
    return "[" * levels + "]" * levels


def _laughs(levels, width=10):
    """A YAML "billion laughs": each anchor is a list of `width` aliases to the previous one."""
    lines = ["Resources:", "  Q:", "    Type: AWS::SQS::Queue", "    Properties:", "      Tags:"]
    lines.append("        - &l0 [" + ", ".join(["lol"] * width) + "]")
    for level in range(1, levels):
        lines.append(f"        - &l{level} [" + ", ".join([f"*l{level - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def _guarded(code):
    """Run `code` in a fresh interpreter (it prints JSON); a bound that regressed fails the test by timeout."""
    completed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=HANG_GUARD_S
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


# ------------------------------------------------------------------------------------------------ one bad file


HOSTILE = {
    "recursive-anchor.yaml": (
        "Resources:\n  Q: &a\n    Type: AWS::SQS::Queue\n    Properties: {Tags: [*a]}\n",
        2,
        "a YAML alias refers to its own anchor",
    ),
    "self-sub-short.yaml": (
        "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      QueueName: &s !Sub ['${X}', {X: *s}]\n",
        5,
        "a YAML alias refers to its own anchor",
    ),
    "self-sub-long.yaml": (
        "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n"
        "      QueueName: &s {'Fn::Sub': ['${X}', {X: *s}]}\n",
        5,
        "a YAML alias refers to its own anchor",
    ),
    "deep.yaml": (
        "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      QueueName: x\n"
        f"      Tags: {_deep(400)}\n",
        6,
        f"nested deeper than {MAX_DEPTH} levels",
    ),
    "deep-metadata.yaml": (  # outside Properties: only the whole-template walks meet it
        f"Metadata:\n  x: {_deep(400)}\nResources:\n  Q: {{Type: AWS::SQS::Queue}}\n",
        2,
        f"nested deeper than {MAX_DEPTH} levels",
    ),
    "deep.json": (
        json.dumps({"Resources": {"Q": {"Type": "AWS::SQS::Queue", "Properties": {"Tags": json.loads(_deep(400))}}}}),
        None,
        f"nested deeper than {MAX_DEPTH} levels",
    ),
    "deeper-than-python.json": (  # past the recursion limit of the JSON decoder itself
        '{"Resources": {"Q": {"Type": "AWS::SQS::Queue", "Properties": {"Tags": ' + _deep(5000) + "}}}}",
        None,
        f"nested deeper than {MAX_DEPTH} levels",
    ),
    "bool.yaml": (
        "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      FifoQueue: !!bool maybe\n",
        5,
        "a value tagged or read as bool is not a valid bool",
    ),
    "timestamp.yaml": (
        "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      QueueName: !!timestamp not-a-date\n",
        5,
        "a value tagged or read as timestamp is not a valid timestamp",
    ),
    "int.yaml": (
        "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      DelaySeconds: !!int soon\n",
        5,
        "a value tagged or read as int is not a valid int",
    ),
    "float.yaml": (
        "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      DelaySeconds: !!float later\n",
        5,
        "a value tagged or read as float is not a valid float",
    ),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_template_is_its_own_error_and_the_good_one_still_loads(tmp_path, name):
    text, line, fragment = HOSTILE[name]
    result = _beside_a_good_one(tmp_path, name, text)
    assert [(r.type, r.natural_id) for r in result.records] == [("AWS::SQS::Queue", "good")]
    [error] = result.errors
    assert (Path(error.source).name, error.kind, error.line) == (name, "error", line)
    assert fragment in error.message
    statuses = {Path(row["path"]).name: row["status"] for row in result.sources}
    assert statuses == {"good.yaml": "ok", name: "error"}
    for value in ("maybe", "not-a-date", "soon", "later"):
        assert value not in repr(result)  # a message says what is wrong and where, never the value


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_stack_template_is_a_warning_and_the_stacks_resources_remain(name):
    # moto refuses to create most of these stacks (its own parser breaks), so the recorded payloads are fed
    # to the pure transform; the deeply nested ones also go through moto below
    text, line, fragment = HOSTILE[name]
    result = _one_stack(text, [_sqs_row("Q", "q")])
    assert [r.natural_id for r in result.records] == ["q", STACK_ID]
    [warning] = result.errors
    assert (warning.source, warning.kind, warning.line) == ("shop", "warning", line)
    assert fragment in warning.message and "attributes not compared" in result.sources[0]["message"]


def test_yaml_scalar_errors_never_quote_the_value(tmp_path):
    # the issue's own example: a secret given a wrong tag must not reach scan_errors or the sources table
    result = _beside_a_good_one(
        tmp_path,
        "secret.yaml",
        "Parameters:\n  Password:\n    Type: String\n    Default: !!int hunter2\n"
        "Resources:\n  Q: {Type: AWS::SQS::Queue}\n",
    )
    [error] = result.errors
    assert error.line == 4 and error.message == "invalid YAML: a value tagged or read as int is not a valid int"
    [row] = [row for row in result.sources if row["status"] == "error"]
    assert row["message"] == error.message
    assert "hunter2" not in repr(result)
    with pytest.raises(TemplateError) as caught:
        load_template("Resources:\n  Q: {Type: T, Properties: {P: !!float hunter2}}\n", "t.yaml")
    assert "hunter2" not in str(caught.value) and caught.value.line == 2


def test_a_plain_self_reference_is_unresolved_not_an_error(tmp_path):
    # without an anchor, a Sub naming its own resource is CloudFormation's problem: the value is unknown
    text = "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      QueueName: x\n"
    text += "      Tags: [{Key: me, Value: !Sub '${Q.QueueName}-${Q}'}]\n"
    (tmp_path / "self.yaml").write_text(text)
    result = import_template_files([str(tmp_path)], ACCOUNT, "aws", REGION)
    assert result.errors == []
    assert result.records[0].tags == {"me": UNRESOLVED}


# ------------------------------------------------------------------------------------------------ bounds


def test_billion_laughs_is_refused_quickly(tmp_path):
    (tmp_path / "laughs.yaml").write_text(_laughs(9))  # a billion values once expanded, 655 bytes
    (tmp_path / "good.yaml").write_text(GOOD)
    outcome = _guarded(
        f"""
        import json
        from importers.cloudformation import import_template_files, stack_to_result
        files = import_template_files([{str(tmp_path)!r}], "1", "aws", "us-east-1")
        stack = stack_to_result(
            {{"StackId": "arn:stack/laughs/1", "StackName": "laughs"}},
            [{{"LogicalResourceId": "Q", "ResourceType": "AWS::SQS::Queue", "PhysicalResourceId": "https://sqs/1/q"}}],
            open({str(tmp_path / "laughs.yaml")!r}).read(), None, account="1", partition="aws", region="us-east-1",
        )
        print(json.dumps({{
            "records": [r.natural_id for r in files.records],
            "errors": [(e.source, e.kind, e.line, e.message) for e in files.errors],
            "stack_records": [r.natural_id for r in stack.records],
            "stack_errors": [(e.kind, e.message) for e in stack.errors],
        }}))
        """
    )
    assert outcome["records"] == ["good"]
    [(source, kind, line, message)] = outcome["errors"]
    assert (Path(source).name, kind, line) == ("laughs.yaml", "error", 11)
    assert message == f"YAML aliases expand this document past {MAX_VALUES:,} values (an alias bomb); refused"
    # a deployed stack's template: unreadable, so not compared, but the stack's resources still come out
    assert outcome["stack_records"] == ["q", "arn:stack/laughs/1"]
    assert outcome["stack_errors"] == [["warning", message]]


def test_aliases_within_the_bound_still_load():
    # a template may share values through anchors; only an expansion past the bound is refused
    template = load_template(_laughs(3), "shared.yaml")
    assert len(template["Resources"]["Q"]["Properties"]["Tags"][2]) == 10


@pytest.mark.corpus
def test_the_largest_corpus_templates_are_far_inside_the_bounds():
    corpus = Path(__file__).parents[2] / "shared" / "corpus" / "cfn"
    if not corpus.is_dir():
        pytest.skip(f"third-party corpus not present at {corpus}")
    largest = max((p for p in corpus.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    template = load_template(largest.read_text(encoding="utf-8"), str(largest))
    assert template["Resources"] and largest.stat().st_size < MAX_INPUT_BYTES / 100


def test_a_template_over_the_size_limit_is_refused(tmp_path):
    big = "Resources:\n  Q: {Type: AWS::SQS::Queue, Properties: {QueueName: big}}\n" + "# padding\n" * 500
    result = _beside_a_good_one(tmp_path, "big.yaml", big, max_input_bytes=4000)
    assert [r.natural_id for r in result.records] == ["good"]
    [error] = result.errors
    assert error.message == (f"{len(big.encode()):,} bytes, over the 4,000 bytes limit for one input file; not read "
                             "(raise the limit with --max-input-mb)")
    # the default limit, on a file that reads as zeros past it (sparse: it costs no disk)
    with open(tmp_path / "huge.json", "wb") as handle:
        handle.truncate(MAX_INPUT_BYTES + 1)
    result = import_template_files([str(tmp_path / "huge.json")], ACCOUNT, "aws", REGION)
    assert [e.message for e in result.errors] == [
        "10 MiB, over the 10 MiB limit for one input file; not read (raise the limit with --max-input-mb)"
    ]
    # a deployed stack's template body: not compared, its resources still come out
    stack = _one_stack(big, [_sqs_row("Q", "big")], max_input_bytes=4000)
    assert [r.natural_id for r in stack.records] == ["big", STACK_ID]
    assert [e.kind for e in stack.errors] == ["warning"] and "more than 4,000 bytes, the limit" in stack.errors[0].message


def test_a_decoded_body_is_bounded_and_checked_like_text():
    # boto3 decodes a JSON template body itself: the same depth bound and shape checks apply
    rows = [_sqs_row("Q", "q")]
    deep = {"Resources": {"Q": {"Type": "AWS::SQS::Queue", "Metadata": json.loads(_deep(400))}}}
    not_a_mapping = {"Resources": ["Q"]}
    for body, fragment in ((deep, "nested deeper than"), (not_a_mapping, "not a mapping")):
        result = _one_stack(body, rows)
        assert [r.natural_id for r in result.records] == ["q", STACK_ID]
        [warning] = result.errors
        assert warning.kind == "warning" and fragment in warning.message


# ------------------------------------------------------------------------------------------------ time budget


def _spin(seconds):
    """Busy work for at most `seconds`: a budget that failed to fire ends the test instead of hanging it."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pass


def test_time_budget_stops_the_block_and_names_itself():
    with pytest.raises(BudgetExceeded) as caught:
        with time_budget(0.2, "spin.yaml"):
            _spin(30)
    assert caught.value.seconds == 0.2 and str(caught.value) == (
        "spin.yaml: stopped after the time budget of 0.2 s for one input"
    )
    with time_budget(5, "quick"):
        pass
    _spin(0.3)  # a budget that finished in time leaves no timer behind


def test_a_budget_whose_alarm_was_swallowed_still_ends_over_budget():
    """The alarm lands wherever the interpreter is: in a garbage collector's finalizer its exception is ignored.
    The block then runs on to its end, which is still over budget: said so there."""
    with pytest.raises(BudgetExceeded) as caught:
        with time_budget(0.1, "swallowed.yaml"):
            try:
                _spin(30)
            except BudgetExceeded:
                pass  # as a finalizer running at that moment would
    assert caught.value.what == "swallowed.yaml"


def test_time_budget_rearms_an_outer_budget():
    with pytest.raises(BudgetExceeded) as caught:
        with time_budget(0.3, "outer"):
            with time_budget(10, "inner"):
                pass
            _spin(30)
    assert caught.value.what == "outer"


def test_time_budget_is_a_no_op_outside_the_main_thread():
    outcome = []

    def work():
        try:
            with time_budget(0.01, "in a thread"):
                time.sleep(0.1)
            outcome.append("finished")
        except BaseException as error:  # noqa: BLE001 - the test reports whatever escaped
            outcome.append(repr(error))

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(HANG_GUARD_S)
    assert outcome == ["finished"]


def _slow_template(values=10_000, references=1_000):
    """Legal and small (100 KB), but slow: each FindInMap copies a 10,000-item list, a thousand times."""
    return json.dumps(
        {
            "Mappings": {"Big": {"all": {"items": list(range(values))}}},
            "Resources": {
                "Q": {
                    "Type": "AWS::SQS::Queue",
                    "Properties": {"QueueName": "slow", "Tags": [{"Fn::FindInMap": ["Big", "all", "items"]}] * references},
                }
            },
        }
    )


def test_a_slow_template_is_stopped_by_its_time_budget(tmp_path):
    result = _beside_a_good_one(tmp_path, "slow.json", _slow_template(), time_budget_s=0.5)
    assert [r.natural_id for r in result.records] == ["good"]
    [error] = result.errors
    assert (Path(error.source).name, error.kind) == ("slow.json", "error")
    assert error.message == "reading the file stopped after the time budget of 0.5 s for one input; not read"
    assert {Path(r["path"]).name: r["status"] for r in result.sources} == {"good.yaml": "ok", "slow.json": "error"}
    # a deployed stack: its template is dropped, its resources still come out, owned, attributes not compared
    stack = _one_stack(_slow_template(), [_sqs_row("Q", "slow")], time_budget_s=0.5)
    assert [(r.natural_id, r.attributes) for r in stack.records] == [("slow", {}), (STACK_ID, {})]
    [error] = stack.errors
    assert (error.source, error.kind) == ("shop", "error")
    assert error.message == (
        "reading the template stopped after the time budget of 0.5 s for one input; attributes not compared"
    )
    assert stack.sources[0]["status"] == "error" and error.message in stack.sources[0]["message"]


def test_a_stack_payload_that_breaks_the_transform_is_that_stacks_error():
    # a payload no AWS answer should hold (a logical id that is a list): the stack is an error row, the scan goes on
    rows = [{"LogicalResourceId": ["Q"], "ResourceType": "AWS::SQS::Queue", "PhysicalResourceId": "https://sqs/q"}]
    result = _one_stack({"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}, rows)
    assert result.records == []
    [error] = result.errors
    assert (error.source, error.kind) == ("shop", "error")
    assert error.message.startswith("unexpected TypeError in ") and error.message.endswith(
        " while reading the stack; not read"
    )
    [source] = result.sources
    assert (source["path"], source["status"], source["message"]) == (STACK_ID, "error", error.message)


# ------------------------------------------------------------------------------------------------ left out, said


def test_a_template_file_says_what_it_leaves_out(tmp_path):
    template = {
        "Parameters": {"Env": {"Type": "String", "Default": "dev"}},
        "Conditions": {"IsProd": {"Fn::Equals": [{"Ref": "Env"}, "prod"]}},
        "Resources": {
            "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "kept"}},
            "ProdQueue": {"Type": "AWS::SQS::Queue", "Condition": "IsProd", "Properties": {"QueueName": "p"}},
            "Seed": {"Type": "Custom::Seed", "Properties": {"ServiceToken": "arn:x"}},
            "Legacy": {"Type": "AWS::CloudFormation::CustomResource", "Properties": {"ServiceToken": "arn:x"}},
            "Handler": {"Type": "AWS::Serverless::Function", "Properties": {"FunctionName": "h"}},
            "Meta": {"Type": "AWS::CDK::Metadata"},  # bookkeeping: no AWS resource, nothing to say
            "Unnamed": {"Type": "AWS::SQS::Queue"},
            "Instance": {"Type": "AWS::EC2::Instance"},  # in the catalog, no name to give
            "Dashboard": {"Type": "AWS::CloudWatch::Dashboard", "Properties": {"DashboardName": "d"}},
            "Method": {"Type": "AWS::ApiGateway::Method"},
            "Method2": {"Type": "AWS::ApiGateway::Method"},
        },
    }
    path = tmp_path / "left-out.json"
    path.write_text(json.dumps(template))
    result = import_template_files([str(path)], ACCOUNT, "aws", REGION)
    assert [r.natural_id for r in result.records] == ["kept"]
    assert [(e.kind, e.message) for e in result.errors] == [
        ("warning", "1 resource left out, condition false under the parameters' defaults: ProdQueue (IsProd)"),
        ("warning", "2 custom resources left out, not checked: Seed, Legacy"),
        ("warning", "1 SAM resource left out until the transform runs: Handler"),
    ]
    [source] = result.sources
    assert source["status"] == "warning"
    assert source["message"].split("; ") == [
        *(e.message for e in result.errors),
        "2 resources have no physical name and can only be matched through a deployed stack",
        "3 resources of types outside the catalog, not listed live, not checked: "
        "AWS::ApiGateway::Method (2), AWS::CloudWatch::Dashboard (1)",
    ]


def test_a_long_list_of_left_out_resources_is_shortened(tmp_path):
    resources = {f"Seed{n:02}": {"Type": "Custom::Seed"} for n in range(12)}
    (tmp_path / "seeds.yaml").write_text(json.dumps({"Resources": resources}))
    [warning] = import_template_files([str(tmp_path)], ACCOUNT, "aws", REGION).errors
    assert warning.message == (
        "12 custom resources left out, not checked: "
        "Seed00, Seed01, Seed02, Seed03, Seed04, Seed05, Seed06, Seed07, Seed08, Seed09 and 2 more"
    )


def test_one_resource_outside_the_catalog_reads_in_the_singular(tmp_path):
    (tmp_path / "one.yaml").write_text("Resources:\n  D: {Type: AWS::CloudWatch::Dashboard}\n")
    [source] = import_template_files([str(tmp_path)], ACCOUNT, "aws", REGION).sources
    assert source["message"] == (
        "1 resource of a type outside the catalog, not listed live, not checked: AWS::CloudWatch::Dashboard (1)"
    )


# ------------------------------------------------------------------------------------------------ stack conditions

CONDITIONAL = {
    "Parameters": {
        "Env": {"Type": "String", "Default": "dev"},
        "Secret": {"Type": "String", "NoEcho": "true", "Default": "s3cr3t-default"},
        "Ami": {"Type": "AWS::SSM::Parameter::Value<String>", "Default": "/latest/ami"},
    },
    "Conditions": {
        "IsProd": {"Fn::Equals": [{"Ref": "Env"}, "prod"]},
        "HasSecret": {"Fn::Not": [{"Fn::Equals": [{"Ref": "Secret"}, ""]}]},
        "NewAmi": {"Fn::Equals": [{"Ref": "Ami"}, "ami-new"]},
    },
    "Resources": {
        "Queue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "VisibilityTimeout": {"Fn::If": ["IsProd", 120, 30]},
                "DelaySeconds": {"Fn::If": ["HasSecret", 5, 0]},
                "MessageRetentionPeriod": {"Fn::If": ["NewAmi", 600, 60]},
            },
        },
    },
}


def test_stack_conditions_use_its_real_parameters_never_the_defaults():
    rows = [_sqs_row("Queue", "q")]
    prod = _stack(Parameters=[{"ParameterKey": "Env", "ParameterValue": "prod"}])
    assert _one_stack(CONDITIONAL, rows, prod).records[0].attributes["visibility_timeout"] == 120
    # a value DescribeStacks does not show is unknown: the template's default is not what was deployed
    result = _one_stack(CONDITIONAL, rows, _stack(Parameters=[]))
    assert result.records[0].attributes["visibility_timeout"] is UNRESOLVED
    assert any("condition IsProd could not be decided" in e.message for e in result.errors)


def test_an_undecidable_stack_condition_is_unknown_and_named():
    rows = [_sqs_row("Queue", "q")]
    stack = _stack(
        Parameters=[
            {"ParameterKey": "Env", "ParameterValue": "dev"},
            {"ParameterKey": "Secret", "ParameterValue": "****"},
            {"ParameterKey": "Ami", "ParameterValue": "/latest/ami"},  # SSM, no ResolvedValue
        ]
    )
    result = _one_stack(CONDITIONAL, rows, stack)
    queue = result.records[0]
    assert queue.attributes == {
        "visibility_timeout": 30,
        "delay_seconds": UNRESOLVED,  # never taken as false: 0 would be a guess
        "message_retention_seconds": UNRESOLVED,
    }
    assert [(e.kind, e.message) for e in result.errors] == [
        (
            "warning",
            "condition HasSecret could not be decided from the stack's parameters (it reads Secret (NoEcho)): "
            "values, exports and imports that depend on it are not compared",
        ),
        (
            "warning",
            "condition NewAmi could not be decided from the stack's parameters (it reads Ami (SSM, without a "
            "resolved value)): "
            "values, exports and imports that depend on it are not compared",
        ),
    ]
    assert result.sources[0]["status"] == "warning"
    assert "condition HasSecret could not be decided" in result.sources[0]["message"]
    assert "s3cr3t-default" not in repr(result)
    resolved = _stack(Parameters=[*stack["Parameters"][:2], {**stack["Parameters"][2], "ResolvedValue": "ami-new"}])
    assert _one_stack(CONDITIONAL, rows, resolved).records[0].attributes["message_retention_seconds"] == 600


def test_exports_and_imports_under_an_undecidable_condition_are_unknown():
    template = {
        "Parameters": {"Secret": {"Type": "String", "NoEcho": "true"}, "Env": {"Type": "String"}},
        "Conditions": {
            "HasSecret": {"Fn::Not": [{"Fn::Equals": [{"Ref": "Secret"}, ""]}]},
            "IsProd": {"Fn::Equals": [{"Ref": "Env"}, "prod"]},
        },
        "Resources": {
            "Queue": {
                "Type": "AWS::SQS::Queue",
                "Properties": {
                    "Tags": [
                        {"Key": "a", "Value": {"Fn::If": ["HasSecret", {"Fn::ImportValue": "maybe-a"}, "none"]}},
                        {"Key": "b", "Value": {"Fn::If": ["IsProd", {"Fn::ImportValue": "prod-b"}, "dev"]}},
                    ]
                },
            },
            # deployed, whatever its condition says: its import happens
            "Gated": {
                "Type": "AWS::SQS::Queue",
                "Condition": "HasSecret",
                "Properties": {"QueueName": {"Fn::ImportValue": "gated-name"}},
            },
        },
        "Outputs": {
            "Always": {"Value": "x", "Export": {"Name": "always-export"}},
            "Maybe": {"Condition": "HasSecret", "Value": {"Fn::ImportValue": "maybe-c"}, "Export": {"Name": "maybe"}},
        },
    }
    stack = _stack(
        Parameters=[
            {"ParameterKey": "Secret", "ParameterValue": "****"},
            {"ParameterKey": "Env", "ParameterValue": "dev"},
        ]
    )
    rows = [_sqs_row("Queue", "q"), _sqs_row("Gated", "gated")]
    result = _one_stack(template, rows, stack, exports=None)  # ListExports failed: the template says
    assert [row["export_name"] for row in result.exports] == ["always-export"]
    # prod-b sits in the branch IsProd does not take; maybe-a and maybe-c may or may not be read
    assert [row["export_name"] for row in result.imports] == ["gated-name"]
    messages = [e.message for e in result.errors]
    assert "2 Fn::ImportValue names could not be resolved" in result.sources[0]["message"]
    assert any(m.startswith("condition HasSecret could not be decided") for m in messages)
    assert not any("IsProd" in m for m in messages)


# ------------------------------------------------------------------------------------------------ moto

MOTO_REGION = "ap-southeast-2"  # a region no other test writes stacks to


@pytest.fixture(scope="module")
def hostile_stacks(moto_endpoint, tmp_path_factory):
    """Stacks moto accepts that hold what used to break the import: deep nesting, an undecidable condition."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        home = tmp_path_factory.mktemp("aws")
        for key, value in {
            "AWS_ENDPOINT_URL": moto_endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": MOTO_REGION,
            "AWS_CONFIG_FILE": str(home / "no-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-credentials"),
        }.items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        cloudformation = boto3.client("cloudformation", region_name=MOTO_REGION)
        bodies = {
            "deep-json": json.dumps(
                {"Resources": {"Q": {"Type": "AWS::SQS::Queue", "Metadata": {"x": json.loads(_deep(400))}}}}
            ),
            "deep-yaml": f"Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Metadata:\n      x: {_deep(400)}\n",
            "secret-condition": (
                "Parameters:\n  Secret: {Type: String, NoEcho: true, Default: x}\n"
                "Conditions:\n  HasSecret: !Equals [!Ref Secret, x]\n"
                "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n"
                "    Properties:\n      DelaySeconds: !If [HasSecret, 5, 10]\n"
            ),
        }
        for name, body in bodies.items():
            cloudformation.create_stack(StackName=name, TemplateBody=body)
        yield import_stacks(AwsSession(), ACCOUNT, "aws", [MOTO_REGION])


def test_moto_deeply_nested_stacks_are_read_without_their_template(hostile_stacks):
    queues = {r.owner.stack_name: r for r in hostile_stacks.records if r.type == "AWS::SQS::Queue"}
    assert set(queues) == {"deep-json", "deep-yaml", "secret-condition"}
    errors = {e.source: e for e in hostile_stacks.errors}
    for name in ("deep-json", "deep-yaml"):
        assert queues[name].natural_id.startswith(f"{name}-Q-") and queues[name].attributes == {}
        assert errors[name].kind == "warning" and f"nested deeper than {MAX_DEPTH} levels" in errors[name].message
    assert {row["name"] for row in hostile_stacks.stacks} == set(queues)


def test_moto_undecidable_condition_is_named(hostile_stacks):
    queue = next(r for r in hostile_stacks.records if r.owner.stack_name == "secret-condition" and r.type != "AWS::CloudFormation::Stack")
    assert queue.attributes["delay_seconds"] is UNRESOLVED
    error = next(e for e in hostile_stacks.errors if e.source == "secret-condition")
    assert error.kind == "warning" and error.message.startswith(
        "condition HasSecret could not be decided from the stack's parameters (it reads Secret"
    )


# ------------------------------------------------------------------------------------------------ trial findings


def _reconciled(records, live_names, failed=()):
    """Reconcile template records against live SQS queues named `live_names` (in REGION)."""
    live = [Record(LIVE, "AWS::SQS::Queue", ACCOUNT, REGION, name) for name in live_names]
    listings = [Listing(ACCOUNT, REGION, "AWS::SQS::Queue", "ok")]
    graph = reconcile(live, records, Scope({ACCOUNT}, {REGION}, "aws", listings, list(failed)))
    return {node.natural_id: (node.status, node.rule) for node in graph.nodes}


UNDECIDABLE = """\
Parameters:
  Env: {Type: String, AllowedValues: [prod, staging]}   # no Default
  Secret: {Type: String, NoEcho: true, Default: x}
  DbPassword: {Type: String, Default: y}
  Size: {Type: String, Default: small}
Conditions:
  IsProd: !Equals [!Ref Env, prod]
  HasSecret: !Equals [!Ref Secret, y]
  PasswordSet: !Equals [!Ref DbPassword, y]
  IsSmall: !Equals [!Ref Size, small]
  IsLarge: !Equals [!Ref Size, large]
Resources:
  ProdQ: {Type: AWS::SQS::Queue, Condition: IsProd, Properties: {QueueName: trial1-prod-only}}
  SecretQ: {Type: AWS::SQS::Queue, Condition: HasSecret, Properties: {QueueName: trial1-secret-only}}
  PasswordQ: {Type: AWS::SQS::Queue, Condition: PasswordSet, Properties: {QueueName: trial1-password}}
  SmallQ: {Type: AWS::SQS::Queue, Condition: IsSmall, Properties: {QueueName: trial1-small}}
  LargeQ: {Type: AWS::SQS::Queue, Condition: IsLarge, Properties: {QueueName: trial1-large}}
"""


def test_a_template_file_condition_that_cannot_be_decided_is_unknown_never_missing(tmp_path):
    path = tmp_path / "cond.yaml"
    path.write_text(UNDECIDABLE)
    result = import_template_files([str(path)], ACCOUNT, "aws", REGION)
    # a parameter without a default, a NoEcho one and one whose name says secret: no value a file can rely on
    conditions = {r.natural_id: r.condition for r in result.records}
    assert conditions == {
        "trial1-prod-only": "IsProd",
        "trial1-secret-only": "HasSecret",
        "trial1-password": "PasswordSet",
        "trial1-small": None,  # decided true under the default: an ordinary declaration
    }  # LargeQ: decided false, left out
    assert [(e.kind, e.message) for e in result.errors] == [
        ("warning", "1 resource left out, condition false under the parameters' defaults: LargeQ (IsLarge)"),
        (
            "warning",
            "3 resources declared under a condition that could not be decided from the parameters' defaults, "
            "unknown when not found live: ProdQ (IsProd), SecretQ (HasSecret), PasswordQ (PasswordSet); "
            "HasSecret reads Secret (NoEcho); IsProd reads Env (no default); "
            "PasswordSet reads DbPassword (a secret, by its name)",
        ),
    ]
    assert result.sources[0]["status"] == "warning"
    statuses = _reconciled(result.records, ["trial1-prod-only", "trial1-small"])
    assert statuses == {
        "trial1-prod-only": ("managed", "declared_and_live"),
        "trial1-secret-only": ("unknown", "condition_undecided"),
        "trial1-password": ("unknown", "condition_undecided"),
        "trial1-small": ("managed", "declared_and_live"),
    }
    # an ordinary declaration that is not live is still missing
    assert _reconciled(result.records, [])["trial1-small"] == ("missing", "declared_not_live")


K8S = """\
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    spec:
      containers:
        - name: web
          image: nginx
          resources: {limits: {cpu: 100m}}
"""
HELM = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-config
data:
  env: {{ .Values.env | quote }}
"""
BROKEN_PACKAGE_JSON = '{\n  "name": "web",\n  "version": "1.0.0",\n  "scripts": {"build": "tsc"\n'
TRUNCATED_TEMPLATE = "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n    Properties:\n      QueueName: \"cut\n"


@pytest.mark.parametrize(
    "name, text, reason",
    [
        ("deploy.yaml", K8S, "invalid YAML: expected a single document in the stream"),
        ("configmap.yaml", HELM, "invalid YAML"),
        ("package.json", BROKEN_PACKAGE_JSON, "invalid JSON"),
    ],
)
def test_an_unreadable_file_in_a_folder_that_is_no_template_is_skipped(tmp_path, name, text, reason):
    result = _beside_a_good_one(tmp_path, name, text)
    statuses = {Path(row["path"]).name: row["status"] for row in result.sources}
    assert statuses == {"good.yaml": "ok", name: "skipped"}
    [warning] = result.errors
    assert (Path(warning.source).name, warning.kind) == (name, "warning")
    assert warning.message.startswith("skipped: not a CloudFormation template (") and reason in warning.message
    assert warning.message.endswith(
        "; nothing in it looks like one: no AWSTemplateFormatVersion, Resources, AWS:: type or SAM transform)"
    )
    # it could have declared nothing: a live queue no template names is unmanaged, not unknown
    failed = failed_owner_sources(result.sources, {})
    assert failed == []
    assert _reconciled(result.records, ["good", "stray"], failed) == {
        "good": ("managed", "declared_and_live"),
        "stray": ("unmanaged", "no_owner"),
    }
    # named explicitly, the same file must be a template
    explicit = import_template_files([str(tmp_path / name)], ACCOUNT, "aws", REGION)
    assert [(e.kind, row["status"]) for e, row in zip(explicit.errors, explicit.sources)] == [("error", "error")]


@pytest.mark.parametrize(
    "name, text, reason",
    [
        # cdk.out's tree.json names resource types, but read whole it is plainly no template
        ("tree.json", json.dumps({"tree": {"Q": {"attributes": {"aws:cdk:cloudformation:type": "AWS::SQS::Queue"}}}}),
         "no Resources section"),
        ("list.yaml", "- a\n- b\n", "the document is not a mapping"),
        ("empty.yaml", "\n", "empty file"),
    ],
)
def test_a_file_in_a_folder_read_whole_that_is_no_template_is_skipped(tmp_path, name, text, reason):
    result = _beside_a_good_one(tmp_path, name, text)
    assert {Path(row["path"]).name: row["status"] for row in result.sources} == {"good.yaml": "ok", name: "skipped"}
    assert [(e.kind, e.message) for e in result.errors] == [
        ("warning", f"skipped: not a CloudFormation template ({reason})")
    ]


def test_a_broken_template_in_a_folder_stays_an_error(tmp_path):
    result = _beside_a_good_one(tmp_path, "cut.yaml", TRUNCATED_TEMPLATE)
    statuses = {Path(row["path"]).name: row["status"] for row in result.sources}
    assert statuses == {"good.yaml": "ok", "cut.yaml": "error"}
    failed = failed_owner_sources(result.sources, {})
    assert [Path(f.source).name for f in failed] == ["cut.yaml"]
    assert _reconciled(result.records, ["good", "stray"], failed)["stray"] == ("unknown", "owner_source_failed")
    # any sign of CloudFormation keeps a broken file an error: it may have declared what we see live
    for sign in ("AWSTemplateFormatVersion: '2010-09-09'", "Transform: AWS::Serverless-2016-10-31",
                 "x: {Type: 'AWS::SNS::Topic'}"):
        (tmp_path / "cut.yaml").write_text(sign + "\nbroken: [\n")
        outcome = import_template_files([str(tmp_path)], ACCOUNT, "aws", REGION)
        assert {Path(r["path"]).name: r["status"] for r in outcome.sources}["cut.yaml"] == "error", sign
    # so does a format version in a file that loads but declares no resources
    (tmp_path / "cut.yaml").write_text("AWSTemplateFormatVersion: '2010-09-09'\nParameters: {}\n")
    outcome = import_template_files([str(tmp_path)], ACCOUNT, "aws", REGION)
    assert {Path(r["path"]).name: r["status"] for r in outcome.sources}["cut.yaml"] == "error"


def _queue_tags(text, name="tags.yaml", tmp_path=None):
    path = tmp_path / name
    path.write_text(text)
    result = import_template_files([str(path)], ACCOUNT, "aws", REGION)
    assert [e for e in result.errors if e.kind == "error"] == []
    [record] = result.records
    return record


def test_yaml_scalars_become_the_text_cloudformation_makes_of_them(tmp_path):
    # CloudFormation reads YAML 1.1 (SnakeYAML's resolver): unquoted yes is a boolean it writes as "true",
    # 010 an octal number it writes as "8"; spellings whose outcome we cannot be sure of are not compared
    record = _queue_tags(
        "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      QueueName: 2024\n"
        "      Tags:\n"
        "        - {Key: flag, Value: true}\n"
        "        - {Key: y, Value: yes}\n"
        "        - {Key: off, Value: Off}\n"
        "        - {Key: n, Value: 010}\n"
        "        - {Key: quoted, Value: '010'}\n"
        "        - {Key: ratio, Value: 1.5}\n"
        "        - {Key: t, Value: 12:30}\n"
        "        - {Key: u, Value: 1_000}\n"
        "        - {Key: account, Value: 012345678901}\n"
        "        - {Key: e, Value: 1e5}\n"
        "        - {Key: inf, Value: .inf}\n"
        "        - {Key: hex, Value: 0x1F}\n"
        "        - {Key: empty, Value: ~}\n",
        tmp_path=tmp_path,
    )
    assert record.natural_id == "2024"  # a numeric name is still a name
    assert record.tags == {
        "flag": "true",
        "y": "true",
        "false": "false",  # a key too is read as YAML 1.1: `off` is the boolean false
        "n": "8",
        "quoted": "010",
        "ratio": "1.5",
        "t": UNRESOLVED,
        "u": UNRESOLVED,
        "account": UNRESOLVED,
        "e": UNRESOLVED,
        "inf": UNRESOLVED,
        "hex": UNRESOLVED,
        "empty": None,
    }
    row = CATALOG["AWS::SQS::Queue"]
    live = {"flag": "true", "y": "true", "false": "false", "n": "8", "quoted": "010", "ratio": "1.5",
            "t": "12:30", "u": "1_000", "account": "012345678901", "e": "1e5", "inf": ".inf", "hex": "0x1F",
            "empty": ""}
    assert compare(row, record.attributes, record.tags, {}, live, declared_by="cloudformation") == []


def test_json_booleans_and_numbers_in_tags_are_written_as_cloudformation_writes_them(tmp_path):
    template = {
        "Resources": {
            "Q": {
                "Type": "AWS::SQS::Queue",
                "Properties": {
                    "QueueName": "json-tags",
                    "Tags": [{"Key": "flag", "Value": True}, {"Key": "n", "Value": 8}, {"Key": "r", "Value": 1.0},
                             {"Key": "big", "Value": 1e20}],
                },
            }
        }
    }
    record = _queue_tags(json.dumps(template), "tags.json", tmp_path=tmp_path)
    assert record.tags == {"flag": "true", "n": "8", "r": "1.0", "big": UNRESOLVED}
    row = CATALOG["AWS::SQS::Queue"]
    assert compare(row, {}, record.tags, {}, {"flag": "true", "n": "8", "r": "1.0", "big": "1.0E20"},
                   declared_by="cloudformation") == []
    # a deployed stack's JSON body (boto3 decodes it) reads the same
    stack = _one_stack(template, [_sqs_row("Q", "json-tags")])
    assert stack.records[0].tags == record.tags


def test_numbers_and_booleans_in_string_attributes_and_conditions(tmp_path):
    text = (
        "Parameters:\n  Flag: {Type: String, Default: 'yes'}\n  Port: {Type: Number, Default: 010}\n"
        "  Count: {Type: Number, Default: 1_000}\n"
        "Conditions:\n  Quoted: !Equals [!Ref Flag, yes]\n  Octal: !Equals [!Ref Port, 8]\n"
        "  Unsure: !Equals [1_000, 1_000]\n  Many: !Equals [!Ref Count, 1000]\n"
        "Resources:\n"
        "  D: {Type: AWS::SQS::Queue, Condition: Many, Properties: {QueueName: many}}\n"
        "  T:\n    Type: AWS::SNS::Topic\n    Properties: {TopicName: t, DisplayName: 2024}\n"
        "  A: {Type: AWS::SQS::Queue, Condition: Quoted, Properties: {QueueName: quoted}}\n"
        "  B: {Type: AWS::SQS::Queue, Condition: Octal, Properties: {QueueName: octal}}\n"
        "  C: {Type: AWS::SQS::Queue, Condition: Unsure, Properties: {QueueName: unsure}}\n"
    )
    path = tmp_path / "t.yaml"
    path.write_text(text)
    result = import_template_files([str(path)], ACCOUNT, "aws", REGION)
    records = {r.owner.address: r for r in result.records}
    # 'yes' quoted is the text yes, unquoted the boolean true: not equal; 010 is 8 for CloudFormation
    assert set(records) == {"T", "B", "C", "D"}
    assert records["C"].condition == "Unsure"  # never decided true by two unknowns being alike
    assert records["D"].condition == "Many"
    left_out, undecided = result.errors
    assert left_out.message.endswith("defaults: A (Quoted)")
    assert undecided.message.endswith("D (Many), C (Unsure); Many reads Count (a default of uncertain reading)")
    assert records["T"].attributes["display_name"] == "2024"
    row = CATALOG["AWS::SNS::Topic"]
    assert compare(row, records["T"].attributes, None, {"display_name": "2024"}, None) == []


def test_iam_policy_numbers_are_no_drift():
    # a YAML condition value 3600 and the policy document IAM answers (as CloudFormation sent it)
    template = load_template(
        "Resources:\n  P:\n    Type: AWS::IAM::ManagedPolicy\n    Properties:\n      ManagedPolicyName: p\n"
        "      PolicyDocument:\n        Version: 2012-10-17\n        Statement:\n"
        "          - {Effect: Allow, Action: 's3:*', Resource: '*',\n"
        "             Condition: {NumericLessThan: {'aws:MultiFactorAuthAge': 3600}, Bool: {'aws:SecureTransport': true}}}\n",
        "p.yaml",
    )
    document = template["Resources"]["P"]["Properties"]["PolicyDocument"]
    live = json.loads(json.dumps(document))
    assert canonical_policy(document) == canonical_policy(json.dumps(live))


SECRET_VALUE = "s3cr3t-pa55-value"
SECRET_TEMPLATE = {
    "Parameters": {
        "DbPassword": {"Type": "String", "Default": SECRET_VALUE},
        "Env": {"Type": "String", "Default": "dev"},
    },
    "Resources": {
        "Tagged": {
            "Type": "AWS::SQS::Queue",
            "Properties": {"QueueName": "tagged", "Tags": [{"Key": "Owner", "Value": {"Ref": "DbPassword"}},
                                                          {"Key": "Env", "Value": {"Ref": "Env"}}]},
        },
        "Named": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": {"Fn::Sub": "app-${DbPassword}"}}},
        "Importer": {
            "Type": "AWS::SQS::Queue",
            "Properties": {"QueueName": "importer",
                           "Tags": [{"Key": "in", "Value": {"Fn::ImportValue": {"Fn::Sub": "${DbPassword}-in"}}}]},
        },
    },
    "Outputs": {
        "Leaky": {"Value": "x", "Export": {"Name": {"Fn::Join": ["-", [{"Ref": "DbPassword"}, "out"]]}}},
        "Plain": {"Value": "y", "Export": {"Name": {"Fn::Sub": "${Env}-plain"}}},
    },
}


def test_a_parameter_named_as_a_secret_is_never_resolved_in_a_template_file(tmp_path):
    path = tmp_path / "secret.json"
    path.write_text(json.dumps(SECRET_TEMPLATE))
    result = import_template_files([str(path)], ACCOUNT, "aws", REGION)
    records = {r.owner.address: r for r in result.records}
    assert set(records) == {"Tagged", "Importer"}  # Named has no name a template file can know
    assert records["Tagged"].tags == {"Owner": UNRESOLVED, "Env": "dev"}
    assert records["Importer"].tags == {"in": UNRESOLVED}
    assert SECRET_VALUE not in repr(result)


def test_a_parameter_named_as_a_secret_is_never_resolved_in_a_stack():
    stack = _stack(
        Parameters=[{"ParameterKey": "DbPassword", "ParameterValue": SECRET_VALUE},
                    {"ParameterKey": "Env", "ParameterValue": "prod"}],
        Outputs=[{"OutputKey": "Leaky", "OutputValue": "x", "ExportName": f"{SECRET_VALUE}-out"},
                 {"OutputKey": "Plain", "OutputValue": "y", "ExportName": "prod-plain"}],
    )
    exports = [
        {"ExportingStackId": STACK_ID, "Name": f"{SECRET_VALUE}-out", "Value": "x"},
        {"ExportingStackId": STACK_ID, "Name": "prod-plain", "Value": "y"},
        {"ExportingStackId": "arn:other", "Name": f"{SECRET_VALUE}-in", "Value": "z"},
    ]
    # the physical name CloudFormation made from the secret is the queue's name live as well: AWS's own id,
    # not something this import can keep out; every value the import itself derives stays out
    rows = [_sqs_row("Tagged", "tagged"), _sqs_row("Named", "app-hidden"), _sqs_row("Importer", "importer")]
    result = _one_stack(SECRET_TEMPLATE, rows, stack, exports=exports)
    records = {r.owner.address: r for r in result.records}
    assert records["Tagged"].tags == {"Owner": UNRESOLVED, "Env": "prod"}
    assert records["Named"].name is None
    assert records["Importer"].tags == {"in": UNRESOLVED}
    assert [row["export_name"] for row in result.exports] == ["prod-plain"]
    assert result.imports == []
    assert SECRET_VALUE not in repr(result)
    # ListExports failed: the template's own export names, the secret one unresolved
    fallback = _one_stack(SECRET_TEMPLATE, rows, stack, exports=None)
    assert [row["export_name"] for row in fallback.exports] == ["prod-plain"]
    assert SECRET_VALUE not in repr(fallback)
    assert deployed_parameters(stack, SECRET_TEMPLATE)["DbPassword"] is UNRESOLVED


def _mapping_chain(count=40):
    lines = ["Mappings:"]
    for index in range(count):
        lines.append(f"  M{index}:\n    k:\n      v: [!FindInMap [M{index + 1}, k, v], !FindInMap [M{index + 1}, k, v]]")
    lines.append(f"  M{count}:\n    k:\n      v: end")
    lines.append("Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      QueueName: chained\n"
                 "      Tags: [{Key: a, Value: !FindInMap [M0, k, v]}, {Key: b, Value: !FindInMap [M39, k, v]},"
                 " {Key: c, Value: !FindInMap [M40, k, v]}]")
    return "\n".join(lines) + "\n"


def test_intrinsics_inside_mappings_are_not_resolved(tmp_path):
    text = _mapping_chain()
    assert len(text) < 4000
    path = tmp_path / "chain.yaml"
    path.write_text(text)
    started = time.monotonic()
    result = import_template_files([str(path)], ACCOUNT, "aws", REGION, time_budget_s=10)
    elapsed = time.monotonic() - started
    assert result.errors == []
    [record] = result.records
    assert record.tags == {"a": UNRESOLVED, "b": UNRESOLVED, "c": "end"}
    # generous: proves "does not expand 2**40 lookups", not speed (it takes milliseconds; before, the time budget)
    assert elapsed < 5


_QUEUE_Q = "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      QueueName: q\n"
_JSON_QUEUE_Q = '{"Resources": {"Q": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "q", "Tags": %s}}}}'


@pytest.mark.parametrize(
    "name, text",
    [
        ("inf.yaml", _QUEUE_Q + "      Tags: [{Key: s, Value: !Select [.inf, [a, b]]}]\n"),
        ("tagged-inf.yaml", _QUEUE_Q + "      Tags: [{Key: s, Value: !Select [!!float .inf, [a, b]]}]\n"),
        ("inf.json", _JSON_QUEUE_Q % '[{"Key": "s", "Value": {"Fn::Select": [1e999, ["a", "b"]]}}]'),
        ("infinity.json", _JSON_QUEUE_Q % '[{"Key": "s", "Value": {"Fn::Join": ["", [Infinity]]}}]'),
    ],
)
def test_arithmetic_in_an_intrinsic_is_unresolved_not_the_files_error(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    result = import_template_files([str(path)], ACCOUNT, "aws", REGION)
    assert result.errors == [] and result.sources[0]["status"] == "ok"
    [record] = result.records
    assert record.tags == {"s": UNRESOLVED}


def test_arithmetic_errors_in_resolution_are_unresolved():
    context = make_context({"Resources": {}})
    assert resolve({"Fn::Select": [float("inf"), ["a", "b"]]}, context) is UNRESOLVED
    assert resolve({"Fn::Select": [float("nan"), ["a", "b"]]}, context) is UNRESOLVED
    assert resolve({"Fn::Join": ["", [float("inf")]]}, context) is UNRESOLVED
    assert resolve({"Fn::Sub": ["${X}", {"X": float("nan")}]}, context) is UNRESOLVED


def test_a_number_too_large_for_an_integer_is_no_drift_and_no_crash(tmp_path):
    # a quoted '1e999' is text to YAML; read as an integer it is infinite: not comparable, never a traceback
    path = tmp_path / "big.yaml"
    path.write_text("Resources:\n  Q:\n    Type: AWS::SQS::Queue\n"
                    "    Properties: {QueueName: big, DelaySeconds: '1e999', MessageRetentionPeriod: Infinity}\n")
    result = import_template_files([str(path)], ACCOUNT, "aws", REGION)
    live = [Record(LIVE, "AWS::SQS::Queue", ACCOUNT, REGION, "big",
                   attributes={"delay_seconds": 0, "message_retention_seconds": 345600})]
    graph = reconcile(live, result.records, Scope({ACCOUNT}, {REGION}, "aws",
                                                  [Listing(ACCOUNT, REGION, "AWS::SQS::Queue", "ok")]))
    [node] = graph.nodes
    assert node.status == "managed"


def test_a_stack_row_that_names_a_resource_but_not_what_it_is_makes_it_unknown_not_dropped():
    rows = [_sqs_row("Q", "q"),
            {"PhysicalResourceId": "vpc-0abc", "ResourceStatus": "CREATE_COMPLETE"},  # no type, no logical id
            {"LogicalResourceId": "", "ResourceType": "", "ResourceStatus": "CREATE_COMPLETE"}]  # a blank row
    result = _one_stack(None, rows)
    assert [r.natural_id for r in result.records] == ["q", STACK_ID]
    (failed,) = result.failed
    assert failed.types is None and "1 resource listed without a type or logical id" in failed.message
    assert any("without a type or logical id" in e.message for e in result.errors)


# ------------------------------------------------------------------------------------------------ third trial

WIDE = "AWSTemplateFormatVersion: '2010-09-09'\nResources:\n  Q:\n    Type: AWS::SQS::Queue\n" \
       "    Properties:\n      QueueName: enc-q16\n      Tags: [{Key: café, Value: naïve}]\n"


@pytest.mark.parametrize(
    "encoding, bom, label",
    [
        ("utf-16-le", b"", "UTF-16 (little-endian)"),
        ("utf-16-be", b"", "UTF-16 (big-endian)"),
        ("utf-16-le", b"\xff\xfe", "UTF-16 (little-endian)"),
        ("utf-16-be", b"\xfe\xff", "UTF-16 (big-endian)"),
        ("utf-32-le", b"", "UTF-32 (little-endian)"),
        ("utf-32-be", b"", "UTF-32 (big-endian)"),
        ("utf-32-le", b"\xff\xfe\x00\x00", "UTF-32 (little-endian)"),
        ("utf-32-be", b"\x00\x00\xfe\xff", "UTF-32 (big-endian)"),
    ],
)
def test_a_utf16_or_utf32_template_is_read_and_said_to_be_no_utf8(tmp_path, encoding, bom, label):
    # PowerShell 5 writes UTF-16 (`>` and Out-File): such a file declares what it says, whatever CloudFormation
    # would make of it; read it, say so, and never let it pass for no template (its resources then unmanaged)
    folder = tmp_path / "tpl3"
    folder.mkdir()
    (folder / "x.yaml").write_bytes(bom + WIDE.encode(encoding))
    walked = import_template_files([str(folder)], ACCOUNT, "aws", REGION)
    named = import_template_files([str(folder / "x.yaml")], ACCOUNT, "aws", REGION)
    for result in (walked, named):
        assert [(r.natural_id, r.tags) for r in result.records] == [("enc-q16", {"café": "naïve"})]
        assert [(row["status"], row["resource_count"]) for row in result.sources] == [("warning", 1)]
        assert [(e.kind, e.message) for e in result.errors] == [(
            "warning",
            f"{label} text, read as such; CloudFormation reads templates as UTF-8: convert it before deploying it "
            f"(e.g. `iconv -f {encoding.upper().replace('-LE', 'LE').replace('-BE', 'BE')} -t UTF-8`)",
        )]
        assert _reconciled(result.records, ["enc-q16", "stray"]) == {
            "enc-q16": ("managed", "declared_and_live"), "stray": ("unmanaged", "no_owner")}


def test_wide_text_that_does_not_decode_is_an_error_not_skipped(tmp_path):
    # a lone UTF-16 surrogate in a walked folder: wide text, and broken; never taken for no template
    data = WIDE.encode("utf-16-le") + b"\x00\xd8" + "\n".encode("utf-16-le")
    (tmp_path / "broken.yaml").write_bytes(data)
    result = import_template_files([str(tmp_path)], ACCOUNT, "aws", REGION)
    assert [row["status"] for row in result.sources] == ["error"]
    [error] = result.errors
    assert error.message.startswith("UTF-16 (little-endian) text that does not decode"), error.message


MAPPED_SECRET = "Mapped-Secret-4711"
SECRET_MAPPINGS = {
    "Passwords": {"us-east-1": {"prod": MAPPED_SECRET}},
    "Config": {"us-east-1": {"password": MAPPED_SECRET, "apikey": MAPPED_SECRET, "size": "small"},
               "DbPassword": {"prod": MAPPED_SECRET}},
}


@pytest.mark.parametrize(
    "value",
    [
        {"Fn::FindInMap": ["Passwords", {"Ref": "AWS::Region"}, "prod"]},  # a map named as secrets
        {"Fn::FindInMap": ["Config", "us-east-1", "password"]},  # a second key named as a secret
        {"Fn::FindInMap": ["Config", "us-east-1", "apikey"]},
        {"Fn::FindInMap": ["Config", "DbPassword", "prod"]},  # a first key named as a secret
        {"Fn::FindInMap": ["Config", "us-east-1", "password", {"DefaultValue": "none"}]},
        {"Fn::Sub": ["${pw}", {"pw": MAPPED_SECRET}]},  # a Sub variable named as a secret
        {"Fn::Sub": ["db-${DbPassword}", {"DbPassword": MAPPED_SECRET}]},
        {"Fn::Sub": ["${DbPassword}", {"DbPassword": {"Fn::FindInMap": ["Config", "us-east-1", "size"]}}]},
    ],
)
def test_a_value_filed_under_a_secret_name_inside_a_template_is_never_read(tmp_path, value):
    template = {
        "Mappings": SECRET_MAPPINGS,
        "Resources": {
            "Q": {"Type": "AWS::SQS::Queue", "Properties": {
                "QueueName": "mapped", "Tags": [{"Key": "Owner", "Value": value}, {"Key": "Size", "Value": {
                    "Fn::FindInMap": ["Config", "us-east-1", "size"]}}]}},
            "N": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": value}},
        },
        "Outputs": {"Out": {"Value": "x", "Export": {"Name": value}}},
    }
    path = tmp_path / "mapped.json"
    path.write_text(json.dumps(template))
    result = import_template_files([str(path)], ACCOUNT, "aws", REGION)
    [record] = result.records  # the topic's name is unknown: it cannot be matched without a stack
    assert record.tags == {"Owner": UNRESOLVED, "Size": "small"}
    assert MAPPED_SECRET not in repr(result)
    # a deployed stack: the export name DescribeStacks pairs with the output is withheld, as for a secret parameter
    stack = _stack(Outputs=[{"OutputKey": "Out", "OutputValue": "x", "ExportName": f"{MAPPED_SECRET}-x"}])
    exports = [{"ExportingStackId": STACK_ID, "Name": f"{MAPPED_SECRET}-x", "Value": "x"}]
    deployed = _one_stack(template, [_sqs_row("Q", "mapped")], stack, exports=exports)
    assert deployed.records[0].tags == {"Owner": UNRESOLVED, "Size": "small"}
    assert MAPPED_SECRET not in repr(deployed)


def test_values_under_ordinary_names_still_resolve():
    template = {"Mappings": SECRET_MAPPINGS, "Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}
    context = make_context(template, region="us-east-1")
    assert resolve({"Fn::FindInMap": ["Config", {"Ref": "AWS::Region"}, "size"]}, context) == "small"
    assert resolve({"Fn::Sub": ["${a}-${Size}", {"a": "x", "Size": "s"}]}, context) == "x-s"


def test_a_document_of_too_many_values_without_aliases_is_refused_for_its_values(tmp_path):
    text = _QUEUE_Q + "      Tags: [" + "a, " * MAX_VALUES + "]\n"
    with pytest.raises(TemplateError) as refused:
        load_template(text, "big.yaml")
    assert (refused.value.message, refused.value.line) == (f"holds more than {MAX_VALUES:,} values; refused", 6)
    # as a JSON document of as many values is
    with pytest.raises(TemplateError) as json_refused:
        load_template(json.dumps({"Resources": {"Q": {"Type": "AWS::SQS::Queue", "Tags": [1] * MAX_VALUES}}}), "big.json")
    assert json_refused.value.message == refused.value.message


@pytest.mark.parametrize("value", ["!!set {a, b}", "!!binary aGVsbG8=", "!!omap [{a: 1}, {b: 2}]", "!!pairs [{a: 1}]"])
def test_yaml_values_cloudformation_has_no_such_thing_as_are_unresolved(tmp_path, value):
    record = _queue_tags(_QUEUE_Q + f"      Tags:\n        - {{Key: odd, Value: {value}}}\n", tmp_path=tmp_path)
    assert record.tags == {"odd": UNRESOLVED}
