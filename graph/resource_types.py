"""The resource-type catalog: one row of data per AWS resource type, keyed by its CloudFormation type name.

Generic code runs the rows: the scanner lists and describes with the calls named here, the importers map
Terraform types and CloudFormation physical ids onto the `natural_id` named here, and the reconciler
compares the `comparables`. Per-type code exists only as small named functions a row points to.
Adding a type is one row plus its test data (tests/test_catalog.py walks every row).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

# ---------------------------------------------------------------------------------------------- row shape


@dataclass(frozen=True)
class Call:
    """One boto3 read call. `params` values are str.format templates over the listed item (or, for a
    `parent` listing, over the parent item); `path` is a JMESPath into the response."""

    method: str
    params: Mapping[str, Any] = field(default_factory=dict)
    path: str = "@"
    missing_ok: tuple[str, ...] = ()  # error codes that mean "nothing here" (NoSuchTagSet), not a failure
    # (path in the answer, path in the item) pairs that must agree: a detail or tag answer about another
    # resource (or about none) is a failed call, never merged into the listed item
    identity: tuple[tuple[str, str], ...] = ()
    # Asked for up to `batch` items at once (ECS describes 100 clusters a call): a list parameter's one template
    # ('["{clusterArn}"]') takes every item's value; `entries` is the JMESPath of the answer's list of entries,
    # `path` then reads one entry and `identity` (entry path, item path) says which item an entry is about.
    # A batched call's parameters come from the listed item, never from a detail call.
    batch: int = 0
    entries: str = ""
    # not sent for an item that already has this field (ListBuckets names a bucket's region on AWS): the list
    # call told what the call would
    unless: str = ""


@dataclass(frozen=True)
class Tags:
    """Where a type's tags come from: a field of the listed item or a call, and the shape they have."""

    path: str  # JMESPath into the item (when call is None) or into the call's response
    call: Call | None = None
    key: str = "Key"  # list-of-pairs shape: the field names of key and value; "map" for a plain dict
    value: str = "Value"
    # the Resource Groups Tagging API's resource type filter (GetResources ResourceTypeFilters) when it covers the
    # type: one paginated call a region gives every such type's tags, matched by ARN; `call` is then the fallback
    # when GetResources fails. A service's name alone ("logs") where moto and AWS name the resource differently.
    tagging: str | None = None
    # one account-wide call that answers every item's tags at once (IAM GetAccountAuthorizationDetails), made in
    # place of `call` per item when a listing has at least `bulk_from` items: its `entries` matched to the items
    # by its `identity`, `path` read in each entry; an item it does not name gets its own `call`
    bulk: Call | None = None
    bulk_from: int = 20


@dataclass(frozen=True)
class TerraformType:
    """A Terraform resource type that declares this resource, and the state attribute with our natural id.

    `import_id` is a str.format template over state attributes: what `terraform import` takes.
    `live_import_id` is the same id built from a live resource (graph/codify_terraform.py `import_id`), a
    template over its natural_id, name, arn, account, region, dns_suffix (amazonaws.com, or .com.cn in China),
    arn_path (the ARN's resource part after its first '/') and cluster (an ECS service's cluster name);
    None: the natural id."""

    type: str
    id_attribute: str = "id"
    import_id: str = "{id}"
    live_import_id: str | None = None


@dataclass(frozen=True)
class ChildType:
    """A declaration that belongs to a parent resource (an inline rule, a policy attachment, a version).

    `parent_attribute` names the attribute or property that points at the parent (by id, name or ARN)."""

    type: str  # Terraform type or CloudFormation type
    parent_attribute: str


@dataclass(frozen=True)
class Comparable:
    """One attribute compared for drift. Paths are JMESPath into the live item, the Terraform state
    attributes and the CloudFormation properties; `kind` names the normaliser in graph/drift.py.
    An empty path means that source cannot declare it; a declaration that leaves it out is skipped."""

    name: str
    live: str
    terraform: str = ""
    cloudformation: str = ""
    kind: str = "scalar"  # scalar | int | float | bool | lower | set | tags | rules | policy | key_id | name_tail


@dataclass(frozen=True)
class Edge:
    """A relationship the live item names: `path` (JMESPath) gives the target's natural id, ARN or alias."""

    relation: str
    target: str
    path: str


@dataclass(frozen=True)
class ResourceType:
    type: str  # CloudFormation type name: our canonical type
    service: str  # boto3 client name
    list: Call  # the call that enumerates it; paginated when boto3 has a paginator for it
    id: str  # JMESPath in the (normalised) item: the natural id, unique in (account, region, type)
    arn: str  # str.format template over partition, region, account, id ("{id}": the natural id is the ARN)
    scope: str = "regional"  # regional | global (listed once per account) | global_list (listed once, resources regional)
    arn_field: str | None = None  # JMESPath of the ARN in the live item, preferred to the template
    name: str | None = None  # JMESPath of a human name; tags.Name is used when absent
    aliases: tuple[str, ...] = ()  # JMESPaths of other identifiers the resource answers to
    details: tuple[tuple[str, Call], ...] = ()  # (key, call): each answer is merged into the item under key
    tags: Tags | None = None
    parent: tuple[str, Mapping[str, str]] | None = None  # (parent type, list params over the parent item)
    terraform: tuple[TerraformType, ...] = ()
    terraform_children: tuple[ChildType, ...] = ()
    cloudformation_children: tuple[ChildType, ...] = ()
    comparables: tuple[Comparable, ...] = ()
    edges: tuple[Edge, ...] = ()
    keep: str | None = None  # name of a predicate on the raw item: False drops it (terminated, deleted)
    normalize: str | None = None  # name of a function turning a listed item into the item the paths read
    finish: str | None = None  # name of a function run on the item after its detail calls
    default: str | None = None  # name of a predicate returning a reason when AWS made the resource
    physical_id: str | None = None  # name of a function mapping a CloudFormation physical id to the natural id
    lowercase_id: bool = False  # the service lowercases identifiers (RDS): compare ids case-insensitively
    import_identifier: tuple[str, ...] = ()  # CloudFormation resource-import identifier properties
    cloudformation_name: str | None = None  # the property that sets the physical name (matches template files)

    @property
    def is_global(self) -> bool:
        return self.scope == "global"

    @property
    def terraform_types(self) -> tuple[str, ...]:
        return tuple(t.type for t in self.terraform)


TAGS = Comparable("tags", live="", kind="tags")  # tags are compared everywhere; their sources live on the row


def _kv(path: str = "Tags") -> Tags:
    return Tags(path)


# ------------------------------------------------------------------------- named per-type functions
# Each hides one AWS quirk; the rows below point at them by name.


def keep_not_terminated(item: dict) -> bool:
    """Terminated instances stay listed for about an hour; they are gone, not unmanaged."""
    return (item.get("State") or {}).get("Name") not in ("terminated", "shutting-down")


def keep_not_deleted_nat(item: dict) -> bool:
    """Deleted NAT gateways stay listed for a while with state 'deleted'."""
    return item.get("State") not in ("deleted", "deleting", "failed")


def keep_live_stack(item: dict) -> bool:
    """DescribeStacks hides deleted stacks, but a stack mid-delete or one that never got created is no resource."""
    return item.get("StackStatus") not in ("DELETE_COMPLETE", "DELETE_IN_PROGRESS", "ROLLBACK_COMPLETE")


def keep_enabled_key(item: dict) -> bool:
    """A key pending deletion is on its way out; Terraform already treats it as gone."""
    return item.get("KeyState") not in ("PendingDeletion", "PendingReplicaDeletion")


def normalize_queue(item: Any) -> dict:
    """ListQueues answers bare URLs; the name is the URL's last segment."""
    url = item if isinstance(item, str) else item["QueueUrl"]
    return {"QueueUrl": url, "QueueName": url.rstrip("/").rsplit("/", 1)[-1]}


def normalize_table(item: Any) -> dict:
    """ListTables answers bare table names."""
    return {"TableName": item} if isinstance(item, str) else item


def normalize_arn_item(key: str) -> Callable[[Any], dict]:
    """List calls that answer bare ARNs; the name is what follows the last '/' or ':'."""

    def normalize(item: Any) -> dict:
        item = {key: item} if isinstance(item, str) else item
        arn = item.get(key) or ""
        return {"ArnName": arn.replace(":", "/").rsplit("/", 1)[-1], **item}

    normalize.__name__ = f"normalize_{key}"
    return normalize


def normalize_hosted_zone(item: dict) -> dict:
    """Route 53 answers '/hostedzone/Z123'; Terraform and CloudFormation say 'Z123'."""
    return {**item, "ZoneId": item["Id"].rsplit("/", 1)[-1], "Name": item["Name"].rstrip(".")}


def normalize_log_group(item: dict) -> dict:
    """The log group ARN from the API ends in ':*'; the resource's ARN does not."""
    arn = item.get("arn", "")
    return {**item, "arn": arn[:-2] if arn.endswith(":*") else arn}


def finish_bucket(item: dict) -> dict:
    """GetBucketLocation answers None for us-east-1 and 'EU' for the oldest eu-west-1 buckets. When it was not
    asked (ListBuckets named the region: AWS does, moto does not) or failed, the region ListBuckets names or none:
    unknown, never us-east-1 by default."""
    if "Location" not in item:
        return {**item, "Region": item.get("BucketRegion") or None}
    location = item["Location"]
    region = {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(location, location)
    return {**item, "Region": region}


def physical_id_url_tail(physical_id: str) -> str:
    """CloudFormation names an SQS queue by its URL; we name it by the URL's last segment."""
    return physical_id.rstrip("/").rsplit("/", 1)[-1]


def physical_id_zone(physical_id: str) -> str:
    return physical_id.rsplit("/", 1)[-1]


def physical_id_rule(physical_id: str) -> str:
    """A rule on a custom event bus has the physical id 'bus|rule'."""
    return physical_id.rsplit("|", 1)[-1]


def default_vpc(item: dict) -> str | None:
    return "the default VPC AWS makes in every region" if item.get("IsDefault") else None


def default_subnet(item: dict) -> str | None:
    return "a default subnet of the default VPC" if item.get("DefaultForAz") else None


def default_role(item: dict) -> str | None:
    path = item.get("Path", "")
    if path.startswith("/aws-service-role/"):
        return "a service-linked role AWS made"
    if path.startswith("/aws-reserved/"):
        return "a role AWS IAM Identity Center made"
    return None


def default_kms_key(item: dict) -> str | None:
    meta = item.get("Metadata") or {}
    return "an AWS-managed KMS key" if meta.get("KeyManager") == "AWS" else None


def default_kms_alias(item: dict) -> str | None:
    return "an alias of an AWS-managed key" if item.get("AliasName", "").startswith("alias/aws/") else None


def default_db_subnet_group(item: dict) -> str | None:
    return "the default DB subnet group" if item.get("DBSubnetGroupName") == "default" else None


def default_secret(item: dict) -> str | None:
    owner = item.get("OwningService")
    return f"a secret {owner} made and manages" if owner else None


def default_event_rule(item: dict) -> str | None:
    owner = item.get("ManagedBy")
    return f"a rule {owner} made and manages" if owner else None


def default_network_interface(item: dict) -> str | None:
    if item.get("RequesterManaged"):
        return f"an interface AWS made for {item.get('Description') or item.get('InterfaceType')}"
    return None


def default_network_acl(item: dict) -> str | None:
    return "the default network ACL of a VPC" if item.get("IsDefault") else None


def ssm_parameter_arn(partition: str, region: str, account: str, natural_id: str) -> str:
    """An SSM parameter's ARN drops the name's leading slash: '/a/b' -> 'parameter/a/b'."""
    return f"arn:{partition}:ssm:{region}:{account}:parameter/{natural_id.lstrip('/')}"


FUNCTIONS: dict[str, Callable] = {
    f.__name__: f
    for f in (
        keep_not_terminated,
        keep_not_deleted_nat,
        keep_live_stack,
        keep_enabled_key,
        normalize_queue,
        normalize_table,
        normalize_hosted_zone,
        normalize_log_group,
        finish_bucket,
        physical_id_url_tail,
        physical_id_zone,
        physical_id_rule,
        default_vpc,
        default_subnet,
        default_role,
        default_kms_key,
        default_kms_alias,
        default_db_subnet_group,
        default_secret,
        default_event_rule,
        default_network_interface,
        default_network_acl,
        ssm_parameter_arn,
    )
}
for _key in ("clusterArn", "TopicArn", "serviceArn", "taskDefinitionArn"):
    FUNCTIONS[f"normalize_{_key}"] = normalize_arn_item(_key)


def function(name: str | None) -> Callable | None:
    return FUNCTIONS[name] if name else None


# ----------------------------------------------------------------------------------------------- rows

EC2_ARN = "arn:{partition}:ec2:{region}:{account}:{kind}/{id}"


def _ec2_arn(kind: str) -> str:
    return EC2_ARN.replace("{kind}", kind)


_S3_CHILDREN = tuple(
    ChildType(t, "bucket")
    for t in (
        "aws_s3_bucket_versioning",
        "aws_s3_bucket_policy",
        "aws_s3_bucket_public_access_block",
        "aws_s3_bucket_server_side_encryption_configuration",
        "aws_s3_bucket_acl",
        "aws_s3_bucket_lifecycle_configuration",
        "aws_s3_bucket_ownership_controls",
        "aws_s3_bucket_logging",
        "aws_s3_bucket_cors_configuration",
        "aws_s3_bucket_website_configuration",
        "aws_s3_bucket_notification",
        "aws_s3_bucket_replication_configuration",
        "aws_s3_bucket_accelerate_configuration",
        "aws_s3_bucket_request_payment_configuration",
        "aws_s3_bucket_object_lock_configuration",
        "aws_s3_bucket_intelligent_tiering_configuration",
        "aws_s3_bucket_metric",
        "aws_s3_bucket_analytics_configuration",
        "aws_s3_bucket_inventory",
        "aws_s3_object",
        "aws_s3_bucket_object",
    )
)

RESOURCE_TYPES: tuple[ResourceType, ...] = (
    # ------------------------------------------------------------------------------ EC2 and VPC
    ResourceType(
        type="AWS::EC2::VPC",
        service="ec2",
        list=Call("describe_vpcs", path="Vpcs"),
        id="VpcId",
        arn=_ec2_arn("vpc"),
        tags=_kv(),
        terraform=(TerraformType("aws_vpc"), TerraformType("aws_default_vpc")),
        terraform_children=(
            ChildType("aws_vpc_ipv4_cidr_block_association", "vpc_id"),
            ChildType("aws_vpc_dhcp_options_association", "vpc_id"),
            ChildType("aws_flow_log", "vpc_id"),
        ),
        cloudformation_children=(
            ChildType("AWS::EC2::VPCCidrBlock", "VpcId"),
            ChildType("AWS::EC2::VPCDHCPOptionsAssociation", "VpcId"),
            ChildType("AWS::EC2::FlowLog", "ResourceId"),
        ),
        comparables=(Comparable("cidr_block", "CidrBlock", "cidr_block", "CidrBlock"), TAGS),
        default="default_vpc",
        import_identifier=("VpcId",),
    ),
    ResourceType(
        type="AWS::EC2::Subnet",
        service="ec2",
        list=Call("describe_subnets", path="Subnets"),
        id="SubnetId",
        arn=_ec2_arn("subnet"),
        arn_field="SubnetArn",
        tags=_kv(),
        terraform=(TerraformType("aws_subnet"), TerraformType("aws_default_subnet")),
        cloudformation_children=(ChildType("AWS::EC2::SubnetNetworkAclAssociation", "SubnetId"),),
        comparables=(
            Comparable("cidr_block", "CidrBlock", "cidr_block", "CidrBlock"),
            Comparable("availability_zone", "AvailabilityZone", "availability_zone", "AvailabilityZone"),
            # map_public_ip_on_launch is left out: moto's CloudFormation does not apply it, so every CDK
            # public subnet would show false drift there (see the README's drift section).
            TAGS,
        ),
        edges=(Edge("in_vpc", "AWS::EC2::VPC", "VpcId"),),
        default="default_subnet",
        import_identifier=("SubnetId",),
    ),
    ResourceType(
        type="AWS::EC2::SecurityGroup",
        service="ec2",
        list=Call("describe_security_groups", path="SecurityGroups"),
        id="GroupId",
        arn=_ec2_arn("security-group"),
        name="GroupName",
        tags=_kv(),
        terraform=(TerraformType("aws_security_group"), TerraformType("aws_default_security_group")),
        terraform_children=(
            ChildType("aws_security_group_rule", "security_group_id"),
            ChildType("aws_vpc_security_group_ingress_rule", "security_group_id"),
            ChildType("aws_vpc_security_group_egress_rule", "security_group_id"),
            ChildType("aws_network_interface_sg_attachment", "security_group_id"),
        ),
        cloudformation_children=(
            ChildType("AWS::EC2::SecurityGroupIngress", "GroupId"),
            ChildType("AWS::EC2::SecurityGroupEgress", "GroupId"),
        ),
        comparables=(
            Comparable("description", "Description", "description", "GroupDescription"),
            Comparable("ingress", "IpPermissions", "ingress", "SecurityGroupIngress", kind="rules"),
            Comparable("egress", "IpPermissionsEgress", "egress", "SecurityGroupEgress", kind="rules"),
            TAGS,
        ),
        edges=(Edge("in_vpc", "AWS::EC2::VPC", "VpcId"),),
        import_identifier=("Id",),
    ),
    ResourceType(
        type="AWS::EC2::Instance",
        service="ec2",
        list=Call("describe_instances", path="Reservations[].Instances[]"),
        id="InstanceId",
        arn=_ec2_arn("instance"),
        tags=_kv(),
        terraform=(TerraformType("aws_instance"), TerraformType("aws_spot_instance_request", "spot_instance_id")),
        terraform_children=(ChildType("aws_ec2_instance_state", "instance_id"),),
        cloudformation_children=(),
        comparables=(
            Comparable("instance_type", "InstanceType", "instance_type", "InstanceType"),
            Comparable(
                "security_groups",
                "SecurityGroups[].GroupId",
                "vpc_security_group_ids",
                "SecurityGroupIds",
                kind="groups",
            ),
            TAGS,
        ),
        edges=(
            Edge("in_subnet", "AWS::EC2::Subnet", "SubnetId"),
            Edge("in_vpc", "AWS::EC2::VPC", "VpcId"),
            Edge("uses_security_group", "AWS::EC2::SecurityGroup", "SecurityGroups[].GroupId"),
            Edge("uses_instance_profile", "AWS::IAM::InstanceProfile", "IamInstanceProfile.Arn"),
            Edge("attaches_volume", "AWS::EC2::Volume", "BlockDeviceMappings[?!Ebs.DeleteOnTermination].Ebs.VolumeId"),
            Edge("launched_with", "AWS::EC2::Volume", "BlockDeviceMappings[?Ebs.DeleteOnTermination].Ebs.VolumeId"),
        ),
        keep="keep_not_terminated",
        import_identifier=("InstanceId",),
    ),
    ResourceType(
        type="AWS::EC2::Volume",
        service="ec2",
        list=Call("describe_volumes", path="Volumes"),
        id="VolumeId",
        arn=_ec2_arn("volume"),
        tags=_kv(),
        terraform=(TerraformType("aws_ebs_volume"),),
        terraform_children=(ChildType("aws_volume_attachment", "volume_id"),),
        cloudformation_children=(ChildType("AWS::EC2::VolumeAttachment", "VolumeId"),),
        comparables=(
            Comparable("size", "Size", "size", "Size", kind="int"),
            Comparable("volume_type", "VolumeType", "type", "VolumeType"),
            TAGS,
        ),
        edges=(Edge("attached_to", "AWS::EC2::Instance", "Attachments[].InstanceId"),),
        import_identifier=("VolumeId",),
    ),
    ResourceType(
        type="AWS::EC2::EIP",
        service="ec2",
        list=Call("describe_addresses", path="Addresses"),
        id="AllocationId",
        arn=_ec2_arn("elastic-ip"),
        aliases=("PublicIp",),  # CloudFormation's physical id of an EIP is its address
        tags=_kv(),
        terraform=(TerraformType("aws_eip", "allocation_id"),),
        terraform_children=(ChildType("aws_eip_association", "allocation_id"),),
        cloudformation_children=(ChildType("AWS::EC2::EIPAssociation", "AllocationId"),),
        comparables=(TAGS,),
        edges=(
            Edge("attached_to", "AWS::EC2::Instance", "InstanceId"),
            Edge("attached_to", "AWS::EC2::NetworkInterface", "NetworkInterfaceId"),
        ),
        import_identifier=("PublicIp", "AllocationId"),
    ),
    ResourceType(
        type="AWS::EC2::NatGateway",
        service="ec2",
        list=Call("describe_nat_gateways", path="NatGateways"),
        id="NatGatewayId",
        arn=_ec2_arn("natgateway"),
        tags=_kv(),
        terraform=(TerraformType("aws_nat_gateway"),),
        comparables=(
            Comparable("connectivity_type", "ConnectivityType", "connectivity_type", "ConnectivityType"),
            TAGS,
        ),
        edges=(
            Edge("in_subnet", "AWS::EC2::Subnet", "SubnetId"),
            Edge("in_vpc", "AWS::EC2::VPC", "VpcId"),
            Edge("uses_eip", "AWS::EC2::EIP", "NatGatewayAddresses[].AllocationId"),
            Edge("uses_interface", "AWS::EC2::NetworkInterface", "NatGatewayAddresses[].NetworkInterfaceId"),
        ),
        keep="keep_not_deleted_nat",
        import_identifier=("NatGatewayId",),
    ),
    ResourceType(
        type="AWS::EC2::InternetGateway",
        service="ec2",
        list=Call("describe_internet_gateways", path="InternetGateways"),
        id="InternetGatewayId",
        arn=_ec2_arn("internet-gateway"),
        tags=_kv(),
        terraform=(TerraformType("aws_internet_gateway"),),
        terraform_children=(ChildType("aws_internet_gateway_attachment", "internet_gateway_id"),),
        cloudformation_children=(ChildType("AWS::EC2::VPCGatewayAttachment", "InternetGatewayId"),),
        comparables=(TAGS,),
        edges=(Edge("attached_to", "AWS::EC2::VPC", "Attachments[].VpcId"),),
        import_identifier=("InternetGatewayId",),
    ),
    ResourceType(
        type="AWS::EC2::RouteTable",
        service="ec2",
        list=Call("describe_route_tables", path="RouteTables"),
        id="RouteTableId",
        arn=_ec2_arn("route-table"),
        tags=_kv(),
        terraform=(TerraformType("aws_route_table"), TerraformType("aws_default_route_table")),
        terraform_children=(
            ChildType("aws_route", "route_table_id"),
            ChildType("aws_route_table_association", "route_table_id"),
            ChildType("aws_main_route_table_association", "route_table_id"),
        ),
        cloudformation_children=(
            ChildType("AWS::EC2::Route", "RouteTableId"),
            ChildType("AWS::EC2::SubnetRouteTableAssociation", "RouteTableId"),
        ),
        comparables=(TAGS,),
        edges=(
            Edge("in_vpc", "AWS::EC2::VPC", "VpcId"),
            Edge("associated_with", "AWS::EC2::Subnet", "Associations[].SubnetId"),
        ),
        import_identifier=("RouteTableId",),
    ),
    ResourceType(
        type="AWS::EC2::NetworkInterface",
        service="ec2",
        list=Call("describe_network_interfaces", path="NetworkInterfaces"),
        id="NetworkInterfaceId",
        arn=_ec2_arn("network-interface"),
        tags=Tags("TagSet"),
        terraform=(TerraformType("aws_network_interface"),),
        terraform_children=(ChildType("aws_network_interface_attachment", "network_interface_id"),),
        comparables=(Comparable("description", "Description", "description", "Description"), TAGS),
        edges=(
            Edge("in_subnet", "AWS::EC2::Subnet", "SubnetId"),
            Edge("attached_to", "AWS::EC2::Instance", "Attachment.InstanceId"),
            Edge("uses_security_group", "AWS::EC2::SecurityGroup", "Groups[].GroupId"),
        ),
        default="default_network_interface",
        import_identifier=("Id",),
    ),
    ResourceType(
        type="AWS::EC2::NetworkAcl",
        service="ec2",
        list=Call("describe_network_acls", path="NetworkAcls"),
        id="NetworkAclId",
        arn=_ec2_arn("network-acl"),
        tags=_kv(),
        terraform=(TerraformType("aws_network_acl"), TerraformType("aws_default_network_acl")),
        terraform_children=(
            ChildType("aws_network_acl_rule", "network_acl_id"),
            ChildType("aws_network_acl_association", "network_acl_id"),
        ),
        cloudformation_children=(
            ChildType("AWS::EC2::NetworkAclEntry", "NetworkAclId"),
            ChildType("AWS::EC2::SubnetNetworkAclAssociation", "NetworkAclId"),
        ),
        comparables=(TAGS,),
        edges=(Edge("in_vpc", "AWS::EC2::VPC", "VpcId"),),
        default="default_network_acl",
        import_identifier=("Id",),
    ),
    ResourceType(
        type="AWS::EC2::KeyPair",
        service="ec2",
        list=Call("describe_key_pairs", path="KeyPairs"),
        id="KeyName",
        arn=_ec2_arn("key-pair"),
        aliases=("KeyPairId",),
        tags=_kv(),
        terraform=(TerraformType("aws_key_pair", "key_name"),),
        comparables=(TAGS,),
        import_identifier=("KeyName",),
        cloudformation_name="KeyName",
    ),
    ResourceType(
        type="AWS::EC2::LaunchTemplate",
        service="ec2",
        list=Call("describe_launch_templates", path="LaunchTemplates"),
        id="LaunchTemplateId",
        arn=_ec2_arn("launch-template"),
        name="LaunchTemplateName",
        aliases=("LaunchTemplateName",),
        tags=_kv(),
        terraform=(TerraformType("aws_launch_template"),),
        comparables=(TAGS,),
        import_identifier=("LaunchTemplateId",),
        cloudformation_name="LaunchTemplateName",
    ),
    ResourceType(
        type="AWS::EC2::VPCEndpoint",
        service="ec2",
        list=Call("describe_vpc_endpoints", path="VpcEndpoints"),
        id="VpcEndpointId",
        arn=_ec2_arn("vpc-endpoint"),
        tags=_kv(),
        terraform=(TerraformType("aws_vpc_endpoint"),),
        terraform_children=(
            ChildType("aws_vpc_endpoint_route_table_association", "vpc_endpoint_id"),
            ChildType("aws_vpc_endpoint_subnet_association", "vpc_endpoint_id"),
        ),
        comparables=(
            Comparable("service_name", "ServiceName", "service_name", "ServiceName"),
            Comparable("vpc_endpoint_type", "VpcEndpointType", "vpc_endpoint_type", "VpcEndpointType", kind="lower"),
            TAGS,
        ),
        edges=(Edge("in_vpc", "AWS::EC2::VPC", "VpcId"),),
        import_identifier=("Id",),
    ),
    ResourceType(
        type="AWS::AutoScaling::AutoScalingGroup",
        service="autoscaling",
        list=Call("describe_auto_scaling_groups", path="AutoScalingGroups"),
        id="AutoScalingGroupName",
        arn="arn:{partition}:autoscaling:{region}:{account}:autoScalingGroup:*:autoScalingGroupName/{id}",
        arn_field="AutoScalingGroupARN",
        tags=_kv(),
        terraform=(TerraformType("aws_autoscaling_group", "name"),),
        terraform_children=(
            ChildType("aws_autoscaling_policy", "autoscaling_group_name"),
            ChildType("aws_autoscaling_attachment", "autoscaling_group_name"),
            ChildType("aws_autoscaling_lifecycle_hook", "autoscaling_group_name"),
            ChildType("aws_autoscaling_schedule", "autoscaling_group_name"),
        ),
        cloudformation_children=(
            ChildType("AWS::AutoScaling::ScalingPolicy", "AutoScalingGroupName"),
            ChildType("AWS::AutoScaling::LifecycleHook", "AutoScalingGroupName"),
            ChildType("AWS::AutoScaling::ScheduledAction", "AutoScalingGroupName"),
        ),
        comparables=(
            Comparable("min_size", "MinSize", "min_size", "MinSize", kind="int"),
            Comparable("max_size", "MaxSize", "max_size", "MaxSize", kind="int"),
        ),
        import_identifier=("AutoScalingGroupName",),
        cloudformation_name="AutoScalingGroupName",
    ),
    # ------------------------------------------------------------------------------ S3
    ResourceType(
        type="AWS::S3::Bucket",
        service="s3",
        list=Call("list_buckets", path="Buckets"),
        id="Name",
        arn="arn:{partition}:s3:::{id}",
        scope="global_list",
        details=(
            ("Location", Call("get_bucket_location", {"Bucket": "{Name}"}, path="LocationConstraint",
                              unless="BucketRegion")),
            ("Versioning", Call("get_bucket_versioning", {"Bucket": "{Name}"}, path="Status")),
        ),
        tags=Tags("TagSet", Call("get_bucket_tagging", {"Bucket": "{Name}"}, missing_ok=("NoSuchTagSet",))),
        terraform=(TerraformType("aws_s3_bucket", "bucket"),),
        terraform_children=_S3_CHILDREN,
        cloudformation_children=(ChildType("AWS::S3::BucketPolicy", "Bucket"),),
        comparables=(
            Comparable(
                "versioning",
                "Versioning",
                "versioning[0].enabled",
                "VersioningConfiguration.Status",
                kind="versioning",
            ),
            TAGS,
        ),
        finish="finish_bucket",
        import_identifier=("BucketName",),
        cloudformation_name="BucketName",
    ),
    # ------------------------------------------------------------------------------ IAM (global)
    ResourceType(
        type="AWS::IAM::Role",
        service="iam",
        list=Call("list_roles", path="Roles"),
        id="RoleName",
        arn="arn:{partition}:iam::{account}:role/{id}",
        arn_field="Arn",
        scope="global",
        tags=Tags("Tags", Call("list_role_tags", {"RoleName": "{RoleName}"}), bulk=Call(
            "get_account_authorization_details", {"Filter": ["Role"]}, entries="RoleDetailList",
            identity=(("Arn", "Arn"),))),
        terraform=(TerraformType("aws_iam_role", "name"),),
        terraform_children=(
            ChildType("aws_iam_role_policy", "role"),
            ChildType("aws_iam_role_policy_attachment", "role"),
            ChildType("aws_iam_role_policies_exclusive", "role_name"),
            ChildType("aws_iam_role_policy_attachments_exclusive", "role_name"),
        ),
        cloudformation_children=(
            ChildType("AWS::IAM::Policy", "Roles"),
            ChildType("AWS::IAM::RolePolicy", "RoleName"),
        ),
        comparables=(
            Comparable("path", "Path", "path", "Path"),
            Comparable("description", "Description", "description", "Description"),
            Comparable("max_session_duration", "MaxSessionDuration", "max_session_duration", "MaxSessionDuration", kind="int"),
            Comparable(
                "assume_role_policy",
                "AssumeRolePolicyDocument",
                "assume_role_policy",
                "AssumeRolePolicyDocument",
                kind="policy",
            ),
            TAGS,
        ),
        default="default_role",
        import_identifier=("RoleName",),
        cloudformation_name="RoleName",
    ),
    ResourceType(
        type="AWS::IAM::User",
        service="iam",
        list=Call("list_users", path="Users"),
        id="UserName",
        arn="arn:{partition}:iam::{account}:user/{id}",
        arn_field="Arn",
        scope="global",
        tags=Tags("Tags", Call("list_user_tags", {"UserName": "{UserName}"}), bulk=Call(
            "get_account_authorization_details", {"Filter": ["User"]}, entries="UserDetailList",
            identity=(("Arn", "Arn"),))),
        terraform=(TerraformType("aws_iam_user", "name"),),
        terraform_children=(
            ChildType("aws_iam_user_policy", "user"),
            ChildType("aws_iam_user_policy_attachment", "user"),
            ChildType("aws_iam_user_group_membership", "user"),
            ChildType("aws_iam_access_key", "user"),
            ChildType("aws_iam_user_login_profile", "user"),
            ChildType("aws_iam_user_ssh_key", "username"),
        ),
        cloudformation_children=(
            ChildType("AWS::IAM::AccessKey", "UserName"),
            ChildType("AWS::IAM::UserPolicy", "UserName"),
        ),
        comparables=(Comparable("path", "Path", "path", "Path"), TAGS),
        import_identifier=("UserName",),
        cloudformation_name="UserName",
    ),
    ResourceType(
        type="AWS::IAM::Group",
        service="iam",
        list=Call("list_groups", path="Groups"),
        id="GroupName",
        arn="arn:{partition}:iam::{account}:group/{id}",
        arn_field="Arn",
        scope="global",
        terraform=(TerraformType("aws_iam_group", "name"),),
        terraform_children=(
            ChildType("aws_iam_group_policy", "group"),
            ChildType("aws_iam_group_policy_attachment", "group"),
            ChildType("aws_iam_group_membership", "group"),
        ),
        cloudformation_children=(
            ChildType("AWS::IAM::UserToGroupAddition", "GroupName"),
            ChildType("AWS::IAM::GroupPolicy", "GroupName"),
        ),
        comparables=(Comparable("path", "Path", "path", "Path"),),
        import_identifier=("GroupName",),
        cloudformation_name="GroupName",
    ),
    ResourceType(
        type="AWS::IAM::ManagedPolicy",
        service="iam",
        list=Call("list_policies", {"Scope": "Local"}, path="Policies"),
        id="Arn",
        arn="{id}",
        arn_field="Arn",
        name="PolicyName",
        aliases=("PolicyName",),
        scope="global",
        tags=Tags("Tags", Call("list_policy_tags", {"PolicyArn": "{Arn}"})),
        terraform=(TerraformType("aws_iam_policy", "arn"),),
        comparables=(Comparable("path", "Path", "path", "Path"), TAGS),
        import_identifier=("PolicyArn",),
        cloudformation_name="ManagedPolicyName",
    ),
    ResourceType(
        type="AWS::IAM::InstanceProfile",
        service="iam",
        list=Call("list_instance_profiles", path="InstanceProfiles"),
        id="InstanceProfileName",
        arn="arn:{partition}:iam::{account}:instance-profile/{id}",
        arn_field="Arn",
        scope="global",
        terraform=(TerraformType("aws_iam_instance_profile", "name"),),
        comparables=(
            Comparable("path", "Path", "path", "Path"),
            Comparable("roles", "Roles[].RoleName", "role", "Roles", kind="set"),
        ),
        edges=(Edge("uses_role", "AWS::IAM::Role", "Roles[].RoleName"),),
        import_identifier=("InstanceProfileName",),
        cloudformation_name="InstanceProfileName",
    ),
    # ------------------------------------------------------------------------------ compute and messaging
    ResourceType(
        type="AWS::Lambda::Function",
        service="lambda",
        list=Call("list_functions", path="Functions"),
        id="FunctionName",
        arn="arn:{partition}:lambda:{region}:{account}:function:{id}",
        arn_field="FunctionArn",
        tags=Tags("Tags", Call("list_tags", {"Resource": "{FunctionArn}"}), key="map", tagging="lambda:function"),
        terraform=(TerraformType("aws_lambda_function", "function_name"),),
        terraform_children=(
            ChildType("aws_lambda_permission", "function_name"),
            ChildType("aws_lambda_alias", "function_name"),
            ChildType("aws_lambda_function_url", "function_name"),
            ChildType("aws_lambda_function_event_invoke_config", "function_name"),
            ChildType("aws_lambda_provisioned_concurrency_config", "function_name"),
            ChildType("aws_lambda_event_source_mapping", "function_name"),
        ),
        cloudformation_children=(
            ChildType("AWS::Lambda::Permission", "FunctionName"),
            ChildType("AWS::Lambda::Version", "FunctionName"),
            ChildType("AWS::Lambda::Alias", "FunctionName"),
            ChildType("AWS::Lambda::Url", "TargetFunctionArn"),
            ChildType("AWS::Lambda::EventSourceMapping", "FunctionName"),
            ChildType("AWS::Lambda::EventInvokeConfig", "FunctionName"),
        ),
        comparables=(
            Comparable("runtime", "Runtime", "runtime", "Runtime"),
            Comparable("handler", "Handler", "handler", "Handler"),
            Comparable("memory_size", "MemorySize", "memory_size", "MemorySize", kind="int"),
            Comparable("timeout", "Timeout", "timeout", "Timeout", kind="int"),
            TAGS,
        ),
        edges=(Edge("uses_role", "AWS::IAM::Role", "Role"),),
        import_identifier=("FunctionName",),
        cloudformation_name="FunctionName",
    ),
    ResourceType(
        type="AWS::SQS::Queue",
        service="sqs",
        # without MaxResults ListQueues answers at most 1,000 queues and no token: the page size makes it page
        list=Call("list_queues", {"MaxResults": 1000}, path="QueueUrls || `[]`"),
        id="QueueName",
        arn="arn:{partition}:sqs:{region}:{account}:{id}",
        arn_field="Attributes.QueueArn",
        aliases=("QueueUrl",),
        details=(
            (
                "Attributes",
                Call(
                    "get_queue_attributes",
                    {"QueueUrl": "{QueueUrl}", "AttributeNames": ["All"]},
                    path="Attributes",
                ),
            ),
        ),
        tags=Tags("Tags", Call("list_queue_tags", {"QueueUrl": "{QueueUrl}"}), key="map", tagging="sqs"),
        terraform=(TerraformType("aws_sqs_queue", "name", import_id="{url}",
                                 live_import_id="https://sqs.{region}.{dns_suffix}/{account}/{natural_id}"),),
        terraform_children=(
            ChildType("aws_sqs_queue_policy", "queue_url"),
            ChildType("aws_sqs_queue_redrive_policy", "queue_url"),
            ChildType("aws_sqs_queue_redrive_allow_policy", "queue_url"),
        ),
        cloudformation_children=(ChildType("AWS::SQS::QueuePolicy", "Queues"),),
        comparables=(
            Comparable(
                "visibility_timeout",
                "Attributes.VisibilityTimeout",
                "visibility_timeout_seconds",
                "VisibilityTimeout",
                kind="int",
            ),
            Comparable(
                "message_retention_seconds",
                "Attributes.MessageRetentionPeriod",
                "message_retention_seconds",
                "MessageRetentionPeriod",
                kind="int",
            ),
            Comparable("delay_seconds", "Attributes.DelaySeconds", "delay_seconds", "DelaySeconds", kind="int"),
            Comparable(
                "receive_wait_time_seconds",
                "Attributes.ReceiveMessageWaitTimeSeconds",
                "receive_wait_time_seconds",
                "ReceiveMessageWaitTimeSeconds",
                kind="int",
            ),
            Comparable("fifo_queue", "Attributes.FifoQueue", "fifo_queue", "FifoQueue", kind="bool"),
            TAGS,
        ),
        normalize="normalize_queue",
        physical_id="physical_id_url_tail",
        import_identifier=("QueueUrl",),
        cloudformation_name="QueueName",
    ),
    ResourceType(
        type="AWS::SNS::Topic",
        service="sns",
        list=Call("list_topics", path="Topics"),
        id="TopicArn",
        arn="{id}",
        name="ArnName",
        arn_field="TopicArn",
        details=(("Attributes", Call("get_topic_attributes", {"TopicArn": "{TopicArn}"}, path="Attributes",
                                     identity=(("TopicArn", "TopicArn"),))),),
        tags=Tags("Tags", Call("list_tags_for_resource", {"ResourceArn": "{TopicArn}"}), tagging="sns"),
        terraform=(TerraformType("aws_sns_topic", "arn"),),
        terraform_children=(
            ChildType("aws_sns_topic_policy", "arn"),
            ChildType("aws_sns_topic_subscription", "topic_arn"),
            ChildType("aws_sns_topic_data_protection_policy", "arn"),
        ),
        cloudformation_children=(
            ChildType("AWS::SNS::TopicPolicy", "Topics"),
            ChildType("AWS::SNS::Subscription", "TopicArn"),
        ),
        comparables=(
            Comparable("display_name", "Attributes.DisplayName", "display_name", "DisplayName"),
            TAGS,
        ),
        aliases=("ArnName",),
        normalize="normalize_TopicArn",
        import_identifier=("TopicArn",),
        cloudformation_name="TopicName",
    ),
    ResourceType(
        type="AWS::DynamoDB::Table",
        service="dynamodb",
        list=Call("list_tables", path="TableNames"),
        id="TableName",
        arn="arn:{partition}:dynamodb:{region}:{account}:table/{id}",
        arn_field="Table.TableArn",
        details=(("Table", Call("describe_table", {"TableName": "{TableName}"}, path="Table",
                                identity=(("TableName", "TableName"),))),),
        tags=Tags("Tags", Call("list_tags_of_resource", {"ResourceArn": "{Table[TableArn]}"}), tagging="dynamodb:table"),
        terraform=(TerraformType("aws_dynamodb_table", "name"),),
        terraform_children=(
            ChildType("aws_dynamodb_table_item", "table_name"),
            ChildType("aws_dynamodb_contributor_insights", "table_name"),
            ChildType("aws_dynamodb_kinesis_streaming_destination", "table_name"),
        ),
        comparables=(
            Comparable(
                "billing_mode",
                # DescribeTable leaves the summary out for a provisioned table: that default holds only
                # when DescribeTable answered (a failed call leaves no Table, and no billing mode known)
                "Table && (Table.BillingModeSummary.BillingMode || 'PROVISIONED')",
                "billing_mode",
                "BillingMode",
            ),
            Comparable(
                "hash_key",
                "Table.KeySchema[?KeyType=='HASH'].AttributeName | [0]",
                "hash_key",
                "KeySchema[?KeyType=='HASH'].AttributeName | [0]",
            ),
            TAGS,
        ),
        normalize="normalize_table",
        import_identifier=("TableName",),
        cloudformation_name="TableName",
    ),
    ResourceType(
        type="AWS::Kinesis::Stream",
        service="kinesis",
        list=Call("list_streams", path="StreamSummaries"),
        id="StreamName",
        arn="arn:{partition}:kinesis:{region}:{account}:stream/{id}",
        arn_field="StreamARN",
        # no paginator, and HasMoreTags past Limit: 50 is the most tags a stream can have
        tags=Tags("Tags", Call("list_tags_for_stream", {"StreamName": "{StreamName}", "Limit": 50})),
        terraform=(TerraformType("aws_kinesis_stream", "name"),),
        comparables=(TAGS,),
        import_identifier=("Name",),
        cloudformation_name="Name",
    ),
    # ------------------------------------------------------------------------------ databases and caches
    ResourceType(
        type="AWS::RDS::DBInstance",
        service="rds",
        list=Call("describe_db_instances", path="DBInstances"),
        id="DBInstanceIdentifier",
        arn="arn:{partition}:rds:{region}:{account}:db:{id}",
        arn_field="DBInstanceArn",
        aliases=("DbiResourceId",),  # provider 5.x makes the aws_db_instance id the resource id
        tags=_kv("TagList"),
        terraform=(
            TerraformType("aws_db_instance", "identifier", import_id="{identifier}"),
            TerraformType("aws_rds_cluster_instance", "identifier"),
        ),
        terraform_children=(ChildType("aws_db_instance_role_association", "db_instance_identifier"),),
        comparables=(
            Comparable("instance_class", "DBInstanceClass", "instance_class", "DBInstanceClass"),
            Comparable("engine", "Engine", "engine", "Engine", kind="lower"),
            Comparable("multi_az", "MultiAZ", "multi_az", "MultiAZ", kind="bool"),
            Comparable("allocated_storage", "AllocatedStorage", "allocated_storage", "AllocatedStorage", kind="int"),
            TAGS,
        ),
        edges=(
            Edge("in_subnet_group", "AWS::RDS::DBSubnetGroup", "DBSubnetGroup.DBSubnetGroupName"),
            Edge("member_of", "AWS::RDS::DBCluster", "DBClusterIdentifier"),
            Edge("uses_security_group", "AWS::EC2::SecurityGroup", "VpcSecurityGroups[].VpcSecurityGroupId"),
        ),
        lowercase_id=True,
        import_identifier=("DBInstanceIdentifier",),
        cloudformation_name="DBInstanceIdentifier",
    ),
    ResourceType(
        type="AWS::RDS::DBCluster",
        service="rds",
        list=Call("describe_db_clusters", path="DBClusters"),
        id="DBClusterIdentifier",
        arn="arn:{partition}:rds:{region}:{account}:cluster:{id}",
        arn_field="DBClusterArn",
        tags=_kv("TagList"),
        terraform=(TerraformType("aws_rds_cluster", "cluster_identifier"),),
        terraform_children=(ChildType("aws_rds_cluster_role_association", "db_cluster_identifier"),),
        comparables=(Comparable("engine", "Engine", "engine", "Engine", kind="lower"), TAGS),
        edges=(Edge("in_subnet_group", "AWS::RDS::DBSubnetGroup", "DBSubnetGroup"),),
        lowercase_id=True,
        import_identifier=("DBClusterIdentifier",),
        cloudformation_name="DBClusterIdentifier",
    ),
    ResourceType(
        type="AWS::RDS::DBSubnetGroup",
        service="rds",
        list=Call("describe_db_subnet_groups", path="DBSubnetGroups"),
        id="DBSubnetGroupName",
        arn="arn:{partition}:rds:{region}:{account}:subgrp:{id}",
        arn_field="DBSubnetGroupArn",
        tags=Tags("TagList", Call("list_tags_for_resource", {"ResourceName": "{DBSubnetGroupArn}"})),
        terraform=(TerraformType("aws_db_subnet_group", "name"),),
        comparables=(
            Comparable("description", "DBSubnetGroupDescription", "description", "DBSubnetGroupDescription"),
            Comparable("subnet_ids", "Subnets[].SubnetIdentifier", "subnet_ids", "SubnetIds", kind="set"),
            TAGS,
        ),
        edges=(Edge("in_vpc", "AWS::EC2::VPC", "VpcId"), Edge("uses_subnet", "AWS::EC2::Subnet", "Subnets[].SubnetIdentifier")),
        default="default_db_subnet_group",
        lowercase_id=True,
        import_identifier=("DBSubnetGroupName",),
        cloudformation_name="DBSubnetGroupName",
    ),
    ResourceType(
        type="AWS::ElastiCache::CacheCluster",
        service="elasticache",
        list=Call("describe_cache_clusters", path="CacheClusters"),
        id="CacheClusterId",
        arn="arn:{partition}:elasticache:{region}:{account}:cluster:{id}",
        arn_field="ARN",
        tags=Tags("TagList", Call("list_tags_for_resource", {"ResourceName": "{ARN}"}), tagging="elasticache"),
        terraform=(TerraformType("aws_elasticache_cluster", "cluster_id"),),
        comparables=(
            Comparable("cache_node_type", "CacheNodeType", "node_type", "CacheNodeType"),
            Comparable("engine", "Engine", "engine", "Engine", kind="lower"),
            Comparable("num_cache_nodes", "NumCacheNodes", "num_cache_nodes", "NumCacheNodes", kind="int"),
            TAGS,
        ),
        edges=(Edge("member_of", "AWS::ElastiCache::ReplicationGroup", "ReplicationGroupId"),),
        lowercase_id=True,
        import_identifier=("ClusterName",),
        cloudformation_name="ClusterName",
    ),
    ResourceType(
        type="AWS::ElastiCache::ReplicationGroup",
        service="elasticache",
        list=Call("describe_replication_groups", path="ReplicationGroups"),
        id="ReplicationGroupId",
        arn="arn:{partition}:elasticache:{region}:{account}:replicationgroup:{id}",
        arn_field="ARN",
        tags=Tags("TagList", Call("list_tags_for_resource", {"ResourceName": "{ARN}"}), tagging="elasticache"),
        terraform=(TerraformType("aws_elasticache_replication_group", "replication_group_id"),),
        comparables=(
            Comparable("description", "Description", "description", "ReplicationGroupDescription"),
            Comparable("cache_node_type", "CacheNodeType", "node_type", "CacheNodeType"),
            TAGS,
        ),
        lowercase_id=True,
        import_identifier=("ReplicationGroupId",),
        cloudformation_name="ReplicationGroupId",
    ),
    ResourceType(
        type="AWS::EFS::FileSystem",
        service="efs",
        list=Call("describe_file_systems", path="FileSystems"),
        id="FileSystemId",
        arn="arn:{partition}:elasticfilesystem:{region}:{account}:file-system/{id}",
        arn_field="FileSystemArn",
        tags=_kv(),
        terraform=(TerraformType("aws_efs_file_system"),),
        terraform_children=(
            ChildType("aws_efs_mount_target", "file_system_id"),
            ChildType("aws_efs_access_point", "file_system_id"),
            ChildType("aws_efs_file_system_policy", "file_system_id"),
            ChildType("aws_efs_backup_policy", "file_system_id"),
        ),
        cloudformation_children=(
            ChildType("AWS::EFS::MountTarget", "FileSystemId"),
            ChildType("AWS::EFS::AccessPoint", "FileSystemId"),
        ),
        comparables=(
            Comparable("encrypted", "Encrypted", "encrypted", "Encrypted", kind="bool"),
            Comparable("performance_mode", "PerformanceMode", "performance_mode", "PerformanceMode"),
            TAGS,
        ),
        import_identifier=("FileSystemId",),
    ),
    # ------------------------------------------------------------------------------ keys, logs, alarms
    ResourceType(
        type="AWS::KMS::Key",
        service="kms",
        list=Call("list_keys", path="Keys"),
        id="KeyId",
        arn="arn:{partition}:kms:{region}:{account}:key/{id}",
        arn_field="KeyArn",
        details=(("Metadata", Call("describe_key", {"KeyId": "{KeyId}"}, path="KeyMetadata",
                                   identity=(("KeyId", "KeyId"),))),),
        tags=Tags("Tags", Call("list_resource_tags", {"KeyId": "{KeyId}"}), key="TagKey", value="TagValue",
                  tagging="kms:key"),
        terraform=(TerraformType("aws_kms_key", "key_id"),),
        terraform_children=(
            ChildType("aws_kms_key_policy", "key_id"),
            ChildType("aws_kms_grant", "key_id"),
        ),
        comparables=(
            Comparable("description", "Metadata.Description", "description", "Description"),
            Comparable("key_usage", "Metadata.KeyUsage", "key_usage", "KeyUsage"),
            TAGS,
        ),
        keep=None,
        default="default_kms_key",
        import_identifier=("KeyId",),
    ),
    ResourceType(
        type="AWS::KMS::Alias",
        service="kms",
        list=Call("list_aliases", path="Aliases"),
        id="AliasName",
        arn="arn:{partition}:kms:{region}:{account}:{id}",
        arn_field="AliasArn",
        terraform=(TerraformType("aws_kms_alias", "name"),),
        comparables=(Comparable("target_key_id", "TargetKeyId", "target_key_id", "TargetKeyId", kind="key_id"),),
        edges=(Edge("points_to", "AWS::KMS::Key", "TargetKeyId"),),
        default="default_kms_alias",
        import_identifier=("AliasName",),
        cloudformation_name="AliasName",
    ),
    ResourceType(
        type="AWS::Logs::LogGroup",
        service="logs",
        list=Call("describe_log_groups", path="logGroups"),
        id="logGroupName",
        arn="arn:{partition}:logs:{region}:{account}:log-group:{id}",
        arn_field="arn",
        tags=Tags("tags", Call("list_tags_log_group", {"logGroupName": "{logGroupName}"}), key="map", tagging="logs"),
        terraform=(TerraformType("aws_cloudwatch_log_group", "name"),),
        terraform_children=(
            ChildType("aws_cloudwatch_log_stream", "log_group_name"),
            ChildType("aws_cloudwatch_log_subscription_filter", "log_group_name"),
            ChildType("aws_cloudwatch_log_metric_filter", "log_group_name"),
        ),
        cloudformation_children=(
            ChildType("AWS::Logs::LogStream", "LogGroupName"),
            ChildType("AWS::Logs::SubscriptionFilter", "LogGroupName"),
            ChildType("AWS::Logs::MetricFilter", "LogGroupName"),
        ),
        comparables=(
            Comparable("retention_in_days", "retentionInDays", "retention_in_days", "RetentionInDays", kind="retention"),
            TAGS,
        ),
        normalize="normalize_log_group",
        import_identifier=("LogGroupName",),
        cloudformation_name="LogGroupName",
    ),
    ResourceType(
        type="AWS::CloudWatch::Alarm",
        service="cloudwatch",
        list=Call("describe_alarms", {"AlarmTypes": ["MetricAlarm"]}, path="MetricAlarms"),
        id="AlarmName",
        arn="arn:{partition}:cloudwatch:{region}:{account}:alarm:{id}",
        arn_field="AlarmArn",
        tags=Tags("Tags", Call("list_tags_for_resource", {"ResourceARN": "{AlarmArn}"}), tagging="cloudwatch:alarm"),
        terraform=(TerraformType("aws_cloudwatch_metric_alarm", "alarm_name"),),
        comparables=(
            Comparable("metric_name", "MetricName", "metric_name", "MetricName"),
            Comparable("namespace", "Namespace", "namespace", "Namespace"),
            Comparable("threshold", "Threshold", "threshold", "Threshold", kind="float"),
            Comparable("comparison_operator", "ComparisonOperator", "comparison_operator", "ComparisonOperator"),
            Comparable("evaluation_periods", "EvaluationPeriods", "evaluation_periods", "EvaluationPeriods", kind="int"),
            TAGS,
        ),
        import_identifier=("AlarmName",),
        cloudformation_name="AlarmName",
    ),
    # ------------------------------------------------------------------------------ containers
    ResourceType(
        type="AWS::ECS::Cluster",
        service="ecs",
        list=Call("list_clusters", path="clusterArns"),
        id="ArnName",  # the cluster's name, from the ARN ListClusters gives: known when DescribeClusters fails
        arn="arn:{partition}:ecs:{region}:{account}:cluster/{id}",
        arn_field="clusterArn",
        aliases=("clusterArn",),
        details=(
            (
                "",
                Call("describe_clusters", {"clusters": ["{clusterArn}"], "include": ["TAGS"]}, entries="clusters",
                     identity=(("clusterArn", "clusterArn"),), batch=100),
            ),
        ),
        tags=Tags("tags", key="key", value="value"),
        terraform=(TerraformType("aws_ecs_cluster", "name", import_id="{name}"),),
        terraform_children=(ChildType("aws_ecs_cluster_capacity_providers", "cluster_name"),),
        cloudformation_children=(ChildType("AWS::ECS::ClusterCapacityProviderAssociations", "Cluster"),),
        comparables=(TAGS,),
        normalize="normalize_clusterArn",
        import_identifier=("ClusterName",),
        cloudformation_name="ClusterName",
    ),
    ResourceType(
        type="AWS::ECS::Service",
        service="ecs",
        list=Call("list_services", path="serviceArns"),
        parent=("AWS::ECS::Cluster", {"cluster": "{clusterArn}"}),
        id="serviceArn",
        arn="{id}",
        arn_field="serviceArn",
        name="serviceName",
        aliases=("serviceName",),
        details=(
            (
                "",
                Call(
                    "describe_services",
                    {"cluster": "{clusterArn}", "services": ["{serviceArn}"], "include": ["TAGS"]},
                    entries="services",
                    identity=(("serviceArn", "serviceArn"),),
                    batch=10,
                ),
            ),
        ),
        tags=Tags("tags", key="key", value="value"),
        terraform=(TerraformType("aws_ecs_service", "id", import_id="{cluster}/{name}", live_import_id="{cluster}/{name}"),),
        comparables=(
            Comparable("desired_count", "desiredCount", "desired_count", "DesiredCount", kind="int"),
            Comparable("launch_type", "launchType", "launch_type", "LaunchType"),
            Comparable("task_definition", "taskDefinition", "task_definition", "TaskDefinition", kind="name_tail"),
            TAGS,
        ),
        edges=(
            Edge("in_cluster", "AWS::ECS::Cluster", "clusterArn"),
            Edge("runs", "AWS::ECS::TaskDefinition", "taskDefinition"),
        ),
        normalize="normalize_serviceArn",
        import_identifier=("ServiceArn", "Cluster"),
        cloudformation_name="ServiceName",
    ),
    ResourceType(
        type="AWS::ECS::TaskDefinition",
        service="ecs",
        list=Call("list_task_definitions", {"status": "ACTIVE"}, path="taskDefinitionArns"),
        id="taskDefinitionArn",
        arn="{id}",
        arn_field="taskDefinitionArn",
        details=(
            (
                "",
                Call(
                    "describe_task_definition",
                    {"taskDefinition": "{taskDefinitionArn}", "include": ["TAGS"]},
                    path="merge(taskDefinition, {tags: tags})",
                    identity=(("taskDefinitionArn", "taskDefinitionArn"),),
                ),
            ),
        ),
        tags=Tags("tags", key="key", value="value"),
        terraform=(TerraformType("aws_ecs_task_definition", "arn"),),
        # A revision is immutable: a change by hand makes a new revision, so only its tags can drift.
        comparables=(TAGS,),
        normalize="normalize_taskDefinitionArn",
        import_identifier=("TaskDefinitionArn",),
    ),
    ResourceType(
        type="AWS::ECR::Repository",
        service="ecr",
        list=Call("describe_repositories", path="repositories"),
        id="repositoryName",
        arn="arn:{partition}:ecr:{region}:{account}:repository/{id}",
        arn_field="repositoryArn",
        tags=Tags("tags", Call("list_tags_for_resource", {"resourceArn": "{repositoryArn}"})),
        terraform=(TerraformType("aws_ecr_repository", "name"),),
        terraform_children=(
            ChildType("aws_ecr_lifecycle_policy", "repository"),
            ChildType("aws_ecr_repository_policy", "repository"),
        ),
        comparables=(
            Comparable(
                "image_tag_mutability", "imageTagMutability", "image_tag_mutability", "ImageTagMutability"
            ),
            Comparable(
                "scan_on_push",
                "imageScanningConfiguration.scanOnPush",
                "image_scanning_configuration[0].scan_on_push",
                "ImageScanningConfiguration.ScanOnPush",
                kind="bool",
            ),
            TAGS,
        ),
        import_identifier=("RepositoryName",),
        cloudformation_name="RepositoryName",
    ),
    # ------------------------------------------------------------------------------ load balancing
    ResourceType(
        type="AWS::ElasticLoadBalancingV2::LoadBalancer",
        service="elbv2",
        list=Call("describe_load_balancers", path="LoadBalancers"),
        id="LoadBalancerArn",
        arn="{id}",
        arn_field="LoadBalancerArn",
        name="LoadBalancerName",
        aliases=("LoadBalancerName",),
        tags=Tags(
            "Tags",
            Call("describe_tags", {"ResourceArns": ["{LoadBalancerArn}"]}, entries="TagDescriptions",
                 identity=(("ResourceArn", "LoadBalancerArn"),), batch=20),
            tagging="elasticloadbalancing:loadbalancer",
        ),
        terraform=(TerraformType("aws_lb", "arn"), TerraformType("aws_alb", "arn")),
        comparables=(
            Comparable("scheme", "Scheme", "internal", "Scheme", kind="scheme"),
            Comparable("load_balancer_type", "Type", "load_balancer_type", "Type"),
            TAGS,
        ),
        edges=(
            Edge("in_vpc", "AWS::EC2::VPC", "VpcId"),
            Edge("in_subnet", "AWS::EC2::Subnet", "AvailabilityZones[].SubnetId"),
            Edge("uses_security_group", "AWS::EC2::SecurityGroup", "SecurityGroups"),
        ),
        import_identifier=("LoadBalancerArn",),
        cloudformation_name="Name",
    ),
    ResourceType(
        type="AWS::ElasticLoadBalancingV2::TargetGroup",
        service="elbv2",
        list=Call("describe_target_groups", path="TargetGroups"),
        id="TargetGroupArn",
        arn="{id}",
        arn_field="TargetGroupArn",
        name="TargetGroupName",
        aliases=("TargetGroupName",),
        tags=Tags("Tags", Call("describe_tags", {"ResourceArns": ["{TargetGroupArn}"]}, entries="TagDescriptions",
                               identity=(("ResourceArn", "TargetGroupArn"),), batch=20),
                  tagging="elasticloadbalancing:targetgroup"),
        terraform=(TerraformType("aws_lb_target_group", "arn"), TerraformType("aws_alb_target_group", "arn")),
        terraform_children=(
            ChildType("aws_lb_target_group_attachment", "target_group_arn"),
            ChildType("aws_alb_target_group_attachment", "target_group_arn"),
        ),
        comparables=(
            Comparable("port", "Port", "port", "Port", kind="int"),
            Comparable("protocol", "Protocol", "protocol", "Protocol"),
            Comparable("target_type", "TargetType", "target_type", "TargetType"),
            TAGS,
        ),
        edges=(
            Edge("in_vpc", "AWS::EC2::VPC", "VpcId"),
            Edge("serves", "AWS::ElasticLoadBalancingV2::LoadBalancer", "LoadBalancerArns"),
        ),
        import_identifier=("TargetGroupArn",),
        cloudformation_name="Name",
    ),
    ResourceType(
        type="AWS::ElasticLoadBalancingV2::Listener",
        service="elbv2",
        list=Call("describe_listeners", path="Listeners"),
        parent=("AWS::ElasticLoadBalancingV2::LoadBalancer", {"LoadBalancerArn": "{LoadBalancerArn}"}),
        id="ListenerArn",
        arn="{id}",
        arn_field="ListenerArn",
        terraform=(TerraformType("aws_lb_listener", "arn"), TerraformType("aws_alb_listener", "arn")),
        terraform_children=(
            ChildType("aws_lb_listener_rule", "listener_arn"),
            ChildType("aws_alb_listener_rule", "listener_arn"),
            ChildType("aws_lb_listener_certificate", "listener_arn"),
        ),
        cloudformation_children=(
            ChildType("AWS::ElasticLoadBalancingV2::ListenerRule", "ListenerArn"),
            ChildType("AWS::ElasticLoadBalancingV2::ListenerCertificate", "ListenerArn"),
        ),
        comparables=(
            Comparable("port", "Port", "port", "Port", kind="int"),
            Comparable("protocol", "Protocol", "protocol", "Protocol"),
        ),
        edges=(Edge("listens_on", "AWS::ElasticLoadBalancingV2::LoadBalancer", "LoadBalancerArn"),),
        import_identifier=("ListenerArn",),
    ),
    # ------------------------------------------------------------------------------ DNS, config, secrets, events
    ResourceType(
        type="AWS::Route53::HostedZone",
        service="route53",
        list=Call("list_hosted_zones", path="HostedZones"),
        id="ZoneId",
        arn="arn:{partition}:route53:::hostedzone/{id}",
        name="Name",
        scope="global",
        tags=Tags(
            "Tags",
            Call("list_tags_for_resources", {"ResourceType": "hostedzone", "ResourceIds": ["{ZoneId}"]},
                 entries="ResourceTagSets", identity=(("ResourceId", "ZoneId"),), batch=10),
        ),
        terraform=(TerraformType("aws_route53_zone", "zone_id"),),
        terraform_children=(
            ChildType("aws_route53_record", "zone_id"),
            ChildType("aws_route53_zone_association", "zone_id"),
            ChildType("aws_route53_hosted_zone_dnssec", "hosted_zone_id"),
        ),
        cloudformation_children=(
            ChildType("AWS::Route53::RecordSet", "HostedZoneId"),
            ChildType("AWS::Route53::RecordSetGroup", "HostedZoneId"),
        ),
        comparables=(
            Comparable("comment", "Config.Comment", "comment", "HostedZoneConfig.Comment"),
            TAGS,
        ),
        normalize="normalize_hosted_zone",
        physical_id="physical_id_zone",
        import_identifier=("Id",),
    ),
    ResourceType(
        type="AWS::SSM::Parameter",
        service="ssm",
        list=Call("describe_parameters", path="Parameters"),
        id="Name",
        arn="ssm_parameter_arn",
        tags=Tags(
            "TagList",
            Call("list_tags_for_resource", {"ResourceType": "Parameter", "ResourceId": "{Name}"}),
            tagging="ssm:parameter",
        ),
        terraform=(TerraformType("aws_ssm_parameter", "name"),),
        comparables=(
            Comparable("type", "Type", "type", "Type"),
            Comparable("description", "Description", "description", "Description"),
            TAGS,
        ),
        import_identifier=("Name",),
        cloudformation_name="Name",
    ),
    ResourceType(
        type="AWS::SecretsManager::Secret",
        service="secretsmanager",
        list=Call("list_secrets", path="SecretList"),
        id="ARN",
        arn="{id}",
        arn_field="ARN",
        name="Name",
        aliases=("Name",),
        tags=_kv(),
        terraform=(TerraformType("aws_secretsmanager_secret", "arn"),),
        terraform_children=(
            ChildType("aws_secretsmanager_secret_version", "secret_id"),
            ChildType("aws_secretsmanager_secret_policy", "secret_arn"),
            ChildType("aws_secretsmanager_secret_rotation", "secret_id"),
        ),
        cloudformation_children=(
            ChildType("AWS::SecretsManager::SecretTargetAttachment", "SecretId"),
            ChildType("AWS::SecretsManager::RotationSchedule", "SecretId"),
            ChildType("AWS::SecretsManager::ResourcePolicy", "SecretId"),
        ),
        comparables=(Comparable("description", "Description", "description", "Description"), TAGS),
        default="default_secret",
        import_identifier=("Id",),
        cloudformation_name="Name",
    ),
    ResourceType(
        type="AWS::Events::Rule",
        service="events",
        list=Call("list_rules", path="Rules"),
        id="Name",
        arn="arn:{partition}:events:{region}:{account}:rule/{id}",
        arn_field="Arn",
        tags=Tags("Tags", Call("list_tags_for_resource", {"ResourceARN": "{Arn}"})),
        terraform=(TerraformType("aws_cloudwatch_event_rule", "name", live_import_id="{arn_path}"),),  # [bus/]rule
        terraform_children=(ChildType("aws_cloudwatch_event_target", "rule"),),
        comparables=(
            Comparable("schedule_expression", "ScheduleExpression", "schedule_expression", "ScheduleExpression"),
            Comparable("state", "State", "state", "State", kind="lower"),
            Comparable("description", "Description", "description", "Description"),
            TAGS,
        ),
        default="default_event_rule",
        physical_id="physical_id_rule",
        import_identifier=("Arn",),
        cloudformation_name="Name",
    ),
    ResourceType(
        type="AWS::CloudFormation::Stack",
        service="cloudformation",
        list=Call("describe_stacks", path="Stacks"),
        id="StackId",
        arn="{id}",
        arn_field="StackId",
        name="StackName",
        aliases=("StackName",),
        tags=_kv(),
        terraform=(TerraformType("aws_cloudformation_stack", "id", live_import_id="{name}"),),
        comparables=(),
        keep="keep_live_stack",
        import_identifier=("StackName",),
    ),
)

CATALOG: dict[str, ResourceType] = {row.type: row for row in RESOURCE_TYPES}

TERRAFORM_TYPES: dict[str, tuple[ResourceType, TerraformType]] = {
    tf.type: (row, tf) for row in RESOURCE_TYPES for tf in row.terraform
}

# A child declaration type -> (parent resource type, the child's attribute that names the parent).
CHILD_TYPES: dict[str, tuple[str, str]] = {
    child.type: (row.type, child.parent_attribute)
    for row in RESOURCE_TYPES
    for child in row.terraform_children + row.cloudformation_children
}

# Declarations that are bookkeeping of a tool, not resources: recorded as `ignored`, never compared.
BOOKKEEPING_TYPES = frozenset(
    {
        "AWS::CDK::Metadata",
        "AWS::CloudFormation::WaitConditionHandle",
        "AWS::CloudFormation::WaitCondition",
        "AWS::CloudFormation::CustomResource",
        "null_resource",
        "terraform_data",
        "random_id",
        "random_string",
        "random_password",
        "random_pet",
        "random_integer",
        "random_uuid",
        "random_shuffle",
        "time_sleep",
        "time_static",
        "time_rotating",
        "tls_private_key",
        "local_file",
        "local_sensitive_file",
        "archive_file",
    }
)


def format_arn(row: ResourceType, partition: str, region: str, account: str, natural_id: str) -> str | None:
    """The ARN a resource has from its natural id (None when the natural id is an ARN that is not given)."""
    if row.arn in FUNCTIONS:
        return FUNCTIONS[row.arn](partition, region, account, natural_id)
    if row.arn == "{id}":
        return natural_id if natural_id.startswith("arn:") else None
    return row.arn.format(partition=partition, region=region or "", account=account or "", id=natural_id)


def catalog_as_dicts() -> list[dict[str, Any]]:
    """The catalog as plain data, for `driftgraph types --format json` and the resource_types table."""
    return [
        {
            "type": row.type,
            "service": row.service,
            "scope": row.scope,
            "list_call": row.list.method,
            "describe_calls": [call.method for _, call in row.details],
            "tags_call": row.tags.call.method if row.tags and row.tags.call else None,
            "id": row.id,
            "arn": row.arn,
            "terraform_types": [
                {"type": tf.type, "id_attribute": tf.id_attribute, "import_id": tf.import_id} for tf in row.terraform
            ],
            "terraform_children": [c.type for c in row.terraform_children],
            "cloudformation_children": [c.type for c in row.cloudformation_children],
            "default_rule": row.default,
            "compared_attributes": [c.name for c in row.comparables],
            "import_identifier": list(row.import_identifier),
        }
        for row in RESOURCE_TYPES
    ]
