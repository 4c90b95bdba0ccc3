"""`scan --processes N`: one account's regions split across spawned processes list what one process lists."""

from __future__ import annotations

import boto3

from scanner.clients import AwsSession
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
