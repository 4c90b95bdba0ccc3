"""A detail or tag call that fails makes what it would have told unknown: never `{}` tags, never drift.

The AccessDenied here is real: a moto server with IAM enforcement on, and a scanner user whose policy denies
the tag calls of SQS and IAM roles and SNS's attribute call, exactly as a too-narrow policy would on AWS."""

from __future__ import annotations

import json
import sqlite3

import boto3
import pytest

from driftgraph.demo import moto_server
from driftgraph.demo_estate import TerraformState
from edge_servers import FORWARD, Rewrite, aws_proxy, denied, driftgraph, operation_of, scan_env
from scanner.clients import AwsSession
from scanner.live import Failure, failed_call_listings, scan_live, to_record
from graph.resource_types import CATALOG

ACCOUNT = "123456789012"
TYPES = ("AWS::SQS::Queue", "AWS::IAM::Role", "AWS::SNS::Topic")
DENIED = ["sqs:ListQueueTags", "iam:ListRoleTags", "sns:GetTopicAttributes"]


@pytest.fixture(scope="module")
def narrow_policy(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("failed-calls")
    with moto_server(env={"INITIAL_NO_AUTH_ACTION_COUNT": "6"}) as endpoint:
        def client(service, keys):
            return boto3.client(service, region_name="us-east-1", endpoint_url=endpoint, **keys)

        # the six unauthenticated actions make an admin and a scanner; everything after is checked by IAM
        iam = client("iam", {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"})
        keys = {}
        for user, statement in {
            "admin": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
            "scanner": [{"Effect": "Allow", "Action": ["sqs:List*", "sqs:Get*", "iam:List*", "sns:List*", "sns:Get*",
                                                       "ec2:DescribeRegions", "sts:GetCallerIdentity"], "Resource": "*"},
                        {"Effect": "Deny", "Action": DENIED, "Resource": "*"}],
        }.items():
            iam.create_user(UserName=user)
            iam.put_user_policy(UserName=user, PolicyName="p",
                                PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statement}))
            key = iam.create_access_key(UserName=user)["AccessKey"]
            keys[user] = {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}
        admin = keys["admin"]
        client("sqs", admin).create_queue(QueueName="tagged-queue", tags={"team": "payments"})
        client("sqs", admin).create_queue(QueueName="other-queue", tags={"team": "ops"})
        client("iam", admin).create_role(RoleName="tagged-role", AssumeRolePolicyDocument="{}",
                                         Tags=[{"Key": "team", "Value": "payments"}])
        client("sns", admin).create_topic(Name="named-topic", Attributes={"DisplayName": "Named"})
        state = TerraformState("failed-calls")
        state.add("aws_sqs_queue", "tagged", {
            "id": f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/tagged-queue", "name": "tagged-queue",
            "arn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:tagged-queue", "visibility_timeout_seconds": 30,
            "tags": {"team": "payments", "cost-centre": "42"}, "tags_all": {"team": "payments", "cost-centre": "42"}})
        state.add("aws_sns_topic", "named", {
            "id": f"arn:aws:sns:us-east-1:{ACCOUNT}:named-topic", "arn": f"arn:aws:sns:us-east-1:{ACCOUNT}:named-topic",
            "name": "named-topic", "display_name": "Declared differently", "tags": {}, "tags_all": {}})
        state.write(workdir / "state" / "main.tfstate")
        yield {"endpoint": endpoint, "scanner": keys["scanner"], "workdir": workdir}


@pytest.fixture()
def as_scanner(narrow_policy, monkeypatch):
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    for key, value in scan_env(narrow_policy["endpoint"],
                               AWS_ACCESS_KEY_ID=narrow_policy["scanner"]["aws_access_key_id"],
                               AWS_SECRET_ACCESS_KEY=narrow_policy["scanner"]["aws_secret_access_key"]).items():
        monkeypatch.setenv(key, value)
    return narrow_policy


def test_a_denied_tag_call_leaves_tags_unknown_and_names_the_call(as_scanner):
    scan = scan_live(AwsSession(), ACCOUNT, "aws", ["us-east-1"], TYPES)
    records = {r.name: r for r in scan.records}
    for name, call in (("tagged-queue", "ListQueueTags"), ("other-queue", "ListQueueTags"), ("tagged-role", "ListRoleTags")):
        assert records[name].tags is None, f"{name}: a tag call that failed is unknown tags, never {{}}"
        assert records[name].failed_calls == (call,)
    topic = records["named-topic"]
    assert topic.failed_calls == ("GetTopicAttributes",)
    assert "display_name" not in topic.attributes, "what a failed detail call would have told is absent"
    assert topic.tags == {}, "the topic's own tag call worked: no tags is known"
    calls = {(l.type, l.call): l for l in scan.listings if l.call}
    assert set(calls) == {("AWS::SQS::Queue", "ListQueueTags"), ("AWS::IAM::Role", "ListRoleTags"),
                          ("AWS::SNS::Topic", "GetTopicAttributes")}
    queue_tags = calls["AWS::SQS::Queue", "ListQueueTags"]
    assert (queue_tags.outcome, queue_tags.count, queue_tags.error_code, queue_tags.region) == (
        "access_denied", 2, "AccessDenied", "us-east-1")
    assert calls["AWS::IAM::Role", "ListRoleTags"].region == "global"
    # the list calls themselves succeeded: one ok listing per type besides the failed calls
    assert sorted(l.type for l in scan.listings if l.call is None and l.outcome == "ok") == sorted(TYPES)


@pytest.fixture(scope="module")
def scanned(narrow_policy, tmp_path_factory):
    """`driftgraph scan` with the narrow policy and a state declaring the queue and topic, then the JSON report."""
    db = tmp_path_factory.mktemp("scanned") / "estate.db"
    env = scan_env(narrow_policy["endpoint"], AWS_ACCESS_KEY_ID=narrow_policy["scanner"]["aws_access_key_id"],
                   AWS_SECRET_ACCESS_KEY=narrow_policy["scanner"]["aws_secret_access_key"])
    types = [arg for t in TYPES for arg in ("--type", t)]
    scan = driftgraph(["scan", "--db", str(db), "--region", "us-east-1", "--no-stacks", *types,
                       "--tfstate", str(narrow_policy["workdir"] / "state")], env)
    assert scan.returncode == 0, scan.stderr
    report = json.loads(driftgraph(["report", "--db", str(db), "--format", "json"], env).stdout)
    return {"db": db, "report": report}


def test_the_scan_is_partial_and_the_report_shows_no_drift_on_what_is_unknown(scanned):
    rows = sqlite3.connect(scanned["db"]).execute(
        "select type, call, outcome, count from listings where call is not null").fetchall()
    assert sorted(rows) == [("AWS::IAM::Role", "ListRoleTags", "access_denied", 1),
                            ("AWS::SNS::Topic", "GetTopicAttributes", "access_denied", 1),
                            ("AWS::SQS::Queue", "ListQueueTags", "access_denied", 2)]
    report = scanned["report"]
    assert report["scan"]["status"] == "partial"
    resources = {r["name"]: r for r in report["resources"]}
    queue = resources["tagged-queue"]
    assert queue["status"] == "managed"
    assert not [d for d in queue["drift"] if d["attribute"].startswith("tags")], queue["drift"]
    assert not resources["named-topic"]["drift"], "an attribute a denied call would have read is not drift"
    assert not [e for e in report["errors"] if "ListQueueTags" in e["source"]], "one listing per call, not a warning per item"


def test_the_reports_failed_listings_name_the_call(scanned):
    # needs the report to carry the listing's call (graph/report.py, the lead's part)
    assert {(f["type"], f.get("call")) for f in scanned["report"]["failed_listings"]} == {
        ("AWS::SQS::Queue", "ListQueueTags"), ("AWS::IAM::Role", "ListRoleTags"), ("AWS::SNS::Topic", "GetTopicAttributes")}


def test_tags_that_ride_on_a_failed_detail_call_are_unknown_too():
    """ECS clusters get their tags from DescribeClusters: when it fails there are no tags to read, not none."""
    row = CATALOG["AWS::ECS::Cluster"]
    item = {"clusterArn": "arn:aws:ecs:us-east-1:123456789012:cluster/c", "ArnName": "c", "clusterName": "c"}
    failed = to_record(row, item, ACCOUNT, "us-east-1", "aws", ["DescribeClusters"])
    assert failed.tags is None and failed.failed_calls == ("DescribeClusters",)
    described = to_record(row, {**item, "tags": []}, ACCOUNT, "us-east-1", "aws")
    assert described.tags == {} and described.failed_calls == ()


def test_one_listing_per_failed_operation_with_its_most_common_failure():
    denied = Failure("access_denied", "AccessDenied", "no")
    throttled = Failure("throttled", "Throttling", "slow down")
    listings = failed_call_listings(ACCOUNT, "us-east-1", "AWS::SQS::Queue", [
        ("ListQueueTags", denied), ("GetQueueAttributes", throttled), ("ListQueueTags", denied),
        ("ListQueueTags", throttled)])
    assert [(l.call, l.outcome, l.count, l.error_code) for l in listings] == [
        ("GetQueueAttributes", "throttled", 1, "Throttling"), ("ListQueueTags", "access_denied", 3, "AccessDenied")]


# ------------------------------------------------------- detail calls that fail or answer about another item

REGION = "eu-west-3"  # no other test writes here


@pytest.fixture(scope="module")
def detailed_estate(moto_endpoint):
    """Resources whose id, tags or compared attributes come (in part) from a detail call."""
    def c(service):
        return boto3.client(service, region_name=REGION, endpoint_url=moto_endpoint, aws_access_key_id="testing",
                            aws_secret_access_key="testing")

    c("ecs").create_cluster(clusterName="edge", tags=[{"key": "team", "value": "edge"}])
    c("ecs").create_cluster(clusterName="someone-else")
    c("dynamodb").create_table(TableName="on-demand", BillingMode="PAY_PER_REQUEST",
                               AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                               KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}], Tags=[{"Key": "team", "Value": "t"}])
    c("s3").create_bucket(Bucket="detail-bucket-in-paris", CreateBucketConfiguration={"LocationConstraint": REGION})
    return moto_endpoint


def _scan(endpoint, monkeypatch, types, answer):
    with aws_proxy(endpoint, answer) as (proxy, seen):
        for key, value in scan_env(proxy, AWS_DEFAULT_REGION=REGION).items():
            monkeypatch.setenv(key, value)
        scan = scan_live(AwsSession(default_region=REGION), ACCOUNT, "aws", [REGION], types)
    return scan, [operation_of(r) for r in seen]


def _only(operation, reply):
    return lambda request: reply(request) if operation_of(request) == operation else FORWARD


@pytest.mark.parametrize("reply", [denied, lambda r: (200, r.content_type, b'{"clusters": [], "failures": []}')],
                         ids=["denied", "answers-no-cluster"])
def test_a_cluster_whose_describe_call_fails_is_kept_under_the_name_its_arn_gives(detailed_estate, monkeypatch, reply):
    scan, _ = _scan(detailed_estate, monkeypatch, ["AWS::ECS::Cluster"], _only("DescribeClusters", reply))
    clusters = {r.natural_id: r for r in scan.records}
    assert set(clusters) == {"edge", "someone-else"}, "a listed cluster is never dropped for want of its name"
    edge = clusters["edge"]
    assert edge.arn == f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/edge"
    assert edge.failed_calls == ("DescribeClusters",) and edge.tags is None
    (call,) = [l for l in scan.listings if l.call]
    assert (call.call, call.count) == ("DescribeClusters", 2)


def test_a_describe_answer_about_another_cluster_is_a_failed_call_never_merged(detailed_estate, monkeypatch):
    def swap(status, headers, body):
        return status, headers, body.replace(b"cluster/edge", b"cluster/someone-else").replace(b'"edge"', b'"someone-else"')

    scan, _ = _scan(detailed_estate, monkeypatch, ["AWS::ECS::Cluster"], _only("DescribeClusters", lambda r: Rewrite(swap)))
    clusters = {r.natural_id: r for r in scan.records}
    assert set(clusters) == {"edge", "someone-else"}, "one record per listed cluster, under its listed name"
    assert clusters["edge"].failed_calls == ("DescribeClusters",)
    assert clusters["edge"].arn.endswith("cluster/edge") and clusters["edge"].tags is None
    assert clusters["someone-else"].failed_calls == ()
    (call,) = [l for l in scan.listings if l.call]
    assert (call.outcome, call.error_code, call.count) == ("error", "AnswerMismatch", 1)
    # both clusters are asked for in one DescribeClusters (up to 100 a call): the answer names someone-else
    # twice and edge nowhere
    assert call.message == f"DescribeClusters answered without naming the listed arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/edge"


def test_a_failed_describe_table_gives_no_default_and_sends_no_call_it_feeds(detailed_estate, monkeypatch):
    # GetResources denied too: the per-item path (with GetResources, tags come by the ARN the row's template gives)
    deny = lambda r: denied(r) if operation_of(r) in ("DescribeTable", "GetResources") else FORWARD  # noqa: E731
    scan, sent = _scan(detailed_estate, monkeypatch, ["AWS::DynamoDB::Table"], deny)
    (table,) = [r for r in scan.records if r.natural_id == "on-demand"]
    assert "billing_mode" not in table.attributes, "PROVISIONED is DescribeTable's default, not a fact when it failed"
    assert table.tags is None and table.failed_calls == ("DescribeTable",)
    assert "ListTagsOfResource" not in sent, "its parameter (the table's ARN) was to come from DescribeTable"
    assert [(l.call, l.outcome) for l in scan.listings if l.call] == [("DescribeTable", "access_denied")]
    described, _ = _scan(detailed_estate, monkeypatch, ["AWS::DynamoDB::Table"], lambda r: FORWARD)
    (table,) = [r for r in described.records if r.natural_id == "on-demand"]
    assert table.attributes["billing_mode"] == "PAY_PER_REQUEST" and table.tags == {"team": "t"}


def test_a_bucket_whose_location_call_fails_has_no_region_rather_than_us_east_1(detailed_estate, monkeypatch):
    scan, _ = _scan(detailed_estate, monkeypatch, ["AWS::S3::Bucket"], _only("GetBucketLocation", denied))
    (bucket,) = [r for r in scan.records if r.natural_id == "detail-bucket-in-paris"]
    assert bucket.region is None and bucket.failed_calls == ("GetBucketLocation",)
    located, _ = _scan(detailed_estate, monkeypatch, ["AWS::S3::Bucket"], lambda r: FORWARD)
    (bucket,) = [r for r in located.records if r.natural_id == "detail-bucket-in-paris"]
    assert bucket.region == REGION
