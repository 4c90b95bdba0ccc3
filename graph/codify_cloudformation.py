"""The CloudFormation and CDK writers of `driftgraph codify`: import templates, ResourcesToImport and commands, as text.

Pure: `render_cloudformation(groups, blockers)` and `render_cdk(groups, blockers)` take the groups of
graph/codify.py (duck-typed: `key`, `title`, `resources`; each resource `id`, `type`, `account`, `region`,
`name`, `natural_id`, `arn`, `tags`, `attributes`, `edges_out`) and return {relative path: text}. Nothing is
written to disk here and nothing secret is written at all: every value passes graph.redact, and a value that
redaction changed is left out (a `<redacted>` in a template would overwrite the live value on the next update).
"""

from __future__ import annotations

import json
import re
import shlex
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Iterable

import yaml

from graph.redact import REDACTED, is_secret_attribute, redact, redact_tags
from graph.resource_types import CATALOG, Comparable, ResourceType

# CloudFormation imports at most this many resources in one change set (its resource-import quota).
MAX_RESOURCES_PER_TEMPLATE = 500
# `--template-body` takes at most this many bytes; a larger template goes through S3 (`--template-url`).
MAX_TEMPLATE_BODY_BYTES = 51_200
CHANGE_SET_NAME = "driftgraph-import"
CDK_LIB_REQUIREMENT = "aws-cdk-lib>=2.150.0,<3"
CONSTRUCTS_REQUIREMENT = "constructs>=10.0.0,<11"

# Types this writer does not import, and why. Every other catalog type has create, read and delete handlers
# in its CloudFormation resource schema (checked by tests/test_codify_cloudformation.py), which is what
# resource import needs, and is on AWS's "Resource type support" list for import.
NOT_IMPORTABLE: dict[str, str] = {
    "AWS::CloudFormation::Stack": (
        "a stack is CloudFormation already; adopting it means nesting it in a parent stack, which takes the "
        "URL of its template in S3 (TemplateURL), not something a scan reads"
    ),
}

# The properties each catalog type's CloudFormation schema requires (tests check this table against the
# schemas). A required property driftgraph cannot fill makes the resource a blocker, never a guessed value.
REQUIRED_PROPERTIES: dict[str, tuple[str, ...]] = {
    "AWS::EC2::Subnet": ("VpcId",),
    "AWS::EC2::SecurityGroup": ("GroupDescription",),
    "AWS::EC2::RouteTable": ("VpcId",),
    "AWS::EC2::NetworkInterface": ("SubnetId",),
    "AWS::EC2::NetworkAcl": ("VpcId",),
    "AWS::EC2::KeyPair": ("KeyName",),
    "AWS::EC2::LaunchTemplate": ("LaunchTemplateData",),
    "AWS::EC2::VPCEndpoint": ("VpcId",),
    "AWS::AutoScaling::AutoScalingGroup": ("MinSize", "MaxSize"),
    "AWS::IAM::Role": ("AssumeRolePolicyDocument",),
    "AWS::IAM::ManagedPolicy": ("PolicyDocument",),
    "AWS::IAM::InstanceProfile": ("Roles",),
    "AWS::Lambda::Function": ("Code", "Role"),
    "AWS::DynamoDB::Table": ("KeySchema",),
    "AWS::RDS::DBSubnetGroup": ("DBSubnetGroupDescription", "SubnetIds"),
    "AWS::ElastiCache::CacheCluster": ("CacheNodeType", "NumCacheNodes", "Engine"),
    "AWS::ElastiCache::ReplicationGroup": ("ReplicationGroupDescription",),
    "AWS::KMS::Alias": ("AliasName", "TargetKeyId"),
    "AWS::ElasticLoadBalancingV2::Listener": ("LoadBalancerArn", "DefaultActions"),
    "AWS::SSM::Parameter": ("Value", "Type"),
    "AWS::CloudFormation::Stack": ("TemplateURL",),
}

# Why a required property is out of reach, where there is more to say than "the scan does not read it".
_WHY_UNKNOWN: dict[tuple[str, str], str] = {
    ("AWS::SSM::Parameter", "Value"): "driftgraph never reads parameter values",
    ("AWS::Lambda::Function", "Code"): "the function's code package is not read by a scan",
    ("AWS::IAM::ManagedPolicy", "PolicyDocument"): "the policy's default version is not read by a scan",
    ("AWS::EC2::LaunchTemplate", "LaunchTemplateData"): "the launch template's data is not read by a scan",
    ("AWS::ElasticLoadBalancingV2::Listener", "DefaultActions"): "the listener's actions are not read by a scan",
}

# Identifier properties that are read-only in the schema: they go in ResourcesToImport only, never in the
# template (CloudFormation rejects a read-only property in a template). Checked against the schemas.
READ_ONLY_IDENTIFIERS: dict[str, frozenset[str]] = {
    "AWS::EC2::VPC": frozenset({"VpcId"}),
    "AWS::EC2::Subnet": frozenset({"SubnetId"}),
    "AWS::EC2::SecurityGroup": frozenset({"Id"}),
    "AWS::EC2::Instance": frozenset({"InstanceId"}),
    "AWS::EC2::Volume": frozenset({"VolumeId"}),
    "AWS::EC2::EIP": frozenset({"PublicIp", "AllocationId"}),
    "AWS::EC2::NatGateway": frozenset({"NatGatewayId"}),
    "AWS::EC2::InternetGateway": frozenset({"InternetGatewayId"}),
    "AWS::EC2::RouteTable": frozenset({"RouteTableId"}),
    "AWS::EC2::NetworkInterface": frozenset({"Id"}),
    "AWS::EC2::NetworkAcl": frozenset({"Id"}),
    "AWS::EC2::LaunchTemplate": frozenset({"LaunchTemplateId"}),
    "AWS::EC2::VPCEndpoint": frozenset({"Id"}),
    "AWS::IAM::ManagedPolicy": frozenset({"PolicyArn"}),
    "AWS::SQS::Queue": frozenset({"QueueUrl"}),
    "AWS::SNS::Topic": frozenset({"TopicArn"}),
    "AWS::EFS::FileSystem": frozenset({"FileSystemId"}),
    "AWS::KMS::Key": frozenset({"KeyId"}),
    "AWS::ECS::Service": frozenset({"ServiceArn"}),
    "AWS::ECS::TaskDefinition": frozenset({"TaskDefinitionArn"}),
    "AWS::ElasticLoadBalancingV2::LoadBalancer": frozenset({"LoadBalancerArn"}),
    "AWS::ElasticLoadBalancingV2::TargetGroup": frozenset({"TargetGroupArn"}),
    "AWS::ElasticLoadBalancingV2::Listener": frozenset({"ListenerArn"}),
    "AWS::Route53::HostedZone": frozenset({"Id"}),
    "AWS::SecretsManager::Secret": frozenset({"Id"}),
    "AWS::Events::Rule": frozenset({"Arn"}),
    "AWS::CloudFormation::Stack": frozenset({"StackId"}),
}

# CloudFormation's Tags property is a list of {Key, Value} except on these types, where it is a map; types
# without a Tags property have no tags comparable in the catalog.
TAGS_AS_MAP = frozenset({"AWS::SSM::Parameter"})
# Types whose tags property has another name, or that a template cannot tag at all (their tags are left out,
# and the stack's README says so).
TAGS_PROPERTY: dict[str, str | None] = {
    "AWS::Route53::HostedZone": "HostedZoneTags",
    "AWS::EFS::FileSystem": "FileSystemTags",
    "AWS::EC2::LaunchTemplate": None,  # tags on the template itself go in TagSpecifications; not written here
    "AWS::IAM::ManagedPolicy": None,
}


@dataclass(frozen=True)
class EdgeProperty:
    """A relationship the scan recorded, written as the property of the source resource that states it.

    `form` says what the property takes (`id`, `name` or `arn`) when the target is outside the template; inside
    it, `ref` is what gives it: "Ref" or an attribute name for Fn::GetAtt."""

    property: str
    target_type: str
    form: str
    ref: str = "Ref"
    many: bool = False


EDGE_PROPERTIES: dict[tuple[str, str], tuple[EdgeProperty, ...]] = {
    ("AWS::EC2::Subnet", "in_vpc"): (EdgeProperty("VpcId", "AWS::EC2::VPC", "id"),),
    ("AWS::EC2::SecurityGroup", "in_vpc"): (EdgeProperty("VpcId", "AWS::EC2::VPC", "id"),),
    ("AWS::EC2::RouteTable", "in_vpc"): (EdgeProperty("VpcId", "AWS::EC2::VPC", "id"),),
    ("AWS::EC2::NetworkAcl", "in_vpc"): (EdgeProperty("VpcId", "AWS::EC2::VPC", "id"),),
    ("AWS::EC2::VPCEndpoint", "in_vpc"): (EdgeProperty("VpcId", "AWS::EC2::VPC", "id"),),
    ("AWS::ElasticLoadBalancingV2::TargetGroup", "in_vpc"): (EdgeProperty("VpcId", "AWS::EC2::VPC", "id"),),
    ("AWS::EC2::Instance", "in_subnet"): (EdgeProperty("SubnetId", "AWS::EC2::Subnet", "id"),),
    ("AWS::EC2::NatGateway", "in_subnet"): (EdgeProperty("SubnetId", "AWS::EC2::Subnet", "id"),),
    ("AWS::EC2::NetworkInterface", "in_subnet"): (EdgeProperty("SubnetId", "AWS::EC2::Subnet", "id"),),
    ("AWS::EC2::NatGateway", "uses_eip"): (EdgeProperty("AllocationId", "AWS::EC2::EIP", "id", "AllocationId"),),
    # Ref of a security group is its name outside a VPC; GroupId is its id everywhere
    ("AWS::EC2::Instance", "uses_security_group"): (
        EdgeProperty("SecurityGroupIds", "AWS::EC2::SecurityGroup", "id", "GroupId", many=True),
    ),
    ("AWS::EC2::NetworkInterface", "uses_security_group"): (
        EdgeProperty("GroupSet", "AWS::EC2::SecurityGroup", "id", "GroupId", many=True),
    ),
    ("AWS::RDS::DBInstance", "uses_security_group"): (
        EdgeProperty("VPCSecurityGroups", "AWS::EC2::SecurityGroup", "id", "GroupId", many=True),
    ),
    ("AWS::ElasticLoadBalancingV2::LoadBalancer", "uses_security_group"): (
        EdgeProperty("SecurityGroups", "AWS::EC2::SecurityGroup", "id", "GroupId", many=True),
    ),
    ("AWS::ElasticLoadBalancingV2::LoadBalancer", "in_subnet"): (
        EdgeProperty("Subnets", "AWS::EC2::Subnet", "id", many=True),
    ),
    ("AWS::EC2::Instance", "uses_instance_profile"): (
        EdgeProperty("IamInstanceProfile", "AWS::IAM::InstanceProfile", "name"),
    ),
    ("AWS::EC2::EIP", "attached_to"): (EdgeProperty("InstanceId", "AWS::EC2::Instance", "id"),),
    ("AWS::IAM::InstanceProfile", "uses_role"): (EdgeProperty("Roles", "AWS::IAM::Role", "name", many=True),),
    ("AWS::Lambda::Function", "uses_role"): (EdgeProperty("Role", "AWS::IAM::Role", "arn", "Arn"),),
    ("AWS::RDS::DBInstance", "in_subnet_group"): (
        EdgeProperty("DBSubnetGroupName", "AWS::RDS::DBSubnetGroup", "name"),
    ),
    ("AWS::RDS::DBCluster", "in_subnet_group"): (
        EdgeProperty("DBSubnetGroupName", "AWS::RDS::DBSubnetGroup", "name"),
    ),
    ("AWS::RDS::DBInstance", "member_of"): (EdgeProperty("DBClusterIdentifier", "AWS::RDS::DBCluster", "name"),),
    ("AWS::RDS::DBSubnetGroup", "uses_subnet"): (EdgeProperty("SubnetIds", "AWS::EC2::Subnet", "id", many=True),),
    ("AWS::KMS::Alias", "points_to"): (EdgeProperty("TargetKeyId", "AWS::KMS::Key", "id"),),
    ("AWS::ECS::Service", "in_cluster"): (EdgeProperty("Cluster", "AWS::ECS::Cluster", "arn", "Arn"),),
    ("AWS::ECS::Service", "runs"): (EdgeProperty("TaskDefinition", "AWS::ECS::TaskDefinition", "arn"),),
    ("AWS::ElasticLoadBalancingV2::Listener", "listens_on"): (
        EdgeProperty("LoadBalancerArn", "AWS::ElasticLoadBalancingV2::LoadBalancer", "arn"),
    ),
}

# Comparables whose CloudFormation path is not a plain dotted property path: how the live value is written.
_SPECIAL_PROPERTIES = {
    ("AWS::DynamoDB::Table", "hash_key"): lambda value: {"KeySchema": [{"AttributeName": value, "KeyType": "HASH"}]},
}


@dataclass
class Blocker:
    """A resource codify leaves out of the CloudFormation output, and why."""

    id: str
    type: str
    name: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"id": self.id, "type": self.type, "name": self.name, "reason": self.reason}


@dataclass
class _Declared:
    """One resource as the template declares it."""

    resource: Any
    logical_id: str
    properties: dict[str, Any]
    identifier: dict[str, str]
    notes: list[str] = field(default_factory=list)
    # template parameters import.sh fills with a read-only call at import time: name -> (declaration, command)
    parameters: dict[str, tuple[dict[str, Any], str]] = field(default_factory=dict)


@dataclass
class _Stack:
    """One template: at most MAX_RESOURCES_PER_TEMPLATE resources of one account and region."""

    folder: str
    stack_name: str
    title: str
    account: str
    region: str
    resources: list[Any]


# --------------------------------------------------------------------------------------------- public API


def render_cloudformation(groups: Iterable[Any], blockers: Iterable[Any] = (), codification: Any = None) -> dict[str, str]:
    """Per group, a folder with template.yaml, resources-to-import.json, import.sh and README.md; at the top a
    README.md and blockers.json listing what cannot be imported and why."""
    files, _ = _render(groups, blockers)
    return files


def render_cdk(groups: Iterable[Any], blockers: Iterable[Any] = (), codification: Any = None) -> dict[str, str]:
    """The CloudFormation output, plus under `cdk/` a CDK v2 app (Python) that adopts each template with
    CfnInclude and the resource-mapping files `cdk import --resource-mapping` takes."""
    files, stacks = _render(groups, blockers)
    files.update(_cdk_app(stacks))
    return files


# ------------------------------------------------------------------------------------------------ render


def _render(groups: Iterable[Any], blockers: Iterable[Any]) -> tuple[dict[str, str], list[tuple[_Stack, dict]]]:
    files: dict[str, str] = {}
    all_blockers = [_as_blocker(item) for item in blockers]
    rendered: list[tuple[_Stack, dict]] = []
    used_folders: set[str] = set()
    for group in groups:
        importable, blocked = _importable(group.resources)
        all_blockers += blocked
        slug = _unique(_slug(group.key), used_folders)
        for stack in _stacks(group, slug, importable):
            declared, blocked_here = _declare(stack)
            all_blockers += blocked_here
            if not declared:
                continue
            template = _template(stack, declared)
            template_text = yaml.safe_dump(template, sort_keys=False, default_flow_style=False, width=120)
            to_import = [
                {"ResourceType": d.resource.type, "LogicalResourceId": d.logical_id, "ResourceIdentifier": d.identifier}
                for d in declared
            ]
            files[f"{stack.folder}/template.yaml"] = template_text
            files[f"{stack.folder}/resources-to-import.json"] = json.dumps(to_import, indent=2) + "\n"
            large = len(template_text.encode("utf-8")) > MAX_TEMPLATE_BODY_BYTES
            files[f"{stack.folder}/import.sh"] = _import_script(stack, declared, large)
            files[f"{stack.folder}/README.md"] = _stack_readme(stack, declared, large)
            rendered.append((stack, {"template": template_text, "declared": declared}))
    files["README.md"] = _top_readme(rendered, all_blockers)
    files["blockers.json"] = json.dumps([b.as_dict() for b in all_blockers], indent=2) + "\n"
    return files, rendered


def _as_blocker(item: Any) -> Blocker:
    """The caller's blockers in whatever shape codify gives them: a mapping, a (resource, reason) pair, or an
    object with `resource` and `reason`."""
    if isinstance(item, Blocker):
        return item
    if isinstance(item, dict):
        return Blocker(str(item.get("id", "")), str(item.get("type", "")), str(item.get("name") or ""),
                       str(item.get("reason", "")))
    if isinstance(item, tuple) and len(item) == 2:
        resource, reason = item
    else:
        resource, reason = getattr(item, "resource", item), getattr(item, "reason", "")
    return Blocker(resource.id, resource.type, _display_name(resource), str(reason))


def _importable(resources: Iterable[Any]) -> tuple[list[Any], list[Blocker]]:
    importable, blocked = [], []
    for resource in resources:
        if resource.type in NOT_IMPORTABLE:
            blocked.append(Blocker(resource.id, resource.type, _display_name(resource), NOT_IMPORTABLE[resource.type]))
        elif resource.type not in CATALOG:
            blocked.append(Blocker(resource.id, resource.type, _display_name(resource),
                                   "not in driftgraph's catalog: no CloudFormation identifier is known for it"))
        else:
            importable.append(resource)
    return importable, blocked


def _stacks(group: Any, slug: str, resources: list[Any]) -> list[_Stack]:
    """A stack lives in one account and region: split the group so, then into parts of at most the import
    limit, keeping the group's order (what others depend on first). Global resources (IAM) join the first
    stack of their account, or one in us-east-1 when the account has none."""
    buckets: dict[tuple[str, str], list[Any]] = {}
    for resource in resources:
        if not _is_global(resource):
            buckets.setdefault((resource.account or "", resource.region), []).append(resource)
    for resource in resources:
        if _is_global(resource):
            home = next((key for key in buckets if key[0] == (resource.account or "")), None)
            buckets.setdefault(home or (resource.account or "", "us-east-1"), []).append(resource)
    order = {id(r): n for n, r in enumerate(resources)}
    units = []
    for (account, region), members in buckets.items():
        members.sort(key=lambda r: order[id(r)])
        for start in range(0, len(members), MAX_RESOURCES_PER_TEMPLATE):
            units.append((account, region, members[start:start + MAX_RESOURCES_PER_TEMPLATE]))
    stacks = []
    for n, (account, region, members) in enumerate(units, 1):
        folder = slug if len(units) == 1 else f"{slug}/part-{n:02d}"
        name = f"driftgraph-{slug}" + ("" if len(units) == 1 else f"-part-{n:02d}")
        title = group.title if len(units) == 1 else f"{group.title} (part {n} of {len(units)}: {account} {region})"
        stacks.append(_Stack(folder, _stack_name(name), title, account, region, members))
    return stacks


def _is_global(resource: Any) -> bool:
    row = CATALOG.get(resource.type)
    return bool(row and row.is_global) or resource.region in (None, "", "global")


# ------------------------------------------------------------------------------------------- declarations


def _declare(stack: _Stack) -> tuple[list[_Declared], list[Blocker]]:
    """Each resource's logical id, properties and import identifier; a resource whose required properties
    or identifier values are out of reach is a blocker."""
    logical_ids: dict[str, str] = {}
    taken: set[str] = set()
    for resource in stack.resources:
        logical_ids[resource.id] = _unique(_logical_id(resource), taken)
    by_id = {r.id: r for r in stack.resources}
    declared, blocked = [], []
    for resource in stack.resources:
        row = CATALOG[resource.type]
        identifier, missing_id = _identifier(resource, row)
        properties, notes = _properties(resource, row, identifier, logical_ids, by_id)
        missing = [p for p in REQUIRED_PROPERTIES.get(resource.type, ()) if p not in properties]
        if missing_id or missing:
            reasons = [f"its import identifier {p} is not known from the scan" for p in missing_id]
            reasons += [
                f"CloudFormation requires {p}, and " + _WHY_UNKNOWN.get((resource.type, p), "the scan did not record it")
                for p in missing
            ]
            blocked.append(Blocker(resource.id, resource.type, _display_name(resource), "; ".join(reasons)))
            continue
        declared.append(_Declared(resource, logical_ids[resource.id], properties, identifier, notes))
    for d in declared:
        d.parameters = _looked_up(d.resource, d.logical_id, d.properties)
    # a reference to a blocked resource is no reference: write its literal value instead
    present = {d.resource.id for d in declared}
    if len(present) != len(stack.resources):
        keep = {k: v for k, v in logical_ids.items() if k in present}
        kept = {k: v for k, v in by_id.items() if k in present}
        for d in declared:
            d.properties, d.notes = _properties(d.resource, CATALOG[d.resource.type], d.identifier, keep, kept)
            d.parameters = _looked_up(d.resource, d.logical_id, d.properties)
    return declared, blocked


def _looked_up(resource: Any, logical_id: str, properties: dict[str, Any]) -> dict[str, tuple[dict[str, Any], str]]:
    """Properties CloudFormation needs that the scan does not store, made template parameters that import.sh
    fills with one read-only call: an instance's AMI, the type of a table's hash key."""
    region = shlex.quote(resource.region or "us-east-1")
    parameters: dict[str, tuple[dict[str, Any], str]] = {}
    if resource.type == "AWS::EC2::Instance" and "ImageId" not in properties and "LaunchTemplate" not in properties:
        name = f"{logical_id}ImageId"[:255]
        query = shlex.quote("Reservations[0].Instances[0].ImageId")
        parameters[name] = (
            {"Type": "AWS::EC2::Image::Id", "Description": f"The AMI instance {resource.natural_id} was launched from"},
            f"aws ec2 describe-instances --region {region} --instance-ids {shlex.quote(resource.natural_id)} "
            f"--query {query} --output text",
        )
        properties["ImageId"] = {"Ref": name}
    if resource.type == "AWS::DynamoDB::Table" and "AttributeDefinitions" not in properties:
        keys = [k["AttributeName"] for k in properties.get("KeySchema", []) if isinstance(k, dict)]
        definitions = []
        for n, key in enumerate(keys, 1):
            name = f"{logical_id}Key{n}Type"[:255]
            query = shlex.quote(f"Table.AttributeDefinitions[?AttributeName=='{key}'].AttributeType | [0]")
            parameters[name] = (
                {"Type": "String", "AllowedValues": ["S", "N", "B"],
                 "Description": f"The type of key attribute {key} of table {resource.natural_id}"},
                f"aws dynamodb describe-table --region {region} --table-name {shlex.quote(resource.natural_id)} "
                f"--query {query} --output text",
            )
            definitions.append({"AttributeName": key, "AttributeType": {"Ref": name}})
        if definitions:
            properties["AttributeDefinitions"] = definitions
    return parameters


def _identifier(resource: Any, row: ResourceType) -> tuple[dict[str, str], list[str]]:
    """The ResourceIdentifier: each identifier property's value on the live resource."""
    values: dict[str, str] = {}
    missing: list[str] = []
    for prop in row.import_identifier:
        value = _identifier_value(resource, prop)
        if value:
            values[prop] = value
        else:
            missing.append(prop)
    return values, missing


def _identifier_value(resource: Any, prop: str) -> str | None:
    kind = resource.type
    if kind == "AWS::SQS::Queue" and prop == "QueueUrl":
        # the natural id is the queue's name; its URL is the name under the regional endpoint
        if resource.account and resource.region and resource.natural_id:
            return f"https://sqs.{resource.region}.amazonaws.com/{resource.account}/{resource.natural_id}"
        return None
    if kind == "AWS::EC2::EIP" and prop == "PublicIp":
        # the address is an alias of the allocation; codify passes it in attributes or aliases when it has it
        attributes = resource.attributes or {}
        for key in ("public_ip", "PublicIp"):
            if attributes.get(key):
                return str(attributes[key])
        return next((a for a in getattr(resource, "aliases", ()) or () if _looks_like_ip(a)), None)
    if kind == "AWS::ECS::Service" and prop == "Cluster":
        return next((target for relation, target in resource.edges_out if relation == "in_cluster"), None)
    if prop in ("Arn", "StackId") and resource.arn:
        return resource.arn
    return resource.natural_id or None


def _looks_like_ip(text: str) -> bool:
    return bool(re.fullmatch(r"\d{1,3}(\.\d{1,3}){3}", str(text)))


def _properties(resource: Any, row: ResourceType, identifier: dict[str, str], logical_ids: dict[str, str],
                by_id: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    properties: dict[str, Any] = {}
    notes: list[str] = []
    read_only = READ_ONLY_IDENTIFIERS.get(row.type, frozenset())
    # identifier properties CloudFormation lets a template set must equal the imported resource's
    for prop, value in identifier.items():
        if prop not in read_only:
            properties[prop] = value
    if row.cloudformation_name and row.cloudformation_name not in properties:
        physical_name = _physical_name(resource)
        if physical_name:
            properties[row.cloudformation_name] = physical_name
    attributes = resource.attributes or {}
    for comparable in row.comparables:
        if comparable.kind == "tags" or comparable.name not in attributes:
            continue
        if is_secret_attribute(comparable.name) or (comparable.cloudformation and is_secret_attribute(comparable.cloudformation)):
            notes.append(f"{comparable.name} left out: its name says secret")
            continue
        written = _property_for(row, comparable, attributes[comparable.name])
        if written is None:
            continue
        if _redacted(written):
            notes.append(f"{comparable.name} left out: it looks secret")
            continue
        for prop, value in written.items():
            if prop not in properties:  # an identifier set above wins
                properties[prop] = _merge(properties.get(prop), value)
    _edge_properties(resource, row, identifier, logical_ids, by_id, properties)
    tags, tag_notes = _tags(resource, row)
    notes += tag_notes
    tags_property = TAGS_PROPERTY.get(row.type, "Tags")
    if tags is not None and tags_property is None:
        notes.append("tags left out: a template cannot set them on this type")
    elif tags is not None:
        properties[tags_property] = tags
    return properties, notes


def _physical_name(resource: Any) -> str | None:
    """The name property's value: the natural id, unless that is an ARN (then the name the scan read)."""
    natural = resource.natural_id or ""
    if natural and not natural.startswith("arn:"):
        return natural
    return resource.name or None


def _property_for(row: ResourceType, comparable: Comparable, value: Any) -> dict[str, Any] | None:
    """The live value of one comparable as the template property (or properties) that declare it."""
    if value is None:
        return None
    special = _SPECIAL_PROPERTIES.get((row.type, comparable.name))
    if special:
        return special(value)
    path = comparable.cloudformation
    if not path or not re.fullmatch(r"[A-Za-z0-9]+(\.[A-Za-z0-9]+)*", path):
        return None
    converted = _convert(comparable.kind, value)
    if converted is None:
        return None
    if (row.type, comparable.name) == ("AWS::SQS::Queue", "fifo_queue") and converted is not True:
        return None  # SQS rejects FifoQueue: false on a standard queue; leaving it out means standard
    head, *rest = path.split(".")
    for key in reversed(rest):
        converted = {key: converted}
    return {head: converted}


def _convert(kind: str, value: Any) -> Any:
    try:
        if kind == "int":
            return int(float(value))
        if kind == "retention":
            return int(value)
        if kind == "float":
            return float(value)
        if kind == "bool":
            return _to_bool(value)
        if kind in ("set", "groups"):
            values = value if isinstance(value, list) else [value]
            return sorted({str(v) for v in values if v is not None})
        if kind == "policy":
            return _policy(value)
        if kind == "rules":
            return _rules(value)
        if kind == "versioning":
            return value if value in ("Enabled", "Suspended") else None
        if isinstance(value, (dict, list)):
            return None  # a scalar kind with a structured value: not ours to guess at
        return value
    except (TypeError, ValueError):
        return None


def _to_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    return {"true": True, "enabled": True, "1": True, "false": False, "disabled": False, "0": False}.get(text)


def _policy(value: Any) -> Any:
    """IAM answers policy documents URL-encoded where boto3 did not decode them."""
    if isinstance(value, str):
        text = urllib.parse.unquote(value) if value.startswith("%7B") else value
        return json.loads(text)
    return value if isinstance(value, dict) else None


def _rules(value: Any) -> list[dict[str, Any]] | None:
    """EC2's IpPermissions (peers nested under each permission) as CloudFormation rules (one peer each)."""
    if not isinstance(value, list):
        return None
    rules = []
    for permission in value:
        if not isinstance(permission, dict) or "IpProtocol" not in permission:
            continue
        base: dict[str, Any] = {"IpProtocol": str(permission["IpProtocol"])}
        for port in ("FromPort", "ToPort"):
            if permission.get(port) is not None:
                base[port] = int(permission[port])
        for peer in permission.get("IpRanges") or []:
            rules.append(_rule(base, {"CidrIp": peer.get("CidrIp")}, peer))
        for peer in permission.get("Ipv6Ranges") or []:
            rules.append(_rule(base, {"CidrIpv6": peer.get("CidrIpv6")}, peer))
        for peer in permission.get("UserIdGroupPairs") or []:
            rules.append(_rule(base, {"SourceSecurityGroupId": peer.get("GroupId")}, peer))
        for peer in permission.get("PrefixListIds") or []:
            rules.append(_rule(base, {"SourcePrefixListId": peer.get("PrefixListId")}, peer))
    return [r for r in rules if r is not None]


def _rule(base: dict[str, Any], peer_field: dict[str, Any], peer: dict[str, Any]) -> dict[str, Any] | None:
    if not all(peer_field.values()):
        return None
    rule = {**base, **peer_field}
    if peer.get("Description"):
        rule["Description"] = peer["Description"]
    return rule


def _egress(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Egress rules name their peer as a destination."""
    renamed = {"SourceSecurityGroupId": "DestinationSecurityGroupId", "SourcePrefixListId": "DestinationPrefixListId"}
    return [{renamed.get(k, k): v for k, v in rule.items()} for rule in rules]


def _merge(old: Any, new: Any) -> Any:
    if isinstance(old, dict) and isinstance(new, dict):
        return {**old, **{k: _merge(old.get(k), v) for k, v in new.items()}}
    return new


def _redacted(value: Any) -> bool:
    """True when redaction would change the value: it holds something secret-shaped."""
    return redact(value) != value or REDACTED in json.dumps(value, default=str)


def _edge_properties(resource: Any, row: ResourceType, identifier: dict[str, str], logical_ids: dict[str, str],
                     by_id: dict[str, Any], properties: dict[str, Any]) -> None:
    """Relationships as properties: a Ref or Fn::GetAtt where the template declares the target, else the
    target's literal id, name or ARN. Import identifiers stay literal (the import matches them by value)."""
    if row.type == "AWS::EC2::SecurityGroup" and "SecurityGroupEgress" in properties:
        properties["SecurityGroupEgress"] = _egress(properties["SecurityGroupEgress"])
    collected: dict[str, list[Any]] = {}
    single: dict[str, Any] = {}
    known = getattr(resource, "targets", None) or {}  # what codify knows of targets outside the group
    for relation, target_id in resource.edges_out:
        for edge in EDGE_PROPERTIES.get((row.type, relation), ()):
            if edge.property in identifier:
                continue
            target = by_id.get(target_id)
            target_type = target.type if target is not None else (known.get(target_id) or {}).get("type")
            if target_type is not None and target_type != edge.target_type:
                continue
            if target_type is None and not _names_type(target_id, edge.target_type):
                continue
            if target is not None and target_id in logical_ids:
                logical = logical_ids[target_id]
                value: Any = {"Ref": logical} if edge.ref == "Ref" else {"Fn::GetAtt": [logical, edge.ref]}
            else:
                value = _literal(target_id, edge.form, known.get(target_id) or {})
                if value is None:
                    continue
            if edge.many:
                collected.setdefault(edge.property, []).append(value)
            else:
                single.setdefault(edge.property, value)
    for prop, values in collected.items():
        unique = []
        for value in values:
            if value not in unique:
                unique.append(value)
        properties[prop] = unique
    properties.update(single)
    # Security group rules keep their peers' literal ids: groups that allow each other (or themselves) would
    # be a circular dependency as references, and a template with one cannot be imported.


def _names_type(target_id: str, target_type: str) -> bool:
    """Whether a graph id (an ARN, or TYPE:account:region:id) can name a resource of `target_type`."""
    if target_id.startswith(target_type + ":"):
        return True
    row = CATALOG.get(target_type)
    if row is None or not target_id.startswith("arn:"):
        return False
    if "{id}" not in row.arn or row.arn == "{id}":
        return True  # an ARN the catalog cannot shape (a function's, or the natural id itself): trust the edge
    pattern = re.escape(row.arn)
    for name, regex in (("partition", "[^:]*"), ("region", "[^:]*"), ("account", "[^:]*"), ("id", ".+")):
        pattern = pattern.replace(re.escape("{" + name + "}"), regex)
    return re.fullmatch(pattern, target_id) is not None


def _literal(target_id: str, form: str, known: dict[str, Any]) -> str | None:
    """The id, name or ARN of a resource outside the template: what the scan stored of it, else its graph id."""
    natural = known.get("natural_id")
    if form == "id" and natural:
        return str(natural)
    if form == "name" and (natural or known.get("name")):
        natural_is_arn = str(natural or "").startswith("arn:")
        return str(known.get("name") if natural_is_arn or not natural else natural)
    if target_id.startswith("AWS::"):
        parts = target_id.split(":", 7)  # AWS::X::Y:account:region:natural id
        return parts[7] if len(parts) == 8 and form != "arn" else None
    if not target_id.startswith("arn:"):
        return target_id
    if form == "arn":
        return target_id
    resource = target_id.split(":", 5)[-1]
    return re.split(r"[/:]", resource)[-1] or None


def _tags(resource: Any, row: ResourceType) -> tuple[Any, list[str]]:
    if not any(c.kind == "tags" for c in row.comparables) or not resource.tags:
        return None, []
    notes = []
    safe = redact_tags(dict(resource.tags)) or {}
    kept: dict[str, str] = {}
    for key, value in resource.tags.items():
        key = str(key)
        if key.lower().startswith("aws:"):
            continue  # AWS's own tags (aws:cloudformation:*, aws:autoscaling:*) cannot be set by a template
        if safe.get(key) != value or REDACTED in str(value) or REDACTED in key:
            notes.append("a tag left out: it looks secret")
            continue
        kept[key] = "" if value is None else str(value)
    if not kept:
        return None, notes
    if row.type in TAGS_AS_MAP:
        return kept, notes
    return [{"Key": k, "Value": v} for k, v in kept.items()], notes


# ------------------------------------------------------------------------------------------------ names


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[^A-Za-z0-9]+", text) if w]


def _logical_id(resource: Any) -> str:
    """Readable: the Name tag or name, in CamelCase, with the type's short name after it."""
    kind = resource.type.rsplit("::", 1)[-1]
    tags = resource.tags or {}
    name = tags.get("Name") if isinstance(tags.get("Name"), str) else None
    name = name or resource.name or _physical_name(resource) or ""
    if name.startswith("arn:"):
        name = re.split(r"[/:]", name)[-1]
    if redact(name, "name") != name:
        name = ""  # a secret-looking name stays out of the template, logical ids included
    camel = "".join(w[:1].upper() + w[1:] for w in _words(name))
    if not camel:
        camel = kind
    elif not camel.lower().endswith(kind.lower()):
        camel += kind
    if not camel[0].isalpha():
        camel = kind + camel
    return camel[:200]


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 2
    while candidate.lower() in {t.lower() for t in taken}:
        candidate, n = f"{name}{n}", n + 1
    taken.add(candidate)
    return candidate


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")
    return slug[:60].strip("-") or "group"


def _stack_name(text: str) -> str:
    """A stack name: letters, digits and hyphens, starting with a letter, at most 128 characters."""
    name = re.sub(r"[^A-Za-z0-9-]+", "-", text).strip("-")
    return name[:128]


def _display_name(resource: Any) -> str:
    return str(resource.name or resource.natural_id or resource.id)


# --------------------------------------------------------------------------------------------- documents


def _template(stack: _Stack, declared: list[_Declared]) -> dict[str, Any]:
    resources = {}
    for d in declared:
        resources[d.logical_id] = {
            "Type": d.resource.type,
            # resource import requires a DeletionPolicy; Retain on both keeps the resource if the stack goes
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": d.properties,
        }
    description = f"Hand-made resources adopted by driftgraph codify: {stack.title}"
    template: dict[str, Any] = {"AWSTemplateFormatVersion": "2010-09-09", "Description": _safe_text(description)[:1024]}
    parameters = {name: declaration for d in declared for name, (declaration, _) in d.parameters.items()}
    if parameters:
        template["Parameters"] = parameters
    template["Resources"] = resources
    return template


def _safe_text(text: str) -> str:
    return str(redact(text))


def _needs_iam_capability(declared: list[_Declared]) -> bool:
    return any(d.resource.type.startswith("AWS::IAM::") for d in declared)


def _import_commands(stack: _Stack, declared: list[_Declared], large: bool) -> list[str]:
    region = f"--region {shlex.quote(stack.region)}"
    target = f"--stack-name {shlex.quote(stack.stack_name)}"
    body = ('--template-url "https://$TEMPLATE_BUCKET.s3.amazonaws.com/' + stack.stack_name + '/template.yaml"'
            if large else "--template-body file://template.yaml")
    create = (f"aws cloudformation create-change-set {region} {target} --change-set-name {CHANGE_SET_NAME} "
              f"--change-set-type IMPORT --resources-to-import file://resources-to-import.json {body}")
    lookups = [(name, command) for d in declared for name, (_, command) in d.parameters.items()]
    if lookups:
        create += " --parameters " + " ".join(
            f'ParameterKey={name},ParameterValue="${_variable(name)}"' for name, _ in lookups)
    if _needs_iam_capability(declared):
        create += " --capabilities CAPABILITY_NAMED_IAM"
    commands = [f'{_variable(name)}="$({command})"' for name, command in lookups]
    if large:
        commands.append(f'aws s3 cp template.yaml "s3://$TEMPLATE_BUCKET/{stack.stack_name}/template.yaml" {region}')
    commands += [
        create,
        f"aws cloudformation wait change-set-create-complete {region} {target} --change-set-name {CHANGE_SET_NAME}",
        f"aws cloudformation describe-change-set {region} {target} --change-set-name {CHANGE_SET_NAME}",
        f"aws cloudformation execute-change-set {region} {target} --change-set-name {CHANGE_SET_NAME}",
        f"aws cloudformation wait stack-import-complete {region} {target}",
    ]
    return commands


def _variable(parameter: str) -> str:
    return re.sub(r"[^A-Z0-9_]", "_", parameter.upper())


def _import_script(stack: _Stack, declared: list[_Declared], large: bool) -> str:
    lines = [
        "#!/bin/sh",
        f"# Import {len(declared)} existing resource(s) into the new stack {stack.stack_name}",
        f"# (account {stack.account or 'unknown'}, region {stack.region}). Read README.md and template.yaml first:",
        "# the change set is created, shown, and executed only when this script goes on past describe-change-set.",
        "set -eu",
        'cd "$(dirname "$0")"',
    ]
    if large:
        lines.append(': "${TEMPLATE_BUCKET:?set TEMPLATE_BUCKET to an S3 bucket for the template (over 51,200 bytes)}"')
    lines += _import_commands(stack, declared, large)
    return "\n".join(lines) + "\n"


def _stack_readme(stack: _Stack, declared: list[_Declared], large: bool) -> str:
    lines = [
        f"# {_safe_text(stack.title)}",
        "",
        f"Stack `{stack.stack_name}` in account `{stack.account or 'unknown'}`, region `{stack.region}`: "
        f"{len(declared)} resource(s) to import with a CloudFormation IMPORT change set.",
        "",
        "| Logical id | Type | Resource | Identifier |",
        "|---|---|---|---|",
    ]
    for d in declared:
        identifier = ", ".join(f"{k}={v}" for k, v in d.identifier.items())
        lines.append(f"| {d.logical_id} | {d.resource.type} | {_cell(_display_name(d.resource))} | {_cell(identifier)} |")
    lines += ["", "## Import", "", "Run `sh import.sh`, or these commands from this folder:", "", "```sh"]
    if large:
        lines.append("# the template is over 51,200 bytes: it goes to S3 first")
        lines.append("export TEMPLATE_BUCKET=<a bucket of yours in this region>")
    lines += _import_commands(stack, declared, large)
    lines += ["```", "", "## Check before you execute", "",
              "- The template declares only what driftgraph reads (tags and the compared attributes) plus the "
              "identifiers. Import does not change a resource, but the next stack update applies the template: "
              "add the properties you rely on first, then run drift detection "
              f"(`aws cloudformation detect-stack-drift --region {stack.region} --stack-name {stack.stack_name}`).",
              "- Every resource has `DeletionPolicy: Retain` and `UpdateReplacePolicy: Retain`, so deleting the "
              "stack or replacing a resource never deletes the hand-made original.",
              "- Properties CloudFormation cannot change without replacement (names, key schemas, CIDR blocks) "
              "must match the live resource exactly."]
    notes = [(d.logical_id, note) for d in declared for note in d.notes]
    if notes:
        lines += ["", "## Left out", ""] + [f"- {logical}: {_cell(note)}" for logical, note in notes]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return _safe_text(text).replace("|", "\\|").replace("\n", " ")


def _top_readme(rendered: list[tuple[_Stack, dict]], blockers: list[Blocker]) -> str:
    lines = ["# CloudFormation import of hand-made resources", "",
             "Written by `driftgraph codify`. One folder per stack; in each, `template.yaml`, "
             "`resources-to-import.json` and `import.sh` with the exact `aws cloudformation create-change-set "
             "--change-set-type IMPORT` and `execute-change-set` commands. At most "
             f"{MAX_RESOURCES_PER_TEMPLATE} resources per template (CloudFormation's import limit).", ""]
    if rendered:
        lines += ["| Folder | Stack | Account | Region | Resources |", "|---|---|---|---|---|"]
        for stack, data in rendered:
            lines.append(f"| {stack.folder} | {stack.stack_name} | {stack.account or '-'} | {stack.region} | "
                         f"{len(data['declared'])} |")
    else:
        lines.append("Nothing to import.")
    lines += ["", "## Blockers", ""]
    if blockers:
        lines += ["Not in any template (also in `blockers.json`):", "", "| Resource | Type | Why |", "|---|---|---|"]
        for b in blockers:
            lines.append(f"| {_cell(b.name or b.id)} | {b.type} | {_cell(b.reason)} |")
    else:
        lines.append("None: every selected resource is in a template.")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------------- CDK


def _cdk_app(rendered: list[tuple[_Stack, dict]]) -> dict[str, str]:
    files: dict[str, str] = {}
    stacks = []
    for stack, data in rendered:
        files[f"cdk/templates/{stack.stack_name}.yaml"] = data["template"]
        mapping = {d.logical_id: d.identifier for d in data["declared"]}
        files[f"cdk/mappings/{stack.stack_name}.json"] = json.dumps(mapping, indent=2) + "\n"
        parameters = [name for d in data["declared"] for name in d.parameters]
        stacks.append((stack.stack_name, stack.account, stack.region, parameters))
    app_lines = [
        '"""CDK v2 app written by driftgraph codify: each stack adopts one import template with CfnInclude."""',
        "",
        "import aws_cdk as cdk",
        "from aws_cdk import cloudformation_include as cfn_include",
        "from constructs import Construct",
        "",
        "",
        "class AdoptedStack(cdk.Stack):",
        '    """A stack whose resources are the template\'s, logical ids kept, so `cdk import` can adopt them."""',
        "",
        "    def __init__(self, scope: Construct, construct_id: str, *, template_file: str, parameter_names: list,",
        "                 **kwargs) -> None:",
        "        super().__init__(scope, construct_id, **kwargs)",
        "        # values read at import time (an instance's AMI), given as `-c NAME=VALUE`, replace the parameters",
        "        parameters = {name: self.node.try_get_context(name) for name in parameter_names}",
        "        parameters = {name: value for name, value in parameters.items() if value is not None}",
        '        self.template = cfn_include.CfnInclude(self, "Template", template_file=template_file,',
        "                                               parameters=parameters or None)",
        "",
        "",
        "app = cdk.App()",
    ]
    for name, account, region, parameters in stacks:
        env = f"cdk.Environment(account={account!r}, region={region!r})" if account else f"cdk.Environment(region={region!r})"
        app_lines.append(f"AdoptedStack(app, {name!r}, template_file={('templates/' + name + '.yaml')!r}, "
                         f"parameter_names={parameters!r}, env={env})")
    app_lines.append("app.synth()")
    files["cdk/app.py"] = "\n".join(app_lines) + "\n"
    # versionReporting off: the CDKMetadata resource it adds is not importable and would fail `cdk import`
    files["cdk/cdk.json"] = json.dumps({"app": "python3 app.py", "versionReporting": False}, indent=2) + "\n"
    files["cdk/requirements.txt"] = f"{CDK_LIB_REQUIREMENT}\n{CONSTRUCTS_REQUIREMENT}\n"
    readme = [
        "# CDK app adopting the hand-made resources", "",
        "Each stack includes one template of the CloudFormation output (a copy under `templates/`) with "
        "`cloudformation_include.CfnInclude`, keeping its logical ids, so the resources can be imported as they are "
        "and then refactored into higher-level constructs.", "",
        "```sh", "cd cdk", "python3 -m venv .venv && . .venv/bin/activate", "pip install -r requirements.txt",
        "cdk bootstrap   # once per account and region", "cdk synth",
    ]
    for (name, _, _, _), (stack, data) in zip(stacks, rendered):
        context = ""
        for d in data["declared"]:
            for parameter, (_, command) in d.parameters.items():
                readme.append(f'{_variable(parameter)}="$({command})"')
                context += f' -c {parameter}="${_variable(parameter)}"'
        readme.append(f"cdk import {name} --resource-mapping mappings/{name}.json{context}")
    readme += ["```", "",
               "`cdk import` creates the stack from the imported resources alone; each resource keeps "
               "`DeletionPolicy: Retain`. Run `cdk diff` afterwards: it should show no change."]
    if not stacks:
        readme += ["", "No stack: nothing was importable (see ../README.md for the blockers)."]
    files["cdk/README.md"] = "\n".join(readme) + "\n"
    return files
