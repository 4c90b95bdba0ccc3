"""AWS quirks that decide the status of a live resource no code declares, in order; the first that speaks wins.

Each rule hides one AWS behaviour that would otherwise make an AWS-made or dependent resource look
hand-made. A rule returns (status, reason, parent node key or None), or None to pass.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Optional

from graph.records import CHILD, DEFAULT

if TYPE_CHECKING:  # pragma: no cover
    from graph.reconcile import Node, NodeIndex

Verdict = Optional[tuple[str, str, Optional[str]]]
Rule = Callable[["Node", "NodeIndex"], Verdict]


def decided_by(parent_types: tuple[str, ...], child_types: tuple[str, ...], applies: Callable) -> Callable[[Rule], Rule]:
    """Mark a rule whose verdict needs the listing of its parent's type: when that listing failed and the rule
    `applies` to a live record (of one of `child_types`), the rule cannot speak either way and the resource is
    unknown, not unmanaged."""

    def mark(rule: Rule) -> Rule:
        rule.parent_types = parent_types
        rule.child_types = child_types
        rule.applies = applies
        return rule

    return mark


_VPC_MADE = ("AWS::EC2::SecurityGroup", "AWS::EC2::RouteTable", "AWS::EC2::NetworkAcl")


def _made_with_a_vpc(live) -> bool:
    return (
        (live.type == "AWS::EC2::SecurityGroup" and live.note == "default-group")
        or (live.type == "AWS::EC2::RouteTable" and live.note == "main")
        or (live.type == "AWS::EC2::NetworkAcl" and live.is_default)
    )


@decided_by(("AWS::EC2::VPC",), (*_VPC_MADE, "AWS::EC2::InternetGateway"),
            lambda live: _made_with_a_vpc(live) or live.type == "AWS::EC2::InternetGateway")
def part_of_default_vpc(node: "Node", index: "NodeIndex") -> Verdict:
    """The default VPC comes with a default group, a main route table, a default ACL and a gateway.

    Only those: an instance or group someone made by hand inside the default VPC is still hand-made."""
    live = node.live
    if not (_made_with_a_vpc(live) or live.type == "AWS::EC2::InternetGateway"):
        return None
    for relation in ("in_vpc", "attached_to"):
        for vpc in index.targets(node, relation):
            if vpc.type == "AWS::EC2::VPC" and vpc.live is not None and vpc.live.is_default:
                return DEFAULT, f"part of the default VPC {vpc.natural_id}", vpc.key
    return None


@decided_by(("AWS::EC2::VPC",), _VPC_MADE, _made_with_a_vpc)
def made_with_its_vpc(node: "Node", index: "NodeIndex") -> Verdict:
    """Every VPC gets a default security group, a main route table and a default network ACL."""
    live = node.live
    if not _made_with_a_vpc(live):
        return None
    for vpc in index.targets(node, "in_vpc"):
        what = {"AWS::EC2::SecurityGroup": "default security group", "AWS::EC2::RouteTable": "main route table"}
        return CHILD, f"the {what.get(live.type, 'default network ACL')} AWS made with VPC {vpc.name}", vpc.key
    return None


@decided_by(("AWS::EC2::Instance",), ("AWS::EC2::Volume",), lambda live: True)
def root_volume_of_instance(node: "Node", index: "NodeIndex") -> Verdict:
    """A volume launched with an instance (deleted with it) belongs to the instance, not to anyone's code.

    The instance's block-device mapping says so; some APIs (and moto) leave it off the volume's attachment."""
    if node.type != "AWS::EC2::Volume":
        return None
    for instance in index.referrers(node, "launched_with"):
        return CHILD, f"launched with instance {instance.name} and deleted with it", instance.key
    if node.live.note == "delete-on-termination":
        for instance in index.targets(node, "attached_to"):
            return CHILD, f"launched with instance {instance.name} and deleted with it", instance.key
    return None


@decided_by(("AWS::EC2::Instance",), ("AWS::EC2::NetworkInterface",), lambda live: live.note == "primary")
def primary_interface_of_instance(node: "Node", index: "NodeIndex") -> Verdict:
    """An instance's primary network interface is made and deleted with the instance."""
    if node.type != "AWS::EC2::NetworkInterface" or node.live.note != "primary":
        return None
    for instance in index.targets(node, "attached_to"):
        return CHILD, f"the primary network interface of instance {instance.name}", instance.key
    return None


@decided_by(("AWS::EC2::NatGateway",), ("AWS::EC2::NetworkInterface",), lambda live: True)
def interface_of_nat_gateway(node: "Node", index: "NodeIndex") -> Verdict:
    """A NAT gateway's network interface is made and deleted with the gateway."""
    if node.type != "AWS::EC2::NetworkInterface":
        return None
    for gateway in index.referrers(node, "uses_interface"):
        return CHILD, f"the network interface of NAT gateway {gateway.name}", gateway.key
    return None


def instance_of_auto_scaling_group(node: "Node", index: "NodeIndex") -> Verdict:
    """Auto Scaling launches and replaces its instances; the group is what code owns."""
    if node.type != "AWS::EC2::Instance":
        return None
    group = (node.live.tags or {}).get("aws:autoscaling:groupName")
    if not group:
        return None
    parent = index.find("AWS::AutoScaling::AutoScalingGroup", node.live.account, node.live.region, group)
    return CHILD, f"launched by Auto Scaling group {group}", parent.key if parent else None


@decided_by(("AWS::ElastiCache::ReplicationGroup",), ("AWS::ElastiCache::CacheCluster",), lambda live: True)
def member_of_replication_group(node: "Node", index: "NodeIndex") -> Verdict:
    """A replication group makes and replaces its member cache clusters ('<group>-001', ...) itself."""
    if node.type != "AWS::ElastiCache::CacheCluster":
        return None
    for group in index.targets(node, "member_of"):
        return CHILD, f"a member cluster replication group {group.name} made", group.key
    return None


@decided_by(("AWS::Lambda::Function",), ("AWS::Logs::LogGroup",),
            lambda live: (live.natural_id or "").startswith("/aws/lambda/"))
def log_group_of_function(node: "Node", index: "NodeIndex") -> Verdict:
    """Lambda creates /aws/lambda/<function> on first run when nobody declared it.

    An inference, not a fact AWS records: code declares such log groups as often as Lambda makes them, so
    when an owner source could not be read this rule does not speak."""
    if node.type != "AWS::Logs::LogGroup" or not node.natural_id.startswith("/aws/lambda/"):
        return None
    function_name = node.natural_id[len("/aws/lambda/"):]
    parent = index.find("AWS::Lambda::Function", node.live.account, node.live.region, function_name)
    if parent is None:
        return None
    return CHILD, f"the log group Lambda made for function {function_name}", parent.key


def aws_made(node: "Node", index: "NodeIndex") -> Verdict:
    """The catalog's own default rule: service-linked roles, AWS-managed keys, default VPCs..."""
    if node.live.is_default:
        return DEFAULT, node.live.default_reason or "made by AWS", None
    return None


# Order matters: the default VPC's parts are `default` before they could be a VPC's `child`.
UNOWNED_RULES: tuple[Rule, ...] = (
    aws_made,
    part_of_default_vpc,
    made_with_its_vpc,
    root_volume_of_instance,
    primary_interface_of_instance,
    interface_of_nat_gateway,
    instance_of_auto_scaling_group,
    member_of_replication_group,
    log_group_of_function,
)


def undecided_parent(node: "Node", failed_listing: Callable) -> tuple[Rule, object] | None:
    """(rule, failed listing) for the first rule that applies to this live resource but whose parent's type could
    not be listed where it is: a root volume whose instances could not be listed may well be a root volume."""
    for rule in _RULES_BY_CHILD_TYPE.get(node.live.type, ()):
        if rule.applies(node.live):
            for parent_type in rule.parent_types:
                failed = failed_listing(parent_type, node.live.account, node.live.region)
                if failed is not None:
                    return rule, failed
    return None


# Rules that guess how a resource came about rather than read it from AWS (a block-device mapping, a
# requester-managed interface, a VPC's own default group): they yield to an owner source that could not be read.
INFERENCES = frozenset({"log_group_of_function"})


def is_inference(rule: Rule) -> bool:
    return rule.__name__ in INFERENCES


# The rules that may make a resource of each type someone's child, in their order (a lookup per resource).
_RULES_BY_CHILD_TYPE: dict[str, tuple[Rule, ...]] = {}
for _rule in UNOWNED_RULES:
    for _type in getattr(_rule, "child_types", ()):
        _RULES_BY_CHILD_TYPE[_type] = (*_RULES_BY_CHILD_TYPE.get(_type, ()), _rule)
