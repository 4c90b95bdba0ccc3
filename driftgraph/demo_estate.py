"""The embedded demo estate: builds a realistic mixed AWS estate inside a moto server and writes its Terraform state.

This is scaffolding for the demo and the tests, not product code: it is the one place that writes to
AWS, so it builds its own boto3 clients and refuses any endpoint that is not a loopback moto server.
It plays four roles: CloudFormation, CDK and SAM deploys (the templates in fixtures/), a `terraform apply`
(creating resources and writing the state a real apply would, with the AWS provider's attribute names),
people clicking in the console (hand-made resources, drift), and AWS itself (service-linked roles).
"""

from __future__ import annotations

import io
import json
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import boto3

ACCOUNT = "123456789012"
PRIMARY, SECONDARY = "us-east-1", "eu-west-1"
REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "fixtures"
# the cloud assemblies of the CDK apps the estate deploys, as `cdk synth` left them: the demo scan reads them
CDK_OUTS = tuple(str(FIXTURES / "cdk" / app / "cdk.out") for app in ("v1", "v1-multi", "v1-no-version-reporting", "v2"))
AWS_PROVIDER = 'provider["registry.terraform.io/hashicorp/aws"]'

# Planted secrets: the demo and the tests prove none of these reaches the database, a report or a log.
PLANTED_SECRETS = (
    "PLANTED-SSM-SECRET-d3m0",
    "PLANTED-RDS-PASSWORD-d3m0",
    "PLANTED-API-KEY-d3m0",
    "PLANTED-LAMBDA-TOKEN-d3m0",
    "PLANTED-CFN-NOECHO-d3m0",
)


@dataclass(frozen=True)
class DemoStack:
    """A stack the demo deploys: its name, its template under fixtures/, the parameters the deploying tool passes."""

    name: str
    template: str
    parameters: dict[str, str] = field(default_factory=dict)


# What `cdk bootstrap` (aws-cdk 2.1148.1, modern bootstrap, no options, into a fresh environment) passes to
# fixtures/cdk/bootstrap/bootstrap-template.yaml: the AWS-managed S3 key (so no KMS key is made) and the public
# access block on; options left unset (bucket name, qualifier, permissions boundary) take the defaults. It also
# passes TrustedAccounts, TrustedAccountsForLookup and CloudFormationExecutionPolicies as "", which are their
# defaults: they are left out here because moto splits a CommaDelimitedList it is given into a Python list and
# DescribeStacks then shows "['']" (AWS shows ""), a value no real stack reports. The stack made is the same:
# no trusted accounts, and the execution role gets AdministratorAccess.
CDK_BOOTSTRAP_PARAMETERS = {
    "FileAssetsBucketKmsKeyId": "AWS_MANAGED_KEY",
    "PublicAccessBlockConfiguration": "true",
}

# Deploy order matters: a stack that imports an export comes after the stack that exports it (moto, like
# CloudFormation, fails an import of an export that does not exist), and CDK v2 stacks read the bootstrap
# version parameter. Waves: payments-network, CDKToolkit, legacy-platform, visit-counter import nothing;
# orders-service imports payments-network; legacy-reports imports orders-service; legacy-ingest and legacy-audit
# import legacy-platform; legacy-analytics imports legacy-ingest.
DEMO_STACKS = (
    DemoStack("payments-network", "cfn/payments-network.yaml", {"AdminPassword": "PLANTED-CFN-NOECHO-d3m0"}),
    DemoStack("CDKToolkit", "cdk/bootstrap/bootstrap-template.yaml", CDK_BOOTSTRAP_PARAMETERS),
    DemoStack("orders-service", "cdk/v2/cdk.out/orders-service.template.json"),
    DemoStack("legacy-reports", "cdk/v1/cdk.out/legacy-reports.template.json"),
    DemoStack("legacy-platform", "cdk/v1-multi/cdk.out/legacy-platform.template.json"),
    DemoStack("legacy-ingest", "cdk/v1-multi/cdk.out/legacy-ingest.template.json"),
    DemoStack("legacy-analytics", "cdk/v1-multi/cdk.out/legacy-analytics.template.json"),
    DemoStack("legacy-audit", "cdk/v1-no-version-reporting/cdk.out/legacy-audit.template.json"),
    DemoStack("visit-counter", "sam/visit-counter.yaml"),
)


# What the scan must say of the resources a demo stack lists, by type: its own (managed), or part of another
# resource (an inline IAM policy belongs to its role). Types not named here are not checked one by one.
STACK_RESOURCE_STATUS = {
    "AWS::SQS::Queue": "managed",
    "AWS::DynamoDB::Table": "managed",
    "AWS::S3::Bucket": "managed",
    "AWS::SNS::Topic": "managed",
    "AWS::IAM::Role": "managed",
    "AWS::ECR::Repository": "managed",
    "AWS::SSM::Parameter": "managed",
    "AWS::Lambda::Function": "managed",
    "AWS::Logs::LogGroup": "managed",
    "AWS::IAM::Policy": "child",
}


def _loopback_only(endpoint: str) -> str:
    host = urlparse(endpoint).hostname or ""
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise RuntimeError(f"the demo estate writes only to a loopback moto server, not {endpoint}")
    return endpoint


@dataclass
class Estate:
    """What was built, for the summary and for tests that check the scan against it."""

    expected: dict[str, str] = field(default_factory=dict)  # resource ARN or id -> expected status
    state_files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def expect(self, key: str, status: str) -> None:
        self.expected[key] = status


class Builder:
    def __init__(self, endpoint: str, workdir: Path):
        self.endpoint = _loopback_only(endpoint)
        self.workdir = workdir
        self.estate = Estate()
        self._clients: dict[tuple[str, str], Any] = {}

    def client(self, service: str, region: str = PRIMARY):
        key = (service, region)
        if key not in self._clients:
            self._clients[key] = boto3.client(
                service,
                region_name=region,
                endpoint_url=self.endpoint,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
        return self._clients[key]

    # ------------------------------------------------------------------ CloudFormation and CDK deploys

    def deploy_stack(self, name: str, template_path: Path, region: str = PRIMARY, parameters=None) -> dict:
        cfn = self.client("cloudformation", region)
        body = template_path.read_text()
        cfn.create_stack(
            StackName=name,
            TemplateBody=body,
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in (parameters or {}).items()],
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
        )
        cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        return cfn.describe_stacks(StackName=name)["Stacks"][0]

    def deploy_cloudformation(self) -> None:
        for stack in DEMO_STACKS:
            self.deploy_stack(stack.name, FIXTURES / stack.template, parameters=stack.parameters)
        cfn = self.client("cloudformation")
        for stack in DEMO_STACKS:
            for summary in cfn.list_stack_resources(StackName=stack.name)["StackResourceSummaries"]:
                status = STACK_RESOURCE_STATUS.get(summary.get("ResourceType"))
                if status:
                    physical_id = summary["PhysicalResourceId"]
                    # a queue's physical id is its URL; the scan knows it by name
                    key = physical_id.rsplit("/", 1)[-1] if physical_id.startswith("http") else physical_id
                    self.estate.expect(key, status)
        # Drift on a CloudFormation resource: someone raised the payments queue's timeout by hand.
        queue = self.client("sqs").get_queue_url(QueueName="payments-events")["QueueUrl"]
        self.client("sqs").set_queue_attributes(QueueUrl=queue, Attributes={"VisibilityTimeout": "300"})
        self.estate.notes.append("payments-events: visibility timeout 45 -> 300 by hand (CloudFormation drift)")

    # ------------------------------------------------------------------ hand-made and AWS-made resources

    def click_in_console(self) -> None:
        ec2 = self.client("ec2")
        default_vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
        subnet = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [default_vpc]}])["Subnets"][0]["SubnetId"]
        group = ec2.create_security_group(GroupName="bastion-ssh", Description="ssh from the office", VpcId=default_vpc)
        ec2.authorize_security_group_ingress(
            GroupId=group["GroupId"],
            IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "203.0.113.0/24"}]}],
        )
        bastion = ec2.run_instances(
            ImageId="ami-12c6146b",
            InstanceType="t3.nano",
            MinCount=1,
            MaxCount=1,
            SubnetId=subnet,
            SecurityGroupIds=[group["GroupId"]],
            UserData="#!/bin/sh\nexport DB_PASSWORD=PLANTED-RDS-PASSWORD-d3m0\n",
            TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "bastion-by-hand"}]}],
        )["Instances"][0]
        eip = ec2.allocate_address(Domain="vpc")
        ec2.associate_address(AllocationId=eip["AllocationId"], InstanceId=bastion["InstanceId"])
        self.client("iam").create_user(UserName="ops-alice", Tags=[{"Key": "team", "Value": "ops"}])
        self.client("s3").create_bucket(Bucket="driftgraph-demo-scratch")
        topic = self.client("sns").create_topic(Name="ops-alerts")["TopicArn"]
        self.client("ssm").put_parameter(Name="/ops/maintenance-window", Value="sun 02:00", Type="String")
        self.client("cloudwatch").put_metric_alarm(
            AlarmName="ops-cpu-high",
            MetricName="CPUUtilization",
            Namespace="AWS/EC2",
            Statistic="Average",
            Period=300,
            EvaluationPeriods=2,
            Threshold=90.0,
            ComparisonOperator="GreaterThanThreshold",
            AlarmActions=[topic],
        )
        self.client("logs").create_log_group(logGroupName="/ops/by-hand")
        for key in ("bastion-ssh", bastion["InstanceId"], eip["AllocationId"], "ops-alice", "driftgraph-demo-scratch",
                    topic, "/ops/maintenance-window", "ops-cpu-high", "/ops/by-hand"):
            self.estate.expect(key, "unmanaged")
        # ... and in the second region
        west = SECONDARY
        self.client("sqs", west).create_queue(QueueName="eu-manual-queue")
        self.client("dynamodb", west).create_table(
            TableName="eu-manual-cache",
            AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        self.client("ecr", west).create_repository(repositoryName="eu-manual-images")
        west_vpc = self.client("ec2", west).describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]
        self.client("ec2", west).create_security_group(GroupName="eu-manual-sg", Description="by hand", VpcId=west_vpc["VpcId"])
        for key in ("eu-manual-queue", "eu-manual-cache", "eu-manual-images", "eu-manual-sg"):
            self.estate.expect(key, "unmanaged")
        # AWS itself: a service-linked role appears when a service is first used.
        role = self.client("iam").create_service_linked_role(AWSServiceName="elasticloadbalancing.amazonaws.com")
        self.estate.expect(role["Role"]["RoleName"], "default")

    # ------------------------------------------------------------------ terraform apply

    def terraform_apply(self) -> None:
        state = TerraformState("platform")
        ec2, iam = self.client("ec2"), self.client("iam")
        vpc = ec2.create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]
        vpc_tags = {"Name": "platform", "team": "platform"}
        ec2.create_tags(Resources=[vpc["VpcId"]], Tags=_pairs(vpc_tags))
        state.add("aws_vpc", "main", {
            "id": vpc["VpcId"], "arn": f"arn:aws:ec2:{PRIMARY}:{ACCOUNT}:vpc/{vpc['VpcId']}",
            "cidr_block": "10.30.0.0/16", "enable_dns_support": True, "enable_dns_hostnames": False,
            "instance_tenancy": "default", "owner_id": ACCOUNT, "tags": vpc_tags, "tags_all": vpc_tags,
        })
        subnets = {}
        for key, (cidr, az) in {"a": ("10.30.1.0/24", "us-east-1a"), "b": ("10.30.2.0/24", "us-east-1b")}.items():
            subnet = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock=cidr, AvailabilityZone=az)["Subnet"]
            tags = {"Name": f"platform-private-{key}", "team": "platform"}
            ec2.create_tags(Resources=[subnet["SubnetId"]], Tags=_pairs(tags))
            subnets[key] = subnet["SubnetId"]
            state.add("aws_subnet", "private", {
                "id": subnet["SubnetId"], "arn": subnet.get("SubnetArn") or f"arn:aws:ec2:{PRIMARY}:{ACCOUNT}:subnet/{subnet['SubnetId']}",
                "vpc_id": vpc["VpcId"], "cidr_block": cidr, "availability_zone": az,
                "map_public_ip_on_launch": False, "tags": tags, "tags_all": tags,
            }, module="module.network", index_key=key)
        group = ec2.create_security_group(GroupName="platform-app", Description="platform app servers", VpcId=vpc["VpcId"])["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
            {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.30.0.0/16"}]},
        ])
        sg_tags = {"team": "platform"}
        ec2.create_tags(Resources=[group], Tags=_pairs(sg_tags))
        state.add("aws_security_group", "app", {
            "id": group, "arn": f"arn:aws:ec2:{PRIMARY}:{ACCOUNT}:security-group/{group}", "name": "platform-app",
            "description": "platform app servers", "vpc_id": vpc["VpcId"], "owner_id": ACCOUNT,
            "ingress": [_tf_rule(22, "10.0.0.0/8"), _tf_rule(443, "10.30.0.0/16")],
            "egress": [{"cidr_blocks": ["0.0.0.0/0"], "description": "", "from_port": 0, "ipv6_cidr_blocks": [],
                        "prefix_list_ids": [], "protocol": "-1", "security_groups": [], "self": False, "to_port": 0}],
            "revoke_rules_on_delete": False, "tags": sg_tags, "tags_all": sg_tags,
        })
        state.add("aws_security_group_rule", "app_https", {
            "id": f"sgrule-{zlib.crc32(group.encode()):010d}", "security_group_id": group, "type": "ingress",
            "protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": ["10.30.0.0/16"],
        })
        # Drift on a Terraform resource: someone opened RDP by hand.
        ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
        self.estate.notes.append("platform-app security group: RDP opened to the world by hand (Terraform drift)")

        trust = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
        role = iam.create_role(RoleName="platform-app", AssumeRolePolicyDocument=json.dumps(trust),
                               Tags=[{"Key": "team", "Value": "platform"}])["Role"]
        state.add("aws_iam_role", "app", {
            "id": "platform-app", "arn": role["Arn"], "name": "platform-app", "path": "/",
            "assume_role_policy": json.dumps(trust), "max_session_duration": 3600, "unique_id": role["RoleId"],
            "tags": {"team": "platform"}, "tags_all": {"team": "platform"},
        })
        read_logs = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["logs:GetLogEvents"], "Resource": "*"}]}
        policy = iam.create_policy(PolicyName="platform-read-logs", PolicyDocument=json.dumps(read_logs),
                                   Tags=[{"Key": "team", "Value": "platform"}])["Policy"]
        state.add("aws_iam_policy", "read_logs", {
            "id": policy["Arn"], "arn": policy["Arn"], "name": "platform-read-logs", "path": "/", "description": "",
            "policy": json.dumps(read_logs), "policy_id": policy["PolicyId"],
            "tags": {"team": "platform"}, "tags_all": {"team": "platform"},
        })
        iam.attach_role_policy(RoleName="platform-app", PolicyArn=policy["Arn"])
        state.add("aws_iam_role_policy_attachment", "read_logs", {
            "id": "platform-app-20261122000000000000000001", "role": "platform-app", "policy_arn": policy["Arn"],
        })
        profile = iam.create_instance_profile(InstanceProfileName="platform-app")["InstanceProfile"]
        iam.add_role_to_instance_profile(InstanceProfileName="platform-app", RoleName="platform-app")
        state.add("aws_iam_instance_profile", "app", {
            "id": "platform-app", "arn": profile["Arn"], "name": "platform-app", "path": "/", "role": "platform-app",
            "tags": {}, "tags_all": {},
        })
        for index in (0, 1):
            tags = {"Name": f"platform-app-{index}", "team": "platform"}
            instance = ec2.run_instances(
                ImageId="ami-12c6146b", InstanceType="t3.micro", MinCount=1, MaxCount=1, SubnetId=subnets["a"],
                SecurityGroupIds=[group], IamInstanceProfile={"Name": "platform-app"},
                TagSpecifications=[{"ResourceType": "instance", "Tags": _pairs(tags)}],
            )["Instances"][0]
            state.add("aws_instance", "app", {
                "id": instance["InstanceId"], "arn": f"arn:aws:ec2:{PRIMARY}:{ACCOUNT}:instance/{instance['InstanceId']}",
                "ami": "ami-12c6146b", "instance_type": "t3.micro", "subnet_id": subnets["a"],
                "vpc_security_group_ids": [group], "iam_instance_profile": "platform-app",
                "private_ip": instance.get("PrivateIpAddress"), "user_data": None, "tags": tags, "tags_all": tags,
            }, index_key=index)
            self.estate.expect(instance["InstanceId"], "managed")
            last_instance = instance["InstanceId"]
        # Drift: the second app server was resized by hand.
        ec2.modify_instance_attribute(InstanceId=last_instance, InstanceType={"Value": "t3.large"})
        self.estate.notes.append("platform-app-1: t3.micro -> t3.large by hand (Terraform drift)")

        sqs = self.client("sqs")
        queue_url = sqs.create_queue(QueueName="platform-jobs", Attributes={"VisibilityTimeout": "30"},
                                     tags={"team": "platform"})["QueueUrl"]
        state.add("aws_sqs_queue", "jobs", _tf_queue("platform-jobs", PRIMARY, 30, {"team": "platform"}))
        sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"VisibilityTimeout": "90"})
        self.estate.notes.append("platform-jobs: visibility timeout 30 -> 90 by hand (Terraform drift)")
        self.estate.expect("platform-jobs", "managed")

        s3 = self.client("s3")
        s3.create_bucket(Bucket="driftgraph-demo-platform-logs")
        s3.put_bucket_versioning(Bucket="driftgraph-demo-platform-logs", VersioningConfiguration={"Status": "Enabled"})
        state.add("aws_s3_bucket", "logs", _tf_bucket("driftgraph-demo-platform-logs", PRIMARY))
        state.add("aws_s3_bucket_versioning", "logs", {
            "id": "driftgraph-demo-platform-logs", "bucket": "driftgraph-demo-platform-logs",
            "versioning_configuration": [{"status": "Enabled", "mfa_delete": ""}],
        })
        self.estate.expect("driftgraph-demo-platform-logs", "managed")

        self.client("dynamodb").create_table(
            TableName="platform-sessions", BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        )
        state.add("aws_dynamodb_table", "sessions", {
            "id": "platform-sessions", "arn": f"arn:aws:dynamodb:{PRIMARY}:{ACCOUNT}:table/platform-sessions",
            "name": "platform-sessions", "billing_mode": "PAY_PER_REQUEST", "hash_key": "id", "range_key": None,
            "attribute": [{"name": "id", "type": "S"}], "tags": {}, "tags_all": {},
        })
        kms = self.client("kms")
        key = kms.create_key(Description="platform data key")["KeyMetadata"]
        kms.create_alias(AliasName="alias/platform-data", TargetKeyId=key["KeyId"])
        state.add("aws_kms_key", "data", {
            "id": key["KeyId"], "key_id": key["KeyId"], "arn": key["Arn"], "description": "platform data key",
            "key_usage": "ENCRYPT_DECRYPT", "enable_key_rotation": False, "is_enabled": True, "tags": {}, "tags_all": {},
        })
        state.add("aws_kms_alias", "data", {
            "id": "alias/platform-data", "name": "alias/platform-data", "target_key_id": key["KeyId"],
            "arn": f"arn:aws:kms:{PRIMARY}:{ACCOUNT}:alias/platform-data", "target_key_arn": key["Arn"],
        })
        self.client("logs").create_log_group(logGroupName="/platform/app")
        self.client("logs").put_retention_policy(logGroupName="/platform/app", retentionInDays=30)
        state.add("aws_cloudwatch_log_group", "app", {
            "id": "/platform/app", "name": "/platform/app", "retention_in_days": 30,
            "arn": f"arn:aws:logs:{PRIMARY}:{ACCOUNT}:log-group:/platform/app", "kms_key_id": "", "tags": {}, "tags_all": {},
        })
        self.client("ssm").put_parameter(Name="/platform/db/password", Value="PLANTED-SSM-SECRET-d3m0", Type="SecureString")
        state.add("aws_ssm_parameter", "db_password", {
            "id": "/platform/db/password", "name": "/platform/db/password", "type": "SecureString",
            "value": "PLANTED-SSM-SECRET-d3m0", "insecure_value": None, "description": "",
            "arn": f"arn:aws:ssm:{PRIMARY}:{ACCOUNT}:parameter/platform/db/password", "tier": "Standard",
            "tags": {}, "tags_all": {},
        }, sensitive=["value"])

        rds = self.client("rds")
        rds.create_db_subnet_group(DBSubnetGroupName="platform-db", DBSubnetGroupDescription="platform database",
                                   SubnetIds=list(subnets.values()))
        state.add("aws_db_subnet_group", "main", {
            "id": "platform-db", "name": "platform-db", "description": "platform database",
            "arn": f"arn:aws:rds:{PRIMARY}:{ACCOUNT}:subgrp:platform-db", "subnet_ids": sorted(subnets.values()),
            "tags": {}, "tags_all": {},
        })
        rds.create_db_instance(DBInstanceIdentifier="platform-db", DBInstanceClass="db.t3.micro", Engine="postgres",
                               AllocatedStorage=20, MasterUsername="platform", MasterUserPassword="PLANTED-RDS-PASSWORD-d3m0",
                               DBSubnetGroupName="platform-db")
        db = rds.describe_db_instances(DBInstanceIdentifier="platform-db")["DBInstances"][0]
        state.add("aws_db_instance", "main", {
            "id": db.get("DbiResourceId") or "db-PLATFORM", "identifier": "platform-db", "arn": db["DBInstanceArn"],
            "instance_class": "db.t3.micro", "engine": "postgres", "allocated_storage": 20, "multi_az": False,
            "username": "platform", "password": "PLANTED-RDS-PASSWORD-d3m0", "db_subnet_group_name": "platform-db",
            "tags": {}, "tags_all": {},
        }, sensitive=["password"])
        self.estate.expect("platform-db", "managed")

        secrets = self.client("secretsmanager")
        secret = secrets.create_secret(Name="platform/api-key", SecretString="PLANTED-API-KEY-d3m0")
        state.add("aws_secretsmanager_secret", "api", {
            "id": secret["ARN"], "arn": secret["ARN"], "name": "platform/api-key", "description": "",
            "recovery_window_in_days": 30, "tags": {}, "tags_all": {},
        })
        state.add("aws_secretsmanager_secret_version", "api", {
            "id": f"{secret['ARN']}|{secret['VersionId']}", "arn": secret["ARN"], "secret_id": secret["ARN"],
            "secret_string": "PLANTED-API-KEY-d3m0", "version_id": secret["VersionId"], "version_stages": ["AWSCURRENT"],
        }, sensitive=["secret_string"])

        function = self.client("lambda").create_function(
            FunctionName="platform-worker", Runtime="python3.12", Role=role["Arn"], Handler="index.handler",
            Code={"ZipFile": _zip("index.py", "def handler(event, context):\n    return 'ok'\n")},
            Timeout=30, MemorySize=256, Environment={"Variables": {"API_TOKEN": "PLANTED-LAMBDA-TOKEN-d3m0"}},
            Tags={"team": "platform"},
        )
        state.add("aws_lambda_function", "worker", {
            "id": "platform-worker", "function_name": "platform-worker", "arn": function["FunctionArn"],
            "runtime": "python3.12", "handler": "index.handler", "role": role["Arn"], "timeout": 30, "memory_size": 256,
            "environment": [{"variables": {"API_TOKEN": "PLANTED-LAMBDA-TOKEN-d3m0"}}],
            "tags": {"team": "platform"}, "tags_all": {"team": "platform"},
        }, sensitive=["environment"])
        # Lambda makes the function's log group itself on first invocation.
        self.client("logs").create_log_group(logGroupName="/aws/lambda/platform-worker")
        self.estate.expect("/aws/lambda/platform-worker", "child")

        # A resource two tools claim: the payments artifacts bucket, also adopted into this state.
        state.add("aws_s3_bucket", "shared_artifacts", _tf_bucket("driftgraph-demo-payments-artifacts", PRIMARY,
                                                                   {"team": "payments"}))
        self.estate.expect("driftgraph-demo-payments-artifacts", "conflict")
        # Ghosts: in the state, gone from AWS.
        state.add("aws_sqs_queue", "legacy", _tf_queue("platform-legacy-jobs", PRIMARY, 30, {}))
        self.client("ecr").create_repository(repositoryName="platform-old-images")
        state.add("aws_ecr_repository", "old", {
            "id": "platform-old-images", "name": "platform-old-images",
            "arn": f"arn:aws:ecr:{PRIMARY}:{ACCOUNT}:repository/platform-old-images",
            "image_tag_mutability": "MUTABLE", "image_scanning_configuration": [{"scan_on_push": False}],
            "registry_id": ACCOUNT, "repository_url": f"{ACCOUNT}.dkr.ecr.{PRIMARY}.amazonaws.com/platform-old-images",
            "tags": {}, "tags_all": {},
        })
        self.client("ecr").delete_repository(repositoryName="platform-old-images")
        self.estate.expect("platform-legacy-jobs", "missing")
        self.estate.expect("platform-old-images", "missing")

        # The second region, through a provider alias.
        west = SECONDARY
        self.client("sqs", west).create_queue(QueueName="platform-replica", tags={"team": "platform"})
        state.add("aws_sqs_queue", "replica", _tf_queue("platform-replica", west, 30, {"team": "platform"}), provider_alias="west")
        self.client("s3", west).create_bucket(Bucket="driftgraph-demo-platform-replica",
                                              CreateBucketConfiguration={"LocationConstraint": west})
        state.add("aws_s3_bucket", "replica", _tf_bucket("driftgraph-demo-platform-replica", west), provider_alias="west")
        self.estate.expect("platform-replica", "managed")
        self.estate.expect("driftgraph-demo-platform-replica", "managed")
        state.add_data_source("aws_caller_identity", "current", {"account_id": ACCOUNT, "id": ACCOUNT})
        self.estate.state_files.append(state.write(self.workdir / "terraform" / "platform" / "terraform.tfstate"))

        self._terraform_edge()

    def _terraform_edge(self) -> None:
        """A second, smaller state (another team's), with for_each over a module."""
        state = TerraformState("edge")
        sns = self.client("sns")
        for env in ("staging", "prod"):
            name = f"edge-alerts-{env}"
            arn = sns.create_topic(Name=name, Tags=[{"Key": "env", "Value": env}])["TopicArn"]
            state.add("aws_sns_topic", "alerts", {
                "id": arn, "arn": arn, "name": name, "display_name": "", "policy": "", "fifo_topic": False,
                "tags": {"env": env}, "tags_all": {"env": env},
            }, module=f'module.alerts["{env}"]')
            self.estate.expect(arn, "managed")
        self.client("cloudwatch").put_metric_alarm(
            AlarmName="edge-queue-depth", MetricName="ApproximateNumberOfMessagesVisible", Namespace="AWS/SQS",
            Statistic="Maximum", Period=60, EvaluationPeriods=3, Threshold=100.0, ComparisonOperator="GreaterThanThreshold",
        )
        state.add("aws_cloudwatch_metric_alarm", "queue_depth", {
            "id": "edge-queue-depth", "alarm_name": "edge-queue-depth", "arn": f"arn:aws:cloudwatch:{PRIMARY}:{ACCOUNT}:alarm:edge-queue-depth",
            "metric_name": "ApproximateNumberOfMessagesVisible", "namespace": "AWS/SQS", "statistic": "Maximum",
            "period": 60, "evaluation_periods": 3, "threshold": 100, "comparison_operator": "GreaterThanThreshold",
            "tags": {}, "tags_all": {},
        })
        ecs = self.client("ecs")
        cluster = ecs.create_cluster(clusterName="edge")["cluster"]
        state.add("aws_ecs_cluster", "edge", {"id": cluster["clusterArn"], "arn": cluster["clusterArn"], "name": "edge",
                                             "tags": {}, "tags_all": {}})
        events = self.client("events")
        rule_arn = events.put_rule(Name="edge-nightly", ScheduleExpression="cron(0 3 * * ? *)", State="ENABLED")["RuleArn"]
        state.add("aws_cloudwatch_event_rule", "nightly", {
            "id": "edge-nightly", "name": "edge-nightly", "arn": rule_arn, "schedule_expression": "cron(0 3 * * ? *)",
            "description": "", "event_bus_name": "default", "state": "ENABLED", "tags": {}, "tags_all": {},
        })
        zone = self.client("route53").create_hosted_zone(Name="edge.internal", CallerReference="edge")["HostedZone"]
        zone_id = zone["Id"].rsplit("/", 1)[-1]
        state.add("aws_route53_zone", "internal", {
            "id": zone_id, "zone_id": zone_id, "name": "edge.internal", "comment": "Managed by Terraform",
            "arn": f"arn:aws:route53:::hostedzone/{zone_id}", "tags": {}, "tags_all": {},
        })
        self.client("route53").change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [{
            "Action": "CREATE", "ResourceRecordSet": {"Name": "api.edge.internal", "Type": "A", "TTL": 60,
                                                      "ResourceRecords": [{"Value": "10.30.1.10"}]}}]})
        state.add("aws_route53_record", "api", {
            "id": f"{zone_id}_api.edge.internal_A", "zone_id": zone_id, "name": "api.edge.internal", "type": "A",
            "ttl": 60, "records": ["10.30.1.10"],
        })
        self.estate.state_files.append(state.write(self.workdir / "terraform" / "edge" / "terraform.tfstate"))


# ---------------------------------------------------------------------------------------- state writing


class TerraformState:
    """Accumulates resources as a Terraform 1.9 apply with AWS provider 5.x writes them (state format v4)."""

    def __init__(self, name: str):
        self.name = name
        self.resources: list[dict] = []

    def add(self, type_: str, name: str, attributes: dict, module: str | None = None, index_key=None,
            provider_alias: str | None = None, sensitive: list[str] | None = None) -> None:
        provider = AWS_PROVIDER + (f".{provider_alias}" if provider_alias else "")
        instance = {
            "schema_version": 0,
            "attributes": attributes,
            "sensitive_attributes": [[{"type": "get_attr", "value": s}] for s in sensitive or []],
            "private": "bnVsbA==",
        }
        if index_key is not None:
            instance["index_key"] = index_key
        for resource in self.resources:
            if (resource["module"] if "module" in resource else None, resource["type"], resource["name"]) == (module, type_, name):
                resource["instances"].append(instance)
                return
        resource = {"mode": "managed", "type": type_, "name": name, "provider": provider, "instances": [instance]}
        if module:
            resource = {"module": module, **resource}
        self.resources.append(resource)

    def add_data_source(self, type_: str, name: str, attributes: dict) -> None:
        self.resources.append({"mode": "data", "type": type_, "name": name, "provider": AWS_PROVIDER,
                               "instances": [{"schema_version": 0, "attributes": attributes, "sensitive_attributes": []}]})

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        document = {
            "version": 4,
            "terraform_version": "1.9.8",
            "serial": 42,
            "lineage": f"{zlib.crc32(self.name.encode()):08x}-0000-4000-8000-000000000000",
            "outputs": {},
            "resources": self.resources,
            "check_results": None,
        }
        path.write_text(json.dumps(document, indent=2) + "\n")
        return path


def _pairs(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def _tf_rule(port: int, cidr: str) -> dict:
    return {"cidr_blocks": [cidr], "description": "", "from_port": port, "ipv6_cidr_blocks": [], "prefix_list_ids": [],
            "protocol": "tcp", "security_groups": [], "self": False, "to_port": port}


def _tf_queue(name: str, region: str, visibility: int, tags: dict) -> dict:
    url = f"https://sqs.{region}.amazonaws.com/{ACCOUNT}/{name}"
    return {
        "id": url, "url": url, "arn": f"arn:aws:sqs:{region}:{ACCOUNT}:{name}", "name": name,
        "visibility_timeout_seconds": visibility, "message_retention_seconds": 345600, "delay_seconds": 0,
        "max_message_size": 262144, "receive_wait_time_seconds": 0, "fifo_queue": False,
        "content_based_deduplication": False, "sqs_managed_sse_enabled": True, "policy": "", "redrive_policy": "",
        "tags": tags, "tags_all": tags,
    }


def _tf_bucket(name: str, region: str, tags: dict | None = None) -> dict:
    tags = tags or {}
    return {
        "id": name, "bucket": name, "arn": f"arn:aws:s3:::{name}", "region": region,
        "bucket_domain_name": f"{name}.s3.amazonaws.com", "force_destroy": False, "object_lock_enabled": False,
        "versioning": [{"enabled": name.endswith("-logs"), "mfa_delete": False}], "tags": tags, "tags_all": tags,
    }


def _zip(name: str, text: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, text)
    return buffer.getvalue()


def a_week_later(endpoint: str, workdir: Path, estate: Estate) -> list[str]:
    """What changes in the demo estate between its two scans, a week apart; returns what to tell the user."""
    builder = Builder(endpoint, workdir)
    sqs, logs = builder.client("sqs"), builder.client("logs")
    sqs.create_queue(QueueName="incident-hotfix-queue", tags={"team": "payments"})  # made by hand during an incident
    estate.expect("incident-hotfix-queue", "unmanaged")
    adopted = TerraformState("adopted")  # someone wrote code for the scratch bucket and ran `terraform import`
    adopted.add("aws_s3_bucket", "scratch", _tf_bucket("driftgraph-demo-scratch", PRIMARY))
    estate.state_files.append(adopted.write(workdir / "terraform" / "adopted" / "terraform.tfstate"))
    estate.expect("driftgraph-demo-scratch", "managed")
    logs.delete_log_group(logGroupName="/ops/by-hand")  # cleaned up
    estate.expected.pop("/ops/by-hand", None)
    west = builder.client("sqs", SECONDARY)
    replica = west.get_queue_url(QueueName="platform-replica")["QueueUrl"]
    west.set_queue_attributes(QueueUrl=replica, Attributes={"VisibilityTimeout": "120"})  # Terraform says 30
    payments = sqs.get_queue_url(QueueName="payments-events")["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=payments, Attributes={"VisibilityTimeout": "45"})  # back to what the stack says
    return ["incident-hotfix-queue: a queue made by hand (new unmanaged)",
            "driftgraph-demo-scratch: adopted into a Terraform state (no longer unmanaged)",
            "/ops/by-hand: the log group deleted",
            "platform-replica: visibility timeout 30 -> 120 by hand (new Terraform drift)",
            "payments-events: visibility timeout set back to 45 (its drift gone)"]


def build_estate(endpoint: str, workdir: Path) -> Estate:
    """Build the whole demo estate into the moto server at `endpoint`; Terraform state goes under workdir."""
    builder = Builder(endpoint, workdir)
    builder.deploy_cloudformation()
    builder.terraform_apply()
    builder.click_in_console()
    return builder.estate
