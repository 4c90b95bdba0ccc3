"""Terraform state files (format 3 and 4; local files, directories, globs, S3) as records of what Terraform manages.

Reading (files, S3) happens at the edge, in `load_terraform_states` (local files through importers.inputs, which
keeps walks finite and reads capped); `parse_state`, `choose_latest` and `to_records` are pure.
Only identifiers, tags and the catalog's comparable attributes leave this module: a state holds secrets in
plain text (database passwords, SSM values, user data), so nothing else from `attributes` is ever kept.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import Counter
from contextlib import closing
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

import orjson
from botocore.exceptions import BotoCoreError, ClientError

from graph.drift import pick_values, tags_from_pairs
from graph.records import GLOBAL, TERRAFORM, FailedSource, ImportResult, Owner, Record, SourceError, source_row
from graph.redact import redact_text
from graph.resource_types import BOOKKEEPING_TYPES, CATALOG, CHILD_TYPES, TERRAFORM_TYPES, function
from importers.inputs import DEFAULT_MAX_BYTES, Found, InputProblem, find_files, read_file, read_head, too_large
from importers.terraform_backends import backend_states, is_backend_location

SOURCE_KIND = "terraform_state"

# What a directory walk picks up. A `terraform.tfstate.backup` is an older copy of the state next to it, so a
# walk leaves it out (it does not end in either suffix); naming it explicitly still loads it.
STATE_FILE_SUFFIXES = (".tfstate", ".tfstate.json")
# A file a pattern matches is read when its name ends so; one named otherwise only if its first bytes (or, for
# JSON whose first keys are not a state's, the whole document) are a state's: `dir/*` also matches a README.
MATCHED_STATE_SUFFIXES = (*STATE_FILE_SUFFIXES, ".tfstate.backup")
HEAD_BYTES = 4096  # what is read of a file or an S3 object to tell whether it is a state
# Where the S3 backend keeps the states of workspaces other than "default" (its workspace_key_prefix, "env:").
S3_WORKSPACE_KEY = re.compile(r"(?:^|/)env:/[^/]+/.")
S3_HEAD_BYTES = HEAD_BYTES  # what one ranged GetObject reads of a key that is not a state by name, to tell
# Why an object under an S3 prefix was not read, as the skipped row counts them.
NOT_A_STATE, EMPTY_OBJECT, NOT_NAMED = "not_a_state", "empty", "not_named"
_STATE_HEADER_KEY = re.compile(rb'"(version|terraform_version|serial|lineage)"\s*:')

LOADED, ERROR, SUPERSEDED, REFUSED, SKIPPED = "loaded", "error", "superseded", "refused", "skipped"

# Classes of managed instances: only the first three become records.
CATALOGED, CHILD, UNCATALOGED, BOOKKEEPING, NOT_AWS = "cataloged", "child", "uncataloged", "bookkeeping", "not_aws"
CLOUD_CONTROL = "cloud_control"  # a cataloged type declared through the awscc (Cloud Control API) provider

# Attributes that name the resource itself on every type. Others (key_name, zone_id, allocation_id,
# cluster_identifier) name a *different* resource on most types, so only the catalog's own id attribute is added.
IDENTIFIER_ATTRIBUTES = ("id", "arn", "name", "url")
# Id attributes that hold a name rather than an opaque id; their value doubles as the record's name.
NAME_LIKE_ID = re.compile(r"name|^bucket$|identifier$|^cluster_id$|^replication_group_id$")

REGION = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d+$")
AVAILABILITY_ZONE = re.compile(r"^([a-z]{2}(?:-[a-z]+)+-\d+)(?:-[a-z]+-\d+)?[a-z]$")  # incl. local zones
# An EIP's network border group: the region, or a local or Wavelength zone's group (us-west-2-lax-1)
BORDER_GROUP = re.compile(r"^([a-z]{2}(?:-[a-z]+)+-\d+)(?:-[a-z0-9]+)*$")
ACCOUNT = re.compile(r"^\d{12}$")
SQS_URL = re.compile(r"^https://sqs\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/(\d{12})/")

# Attributes holding the resource's own AWS hostname, which names its region: EC2's DNS names
# (ec2-52-1-2-3.eu-west-1.compute.amazonaws.com, ip-10-0-0-5.eu-west-1.compute.internal), load balancers'
# (x.eu-west-1.elb.amazonaws.com, x.elb.eu-west-1.amazonaws.com), databases', clusters' and APIs' endpoints.
# Read only when the resource has no ARN, region or zone; a hostname not under amazonaws.com (a customer's
# domain) or with no region label in it (ElastiCache's `euw1`, CloudFront) says nothing.
HOSTNAME_ATTRIBUTES = ("public_dns", "private_dns", "dns_name", "endpoint", "reader_endpoint", "address",
                       "invoke_url", "api_endpoint", "bucket_regional_domain_name")
# ...except where the attribute names another resource: a subscription's endpoint is its subscriber.
FOREIGN_HOSTNAMES = {"aws_sns_topic_subscription": ("endpoint",)}
_HOST = re.compile(r"^(?:[a-z][a-z0-9+.-]*://)?([A-Za-z0-9.-]+)(?::\d+)?(?:[/?#]|$)")
# us-east-1 kept EC2's first spellings: ec2-1-2-3-4.compute-1.amazonaws.com and ip-10-0-0-5.ec2.internal
US_EAST_1_HOSTS = (".compute-1.amazonaws.com", ".ec2.internal")

# Terraform types whose identifiers are, or hold, a credential: these attributes never leave the state (as if
# marked sensitive), and the record is named `<state>#<address>` instead (as reconcile names a child without
# an id). Not listed, because only another attribute is secret (and only identifiers, tags and comparable
# attributes leave this module): aws_api_gateway_api_key (id is the key's id, `value` the key),
# aws_iam_user_login_profile (id is the user's name), aws_lightsail_key_pair (id is the pair's name),
# aws_secretsmanager_secret_version (id is the secret's ARN and a version id).
CREDENTIAL_IDENTIFIERS: dict[str, tuple[str, ...]] = {
    # id is the access key id: the public half of the key pair, which names it in every signed request
    "aws_iam_access_key": ("id",),
    # id is "<api id>:<key>", and `key` is what AppSync clients send as their x-api-key
    "aws_appsync_api_key": ("id", "key"),
    # id is "<service>:<user>:<credential id>"; the credential id is to a CodeCommit password what an access
    # key id is to its secret
    "aws_iam_service_specific_credential": ("id", "service_specific_credential_id"),
    # the URL carries the token that lets anyone who has it start the pipeline
    "aws_codepipeline_webhook": ("url",),
    # likewise for an Amplify branch's build
    "aws_amplify_webhook": ("url",),
    # the same webhook through Cloud Control
    "awscc_codepipeline_webhook": ("url",),
}
# The awscc provider manages resources through the Cloud Control API and names each type after its
# CloudFormation type: "awscc_", the service lowercased, the resource snake-cased (AWS::EC2::VPCEndpoint ->
# awscc_ec2_vpc_endpoint), as hashicorp/terraform-provider-awscc's internal/naming does.
AWSCC_PREFIX = "awscc_"
_AWSCC_SPELLINGS = {"CloudFormation": "Cloudformation", "CloudFront": "Cloudfront", "CloudWatch": "Cloudwatch",
                    "FSx": "Fsx"}


def _snake_case(name: str) -> str:
    """A CloudFormation name in awscc's snake case: a '_' where case changes, an acronym kept whole (DBInstance ->
    db_instance, VPCEndpoint -> vpc_endpoint, V2 stays v2 before a capital)."""
    for old, new in _AWSCC_SPELLINGS.items():
        name = name.replace(old, new)
    out: list[str] = []
    for i, ch in enumerate(name):
        upper, lower, digit = "A" <= ch <= "Z", "a" <= ch <= "z", "0" <= ch <= "9"
        after = name[i + 1] if i + 1 < len(name) else ""
        upper_next, lower_next, digit_next = "A" <= after <= "Z", "a" <= after <= "z", "0" <= after <= "9"
        if (upper and lower_next) or (lower and (upper_next or digit_next)) or (digit and (upper_next or lower_next)):
            if upper and lower_next and i > 0 and "A" <= name[i - 1] <= "Z":
                out.append("_")  # the last capital of an acronym starts the next word
            out.append(ch.lower() + ("_" if lower or digit else ""))
        else:
            out.append(ch.lower() if upper or lower or digit else "_")
    return "".join(out)


def awscc_type_name(cloudformation_type: str) -> str:
    """The awscc provider's Terraform type for a CloudFormation type (AWS::SQS::Queue -> awscc_sqs_queue)."""
    _, service, resource = cloudformation_type.split("::")
    return f"{AWSCC_PREFIX}{service.lower()}_{_snake_case(resource)}"


# Per cataloged type, the awscc attribute holding our natural id (the CloudFormation property, snake-cased,
# as the provider's generated schemas spell it; a property named `Id` becomes `<resource>_id`). Read from
# terraform-provider-awscc's internal/aws/*/*_resource_gen.go attribute maps.
AWSCC_ID_ATTRIBUTES: dict[str, str] = {
    "AWS::EC2::VPC": "vpc_id", "AWS::EC2::Subnet": "subnet_id", "AWS::EC2::SecurityGroup": "group_id",
    "AWS::EC2::Instance": "instance_id", "AWS::EC2::Volume": "volume_id", "AWS::EC2::EIP": "allocation_id",
    "AWS::EC2::NatGateway": "nat_gateway_id", "AWS::EC2::InternetGateway": "internet_gateway_id",
    "AWS::EC2::RouteTable": "route_table_id", "AWS::EC2::NetworkInterface": "network_interface_id",
    "AWS::EC2::NetworkAcl": "network_acl_id", "AWS::EC2::KeyPair": "key_name",
    "AWS::EC2::LaunchTemplate": "launch_template_id", "AWS::EC2::VPCEndpoint": "vpc_endpoint_id",
    "AWS::AutoScaling::AutoScalingGroup": "auto_scaling_group_name", "AWS::S3::Bucket": "bucket_name",
    "AWS::IAM::Role": "role_name", "AWS::IAM::User": "user_name", "AWS::IAM::Group": "group_name",
    "AWS::IAM::ManagedPolicy": "policy_arn", "AWS::IAM::InstanceProfile": "instance_profile_name",
    "AWS::Lambda::Function": "function_name", "AWS::SQS::Queue": "queue_name", "AWS::SNS::Topic": "topic_arn",
    "AWS::DynamoDB::Table": "table_name", "AWS::Kinesis::Stream": "name",
    "AWS::RDS::DBInstance": "db_instance_identifier", "AWS::RDS::DBCluster": "db_cluster_identifier",
    "AWS::RDS::DBSubnetGroup": "db_subnet_group_name", "AWS::ElastiCache::CacheCluster": "cluster_name",
    "AWS::ElastiCache::ReplicationGroup": "replication_group_id", "AWS::EFS::FileSystem": "file_system_id",
    "AWS::KMS::Key": "key_id", "AWS::KMS::Alias": "alias_name", "AWS::Logs::LogGroup": "log_group_name",
    "AWS::CloudWatch::Alarm": "alarm_name", "AWS::ECS::Cluster": "cluster_name",
    "AWS::ECS::Service": "service_arn", "AWS::ECS::TaskDefinition": "task_definition_arn",
    "AWS::ECR::Repository": "repository_name",
    "AWS::ElasticLoadBalancingV2::LoadBalancer": "load_balancer_arn",
    "AWS::ElasticLoadBalancingV2::TargetGroup": "target_group_arn",
    "AWS::ElasticLoadBalancingV2::Listener": "listener_arn", "AWS::Route53::HostedZone": "hosted_zone_id",
    "AWS::SSM::Parameter": "name", "AWS::SecretsManager::Secret": "secret_id", "AWS::Events::Rule": "name",
    "AWS::CloudFormation::Stack": "stack_id",
}
# Types whose Cloud Control identifier (the awscc `id`) is not their natural id, even through the type's
# physical-id mapping: a security group's `Id` (a name in a default VPC), an EIP's "ip|allocation", an ECS
# service's "arn|cluster", a rule's ARN. For the others `id` stands in when the attribute above is missing.
AWSCC_ID_IS_NOT_NATURAL = frozenset(
    {"AWS::EC2::SecurityGroup", "AWS::EC2::EIP", "AWS::ECS::Service", "AWS::Events::Rule"}
)
# awscc type -> (catalog row, the attribute holding its natural id)
AWSCC_TYPES = {awscc_type_name(type_): (CATALOG[type_], attribute) for type_, attribute in AWSCC_ID_ATTRIBUTES.items()}

# `tags_all` is `tags` plus the provider's default_tags: a key sensitive in one is the same value in the other.
TAG_ATTRIBUTES = ("tags", "tags_all")

_PROVIDER = re.compile(
    r'^(?P<module>(?:module\.[^.\[]+(?:\[[^\]]*\])?\.)*)'
    r'provider(?:\["(?P<source>[^"]+)"\]|\.(?P<name>[A-Za-z0-9_-]+))'
    r"(?:\.(?P<alias>[A-Za-z0-9_-]+))?$"
)
_PROVIDER_SHORT = re.compile(r"^(?P<name>[A-Za-z0-9_-]+)(?:\.(?P<alias>[A-Za-z0-9_-]+))?$")  # format 3: "aws.west"


# ------------------------------------------------------------------------------------------------ shapes


class StateProblem(Exception):
    """An input we cannot or will not read; `status` is ERROR or REFUSED."""

    def __init__(self, message: str, status: str = ERROR, line: int | None = None, format_version: Any = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.line = line
        self.format_version = format_version  # shown in the source row even when the state is refused


@dataclass(frozen=True)
class ProviderConfig:
    """One provider configuration: resources sharing it share a region and account unless they say otherwise."""

    type: str  # "aws", "google", "null"...
    alias: str = ""
    module: str = ""  # set when the provider block lives inside a module


@dataclass(frozen=True)
class Instance:
    """One current object of a managed resource, with attributes in the nested (format 4) shape."""

    address: str
    type: str
    provider: ProviderConfig
    attributes: Mapping[str, Any]
    # paths (attribute, then map keys or list indexes) to the values Terraform marks sensitive
    sensitive: tuple[tuple[str | int, ...], ...] = ()
    tainted: bool = False
    identity: Mapping[str, Any] | None = None  # Terraform 1.12+: the provider's identity of the object


@dataclass(frozen=True)
class ParsedState:
    format_version: int
    terraform_version: str | None
    lineage: str | None
    serial: int | None
    instances: tuple[Instance, ...]
    data_sources: int = 0  # data source instances: read by Terraform, managed by nobody here
    deposed: int = 0  # deposed objects: leftovers of a create_before_destroy replacement
    digest: str = ""  # of the resources, to tell a copy from a conflicting state with the same serial


@dataclass(frozen=True)
class Defaults:
    """Where a resource is when neither it nor its provider's other resources say: only what the caller knows
    holds for these states (a region the user gave for them), never a guess such as the first scanned region."""

    account: str | None = None
    region: str | None = None


@dataclass(frozen=True)
class Location:
    """Where one resource is, as far as some evidence says."""

    region: str | None = None
    account: str | None = None
    arn_is_global: bool = False  # the resource's own ARN has an empty region (IAM, CloudFront, S3)


@dataclass
class _Input:
    source: str  # path or s3:// URL, as shown to the user
    read: Callable[[], bytes] | None = None
    error: SourceError | None = None
    status: str = ERROR  # of `error`, or SKIPPED for a prefix's summary of what it left out (then `note` says)
    note: str | None = None
    same_as: str | None = None  # set when the same local file was already named
    warn: bool = False  # the note is also a warning (files a pattern matched that are not states)
    workspace: str | None = None  # the Terraform workspace a backend keeps this state for: its row says so
    local: bool = True  # a local file (two names of one file are read once)


@dataclass(frozen=True)
class Verdict:
    """What becomes of one state among the inputs: loaded, or superseded by another input of its lineage."""

    loaded: bool
    message: str | None = None  # why it is superseded
    superseded_by: str | None = None
    # loaded states of the same lineage and serial with other resources: the first few, and how many in all
    forked_with: tuple[str, ...] = ()
    forked_count: int = 0


# ------------------------------------------------------------------------------------------ public entry


def load_terraform_states(
    locations: list[str],
    session=None,
    default_account: str | None = None,
    default_region: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> ImportResult:
    """Read every state the locations name; one bad input never stops the others.

    `session` (a scanner.clients.AwsSession) is needed only for s3:// locations. `max_bytes` caps one input
    (a local file or an S3 object): a larger one is refused, unread. Every input gets a `sources` row, whose
    `superseded_by` names the input that made it count for nothing (a newer serial, the file it copies).

    `default_region` is for a region known to hold the resources that say nothing of their own (one the user
    gave for these states); pass None when there is none, never a guess such as the first scanned region:
    such resources then have no region, and match a live resource of their name in any scanned region. It also
    picks the region of the S3 client (None: the session's own)."""
    result = ImportResult()
    inputs = _expand_locations(locations, session, default_region, max_bytes)
    reads = [_read_input(item, result.errors) for item in inputs]
    states = [(item.source, parsed) for item, parsed, _ in reads if parsed is not None]
    verdicts = iter(choose_latest(states))
    by_source = dict(states)
    defaults = Defaults(default_account, default_region)
    successors = _Successors(by_source, defaults)
    for item, parsed, row in reads:
        if parsed is not None:
            verdict = next(verdicts)
            if verdict.loaded:
                _load(item.source, parsed, verdict, row, defaults, result)
            else:
                row.update(status=SUPERSEDED, message=redact_text(verdict.message), superseded_by=verdict.superseded_by)
                _warn_of_lost_resources(item.source, parsed, verdict.superseded_by, successors, row, result)
        if item.workspace is not None:
            row["message"] = redact_text(f"workspace {item.workspace}: {row['message'] or row['status']}")
        result.sources.append(row)
    return result


def _load(source: str, parsed: ParsedState, verdict: Verdict, row: dict, defaults: Defaults, result: ImportResult):
    try:
        records = to_records(parsed, source, defaults)
        message = describe_state(parsed, records)
    except Exception as error:  # a bug meeting an unforeseen state: this input fails, never the scan
        message = redact_text(f"{source}: could not be turned into records (unexpected {type(error).__name__})")
        result.errors.append(SourceError(source, message))
        row.update(status=ERROR, message=message)
        return
    result.records += records
    if verdict.forked_count:
        fork = redact_text(
            f"{source}: forked state: {_others(verdict.forked_with, verdict.forked_count)} "
            f"{'has' if verdict.forked_count == 1 else 'have'} the same lineage {parsed.lineage} and serial "
            f"{parsed.serial} but different resources; all are read, so a resource in more than one has two owners"
        )
        result.errors.append(SourceError(source, fork, kind="warning"))
        message = f"{message}; {fork.removeprefix(source + ': ')}"
    row.update(status=LOADED, message=redact_text(message))


class _Successors:
    """The states that superseded others, with what each declares, turned into records once however many
    states it supersedes."""

    def __init__(self, states: dict[str, ParsedState], defaults: Defaults):
        self.states = states
        self.defaults = defaults
        self._declared: dict[str, set[tuple[str, str]]] = {}

    def declared(self, source: str) -> set[tuple[str, str]]:
        if source not in self._declared:
            self._declared[source] = declared_keys(to_records(self.states[source], source, self.defaults))
        return self._declared[source]


def _warn_of_lost_resources(
    source: str, parsed: ParsedState, by: str | None, successors: _Successors, row: dict, result: ImportResult
) -> None:
    """A superseded state that declares resources its successor does not: said, for it may be no history at all
    but another environment, copied from this one's folder (and so its lineage and its addresses) and applied
    since. What only it declares is then doubt: a live resource answering to it is unknown, never unmanaged."""
    newer = successors.states.get(by) if by else None
    if newer is None or source == f"{by}.backup" or parsed.digest == newer.digest:
        return  # Terraform's own backup of the state next to it is history; a copy declares the same
    try:
        lost = lost_records(to_records(parsed, source, successors.defaults), successors.declared(by))
    except Exception as error:  # a bug meeting an unforeseen state: said, and what it declares stays in doubt
        message = redact_text(f"{source}: could not be compared with {by} (unexpected {type(error).__name__})")
        result.errors.append(SourceError(source, message, kind="warning"))
        result.failed.append(FailedSource(source, TERRAFORM, message.removeprefix(f"{source}: ")))
        return
    if not lost:
        return
    count = f"{len(lost)} resource{'s' if len(lost) != 1 else ''}"
    message = redact_text(
        f"{source}: superseded by {by} (same lineage {parsed.lineage}, older serial {parsed.serial} < "
        f"{newer.serial}), but it declares {count} that {by} does not ({_some(_described(r) for r in lost)}), and "
        "they were not read: a live resource only it declares is unknown, not unmanaged. If these are two "
        "environments copied from one, give each its own lineage: `terraform state pull > state.json` in one of "
        "them, change its \"lineage\", then `terraform state push -force state.json`"
    )
    result.errors.append(SourceError(source, message, kind="warning"))
    row["message"] = redact_text(f"{row['message']}; it declares {count} that {by} does not, which were not read")
    doubt = redact_text(f"superseded by {by} (same lineage {parsed.lineage}), which does not declare it")
    result.failed += doubt_of(source, doubt, lost)


def doubt_of(source: str, message: str, records: list[Record]) -> list[FailedSource]:
    """What a state that was set aside leaves in doubt: the resources answering to its records' identifiers
    (a record without any, any resource of its type). Doubt, not a failure: `partial` is false."""
    identified = [r for r in records if identity_keys(r)]
    anonymous = [r for r in records if not identity_keys(r)]
    doubts = []
    if identified:
        identifiers = frozenset(i for r in identified for _, i in identity_keys(r))
        doubts.append(FailedSource(source, TERRAFORM, message, *_common_place(identified),
                                   frozenset(r.type for r in identified), identifiers, partial=False))
    if anonymous:
        doubts.append(FailedSource(source, TERRAFORM, message, *_common_place(anonymous),
                                   frozenset(r.type for r in anonymous), partial=False))
    return doubts


def _common_place(records: list[Record]) -> tuple[str | None, str | None]:
    """The account and region all the records share, each None when they do not (or when one is global)."""
    accounts = {r.account for r in records}
    regions = {r.region for r in records}
    return (accounts.pop() if len(accounts) == 1 else None,
            regions.pop() if len(regions) == 1 and GLOBAL not in regions else None)


def identity_keys(record: Record) -> set[tuple[str, str]]:
    """(type, identifier) for each identifier a record answers to: natural id, ARN, aliases, folded to lower
    case where the catalog says AWS ignores it. Not the `<state>#<address>` that stands in for a credential."""
    withheld = f"{record.owner.source}#{record.owner.address}" if record.owner else None
    row = CATALOG.get(record.type)
    fold = row is not None and row.lowercase_id
    return {
        (record.type, identifier.lower() if fold else identifier)
        for identifier in (record.natural_id, record.arn, *record.aliases)
        if identifier and identifier != withheld
    }


def declared_keys(records: list[Record]) -> set[tuple[str, str]]:
    """Every (type, identifier) the records answer to, and ("", address) for each: what `lost_records` looks up."""
    keys = {key for record in records for key in identity_keys(record)}
    return keys | {("", record.owner.address) for record in records if record.owner}


def lost_records(older: list[Record], declared: set[tuple[str, str]]) -> list[Record]:
    """The records of an older state that a newer one (its `declared_keys`) does not declare, by address.

    Compared by identity, not address: environments copied from one folder have the same addresses for
    different resources. A record that gives no identifier is compared by its address."""
    lost = []
    for record in older:
        keys = identity_keys(record) or {("", record.owner.address)}
        if keys.isdisjoint(declared):
            lost.append(record)
    return sorted(lost, key=lambda r: (r.owner.address, r.natural_id or ""))


def _described(record: Record) -> str:
    """`lin-prod-q at aws_sqs_queue.q`: what a record names, where its state declares it."""
    if not identity_keys(record):
        return record.owner.address
    return f"{record.name or record.natural_id or record.arn} at {record.owner.address}"


def _others(shown: tuple[str, ...], count: int) -> str:
    """"a and b", or "a, b, c and 997 more" when more than those shown."""
    if count <= len(shown):
        return " and ".join(shown)
    return f"{', '.join(shown)} and {count - len(shown)} more"


def _some(names: Iterable[str], shown: int = 5) -> str:
    names = list(names)
    return ", ".join(names[:shown]) + (", ..." if len(names) > shown else "")


def _read_input(item: _Input, errors: list[SourceError]) -> tuple[_Input, ParsedState | None, dict[str, Any]]:
    """Read and parse one input: its parsed state, or None with the problem in `errors` and in its row."""
    row = _source_row(item.source)
    if item.error is not None or item.note is not None:
        if item.error is not None:
            errors.append(item.error)
        elif item.warn:
            errors.append(SourceError(item.source, item.note, kind="warning"))
        row.update(status=item.status, message=item.error.message if item.error else item.note)
        return item, None, row
    if item.same_as is not None:
        message = f"the same {'file' if item.local else 'state'} as {item.same_as}, already read"
        row.update(status=SUPERSEDED, message=message, superseded_by=item.same_as)
        return item, None, row
    try:
        parsed = parse_state(item.read(), item.source)
    except StateProblem as problem:
        errors.append(SourceError(item.source, problem.message, line=problem.line))
        row.update(status=problem.status, message=problem.message)
        if problem.format_version is not None:
            row["format_version"] = str(problem.format_version)
        return item, None, row
    except InputProblem as problem:  # not a regular file, over the size limit
        message = redact_text(f"{item.source}: {problem.reason}")
        errors.append(SourceError(item.source, message))
        row.update(status=problem.status, message=message)
        return item, None, row
    except Exception as error:  # an unreadable file, a failed S3 call, a bug: named, never fatal
        message = _read_failure(item.source, error)
        errors.append(SourceError(item.source, message, code=_error_code(error)))
        row.update(status=ERROR, message=message)
        return item, None, row
    row.update(
        format_version=str(parsed.format_version),
        tool_version=parsed.terraform_version,
        lineage=parsed.lineage,
        serial=parsed.serial,
        resource_count=len(parsed.instances),
    )
    return item, parsed, row


def _source_row(source: str) -> dict[str, Any]:
    return source_row(source, SOURCE_KIND, ERROR)


# --------------------------------------------------------------------------------------- edge: reading


def _expand_locations(locations: Iterable[str], session, region: str | None, max_bytes: int) -> list[_Input]:
    """Every input the locations name, in order: files, folder walks, glob matches, S3 objects."""
    inputs: list[_Input] = []
    for location in locations:
        if is_backend_location(location):  # stdin, S3 workspaces, HTTP, Terraform Cloud: importers/terraform_backends.py
            inputs += [
                _Input(state.source, read=state.read, status=SKIPPED if state.note else ERROR,
                       note=redact_text(f"{state.source}: {state.note}") if state.note else None,
                       workspace=state.workspace, local=False)
                for state in backend_states(location, session, region, max_bytes)
            ]
            continue
        if location.startswith("s3://"):
            inputs += _s3_inputs(location, session, region, max_bytes)
            continue
        found = find_files(location, _is_state_name, skip_folder=lambda name: name == ".terraform")
        if not found:
            inputs.append(_failed(location, f"{location}: no *.tfstate or *.tfstate.json file in this directory"))
        skipped: list[str] = []
        for item in found:
            if item.matched and not os.path.basename(item.path).endswith(MATCHED_STATE_SUFFIXES):
                checked = _checked_match(item, max_bytes)
                if checked is None:
                    skipped.append(os.path.basename(item.path))
                else:
                    inputs.append(checked)
            elif item.problem is not None:
                inputs.append(_failed(item.path, f"{item.path}: {item.problem}", item.status))
            else:
                inputs.append(_Input(item.path, read=_local_reader(item.path, max_bytes)))
        if skipped:
            files = f"{len(skipped)} file{'s' if len(skipped) != 1 else ''}"
            if len(skipped) == len(found):  # the location names no state: as for an empty folder, an error
                inputs.append(_failed(location, f"{location}: no Terraform state among the {files} this pattern "
                                                f"matches ({_some(skipped)})"))
            else:
                what = "is not a Terraform state" if len(skipped) == 1 else "are not Terraform states"
                note = f"{location}: skipped {files} that {what} ({_some(skipped)})"
                inputs.append(_Input(location, status=SKIPPED, note=redact_text(note), warn=True))
    seen: dict[str, str] = {}
    for item in inputs:
        if item.read is not None and not item.source.startswith("s3://"):
            key = os.path.realpath(item.source) if item.local else item.source
            if key in seen:
                item.same_as = seen[key]
            else:
                seen[key] = item.source
    return inputs


def _is_state_name(name: str) -> bool:
    return name.endswith(STATE_FILE_SUFFIXES)


def _checked_match(item: Found, max_bytes: int) -> _Input | None:
    """A file a pattern matched whose name is not a state's: an input if it holds a state, None if it does not.

    A FIFO, a device or a broken link is no state Terraform wrote; a file that cannot be read could be one, so
    it stays an error (its resources are then unknown rather than unmanaged)."""
    if item.problem is not None:
        if os.path.lexists(item.path) and not os.path.isfile(item.path):
            return None
        return _failed(item.path, f"{item.path}: {item.problem}", item.status)
    try:
        head = read_head(item.path, HEAD_BYTES)
        if looks_like_state(head):
            return _Input(item.path, read=_local_reader(item.path, max_bytes))
        if not _starts_like_object(head):
            return None
        # JSON whose first keys are not a state's (`jq -S` sorts `lineage` first and `serial` after the
        # resources): the whole document decides
        content = read_file(item.path, max_bytes)
    except InputProblem as problem:
        return _failed(item.path, f"{item.path}: {problem.reason}", problem.status)
    return _Input(item.path, read=lambda: content) if is_state_document(content) else None


def is_state_document(content: bytes) -> bool:
    """Whether a whole document is a Terraform state's JSON: an object with a format version and resources
    (format 4) or modules (format 3)."""
    try:
        document = orjson.loads(content.removeprefix(b"\xef\xbb\xbf"))
    except orjson.JSONDecodeError:
        return False
    return isinstance(document, dict) and "version" in document and ("resources" in document or "modules" in document)


def _failed(source: str, message: str, status: str = ERROR, code: str | None = None) -> _Input:
    return _Input(source, error=SourceError(source, redact_text(message), code=code), status=status)


def _local_reader(path: str, max_bytes: int) -> Callable[[], bytes]:
    return lambda: read_file(path, max_bytes)


def _s3_inputs(url: str, session, region: str | None, max_bytes: int) -> list[_Input]:
    """The state objects under an s3://bucket/prefix, each fetched lazily with GetObject.

    A prefix may hold thousands of other objects (plans, lock files, exports): only keys ending in `.tfstate` are
    states by name; a `.json` key, or any key where the S3 backend keeps workspaces (`env:/<workspace>/<key>`), is
    read only if its first bytes (one ranged GetObject) look like a state. The others are counted, not read."""
    bucket, _, prefix = url[len("s3://") :].partition("/")
    if not bucket:
        return [_failed(url, f"{url}: no bucket named")]
    if session is None:
        return [_failed(url, f"{url}: reading state from S3 needs an AWS session")]
    try:
        client = session.client("s3", region)
        listed = sorted(
            (item["Key"], item.get("Size"))
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for item in page.get("Contents") or []
        )
    except Exception as error:
        return [_failed(url, _read_failure(url, error), code=_error_code(error))]

    inputs: list[_Input] = []
    skipped: Counter = Counter()
    suffixes: set[str] = set()
    for key, size in listed:
        source = f"s3://{bucket}/{key}"
        by_name = key.endswith(".tfstate")
        if key.endswith("/"):
            skipped[EMPTY_OBJECT] += 1  # a folder marker
            continue
        if not by_name and not (key.endswith(".json") or S3_WORKSPACE_KEY.search(key)):
            skipped[NOT_NAMED] += 1  # backups, lock files, plans, notes
            suffixes.add(_suffix(key))
            continue
        if size is not None and size > max_bytes:
            inputs.append(_failed(source, f"{source}: {too_large(size, max_bytes)}", REFUSED))
            continue
        if by_name:
            inputs.append(_Input(source, read=_s3_reader(client, bucket, key, max_bytes)))
            continue
        if not size:
            skipped[EMPTY_OBJECT] += 1
            continue
        try:
            head = _s3_head(client, bucket, key)
        except Exception as error:
            inputs.append(_failed(source, _read_failure(source, error), code=_error_code(error)))
            continue
        if not looks_like_state(head):
            skipped[NOT_A_STATE] += 1
        elif len(head) >= size:  # the head was the whole object
            inputs.append(_Input(source, read=lambda head=head: head))
        else:
            inputs.append(_Input(source, read=_s3_reader(client, bucket, key, max_bytes)))
    counted = _skipped_objects(skipped, suffixes)
    if not inputs:
        return [_failed(url, f"{url}: no Terraform state under this prefix" + (f" ({counted})" if counted else ""))]
    if counted:
        inputs.append(_Input(url, status=SKIPPED, note=redact_text(f"{url}: skipped {counted}")))
    return inputs


def _suffix(key: str) -> str:
    name = key.rsplit("/", 1)[-1]
    return "." + name.rsplit(".", 1)[-1] if "." in name.strip(".") else "(no extension)"


def _skipped_objects(skipped: Counter, suffixes: set[str]) -> str:
    """What a prefix left unread, by reason: "204 objects: 200 whose first bytes are not a Terraform state, ..."."""
    reasons = (
        (NOT_A_STATE, "whose first bytes are not a Terraform state"),
        (EMPTY_OBJECT, "of no bytes (an empty file or a folder marker)"),
        (NOT_NAMED, f"not named like a state ({_some(sorted(suffixes))})"),
    )
    parts = [(skipped[reason], text) for reason, text in reasons if skipped[reason]]
    total = sum(count for count, _ in parts)
    objects = f"{total} object{'s' if total != 1 else ''}"
    if len(parts) <= 1:
        return f"{objects} {parts[0][1]}" if parts else ""
    return f"{objects}: " + ", ".join(f"{count} {text}" for count, text in parts)


def _s3_head(client, bucket: str, key: str) -> bytes:
    answer = client.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{S3_HEAD_BYTES - 1}")
    with closing(answer["Body"]) as body:
        return body.read(S3_HEAD_BYTES)


def _s3_reader(client, bucket: str, key: str, max_bytes: int) -> Callable[[], bytes]:
    def read() -> bytes:
        with closing(client.get_object(Bucket=bucket, Key=key)["Body"]) as body:
            content = body.read(max_bytes + 1)  # the listing's size may have changed since
        if len(content) > max_bytes:
            raise InputProblem(too_large(None, max_bytes), REFUSED)
        return content

    return read


def looks_like_state(head: bytes) -> bool:
    """Whether the first bytes of a JSON document look like a Terraform state: an object whose first keys
    include two of version, terraform_version, serial and lineage (Terraform writes them first). A UTF-16 state
    looks like one too, so that reading it says what is wrong with it."""
    head = _as_utf8(head)
    if not _starts_like_object(head):
        return False
    return len(set(_STATE_HEADER_KEY.findall(head))) >= 2


def _starts_like_object(head: bytes) -> bool:
    return _as_utf8(head).lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{")


def _as_utf8(head: bytes) -> bytes:
    """A UTF-16 head (a BOM, or NULs between ASCII characters) as UTF-8; any other head as it is."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return head.decode("utf-16", errors="ignore").encode("utf-8")
    if b"\x00" in head[:64]:
        encoding = "utf-16-le" if head[1:2] == b"\x00" else "utf-16-be"
        return head.decode(encoding, errors="ignore").encode("utf-8")
    return head


def _read_failure(source: str, error: Exception) -> str:
    if isinstance(error, OSError):  # local files come as InputProblem: this is a connection to S3 failing
        reason = f"cannot be read ({error.strerror or type(error).__name__})"
    elif isinstance(error, ClientError):
        code = _error_code(error) or "?"
        detail = (error.response.get("Error") or {}).get("Message")
        reason = f"cannot be read ({code}{': ' + detail if detail and detail != code else ''})"
    elif isinstance(error, BotoCoreError):
        reason = f"cannot be read ({error})"
    else:
        reason = f"cannot be read (unexpected {type(error).__name__}: please report it)"
    return redact_text(f"{source}: {reason}")


def _error_code(error: Exception) -> str | None:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        return (response.get("Error") or {}).get("Code")
    return None


# ----------------------------------------------------------------------------------------- pure: parsing


def parse_state(content: bytes | str, source: str) -> ParsedState:
    """A state document as its managed instances. Raises StateProblem naming `source` when it cannot.

    Integers beyond 64 bits come back as floats (orjson); state identifiers are strings, so none is affected."""
    if isinstance(content, str):
        content = content.encode("utf-8")
    if content.startswith(b"\xef\xbb\xbf"):  # a BOM, as some Windows editors write
        content = content[3:]
    try:
        document = orjson.loads(content)
    except orjson.JSONDecodeError as error:
        raise _json_problem(content, error, source) from None
    if not isinstance(document, dict):
        raise StateProblem(f"{source}: not a Terraform state (the top level is not a JSON object)")
    version = document.get("version")
    if version is None:
        raise StateProblem(f"{source}: not a Terraform state (no format \"version\" field)")
    if isinstance(version, bool) or not isinstance(version, (int, float)):
        # described, never quoted: whatever stands there may be anything, a secret included
        kind = _json_type(version)
        raise StateProblem(f"{source}: not a Terraform state (the format \"version\" is {kind}, not a number)")
    if version in (1, 2):
        raise StateProblem(
            f"{source}: state format version {version} (Terraform < 0.7) is not supported; upgrade it by "
            "running `terraform plan` with Terraform 0.11, which rewrites it as format 3",
            status=REFUSED,
            format_version=version,
        )
    if version == 3:
        return _parse_v3(document, source)
    if version == 4:
        return _parse_v4(document, source)
    shown = _small_integer(version)
    raise StateProblem(
        f"{source}: unknown state format version {shown if shown is not None else f'({_number_kind(version)})'}; "
        "driftgraph reads formats 3 (Terraform 0.7-0.11) and 4 (Terraform 0.12 and later)",
        status=REFUSED,
        format_version=shown,
    )


MAX_SHOWN_VERSION = 1000  # a format number above this is no format: said to be large, not quoted


def _small_integer(value: Any) -> int | None:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, int) and 0 <= value <= MAX_SHOWN_VERSION else None


def _number_kind(value: float | int) -> str:
    if isinstance(value, float) and not value.is_integer():
        return "a number with a fraction"
    return f"a number past {MAX_SHOWN_VERSION}" if value > 0 else "a negative number"


# How deep orjson reads JSON; a state is a handful of levels, attributes rarely more than ten.
MAX_JSON_DEPTH = 1024


def _json_problem(content: bytes, error: orjson.JSONDecodeError, source: str) -> StateProblem:
    """Why a state is not JSON we can read: the wrong encoding, too deep, or a syntax error, and where."""
    if content.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in content[:64]:
        # PowerShell 5's `terraform state pull > file` writes UTF-16
        return StateProblem(
            f"{source}: UTF-16 text; Terraform writes UTF-8 (convert it, e.g. with `iconv -f UTF-16 -t UTF-8`)"
        )
    try:
        content.decode("utf-8")
    except UnicodeDecodeError as bad:
        line, column = _position(content, bad.start)
        return StateProblem(
            f"{source}: not UTF-8 text: byte {content[bad.start]:#04x} at line {line}, column {column} (offset "
            f"{bad.start:,}) is not valid UTF-8 (a Latin-1 or Windows-1252 file?); Terraform writes UTF-8",
            line=line,
        )
    line, column = _error_position(content, error)
    if error.msg.startswith("depth limit"):
        return StateProblem(
            f"{source}: nested more than {MAX_JSON_DEPTH} levels deep at line {line}, column {column}; not read "
            "(Terraform's states are far shallower)",
            line=line,
        )
    return StateProblem(redact_text(f"{source}: invalid JSON at line {line}, column {column}: {error.msg}"), line=line)


def _position(content: bytes, offset: int) -> tuple[int, int]:
    """Line and column (in characters, counting a bad byte as one) of a byte offset."""
    start = content.rfind(b"\n", 0, offset) + 1
    return content.count(b"\n", 0, offset) + 1, len(content[start:offset].decode("utf-8", errors="replace")) + 1


def _error_position(content: bytes, error: orjson.JSONDecodeError) -> tuple[int, int]:
    """Line and column of a JSON error; orjson counts them from its position in the decoded text."""
    lineno, colno = getattr(error, "lineno", None), getattr(error, "colno", None)
    if lineno:
        return lineno, colno or 1
    try:  # fall back on the standard library, which always reports a line
        json.loads(content.decode("utf-8", errors="replace"))
    except json.JSONDecodeError as fallback:
        return fallback.lineno, fallback.colno
    return 1, 1


def _header(document: dict) -> tuple[str | None, str | None, int | None]:
    serial = document.get("serial")
    return (
        _text(document.get("terraform_version")),
        _text(document.get("lineage")),
        serial if isinstance(serial, int) and not isinstance(serial, bool) else None,
    )


def _digest(value: Any) -> str:
    """A hash of a value's canonical JSON (keys sorted), to tell copies from different states."""
    try:
        return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()
    except orjson.JSONEncodeError:  # deeper than orjson writes (it reads deeper than it writes)
        return _canonical_digest(value)


def _canonical_digest(value: Any) -> str:
    """The same hash as `_digest`, of the same bytes, built without recursion: any depth that was read."""
    digest = hashlib.sha256()
    pending: list[Any] = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, bytes):  # punctuation queued below
            digest.update(item)
        elif isinstance(item, dict):
            parts: list[Any] = [b"{"]
            for position, key in enumerate(sorted(item)):
                parts += [b"," if position else b"", orjson.dumps(key) + b":", item[key]]
            pending += reversed([*parts, b"}"])
        elif isinstance(item, list):
            parts = [b"["]
            for position, element in enumerate(item):
                parts += [b"," if position else b"", element]
            pending += reversed([*parts, b"]"])
        else:
            digest.update(orjson.dumps(item))
    return digest.hexdigest()


def _parse_v4(document: dict, source: str) -> ParsedState:
    """Format 4 (Terraform 0.12+): resources[].instances[] with nested attributes."""
    resources = _field(document, "resources", list, source, "the state")
    instances: list[Instance] = []
    data_sources = deposed = 0
    for position, resource in enumerate(resources):
        where = f"resources[{position}]"
        try:
            _require(resource, dict, source, where)
            mode = _field(resource, "mode", str, source, where, default="managed")
            rtype = _field(resource, "type", str, source, where, default=None)
            name = _field(resource, "name", str, source, where, default=None)
            if not rtype or name is None:
                raise StateProblem(f"{source}: {where}: no {'type' if not rtype else 'name'}")
            module = _field(resource, "module", str, source, where, default="")
            base = f"{module}.{rtype}.{name}" if module else f"{rtype}.{name}"
            where = f"{where} ({'data.' if mode == 'data' else ''}{base})"
            objects = _field(resource, "instances", list, source, where)
            for index, obj in enumerate(objects):
                _require(obj, dict, source, f"{where}, instances[{index}]")
            if mode == "data":
                data_sources += len(objects)
                continue
            if mode != "managed":
                raise StateProblem(f"{source}: {where}: unknown mode {mode!r} (Terraform writes managed or data)")
            provider = parse_provider(_field(resource, "provider", str, source, where, default=None), rtype)
            for index, obj in enumerate(objects):
                if obj.get("deposed"):
                    deposed += 1
                    continue
                instances.append(_v4_instance(obj, base, rtype, provider, source, f"{where}, instances[{index}]"))
        except StateProblem:
            raise
        except RecursionError:
            raise StateProblem(f"{source}: {where}: attributes nested too deeply to read") from None
        except Exception as error:  # unforeseen: named by place, never by value (a value may be a secret)
            raise StateProblem(f"{source}: {where}: cannot be read (unexpected {type(error).__name__})") from None
    return ParsedState(4, *_header(document), tuple(instances), data_sources, deposed, digest=_digest(resources))


def _v4_instance(obj: dict, base: str, rtype: str, provider: ProviderConfig, source: str, where: str) -> Instance:
    key = obj.get("index_key")
    if isinstance(key, float) and key.is_integer():
        key = int(key)  # as Terraform reads it: JSON has one number type
    if isinstance(key, bool) or not isinstance(key, (str, int, type(None))):
        kind = "a number with a fraction" if isinstance(key, float) else _json_type(key)
        raise StateProblem(f"{source}: {where}: \"index_key\" is {kind}, not a string or an integer")
    address = base + format_index(key)
    where = f"{where} ({address})"
    attributes = _field(obj, "attributes", dict, source, where, default=None)
    if attributes is None:  # early 0.12 states kept legacy flat attributes here
        flat = _field(obj, "attributes_flat", dict, source, where, default=None)
        if flat is None:
            raise StateProblem(f"{source}: {where}: no \"attributes\" (nor \"attributes_flat\")")
        attributes = unflatten(flat)
    return Instance(
        address=address,
        type=rtype,
        provider=provider,
        attributes=attributes,
        sensitive=sensitive_paths(
            _field(obj, "sensitive_attributes", list, source, where), obj.get("sensitive_values")
        ),
        tainted=obj.get("status") == "tainted",
        identity=obj.get("identity") if isinstance(obj.get("identity"), dict) else None,
    )


def _json_type(value: Any) -> str:
    """What a JSON value is, to say so without quoting it (a state's values may be secrets)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return {str: "a string", list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


_EXPECTED = {list: "a list", dict: "an object", str: "a string"}


def _require(value: Any, kind: type, source: str, where: str) -> None:
    if not isinstance(value, kind):
        raise StateProblem(f"{source}: {where} is {_json_type(value)}, not {_EXPECTED[kind]}")


_EMPTY = object()


def _field(container: dict, key: str, kind: type, source: str, where: str, default: Any = _EMPTY) -> Any:
    """container[key] when it is of `kind`; `default` (an empty one by default) when missing or null."""
    value = container.get(key)
    if value is None:
        return kind() if default is _EMPTY else default
    if not isinstance(value, kind):
        raise StateProblem(f"{source}: {where}: \"{key}\" is {_json_type(value)}, not {_EXPECTED[kind]}")
    return value


def sensitive_paths(marked: list, marks: Any = None) -> tuple[tuple[str | int, ...], ...]:
    """The paths to the values Terraform marks sensitive, as (attribute, key or index, ...).

    `sensitive_attributes` holds cty paths: [[{"type": "get_attr", "value": "tags"}, {"type": "index", "value":
    {"value": "Owner", "type": "string"}}]]. A bare step, a bare attribute name and an index value that is not
    wrapped are read too; a path is cut at a step it cannot read, so that what lies under it goes whole.
    `sensitive_values` (how `terraform show -json` marks them: {"tags": {"Owner": true}}) is read as well."""
    paths: list[tuple[str | int, ...]] = []
    for raw in marked:
        path = _cty_path(raw)
        if path:
            paths.append(path)
    if isinstance(marks, dict):
        paths += _marked_paths(marks)
    return tuple(dict.fromkeys(paths))


def _cty_path(raw: Any) -> tuple[str | int, ...]:
    if isinstance(raw, str):
        return (re.split(r"[.\[]", raw, maxsplit=1)[0],) if raw else ()
    steps = [raw] if isinstance(raw, dict) else raw if isinstance(raw, list) else []
    path: list[str | int] = []
    for step in steps:
        value = step.get("value") if isinstance(step, dict) else None
        if isinstance(step, dict) and step.get("type") == "index" and isinstance(value, dict):
            value = value.get("value")
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, (str, int)) or (not path and not isinstance(value, str)):
            break
        path.append(value)
    return tuple(path)


def _marked_paths(marks: dict) -> list[tuple[str | int, ...]]:
    """The paths to every `true` in a `sensitive_values` tree; a list holding one marks itself whole."""
    paths: list[tuple[str | int, ...]] = []
    pending: list[tuple[tuple[str | int, ...], dict]] = [((), marks)]
    while pending:
        prefix, tree = pending.pop()
        for key, value in tree.items():
            if value is True or (isinstance(value, list) and _holds_true(value)):
                paths.append((*prefix, key))
            elif isinstance(value, dict):
                pending.append(((*prefix, key), value))
    return paths


def _holds_true(value: list) -> bool:
    pending: list[Any] = [value]
    while pending:
        item = pending.pop()
        if item is True:
            return True
        if isinstance(item, list):
            pending += item
        elif isinstance(item, dict):
            pending += item.values()
    return False


def _parse_v3(document: dict, source: str) -> ParsedState:
    """Format 3 (Terraform 0.7-0.11): modules[].resources{"aws_x.name.N": {primary: {attributes (flat)}}}."""
    modules = _field(document, "modules", list, source, "the state")
    instances: list[Instance] = []
    data_sources = deposed = 0
    for position, module in enumerate(modules):
        where = f"modules[{position}]"
        _require(module, dict, source, where)
        path = _field(module, "path", list, source, where, default=["root"])
        if not all(isinstance(p, str) for p in path):
            raise StateProblem(f"{source}: {where}: \"path\" holds something other than module names (strings)")
        prefix = "".join(f"module.{name}." for name in path[1:])
        where = f"{where} ({'.'.join(path)})"
        resources = _field(module, "resources", dict, source, where)
        for key, resource in resources.items():
            place = f"{where}, resource {prefix}{key}"
            try:
                if key.startswith("data."):
                    data_sources += 1
                    continue
                instance, deposed_here = _v3_instance(key, resource, prefix, source, place)
                deposed += deposed_here
                if instance is not None:
                    instances.append(instance)
            except StateProblem:
                raise
            except RecursionError:  # flat keys with thousands of dots
                raise StateProblem(f"{source}: {place}: attributes nested too deeply to read") from None
            except Exception as error:  # unforeseen: named by place, never by value (a value may be a secret)
                raise StateProblem(f"{source}: {place}: cannot be read (unexpected {type(error).__name__})") from None
    return ParsedState(3, *_header(document), tuple(instances), data_sources, deposed, digest=_digest(modules))


def _v3_instance(key: str, resource: Any, prefix: str, source: str, where: str) -> tuple[Instance | None, int]:
    """One resource of a format 3 module: its primary object (None when only deposed ones are left), and how
    many deposed objects it has."""
    _require(resource, dict, source, where)
    deposed = len([d for d in _field(resource, "deposed", list, source, where) if d])
    primary = _field(resource, "primary", dict, source, where, default=None)
    if primary is None:
        return None, deposed
    parts = key.split(".")
    rtype = _field(resource, "type", str, source, where, default=None) or parts[0]
    name = parts[1] if len(parts) > 1 else ""
    index = f"[{parts[2]}]" if len(parts) > 2 and parts[2].isdigit() else ""
    attributes = unflatten(_field(primary, "attributes", dict, source, f"{where}, primary"))
    if primary.get("id") is not None:
        attributes.setdefault("id", primary["id"])
    provider = parse_provider(_field(resource, "provider", str, source, where, default=None), rtype)
    instance = Instance(
        address=f"{prefix}{rtype}.{name}{index}",
        type=rtype,
        provider=provider,
        attributes=attributes,
        tainted=bool(primary.get("tainted")),
    )
    return instance, deposed


def format_index(key: Any) -> str:
    """An instance key as Terraform prints it: [0] for count, ["orders"] for for_each."""
    if key is None:
        return ""
    if isinstance(key, bool):  # never written by Terraform; spelt as HCL would
        return f"[{str(key).lower()}]"
    if isinstance(key, int):
        return f"[{key}]"
    return "[" + json.dumps(str(key), ensure_ascii=False) + "]"


def parse_provider(text: Any, resource_type: str) -> ProviderConfig:
    """A provider reference in any spelling Terraform has used, as (type, alias, module).

    provider["registry.terraform.io/hashicorp/aws"].west, module.m.provider.aws, provider.aws.west, aws.west;
    a missing one means the default configuration of the provider the type's prefix names."""
    text = _text(text) or ""
    match = _PROVIDER.match(text)
    if match:
        name = (match["source"] or "").rsplit("/", 1)[-1] or match["name"]
        return ProviderConfig(name, match["alias"] or "", (match["module"] or "").rstrip("."))
    match = _PROVIDER_SHORT.match(text)
    if match:
        return ProviderConfig(match["name"], match["alias"] or "")
    return ProviderConfig(resource_type.split("_", 1)[0])


def unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Terraform 0.11's flat attributes as the nested shape format 4 writes.

    "tags.%" marks a map (its keys may hold dots: "tags.kubernetes.io/role"), "x.#" a list or set whose
    elements are "x.0", "x.1" (lists) or "x.<hash>" (sets), and "x.0.port" a field of an element."""
    groups: dict[str, dict[str | None, Any]] = {}
    for key, value in flat.items():
        head, dot, rest = str(key).partition(".")
        groups.setdefault(head, {})[rest if dot else None] = value
    return {head: _unflatten_group(members, in_object=True) for head, members in groups.items()}


def _unflatten_group(members: dict[str | None, Any], in_object: bool = False) -> Any:
    if set(members) == {None}:
        value = members[None]
        # Format 3 wrote every value as text. Booleans are given their type back, as format 4 has them (and so a
        # rule's "self": "false" does not read as true); numbers stay text: the int/float normalisers read both.
        # Map values (tags) and list items keep their text: a tag "true" is a string in every format.
        return _BOOLEANS.get(value, value) if in_object and isinstance(value, str) else value
    items = {k: v for k, v in members.items() if k not in (None, "%", "#")}
    if "%" in members:
        return items
    if "#" in members:
        heads = {k.partition(".")[0] for k in items}
        if not all(_is_index(h) for h in heads):
            return items  # format 1 and 2 marked maps with '#' too
        elements: dict[str, dict[str | None, Any]] = {}
        for key, value in items.items():
            index, dot, rest = key.partition(".")
            elements.setdefault(index, {})[rest if dot else None] = value
        return [_unflatten_group(elements[i]) for i in sorted(elements, key=_index_order)]
    return unflatten(items)


_BOOLEANS = {"true": True, "false": False}


def _is_index(text: str) -> bool:
    return text.lstrip("~-").isdigit()


def _index_order(text: str) -> tuple[int, str]:
    return (int(text.lstrip("~")), text)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


# ------------------------------------------------------------------------------------ pure: supersession


FORK_SIDES_NAMED = 3  # how many other sides of a forked state its warning names before "and N more"


def choose_latest(states: list[tuple[str, ParsedState]]) -> list[Verdict]:
    """For each (source, state), whether it counts, and when not, which input supersedes it and why.

    Two inputs with one lineage are one state's history (a backup, a copy, a pulled snapshot): only the highest
    serial counts, or two copies would look like two owners. Copies at that serial count once, the first named.
    Different contents at that serial mean the state was forked: no side can be chosen, so every side is read
    and each names a few of the others (their common resources then have two owners, which the report shows)."""
    by_lineage: dict[str, list[int]] = {}
    for position, (_, parsed) in enumerate(states):
        if parsed.lineage:
            by_lineage.setdefault(parsed.lineage, []).append(position)
    verdicts = [Verdict(True)] * len(states)
    for lineage, positions in by_lineage.items():
        newest = max(_serial(states[p][1]) for p in positions)
        sides: dict[str, int] = {}  # the first input of each content at the newest serial
        for position in positions:
            if _serial(states[position][1]) == newest:
                sides.setdefault(states[position][1].digest, position)
        first_side = states[min(sides.values())][0]
        # each side names the first few others, not all: a thousand-way fork would be a million names
        named = sorted(sides.values())[: FORK_SIDES_NAMED + 1]
        for position in positions:
            source, parsed = states[position]
            side = sides.get(parsed.digest) if _serial(parsed) == newest else None
            if side == position:
                others = tuple(states[p][0] for p in named if p != position)[:FORK_SIDES_NAMED]
                verdicts[position] = Verdict(True, forked_with=others, forked_count=len(sides) - 1)
            elif side is not None:
                kept = states[side][0]
                message = f"a copy of {kept} (same lineage {lineage}, serial {parsed.serial}, same resources)"
                verdicts[position] = Verdict(False, message, superseded_by=kept)
            else:
                message = f"superseded by {first_side}: same lineage {lineage}, older serial {parsed.serial} < {newest}"
                verdicts[position] = Verdict(False, message, superseded_by=first_side)
    return verdicts


def _serial(parsed: ParsedState) -> int:
    return parsed.serial if parsed.serial is not None else -1


# ------------------------------------------------------------------------------------- pure: to records


def classify(instance: Instance) -> str:
    """What an instance is to us: a cataloged resource, a child of one, another AWS type, or none of ours."""
    if instance.type in BOOKKEEPING_TYPES:
        return BOOKKEEPING
    if instance.type.startswith(AWSCC_PREFIX):  # AWS too, through Cloud Control, whatever the provider's name
        return CLOUD_CONTROL if instance.type in AWSCC_TYPES else UNCATALOGED
    if instance.provider.type != "aws" and not instance.type.startswith("aws_"):
        return NOT_AWS
    if instance.type in TERRAFORM_TYPES:  # before CHILD_TYPES: aws_default_network_acl is both
        return CATALOGED
    if instance.type in CHILD_TYPES:
        return CHILD
    return UNCATALOGED


def to_records(parsed: ParsedState, source: str, defaults: Defaults = Defaults()) -> list[Record]:
    """One record per managed AWS instance; bookkeeping and other providers' resources are left out.

    A regional resource's region is what it says itself, else what most resources of its provider configuration
    say, else `defaults.region`; with none of these it has no region (None), which reconcile reads as "any
    scanned region": a guess would make it missing in one region and unmanaged in another."""
    kept = [(instance, classify(instance)) for instance in parsed.instances]
    kept = [(instance, kind) for instance, kind in kept if kind in (CATALOGED, CLOUD_CONTROL, CHILD, UNCATALOGED)]
    own = [own_location(_visible(instance), instance.type, instance.identity) for instance, _ in kept]
    by_provider = provider_locations([(instance.provider, location) for (instance, _), location in zip(kept, own)])
    accounts = {location.account for location in own if location.account}
    state_account = accounts.pop() if len(accounts) == 1 else None
    records = []
    for (instance, kind), location in zip(kept, own):
        shared = by_provider.get(instance.provider, Location())
        account = location.account or shared.account or defaults.account or state_account
        regional = location.region or shared.region or defaults.region
        owner = Owner(tool="terraform", source=source, address=instance.address, framework="terraform")
        if kind == CATALOGED:
            records.append(_cataloged_record(instance, account, regional, owner))
        elif kind == CLOUD_CONTROL:
            records.append(_cloud_control_record(instance, account, regional, owner))
        elif kind == CHILD:
            records.append(_child_record(instance, account, regional, owner))
        else:
            region = GLOBAL if location.arn_is_global and not location.region else regional
            records.append(_uncataloged_record(instance, account, region, owner))
    return records


def own_location(
    attributes: Mapping[str, Any], resource_type: str = "", identity: Mapping[str, Any] | None = None
) -> Location:
    """Region and account a resource states itself: its ARN, its `region` (provider v6, S3 buckets), its
    resource identity (Terraform 1.12+), its availability zone, a queue URL, an EIP's network border group,
    its own AWS hostname, an EC2 `owner_id`."""
    region = account = None
    arn_is_global = False
    arn = _arn_of(attributes)
    if arn:
        parts = arn.split(":", 5)
        region = parts[3] if REGION.match(parts[3]) else None
        account = parts[4] if ACCOUNT.match(parts[4]) else None
        arn_is_global = parts[3] == ""
    identity = identity or {}
    for candidate in (attributes.get("region"), identity.get("region"), attributes.get("availability_zone")):
        if region is None and isinstance(candidate, str):
            zone = AVAILABILITY_ZONE.match(candidate)
            region = candidate if REGION.match(candidate) else (zone.group(1) if zone else None)
    for value in (attributes.get("url"), attributes.get("id")):
        url = SQS_URL.match(value) if isinstance(value, str) else None
        if url:
            region, account = region or url.group(1), account or url.group(2)
    border = attributes.get("network_border_group")
    if region is None and isinstance(border, str) and BORDER_GROUP.match(border):
        region = BORDER_GROUP.match(border).group(1)
    foreign = FOREIGN_HOSTNAMES.get(resource_type, ())
    for key in HOSTNAME_ATTRIBUTES:
        if region is None and key not in foreign:
            region = hostname_region(attributes.get(key))
    for candidate in (identity.get("account_id"), attributes.get("owner_id")):
        if account is None and isinstance(candidate, str) and ACCOUNT.match(candidate):
            account = candidate
    return Location(region, account, arn_is_global)


def hostname_region(value: Any) -> str | None:
    """The region an AWS hostname (or a URL or host:port of one) is in; None for any other name."""
    match = _HOST.match(value) if isinstance(value, str) else None
    if not match:
        return None
    host = match.group(1).lower().rstrip(".")
    if host.endswith(US_EAST_1_HOSTS):
        return "us-east-1"
    labels = host.split(".")
    if host.endswith(".compute.internal") and len(labels) >= 4:
        return labels[-3] if REGION.match(labels[-3]) else None
    if not host.endswith((".amazonaws.com", ".amazonaws.com.cn")):
        return None
    regions = [label for label in labels[:-2] if REGION.match(label)]
    return regions[-1] if regions else None  # the last: a resource's own name may look like a region


def provider_locations(evidence: list[tuple[ProviderConfig, Location]]) -> dict[ProviderConfig, Location]:
    """The region and account most resources of each provider configuration state about themselves."""
    regions: dict[ProviderConfig, Counter] = {}
    accounts: dict[ProviderConfig, Counter] = {}
    for provider, location in evidence:
        if location.region:
            regions.setdefault(provider, Counter())[location.region] += 1
        if location.account:
            accounts.setdefault(provider, Counter())[location.account] += 1
    return {
        provider: Location(_most_common(regions.get(provider)), _most_common(accounts.get(provider)))
        for provider in set(regions) | set(accounts)
    }


def _most_common(counter: Counter | None) -> str | None:
    if not counter:
        return None
    return min(counter.items(), key=lambda item: (-item[1], item[0]))[0]  # ties: alphabetical, not random


def _cataloged_record(instance: Instance, account, region, owner: Owner) -> Record:
    row, tf = TERRAFORM_TYPES[instance.type]
    attributes = _visible(instance)
    natural_id = _identifier(attributes.get(tf.id_attribute))
    note = None
    if natural_id is None:
        natural_id = _identifier(attributes.get("id")) or _withheld_id(instance, owner)
        note = f"no {tf.id_attribute} in state; matched by id"
    if natural_id is not None and row.lowercase_id:
        natural_id = natural_id.lower()
    if row.is_global:
        region = GLOBAL
    # the identifier names the resource where it is a name (an RDS instance's `identifier`); `name` may be
    # something else there (aws_db_instance's `name` is the database inside it)
    name = _identifier(attributes.get(tf.id_attribute)) if NAME_LIKE_ID.search(tf.id_attribute) else None
    name = name or _identifier(attributes.get("name"))
    tags = _tags(attributes)
    if name is None and tags:
        name = _identifier(tags.get("Name"))
    return Record(
        source_kind=TERRAFORM,
        type=row.type,
        account=account,
        region=region,
        natural_id=natural_id,
        arn=_arn_of(attributes),
        name=name,
        aliases=_aliases(attributes, (*IDENTIFIER_ATTRIBUTES, tf.id_attribute), natural_id, row.lowercase_id),
        tags=tags,
        # exactly the comparables, as the other sources give them; the store redacts every row on the way in
        attributes=pick_values(row, TERRAFORM, attributes),
        owner=owner,
        raw_type=instance.type,
        note=_join_notes(note, _tainted_note(instance)),
    )


def _cloud_control_record(instance: Instance, account, region, owner: Owner) -> Record:
    """A cataloged type declared through awscc, found by the attribute holding its natural id, else by its
    Cloud Control id where that names it; with neither it gives no identifier, and reconcile makes every
    unowned live resource of its type and place `unknown`, never `unmanaged`.

    No attribute is compared: the catalog's Terraform paths are the aws provider's names, which awscc spells
    otherwise (`visibility_timeout`, not `visibility_timeout_seconds`), so each would read as unset: false drift."""
    row, id_attribute = AWSCC_TYPES[instance.type]
    attributes = _visible(instance)
    natural_id = _identifier(attributes.get(id_attribute))
    note = None
    cloud_control_id = _identifier(attributes.get("id"))
    if natural_id is None and cloud_control_id is not None and row.type not in AWSCC_ID_IS_NOT_NATURAL:
        natural_id = function(row.physical_id)(cloud_control_id) if row.physical_id else cloud_control_id
        note = f"no {id_attribute} in state; matched by its Cloud Control id"
    elif natural_id is None:
        note = f"no {id_attribute} in state: cannot be found live"
    if natural_id is not None and row.lowercase_id:
        natural_id = natural_id.lower()
    if row.is_global:
        region = GLOBAL
    name = natural_id if NAME_LIKE_ID.search(id_attribute) and note is None else None
    tags = _cloud_control_tags(attributes)
    name = name or _identifier(attributes.get("name")) or (_identifier(tags.get("Name")) if tags else None)
    return Record(
        source_kind=TERRAFORM,
        type=row.type,
        account=account,
        region=region,
        natural_id=natural_id,
        arn=_arn_of(attributes),
        name=name,
        aliases=_aliases(attributes, ("id", "arn"), natural_id, row.lowercase_id) if natural_id else (),
        tags=tags,
        attributes={},
        owner=owner,
        raw_type=instance.type,
        note=_join_notes(note, _tainted_note(instance)),
    )


def _cloud_control_tags(attributes: Mapping[str, Any]) -> dict[str, Any] | None:
    """awscc tags: a list of {key, value} on most types, a map on some. None (not compared) when absent or of
    another shape: tags read wrong would all be drift."""
    value = attributes.get("tags")
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, list) and all(isinstance(pair, dict) and isinstance(pair.get("key"), str) for pair in value):
        return tags_from_pairs(value, "key", "value")
    return None


def _child_record(instance: Instance, account, region, owner: Owner) -> Record:
    parent_type, parent_attribute = CHILD_TYPES[instance.type]
    attributes = _visible(instance)
    parent_id = _identifier(attributes.get(parent_attribute))
    parent_row = CATALOG.get(parent_type)
    if parent_row is not None and parent_row.is_global:
        region = GLOBAL  # a policy attachment lives where its role does
    return Record(
        source_kind=TERRAFORM,
        type=instance.type,
        account=account,
        region=region,
        natural_id=_identifier(attributes.get("id")) or _withheld_id(instance, owner),
        arn=_arn_of(attributes),
        tags=_tags(attributes),
        owner=owner,
        parent=(parent_type, parent_id) if parent_id is not None else None,
        raw_type=instance.type,
        note=_join_notes(
            None if parent_id is not None else f"no {parent_attribute} in state: parent unknown",
            _tainted_note(instance),
        ),
    )


def _uncataloged_record(instance: Instance, account, region, owner: Owner) -> Record:
    attributes = _visible(instance)
    natural_id = _identifier(attributes.get("id")) or _withheld_id(instance, owner)
    return Record(
        source_kind=TERRAFORM,
        type=instance.type,
        account=account,
        region=region,
        natural_id=natural_id,
        arn=_arn_of(attributes),
        name=_identifier(attributes.get("name")),
        aliases=_aliases(attributes, IDENTIFIER_ATTRIBUTES, natural_id, False),
        tags=_tags(attributes),
        owner=owner,
        raw_type=instance.type,
        note=_tainted_note(instance),
    )


def _visible(instance: Instance) -> Mapping[str, Any]:
    """The attributes without what Terraform marks sensitive and without credentials (CREDENTIAL_IDENTIFIERS):
    they never reach a record, even if compared. A sensitive map key goes alone (the rest of the map is kept);
    a sensitive part of a list or of a value we cannot walk takes the whole attribute with it."""
    paths = [*instance.sensitive, *((name,) for name in CREDENTIAL_IDENTIFIERS.get(instance.type, ()))]
    for path in list(paths):
        if path[0] in TAG_ATTRIBUTES:
            paths += [(other, *path[1:]) for other in TAG_ATTRIBUTES if other != path[0]]
    return _without(instance.attributes, paths)


_CUT = object()  # in a tree of paths: the value here goes whole


def _without(attributes: Mapping[str, Any], paths: Iterable[tuple[str | int, ...]]) -> Mapping[str, Any]:
    """`attributes` less the value at each path: the deepest object key on the way goes; the input is not changed.

    The paths are merged into one tree first, so that each map on the way is copied once however many paths
    cross it (a resource may mark tens of thousands of attributes sensitive). Walked without recursion: a path
    is as long as the state says."""
    tree: dict[str, Any] = {}
    for path in paths:
        node = tree
        for position, step in enumerate(path):
            key = str(step)
            if position == len(path) - 1:
                node[key] = _CUT
            else:
                child = node.setdefault(key, {})
                if child is _CUT:
                    break  # a shorter path already takes the whole value
                node = child
    if not tree:
        return attributes
    result = dict(attributes)
    pending: list[tuple[dict[str, Any], dict[str, Any]]] = [(result, tree)]
    while pending:
        copy, cuts = pending.pop()
        for key, below in cuts.items():
            if key not in copy:
                continue  # nothing there
            value = copy[key]
            if below is _CUT or not isinstance(value, Mapping):
                # a list, a set, a string holding JSON: not cut finer than the key that holds it
                del copy[key]
            else:
                copy[key] = dict(value)
                pending.append((copy[key], below))
    return result


def _withheld_id(instance: Instance, owner: Owner) -> str | None:
    """The natural id of a resource whose own id is a credential: its state and address, unique and not secret."""
    if "id" in CREDENTIAL_IDENTIFIERS.get(instance.type, ()):
        return f"{owner.source}#{owner.address}"
    return None


def _identifier(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return str(value)
    return value if isinstance(value, str) and value else None


def _arn_of(attributes: Mapping[str, Any]) -> str | None:
    for key in ("arn", "id"):
        value = attributes.get(key)
        if isinstance(value, str) and value.startswith("arn:") and value.count(":") >= 5:
            return value
    return None


def _aliases(
    attributes: Mapping[str, Any], keys: Iterable[str], natural_id: str | None, case_insensitive: bool
) -> tuple[str, ...]:
    def same(a: str, b: str | None) -> bool:
        return b is not None and (a.lower() == b.lower() if case_insensitive else a == b)

    found: list[str] = []
    for key in keys:
        value = _identifier(attributes.get(key))
        if value is not None and not same(value, natural_id) and not any(same(value, f) for f in found):
            found.append(value)
    return tuple(found)


def _tags(attributes: Mapping[str, Any]) -> dict[str, Any] | None:
    """`tags_all` (with the provider's default_tags, as AWS has them), else `tags`; None when the type has none."""
    for key in ("tags_all", "tags"):
        value = attributes.get(key)
        if isinstance(value, dict):
            return dict(value)
    if "tags_all" in attributes or "tags" in attributes:
        return {}  # null tags: Terraform declares none
    return None


def _tainted_note(instance: Instance) -> str | None:
    return "tainted: Terraform will replace it on the next apply" if instance.tainted else None


def _join_notes(*notes: str | None) -> str | None:
    present = [n for n in notes if n]
    return "; ".join(present) if present else None


def describe_state(parsed: ParsedState, records: list[Record]) -> str:
    """The source row's message: what was read, and what was left out and why."""
    kinds = Counter()
    skipped_types: dict[str, set[str]] = {BOOKKEEPING: set(), NOT_AWS: set()}
    for instance in parsed.instances:
        kind = classify(instance)
        kinds[kind] += 1
        if kind in skipped_types:
            skipped_types[kind].add(instance.type)
    parts = [f"{len(parsed.instances)} managed instances, {len(records)} records"]
    for kind, label in ((BOOKKEEPING, "bookkeeping"), (NOT_AWS, "not AWS")):
        if kinds[kind]:
            names = sorted(skipped_types[kind])
            shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
            parts.append(f"{kinds[kind]} {label} skipped ({shown})")
    if parsed.data_sources:
        parts.append(f"{parsed.data_sources} data source instances not read")
    if parsed.deposed:
        parts.append(f"{parsed.deposed} deposed objects skipped (left by an unfinished create_before_destroy)")
    return redact_text("; ".join(parts))
