"""Fewer calls per resource, the same records: the calls a scan sends are counted at a proxy in front of moto.

Tags come from one Resource Groups Tagging API GetResources per region (a failed one falls back to a tag call per
item, never to "no tags"), IAM roles' tags from one GetAccountAuthorizationDetails when there are many, and the
calls that take several resources at once are sent that way (ECS DescribeClusters and DescribeServices, ELBv2
DescribeTags, Route 53 ListTagsForResources); a bucket's region from ListBuckets when it says it."""

from __future__ import annotations

from collections import Counter

import boto3
import pytest

from driftgraph.demo import moto_server
from edge_servers import FORWARD, Rewrite, aws_proxy, denied, operation_of, scan_env
from scanner.clients import AwsSession
from scanner.live import scan_live

ACCOUNT = "123456789012"
REGION = "eu-north-1"
ROLES, USERS, ZONES, SERVICES = 24, 3, 12, 12
TYPES = ["AWS::IAM::Role", "AWS::IAM::User", "AWS::SQS::Queue", "AWS::SNS::Topic", "AWS::DynamoDB::Table",
         "AWS::KMS::Key", "AWS::Logs::LogGroup", "AWS::SSM::Parameter", "AWS::ECS::Cluster", "AWS::ECS::Service",
         "AWS::ElasticLoadBalancingV2::LoadBalancer", "AWS::ElasticLoadBalancingV2::TargetGroup",
         "AWS::Route53::HostedZone"]
# the per-item tag calls the Tagging API replaces, by (signing service, operation)
PER_ITEM_TAG_CALLS = {("sqs", "ListQueueTags"), ("sns", "ListTagsForResource"), ("dynamodb", "ListTagsOfResource"),
                      ("kms", "ListResourceTags"), ("logs", "ListTagsLogGroup"), ("ssm", "ListTagsForResource")}


def _tags(n: int, kind: str) -> dict[str, str]:
    return {"team": f"{kind}-{n % 3}", "n": str(n)}


@pytest.fixture(scope="module")
def estate():
    """Many resources of the batched types, each tagged, in a moto server of their own."""
    with moto_server() as endpoint:
        def c(service):
            return boto3.client(service, region_name=REGION, endpoint_url=endpoint, aws_access_key_id="x",
                                aws_secret_access_key="x")

        pairs = lambda tags, k="Key", v="Value": [{k: key, v: value} for key, value in tags.items()]  # noqa: E731
        for n in range(ROLES):
            c("iam").create_role(RoleName=f"role-{n}", AssumeRolePolicyDocument="{}", Tags=pairs(_tags(n, "role")))
        for n in range(USERS):
            c("iam").create_user(UserName=f"user-{n}", Tags=pairs(_tags(n, "user")))
        for n in range(4):
            c("sqs").create_queue(QueueName=f"queue-{n}", tags=_tags(n, "queue"))
            c("sns").create_topic(Name=f"topic-{n}", Tags=pairs(_tags(n, "topic")))
            c("dynamodb").create_table(TableName=f"table-{n}", BillingMode="PAY_PER_REQUEST", Tags=pairs(_tags(n, "table")),
                                       AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                                       KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}])
            c("kms").create_key(Tags=pairs(_tags(n, "key"), "TagKey", "TagValue"))
            c("logs").create_log_group(logGroupName=f"/fewer/{n}", tags=_tags(n, "logs"))
            c("ssm").put_parameter(Name=f"/fewer/param-{n}", Value="v", Type="String", Tags=pairs(_tags(n, "param")))
        c("sqs").create_queue(QueueName="untagged-queue")  # GetResources does not name it: no tags, known
        vpc = c("ec2").create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
        subnets = [c("ec2").create_subnet(VpcId=vpc, CidrBlock=f"10.9.{n}.0/24", AvailabilityZone=f"{REGION}{z}")
                   ["Subnet"]["SubnetId"] for n, z in enumerate("ab")]
        for n in range(3):
            c("elbv2").create_load_balancer(Name=f"lb-{n}", Subnets=subnets, Tags=pairs(_tags(n, "lb")))
        for n in range(4):
            c("elbv2").create_target_group(Name=f"tg-{n}", Protocol="HTTP", Port=80, VpcId=vpc,
                                           Tags=pairs(_tags(n, "tg")))
        for n in range(3):
            c("ecs").create_cluster(clusterName=f"cluster-{n}", tags=pairs(_tags(n, "cluster"), "key", "value"))
        c("ecs").register_task_definition(family="web", containerDefinitions=[{"name": "web", "image": "nginx",
                                                                                "memory": 128}])
        for n in range(SERVICES):
            c("ecs").create_service(cluster="cluster-0", serviceName=f"service-{n}", taskDefinition="web",
                                    desiredCount=0, tags=pairs(_tags(n, "service"), "key", "value"))
        for n in range(ZONES):
            zone = c("route53").create_hosted_zone(Name=f"zone-{n}.example.com", CallerReference=str(n))
            c("route53").change_tags_for_resource(ResourceType="hostedzone", ResourceId=zone["HostedZone"]["Id"]
                                                  .rsplit("/", 1)[-1], AddTags=pairs(_tags(n, "zone")))
        for n in range(2):
            c("s3").create_bucket(Bucket=f"fewer-bucket-{n}", CreateBucketConfiguration={"LocationConstraint": REGION})
        yield endpoint


def _scan(endpoint, monkeypatch, answer=lambda request: FORWARD, types=TYPES):
    with aws_proxy(endpoint, answer) as (proxy, seen):
        for key, value in scan_env(proxy, AWS_DEFAULT_REGION=REGION).items():
            monkeypatch.setenv(key, value)
        scan = scan_live(AwsSession(default_region=REGION), ACCOUNT, "aws", [REGION], types)
    assert all(listing.outcome == "ok" for listing in scan.listings), [l for l in scan.listings if l.outcome != "ok"]
    return scan, Counter((r.service, operation_of(r)) for r in seen)


def _pictures(scan):
    return {(r.type, r.natural_id): (r.tags, r.attributes, r.failed_calls) for r in scan.records}


def test_tags_from_get_resources_and_batched_calls(estate, monkeypatch):
    scan, calls = _scan(estate, monkeypatch)
    assert calls["tagging", "GetResources"] == 1, "one GetResources (of every tagged type) for the region"
    assert not PER_ITEM_TAG_CALLS & set(calls), {k: v for k, v in calls.items() if k in PER_ITEM_TAG_CALLS}
    assert calls["elasticloadbalancing", "DescribeTags"] == 0
    assert calls["iam", "GetAccountAuthorizationDetails"] == 1 and calls["iam", "ListRoleTags"] == 0
    assert calls["iam", "ListUserTags"] == USERS, "a few users: a tag call each, not the whole account's details"
    assert calls["ecs", "DescribeClusters"] == 1 and calls["ecs", "DescribeServices"] == -(-SERVICES // 10)
    assert calls["route53", "ListTagsForResources"] == -(-ZONES // 10) and calls["route53", "ListTagsForResource"] == 0
    records = {(r.type, r.name): r for r in scan.records}
    assert records["AWS::SQS::Queue", "queue-2"].tags == _tags(2, "queue")
    assert records["AWS::SQS::Queue", "untagged-queue"].tags == {}
    assert records["AWS::IAM::Role", "role-7"].tags == _tags(7, "role")
    assert records["AWS::IAM::User", "user-1"].tags == _tags(1, "user")
    assert records["AWS::ElasticLoadBalancingV2::TargetGroup", "tg-3"].tags == _tags(3, "tg")
    assert records["AWS::Route53::HostedZone", "zone-11.example.com"].tags == _tags(11, "zone")
    assert records["AWS::ECS::Service", "service-11"].tags == _tags(11, "service")
    assert sum(r.type == "AWS::ECS::Service" for r in scan.records) == SERVICES
    assert all(not r.failed_calls for r in scan.records)
    tagged = [r for r in scan.records if r.type in ("AWS::DynamoDB::Table", "AWS::KMS::Key", "AWS::Logs::LogGroup",
                                                    "AWS::SSM::Parameter", "AWS::SNS::Topic")]
    assert len(tagged) >= 20 and all(r.tags and r.tags["n"] in "0123" for r in tagged)


def test_a_failed_get_resources_falls_back_to_a_tag_call_per_item_with_the_same_records(estate, monkeypatch):
    batched, _ = _scan(estate, monkeypatch)
    fallback, calls = _scan(estate, monkeypatch, lambda r: denied(r) if operation_of(r) == "GetResources" else FORWARD)
    assert calls["tagging", "GetResources"] == 1
    assert calls["sqs", "ListQueueTags"] == 5 and calls["kms", "ListResourceTags"] >= 4
    assert calls["elasticloadbalancing", "DescribeTags"] == 2, "20 ARNs a call: one for the LBs, one for the TGs"
    assert _pictures(fallback) == _pictures(batched), "the same tags and attributes, however they were asked for"


def test_a_failed_bulk_iam_call_falls_back_to_a_tag_call_per_role(estate, monkeypatch):
    only_iam = ["AWS::IAM::Role"]
    bulk, _ = _scan(estate, monkeypatch, types=only_iam)
    deny = lambda r: denied(r) if operation_of(r) == "GetAccountAuthorizationDetails" else FORWARD  # noqa: E731
    each, calls = _scan(estate, monkeypatch, deny, types=only_iam)
    assert calls["iam", "ListRoleTags"] == ROLES
    assert _pictures(each) == _pictures(bulk)


def test_a_batched_answer_that_leaves_an_item_out_fails_that_item_only(estate, monkeypatch):
    def drop_one(status, headers, body):
        import json
        answer = json.loads(body)
        answer["services"] = [s for s in answer["services"] if s["serviceName"] != "service-3"]
        return status, headers, json.dumps(answer).encode()

    scan = _scan_failing_ok(estate, monkeypatch, lambda r: Rewrite(drop_one) if operation_of(r) == "DescribeServices"
                            else FORWARD)
    services = {r.natural_id.rsplit("/", 1)[-1]: r for r in scan.records if r.type == "AWS::ECS::Service"}
    assert services["service-3"].failed_calls == ("DescribeServices",) and services["service-3"].tags is None
    assert services["service-4"].tags == _tags(4, "service") and not services["service-4"].failed_calls
    (call,) = [l for l in scan.listings if l.call]
    assert (call.call, call.error_code, call.count) == ("DescribeServices", "AnswerMismatch", 1)


def _scan_failing_ok(endpoint, monkeypatch, answer):
    with aws_proxy(endpoint, answer) as (proxy, _seen):
        for key, value in scan_env(proxy, AWS_DEFAULT_REGION=REGION).items():
            monkeypatch.setenv(key, value)
        return scan_live(AwsSession(default_region=REGION), ACCOUNT, "aws", [REGION],
                         ["AWS::ECS::Cluster", "AWS::ECS::Service"])


def test_a_bucket_region_from_list_buckets_saves_its_location_call(estate, monkeypatch):
    """AWS's ListBuckets names each bucket's region (moto's does not: the proxy adds it, as AWS would)."""
    def with_regions(status, headers, body):
        for n in range(2):
            name = f"<Name>fewer-bucket-{n}</Name>".encode()
            body = body.replace(name, name + f"<BucketRegion>{REGION}</BucketRegion>".encode())
        return status, headers, body

    types = ["AWS::S3::Bucket"]
    told, calls = _scan(estate, monkeypatch, lambda r: Rewrite(with_regions) if operation_of(r) == "ListBuckets"
                        else FORWARD, types)
    asked, asked_calls = _scan(estate, monkeypatch, types=types)
    assert calls["s3", "GetBucketLocation"] == 0 and asked_calls["s3", "GetBucketLocation"] == 2
    assert {r.natural_id: r.region for r in told.records} == {r.natural_id: r.region for r in asked.records} == {
        "fewer-bucket-0": REGION, "fewer-bucket-1": REGION}
