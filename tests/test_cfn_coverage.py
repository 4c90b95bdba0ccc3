"""Every catalog type that moto's CloudFormation can create, deployed in one stack and scanned: each resource
must come out `managed` by its stack (CloudFormation physical ids match live natural ids), and nothing the
stack made may be called `unmanaged`."""

from __future__ import annotations

import json

import boto3
import pytest

from driftgraph.demo import aws_environment, moto_server
from graph.resource_types import CATALOG

REGION = "us-east-1"

TEMPLATE = {
    "AWSTemplateFormatVersion": "2010-09-09",
    "Resources": {
        "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.50.0.0/16", "Tags": [{"Key": "team", "Value": "cov"}]}},
        "SubnetA": {"Type": "AWS::EC2::Subnet", "Properties": {"VpcId": {"Ref": "Vpc"}, "CidrBlock": "10.50.1.0/24", "AvailabilityZone": "us-east-1a"}},
        "SubnetB": {"Type": "AWS::EC2::Subnet", "Properties": {"VpcId": {"Ref": "Vpc"}, "CidrBlock": "10.50.2.0/24", "AvailabilityZone": "us-east-1b"}},
        "Group": {"Type": "AWS::EC2::SecurityGroup", "Properties": {"GroupDescription": "cov", "VpcId": {"Ref": "Vpc"},
                  "SecurityGroupIngress": [{"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "CidrIp": "10.0.0.0/8"}]}},
        "Server": {"Type": "AWS::EC2::Instance", "Properties": {"ImageId": "ami-12c6146b", "InstanceType": "t3.micro",
                   "SubnetId": {"Ref": "SubnetA"}, "SecurityGroupIds": [{"Ref": "Group"}]}},
        "Disk": {"Type": "AWS::EC2::Volume", "Properties": {"AvailabilityZone": "us-east-1a", "Size": 10, "VolumeType": "gp2"}},
        "Address": {"Type": "AWS::EC2::EIP", "Properties": {"Domain": "vpc"}},
        "Nat": {"Type": "AWS::EC2::NatGateway", "Properties": {"SubnetId": {"Ref": "SubnetA"}, "AllocationId": {"Fn::GetAtt": ["Address", "AllocationId"]}}},
        "Gateway": {"Type": "AWS::EC2::InternetGateway"},
        "Attach": {"Type": "AWS::EC2::VPCGatewayAttachment", "Properties": {"VpcId": {"Ref": "Vpc"}, "InternetGatewayId": {"Ref": "Gateway"}}},
        "Routes": {"Type": "AWS::EC2::RouteTable", "Properties": {"VpcId": {"Ref": "Vpc"}}},
        "Interface": {"Type": "AWS::EC2::NetworkInterface", "Properties": {"SubnetId": {"Ref": "SubnetB"}, "Description": "cov"}},
        "Template": {"Type": "AWS::EC2::LaunchTemplate", "Properties": {"LaunchTemplateName": "cov-lt",
                     "LaunchTemplateData": {"ImageId": "ami-12c6146b"}}},
        "Endpoint": {"Type": "AWS::EC2::VPCEndpoint", "Properties": {"VpcId": {"Ref": "Vpc"}, "ServiceName": "com.amazonaws.us-east-1.s3",
                     "VpcEndpointType": "Gateway", "RouteTableIds": [{"Ref": "Routes"}]}},
        "Group2": {"Type": "AWS::AutoScaling::AutoScalingGroup", "Properties": {"MinSize": "0", "MaxSize": "1",
                   "LaunchTemplate": {"LaunchTemplateId": {"Ref": "Template"}, "Version": "1"}, "VPCZoneIdentifier": [{"Ref": "SubnetA"}]}},
        "Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "cov-bucket-1"}},
        "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [
                 {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}}},
        "User": {"Type": "AWS::IAM::User", "Properties": {"UserName": "cov-user"}},
        "Policy": {"Type": "AWS::IAM::ManagedPolicy", "Properties": {"PolicyDocument": {"Version": "2012-10-17", "Statement": [
                   {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}]}}},
        "Profile": {"Type": "AWS::IAM::InstanceProfile", "Properties": {"Roles": [{"Ref": "Role"}]}},
        "Function": {"Type": "AWS::Lambda::Function", "Properties": {"Runtime": "python3.12", "Handler": "index.handler",
                     "Role": {"Fn::GetAtt": ["Role", "Arn"]}, "Code": {"ZipFile": "def handler(e, c):\n    return 1\n"}}},
        "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"VisibilityTimeout": 40}},
        "Topic": {"Type": "AWS::SNS::Topic"},
        "Table": {"Type": "AWS::DynamoDB::Table", "Properties": {"BillingMode": "PAY_PER_REQUEST",
                  "AttributeDefinitions": [{"AttributeName": "k", "AttributeType": "S"}], "KeySchema": [{"AttributeName": "k", "KeyType": "HASH"}]}},
        "Stream": {"Type": "AWS::Kinesis::Stream", "Properties": {"ShardCount": 1}},
        "DbSubnets": {"Type": "AWS::RDS::DBSubnetGroup", "Properties": {"DBSubnetGroupDescription": "cov",
                      "SubnetIds": [{"Ref": "SubnetA"}, {"Ref": "SubnetB"}]}},
        "Database": {"Type": "AWS::RDS::DBInstance", "Properties": {"DBInstanceClass": "db.t3.micro", "Engine": "postgres",
                     "AllocatedStorage": "20", "MasterUsername": "u", "MasterUserPassword": "cov-not-a-secret",
                     "DBSubnetGroupName": {"Ref": "DbSubnets"}}},
        "Files": {"Type": "AWS::EFS::FileSystem"},
        "Key": {"Type": "AWS::KMS::Key", "Properties": {"Description": "cov", "KeyPolicy": {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:*", "Resource": "*"}]}}},
        "KeyAlias": {"Type": "AWS::KMS::Alias", "Properties": {"AliasName": "alias/cov", "TargetKeyId": {"Ref": "Key"}}},
        "Logs": {"Type": "AWS::Logs::LogGroup", "Properties": {"RetentionInDays": 7}},
        "Cluster": {"Type": "AWS::ECS::Cluster"},
        "Task": {"Type": "AWS::ECS::TaskDefinition", "Properties": {"Family": "cov", "ContainerDefinitions": [
                 {"Name": "app", "Image": "nginx", "Memory": 128}]}},
        "Service": {"Type": "AWS::ECS::Service", "Properties": {"Cluster": {"Ref": "Cluster"}, "TaskDefinition": {"Ref": "Task"},
                    "DesiredCount": 0}},
        "Repository": {"Type": "AWS::ECR::Repository", "Properties": {"RepositoryName": "cov-repo"}},
        "Balancer": {"Type": "AWS::ElasticLoadBalancingV2::LoadBalancer", "Properties": {"Subnets": [{"Ref": "SubnetA"}, {"Ref": "SubnetB"}]}},
        "Targets": {"Type": "AWS::ElasticLoadBalancingV2::TargetGroup", "Properties": {"Port": 80, "Protocol": "HTTP", "VpcId": {"Ref": "Vpc"}}},
        "Listener": {"Type": "AWS::ElasticLoadBalancingV2::Listener", "Properties": {"LoadBalancerArn": {"Ref": "Balancer"}, "Port": 80,
                     "Protocol": "HTTP", "DefaultActions": [{"Type": "forward", "TargetGroupArn": {"Ref": "Targets"}}]}},
        "Zone": {"Type": "AWS::Route53::HostedZone", "Properties": {"Name": "cov.internal"}},
        "Parameter": {"Type": "AWS::SSM::Parameter", "Properties": {"Name": "/cov/param", "Type": "String", "Value": "v"}},
        "Rule": {"Type": "AWS::Events::Rule", "Properties": {"ScheduleExpression": "rate(1 hour)"}},
    },
}


# Properties the way CDK writes them (explicit defaults, GetAtt ids, FIFO queues, IMMUTABLE tags...): the
# scan must find no drift in a stack nobody touched.
DETAILED = {"Resources": {
  "V": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.9.0.0/16", "EnableDnsHostnames": True, "EnableDnsSupport": True, "InstanceTenancy": "default", "Tags": [{"Key": "Name", "Value": "S/Vpc"}]}},
  "P": {"Type": "AWS::EC2::Subnet", "Properties": {"VpcId": {"Ref": "V"}, "CidrBlock": "10.9.0.0/24", "AvailabilityZone": {"Fn::Select": [0, {"Fn::GetAZs": ""}]}, "MapPublicIpOnLaunch": True, "Tags": [{"Key": "aws-cdk:subnet-type", "Value": "Public"}]}},
  "G": {"Type": "AWS::EC2::SecurityGroup", "Properties": {"GroupDescription": "S/Sg", "VpcId": {"Ref": "V"}, "SecurityGroupEgress": [{"CidrIp": "0.0.0.0/0", "Description": "Allow all outbound traffic by default", "IpProtocol": "-1"}]}},
  "G2": {"Type": "AWS::EC2::SecurityGroup", "Properties": {"GroupDescription": "S/Sg2", "VpcId": {"Ref": "V"}, "SecurityGroupIngress": [{"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "SourceSecurityGroupId": {"Fn::GetAtt": ["G", "GroupId"]}, "Description": "from G"}]}},
  "L": {"Type": "AWS::ElasticLoadBalancingV2::LoadBalancer", "Properties": {"Scheme": "internet-facing", "Type": "application", "Subnets": [{"Ref": "P"}], "SecurityGroups": [{"Fn::GetAtt": ["G", "GroupId"]}]}},
  "TG": {"Type": "AWS::ElasticLoadBalancingV2::TargetGroup", "Properties": {"Port": 80, "Protocol": "HTTP", "TargetType": "ip", "VpcId": {"Ref": "V"}}},
  "TD": {"Type": "AWS::ECS::TaskDefinition", "Properties": {"Cpu": "256", "Memory": "512", "NetworkMode": "awsvpc", "RequiresCompatibilities": ["FARGATE"], "ContainerDefinitions": [{"Name": "web", "Image": "nginx", "Essential": True}]}},
  "T": {"Type": "AWS::DynamoDB::Table", "Properties": {"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}], "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}], "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}}},
  "K": {"Type": "AWS::KMS::Key", "Properties": {"KeyPolicy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:*", "Resource": "*"}]}, "EnableKeyRotation": True}},
  "Q": {"Type": "AWS::SQS::Queue", "Properties": {"FifoQueue": True, "QueueName": "x.fifo", "ContentBasedDeduplication": True, "MessageRetentionPeriod": 1209600, "ReceiveMessageWaitTimeSeconds": 20, "DelaySeconds": 5}},
  "R": {"Type": "AWS::IAM::Role", "Properties": {"Path": "/app/", "MaxSessionDuration": 7200, "AssumeRolePolicyDocument": {"Statement": [{"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": ["ec2.amazonaws.com", "lambda.amazonaws.com"]}}], "Version": "2012-10-17"}}},
  "E": {"Type": "AWS::ECR::Repository", "Properties": {"RepositoryName": "probe", "ImageTagMutability": "IMMUTABLE", "ImageScanningConfiguration": {"ScanOnPush": True}}},
  "LG": {"Type": "AWS::Logs::LogGroup", "Properties": {"RetentionInDays": 14}},
  "Z": {"Type": "AWS::Route53::HostedZone", "Properties": {"Name": "probe.internal", "HostedZoneConfig": {"Comment": "probe zone"}}},
  "RU": {"Type": "AWS::Events::Rule", "Properties": {"ScheduleExpression": "rate(5 minutes)", "Description": "probe", "State": "ENABLED"}},
  "SN": {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": "Probe"}},
  "FN": {"Type": "AWS::Lambda::Function", "Properties": {"Runtime": "nodejs20.x", "Handler": "index.h", "MemorySize": 512, "Timeout": 10, "Role": {"Fn::GetAtt": ["R", "Arn"]}, "Code": {"ZipFile": "exports.h=()=>1"}}},
  "SP": {"Type": "AWS::SSM::Parameter", "Properties": {"Name": "/probe/p", "Type": "String", "Value": "x", "Description": "probe param"}},
  "EFS": {"Type": "AWS::EFS::FileSystem", "Properties": {"Encrypted": True, "PerformanceMode": "generalPurpose"}},
  "KS": {"Type": "AWS::Kinesis::Stream", "Properties": {"ShardCount": 1}},
}}


@pytest.fixture(scope="module")
def covered(tmp_path_factory):
    from driftgraph.scan import ScanOptions, run_scan
    from graph.report import build_report
    from graph.store import open_database

    db = tmp_path_factory.mktemp("cov") / "cov.db"
    with moto_server() as endpoint, aws_environment(endpoint):
        cfn = boto3.client("cloudformation", region_name=REGION)
        cfn.create_stack(StackName="coverage", TemplateBody=json.dumps(TEMPLATE), Capabilities=["CAPABILITY_IAM"])
        cfn.create_stack(StackName="detailed", TemplateBody=json.dumps(DETAILED), Capabilities=["CAPABILITY_NAMED_IAM"])
        stack_resources = cfn.list_stack_resources(StackName="coverage")["StackResourceSummaries"]
        run_scan(ScanOptions(str(db), regions=(REGION,)))
    return stack_resources, build_report(open_database(db))


def test_the_template_exercises_most_catalog_types(covered):
    stack_resources, _ = covered
    types = {r["ResourceType"] for r in stack_resources if r.get("ResourceType") in CATALOG}
    assert len(types) >= 38, sorted(set(CATALOG) - types)


def test_every_stack_resource_of_a_catalog_type_is_managed_by_the_stack(covered):
    stack_resources, report = covered
    owned = {}
    for resource in report["resources"]:
        for owner in resource["owners"]:
            if owner["tool"] == "cloudformation" and "coverage" in owner["source"]:
                owned[owner["address"]] = resource
    wrong = {}
    for summary in stack_resources:
        if summary.get("ResourceType") not in CATALOG:
            continue
        resource = owned.get(summary["LogicalResourceId"])
        if resource is None or resource["status"] != "managed":
            wrong[summary["LogicalResourceId"]] = (summary["PhysicalResourceId"], resource and resource["status"])
    assert not wrong, wrong


def test_nothing_the_stack_made_is_called_unmanaged_and_there_is_no_false_drift(covered):
    _, report = covered
    unmanaged = [(r["type"], r["name"], r["reason"]) for r in report["resources"] if r["status"] == "unmanaged"]
    assert unmanaged == []
    drift = [(r["name"], d) for r in report["resources"] for d in r["drift"]]
    assert drift == []
    assert report["summary"]["by_status"]["missing"] == 0
