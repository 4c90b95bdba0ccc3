"""An answer that is not AWS's (an HTML page from a proxy, a broken body) and a misspelt region get a clear
error, never a traceback and never a listing read as empty. End to end through a proxy in front of moto."""

from __future__ import annotations

import json
import logging

import pytest
from botocore.exceptions import ClientError

from edge_servers import FORWARD, aws_proxy, driftgraph, scan_env
from scanner.clients import AwsSession, region_problems
from scanner.live import classify_failure

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
        result = driftgraph(["scan", "--db", str(db), "--region", "us-east-1", "--no-stacks", *types],
                            scan_env(endpoint))
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
