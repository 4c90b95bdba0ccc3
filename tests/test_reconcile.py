"""Matching and classification as a pure function: every status, every quirk, every rule explained."""

from __future__ import annotations

import pytest

from graph.drift import compare, normalize_rules
from graph.records import (
    CHILD,
    CLOUDFORMATION,
    CONFLICT,
    DEFAULT,
    GLOBAL,
    IGNORED,
    MANAGED,
    MISSING,
    STATUSES,
    UNKNOWN,
    UNMANAGED,
    UNRESOLVED,
    Listing,
    Owner,
    Record,
)
from graph.reconcile import IgnoreRules, reconcile
from graph.resource_types import CATALOG

from reconcile_records import A, R, by_id, cfn, live, scope, tf


def test_every_status_is_produced_with_a_reason_and_a_rule():
    records_live = [
        live("AWS::SQS::Queue", "owned", aliases=("https://sqs/owned",)),
        live("AWS::SQS::Queue", "handmade"),
        live("AWS::SQS::Queue", "twice"),
        live("AWS::EC2::VPC", "vpc-default", is_default=True, default_reason="the default VPC"),
        live("AWS::SQS::Queue", "scratch-1", tags={"driftgraph": "ignore"}),
    ]
    declared = [
        tf("AWS::SQS::Queue", "owned", "aws_sqs_queue.a"),
        tf("AWS::SQS::Queue", "gone", "aws_sqs_queue.ghost"),
        tf("AWS::SQS::Queue", "twice", "aws_sqs_queue.t"),
        cfn("AWS::SQS::Queue", "twice", "Twice"),
        tf("aws_sqs_queue_policy", "https://sqs/owned", "aws_sqs_queue_policy.p", raw_type="aws_sqs_queue_policy",
           parent=("AWS::SQS::Queue", "https://sqs/owned")),
        tf("AWS::DynamoDB::Table", "unlisted", "aws_dynamodb_table.t"),
    ]
    graph = reconcile(records_live, declared, scope(Listing(A, R, "AWS::DynamoDB::Table", "access_denied", error_code="AccessDenied")),
                      IgnoreRules(["tag:driftgraph=ignore"]))
    nodes = by_id(graph)
    assert nodes["owned"].status == MANAGED
    assert nodes["handmade"].status == UNMANAGED
    assert nodes["gone"].status == MISSING
    assert nodes["twice"].status == CONFLICT
    assert "aws_sqs_queue.t" in nodes["twice"].reason and "stack s" in nodes["twice"].reason
    assert nodes["vpc-default"].status == DEFAULT
    assert nodes["https://sqs/owned"].status == CHILD
    assert nodes["https://sqs/owned"].parent_key == nodes["owned"].key
    assert nodes["unlisted"].status == UNKNOWN and "AccessDenied" in nodes["unlisted"].reason
    assert nodes["scratch-1"].status == IGNORED
    assert {n.status for n in graph.nodes} == set(STATUSES)
    assert all(n.reason and n.rule for n in graph.nodes)
    assert nodes["gone"].key == "arn:aws:sqs:us-east-1:111122223333:gone"  # missing resources get their ARN


def test_a_declaration_matches_by_any_alias_and_case_rules():
    records_live = [
        live("AWS::EC2::EIP", "eipalloc-1", aliases=("54.1.2.3",)),
        live("AWS::RDS::DBInstance", "mydb"),
        live("AWS::ECS::Cluster", "edge", aliases=("arn:aws:ecs:us-east-1:111122223333:cluster/edge",)),
    ]
    declared = [
        cfn("AWS::EC2::EIP", "54.1.2.3", "Ip"),
        cfn("AWS::RDS::DBInstance", "MyDB", "Db"),
        tf("AWS::ECS::Cluster", "arn:aws:ecs:us-east-1:111122223333:cluster/edge", "aws_ecs_cluster.edge"),
    ]
    records_live.append(live("AWS::SQS::Queue", "jobs", aliases=("http://localhost:5000/111122223333/jobs",)))
    declared.append(tf("AWS::SQS::Queue", "https://sqs.us-east-1.amazonaws.com/111122223333/jobs", "aws_sqs_queue.jobs"))
    nodes = by_id(reconcile(records_live, declared, scope()))
    assert nodes["jobs"].status == MANAGED, "a queue URL from another endpoint still names the queue"
    assert nodes["eipalloc-1"].status == MANAGED
    assert nodes["mydb"].status == MANAGED
    assert nodes["edge"].status == MANAGED
    assert len(nodes) == 4


def test_unowned_quirks_explain_what_aws_made():
    vpc = live("AWS::EC2::VPC", "vpc-1")
    default_vpc = live("AWS::EC2::VPC", "vpc-d", is_default=True, default_reason="the default VPC")
    records_live = [
        vpc, default_vpc,
        live("AWS::EC2::SecurityGroup", "sg-default", note="default-group", edges=(("in_vpc", "AWS::EC2::VPC", "vpc-1"),)),
        live("AWS::EC2::SecurityGroup", "sg-d-default", note="default-group", edges=(("in_vpc", "AWS::EC2::VPC", "vpc-d"),)),
        live("AWS::EC2::SecurityGroup", "sg-hand", edges=(("in_vpc", "AWS::EC2::VPC", "vpc-d"),)),
        live("AWS::EC2::Instance", "i-hand", edges=(("in_vpc", "AWS::EC2::VPC", "vpc-d"),)),
        live("AWS::EC2::Volume", "vol-root", note="delete-on-termination", edges=(("attached_to", "AWS::EC2::Instance", "i-hand"),)),
        live("AWS::EC2::RouteTable", "rtb-main", note="main", edges=(("in_vpc", "AWS::EC2::VPC", "vpc-1"),)),
        live("AWS::Lambda::Function", "worker"),
        live("AWS::Logs::LogGroup", "/aws/lambda/worker"),
        live("AWS::Logs::LogGroup", "/aws/lambda/deleted-fn"),
        live("AWS::IAM::Role", "AWSServiceRoleForX", region=GLOBAL, is_default=True, default_reason="service-linked"),
    ]
    nodes = by_id(reconcile(records_live, [tf("AWS::EC2::VPC", "vpc-1", "aws_vpc.main"), tf("AWS::Lambda::Function", "worker", "aws_lambda_function.w")], scope()))
    assert nodes["sg-default"].status == CHILD and nodes["sg-default"].rule == "made_with_its_vpc"
    assert nodes["sg-d-default"].status == DEFAULT and nodes["sg-d-default"].rule == "part_of_default_vpc"
    assert nodes["sg-hand"].status == UNMANAGED, "a hand-made group in the default VPC is still hand-made"
    assert nodes["i-hand"].status == UNMANAGED
    assert nodes["vol-root"].status == CHILD and nodes["vol-root"].parent_key == nodes["i-hand"].key
    assert nodes["rtb-main"].status == CHILD
    assert nodes["/aws/lambda/worker"].status == CHILD
    assert nodes["/aws/lambda/deleted-fn"].status == UNMANAGED
    assert nodes["AWSServiceRoleForX"].status == DEFAULT


def test_declarations_outside_the_scan_are_unknown_not_missing():
    declared = [tf("AWS::SQS::Queue", "far-away", "aws_sqs_queue.west", region="eu-west-1")]
    node = by_id(reconcile([], declared, scope()))["far-away"]
    assert node.status == UNKNOWN and node.rule == "outside_scan"


def test_a_template_file_gives_way_to_its_deployed_stack():
    template_file = Record(CLOUDFORMATION, "AWS::SQS::Queue", A, R, "q", owner=Owner("cloudformation", "t.yaml", "Q", "cloudformation"))
    graph = reconcile([live("AWS::SQS::Queue", "q")], [cfn("AWS::SQS::Queue", "q", "Q"), template_file], scope())
    assert by_id(graph)["q"].status == MANAGED


def test_bookkeeping_and_uncatalogued_declarations():
    declared = [
        cfn("AWS::CDK::Metadata", "meta-1", "CDKMetadata"),
        tf("aws_cloudfront_distribution", "E123", "aws_cloudfront_distribution.cdn", raw_type="aws_cloudfront_distribution"),
    ]
    nodes = by_id(reconcile([], declared, scope()))
    assert nodes["meta-1"].status == IGNORED
    assert nodes["E123"].status == MANAGED and nodes["E123"].rule == "declared_unverified_type"


def test_drift_is_found_on_managed_resources_and_named_by_owner():
    records_live = [live("AWS::SQS::Queue", "q", tags={"team": "a", "aws:cloudformation:stack-name": "s"},
                         attributes={"visibility_timeout": "90", "delay_seconds": "0"})]
    declared = [tf("AWS::SQS::Queue", "q", "aws_sqs_queue.q", tags={"team": "a"},
                   attributes={"visibility_timeout": 30, "delay_seconds": 0})]
    node = by_id(reconcile(records_live, declared, scope()))["q"]
    assert node.drift == [{"attribute": "visibility_timeout", "declared": 30, "live": 90, "tool": "terraform",
                           "source": "state.tfstate", "address": "aws_sqs_queue.q", "ignored": None}]


SG = CATALOG["AWS::EC2::SecurityGroup"]


def test_no_false_drift_from_ordering_spelling_defaults_or_unresolved_values():
    live_rules = [
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.0.0.0/8"}, {"CidrIp": "0.0.0.0/0"}]},
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
    ]
    tf_rules = [
        {"protocol": "-1", "from_port": 0, "to_port": 0, "cidr_blocks": ["0.0.0.0/0"], "self": False},
        {"protocol": "6", "from_port": 443, "to_port": 443, "cidr_blocks": ["0.0.0.0/0", "10.0.0.0/8"], "description": "x"},
    ]
    assert normalize_rules(live_rules) == normalize_rules(tf_rules)
    assert compare(SG, {"ingress": tf_rules}, {"a": "1"}, {"ingress": live_rules}, {"a": "1", "aws:cloudformation:logical-id": "X"}) == []
    # CloudFormation spells one peer per rule, and may leave values to intrinsics it resolves at deploy time
    cfn_rules = [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": "0.0.0.0/0"},
                 {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": "10.0.0.0/8"},
                 {"IpProtocol": "-1", "CidrIp": "0.0.0.0/0"}]
    assert compare(SG, {"ingress": cfn_rules}, None, {"ingress": live_rules}, {"x": "y"}) == []
    assert compare(SG, {"ingress": [{"IpProtocol": "tcp", "FromPort": 1, "ToPort": 1, "CidrIp": UNRESOLVED}]}, None,
                   {"ingress": live_rules}, {}) == []
    assert compare(SG, {"description": UNRESOLVED}, {"team": UNRESOLVED}, {"description": "d"}, {"team": "x"}) == []
    role = CATALOG["AWS::IAM::Role"]
    policy_text = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":["ec2.amazonaws.com"]},"Action":"sts:AssumeRole"}]}'
    policy_dict = {"Statement": [{"Action": "sts:AssumeRole", "Principal": {"Service": "ec2.amazonaws.com"}, "Effect": "Allow"}],
                   "Version": "2012-10-17"}
    assert compare(role, {"assume_role_policy": policy_text}, None, {"assume_role_policy": policy_dict}, None) == []
    logs = CATALOG["AWS::Logs::LogGroup"]
    assert compare(logs, {"retention_in_days": 0}, {}, {}, {}) == []  # never expire: 0 in Terraform, absent live


def test_nulls_an_emulator_leaves_for_no_value_in_a_policy_are_no_drift():
    """moto's CloudFormation renders `Fn::If [cond, x, !Ref AWS::NoValue]` inside a list as null instead of
    dropping the item (the CDK bootstrap roles' trust policies), and IAM then answers those nulls. IAM itself
    holds no null in a policy, so a null item or value is no statement, never drift."""
    role = CATALOG["AWS::IAM::Role"]
    assume = {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"AWS": "123456789012"}}
    tag = {"Action": "sts:TagSession", "Effect": "Allow", "Principal": {"AWS": "123456789012"}}
    declared = {"Version": "2012-10-17", "Statement": [assume, tag]}
    moto_answer = {"Version": "2012-10-17", "Statement": [None, None, {**assume, "Condition": None}, tag]}
    assert compare(role, {"assume_role_policy": declared}, None, {"assume_role_policy": moto_answer}, None) == []
    # ... while a statement that is really there, or really gone, still is drift
    widened = {"Version": "2012-10-17", "Statement": [None, assume, tag, {**tag, "Principal": {"AWS": "*"}}]}
    assert compare(role, {"assume_role_policy": declared}, None, {"assume_role_policy": widened}, None) != []
    assert compare(role, {"assume_role_policy": declared}, None, {"assume_role_policy": {"Statement": [None, assume]}}, None) != []


def test_real_differences_are_drift():
    live_rules = [{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    diff = compare(SG, {"ingress": []}, {"team": "a"}, {"ingress": live_rules}, {"team": "b", "extra": "1"})
    attributes = {d["attribute"] for d in diff}
    assert attributes == {"ingress", "tags.team", "tags.extra"}
    bucket = CATALOG["AWS::S3::Bucket"]
    assert compare(bucket, {"versioning": "Enabled"}, None, {"versioning": "Suspended"}, None)[0]["attribute"] == "versioning"
    assert compare(bucket, {"versioning": True}, None, {"versioning": "Suspended"}, None)[0]["live"] is False


def test_what_could_not_have_been_changed_by_hand_is_not_drift():
    bucket = CATALOG["AWS::S3::Bucket"]
    assert compare(bucket, {"versioning": "Enabled"}, None, {"versioning": None}, None) == []
    assert compare(bucket, {"versioning": False}, None, {"versioning": None}, None) == []
    queue = CATALOG["AWS::SQS::Queue"]
    # CloudFormation declared tags none of which exist live: the engine never applied them
    assert compare(queue, {}, {"team": "a"}, {}, {}, declared_by="cloudformation") == []
    # ... but one that exists, changed, is drift; and Terraform's declared tags are always compared
    assert compare(queue, {}, {"team": "a", "env": "x"}, {}, {"team": "b"}, declared_by="cloudformation") != []
    assert compare(queue, {}, {"team": "a"}, {}, {}, declared_by="terraform") != []


def test_ignore_rules_read_types_globs_and_tags_and_reject_nonsense():
    rules = IgnoreRules(["# comment", "AWS::S3::Bucket:scratch-*", "*:tmp-*", "tag:lifecycle=ephemeral"])
    nodes = by_id(reconcile([live("AWS::S3::Bucket", "scratch-1"), live("AWS::SQS::Queue", "tmp-q"),
                             live("AWS::SQS::Queue", "keep-q", tags={"lifecycle": "ephemeral"}), live("AWS::SQS::Queue", "real")],
                            [], scope(), rules))
    assert [nodes[k].status for k in ("scratch-1", "tmp-q", "keep-q", "real")] == [IGNORED, IGNORED, IGNORED, UNMANAGED]
    with pytest.raises(ValueError, match="line|:2:"):
        IgnoreRules(["AWS::S3::Bucket:ok", "not a rule"], "x.ignore")


def test_a_stack_resource_without_physical_id_is_found_by_tags_or_generated_name_else_unknown():
    stack = "arn:aws:cloudformation:us-east-1:111122223333:stack/s/1"
    tagged = live("AWS::EC2::Subnet", "subnet-9", tags={"aws:cloudformation:stack-id": stack,
                                                        "aws:cloudformation:logical-id": "SubnetA"})
    named = live("AWS::RDS::DBSubnetGroup", "s-dbsubnets-heq3zdls1v4i")
    other = live("AWS::RDS::DBSubnetGroup", "hand-made-group")
    declared = [cfn("AWS::EC2::Subnet", None, "SubnetA"), cfn("AWS::RDS::DBSubnetGroup", None, "DbSubnets"),
                cfn("AWS::SQS::Queue", None, "Jobs")]
    nodes = by_id(reconcile([tagged, named, other], declared, scope()))
    assert nodes["subnet-9"].status == MANAGED
    assert nodes["s-dbsubnets-heq3zdls1v4i"].status == MANAGED
    assert nodes["hand-made-group"].status == UNMANAGED
    assert nodes["s/Jobs"].status == UNKNOWN and nodes["s/Jobs"].rule == "no_physical_id"


def test_a_retained_stack_resource_says_whose_tags_it_carries():
    orphan = live("AWS::SQS::Queue", "kept", tags={"aws:cloudformation:stack-name": "old-stack",
                                                   "aws:cloudformation:logical-id": "Jobs"})
    node = by_id(reconcile([orphan], [], scope()))["kept"]
    assert node.status == UNMANAGED and "stack old-stack (Jobs)" in node.reason


def test_the_network_interface_of_a_nat_gateway_is_its_child():
    nat = live("AWS::EC2::NatGateway", "nat-1", edges=(("uses_interface", "AWS::EC2::NetworkInterface", "eni-1"),))
    nodes = by_id(reconcile([nat, live("AWS::EC2::NetworkInterface", "eni-1")], [], scope()))
    assert nodes["eni-1"].status == CHILD and nodes["eni-1"].parent_key == nodes["nat-1"].key


def test_stack_level_tags_are_neither_required_nor_forbidden_live():
    queue = CATALOG["AWS::SQS::Queue"]
    declared = {"team": "a", "stack-tag": UNRESOLVED}
    assert compare(queue, {}, declared, {}, {"team": "a"}, declared_by="cloudformation") == []
    assert compare(queue, {}, declared, {}, {"team": "a", "stack-tag": "x"}, declared_by="cloudformation") == []
    assert compare(queue, {}, declared, {}, {"team": "b", "stack-tag": "x"}, declared_by="cloudformation") != []


def test_member_clusters_of_a_replication_group_are_its_children():
    group = live("AWS::ElastiCache::ReplicationGroup", "cache")
    member = live("AWS::ElastiCache::CacheCluster", "cache-001", edges=(("member_of", "AWS::ElastiCache::ReplicationGroup", "cache"),))
    nodes = by_id(reconcile([group, member], [tf("AWS::ElastiCache::ReplicationGroup", "cache", "aws_elasticache_replication_group.c")], scope()))
    assert nodes["cache-001"].status == CHILD and nodes["cache-001"].parent_key == nodes["cache"].key


def test_unmanaged_resources_are_grouped_by_what_must_be_imported_together():
    from graph.analysis import import_groups

    records_live = [
        live("AWS::EC2::SecurityGroup", "sg-hand"),
        live("AWS::EC2::Instance", "i-hand", edges=(("uses_security_group", "AWS::EC2::SecurityGroup", "sg-hand"),)),
        live("AWS::EC2::EIP", "eip-hand", edges=(("attached_to", "AWS::EC2::Instance", "i-hand"),)),
        live("AWS::SQS::Queue", "lonely"),
        live("AWS::SQS::Queue", "owned"),
        live("AWS::Lambda::Function", "fn", edges=(("uses_queue", "AWS::SQS::Queue", "owned"),)),
    ]
    graph = reconcile(records_live, [tf("AWS::SQS::Queue", "owned", "aws_sqs_queue.o")], scope())
    groups = import_groups(graph.nodes, graph.edges)
    keys = {n.natural_id: n.key for n in graph.nodes}
    hand = sorted(keys[k] for k in ("sg-hand", "i-hand", "eip-hand"))
    assert groups[keys["sg-hand"]] == groups[keys["i-hand"]] == groups[keys["eip-hand"]] == hand[0]
    assert groups[keys["lonely"]] == keys["lonely"] and keys["owned"] not in groups
    # the name of a group does not move when an unrelated group appears (no churn in the stored versions)
    more = reconcile([*records_live, live("AWS::SQS::Queue", "aaa-first")], [tf("AWS::SQS::Queue", "owned", "aws_sqs_queue.o")], scope())
    assert {k: v for k, v in import_groups(more.nodes, more.edges).items() if k in groups} == groups


def test_a_bucket_is_found_by_its_global_name_whatever_region_a_state_guessed():
    bucket = live("AWS::S3::Bucket", "logs-bucket", region="eu-west-1")
    declared = tf("AWS::S3::Bucket", "logs-bucket", "aws_s3_bucket.logs", region="us-east-1")
    nodes = by_id(reconcile([bucket], [declared], scope(regions=("us-east-1", "eu-west-1"))))
    assert nodes["logs-bucket"].status == MANAGED and nodes["logs-bucket"].region == "eu-west-1"
    assert len(nodes) == 1


def test_values_written_alike_on_both_sides_skip_normalising_and_nothing_else_does():
    """The shortcut for nested values is exact: the same types in the same order, never Python's looser ==."""
    from graph.drift import _identical
    from graph.records import UNRESOLVED

    rules = [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}]
    group = CATALOG["AWS::EC2::SecurityGroup"]
    assert _identical(rules, [dict(rule) for rule in rules])
    assert compare(group, {"ingress": rules}, None, {"ingress": [dict(rule) for rule in rules]}, None) == []
    assert not _identical([1], [True]) and not _identical([1], [1.0]) and [1] == [True] == [1.0]
    assert not _identical({"a": 1, "b": 2}, {"b": 2, "a": 1})  # equal, written differently: normalised as before
    assert not _identical([UNRESOLVED], [UNRESOLVED])
    wider = [{**rules[0], "IpRanges": [{"CidrIp": "10.0.0.0/7"}]}]
    assert compare(group, {"ingress": rules}, None, {"ingress": wider}, None) != []
