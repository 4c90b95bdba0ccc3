"""Every page of every list, detail and tag call is read: a listing that stops at the first page is a silent
lie (1,000 SQS queues of 1,500; 10 DynamoDB tags of 12, read as drift on the rest).

moto reproduces both traps: ListQueues without MaxResults answers at most 1,000 queues and no token (as AWS
does), ListTagsOfResource answers ten tags a page. The meta-tests walk the catalog against botocore's model."""

from __future__ import annotations

import itertools
import json
import re
from contextlib import contextmanager

import boto3
import botocore.session
import pytest

from edge_servers import FORWARD, aws_proxy, denied, operation_of, scan_env
from graph.resource_types import RESOURCE_TYPES, Call, ResourceType
from importers.cloudformation import import_stacks
from importers.terraform_state import load_terraform_states
from scanner.clients import AwsSession
from scanner.live import scan_live

ACCOUNT = "123456789012"
REGION = "ca-central-1"  # no other test writes here, so the counts are exact

# ---------------------------------------------------------------------------------- against moto


def test_more_than_a_thousand_queues_are_all_listed(aws):
    sqs = boto3.client("sqs", region_name=REGION)
    made = {f"page-{n:04d}" for n in range(1010)}
    for name in made:
        sqs.create_queue(QueueName=name)
    scan = scan_live(AwsSession(), ACCOUNT, "aws", [REGION], ["AWS::SQS::Queue"])
    (listing,) = scan.listings
    assert listing.outcome == "ok"
    assert {r.natural_id for r in scan.records} == made, "ListQueues stopped at its first 1,000 queues"


def test_every_page_of_a_tag_call_is_read(aws):
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    tags = {f"key-{n:02d}": f"value-{n}" for n in range(12)}
    dynamodb.create_table(TableName="many-tags", BillingMode="PAY_PER_REQUEST",
                          AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                          KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                          Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
    scan = scan_live(AwsSession(), ACCOUNT, "aws", [REGION], ["AWS::DynamoDB::Table"])
    (table,) = [r for r in scan.records if r.natural_id == "many-tags"]
    assert table.tags == tags, "ListTagsOfResource answers ten tags a page: the rest would read as drift"


# ------------------------------------------------------------------- tokens that would never end a listing
# Generous bounds on request counts prove "does not go round forever": without the guard these run until
# the test's own time limit.


def _tokens(kind: str):
    """Next-page tokens an endpoint hands out: 'cycle' A, B, A, B...; 'fresh' a new one every page."""
    count = itertools.count()
    return (lambda: "AB"[next(count) % 2]) if kind == "cycle" else (lambda: f"token-{next(count)}")


@contextmanager
def _through(endpoint, monkeypatch, answer):
    """The environment pointed at a proxy in front of moto; yields the requests it saw."""
    with aws_proxy(endpoint, answer) as (url, seen):
        for key, value in scan_env(url, AWS_DEFAULT_REGION=REGION).items():
            monkeypatch.setenv(key, value)
        yield seen


def test_a_token_that_comes_back_is_a_failed_listing_not_a_loop(aws, monkeypatch):
    token = _tokens("cycle")

    def answer(request):
        if operation_of(request) == "ListQueues":
            return 200, request.content_type, json.dumps({"QueueUrls": [], "NextToken": token()}).encode()
        return FORWARD

    with _through(aws, monkeypatch, answer) as seen:
        scan = scan_live(AwsSession(), ACCOUNT, "aws", [REGION], ["AWS::SQS::Queue"])
    (listing,) = scan.listings
    assert (listing.outcome, listing.error_code) == ("error", "PaginationError")
    assert "ListQueues: page 3 gave a next-page token an earlier page gave" in listing.message, listing.message
    assert sum(operation_of(r) == "ListQueues" for r in seen) == 3


def test_a_pagination_that_never_stops_handing_out_tokens_ends_at_the_page_limit(aws, monkeypatch):
    token = _tokens("fresh")

    def answer(request):
        if operation_of(request) == "DescribeVpcs":
            return 200, "text/xml", (f"<DescribeVpcsResponse><requestId>x</requestId><vpcSet/><nextToken>{token()}"
                                     "</nextToken></DescribeVpcsResponse>").encode()
        return FORWARD

    with _through(aws, monkeypatch, answer) as seen:
        scan = scan_live(AwsSession(max_pages=25), ACCOUNT, "aws", [REGION], ["AWS::EC2::VPC"])
    (listing,) = scan.listings
    assert (listing.outcome, listing.error_code) == ("error", "PaginationError")
    assert "DescribeVpcs: still more after 25 pages" in listing.message, listing.message
    assert sum(operation_of(r) == "DescribeVpcs" for r in seen) == 25


def test_a_tag_call_whose_tokens_come_back_is_a_failed_tag_call(aws, monkeypatch):
    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName="cycling-tags", BillingMode="PAY_PER_REQUEST", Tags=[{"Key": "a", "Value": "b"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}], KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}])
    token = _tokens("cycle")

    def answer(request):
        if operation_of(request) == "ListTagsOfResource":
            return 200, request.content_type, json.dumps({"Tags": [{"Key": "a", "Value": "b"}], "NextToken": token()}).encode()
        if operation_of(request) == "GetResources":  # failed: the per-item tag calls answer instead
            return denied(request)
        return FORWARD

    with _through(aws, monkeypatch, answer):
        scan = scan_live(AwsSession(), ACCOUNT, "aws", [REGION], ["AWS::DynamoDB::Table"])
    (table,) = [r for r in scan.records if r.natural_id == "cycling-tags"]
    assert table.tags is None and table.failed_calls == ("ListTagsOfResource",)
    (call,) = [l for l in scan.listings if l.call]
    assert (call.call, call.error_code) == ("ListTagsOfResource", "PaginationError")


def test_the_importers_paginations_go_through_the_same_guard(aws, monkeypatch):
    """The importers get their clients from the session: DescribeStacks and the S3 state listing are guarded too."""
    stacks, objects = _tokens("cycle"), _tokens("cycle")

    def answer(request):
        operation = operation_of(request)
        if operation == "DescribeStacks":
            return 200, "text/xml", (f"<DescribeStacksResponse><DescribeStacksResult><Stacks/><NextToken>{stacks()}"
                                     "</NextToken></DescribeStacksResult></DescribeStacksResponse>").encode()
        if operation == "ListObjectsV2":
            return 200, "application/xml", (f"<ListBucketResult><Name>states</Name><Prefix>prod/</Prefix><KeyCount>0"
                                            "</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated>"
                                            f"<NextContinuationToken>{objects()}</NextContinuationToken>"
                                            "</ListBucketResult>").encode()
        return FORWARD

    with _through(aws, monkeypatch, answer) as seen:
        session = AwsSession()
        deployed = import_stacks(session, ACCOUNT, "aws", [REGION])
        states = load_terraform_states(["s3://states/prod/"], session)
    (failed,) = deployed.failed
    assert "DescribeStacks: page 3 gave a next-page token an earlier page gave" in failed.message, failed.message
    (error,) = states.errors
    assert "ListObjectsV2: page 3 gave a next-page token an earlier page gave" in error.message, error.message
    assert sum(operation_of(r) == "DescribeStacks" for r in seen) == 3
    assert sum(operation_of(r) == "ListObjectsV2" for r in seen) == 3


# ------------------------------------------------------------------------ the catalog against botocore

PAGINATES = "paginates"  # botocore has a paginator and the service pages without being asked
PAGE_SIZE = "page size"  # the service pages only when the call names a page size: the row must pass it
ONE_PAGE = "one page"  # the answer has a token, but one page holds every item (an AWS limit below the page size)
NO_TOKEN = "no token"  # the API answers everything at once

# What was found for each call, and why it is read completely. A new row's calls must be added here.
PAGINATION: dict[tuple[str, str], tuple[str, str]] = {
    # EC2 Describe* answer every item in one page unless MaxResults is given; the paginator follows any token
    **{("ec2", m): (PAGINATES, "NextToken; without MaxResults EC2 answers everything") for m in (
        "describe_vpcs", "describe_subnets", "describe_security_groups", "describe_instances", "describe_volumes",
        "describe_nat_gateways", "describe_internet_gateways", "describe_route_tables", "describe_network_interfaces",
        "describe_network_acls", "describe_launch_templates", "describe_vpc_endpoints")},
    ("ec2", "describe_addresses"): (NO_TOKEN, "answers every address"),
    ("ec2", "describe_key_pairs"): (NO_TOKEN, "answers every key pair"),
    ("autoscaling", "describe_auto_scaling_groups"): (PAGINATES, "NextToken, 50 a page by default"),
    ("s3", "list_buckets"): (PAGINATES, "without MaxBuckets S3 answers every bucket of an account at the default "
                             "quota (10,000) and refuses the call above it (a failed listing, never a short one); "
                             "MaxBuckets is not passed: botocore before 1.35 lacks it, moto truncates at it without a token"),
    **{("iam", m): (PAGINATES, "Marker/IsTruncated, 100 a page") for m in (
        "list_roles", "list_users", "list_groups", "list_policies", "list_instance_profiles")},
    ("iam", "list_role_tags"): (PAGINATES, "Marker/IsTruncated; at most 50 tags, 100 a page"),
    ("iam", "list_user_tags"): (PAGINATES, "Marker/IsTruncated; at most 50 tags, 100 a page"),
    ("iam", "list_policy_tags"): (PAGINATES, "Marker/IsTruncated; at most 50 tags, 100 a page"),
    ("lambda", "list_functions"): (PAGINATES, "NextMarker, 50 a page"),
    ("sqs", "list_queues"): (PAGE_SIZE, "without MaxResults: at most 1,000 queues and no NextToken"),
    ("sns", "list_topics"): (PAGINATES, "NextToken, 100 a page"),
    ("dynamodb", "list_tables"): (PAGINATES, "LastEvaluatedTableName, 100 a page"),
    ("dynamodb", "list_tags_of_resource"): (PAGINATES, "NextToken: tags come a page at a time"),
    ("kinesis", "list_streams"): (PAGINATES, "NextToken/HasMoreStreams"),
    ("kinesis", "list_tags_for_stream"): (ONE_PAGE, "HasMoreTags and no paginator; Limit=50 is the most tags a stream has"),
    **{("rds", m): (PAGINATES, "Marker, 100 a page") for m in (
        "describe_db_instances", "describe_db_clusters", "describe_db_subnet_groups")},
    ("elasticache", "describe_cache_clusters"): (PAGINATES, "Marker, 100 a page"),
    ("elasticache", "describe_replication_groups"): (PAGINATES, "Marker, 100 a page"),
    ("efs", "describe_file_systems"): (PAGINATES, "NextMarker, 100 a page"),
    ("kms", "list_keys"): (PAGINATES, "NextMarker/Truncated, 100 a page"),
    ("kms", "list_aliases"): (PAGINATES, "NextMarker/Truncated, 50 a page"),
    ("kms", "list_resource_tags"): (PAGINATES, "NextMarker/Truncated; at most 50 tags, 50 a page"),
    ("logs", "describe_log_groups"): (PAGINATES, "nextToken, 50 a page"),
    ("cloudwatch", "describe_alarms"): (PAGINATES, "NextToken, 50 a page"),
    ("ecs", "list_clusters"): (PAGINATES, "nextToken, 100 a page"),
    ("ecs", "list_services"): (PAGINATES, "nextToken, 10 a page"),
    ("ecs", "list_task_definitions"): (PAGINATES, "nextToken, 100 a page"),
    ("ecr", "describe_repositories"): (PAGINATES, "nextToken, 100 a page"),
    ("elbv2", "describe_load_balancers"): (PAGINATES, "NextMarker, 400 a page"),
    ("elbv2", "describe_target_groups"): (PAGINATES, "NextMarker, 400 a page"),
    ("elbv2", "describe_listeners"): (PAGINATES, "NextMarker, 400 a page"),
    ("route53", "list_hosted_zones"): (PAGINATES, "NextMarker/IsTruncated, 100 a page"),
    ("ssm", "describe_parameters"): (PAGINATES, "NextToken; a page may be empty with a token, the paginator goes on"),
    ("secretsmanager", "list_secrets"): (PAGINATES, "NextToken, 100 a page"),
    ("events", "list_rules"): (PAGINATES, "NextToken, 100 a page"),
    ("cloudformation", "describe_stacks"): (PAGINATES, "NextToken, 100 a page"),
}

# Output members that say "there is more": a call whose answer has one and is not read to the end loses items.
TOKEN_MEMBER = re.compile(r"(?i)(token|marker|truncated|^hasmore|lastevaluated)")

_session = botocore.session.get_session()


def _calls(row: ResourceType) -> list[Call]:
    return [row.list] + [call for _, call in row.details] + ([row.tags.call] if row.tags and row.tags.call else [])


def _model(service: str, method: str):
    client = boto3.client(service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    operation = client.meta.service_model.operation_model(client.meta.method_to_api_mapping[method])
    return client, operation


@pytest.mark.parametrize("row", RESOURCE_TYPES, ids=lambda r: r.type)
def test_every_call_that_can_answer_part_of_a_list_is_read_to_the_end(row):
    for call in _calls(row):
        client, operation = _model(row.service, call.method)
        tokens = [m for m in (operation.output_shape.members if operation.output_shape else {}) if TOKEN_MEMBER.search(m)]
        if not tokens:
            continue  # a single answer: nothing to follow
        assert (row.service, call.method) in PAGINATION, (
            f"{row.service}.{call.method} answers {tokens}: find out how it pages and add it to PAGINATION")
        kind, why = PAGINATION[row.service, call.method]
        paginator = (_session.get_paginator_model(row.service).get_paginator(operation.name)
                     if client.can_paginate(call.method) else None)
        if kind in (PAGINATES, PAGE_SIZE):
            assert paginator, f"{call.method}: {tokens} in the answer but no botocore paginator to follow them"
        if kind == PAGE_SIZE:
            assert paginator["limit_key"] in call.params, f"{call.method} pages only with {paginator['limit_key']}: {why}"
        if kind == ONE_PAGE:
            limit = next(k for k in operation.input_shape.members if re.search(r"(?i)limit|max", k))
            assert call.params.get(limit) == operation.input_shape.members[limit].metadata["max"], (
                f"{call.method} has no paginator: it must ask for the largest page ({why})")


@pytest.mark.parametrize("row", RESOURCE_TYPES, ids=lambda r: r.type)
def test_the_pagination_notes_are_true(row):
    for call in _calls(row):
        if (row.service, call.method) not in PAGINATION:
            continue
        client, operation = _model(row.service, call.method)
        kind, _ = PAGINATION[row.service, call.method]
        has_token = any(TOKEN_MEMBER.search(m) for m in (operation.output_shape.members if operation.output_shape else {}))
        assert has_token == (kind != NO_TOKEN), f"{call.method} is noted {kind!r}"
