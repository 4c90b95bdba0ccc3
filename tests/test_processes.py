"""`scan --processes N`: one account's regions split across spawned processes list what one process lists."""

from __future__ import annotations

import boto3

from scanner.clients import ROLE_SESSION_NAME, AwsSession
from scanner.live import scan_live
from scanner.processes import scan_live_in_processes, split_regions

ACCOUNT = "123456789012"
REGIONS = ["sa-east-1", "ca-west-1", "me-central-1"]
TYPES = ["AWS::SQS::Queue", "AWS::IAM::Role", "AWS::S3::Bucket"]


def test_regions_are_dealt_out_with_the_first_in_the_first_part():
    assert split_regions(["a", "b", "c", "d", "e"], 2) == [["a", "c", "e"], ["b", "d"]]
    assert split_regions(["a", "b"], 4) == [["a"], ["b"]]
    assert split_regions(["a"], 1) == [["a"]]


def test_processes_list_what_one_process_lists(aws):
    for n, region in enumerate(REGIONS):
        boto3.client("sqs", region_name=region).create_queue(QueueName=f"split-{n}", tags={"n": str(n)})
    boto3.client("iam", region_name="us-east-1").create_role(RoleName="split-role", AssumeRolePolicyDocument="{}")
    boto3.client("s3", region_name="us-east-1").create_bucket(
        Bucket="split-bucket", CreateBucketConfiguration={"LocationConstraint": REGIONS[1]})
    heard = []
    split = scan_live_in_processes(AwsSession(default_region="us-east-1"), ACCOUNT, "aws", REGIONS, TYPES, 4, 2,
                                   on_listing=heard.append)
    whole = scan_live(AwsSession(default_region="us-east-1"), ACCOUNT, "aws", REGIONS, TYPES, 4)

    def picture(scan):
        return sorted((r.type, r.region or "", r.natural_id, tuple(sorted((r.tags or {}).items()))) for r in scan.records)

    def outcomes(scan):
        return sorted((l.type, l.region, l.outcome, l.call or "") for l in scan.listings)

    assert picture(split) == picture(whole)
    assert outcomes(split) == outcomes(whole)
    assert {("AWS::SQS::Queue", region, f"split-{n}") for n, region in enumerate(REGIONS)} <= {
        (t, region, name) for t, region, name, _ in picture(split)}
    assert sum(r.type == "AWS::IAM::Role" and r.natural_id == "split-role" for r in split.records) == 1, \
        "the global types are listed once, by the first process"
    assert sorted((l.type, l.region) for l in heard) == sorted((l.type, l.region) for l in split.listings if not l.call)


def test_a_role_assumed_in_another_account_is_assumed_again_in_each_process(aws):
    """A member account's session (an assumed role) reaches the processes as the credentials it was assumed from
    and the role, so each process assumes it again and its credentials refresh there past the role's hour; the
    processes list the member account, as one process does."""
    from scanner.processes import process_session

    member, role_arn = "210987654321", "arn:aws:iam::210987654321:role/OrganizationAccountAccessRole"
    base = AwsSession(default_region="us-east-1")
    session = base.assume_role(role_arn)
    spec = process_session(session)
    member_keys = session._session.get_credentials().get_frozen_credentials()
    base_keys = base._session.get_credentials().get_frozen_credentials()
    assert spec["role"] == (role_arn, ROLE_SESSION_NAME)
    assert spec["credentials"] == tuple(base_keys) and spec["credentials"] != tuple(member_keys)
    assert process_session(base)["role"] is None

    in_member = boto3.Session(aws_access_key_id=member_keys.access_key, aws_secret_access_key=member_keys.secret_key,
                              aws_session_token=member_keys.token)
    in_member.client("sqs", region_name=REGIONS[1]).create_queue(QueueName="member-queue")
    split = scan_live_in_processes(session, member, "aws", REGIONS, ["AWS::SQS::Queue"], 4, 2)
    whole = scan_live(session, member, "aws", REGIONS, ["AWS::SQS::Queue"], 4)
    names = sorted((r.region, r.natural_id, r.account) for r in split.records)
    assert names == sorted((r.region, r.natural_id, r.account) for r in whole.records)
    assert (REGIONS[1], "member-queue", member) in names
