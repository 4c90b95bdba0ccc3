"""An answer that is not AWS's (an HTML page from a proxy, a broken body) and a misspelt region get a clear
error, never a traceback and never a listing read as empty. End to end through a proxy in front of moto."""

from __future__ import annotations

import json
import logging

import pytest
from botocore.exceptions import ClientError

from edge_servers import FORWARD, CutShort, Rewrite, aws_proxy, denied, driftgraph, operation_of, scan_env
from scanner.answers import REST_XML_ROOTS
from scanner.clients import AwsSession, UnreadableAnswer, _name_unreadable, region_problems
from scanner.live import classify_failure, scan_live
from scanner.permissions import DRIFTGRAPH_CALLS

ERROR_PAGE = b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>"
PORTAL_PAGE = b"<html><head><title>Welcome to Airport WiFi</title></head><body>Accept the terms</body></html>"


def _html_for(answers: dict[str, tuple[int, bytes]]):
    def answer(request):
        if request.service in answers:
            status, body = answers[request.service]
            return status, "text/html", body
        return FORWARD
    return answer


def test_html_pages_instead_of_answers_are_failed_listings_with_a_readable_message(moto_endpoint, tmp_path):
    db = tmp_path / "estate.db"
    # SNS: an HTML 500 from a gateway; SQS (JSON) and IAM (XML): a captive portal's 200 page, which botocore
    # reads as an empty queue list and as a KeyError
    answers = {"sns": (500, ERROR_PAGE), "sqs": (200, PORTAL_PAGE), "iam": (200, PORTAL_PAGE)}
    with aws_proxy(moto_endpoint, _html_for(answers)) as (endpoint, _):
        types = ["--type", "AWS::SNS::Topic", "--type", "AWS::SQS::Queue", "--type", "AWS::IAM::Role",
                 "--type", "AWS::EC2::VPC"]
        result = driftgraph(["scan", "--db", str(db), "--region", "us-east-1", "--no-stacks", *types,
                             "--call-timeout", "4"], scan_env(endpoint))  # the 500 page is retried for 4 s
        report = json.loads(driftgraph(["report", "--db", str(db), "--format", "json"], scan_env(endpoint)).stdout)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert report["scan"]["status"] == "partial"
    failed = {f["type"]: f for f in report["failed_listings"]}
    assert set(failed) == {"AWS::SNS::Topic", "AWS::SQS::Queue", "AWS::IAM::Role"}, "EC2 went through and listed"
    for type_, listing in failed.items():
        assert listing["outcome"] == "error"
        assert "HTML page" in listing["message"] and "<" not in listing["message"], listing["message"]
    assert "HTTP 500" in failed["AWS::SNS::Topic"]["message"] and "502 Bad Gateway" in failed["AWS::SNS::Topic"]["message"]
    assert "HTTP 200" in failed["AWS::SQS::Queue"]["message"]


@pytest.mark.parametrize("page", [
    ERROR_PAGE,  # a gateway's page, doctype first: botocore alone cannot even parse it
    b"<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>\n<h1>Internal Server Error</h1>",
    b"<html><body><h1>503 Service Unavailable</h1></body></html>",
], ids=["gateway-502", "server-500", "bare-503"])
def test_a_passing_error_page_is_retried_and_the_listing_completes(moto_endpoint, tmp_path, page):
    """A load balancer's or server's 5xx page is as transient as AWS's own 5xx: the call is tried again."""
    db = tmp_path / "estate.db"
    pages_sent = []

    def answer(request):
        if operation_of(request) == "DescribeVolumes" and len(pages_sent) < 2:
            pages_sent.append(request)
            return 500, "text/html", page
        return FORWARD

    with aws_proxy(moto_endpoint, answer) as (endpoint, seen):
        result = driftgraph(["scan", "--db", str(db), "--region", "us-east-1", "--no-stacks",
                             "--type", "AWS::EC2::Volume"], scan_env(endpoint))
        report = json.loads(driftgraph(["report", "--db", str(db), "--format", "json"], scan_env(endpoint)).stdout)
    assert result.returncode == 0, result.stderr
    assert len(pages_sent) == 2 and [operation_of(r) for r in seen].count("DescribeVolumes") == 3
    assert report["scan"]["status"] == "complete" and report["failed_listings"] == []


@pytest.mark.parametrize("status, body", [
    (200, b"<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:iam::1"),  # cut short
    (200, b"<?xml version='1.0'?><Nothing/>"),  # well-formed, but not the answer
    (500, ERROR_PAGE),
    (200, PORTAL_PAGE),
], ids=["truncated", "wrong-document", "html-500", "html-200"])
def test_an_unreadable_identity_answer_is_a_clear_fatal_error(moto_endpoint, tmp_path, status, body):
    db = tmp_path / "estate.db"

    def answer(request):
        return (status, "text/xml", body) if request.service == "sts" else FORWARD

    with aws_proxy(moto_endpoint, answer) as (endpoint, _):
        result = driftgraph(["scan", "--db", str(db), "--region", "us-east-1", "--no-stacks", "--type", "AWS::SQS::Queue",
                             "--call-timeout", "3"], scan_env(endpoint))
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert "scan failed, database left as it was: GetCallerIdentity" in result.stderr, result.stderr
    assert not db.exists()


def test_an_answer_without_an_aws_error_is_named_for_what_it_is():
    html = ClientError({"Error": {"Code": "500", "Message": ERROR_PAGE.decode()},
                        "ResponseMetadata": {"HTTPStatusCode": 500}}, "ListQueues")
    unknown = ClientError({"Error": {"Code": "Unknown", "Message": "Unknown"}, "ResponseMetadata": {"HTTPStatusCode": 502}},
                          "ListTopics")
    for error, status in ((html, 500), (unknown, 502)):
        failure = classify_failure(error)
        assert failure.outcome == "error" and f"HTTP {status}" in failure.message and "<" not in failure.message
    assert classify_failure(KeyError("ListTopicsResult")).message == "unexpected KeyError: 'ListTopicsResult'"


# ------------------------------------------------------------------------------------------------ regions


def test_a_misspelt_region_is_a_usage_error_with_the_right_spelling(moto_endpoint, tmp_path):
    result = driftgraph(["scan", "--db", str(tmp_path / "x.db"), "--region", "us-east1"], scan_env(moto_endpoint))
    assert result.returncode == 2, result.stderr
    assert "us-east1 is not a region name (did you mean us-east-1?)" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "x.db").exists()


@pytest.mark.parametrize("region, says", [
    ("eu-wset-1", "eu-wset-1 is not a region of this account (did you mean eu-west-1?)"),
    ("me-south-1", "me-south-1 is not enabled for this account"),  # moto lists it as not opted in
])
def test_a_region_the_account_does_not_have_is_a_usage_error(moto_endpoint, tmp_path, region, says):
    result = driftgraph(["scan", "--db", str(tmp_path / "x.db"), "--region", "us-east-1", "--region", region],
                        scan_env(moto_endpoint))
    assert result.returncode == 2, result.stderr
    assert says in " ".join(result.stderr.split()), result.stderr
    assert not (tmp_path / "x.db").exists()


DENIED = b"""<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>You are not authorized to perform
this operation.</Message></Error></Errors><RequestID>00000000-0000-0000-0000-000000000000</RequestID></Response>"""


def test_when_describe_regions_is_denied_only_the_shape_is_checked(moto_endpoint, monkeypatch, caplog):
    def answer(request):
        return (403, "text/xml", DENIED) if request.action == "DescribeRegions" else FORWARD

    with aws_proxy(moto_endpoint, answer) as (endpoint, seen):
        for key, value in scan_env(endpoint).items():
            monkeypatch.setenv(key, value)
        with caplog.at_level(logging.WARNING, logger="driftgraph"):
            assert AwsSession().check_regions(["eu-west-9", "us-east-1", "eu-west-9"]) == ["eu-west-9", "us-east-1"]
    assert any(r.action == "DescribeRegions" for r in seen)
    assert "checking region names by their shape only" in caplog.text


def test_region_names_are_checked_by_shape_and_against_the_account():
    assert region_problems(["us-east-1", "us-gov-west-1", "ap-southeast-5", "cn-north-1"]) == []
    assert region_problems(["US-EAST-1", "useast1"]) == ["US-EAST-1 is not a region name (did you mean us-east-1?)",
                                                         "useast1 is not a region name (did you mean us-east-1?)"]
    statuses = {"us-east-1": "opt-in-not-required", "af-south-1": "opted-in", "ap-east-1": "not-opted-in"}
    assert region_problems(["us-east-1", "af-south-1"], statuses) == []
    assert region_problems(["ap-east-1"], statuses)[0].startswith("ap-east-1 is not enabled")


# ------------------------------------------------------------------ 2xx answers that are not AWS's answer

ACCOUNT = "123456789012"
REGION = "ap-southeast-2"  # no other test of this file writes here
# one list call of each protocol botocore reads: JSON (SQS, DynamoDB), EC2's XML, query XML (IAM),
# rest-xml (S3), rest-json (Lambda), CBOR (CloudWatch)
LIST_CALLS = {"ListQueues": "AWS::SQS::Queue", "ListTables": "AWS::DynamoDB::Table", "DescribeVpcs": "AWS::EC2::VPC",
              "ListRoles": "AWS::IAM::Role", "ListBuckets": "AWS::S3::Bucket", "ListFunctions": "AWS::Lambda::Function",
              "DescribeAlarms": "AWS::CloudWatch::Alarm"}
NOT_AWS = {
    "empty": b"",
    "plain-text": b"Service temporarily unavailable",
    "xhtml-with-prolog": b'<?xml version="1.0"?>\n<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "x">'
                         b"<html><head><title>Proxy login</title></head></html>",
    "html-after-a-bom": b"\xef\xbb\xbf<!DOCTYPE html><html><head><title>Captive portal</title></head></html>",
    "html-after-a-comment": b"<!-- proxy --><html><head><title>Blocked</title></head></html>",
    "html-without-its-html-element": b"<head><title>Blocked</title></head><body>denied</body>",
    "json-array": b"[]",
    "json-null": b"null",
    "another-xml-document": b"<?xml version='1.0'?><Nothing/>",
    "json-cut-short": b'{"QueueUrls": ["http://sqs/123456789012/a"',
}


@pytest.fixture(scope="module")
def estate_of_each_protocol(moto_endpoint):
    """One resource of each listed type in moto, so an answer read as empty would lose something real."""
    import boto3

    def c(service):
        return boto3.client(service, region_name=REGION, endpoint_url=moto_endpoint, aws_access_key_id="testing",
                            aws_secret_access_key="testing")

    c("sqs").create_queue(QueueName="protocol-queue")
    c("dynamodb").create_table(TableName="protocol-table", BillingMode="PAY_PER_REQUEST",
                               AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                               KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}])
    role = c("iam").create_role(RoleName="protocol-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    c("s3").create_bucket(Bucket="protocol-bucket", CreateBucketConfiguration={"LocationConstraint": REGION})
    import io
    import zipfile

    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("index.py", "def handler(e, c):\n    return 1\n")
    c("lambda").create_function(FunctionName="protocol-fn", Runtime="python3.12", Role=role, Handler="index.handler",
                                Code={"ZipFile": code.getvalue()})
    c("cloudwatch").put_metric_alarm(AlarmName="protocol-alarm", MetricName="m", Namespace="n", Statistic="Sum",
                                     Period=60, EvaluationPeriods=1, Threshold=1.0,
                                     ComparisonOperator="GreaterThanThreshold")
    return moto_endpoint


def _scan_through(endpoint, monkeypatch, types, **session):
    for key, value in scan_env(endpoint, AWS_DEFAULT_REGION=REGION).items():
        monkeypatch.setenv(key, value)
    return scan_live(AwsSession(default_region=REGION, **session), ACCOUNT, "aws", [REGION], types)


@pytest.mark.parametrize("body", NOT_AWS.values(), ids=NOT_AWS.keys())
def test_a_2xx_answer_that_is_not_the_operations_answer_is_a_failed_listing(estate_of_each_protocol, monkeypatch, body):
    def answer(request):
        if operation_of(request) in LIST_CALLS:
            return 200, request.content_type or "text/xml", body
        return FORWARD

    with aws_proxy(estate_of_each_protocol, answer) as (endpoint, seen):
        scan = _scan_through(endpoint, monkeypatch, LIST_CALLS.values())
    assert {operation_of(r) for r in seen} >= set(LIST_CALLS), "every list call went through the proxy"
    outcomes = {l.type: (l.outcome, l.error_code) for l in scan.listings}
    assert outcomes == {t: ("error", "UnreadableAnswer") for t in LIST_CALLS.values()}, "never an ok listing of nothing"
    assert scan.records == []
    for listing in scan.listings:
        assert "not AWS" in listing.message or "not a" in listing.message, listing.message
        assert "a proxy, a captive portal or a wrong endpoint?" in listing.message


def test_what_the_unreadable_answer_was_is_said_without_quoting_it(estate_of_each_protocol, monkeypatch):
    bodies = {"ListQueues": NOT_AWS["plain-text"], "DescribeVpcs": NOT_AWS["xhtml-with-prolog"],
              "ListRoles": NOT_AWS["another-xml-document"], "ListTables": NOT_AWS["empty"]}

    def answer(request):
        body = bodies.get(operation_of(request))
        return FORWARD if body is None else (200, request.content_type or "text/xml", body)

    with aws_proxy(estate_of_each_protocol, answer) as (endpoint, _):
        scan = _scan_through(endpoint, monkeypatch, [LIST_CALLS[op] for op in bodies])
    messages = {l.type: l.message for l in scan.listings}
    assert messages["AWS::SQS::Queue"] == ("ListQueues: the endpoint answered HTTP 200 with a body that is neither JSON "
                                           "nor XML, not a JSON object: a proxy, a captive portal or a wrong endpoint?")
    assert "with an HTML page ('Proxy login'), not an XML DescribeVpcsResponse document" in messages["AWS::EC2::VPC"]
    assert "with an XML document whose root is 'Nothing', not an XML ListRolesResponse document" in messages["AWS::IAM::Role"]
    assert "with an empty body, not a JSON object" in messages["AWS::DynamoDB::Table"]
    assert "temporarily" not in repr(messages), "the body itself is not quoted: it may hold anything"


def test_an_empty_tag_answer_is_a_failed_tag_call_never_no_tags(estate_of_each_protocol, monkeypatch):
    empty = {"ListQueueTags", "ListTags", "GetBucketTagging", "ListTagsOfResource"}

    def answer(request):
        if operation_of(request) == "GetResources":  # failed: the per-item tag calls answer instead
            return denied(request)
        return (200, request.content_type or "application/xml", b"") if operation_of(request) in empty else FORWARD

    types = ["AWS::SQS::Queue", "AWS::Lambda::Function", "AWS::S3::Bucket", "AWS::DynamoDB::Table"]
    with aws_proxy(estate_of_each_protocol, answer) as (endpoint, _):
        scan = _scan_through(endpoint, monkeypatch, types)
    names = {"protocol-queue", "protocol-fn", "protocol-bucket", "protocol-table"}
    records = {r.natural_id: r for r in scan.records if r.natural_id in names}
    assert set(records) == names
    for record in records.values():
        assert record.tags is None, f"{record.natural_id}: an empty tag answer is unknown tags, never {{}}"
    calls = {(l.type, l.call): (l.outcome, l.error_code) for l in scan.listings if l.call}
    assert calls == {("AWS::SQS::Queue", "ListQueueTags"): ("error", "UnreadableAnswer"),
                     ("AWS::Lambda::Function", "ListTags"): ("error", "UnreadableAnswer"),
                     ("AWS::S3::Bucket", "GetBucketTagging"): ("error", "UnreadableAnswer"),
                     ("AWS::DynamoDB::Table", "ListTagsOfResource"): ("error", "UnreadableAnswer")}


def test_an_answer_cut_short_by_a_dropped_connection_is_a_failed_listing(estate_of_each_protocol, monkeypatch):
    """moto's own answer, announced whole and cut mid-way: botocore keeps the short body (it does not enforce
    Content-Length), and a JSON body cut after an inner `}` or an XML one cut at a tag would read as fewer items."""
    def cut(status, headers, body):
        return status, headers, body[: len(body) // 2], len(body)

    def answer(request):
        return Rewrite(cut) if operation_of(request) in ("ListQueues", "DescribeVpcs") else FORWARD

    with aws_proxy(estate_of_each_protocol, answer) as (endpoint, seen):
        scan = _scan_through(endpoint, monkeypatch, ["AWS::SQS::Queue", "AWS::EC2::VPC"], call_timeout=3)
    assert {l.type: l.outcome for l in scan.listings} == {"AWS::SQS::Queue": "error", "AWS::EC2::VPC": "error"}
    for listing in scan.listings:
        assert "bytes it announced" in listing.message, listing.message
    assert sum(operation_of(r) == "ListQueues" for r in seen) > 1, "a dropped connection is retried"


def test_a_complete_looking_body_shorter_than_announced_is_not_read_as_the_answer(estate_of_each_protocol, monkeypatch):
    bodies = {"ListQueues": b'{"QueueUrls": []}', "DescribeVpcs": b"<DescribeVpcsResponse><vpcSet/></DescribeVpcsResponse>"}

    def answer(request):
        body = bodies.get(operation_of(request))
        return FORWARD if body is None else CutShort(200, request.content_type or "text/xml", body, len(body) + 400)

    with aws_proxy(estate_of_each_protocol, answer) as (endpoint, _):
        scan = _scan_through(endpoint, monkeypatch, ["AWS::SQS::Queue", "AWS::EC2::VPC"], call_timeout=3)
    assert {l.type: l.outcome for l in scan.listings} == {"AWS::SQS::Queue": "error", "AWS::EC2::VPC": "error"}
    assert all("bytes it announced" in l.message for l in scan.listings), scan.listings


@pytest.mark.parametrize("status, body", [(302, b""), (301, b"Moved")], ids=["302-empty", "301-text"])
def test_a_redirect_is_a_failed_listing_naming_where_it_points(estate_of_each_protocol, monkeypatch, status, body):
    def answer(request):
        if operation_of(request) in ("ListQueues", "ListBuckets"):
            return status, "text/html", body, [("Location", "https://login.example.com/portal")]
        return FORWARD

    with aws_proxy(estate_of_each_protocol, answer) as (endpoint, _):
        scan = _scan_through(endpoint, monkeypatch, ["AWS::SQS::Queue", "AWS::S3::Bucket"])
    for listing in scan.listings:
        assert (listing.outcome, listing.error_code) == ("error", "UnreadableAnswer"), listing
        assert f"HTTP {status}, a redirect to https://login.example.com/portal" in listing.message, listing.message
        assert "TypeError" not in listing.message


def test_a_parser_error_is_redacted_before_it_is_cut_short():
    """A secret that straddles the 200th character would leave its head, no longer a secret's shape."""
    detail = "x" * 190 + " AKIAIOSFODNN7EXAMPLE and more"
    with pytest.raises(UnreadableAnswer) as raised:
        _name_unreadable(exception=ValueError(detail), event_name="after-call-error.ec2.DescribeVpcs")
    assert "AKIAIOSF" not in str(raised.value), str(raised.value)


def test_every_s3_call_names_the_root_element_of_its_answer():
    """S3 names its answers' root elements after the document: each S3 call driftgraph makes must be known."""
    import boto3

    s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    for call in DRIFTGRAPH_CALLS:
        if call.service != "s3":
            continue
        operation = s3.meta.service_model.operation_model(s3.meta.method_to_api_mapping[call.method])
        if operation.http["method"] == "HEAD" or operation.has_streaming_output:
            continue
        assert ("s3", operation.name) in REST_XML_ROOTS, f"s3:{operation.name}: add the root element of its answer"


def test_a_stack_listed_without_its_stack_id_is_skipped_with_a_warning(estate_of_each_protocol, monkeypatch):
    """DescribeStacks naming a stack without its StackId: no traceback; the stack's resources are unknown, so it
    stands as an owner source that could not be read, and the other stacks are read as ever."""
    import json
    import re

    import boto3

    from importers.cloudformation import import_stacks

    cloudformation = boto3.client("cloudformation", region_name=REGION, endpoint_url=estate_of_each_protocol,
                                  aws_access_key_id="testing", aws_secret_access_key="testing")
    template = json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}})
    for name in ("idless-stack", "whole-stack"):
        cloudformation.create_stack(StackName=name, TemplateBody=template)

    def drop_the_id(status, headers, body):
        text = body.decode()
        member = re.search(r"<member>(?:(?!</member>).)*<StackName>idless-stack</StackName>.*?</member>", text, re.DOTALL)
        cut = member.group(0)
        return status, headers, text.replace(cut, re.sub(r"<StackId>[^<]*</StackId>", "", cut)).encode()

    def answer(request):
        return Rewrite(drop_the_id) if request.action == "DescribeStacks" else FORWARD

    with aws_proxy(estate_of_each_protocol, answer) as (endpoint, _):
        for key, value in scan_env(endpoint, AWS_DEFAULT_REGION=REGION).items():
            monkeypatch.setenv(key, value)
        result = import_stacks(AwsSession(default_region=REGION), ACCOUNT, "aws", [REGION])
    (warning,) = [e for e in result.errors if e.source == "idless-stack"]
    assert warning.kind == "warning" and "without its StackId" in warning.message
    assert [f.source for f in result.failed] == ["idless-stack"]
    assert any(r.owner.stack_name == "whole-stack" for r in result.records), "the other stack is read"


def test_a_listed_item_without_its_id_makes_the_listing_fail_never_a_silent_drop(estate_of_each_protocol, monkeypatch):
    """A role the answer lists without its RoleName cannot be named: dropped, a declared role would read as
    missing from a listing marked ok."""
    import re

    def drop_a_name(status, headers, body):
        return status, headers, re.sub(rb"<RoleName>protocol-role</RoleName>", b"", body)

    with aws_proxy(estate_of_each_protocol, lambda r: Rewrite(drop_a_name) if r.action == "ListRoles" else FORWARD) \
            as (endpoint, _):
        scan = _scan_through(endpoint, monkeypatch, ["AWS::IAM::Role"])
    (listing,) = scan.listings
    assert (listing.outcome, listing.error_code) == ("error", "UnreadableAnswer"), listing
    assert listing.message.startswith("ListRoles: 1 of the ") and "give no RoleName" in listing.message, listing.message
    assert scan.records == []
