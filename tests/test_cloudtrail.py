"""Who made it: creating events from CloudTrail's event history (a local fake of LookupEvents, which moto lacks) and
from a trail's log files in S3 (moto), matched to resources by the pure functions of scanner/cloudtrail.py.

The records are built here with the field names CloudTrail writes (eventVersion, userIdentity, eventTime, ...)."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import uuid
from urllib.parse import parse_qs, unquote, urlparse

import boto3
import botocore.session
import pytest

from driftgraph.demo import moto_server
from edge_servers import EventHistory, aws_proxy, denied, history_event, point_boto3_at, throttled
from graph.resource_types import CATALOG
from scanner.clients import AwsSession, is_allowed_operation
from scanner.rates import TokenBucket
from scanner.cloudtrail import (
    CREATORS,
    FAILED,
    FOUND,
    NOT_FOUND,
    SKIPPED,
    LogProblem,
    creating_event,
    creator_row,
    find_creators,
    gunzip_bounded,
    parse_record,
    principal_of,
    tool_of,
)

ACCOUNT = "123456789012"
OTHER_ACCOUNT = "210987654321"
NOW = dt.datetime(2025, 3, 10, 12, 0, tzinfo=dt.timezone.utc)

ALICE = {  # an Identity Center user: a role session named after her
    "type": "AssumedRole",
    "principalId": "AROAEXAMPLEROLEID01:alice@example.com",
    "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/AWSReservedSSO_Admin_0123456789abcdef/alice@example.com",
    "accountId": ACCOUNT,
    "accessKeyId": "ASIAEXAMPLEKEYID0001",
    "sessionContext": {
        "sessionIssuer": {
            "type": "Role",
            "principalId": "AROAEXAMPLEROLEID01",
            "arn": f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_0123456789abcdef",
            "accountId": ACCOUNT,
            "userName": "AWSReservedSSO_Admin_0123456789abcdef",
        },
        "webIdFederationData": {},
        "attributes": {"creationDate": "2025-03-01T09:00:00Z", "mfaAuthenticated": "false"},
    },
}
BOB = {"type": "IAMUser", "principalId": "AIDAEXAMPLEUSERID001", "arn": f"arn:aws:iam::{ACCOUNT}:user/bob",
       "accountId": ACCOUNT, "accessKeyId": "AKIAEXAMPLEKEYID0002", "userName": "bob"}
CAROL = {**BOB, "principalId": "AIDAEXAMPLEUSERID003", "arn": f"arn:aws:iam::{ACCOUNT}:user/carol", "userName": "carol"}
AUTOSCALING = {"type": "AWSService", "invokedBy": "autoscaling.amazonaws.com"}


def record(name: str, source: str, region: str, when: str, *, identity: dict = ALICE, request=None, response=None,
           error: str | None = None, account: str = ACCOUNT, agent: str = "aws-cli/2.15.30 Python/3.11.8 Linux/6.1",
           resources: list | None = None) -> dict:
    """One CloudTrail record, shaped as CloudTrail writes it."""
    body = {
        "eventVersion": "1.09",
        "userIdentity": identity,
        "eventTime": when,
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": "203.0.113.7",
        "userAgent": agent,
        "requestParameters": request,
        "responseElements": response,
        "requestID": str(uuid.uuid4()),
        "eventID": str(uuid.uuid4()),
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account,
        "eventCategory": "Management",
        "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                       "clientProvidedHostHeader": f"{source.split('.')[0]}.{region}.amazonaws.com"},
    }
    if error:
        body.update(errorCode=error, errorMessage="The request failed", responseElements=None)
    if resources is not None:
        body["resources"] = resources
    return body


def create_queue(name: str, when: str, region: str = "us-east-1", **kwargs) -> dict:
    return record("CreateQueue", "sqs.amazonaws.com", region, when, request={"queueName": name},
                  response={"queueUrl": f"https://sqs.{region}.amazonaws.com/{kwargs.get('account', ACCOUNT)}/{name}"},
                  **kwargs)


def delete_queue(name: str, when: str, region: str = "us-east-1", **kwargs) -> dict:
    return record("DeleteQueue", "sqs.amazonaws.com", region, when,
                  request={"queueUrl": f"https://sqs.{region}.amazonaws.com/{ACCOUNT}/{name}"}, **kwargs)


def run_instances(instance_id: str, when: str, region: str = "eu-west-1", **kwargs) -> dict:
    return record("RunInstances", "ec2.amazonaws.com", region, when,
                  request={"instancesSet": {"items": [{"imageId": "ami-0abcdef1234567890", "minCount": 1}]},
                           "instanceType": "t3.micro"},
                  response={"requestId": str(uuid.uuid4()), "reservationId": "r-0123456789abcdef0",
                            "instancesSet": {"items": [{"instanceId": instance_id, "imageId": "ami-0abcdef1234567890",
                                                        "instanceState": {"code": 0, "name": "pending"}}]}},
                  **kwargs)


def create_role(name: str, when: str, **kwargs) -> dict:
    return record("CreateRole", "iam.amazonaws.com", "us-east-1", when,
                  request={"roleName": name, "assumeRolePolicyDocument": "{\"Version\": \"2012-10-17\"}"},
                  response={"role": {"roleName": name, "arn": f"arn:aws:iam::{ACCOUNT}:role/{name}",
                                     "roleId": "AROAEXAMPLEROLEID02", "path": "/"}}, **kwargs)


def queue(name: str = "jobs", region: str = "us-east-1", account: str = ACCOUNT) -> dict:
    return {"id": f"AWS::SQS::Queue:{account}:{region}:{name}", "type": "AWS::SQS::Queue", "name": name,
            "natural_id": name, "arn": f"arn:aws:sqs:{region}:{account}:{name}", "account": account, "region": region}


def instance(instance_id: str = "i-0123456789abcdef0", region: str = "eu-west-1") -> dict:
    return {"id": f"AWS::EC2::Instance:{ACCOUNT}:{region}:{instance_id}", "type": "AWS::EC2::Instance", "name": "web",
            "natural_id": instance_id, "arn": f"arn:aws:ec2:{region}:{ACCOUNT}:instance/{instance_id}",
            "account": ACCOUNT, "region": region}


def role(name: str = "deployer") -> dict:
    return {"id": f"AWS::IAM::Role:{ACCOUNT}:global:{name}", "type": "AWS::IAM::Role", "name": name,
            "natural_id": name, "arn": f"arn:aws:iam::{ACCOUNT}:role/{name}", "account": ACCOUNT, "region": "global"}


def events(*records, source: str = "s3://logs/x.json.gz"):
    return [e for e in (parse_record(r, source) for r in records) if e is not None]


def by_resource(result) -> dict:
    return {row["resource_id"]: row for row in result.rows}


# ------------------------------------------------------------------------------------------------ pure matching


def test_the_creator_is_the_first_successful_create_after_the_last_delete():
    found = creating_event(queue(), events(
        create_queue("jobs", "2025-01-02T10:00:00Z", identity=BOB),  # made the queue of that name deleted since
        delete_queue("jobs", "2025-02-01T10:00:00Z"),
        create_queue("jobs", "2025-02-03T10:00:00Z", identity=CAROL, error="AccessDenied"),  # made nothing
        create_queue("jobs", "2025-02-04T10:00:00Z", identity=ALICE),  # made the queue that is there now
        create_queue("jobs", "2025-02-05T10:00:00Z", identity=CAROL),  # succeeds again on what exists
    ))
    assert found is not None and found.event_time == "2025-02-04T10:00:00Z"
    assert principal_of(found.identity)["user_name"] == "alice@example.com"


def test_events_of_another_type_region_or_account_are_never_the_creator():
    others = events(
        record("CreateTopic", "sns.amazonaws.com", "us-east-1", "2025-01-01T00:00:00Z", request={"name": "jobs"},
               response={"topicArn": f"arn:aws:sns:us-east-1:{ACCOUNT}:jobs"}),
        create_queue("jobs", "2025-01-02T00:00:00Z", region="eu-west-1"),
        create_queue("jobs", "2025-01-03T00:00:00Z", account=OTHER_ACCOUNT),
        create_queue("jobs-old", "2025-01-04T00:00:00Z"),
        record("SetQueueAttributes", "sqs.amazonaws.com", "us-east-1", "2025-01-05T00:00:00Z",
               request={"queueUrl": f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/jobs"}),
    )
    assert creating_event(queue(), others) is None
    mine = events(create_queue("jobs", "2025-01-06T00:00:00Z", identity=BOB))
    assert principal_of(creating_event(queue(), others + mine).identity)["user_name"] == "bob"


def test_a_tag_or_a_name_shared_with_another_resource_never_makes_the_creator():
    web = {**instance("i-0aaaaaaaaaaaaaaa1"), "name": "web"}  # its name is its Name tag
    tagged = run_instances("i-0bbbbbbbbbbbbbbb2", "2025-01-01T00:00:00Z", identity=BOB)
    tagged["requestParameters"]["tagSpecificationSet"] = {
        "items": [{"resourceType": "instance", "tags": [{"key": "Name", "value": "web"}]}]}
    mine = run_instances("i-0aaaaaaaaaaaaaaa1", "2025-01-02T00:00:00Z", identity=CAROL)
    assert principal_of(creating_event(web, events(tagged, mine)).identity)["user_name"] == "carol"

    team_tag = create_role("builder", "2025-01-01T00:00:00Z", identity=BOB)
    team_tag["requestParameters"]["tags"] = [{"key": "team", "value": "deployer"}]
    described = create_role("publisher", "2025-01-01T00:00:00Z", identity=BOB)
    described["requestParameters"]["description"] = "deployer"
    assert creating_event(role("deployer"), events(team_tag, described)) is None

    group = {"id": "sg", "type": "AWS::EC2::SecurityGroup", "name": "web", "natural_id": "sg-0aaaaaaaaaaaaaaa1",
             "arn": f"arn:aws:ec2:eu-west-1:{ACCOUNT}:security-group/sg-0aaaaaaaaaaaaaaa1", "account": ACCOUNT,
             "region": "eu-west-1"}
    other_vpc = record("CreateSecurityGroup", "ec2.amazonaws.com", "eu-west-1", "2025-01-01T00:00:00Z",
                       request={"groupName": "web", "groupDescription": "web", "vpcId": "vpc-0bbbbbbbbbbbbbbb2"},
                       response={"_return": True, "groupId": "sg-0bbbbbbbbbbbbbbb2"})
    assert creating_event(group, events(other_vpc)) is None


def test_run_instances_makes_only_the_interfaces_its_answer_names():
    interface = {"id": "eni", "type": "AWS::EC2::NetworkInterface", "name": None, "natural_id": "eni-0aaaaaaaaaaaaaaa1",
                 "arn": f"arn:aws:ec2:eu-west-1:{ACCOUNT}:network-interface/eni-0aaaaaaaaaaaaaaa1",
                 "account": ACCOUNT, "region": "eu-west-1"}
    attaching = run_instances("i-0bbbbbbbbbbbbbbb2", "2025-01-05T00:00:00Z")
    attaching["requestParameters"]["networkInterfaceSet"] = {
        "items": [{"deviceIndex": 0, "networkInterfaceId": "eni-0aaaaaaaaaaaaaaa1"}]}
    assert creating_event(interface, events(attaching)) is None
    launching = run_instances("i-0ccccccccccccccc3", "2025-01-06T00:00:00Z", identity=BOB)
    launching["responseElements"]["instancesSet"]["items"][0]["networkInterfaceSet"] = {
        "items": [{"networkInterfaceId": "eni-0aaaaaaaaaaaaaaa1", "deviceIndex": 0}]}
    assert creating_event(interface, events(attaching, launching)).event_id == launching["eventID"]


def test_a_bucket_is_matched_in_any_region_and_a_global_resource_in_us_east_1():
    bucket = {"id": "b", "type": "AWS::S3::Bucket", "name": "acme-data", "natural_id": "acme-data",
              "arn": "arn:aws:s3:::acme-data", "account": ACCOUNT, "region": "eu-west-1"}
    made = events(record("CreateBucket", "s3.amazonaws.com", "us-east-1", "2025-01-01T00:00:00Z",
                         request={"bucketName": "acme-data", "Host": "acme-data.s3.amazonaws.com"}))
    assert creating_event(bucket, made) is not None
    assert creating_event(role(), events(create_role("deployer", "2025-01-01T00:00:00Z"))) is not None
    elsewhere = create_role("deployer", "2025-01-01T00:00:00Z")
    elsewhere["awsRegion"] = "eu-west-1"
    assert creating_event(role(), events(elsewhere)) is None


def test_lambda_event_names_carry_their_api_version():
    function = {"id": "f", "type": "AWS::Lambda::Function", "name": "worker", "natural_id": "worker",
                "arn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:worker", "account": ACCOUNT, "region": "us-east-1"}
    made = events(record("CreateFunction20150331", "lambda.amazonaws.com", "us-east-1", "2025-01-01T00:00:00Z",
                         request={"functionName": "worker", "runtime": "python3.12"},
                         response={"functionName": "worker", "functionArn": function["arn"]}))
    assert creating_event(function, made).event_name == "CreateFunction20150331"


def test_who_acted_names_the_session_the_role_and_the_person():
    assert principal_of(ALICE) == {
        "principal": ALICE["arn"],
        "principal_type": "AssumedRole",
        "role_arn": ALICE["sessionContext"]["sessionIssuer"]["arn"],
        "role_name": "AWSReservedSSO_Admin_0123456789abcdef",
        "user_name": "alice@example.com",
        "principal_id": "AROAEXAMPLEROLEID01:alice@example.com",
        "invoked_by": None,
    }
    assert principal_of(BOB)["principal"] == f"arn:aws:iam::{ACCOUNT}:user/bob"
    assert principal_of(BOB)["user_name"] == "bob" and principal_of(BOB)["role_arn"] is None
    service = principal_of(AUTOSCALING)
    assert (service["principal"], service["principal_type"], service["user_name"]) == (
        "autoscaling.amazonaws.com", "AWSService", None)
    root = principal_of({"type": "Root", "principalId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:root"})
    assert root["user_name"] == "root"
    center = principal_of({"type": "IdentityCenterUser", "accountId": ACCOUNT, "onBehalfOf": {
        "userId": "544894e8-80c1-707f-60e3-3ba6510dfac1",
        "identityStoreArn": "arn:aws:identitystore::123456789012:identitystore/d-9067642ac7"},
        "credentialId": "EXAMPLEVdvWLJnLlVwOOmdvKvSPLJvbFGWYiFx8KvSyIHZRGRwzIhtTgZePBNVvchIf"})
    assert center["principal"] == center["principal_id"] == "544894e8-80c1-707f-60e3-3ba6510dfac1"
    terraform = "APN/1.0 HashiCorp/1.0 Terraform/1.7.5 (+https://www.terraform.io) terraform-provider-aws/5.40.0"
    agents = (terraform, "console.amazonaws.com", "aws-cli/2.15.30 Python/3.11.8", "cloudformation.amazonaws.com",
              "curl/8.0", None)
    assert [tool_of(a) for a in agents] == ["terraform", "console", "aws-cli", "cloudformation", None, None]


def test_a_row_keeps_who_when_and_where_and_nothing_of_the_request():
    secret = "hunter2-Sup3rS3cret-value"
    made = record("CreateDBInstance", "rds.amazonaws.com", "us-east-1", "2025-01-01T00:00:00Z",
                  request={"dBInstanceIdentifier": "Orders", "masterUsername": "admin", "masterUserPassword": secret},
                  response={"dBInstanceIdentifier": "orders", "dbiResourceId": "db-ABCDEFGHIJKL"})
    database = {"id": "db", "type": "AWS::RDS::DBInstance", "name": "orders", "natural_id": "orders",
                "arn": f"arn:aws:rds:us-east-1:{ACCOUNT}:db:orders", "account": ACCOUNT, "region": "us-east-1"}
    event = creating_event(database, events(made))
    row = creator_row(database, event, FOUND)
    assert row["event_id"] == made["eventID"] and row["event_time"] == "2025-01-01T00:00:00Z"
    assert row["principal"] == ALICE["arn"] and row["via"] == "aws-cli" and row["source"] == "s3://logs/x.json.gz"
    stored = json.dumps(row)
    assert secret not in stored and "203.0.113.7" not in stored and "masterUsername" not in stored
    assert "ASIAEXAMPLEKEYID0001" not in stored  # the access key id is not kept either


def test_a_name_shaped_like_a_credential_is_redacted():
    leaked = {**BOB, "userName": "AKIAIOSFODNN7EXAMPLE", "arn": f"arn:aws:iam::{ACCOUNT}:user/AKIAIOSFODNN7EXAMPLE"}
    row = creator_row(queue(), events(create_queue("jobs", "2025-01-01T00:00:00Z", identity=leaked))[0], FOUND)
    assert "AKIAIOSFODNN7EXAMPLE" not in json.dumps(row)


def test_every_catalog_type_has_a_creating_call_of_its_own_service():
    assert set(CREATORS) == set(CATALOG)
    session = botocore.session.get_session()
    for type_, rule in CREATORS.items():
        model = session.get_service_model(CATALOG[type_].service)
        # CloudTrail names a service by its endpoint prefix (ECR's API endpoint is api.ecr, its events ecr)
        prefix = {"api.ecr": "ecr"}.get(model.endpoint_prefix, model.endpoint_prefix)
        assert rule.source == f"{prefix}.amazonaws.com", type_
        for name in rule.creates + rule.deletes:
            assert name in model.operation_names, (type_, name)
        assert rule.creates and rule.deletes and set(rule.lookup) <= {"natural_id", "name", "arn", "queue_url"}


def test_the_token_bucket_spaces_calls_at_the_rate():
    clock = FakeClock()
    bucket = TokenBucket(2.0, clock)
    times = []
    for _ in range(5):
        clock.sleep(bucket.wait_time())
        bucket.take()
        times.append(clock.now)
    assert times == [0.0, 0.5, 1.0, 1.5, 2.0]
    clock.sleep(10)  # idle time does not save up a burst
    assert bucket.wait_time() == 0.0
    bucket.take()
    assert bucket.wait_time() == pytest.approx(0.5)


def test_a_gzip_bomb_costs_its_limit_and_no_more():
    bomb = gzip.compress(b"\0" * (8 << 20))
    with pytest.raises(LogProblem, match="expands past 1 MiB"):
        gunzip_bounded(bomb, 1 << 20)
    with pytest.raises(LogProblem, match="not a gzip file"):
        gunzip_bounded(b"PK\x03\x04 a zip, not a gzip", 1 << 20)
    with pytest.raises(LogProblem, match="cut short"):
        gunzip_bounded(gzip.compress(b'{"Records": []}' * 1000)[:40], 1 << 20)
    two_members = gzip.compress(b'{"Records": ') + gzip.compress(b"[]}")
    assert gunzip_bounded(two_members, 1 << 20) == b'{"Records": []}'


# -------------------------------------------------------------------------------------- LookupEvents (a fake)


class FakeClock:
    """time.monotonic and time.sleep for the rate limiter: sleeping moves the clock, no test waits."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture()
def history(monkeypatch):
    """CloudTrail's event history on loopback, and boto3's standard chain pointed at it."""
    fake = EventHistory(clock=None)
    with aws_proxy(None, fake.answer) as (url, seen):
        point_boto3_at(monkeypatch, url)
        fake.seen = seen
        yield fake


def lookup(resources, **kwargs):
    clock = kwargs.pop("clock", None) or FakeClock()
    return find_creators(AwsSession(default_region="us-east-1", call_timeout=20), resources, clock=clock,
                         sleep=clock.sleep, **kwargs)


def test_lookup_reads_every_page_for_the_oldest_creating_event(history):
    target = instance()
    busy = [history_event(record("StopInstances" if n % 2 else "StartInstances", "ec2.amazonaws.com", "eu-west-1",
                                 f"2025-02-{1 + n // 10:02d}T{n % 10:02d}:00:00Z",
                                 request={"instancesSet": {"items": [{"instanceId": target["natural_id"]}]}}),
                          [target["natural_id"]], "AWS::EC2::Instance") for n in range(119)]
    made = run_instances(target["natural_id"], "2025-01-15T08:30:00Z")
    history.events = {"eu-west-1": busy + [history_event(made, [target["natural_id"], "ami-0abcdef1234567890"])]}
    result = lookup([target])
    row = by_resource(result)[target["id"]]
    assert row["status"] == FOUND and row["event_id"] == made["eventID"]
    assert row["principal"] == ALICE["arn"] and row["user_name"] == "alice@example.com"
    assert row["source"] == "cloudtrail:LookupEvents/eu-west-1" and row["event_time"] == "2025-01-15T08:30:00Z"
    assert [(region, value, token) for _, region, value, token in history.calls] == [
        ("eu-west-1", target["natural_id"], None), ("eu-west-1", target["natural_id"], "page-50"),
        ("eu-west-1", target["natural_id"], "page-100")]
    assert result.problems == []


def test_a_delete_ends_the_lookup_before_older_pages(history):
    history.page_size = 2
    history.events = {"us-east-1": [history_event(r, ["jobs"], "AWS::SQS::Queue") for r in (
        create_queue("jobs", "2025-03-01T00:00:00Z", identity=ALICE),
        delete_queue("jobs", "2025-02-01T00:00:00Z"),
        create_queue("jobs", "2025-01-01T00:00:00Z", identity=BOB),
        create_queue("jobs", "2024-12-20T00:00:00Z", identity=BOB))]}
    row = by_resource(lookup([queue()]))[queue()["id"]]
    assert row["status"] == FOUND and row["user_name"] == "alice@example.com"
    assert len(history.calls) == 1


def test_global_resources_are_looked_up_where_their_events_are(history):
    history.events = {"us-east-1": [history_event(create_role("deployer", "2025-02-02T00:00:00Z", identity=BOB),
                                                  ["deployer", f"arn:aws:iam::{ACCOUNT}:role/deployer"])]}
    row = by_resource(lookup([role()]))[role()["id"]]
    assert row["status"] == FOUND and row["user_name"] == "bob"
    assert [region for _, region, _, _ in history.calls] == ["us-east-1"]


def test_an_sqs_queue_is_looked_up_by_its_url_when_its_name_finds_nothing(history):
    url = f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/jobs"
    history.events = {"us-east-1": [history_event(create_queue("jobs", "2025-02-02T00:00:00Z"), [url])]}
    row = by_resource(lookup([queue()]))[queue()["id"]]
    assert row["status"] == FOUND
    assert [value for _, _, value, _ in history.calls] == ["jobs", url]


def test_not_found_and_lookup_failed_are_told_apart(history):
    history.script = lambda number, region, request: denied(request) if region == "eu-west-1" else None
    old, denied_here = queue("made-long-ago"), instance()
    history.events = {"us-east-1": [history_event(create_queue("jobs", "2025-02-02T00:00:00Z"), ["jobs"])]}
    result = lookup([queue(), old, denied_here, instance("i-0fedcba9876543210")])
    rows = by_resource(result)
    assert rows[queue()["id"]]["status"] == FOUND
    assert rows[old["id"]]["status"] == NOT_FOUND and rows[old["id"]]["principal"] is None
    assert "90 days" in rows[old["id"]]["reason"] and "made-long-ago" in rows[old["id"]]["reason"]
    assert rows[denied_here["id"]]["status"] == FAILED and "AccessDenied" in rows[denied_here["id"]]["reason"]
    assert rows[instance("i-0fedcba9876543210")["id"]]["status"] == FAILED
    # one warning for the region, and the region asked once: a denied region is not asked again
    [problem] = result.problems
    assert (problem.kind, problem.region, problem.code) == ("warning", "eu-west-1", "AccessDeniedException")
    assert "cloudtrail:LookupEvents" in problem.message and "2 resources" in problem.message
    assert [region for _, region, _, _ in history.calls].count("eu-west-1") == 1


def test_a_throttled_lookup_is_retried_by_botocore(history):
    history.script = lambda number, region, request: throttled(request) if number == 0 else None
    history.events = {"us-east-1": [history_event(create_queue("jobs", "2025-02-02T00:00:00Z"), ["jobs"])]}
    result = lookup([queue()])
    assert by_resource(result)[queue()["id"]]["status"] == FOUND and result.problems == []
    assert len(history.calls) == 2  # the throttled attempt and botocore's retry


def test_each_region_gets_two_calls_a_second_and_regions_do_not_wait_for_each_other(history):
    clock = FakeClock()
    history.clock = clock
    resources = [instance(f"i-0{n}", region) for region in ("us-east-1", "eu-west-1") for n in range(3)]
    result = lookup(resources, clock=clock)
    assert {row["status"] for row in result.rows} == {NOT_FOUND}
    times = {region: [t for t, r, _, _ in history.calls if r == region] for region in ("us-east-1", "eu-west-1")}
    assert times == {"us-east-1": [0.0, 0.5, 1.0], "eu-west-1": [0.0, 0.5, 1.0]}
    assert sum(clock.slept) == pytest.approx(1.0)  # six calls in one second: the regions' turns overlap


def test_the_scan_stops_looking_up_at_its_limit_and_says_so(history):
    result = lookup([instance("i-0a"), instance("i-0b"), queue("c")], max_lookups=3)
    rows = by_resource(result)
    assert [rows[i]["status"] for i in (instance("i-0a")["id"], instance("i-0b")["id"])] == [NOT_FOUND, NOT_FOUND]
    # the queue's name was asked, its URL not: its lookup did not end
    assert rows[queue("c")["id"]]["status"] == SKIPPED and "before its lookup ended" in rows[queue("c")["id"]]["reason"]
    assert len(history.calls) == 3
    [problem] = result.problems
    assert problem.kind == "warning" and "3 LookupEvents calls" in problem.message and "1 resource " in problem.message


def test_a_resource_of_no_known_type_is_skipped_without_a_call(history):
    stranger = {"id": "x", "type": "AWS::Glue::Job", "name": "etl", "natural_id": "etl", "arn": None,
                "account": ACCOUNT, "region": "us-east-1"}
    row = by_resource(lookup([stranger]))["x"]
    assert row["status"] == SKIPPED and "AWS::Glue::Job" in row["reason"] and history.calls == []


def test_only_lookup_events_of_cloudtrail_is_let_through():
    assert is_allowed_operation("cloudtrail", "LookupEvents")
    assert not is_allowed_operation("cloudtrail", "GetTrail")
    assert not is_allowed_operation("cloudtrail", "ListTrails")


# -------------------------------------------------------------------------------------------- log files in S3

BUCKET = "acme-trail-logs"


def log_key(region: str, delivered: dt.datetime, root: str = "org-trail/", account: str = ACCOUNT,
            unique: str | None = None) -> str:
    unique = unique or uuid.uuid4().hex[:16]
    return (f"{root}AWSLogs/{account}/CloudTrail/{region}/{delivered:%Y/%m/%d}/"
            f"{account}_CloudTrail_{region}_{delivered:%Y%m%dT%H%MZ}_{unique}.json.gz")


def log_file(*records) -> bytes:
    return gzip.compress(json.dumps({"Records": list(records)}).encode())


@pytest.fixture()
def trail_bucket(aws):
    s3 = boto3.client("s3", region_name="us-east-1")
    bucket = f"{BUCKET}-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    return s3, bucket


def read_logs(bucket: str, resources, prefix: str = "org-trail", **kwargs):
    return find_creators(AwsSession(default_region="us-east-1", call_timeout=20), resources,
                         s3_uri=f"s3://{bucket}/{prefix}", now=NOW, **kwargs)


def test_log_files_name_the_creator_and_bad_files_are_named_not_fatal(trail_bucket):
    s3, bucket = trail_bucket
    day = NOW - dt.timedelta(days=3)
    made_queue = create_queue("jobs", "2025-03-07T10:01:00Z", identity=BOB,
                              agent="APN/1.0 HashiCorp/1.0 Terraform/1.7.5 terraform-provider-aws/5.40.0")
    made_role = create_role("deployer", "2025-03-07T10:02:00Z")
    made_instance = run_instances("i-0123456789abcdef0", "2025-03-07T10:03:00Z", identity=CAROL)
    noise = [record("DescribeInstances", "ec2.amazonaws.com", "eu-west-1", "2025-03-07T10:04:00Z")] * 50
    good = {
        log_key("us-east-1", day): log_file(made_queue, made_role),
        log_key("eu-west-1", day): log_file(*noise, made_instance),
    }
    bad = {
        log_key("us-east-1", day + dt.timedelta(minutes=5)): gzip.compress(b"\0" * (4 << 20)),  # expands past 1 MiB
        log_key("us-east-1", day + dt.timedelta(minutes=10)): os.urandom(300 << 10),  # over 256 KiB
        log_key("us-east-1", day + dt.timedelta(minutes=15)): b"this is not gzip at all",
        log_key("us-east-1", day + dt.timedelta(minutes=20)): gzip.compress(b"<html>not json</html>"),
        log_key("us-east-1", day + dt.timedelta(minutes=25)): gzip.compress(b'{"records": []}'),
    }
    for key, body in {**good, **bad}.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    # not log files: a digest, a note; never read
    s3.put_object(Bucket=bucket, Key=f"org-trail/AWSLogs/{ACCOUNT}/CloudTrail-Digest/us-east-1/2025/03/07/"
                                     f"{ACCOUNT}_CloudTrail-Digest_us-east-1_x_us-east-1_20250307T100000Z.json.gz",
                  Body=b"digest")
    s3.put_object(Bucket=bucket, Key="org-trail/README.txt", Body=b"notes")

    result = read_logs(bucket, [queue(), role(), instance()], max_object_bytes=256 << 10, max_log_bytes=1 << 20)
    rows = by_resource(result)
    assert rows[queue()["id"]]["status"] == FOUND and rows[queue()["id"]]["user_name"] == "bob"
    assert rows[queue()["id"]]["via"] == "terraform"
    assert rows[queue()["id"]]["source"] == f"s3://{bucket}/{next(iter(good))}"
    assert rows[role()["id"]]["principal"] == ALICE["arn"] and rows[role()["id"]]["event_name"] == "CreateRole"
    assert rows[instance()["id"]]["user_name"] == "carol" and rows[instance()["id"]]["event_region"] == "eu-west-1"
    problems = {p.source: p.message for p in result.problems}
    assert set(problems) == {f"s3://{bucket}/{key}" for key in bad}
    assert [reason.split(": ", 1)[1] for reason in (problems[f"s3://{bucket}/{key}"] for key in bad)] == [
        "expands past 1 MiB (a gzip bomb?): not read",
        "0.3 MiB, over the 0.25 MiB limit for one log file: not read",
        "not a gzip file (Error -3 while decompressing data: incorrect header check)",
        "not JSON once expanded",
        'not a CloudTrail log file (no "Records" list)',
    ]
    assert {p.kind for p in result.problems} == {"warning"}


def test_an_organization_trail_is_read_under_its_organization_folder(trail_bucket):
    s3, bucket = trail_bucket
    key = log_key("us-east-1", NOW - dt.timedelta(days=1), root="org-trail/", account=ACCOUNT)
    key = key.replace("AWSLogs/", "AWSLogs/o-a1b2c3d4e5/")
    s3.put_object(Bucket=bucket, Key=key, Body=log_file(create_queue("jobs", "2025-03-09T00:00:00Z", identity=BOB)))
    row = by_resource(read_logs(bucket, [queue()]))[queue()["id"]]
    assert row["status"] == FOUND and row["source"] == f"s3://{bucket}/{key}"


def test_the_newest_log_files_are_read_first_and_the_limit_is_said(trail_bucket):
    s3, bucket = trail_bucket
    older, newer = NOW - dt.timedelta(days=20), NOW - dt.timedelta(days=2)
    s3.put_object(Bucket=bucket, Key=log_key("us-east-1", older),
                  Body=log_file(create_queue("early", "2025-02-18T00:00:00Z")))
    s3.put_object(Bucket=bucket, Key=log_key("us-east-1", newer),
                  Body=log_file(create_queue("late", "2025-03-08T00:00:00Z")))
    result = read_logs(bucket, [queue("early"), queue("late")], max_objects=1)
    rows = by_resource(result)
    assert rows[queue("late")["id"]]["status"] == FOUND
    assert rows[queue("early")["id"]]["status"] == NOT_FOUND
    assert "1 log file" in rows[queue("early")["id"]]["reason"] and "2025-03-08" in rows[queue("early")["id"]]["reason"]
    [problem] = result.problems
    assert "newest 1 of 2 log files" in problem.message


def test_log_files_older_than_the_window_are_not_listed(trail_bucket):
    s3, bucket = trail_bucket
    s3.put_object(Bucket=bucket, Key=log_key("us-east-1", NOW - dt.timedelta(days=120)),
                  Body=log_file(create_queue("jobs", "2024-11-10T00:00:00Z")))
    result = read_logs(bucket, [queue()])
    row = by_resource(result)[queue()["id"]]
    assert row["status"] == FAILED and "no CloudTrail log files" in row["reason"]
    assert "since 2024-12-10" in result.problems[0].message


def test_a_region_without_log_files_is_failed_not_not_found(trail_bucket):
    s3, bucket = trail_bucket
    s3.put_object(Bucket=bucket, Key=log_key("us-east-1", NOW - dt.timedelta(days=1)),
                  Body=log_file(create_queue("jobs", "2025-03-09T00:00:00Z")))
    result = read_logs(bucket, [queue(), queue("jobs", region="ap-south-1")])
    rows = by_resource(result)
    assert rows[queue()["id"]]["status"] == FOUND
    assert rows[queue("jobs", region="ap-south-1")["id"]]["status"] == FAILED
    [problem] = result.problems
    assert problem.region == "ap-south-1" and "no CloudTrail log files" in problem.message


def test_a_prefix_inside_awslogs_is_read_as_given(trail_bucket):
    s3, bucket = trail_bucket
    key = log_key("us-east-1", NOW - dt.timedelta(days=1))
    s3.put_object(Bucket=bucket, Key=key, Body=log_file(create_queue("jobs", "2025-03-09T00:00:00Z")))
    result = read_logs(bucket, [queue()], prefix=f"org-trail/AWSLogs/{ACCOUNT}/CloudTrail/us-east-1")
    assert by_resource(result)[queue()["id"]]["status"] == FOUND and result.problems == []


def test_a_bucket_that_cannot_be_listed_fails_every_resource_once(aws):
    result = read_logs("no-such-trail-bucket", [queue(), role()])
    assert {row["status"] for row in result.rows} == {FAILED}
    [problem] = result.problems
    assert problem.code == "NoSuchBucket" and "cannot list the CloudTrail log files" in problem.message


# -------------------------------------------------------------------------------------- the policy and the CLI


def _policy(*args):
    from click.testing import CliRunner

    from driftgraph.cli import cli

    result = CliRunner().invoke(cli, ["iam-policy", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_the_policy_grants_lookup_events_and_the_log_files_named():
    default, *rest = _policy()["Statement"]
    assert "cloudtrail:LookupEvents" in default["Action"] and rest == []
    _, objects, listing = _policy("--cloudtrail", "s3://acme-trail-logs/org-trail")["Statement"]
    assert objects == {"Sid": "DriftgraphCloudTrailObjects", "Effect": "Allow", "Action": ["s3:GetObject"],
                       "Resource": ["arn:aws:s3:::acme-trail-logs/org-trail/AWSLogs/*"]}
    assert listing == {"Sid": "DriftgraphCloudTrailList1", "Effect": "Allow", "Action": ["s3:ListBucket"],
                       "Resource": "arn:aws:s3:::acme-trail-logs",
                       "Condition": {"StringLike": {"s3:prefix": ["org-trail/AWSLogs/*"]}}}


def test_what_the_policy_grants_is_what_the_reader_lists(trail_bucket, monkeypatch):
    """The reader lists and gets only under the folder the policy grants: a proxy sees every S3 request."""
    from scanner.permissions import log_location

    s3, bucket = trail_bucket
    key = log_key("us-east-1", NOW - dt.timedelta(days=1))
    s3.put_object(Bucket=bucket, Key=key, Body=log_file(create_queue("jobs", "2025-03-09T00:00:00Z")))
    granted = log_location(f"s3://{bucket}/org-trail").prefix

    with aws_proxy(os.environ["AWS_ENDPOINT_URL"]) as (url, seen):
        monkeypatch.setenv("AWS_ENDPOINT_URL", url)
        result = read_logs(bucket, [queue()])
    assert by_resource(result)[queue()["id"]]["status"] == FOUND
    s3_requests = [r for r in seen if r.service == "s3"]
    assert s3_requests
    for request in s3_requests:
        path = unquote(urlparse(request.path).path)
        query = parse_qs(urlparse(request.path).query)
        if "list-type" in query:
            assert query["prefix"][0].startswith(granted), request.path
        else:
            assert path.startswith(f"/{bucket}/{granted}"), request.path


@pytest.mark.parametrize("value, message", [
    ("lookups", "lookup, off or s3://BUCKET/PREFIX"),
    ("s3://", "no bucket named"),
    ("https://acme-trail-logs/org-trail", "lookup, off or s3://BUCKET/PREFIX"),
])
def test_scan_refuses_a_cloudtrail_source_it_cannot_read(tmp_path, value, message):
    from click.testing import CliRunner

    from driftgraph.cli import cli

    result = CliRunner().invoke(cli, ["scan", "--db", str(tmp_path / "x.db"), "--cloudtrail", value])
    assert result.exit_code == 2 and message in result.output, result.output


def test_the_scan_option_defaults_to_the_event_history():
    from driftgraph.cli import cli
    from driftgraph.scan import ScanOptions

    option = next(p for p in cli.commands["scan"].params if p.name == "cloudtrail")
    assert option.default == "lookup" == ScanOptions(db="x.db").cloudtrail


def test_a_scan_asks_who_made_each_new_unmanaged_resource_once(monkeypatch, tmp_path):
    """Through the scan: the creator of a queue made by hand is stored; the next scan does not ask again for it
    (already known), and asks for a queue made since. A moto server of its own: its queues reach no other test."""
    with moto_server() as endpoint:
        _scan_twice_asking_creators(endpoint, monkeypatch, tmp_path)


def _scan_twice_asking_creators(moto_endpoint, monkeypatch, tmp_path):
    import sqlite3

    import boto3

    from driftgraph.scan import ScanOptions, run_scan

    sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=moto_endpoint, aws_access_key_id="testing",
                       aws_secret_access_key="testing")
    name = "ct-wired-by-hand"
    sqs.create_queue(QueueName=name)
    made = record("CreateQueue", "sqs.amazonaws.com", "us-east-1", "2026-11-30T09:00:00Z",
                  request={"queueName": name},
                  response={"queueUrl": f"https://sqs.us-east-1.amazonaws.com/123456789012/{name}"})
    fake = EventHistory(events={"us-east-1": [history_event(made, [name])]})
    db = tmp_path / "ct.db"
    with aws_proxy(moto_endpoint, fake.answer) as (url, _seen):
        point_boto3_at(monkeypatch, url)
        options = ScanOptions(str(db), regions=("us-east-1",), types=("AWS::SQS::Queue",), live_stacks=False)
        run_scan(options)
        asked_first = {value for _, _, value, _ in fake.calls}
        sqs.create_queue(QueueName="ct-wired-later")
        run_scan(options)
        asked_second = {value for _, _, value, _ in fake.calls} - asked_first
    assert name in asked_first and name not in asked_second and "ct-wired-later" in asked_second
    with sqlite3.connect(db) as connection:
        found = connection.execute("select principal, event_name, event_time from current_creators "
                                   "where resource_id = ?", [f"arn:aws:sqs:us-east-1:123456789012:{name}"]).fetchall()
    assert found == [(ALICE["arn"], "CreateQueue", "2026-11-30T09:00:00Z")]
