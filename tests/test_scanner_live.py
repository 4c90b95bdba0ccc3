"""The live scanner through the real boto3 path against moto in server mode: every catalog type is listed."""

from __future__ import annotations

import io
import json
import zipfile

import boto3
import pytest
from botocore.exceptions import ClientError

from edge_servers import FORWARD, aws_proxy, denied, operation_of, scan_env
from graph.records import GLOBAL
from graph.resource_types import RESOURCE_TYPES
from scanner.clients import AwsSession, ReadOnlyViolation, is_allowed_operation
from scanner.live import classify_failure, scan_live

ACCOUNT = "123456789012"
REGION = "us-west-2"  # a region no other test writes to, so the counts below are exact


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", "def handler(e, c):\n    return 1\n")
    return buffer.getvalue()


def make_one_of_each(region: str) -> dict[str, str]:
    """One resource of every catalog type, tagged where the type has tags; returns type -> natural id."""
    c = lambda service: boto3.client(service, region_name=region)  # noqa: E731
    tag = [{"Key": "owner", "Value": "catalog-test"}]
    made: dict[str, str] = {}
    ec2 = c("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.99.0.0/16", TagSpecifications=[{"ResourceType": "vpc", "Tags": tag}])["Vpc"]["VpcId"]
    made["AWS::EC2::VPC"] = vpc
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.99.1.0/24", AvailabilityZone=f"{region}a")["Subnet"]["SubnetId"]
    subnet2 = ec2.create_subnet(VpcId=vpc, CidrBlock="10.99.2.0/24", AvailabilityZone=f"{region}b")["Subnet"]["SubnetId"]
    made["AWS::EC2::Subnet"] = subnet
    sg = ec2.create_security_group(GroupName="catalog-sg", Description="d", VpcId=vpc)["GroupId"]
    made["AWS::EC2::SecurityGroup"] = sg
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, SubnetId=subnet,
                                 TagSpecifications=[{"ResourceType": "instance", "Tags": tag}])["Instances"][0]
    made["AWS::EC2::Instance"] = instance["InstanceId"]
    made["AWS::EC2::Volume"] = ec2.create_volume(AvailabilityZone=f"{region}a", Size=8)["VolumeId"]
    eip = ec2.allocate_address(Domain="vpc")
    made["AWS::EC2::EIP"] = eip["AllocationId"]
    made["AWS::EC2::NatGateway"] = ec2.create_nat_gateway(SubnetId=subnet, AllocationId=eip["AllocationId"])["NatGateway"]["NatGatewayId"]
    made["AWS::EC2::InternetGateway"] = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    made["AWS::EC2::RouteTable"] = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    made["AWS::EC2::NetworkInterface"] = ec2.create_network_interface(SubnetId=subnet)["NetworkInterface"]["NetworkInterfaceId"]
    made["AWS::EC2::NetworkAcl"] = ec2.create_network_acl(VpcId=vpc)["NetworkAcl"]["NetworkAclId"]
    ec2.create_key_pair(KeyName="catalog-key")
    made["AWS::EC2::KeyPair"] = "catalog-key"
    made["AWS::EC2::LaunchTemplate"] = ec2.create_launch_template(
        LaunchTemplateName="catalog-lt", LaunchTemplateData={"ImageId": "ami-12c6146b"})["LaunchTemplate"]["LaunchTemplateId"]
    made["AWS::EC2::VPCEndpoint"] = ec2.create_vpc_endpoint(VpcId=vpc, ServiceName=f"com.amazonaws.{region}.s3")["VpcEndpoint"]["VpcEndpointId"]
    c("autoscaling").create_auto_scaling_group(AutoScalingGroupName="catalog-asg", MinSize=0, MaxSize=1,
                                               LaunchTemplate={"LaunchTemplateName": "catalog-lt"}, VPCZoneIdentifier=subnet)
    made["AWS::AutoScaling::AutoScalingGroup"] = "catalog-asg"
    c("s3").create_bucket(Bucket="catalog-test-bucket", CreateBucketConfiguration={"LocationConstraint": region})
    c("s3").put_bucket_tagging(Bucket="catalog-test-bucket", Tagging={"TagSet": tag})
    made["AWS::S3::Bucket"] = "catalog-test-bucket"
    iam = c("iam")
    role = iam.create_role(RoleName="catalog-role", AssumeRolePolicyDocument="{}", Tags=tag)["Role"]
    made["AWS::IAM::Role"] = "catalog-role"
    iam.create_user(UserName="catalog-user", Tags=tag)
    made["AWS::IAM::User"] = "catalog-user"
    iam.create_group(GroupName="catalog-group")
    made["AWS::IAM::Group"] = "catalog-group"
    made["AWS::IAM::ManagedPolicy"] = iam.create_policy(PolicyName="catalog-policy", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}]}))["Policy"]["Arn"]
    iam.create_instance_profile(InstanceProfileName="catalog-profile")
    made["AWS::IAM::InstanceProfile"] = "catalog-profile"
    c("lambda").create_function(FunctionName="catalog-fn", Runtime="python3.12", Role=role["Arn"], Handler="index.handler",
                                Code={"ZipFile": _zip()}, Tags={"owner": "catalog-test"})
    made["AWS::Lambda::Function"] = "catalog-fn"
    c("sqs").create_queue(QueueName="catalog-queue", tags={"owner": "catalog-test"})
    made["AWS::SQS::Queue"] = "catalog-queue"
    made["AWS::SNS::Topic"] = c("sns").create_topic(Name="catalog-topic", Tags=tag)["TopicArn"]
    c("dynamodb").create_table(TableName="catalog-table", BillingMode="PAY_PER_REQUEST", Tags=tag,
                               AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                               KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}])
    made["AWS::DynamoDB::Table"] = "catalog-table"
    c("kinesis").create_stream(StreamName="catalog-stream", ShardCount=1)
    made["AWS::Kinesis::Stream"] = "catalog-stream"
    rds = c("rds")
    rds.create_db_subnet_group(DBSubnetGroupName="catalog-subnets", DBSubnetGroupDescription="d", SubnetIds=[subnet, subnet2])
    made["AWS::RDS::DBSubnetGroup"] = "catalog-subnets"
    rds.create_db_instance(DBInstanceIdentifier="catalog-db", DBInstanceClass="db.t3.micro", Engine="postgres",
                           AllocatedStorage=20, MasterUsername="u", MasterUserPassword="not-a-real-secret-1",
                           Tags=tag, DBSubnetGroupName="catalog-subnets")
    made["AWS::RDS::DBInstance"] = "catalog-db"
    rds.create_db_cluster(DBClusterIdentifier="catalog-cluster", Engine="aurora-postgresql", MasterUsername="u",
                          MasterUserPassword="not-a-real-secret-2", Tags=tag)
    made["AWS::RDS::DBCluster"] = "catalog-cluster"
    cache = c("elasticache")
    cache.create_cache_cluster(CacheClusterId="catalog-cache", Engine="redis", CacheNodeType="cache.t3.micro", NumCacheNodes=1)
    made["AWS::ElastiCache::CacheCluster"] = "catalog-cache"
    cache.create_replication_group(ReplicationGroupId="catalog-rg", ReplicationGroupDescription="d", Engine="redis",
                                   CacheNodeType="cache.t3.micro")
    made["AWS::ElastiCache::ReplicationGroup"] = "catalog-rg"
    made["AWS::EFS::FileSystem"] = c("efs").create_file_system(CreationToken="catalog", Tags=[{"Key": "owner", "Value": "catalog-test"}])["FileSystemId"]
    key = c("kms").create_key(Description="catalog", Tags=[{"TagKey": "owner", "TagValue": "catalog-test"}])["KeyMetadata"]["KeyId"]
    made["AWS::KMS::Key"] = key
    c("kms").create_alias(AliasName="alias/catalog", TargetKeyId=key)
    made["AWS::KMS::Alias"] = "alias/catalog"
    c("logs").create_log_group(logGroupName="/catalog/logs", tags={"owner": "catalog-test"})
    made["AWS::Logs::LogGroup"] = "/catalog/logs"
    c("cloudwatch").put_metric_alarm(AlarmName="catalog-alarm", MetricName="m", Namespace="n", Statistic="Sum",
                                     Period=60, EvaluationPeriods=1, Threshold=1.0, ComparisonOperator="GreaterThanThreshold",
                                     Tags=tag)
    made["AWS::CloudWatch::Alarm"] = "catalog-alarm"
    ecs = c("ecs")
    ecs.create_cluster(clusterName="catalog-cluster", tags=[{"key": "owner", "value": "catalog-test"}])["cluster"]
    made["AWS::ECS::Cluster"] = "catalog-cluster"
    task = ecs.register_task_definition(family="catalog-task", containerDefinitions=[
        {"name": "app", "image": "nginx", "memory": 128, "environment": [{"name": "TOKEN", "value": "not-a-real-secret-3"}]}])
    made["AWS::ECS::TaskDefinition"] = task["taskDefinition"]["taskDefinitionArn"]
    made["AWS::ECS::Service"] = ecs.create_service(cluster="catalog-cluster", serviceName="catalog-svc",
                                                   taskDefinition="catalog-task", desiredCount=0)["service"]["serviceArn"]
    c("ecr").create_repository(repositoryName="catalog-repo", tags=tag)
    made["AWS::ECR::Repository"] = "catalog-repo"
    elb = c("elbv2")
    lb = elb.create_load_balancer(Name="catalog-lb", Subnets=[subnet, subnet2], Tags=tag)["LoadBalancers"][0]["LoadBalancerArn"]
    made["AWS::ElasticLoadBalancingV2::LoadBalancer"] = lb
    tg = elb.create_target_group(Name="catalog-tg", Protocol="HTTP", Port=80, VpcId=vpc)["TargetGroups"][0]["TargetGroupArn"]
    made["AWS::ElasticLoadBalancingV2::TargetGroup"] = tg
    made["AWS::ElasticLoadBalancingV2::Listener"] = elb.create_listener(
        LoadBalancerArn=lb, Protocol="HTTP", Port=80, DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])["Listeners"][0]["ListenerArn"]
    zone = c("route53").create_hosted_zone(Name="catalog.internal", CallerReference="catalog")["HostedZone"]["Id"]
    made["AWS::Route53::HostedZone"] = zone.rsplit("/", 1)[-1]
    c("ssm").put_parameter(Name="/catalog/param", Value="v", Type="String", Tags=tag)
    made["AWS::SSM::Parameter"] = "/catalog/param"
    made["AWS::SecretsManager::Secret"] = c("secretsmanager").create_secret(Name="catalog-secret", SecretString="not-a-real-secret-4", Tags=tag)["ARN"]
    c("events").put_rule(Name="catalog-rule", ScheduleExpression="rate(1 hour)", Tags=tag)
    made["AWS::Events::Rule"] = "catalog-rule"
    made["AWS::CloudFormation::Stack"] = c("cloudformation").create_stack(StackName="catalog-stack", TemplateBody=json.dumps(
        {"Resources": {"T": {"Type": "AWS::SNS::Topic"}}}))["StackId"]
    return made


@pytest.fixture(scope="module")
def live_scan(moto_endpoint):
    import os

    saved = dict(os.environ)
    os.environ.update({"AWS_ENDPOINT_URL": moto_endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": REGION, "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull})
    os.environ.pop("AWS_PROFILE", None)
    try:
        made = make_one_of_each(REGION)
        scan = scan_live(AwsSession(default_region=REGION), ACCOUNT, "aws", [REGION])
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return made, scan


def test_one_of_each_type_is_made_so_every_row_is_exercised(live_scan):
    made, _ = live_scan
    assert set(made) == {row.type for row in RESOURCE_TYPES}


@pytest.mark.parametrize("row", RESOURCE_TYPES, ids=lambda r: r.type)
def test_every_catalog_type_is_listed_and_found(live_scan, row):
    made, scan = live_scan
    listings = [l for l in scan.listings if l.type == row.type]
    assert len(listings) == 1, listings
    assert listings[0].outcome == "ok", listings[0]
    found = {r.natural_id: r for r in scan.records if r.type == row.type}
    want = made[row.type].lower() if row.lowercase_id else made[row.type]
    assert want in found, f"{row.type}: {want} not among {sorted(found)[:5]}"
    record = found[want]
    assert record.arn and record.arn.startswith("arn:aws:"), record.arn
    assert record.account == ACCOUNT
    assert record.region == (GLOBAL if row.scope == "global" else REGION)
    assert record.failed_calls == (), f"{row.type}: detail or tag calls failed: {record.failed_calls}"


TAGGED = {"AWS::EC2::VPC", "AWS::EC2::Instance", "AWS::S3::Bucket", "AWS::IAM::Role", "AWS::IAM::User",
          "AWS::Lambda::Function", "AWS::SQS::Queue", "AWS::SNS::Topic", "AWS::DynamoDB::Table", "AWS::RDS::DBInstance",
          "AWS::KMS::Key", "AWS::Logs::LogGroup", "AWS::CloudWatch::Alarm", "AWS::ECS::Cluster", "AWS::ECR::Repository",
          "AWS::ElasticLoadBalancingV2::LoadBalancer", "AWS::SSM::Parameter", "AWS::SecretsManager::Secret",
          "AWS::Events::Rule", "AWS::EFS::FileSystem"}


@pytest.mark.parametrize("type_", sorted(TAGGED))
def test_tags_are_read_for_tagged_types(live_scan, type_):
    made, scan = live_scan
    want = made[type_].lower() if "RDS" in type_ else made[type_]
    record = next(r for r in scan.records if r.type == type_ and r.natural_id == want)
    assert record.tags.get("owner") == "catalog-test", record.tags


def test_relationships_become_edges(live_scan):
    made, scan = live_scan
    instance = next(r for r in scan.records if r.natural_id == made["AWS::EC2::Instance"])
    assert ("in_subnet", "AWS::EC2::Subnet", made["AWS::EC2::Subnet"]) in instance.edges
    assert ("in_vpc", "AWS::EC2::VPC", made["AWS::EC2::VPC"]) in instance.edges
    function = next(r for r in scan.records if r.natural_id == "catalog-fn")
    assert any(rel == "uses_role" and value.endswith("role/catalog-role") for rel, _, value in function.edges)
    listener = next(r for r in scan.records if r.type == "AWS::ElasticLoadBalancingV2::Listener")
    assert ("listens_on", "AWS::ElasticLoadBalancingV2::LoadBalancer", made["AWS::ElasticLoadBalancingV2::LoadBalancer"]) in listener.edges


def test_no_secret_value_is_read(live_scan):
    _, scan = live_scan
    text = repr(scan.records)
    for secret in ("not-a-real-secret-1", "not-a-real-secret-2", "not-a-real-secret-3", "not-a-real-secret-4"):
        assert secret not in text


def _detail_operations() -> set[str]:
    """The API names of every catalog detail and tag call."""
    names = set()
    for row in RESOURCE_TYPES:
        client = boto3.client(row.service, region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
        calls = [call for _, call in row.details] + ([row.tags.call] if row.tags and row.tags.call else [])
        names |= {client.meta.method_to_api_mapping[call.method] for call in calls}
    return names | {"GetResources"}  # the Tagging API, whose failure leaves the per-item tag calls to answer


def test_every_listed_item_is_kept_when_every_detail_and_tag_call_fails(live_scan, moto_endpoint, monkeypatch):
    """Ids come from the list calls: a detail call that fails leaves the item's details unknown, never the item
    dropped (a dropped item is a declared resource reported missing)."""
    made, described = live_scan
    details = _detail_operations()
    with aws_proxy(moto_endpoint, lambda r: denied(r) if operation_of(r) in details else FORWARD) as (endpoint, seen):
        for key, value in scan_env(endpoint, AWS_DEFAULT_REGION=REGION).items():
            monkeypatch.setenv(key, value)
        scan = scan_live(AwsSession(default_region=REGION), ACCOUNT, "aws", [REGION])
    assert {"DescribeClusters", "GetBucketLocation", "DescribeTable"} <= {operation_of(r) for r in seen}
    for row in RESOURCE_TYPES:
        want = {r.natural_id for r in described.records if r.type == row.type}
        got = {r.natural_id: r for r in scan.records if r.type == row.type}
        assert want <= set(got), f"{row.type}: {sorted(want - set(got))} dropped when its detail calls failed"
        if row.scope != "global_list":  # a bucket whose region is unknown is kept in any scan (other tests' too)
            assert set(got) == want, row.type
        if row.details or (row.tags and row.tags.call):
            mine = made[row.type].lower() if row.lowercase_id else made[row.type]
            assert got[mine].failed_calls, f"{row.type}: the failed calls are named on the record"
    assert all(l.outcome == "ok" for l in scan.listings if l.call is None), "the list calls themselves went through"


def test_the_guard_refuses_writes_before_sending(aws):
    session = AwsSession(default_region=REGION)
    sqs = session.client("sqs")
    with pytest.raises(ReadOnlyViolation):
        sqs.create_queue(QueueName="must-not-exist")
    with pytest.raises(ReadOnlyViolation):
        session.client("secretsmanager").get_secret_value(SecretId="catalog-secret")
    # nothing reached moto: the queue does not exist
    assert not any(u.endswith("/must-not-exist") for u in boto3.client("sqs", region_name=REGION).list_queues().get("QueueUrls", []))
    assert is_allowed_operation("ec2", "DescribeInstances") and not is_allowed_operation("s3", "DeleteBucket")
    assert not is_allowed_operation("ssm", "GetParameters") and not is_allowed_operation("s3", "PutObject")


def test_failures_are_classified():
    def error(code):
        return ClientError({"Error": {"Code": code, "Message": "m"}}, "ListThings")

    assert classify_failure(error("AccessDenied")).outcome == "access_denied"
    assert classify_failure(error("UnauthorizedOperation")).outcome == "access_denied"
    assert classify_failure(error("ThrottlingException")).outcome == "throttled"
    assert classify_failure(error("InternalError")).outcome == "error"


def test_a_name_tag_does_not_rename_a_resource_whose_identifier_is_its_name():
    from scanner.live import to_record
    from graph.resource_types import CATALOG

    queue = {"QueueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/zz-evil", "QueueName": "zz-evil",
             "__tags__": {"Name": "platform-jobs"}}
    record = to_record(CATALOG["AWS::SQS::Queue"], queue, "123456789012", "us-east-1", "aws")
    assert record.name == "zz-evil"
    vpc = {"VpcId": "vpc-1", "CidrBlock": "10.0.0.0/16", "Tags": [{"Key": "Name", "Value": "core"}]}
    assert to_record(CATALOG["AWS::EC2::VPC"], vpc, "123456789012", "us-east-1", "aws").name == "core"
