"""`driftgraph codify --format terraform`: what is emitted, in which groups, with which import ids, as valid HCL."""

from __future__ import annotations

import re
from pathlib import Path

import hcl2
import pytest
import sqlite_utils
from conftest import run_cli
from hcl2.utils import SerializationOptions

from graph.codify import CodifyResource, blockers, group, scan_edges, select
from graph.codify_terraform import hcl_value, import_id, render_terraform
from graph.resource_types import CATALOG, RESOURCE_TYPES

ACCOUNT = "123456789012"
PLAIN = SerializationOptions(strip_string_quotes=True, with_comments=False)

# ------------------------------------------------------------------ import ids, as the AWS provider documents them
# One realistic live resource per catalog type (as a scan stores it), the Terraform type written, and the shape
# of the id that type's "Import" section documents (registry.terraform.io/providers/hashicorp/aws/latest/docs/
# resources/<name without aws_>#import, named per row).


def live(type_, natural_id, name=None, arn=None, region="us-east-1", edges=(), targets=None):
    return CodifyResource(id=arn or f"{type_}:{natural_id}", type=type_, account=ACCOUNT, region=region,
                          name=name or natural_id, natural_id=natural_id, arn=arn, tags={}, attributes={},
                          status="unmanaged", edges_out=list(edges), targets=targets or {})


EC2 = f"arn:aws:ec2:us-east-1:{ACCOUNT}"
CLUSTER_ARN = f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/web"
LIVE = {
    # .../vpc#import: the VPC id
    "AWS::EC2::VPC": (live("AWS::EC2::VPC", "vpc-0a1b2c3d4e5f60718", arn=f"{EC2}:vpc/vpc-0a1b2c3d4e5f60718"),
                      "aws_vpc", r"vpc-[0-9a-f]{8,17}"),
    # .../subnet#import: the subnet id
    "AWS::EC2::Subnet": (live("AWS::EC2::Subnet", "subnet-0a1b2c3d4e5f60718"), "aws_subnet", r"subnet-[0-9a-f]{8,17}"),
    # .../security_group#import: the security group id
    "AWS::EC2::SecurityGroup": (live("AWS::EC2::SecurityGroup", "sg-0a1b2c3d4e5f60718", name="web"),
                                "aws_security_group", r"sg-[0-9a-f]{8,17}"),
    # .../instance#import: the instance id
    "AWS::EC2::Instance": (live("AWS::EC2::Instance", "i-0a1b2c3d4e5f60718"), "aws_instance", r"i-[0-9a-f]{8,17}"),
    # .../ebs_volume#import: the volume id
    "AWS::EC2::Volume": (live("AWS::EC2::Volume", "vol-0a1b2c3d4e5f60718"), "aws_ebs_volume", r"vol-[0-9a-f]{8,17}"),
    # .../eip#import: the allocation id (eipalloc-), for a VPC address
    "AWS::EC2::EIP": (live("AWS::EC2::EIP", "eipalloc-0a1b2c3d4e5f60718"), "aws_eip", r"eipalloc-[0-9a-f]{8,17}"),
    # .../nat_gateway#import: the NAT gateway id
    "AWS::EC2::NatGateway": (live("AWS::EC2::NatGateway", "nat-0a1b2c3d4e5f60718"), "aws_nat_gateway",
                             r"nat-[0-9a-f]{8,17}"),
    # .../internet_gateway#import: the internet gateway id
    "AWS::EC2::InternetGateway": (live("AWS::EC2::InternetGateway", "igw-0a1b2c3d4e5f60718"), "aws_internet_gateway",
                                  r"igw-[0-9a-f]{8,17}"),
    # .../route_table#import: the route table id
    "AWS::EC2::RouteTable": (live("AWS::EC2::RouteTable", "rtb-0a1b2c3d4e5f60718"), "aws_route_table",
                             r"rtb-[0-9a-f]{8,17}"),
    # .../network_interface#import: the interface id
    "AWS::EC2::NetworkInterface": (live("AWS::EC2::NetworkInterface", "eni-0a1b2c3d4e5f60718"),
                                   "aws_network_interface", r"eni-[0-9a-f]{8,17}"),
    # .../network_acl#import: the network ACL id
    "AWS::EC2::NetworkAcl": (live("AWS::EC2::NetworkAcl", "acl-0a1b2c3d4e5f60718"), "aws_network_acl",
                             r"acl-[0-9a-f]{8,17}"),
    # .../key_pair#import: the key pair name
    "AWS::EC2::KeyPair": (live("AWS::EC2::KeyPair", "deployer-key"), "aws_key_pair", r"deployer-key"),
    # .../launch_template#import: the launch template id
    "AWS::EC2::LaunchTemplate": (live("AWS::EC2::LaunchTemplate", "lt-0a1b2c3d4e5f60718", name="web"),
                                 "aws_launch_template", r"lt-[0-9a-f]{8,17}"),
    # .../vpc_endpoint#import: the endpoint id
    "AWS::EC2::VPCEndpoint": (live("AWS::EC2::VPCEndpoint", "vpce-0a1b2c3d4e5f60718"), "aws_vpc_endpoint",
                              r"vpce-[0-9a-f]{8,17}"),
    # .../autoscaling_group#import: the group name
    "AWS::AutoScaling::AutoScalingGroup": (live("AWS::AutoScaling::AutoScalingGroup", "web-asg"),
                                           "aws_autoscaling_group", r"web-asg"),
    # .../s3_bucket#import: the bucket name
    "AWS::S3::Bucket": (live("AWS::S3::Bucket", "legacy-uploads", arn="arn:aws:s3:::legacy-uploads"),
                        "aws_s3_bucket", r"legacy-uploads"),
    # .../iam_role#import: the role name
    "AWS::IAM::Role": (live("AWS::IAM::Role", "app-role", arn=f"arn:aws:iam::{ACCOUNT}:role/app-role",
                            region="global"), "aws_iam_role", r"app-role"),
    # .../iam_user#import: the user name
    "AWS::IAM::User": (live("AWS::IAM::User", "ops-alice", region="global"), "aws_iam_user", r"ops-alice"),
    # .../iam_group#import: the group name
    "AWS::IAM::Group": (live("AWS::IAM::Group", "admins", region="global"), "aws_iam_group", r"admins"),
    # .../iam_policy#import: the policy ARN
    "AWS::IAM::ManagedPolicy": (live("AWS::IAM::ManagedPolicy", f"arn:aws:iam::{ACCOUNT}:policy/deploy", name="deploy",
                                     region="global"), "aws_iam_policy", rf"arn:aws:iam::{ACCOUNT}:policy/deploy"),
    # .../iam_instance_profile#import: the profile name
    "AWS::IAM::InstanceProfile": (live("AWS::IAM::InstanceProfile", "web-profile", region="global"),
                                  "aws_iam_instance_profile", r"web-profile"),
    # .../lambda_function#import: the function name
    "AWS::Lambda::Function": (live("AWS::Lambda::Function", "resize"), "aws_lambda_function", r"resize"),
    # .../sqs_queue#import: the queue URL
    "AWS::SQS::Queue": (live("AWS::SQS::Queue", "legacy-jobs", arn=f"arn:aws:sqs:us-east-1:{ACCOUNT}:legacy-jobs"),
                        "aws_sqs_queue", rf"https://sqs\.us-east-1\.amazonaws\.com/{ACCOUNT}/legacy-jobs"),
    # .../sns_topic#import: the topic ARN
    "AWS::SNS::Topic": (live("AWS::SNS::Topic", f"arn:aws:sns:us-east-1:{ACCOUNT}:alerts", name="alerts"),
                        "aws_sns_topic", rf"arn:aws:sns:us-east-1:{ACCOUNT}:alerts"),
    # .../dynamodb_table#import: the table name
    "AWS::DynamoDB::Table": (live("AWS::DynamoDB::Table", "sessions"), "aws_dynamodb_table", r"sessions"),
    # .../kinesis_stream#import: the stream name
    "AWS::Kinesis::Stream": (live("AWS::Kinesis::Stream", "clicks"), "aws_kinesis_stream", r"clicks"),
    # .../db_instance#import: the DB identifier
    "AWS::RDS::DBInstance": (live("AWS::RDS::DBInstance", "legacy-db"), "aws_db_instance", r"legacy-db"),
    # .../rds_cluster#import: the cluster identifier
    "AWS::RDS::DBCluster": (live("AWS::RDS::DBCluster", "aurora-1"), "aws_rds_cluster", r"aurora-1"),
    # .../db_subnet_group#import: the group name
    "AWS::RDS::DBSubnetGroup": (live("AWS::RDS::DBSubnetGroup", "db-private"), "aws_db_subnet_group", r"db-private"),
    # .../elasticache_cluster#import: the cluster id
    "AWS::ElastiCache::CacheCluster": (live("AWS::ElastiCache::CacheCluster", "cache-1"), "aws_elasticache_cluster",
                                       r"cache-1"),
    # .../elasticache_replication_group#import: the replication group id
    "AWS::ElastiCache::ReplicationGroup": (live("AWS::ElastiCache::ReplicationGroup", "redis-rg"),
                                           "aws_elasticache_replication_group", r"redis-rg"),
    # .../efs_file_system#import: the file system id
    "AWS::EFS::FileSystem": (live("AWS::EFS::FileSystem", "fs-0a1b2c3d4e5f60718"), "aws_efs_file_system",
                             r"fs-[0-9a-f]{8,17}"),
    # .../kms_key#import: the key id (a UUID)
    "AWS::KMS::Key": (live("AWS::KMS::Key", "1234abcd-12ab-34cd-56ef-1234567890ab"), "aws_kms_key",
                      r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"),
    # .../kms_alias#import: the alias name, alias/...
    "AWS::KMS::Alias": (live("AWS::KMS::Alias", "alias/app"), "aws_kms_alias", r"alias/app"),
    # .../cloudwatch_log_group#import: the log group name
    "AWS::Logs::LogGroup": (live("AWS::Logs::LogGroup", "/ops/by-hand"), "aws_cloudwatch_log_group", r"/ops/by-hand"),
    # .../cloudwatch_metric_alarm#import: the alarm name
    "AWS::CloudWatch::Alarm": (live("AWS::CloudWatch::Alarm", "cpu-high"), "aws_cloudwatch_metric_alarm", r"cpu-high"),
    # .../ecs_cluster#import: the cluster name
    "AWS::ECS::Cluster": (live("AWS::ECS::Cluster", "web", arn=CLUSTER_ARN), "aws_ecs_cluster", r"web"),
    # .../ecs_service#import: cluster-name/service-name
    "AWS::ECS::Service": (
        live("AWS::ECS::Service", f"arn:aws:ecs:us-east-1:{ACCOUNT}:service/web/api", name="api",
             arn=f"arn:aws:ecs:us-east-1:{ACCOUNT}:service/web/api", edges=[("in_cluster", CLUSTER_ARN)],
             targets={CLUSTER_ARN: {"type": "AWS::ECS::Cluster", "natural_id": "web", "name": "web", "arn": CLUSTER_ARN}}),
        "aws_ecs_service", r"web/api"),
    # .../ecs_task_definition#import: the task definition ARN
    "AWS::ECS::TaskDefinition": (live("AWS::ECS::TaskDefinition", f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/api:3"),
                                 "aws_ecs_task_definition", rf"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/api:3"),
    # .../ecr_repository#import: the repository name
    "AWS::ECR::Repository": (live("AWS::ECR::Repository", "images"), "aws_ecr_repository", r"images"),
    # .../lb#import: the load balancer ARN
    "AWS::ElasticLoadBalancingV2::LoadBalancer": (
        live("AWS::ElasticLoadBalancingV2::LoadBalancer",
             f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:loadbalancer/app/web/50dc6c495c0c9188", name="web"),
        "aws_lb", rf"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:loadbalancer/app/web/[0-9a-f]+"),
    # .../lb_target_group#import: the target group ARN
    "AWS::ElasticLoadBalancingV2::TargetGroup": (
        live("AWS::ElasticLoadBalancingV2::TargetGroup",
             f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:targetgroup/web/73e2d6bc24d8a067", name="web"),
        "aws_lb_target_group", rf"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:targetgroup/web/[0-9a-f]+"),
    # .../lb_listener#import: the listener ARN
    "AWS::ElasticLoadBalancingV2::Listener": (
        live("AWS::ElasticLoadBalancingV2::Listener",
             f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2"),
        "aws_lb_listener", rf"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:listener/app/web/[0-9a-f]+/[0-9a-f]+"),
    # .../route53_zone#import: the zone id
    "AWS::Route53::HostedZone": (live("AWS::Route53::HostedZone", "Z1D633PJN98FT9", name="example.com", region="global"),
                                 "aws_route53_zone", r"Z[0-9A-Z]+"),
    # .../ssm_parameter#import: the parameter name
    "AWS::SSM::Parameter": (live("AWS::SSM::Parameter", "/ops/maintenance-window"), "aws_ssm_parameter",
                            r"/ops/maintenance-window"),
    # .../secretsmanager_secret#import: the secret ARN
    "AWS::SecretsManager::Secret": (
        live("AWS::SecretsManager::Secret", f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:db-AbCdEf", name="db"),
        "aws_secretsmanager_secret", rf"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:db-[A-Za-z0-9]{{6}}"),
    # .../cloudwatch_event_rule#import: event_bus_name/rule_name, the rule name alone on the default bus
    "AWS::Events::Rule": (live("AWS::Events::Rule", "nightly", arn=f"arn:aws:events:us-east-1:{ACCOUNT}:rule/orders/nightly"),
                          "aws_cloudwatch_event_rule", r"orders/nightly"),
    # .../cloudformation_stack#import: the stack name
    "AWS::CloudFormation::Stack": (
        live("AWS::CloudFormation::Stack", f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/network/6f1e-11ee",
             name="network", arn=f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/network/6f1e-11ee"),
        "aws_cloudformation_stack", r"network"),
}


def test_every_catalog_row_with_a_terraform_type_has_a_documented_import_id_case():
    assert {row.type for row in RESOURCE_TYPES if row.terraform} == set(LIVE)


@pytest.mark.parametrize("type_", sorted(LIVE))
def test_import_id_has_the_shape_the_provider_documents(type_):
    resource, terraform_type, shape = LIVE[type_]
    assert CATALOG[type_].terraform[0].type == terraform_type
    assert re.fullmatch(shape, import_id(resource)), import_id(resource)


def test_event_rule_on_the_default_bus_is_imported_by_its_name():
    rule = live("AWS::Events::Rule", "nightly", arn=f"arn:aws:events:us-east-1:{ACCOUNT}:rule/nightly")
    assert import_id(rule) == "nightly"


def test_china_queue_url_uses_the_china_domain():
    queue = live("AWS::SQS::Queue", "jobs", region="cn-north-1", arn=f"arn:aws-cn:sqs:cn-north-1:{ACCOUNT}:jobs")
    assert import_id(queue) == f"https://sqs.cn-north-1.amazonaws.com.cn/{ACCOUNT}/jobs"


def test_a_service_whose_cluster_is_unknown_is_a_blocker_not_a_guess():
    # the old ECS ARN format (service/NAME) does not say the cluster, and no edge names it
    service = live("AWS::ECS::Service", f"arn:aws:ecs:us-east-1:{ACCOUNT}:service/api", name="api",
                   arn=f"arn:aws:ecs:us-east-1:{ACCOUNT}:service/api")
    found = blockers([service], "terraform")
    assert [b["id"] for b in found] == [service.id]
    assert "cluster" in found[0]["reason"]
    unknown = live("AWS::Foo::Bar", "x")
    assert "not in the catalog" in blockers([unknown], "terraform")[0]["reason"]
    assert blockers([LIVE["AWS::SQS::Queue"][0]], "terraform") == []


def test_hcl_strings_are_escaped_and_never_interpolated():
    text = 'x = ' + hcl_value('a "b" ${var.x} %{if} \\ \n') + "\n"
    # hcl2 decodes the escapes and leaves template escapes as written: `$${` is Terraform's literal `${`
    assert hcl2.loads(text, serialization_options=PLAIN)["x"] == 'a "b" $${var.x} %%{if} \\ \n'


# ------------------------------------------------------------------------------------------ on the demo estate


def expected_import(db, key):
    """(Terraform type, import id) the provider documents for a demo resource named `key` in demo_estate."""
    row = next(db.query("select type, natural_id, region, account from current_resources "
                        "where ? in (id, arn, natural_id, name)", [key]))
    terraform_type = CATALOG[row["type"]].terraform[0].type
    if row["type"] == "AWS::SQS::Queue":
        return terraform_type, f"https://sqs.{row['region']}.amazonaws.com/{row['account']}/{row['natural_id']}"
    return terraform_type, row["natural_id"]  # a sg-/i-/eipalloc- id, a name, or the topic's ARN


def read_imports(folder: Path) -> list[dict]:
    return hcl2.loads((folder / "imports.tf").read_text(), serialization_options=PLAIN).get("import", [])


@pytest.fixture(scope="module")
def codified(estate_scan, tmp_path_factory):
    out = tmp_path_factory.mktemp("codify") / "out"
    result = run_cli(["codify", "--db", str(estate_scan["db"]), "--format", "terraform", "--out", str(out)],
                     estate_scan["endpoint"])
    return {"out": out, "stdout": result.stdout, **estate_scan}


def test_every_unmanaged_resource_gets_exactly_one_import_with_its_type_and_id(codified):
    db = sqlite_utils.Database(codified["db"])
    wanted = {key for key, status in codified["estate"].expected.items() if status == "unmanaged"}
    assert len(wanted) == 13
    found = []
    for folder in sorted(p for p in codified["out"].iterdir() if p.is_dir()):
        for block in read_imports(folder):
            found.append((block["to"].strip("${}").split(".")[0], block["id"]))
    assert sorted(found) == sorted(expected_import(db, key) for key in wanted)
    assert "11 groups, 13 resources, 0 blockers" in codified["stdout"]


def test_nothing_owned_aws_made_or_child_is_emitted(codified):
    db = sqlite_utils.Database(codified["db"])
    text = "".join(p.read_text() for p in codified["out"].rglob("imports.tf"))
    others = list(db.query("select natural_id, status from current_resources where status != 'unmanaged'"))
    assert others and all(f'"{row["natural_id"]}"' not in text for row in others)


def test_instance_is_grouped_with_what_it_depends_on_in_order(codified):
    (folder,) = [p for p in codified["out"].iterdir() if p.is_dir() and "bastion" in p.name]
    order = [block["to"].strip("${}").split(".")[0] for block in read_imports(folder)]
    assert order == ["aws_security_group", "aws_instance", "aws_eip"]
    main = hcl2.loads((folder / "main.tf").read_text(), serialization_options=PLAIN)
    resources = {type_: body for block in main["resource"] for type_, named in block.items() for body in named.values()}
    assert resources["aws_instance"]["vpc_security_group_ids"] == ["${aws_security_group.bastion_ssh.id}"]
    assert resources["aws_eip"]["instance"] == "${aws_instance.bastion_by_hand.id}"
    assert resources["aws_security_group"]["name"] == "bastion-ssh"
    assert resources["aws_security_group"]["vpc_id"].startswith("vpc-")  # a managed VPC: by its literal id
    assert resources["aws_instance"]["tags"] == {"Name": "bastion-by-hand"}


def test_generated_files_parse_and_hold_no_secret(codified):
    files = list(codified["out"].rglob("*.tf"))
    assert files
    for path in files:
        hcl2.loads(path.read_text())  # raises on invalid HCL
    everything = "".join(p.read_text() for p in codified["out"].rglob("*") if p.is_file())
    assert "PLANTED" not in everything  # the bastion's user data holds a planted password
    providers = hcl2.loads((codified["out"] / "10-eu-manual-queue" / "providers.tf").read_text(),
                           serialization_options=PLAIN)
    assert providers["provider"][0]["aws"]["region"] == "eu-west-1"
    assert providers["provider"][0]["aws"]["allowed_account_ids"] == [ACCOUNT]


def test_around_gives_the_neighbourhood_only(estate_scan, tmp_path):
    db = sqlite_utils.Database(estate_scan["db"])
    instance = next(db.query("select natural_id from current_resources where name = 'bastion-by-hand'"))["natural_id"]
    out = tmp_path / "around"
    run_cli(["codify", "--db", str(estate_scan["db"]), "--format", "terraform", "--out", str(out),
             "--around", instance], estate_scan["endpoint"])
    imports = [b for folder in out.iterdir() if folder.is_dir() for b in read_imports(folder)]
    assert sorted(b["to"].strip("${}").split(".")[0] for b in imports) == ["aws_eip", "aws_instance",
                                                                           "aws_security_group"]
    sg = next(db.query("select natural_id from current_resources where name = 'bastion-ssh'"))["natural_id"]
    only = tmp_path / "only"
    run_cli(["codify", "--db", str(estate_scan["db"]), "--format", "terraform", "--out", str(only),
             "--around", sg, "--depth", "0"], estate_scan["endpoint"])
    assert [b["id"] for f in only.iterdir() if f.is_dir() for b in read_imports(f)] == [sg]
    unknown = run_cli(["codify", "--db", str(estate_scan["db"]), "--format", "terraform", "--out",
                       str(tmp_path / "none"), "--around", "i-00000000000000000"], estate_scan["endpoint"], check=False)
    assert unknown.returncode == 1 and "no resource" in unknown.stderr and not (tmp_path / "none").exists()


def test_grouping_by_vpc_tag_and_none(estate_scan):
    db = sqlite_utils.Database(estate_scan["db"])
    chosen = select(db)
    edges = scan_edges(db)
    by_vpc = {g.key: [r.name for r in g.resources] for g in group(chosen, edges, by="vpc")}
    assert by_vpc["no-vpc"] and len(by_vpc) == 3  # the bastion's VPC, eu-west-1's default VPC, none
    (bastion,) = [names for key, names in by_vpc.items() if "bastion-by-hand" in names]
    assert bastion[:2] == ["bastion-ssh", "bastion-by-hand"] and bastion[2].startswith("eipalloc-")
    by_tag = {g.key: [r.name for r in g.resources] for g in group(chosen, edges, by="tag:team")}
    assert by_tag["team-ops"] == ["ops-alice"] and len(by_tag["no-team"]) == 12
    (everything,) = group(chosen, edges, by="none")
    names = [r.name for r in everything.resources]
    assert len(names) == 13
    assert names.index("bastion-ssh") < names.index("bastion-by-hand")
    with pytest.raises(ValueError, match="group-by"):
        group(chosen, edges, by="colour")


def test_filters_statuses_and_pending(estate_scan):
    db = sqlite_utils.Database(estate_scan["db"])
    assert {r.region for r in select(db, regions=["eu-west-1"])} == {"eu-west-1"}
    assert [r.name for r in select(db, types=["aws_sqs_queue"])] == ["eu-manual-queue"]
    assert [r.name for r in select(db, tags={"team": "ops"})] == ["ops-alice"]
    for never in ("managed", "default", "missing", "conflict"):
        with pytest.raises(ValueError, match="never codified"):
            select(db, statuses=[never])
    queue = select(db, types=["AWS::SQS::Queue"])[0]
    assert queue.id not in {r.id for r in select(db, pending={queue.id})}
    # a child whose parent is owned or AWS-made is never selected, even when children are asked for
    children = select(db, statuses=["child"])
    owned = {row["resource_id"] for row in db.query("select resource_id from owners")}
    parents = {row["source_id"]: row["target_id"] for row in db.query("select source_id, target_id from edges "
                                                                     "where relation = 'belongs_to'")}
    assert all(parents.get(r.id) not in owned for r in children)


def test_blockers_are_listed_in_the_readme(estate_scan):
    db = sqlite_utils.Database(estate_scan["db"])
    chosen = select(db)
    stranger = live("AWS::ECS::Service", f"arn:aws:ecs:us-east-1:{ACCOUNT}:service/api", name="api",
                    arn=f"arn:aws:ecs:us-east-1:{ACCOUNT}:service/api")
    blocked = blockers(chosen + [stranger], "terraform")
    files = render_terraform(group(chosen, scan_edges(db)), blocked)
    assert "Blockers" in files["README.md"] and stranger.id in files["README.md"]


def test_refuses_a_non_empty_folder_unless_forced(estate_scan, tmp_path):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    args = ["codify", "--db", str(estate_scan["db"]), "--format", "terraform", "--out", str(out)]
    refused = run_cli(args, estate_scan["endpoint"], check=False)
    assert refused.returncode == 2 and "not empty" in refused.stderr
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    run_cli([*args, "--force"], estate_scan["endpoint"])
    assert (out / "keep.txt").read_text() == "mine" and (out / "README.md").exists()


def test_a_format_without_a_writer_is_a_usage_error():
    import click

    from driftgraph.cli import renderer_for

    with pytest.raises(click.UsageError, match="not built yet"):
        renderer_for("cdk", {"terraform": render_terraform, "cdk": None})
    assert renderer_for("terraform", {"terraform": render_terraform}) is render_terraform


def test_never_writes_outside_the_folder(tmp_path):
    import click

    from driftgraph.cli import write_files

    for escape in ("../escaped.tf", "/tmp/escaped.tf", "a/../../escaped.tf"):
        with pytest.raises(click.ClickException, match="outside"):
            write_files(str(tmp_path / "out"), {escape: "x"}, force=True)
    assert not (tmp_path / "escaped.tf").exists()


def test_secret_tags_and_attributes_are_left_out_with_a_comment():
    from graph.codify import Group

    role = CodifyResource(
        id=f"arn:aws:iam::{ACCOUNT}:role/app", type="AWS::IAM::Role", account=ACCOUNT, region="global", name="app",
        natural_id="app", arn=f"arn:aws:iam::{ACCOUNT}:role/app",
        tags={"team": "ops", "db_password": "<redacted>", "aws:cloudformation:stack-name": "x"},
        attributes={"path": "/", "description": "uses <redacted> at boot"}, status="unmanaged", edges_out=[])
    main = render_terraform([Group("g", "g", [role])], [])["g/main.tf"]
    body = hcl2.loads(main, serialization_options=PLAIN)["resource"][0]["aws_iam_role"]["app"]
    assert body["tags"] == {"team": "ops"} and body["name"] == "app" and "description" not in body
    assert "<redacted>" not in main and "'db_password' left out" in main and "description left out" in main


def test_resources_of_other_regions_get_a_provider_alias(estate_scan):
    db = sqlite_utils.Database(estate_scan["db"])
    (everything,) = group(select(db), scan_edges(db), by="none")
    files = render_terraform([everything], [])
    providers = hcl2.loads(files["all/providers.tf"], serialization_options=PLAIN)["provider"]
    assert sorted((p["aws"]["region"], p["aws"].get("alias")) for p in providers) == [
        ("eu-west-1", "eu_west_1"), ("us-east-1", None)]
    imports = hcl2.loads(files["all/imports.tf"], serialization_options=PLAIN)["import"]
    queue = next(b for b in imports if "sqs" in b["to"])
    assert queue["provider"] == "${aws.eu_west_1}"
    user = next(b for b in imports if "iam_user" in b["to"])
    assert "provider" not in user  # IAM is global: the default provider
    main = hcl2.loads(files["all/main.tf"], serialization_options=PLAIN)["resource"]
    queue_body = next(b["aws_sqs_queue"] for b in main if "aws_sqs_queue" in b)
    assert next(iter(queue_body.values()))["provider"] == "${aws.eu_west_1}"


def test_import_ids_of_a_large_scan_take_one_pass_over_its_edges():
    """30,000 unmanaged queues and as many edges: each resource's edges are looked up, not searched for (the
    search made this quadratic: minutes). The bound only proves it does not hang on a slow machine."""
    import time

    from graph.codify import unmanaged_import_ids

    rows = [{"id": f"arn:aws:sqs:us-east-1:{ACCOUNT}:q{n}", "type": "AWS::SQS::Queue", "account": ACCOUNT,
             "region": "us-east-1", "name": f"q{n}", "natural_id": f"q{n}", "arn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:q{n}",
             "status": "unmanaged", "tags": None, "attributes": None, "aliases": None} for n in range(30000)]
    edges = [(row["id"], "uses_key", f"arn:aws:kms:us-east-1:{ACCOUNT}:key/k{n}") for n, row in enumerate(rows)]
    started = time.monotonic()
    found = unmanaged_import_ids({row["id"]: row for row in rows}, [row["id"] for row in rows], edges)
    assert time.monotonic() - started < 20
    assert len(found) == 30000
    assert found[rows[7]["id"]] == f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/q7"
