"""Who made a resource: its creating event, from CloudTrail's event history (LookupEvents) or a trail's log files in S3.

The event matching is pure (`parse_record`, `creating_event`, `creator_row`): functions of parsed CloudTrail records,
with no clock, network or database. The I/O is at the edge: `lookup_creators` asks LookupEvents, one resource at a
time, at most `calls_per_second` calls a second per region (CloudTrail allows 2); `read_log_creators` reads a trail's
gzip JSON log files with ListObjectsV2 and GetObject, each bounded in size (compressed and expanded). Both only read,
through the guarded clients of scanner/clients.py. A failed call is a visible problem, never fatal to the scan and
never silent; "looked and found nothing" (`not_found`) and "could not look" (`failed`) are different statuses.

Only the fields a reader needs to know whom to ask are kept (who, when, which call, where it was read); the
request's parameters, which can hold secrets, are read to match events to resources and never kept, and the
caller's source IP address (personal data) is not kept either.
"""

from __future__ import annotations

import datetime as dt
import re
import time
import zlib
from collections import Counter, defaultdict
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

import orjson
from botocore.exceptions import BotoCoreError, ClientError

from graph.records import GLOBAL, SourceError
from graph.redact import redact_identifier, redact_text
from graph.resource_types import CATALOG
from scanner.rates import TokenBucket

LOOKUP = "lookup"  # --cloudtrail lookup: CloudTrail's event history, through LookupEvents
OFF = "off"  # --cloudtrail off: no creator is looked for

CALLS_PER_SECOND = 2.0  # CloudTrail's limit for LookupEvents: two calls a second per account and region
DEFAULT_MAX_LOOKUPS = 300  # LookupEvents calls per scan: 150 s in one region at 2 a second
PAGES_PER_RESOURCE = 10  # LookupEvents pages (of up to 50 events) read for one resource name
EVENT_HISTORY_DAYS = 90  # how far back CloudTrail's event history keeps management events

MiB = 1 << 20
DEFAULT_MAX_LOG_OBJECTS = 2_000  # log files read per scan, newest first
MAX_LOG_OBJECT_BYTES = 32 * MiB  # one compressed log file (CloudTrail's are typically well under 1 MiB)
MAX_LOG_BYTES = 128 * MiB  # one log file expanded: a gzip bomb stops here
DEFAULT_LOG_DAYS = 90  # log files delivered in the last N days are listed
MAX_NAMED_PROBLEMS = 20  # unreadable log files named one by one; the rest are counted

FOUND, NOT_FOUND, FAILED, SKIPPED = "found", "not_found", "failed", "skipped"

# Where each partition's global services (IAM, Route 53) record their events.
HOME_REGIONS = {"aws": "us-east-1", "aws-cn": "cn-north-1", "aws-us-gov": "us-gov-west-1"}


# ------------------------------------------------------------------------------------------ what creates what


@dataclass(frozen=True)
class CreatorRule:
    """The calls that make and unmake one resource type, as CloudTrail names them.

    `lookup` is what LookupEvents' ResourceName is asked for, in order (the next only when the one before found no
    creating event): "natural_id", "name", "arn" or "queue_url". `any_region`: the creating event may be recorded
    in another region than the resource's (S3 buckets, whose names are global)."""

    source: str  # eventSource
    creates: tuple[str, ...]
    deletes: tuple[str, ...]
    lookup: tuple[str, ...] = ("natural_id",)
    any_region: bool = False
    # creating calls that count only where their answer names the resource: RunInstances names in its request the
    # volumes and interfaces it attaches, in its answer those it makes
    answer_only: tuple[str, ...] = ()


def _ec2(creates: tuple[str, ...], deletes: tuple[str, ...]) -> CreatorRule:
    return CreatorRule("ec2.amazonaws.com", creates, deletes)


# One row per catalog type (a test keeps every type here and every name an operation of its service).
CREATORS: dict[str, CreatorRule] = {
    "AWS::EC2::VPC": _ec2(("CreateVpc", "CreateDefaultVpc"), ("DeleteVpc",)),
    "AWS::EC2::Subnet": _ec2(("CreateSubnet", "CreateDefaultSubnet"), ("DeleteSubnet",)),
    "AWS::EC2::SecurityGroup": _ec2(("CreateSecurityGroup",), ("DeleteSecurityGroup",)),
    "AWS::EC2::Instance": _ec2(("RunInstances",), ("TerminateInstances",)),
    # a root volume or a network interface made at launch is named in RunInstances' answer
    "AWS::EC2::Volume": CreatorRule("ec2.amazonaws.com", ("CreateVolume", "RunInstances"), ("DeleteVolume",),
                                    answer_only=("RunInstances",)),
    "AWS::EC2::EIP": _ec2(("AllocateAddress",), ("ReleaseAddress",)),
    "AWS::EC2::NatGateway": _ec2(("CreateNatGateway",), ("DeleteNatGateway",)),
    "AWS::EC2::InternetGateway": _ec2(("CreateInternetGateway",), ("DeleteInternetGateway",)),
    "AWS::EC2::RouteTable": _ec2(("CreateRouteTable",), ("DeleteRouteTable",)),
    "AWS::EC2::NetworkInterface": CreatorRule("ec2.amazonaws.com", ("CreateNetworkInterface", "RunInstances"),
                                              ("DeleteNetworkInterface",), answer_only=("RunInstances",)),
    "AWS::EC2::NetworkAcl": _ec2(("CreateNetworkAcl",), ("DeleteNetworkAcl",)),
    "AWS::EC2::KeyPair": _ec2(("CreateKeyPair", "ImportKeyPair"), ("DeleteKeyPair",)),
    "AWS::EC2::LaunchTemplate": _ec2(("CreateLaunchTemplate",), ("DeleteLaunchTemplate",)),
    "AWS::EC2::VPCEndpoint": _ec2(("CreateVpcEndpoint",), ("DeleteVpcEndpoints",)),
    "AWS::AutoScaling::AutoScalingGroup": CreatorRule("autoscaling.amazonaws.com", ("CreateAutoScalingGroup",),
                                                      ("DeleteAutoScalingGroup",)),
    "AWS::S3::Bucket": CreatorRule("s3.amazonaws.com", ("CreateBucket",), ("DeleteBucket",), any_region=True),
    "AWS::IAM::Role": CreatorRule("iam.amazonaws.com", ("CreateRole", "CreateServiceLinkedRole"),
                                  ("DeleteRole", "DeleteServiceLinkedRole")),
    "AWS::IAM::User": CreatorRule("iam.amazonaws.com", ("CreateUser",), ("DeleteUser",)),
    "AWS::IAM::Group": CreatorRule("iam.amazonaws.com", ("CreateGroup",), ("DeleteGroup",)),
    "AWS::IAM::ManagedPolicy": CreatorRule("iam.amazonaws.com", ("CreatePolicy",), ("DeletePolicy",),
                                           lookup=("natural_id", "name")),
    "AWS::IAM::InstanceProfile": CreatorRule("iam.amazonaws.com", ("CreateInstanceProfile",),
                                             ("DeleteInstanceProfile",)),
    # Lambda's event names carry its API version (CreateFunction20150331): `action_of` drops it
    "AWS::Lambda::Function": CreatorRule("lambda.amazonaws.com", ("CreateFunction",), ("DeleteFunction",)),
    "AWS::SQS::Queue": CreatorRule("sqs.amazonaws.com", ("CreateQueue",), ("DeleteQueue",),
                                   lookup=("natural_id", "queue_url")),
    "AWS::SNS::Topic": CreatorRule("sns.amazonaws.com", ("CreateTopic",), ("DeleteTopic",),
                                   lookup=("natural_id", "name")),
    "AWS::DynamoDB::Table": CreatorRule("dynamodb.amazonaws.com", ("CreateTable", "RestoreTableFromBackup",
                                                                   "RestoreTableToPointInTime"), ("DeleteTable",)),
    "AWS::Kinesis::Stream": CreatorRule("kinesis.amazonaws.com", ("CreateStream",), ("DeleteStream",)),
    "AWS::RDS::DBInstance": CreatorRule("rds.amazonaws.com", (
        "CreateDBInstance", "CreateDBInstanceReadReplica", "RestoreDBInstanceFromDBSnapshot",
        "RestoreDBInstanceToPointInTime", "RestoreDBInstanceFromS3"), ("DeleteDBInstance",)),
    "AWS::RDS::DBCluster": CreatorRule("rds.amazonaws.com", (
        "CreateDBCluster", "RestoreDBClusterFromSnapshot", "RestoreDBClusterToPointInTime",
        "RestoreDBClusterFromS3"), ("DeleteDBCluster",)),
    "AWS::RDS::DBSubnetGroup": CreatorRule("rds.amazonaws.com", ("CreateDBSubnetGroup",), ("DeleteDBSubnetGroup",)),
    "AWS::ElastiCache::CacheCluster": CreatorRule("elasticache.amazonaws.com", ("CreateCacheCluster",),
                                                  ("DeleteCacheCluster",)),
    "AWS::ElastiCache::ReplicationGroup": CreatorRule("elasticache.amazonaws.com", ("CreateReplicationGroup",),
                                                      ("DeleteReplicationGroup",)),
    "AWS::EFS::FileSystem": CreatorRule("elasticfilesystem.amazonaws.com", ("CreateFileSystem",),
                                        ("DeleteFileSystem",)),
    "AWS::KMS::Key": CreatorRule("kms.amazonaws.com", ("CreateKey", "ReplicateKey"), ("ScheduleKeyDeletion",),
                                 lookup=("natural_id", "arn")),
    "AWS::KMS::Alias": CreatorRule("kms.amazonaws.com", ("CreateAlias",), ("DeleteAlias",)),
    "AWS::Logs::LogGroup": CreatorRule("logs.amazonaws.com", ("CreateLogGroup",), ("DeleteLogGroup",)),
    # PutMetricAlarm, PutRule and PutParameter create or update: the first after the last delete created it
    "AWS::CloudWatch::Alarm": CreatorRule("monitoring.amazonaws.com", ("PutMetricAlarm",), ("DeleteAlarms",)),
    "AWS::ECS::Cluster": CreatorRule("ecs.amazonaws.com", ("CreateCluster",), ("DeleteCluster",),
                                     lookup=("natural_id", "arn")),
    # (not by its name: a service's name is unique in its cluster only)
    "AWS::ECS::Service": CreatorRule("ecs.amazonaws.com", ("CreateService",), ("DeleteService",)),
    "AWS::ECS::TaskDefinition": CreatorRule("ecs.amazonaws.com", ("RegisterTaskDefinition",),
                                            ("DeregisterTaskDefinition", "DeleteTaskDefinitions")),
    "AWS::ECR::Repository": CreatorRule("ecr.amazonaws.com", ("CreateRepository",), ("DeleteRepository",)),
    "AWS::ElasticLoadBalancingV2::LoadBalancer": CreatorRule("elasticloadbalancing.amazonaws.com",
                                                             ("CreateLoadBalancer",), ("DeleteLoadBalancer",),
                                                             lookup=("natural_id", "name")),
    "AWS::ElasticLoadBalancingV2::TargetGroup": CreatorRule("elasticloadbalancing.amazonaws.com",
                                                            ("CreateTargetGroup",), ("DeleteTargetGroup",),
                                                            lookup=("natural_id", "name")),
    "AWS::ElasticLoadBalancingV2::Listener": CreatorRule("elasticloadbalancing.amazonaws.com",
                                                         ("CreateListener",), ("DeleteListener",)),
    "AWS::Route53::HostedZone": CreatorRule("route53.amazonaws.com", ("CreateHostedZone",), ("DeleteHostedZone",)),
    "AWS::SSM::Parameter": CreatorRule("ssm.amazonaws.com", ("PutParameter",), ("DeleteParameter", "DeleteParameters")),
    "AWS::SecretsManager::Secret": CreatorRule("secretsmanager.amazonaws.com", ("CreateSecret",), ("DeleteSecret",),
                                               lookup=("name", "natural_id")),
    "AWS::Events::Rule": CreatorRule("events.amazonaws.com", ("PutRule",), ("DeleteRule",)),
    "AWS::CloudFormation::Stack": CreatorRule("cloudformation.amazonaws.com", ("CreateStack",), ("DeleteStack",),
                                              lookup=("natural_id", "name")),
}

_WANTED = frozenset((rule.source, name) for rule in CREATORS.values() for name in rule.creates + rule.deletes)


# ------------------------------------------------------------------------------------------ events (pure)


@dataclass(frozen=True)
class Event:
    """What one CloudTrail record tells about who made what: its identity fields, and the identifiers it names
    (held only to match it to resources, never stored: they come from the request, which may hold secrets)."""

    event_id: str | None
    event_name: str
    event_source: str
    event_time: str  # as CloudTrail wrote it (ISO 8601, UTC)
    when: dt.datetime
    region: str | None
    account: str | None
    error_code: str | None
    identity: Mapping[str, Any]
    user_agent: str | None
    identifiers: frozenset[str]
    answered: frozenset[str]  # the identifiers its answer (responseElements) names
    source: str  # where it was read: "cloudtrail:LookupEvents/<region>" or "s3://bucket/key"
    username: str | None = None  # LookupEvents' own Username field, when the record gives no name

    @property
    def action(self) -> str:
        return action_of(self.event_name)


_API_VERSION = re.compile(r"\d{4}_?\d{2}_?\d{2}(?:v\d+)?$")


def action_of(event_name: str) -> str:
    """An event's name without the API version some services add to it: CreateFunction20150331 is CreateFunction."""
    return _API_VERSION.sub("", event_name) or event_name


def parse_time(text: Any) -> dt.datetime | None:
    """CloudTrail's eventTime (2024-05-01T12:34:56Z) as an aware datetime; None when it is not one."""
    if not isinstance(text, str):
        return None
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


MAX_LEAVES = 5_000  # identifiers read from one record's request and answer: far more than any creating call names
MAX_DEPTH = 12
# The keys whose values are identifiers (queueName, instanceId, topicArn, aRN, queueUrl, dBInstanceIdentifier, the
# lists alarmNames and instanceIds); a few keys name an ECS resource alone. Other values (descriptions, policies,
# attributes) are never taken for one, nor is anything under a key that holds tags: a tag's value is no identity.
_IDENTIFIER_KEY = re.compile(r"(?:name|id|arn|url|identifier)s?$", re.IGNORECASE)
_IDENTIFIER_KEYS = frozenset({"taskDefinition", "taskDefinitions", "service", "services", "cluster"})


def _leaves(value: Any, found: set[str], key: str = "", depth: int = 0) -> None:
    if len(found) >= MAX_LEAVES or depth > MAX_DEPTH or "tag" in key.lower():
        return
    if isinstance(value, str):
        if 0 < len(value) <= 2048 and (_IDENTIFIER_KEY.search(key) or key in _IDENTIFIER_KEYS):
            found.update(_leaf_forms(value))
    elif isinstance(value, dict):
        for name, item in value.items():
            _leaves(item, found, str(name), depth + 1)
    elif isinstance(value, list):
        for item in value:  # a list's items are what its key names
            _leaves(item, found, key, depth + 1)


def _leaf_forms(leaf: str) -> tuple[str, ...]:
    # Route 53 answers with "/hostedzone/Z123"; the zone's id is "Z123"
    if leaf.startswith("/hostedzone/"):
        return leaf, leaf[len("/hostedzone/"):]
    return (leaf,)


def parse_record(record: Any, source: str, resource_names: Iterable[str] = (), username: str | None = None,
                 wanted_only: bool = True) -> Event | None:
    """One CloudTrail record (a dict as the log files and LookupEvents' CloudTrailEvent hold it) as an Event;
    None when it is not a record (no eventName, eventSource or eventTime) or, with `wanted_only`, when no catalog
    type is created or deleted by it (read no further: most records of a log file are not).

    Its identifiers are `resources[].ARN`, the values of identifier keys in `requestParameters` and
    `responseElements` (`_leaves`), and the `resource_names` LookupEvents gave with it."""
    if not isinstance(record, dict):
        return None
    name, source_name, when = record.get("eventName"), record.get("eventSource"), parse_time(record.get("eventTime"))
    if not isinstance(name, str) or not isinstance(source_name, str) or when is None:
        return None
    if wanted_only and (source_name, action_of(name)) not in _WANTED:
        return None
    found: set[str] = {n for n in resource_names if isinstance(n, str) and n}
    for resource in record.get("resources") or []:
        if isinstance(resource, dict) and isinstance(resource.get("ARN"), str):
            found.add(resource["ARN"])
    _leaves(record.get("requestParameters"), found)
    answered: set[str] = set()
    _leaves(record.get("responseElements"), answered)
    identity = record.get("userIdentity")
    account = record.get("recipientAccountId")
    if not isinstance(account, str) and isinstance(identity, dict):
        account = identity.get("accountId")
    return Event(
        event_id=_text(record.get("eventID")),
        event_name=name,
        event_source=source_name,
        event_time=record["eventTime"],
        when=when,
        region=_text(record.get("awsRegion")),
        account=_text(account),
        error_code=_text(record.get("errorCode")),
        identity=identity if isinstance(identity, dict) else {},
        user_agent=_text(record.get("userAgent")),
        identifiers=frozenset(found | answered),
        answered=frozenset(answered),
        source=source,
        username=username,
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


# ------------------------------------------------------------------------------------ resources and matching


def home_region(resource: Mapping[str, Any]) -> str:
    """The region whose CloudTrail records the resource's events: its own, or for a global resource (IAM, Route 53)
    its partition's home region."""
    region = resource.get("region")
    if region and region != GLOBAL:
        return region
    arn = resource.get("arn") or ""
    partition = arn.split(":")[1] if arn.startswith("arn:") and arn.count(":") >= 2 else "aws"
    return HOME_REGIONS.get(partition, "us-east-1")


def _aliases(resource: Mapping[str, Any]) -> list[str]:
    aliases = resource.get("aliases") or []
    if isinstance(aliases, str):  # a row read back from the database: a JSON list
        try:
            aliases = orjson.loads(aliases)
        except orjson.JSONDecodeError:
            return []
    return [a for a in aliases if isinstance(a, str) and a] if isinstance(aliases, list) else []


def queue_url(resource: Mapping[str, Any]) -> str | None:
    """An SQS queue's URL: its alias when the row has one, else the one SQS gives in the resource's region."""
    for alias in _aliases(resource):
        if alias.startswith("https://"):
            return alias
    name, account, region = resource.get("natural_id"), resource.get("account"), resource.get("region")
    if not (name and account and region):
        return None
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"https://sqs.{region}.{suffix}/{account}/{name}"


def identifiers_of(resource: Mapping[str, Any]) -> set[str]:
    """The identifiers a CloudTrail record may name the resource by: its natural id, ARN, aliases, a queue's URL.
    Not its name, which may be a Name tag or unique only within a VPC or cluster (two security groups called
    `web`): every creating call names the natural id or the ARN, in its request or its answer."""
    ids = {resource.get("natural_id"), resource.get("arn"), *_aliases(resource)}
    if resource.get("type") == "AWS::SQS::Queue":
        ids.add(queue_url(resource))
    return {i for i in ids if isinstance(i, str) and i}


def lookup_values(resource: Mapping[str, Any]) -> list[str]:
    """What LookupEvents' ResourceName is asked for this resource, in order, each once."""
    rule = CREATORS.get(resource.get("type") or "")
    if rule is None:
        return []
    values = []
    for kind in rule.lookup:
        value = queue_url(resource) if kind == "queue_url" else resource.get(kind)
        if isinstance(value, str) and value and value not in values:
            values.append(value)
    return values


def _folded(type_: str | None, values: Iterable[str]) -> set[str]:
    row = CATALOG.get(type_ or "")
    return {v.lower() for v in values} if row is not None and row.lowercase_id else set(values)


def concerns(resource: Mapping[str, Any], event: Event, ids: set[str] | None = None) -> bool:
    """Whether a successful or failed event of the type's service names this resource (`ids`: by default
    `identifiers_of`), in its account and where its events are recorded (any region for a type whose events may
    be recorded elsewhere)."""
    rule = CREATORS.get(resource.get("type") or "")
    if rule is None or event.event_source != rule.source:
        return False
    account = resource.get("account")
    if account and event.account and event.account != account:
        return False
    if not rule.any_region and event.region and event.region != home_region(resource):
        return False
    type_ = resource.get("type")
    ids = _folded(type_, identifiers_of(resource)) if ids is None else ids
    named = event.answered if event.action in rule.answer_only else event.identifiers
    return bool(ids & _folded(type_, named))


def creating_event(resource: Mapping[str, Any], events: Iterable[Event], also: Iterable[str] = ()) -> Event | None:
    """The event that made the resource, or None.

    What counts: a successful event (no errorCode) of the resource's service whose name is one of its type's
    creating calls (CREATORS: CreateQueue, RunInstances, PutParameter, ...), naming the resource, in its account
    and region. A name can be used again after a delete, and some creating calls succeed again on what exists
    (CreateQueue with the same attributes, PutParameter with Overwrite), so it is the earliest such event after
    the resource's last successful deleting event: the call that made the resource that is there now.

    `also`: identifiers it answers to besides its own (the name LookupEvents was asked for, unique for its type)."""
    rule = CREATORS.get(resource.get("type") or "")
    if rule is None:
        return None
    ids = _folded(resource.get("type"), identifiers_of(resource) | set(also))
    relevant = [e for e in events if e.error_code is None and concerns(resource, e, ids)]
    deletes = [e.when for e in relevant if e.action in rule.deletes]
    since = max(deletes) if deletes else None
    creates = [e for e in relevant if e.action in rule.creates and (since is None or e.when >= since)]
    return min(creates, key=lambda e: (e.when, e.event_id or "")) if creates else None


def settled(resource: Mapping[str, Any], events: Iterable[Event], also: Iterable[str] = ()) -> bool:
    """Whether older events than `events` cannot change the creator: one is found, and a successful delete at or
    before it is among them (what came before that delete made an earlier resource of the same name)."""
    events = list(events)
    event = creating_event(resource, events, also)
    rule = CREATORS.get(resource.get("type") or "")
    ids = _folded(resource.get("type"), identifiers_of(resource) | set(also))
    return event is not None and rule is not None and any(
        e.error_code is None and e.action in rule.deletes and e.when <= event.when and concerns(resource, e, ids)
        for e in events)


def index_events(events: Iterable[Event]) -> dict[str, list[Event]]:
    """Events by each identifier they name (folded to lower case): a log file's thousands of events are matched
    to hundreds of resources without comparing each with each."""
    index: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        for identifier in {i.lower() for i in event.identifiers}:
            index[identifier].append(event)
    return index


def events_naming(index: Mapping[str, list[Event]], resource: Mapping[str, Any]) -> list[Event]:
    """The indexed events that name one of the resource's identifiers (`concerns` still decides)."""
    found = {id(e): e for i in identifiers_of(resource) for e in index.get(i.lower(), ())}
    return list(found.values())


# ------------------------------------------------------------------------------------------ identity (pure)


def principal_of(identity: Mapping[str, Any], username: str | None = None) -> dict[str, Any]:
    """Who acted, from a record's userIdentity: the principal's ARN (an assumed role's session ARN), its type, the
    role behind a session, a person's name where the record has one (an IAM user's name, a role session's name,
    which Identity Center and most federation set to the person), the principal id, and the service that called
    on the principal's behalf."""
    kind = _text(identity.get("type"))
    arn = _text(identity.get("arn"))
    issuer = (identity.get("sessionContext") or {}).get("sessionIssuer") if isinstance(
        identity.get("sessionContext"), dict) else None
    issuer = issuer if isinstance(issuer, dict) else {}
    role_arn = _text(issuer.get("arn")) if issuer.get("type") == "Role" else None
    user_name = None
    if kind == "IAMUser":
        user_name = _text(identity.get("userName"))
    elif kind == "AssumedRole" and arn and "/" in arn:
        user_name = arn.rsplit("/", 1)[1]  # arn:aws:sts::1:assumed-role/Role/SESSION
    elif kind == "FederatedUser" and arn and "/" in arn:
        user_name = arn.rsplit("/", 1)[1]
    elif kind == "Root":
        user_name = "root"
    invoked_by = _text(identity.get("invokedBy"))
    # an Identity Center user acting in the console with no role (IdentityCenterUser) is named by its user id
    behalf = identity.get("onBehalfOf") if isinstance(identity.get("onBehalfOf"), dict) else {}
    principal_id = _text(identity.get("principalId")) or _text(behalf.get("userId"))
    principal = arn or (invoked_by if kind == "AWSService" else None) or principal_id
    return {
        "principal": principal,
        "principal_type": kind,
        "role_arn": role_arn,
        "role_name": _text(issuer.get("userName")) if role_arn else None,
        # LookupEvents' Username where the record names no one (its session name for a role, else the user's name)
        "user_name": user_name or (username if kind != "AWSService" else None),
        "principal_id": principal_id,
        "invoked_by": invoked_by,
    }


# The tool a user agent names, first match wins (CloudFormation and CDK call as "cloudformation.amazonaws.com").
_TOOLS = (
    ("terraform", re.compile(r"terraform", re.I)),
    ("pulumi", re.compile(r"pulumi", re.I)),
    ("cloudformation", re.compile(r"^cloudformation\.amazonaws\.com$")),
    ("console", re.compile(r"console\.(?:aws\.)?amazonaws\.com|^AWS Internal$|signin\.amazonaws\.com")),
    ("aws-cli", re.compile(r"aws-cli/")),
    ("boto3", re.compile(r"Boto3/")),
    ("sdk", re.compile(r"aws-sdk-|aws-sdk/|APN/")),
)


def tool_of(user_agent: str | None) -> str | None:
    """The tool that sent the call (terraform, console, aws-cli, ...), from its user agent; None when unknown.
    Only this word is kept, never the user agent, which can name a machine."""
    if not user_agent:
        return None
    for tool, pattern in _TOOLS:
        if pattern.search(user_agent):
            return tool
    return None


# ----------------------------------------------------------------------------------------------- rows (pure)

ROW_COLUMNS = ("resource_id", "status", "principal", "principal_type", "role_arn", "role_name", "user_name",
               "principal_id", "invoked_by", "via", "event_name", "event_source", "event_time", "event_region",
               "event_id", "source", "reason")


def creator_row(resource: Mapping[str, Any], event: Event | None, status: str, reason: str | None = None) -> dict:
    """One row of the creators table: who made the resource (`found`) or why it is not known (`not_found`: looked
    and no creating event; `failed`: could not look; `skipped`: not looked for). Every text is redacted."""
    row: dict[str, Any] = dict.fromkeys(ROW_COLUMNS)
    row.update(resource_id=resource.get("id"), status=status, reason=reason)
    if event is not None:
        row.update(principal_of(event.identity, event.username))
        row.update(via=tool_of(event.user_agent), event_name=event.event_name, event_source=event.event_source,
                   event_time=event.event_time, event_region=event.region, event_id=event.event_id,
                   source=event.source)
    return {key: _redacted(key, value) for key, value in row.items()}


# Identifiers are masked only where a credential stands in them (a name or ARN stays joinable); the rest as text.
_IDENTIFIER_COLUMNS = frozenset({"principal", "role_arn", "role_name", "principal_id", "event_id", "source"})


def _redacted(column: str, value: Any) -> Any:
    if not isinstance(value, str) or column == "resource_id":  # the resources table's own key, redacted there
        return value
    return redact_identifier(value) if column in _IDENTIFIER_COLUMNS else redact_text(value)


@dataclass
class CreatorResult:
    """Creator rows, one per resource asked about, and the problems met (SourceError, kind `warning`: a creator
    not found never changes a resource's status, so it does not make the scan partial)."""

    rows: list[dict] = field(default_factory=list)
    problems: list[SourceError] = field(default_factory=list)


def _problem(source: str, message: str, region: str | None = None, code: str | None = None,
             account: str | None = None) -> SourceError:
    return SourceError(source, redact_text(message), "warning", region=region, code=code, account=account)


def _error_code(error: BaseException) -> str | None:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        return (response.get("Error") or {}).get("Code") or None
    return None


def _error_text(error: BaseException) -> str:
    if isinstance(error, ClientError):
        code = _error_code(error) or "error"
        message = (error.response.get("Error") or {}).get("Message")
        return f"{code}: {message}" if message and message != code else code
    if isinstance(error, BotoCoreError):
        return str(error)
    return f"unexpected {type(error).__name__}: {error} (please report it)"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


# ------------------------------------------------------------------------------------ LookupEvents (I/O edge)

# Answers about one request's values, not about the region: the next resource may still be looked up.
_PER_REQUEST_CODES = frozenset({"InvalidLookupAttributesException", "InvalidTimeRangeException",
                                "InvalidMaxResultsException", "InvalidNextTokenException", "ValidationException"})


@dataclass
class _Lookup:
    """One resource's lookup in progress: the values still to ask, the pages of the current one, the events."""

    resource: Mapping[str, Any]
    region: str
    values: list[str]  # still to ask, the current one first
    asked: list[str] = field(default_factory=list)
    pages: Any = None
    pages_read: int = 0
    capped: bool = False
    events: list[Event] = field(default_factory=list)


def lookup_creators(session, resources: list[Mapping[str, Any]], *, calls_per_second: float = CALLS_PER_SECOND,
                    max_lookups: int = DEFAULT_MAX_LOOKUPS, pages_per_resource: int = PAGES_PER_RESOURCE,
                    clock: Callable[[], float] = time.monotonic,
                    sleep: Callable[[float], None] = time.sleep) -> CreatorResult:
    """Each resource's creator from CloudTrail's event history: LookupEvents by ResourceName (`lookup_values`) in the
    region that records its events, newest events first, page by page until the events end, a delete shows that
    older events made an earlier resource of that name, or `pages_per_resource` pages were read.

    Calls go one at a time, at most `calls_per_second` per region; regions take turns, so a region waiting for its
    turn never holds up another. At most `max_lookups` calls in all: the resources left are `skipped`, with a
    warning. AccessDenied (or any failure that is not about one request's values) in a region is one warning and
    leaves that region's resources `failed`; throttling is retried by botocore's standard retries first."""
    result = CreatorResult()
    queues: dict[str, list[_Lookup]] = defaultdict(list)
    for resource in resources:
        values = lookup_values(resource)
        if not values:
            result.rows.append(creator_row(resource, None, SKIPPED, _no_rule(resource)))
            continue
        queues[home_region(resource)].append(_Lookup(resource, home_region(resource), values))
    buckets = {region: TokenBucket(calls_per_second, clock) for region in queues}
    served = dict.fromkeys(queues, 0)  # when each region was last served: regions ready at once take turns
    calls, turn = 0, 0
    while any(queues.values()):
        if calls >= max_lookups:
            _skip_the_rest(queues, max_lookups, result)
            break
        region = min((r for r in queues if queues[r]), key=lambda r: (buckets[r].wait_time(), served[r]))
        delay = buckets[region].wait_time()
        if delay > 0:
            sleep(delay)
        buckets[region].take()
        turn += 1
        served[region] = turn
        calls += 1
        lookup = queues[region][0]
        try:
            finished = _read_page(session, lookup, pages_per_resource)
        except Exception as error:  # a failed call is the region's problem (or this request's), never the scan's
            _fail(queues, lookup, error, result)
            continue
        if finished:
            queues[region].pop(0)
            result.rows.append(_lookup_row(lookup))
    return result


def _no_rule(resource: Mapping[str, Any]) -> str:
    return f"no creating call is known for {resource.get('type')}: not looked for"


def _read_page(session, lookup: _Lookup, pages_per_resource: int) -> bool:
    """Read the next page of the lookup's current value; True when the resource's lookup is finished."""
    if lookup.pages is None:
        paginator = session.client("cloudtrail", lookup.region).get_paginator("lookup_events")
        attribute = {"AttributeKey": "ResourceName", "AttributeValue": lookup.values[0]}
        lookup.pages = iter(paginator.paginate(LookupAttributes=[attribute]))
        lookup.pages_read, lookup.capped = 0, False
        lookup.asked.append(lookup.values[0])
    page = next(lookup.pages, None) or {}
    lookup.pages_read += 1
    source = f"cloudtrail:LookupEvents/{lookup.region}"
    for item in page.get("Events") or []:
        event = _history_event(item, source)
        if event is not None:
            lookup.events.append(event)
    more = bool(page.get("NextToken"))
    if more and lookup.pages_read >= pages_per_resource:
        lookup.capped, more = True, False
    if more and not settled(lookup.resource, lookup.events, lookup.asked):
        return False
    if creating_event(lookup.resource, lookup.events, lookup.asked) is None and len(lookup.values) > 1:
        lookup.values.pop(0)  # nothing under this value: ask the next one
        lookup.pages = None
        return False
    return True


def _history_event(item: Any, source: str) -> Event | None:
    """One event of LookupEvents' answer: its CloudTrailEvent record, with the resource names LookupEvents gives;
    an answer whose record cannot be read keeps the answer's own fields (no identity but the Username)."""
    if not isinstance(item, dict):
        return None
    names = [r.get("ResourceName") for r in item.get("Resources") or [] if isinstance(r, dict)]
    username = _text(item.get("Username"))
    try:
        record = orjson.loads(item.get("CloudTrailEvent") or "null")
    except orjson.JSONDecodeError:
        record = None
    if not isinstance(record, dict):
        when = item.get("EventTime")
        record = {"eventName": item.get("EventName"), "eventSource": item.get("EventSource"),
                  "eventID": item.get("EventId"),
                  "eventTime": when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
                  if isinstance(when, dt.datetime) else None}
    return parse_record(record, source, names, username)


def _lookup_row(lookup: _Lookup) -> dict:
    event = creating_event(lookup.resource, lookup.events, lookup.asked)
    if event is not None:
        return creator_row(lookup.resource, event, FOUND)
    asked = " or ".join(repr(v) for v in lookup.asked)
    if lookup.capped:
        reason = (f"no creating event among the newest {_plural(lookup.pages_read, 'page')} of events for {asked} "
                  f"in {lookup.region}'s CloudTrail event history (older ones not read)")
    else:
        reason = (f"no creating event for {asked} in {lookup.region}'s CloudTrail event history, which keeps "
                  f"{EVENT_HISTORY_DAYS} days of management events: made earlier (or CloudTrail did not record it)")
    return creator_row(lookup.resource, None, NOT_FOUND, reason)


def _fail(queues: dict[str, list[_Lookup]], lookup: _Lookup, error: Exception, result: CreatorResult) -> None:
    code = _error_code(error)
    region = lookup.region
    if code in _PER_REQUEST_CODES:
        queues[region].pop(0)
        message = f"LookupEvents in {region} for {lookup.values[0]!r}: {_error_text(error)}"
        result.problems.append(_problem("aws:cloudtrail:LookupEvents", message, region, code))
        result.rows.append(creator_row(lookup.resource, None, FAILED, f"LookupEvents failed: {_error_text(error)}"))
        return
    left = queues.pop(region)
    hint = " (grant cloudtrail:LookupEvents: see `driftgraph iam-policy`)" if code and "AccessDenied" in code else ""
    message = (f"LookupEvents in {region}: {_error_text(error)}{hint}; the creators of "
               f"{_plural(len(left), 'resource')} there are unknown")
    result.problems.append(_problem("aws:cloudtrail:LookupEvents", message, region, code or type(error).__name__))
    for waiting in left:
        result.rows.append(creator_row(waiting.resource, None, FAILED,
                                       f"LookupEvents in {region} failed: {code or type(error).__name__}"))


def _skip_the_rest(queues: dict[str, list[_Lookup]], max_lookups: int, result: CreatorResult) -> None:
    left = [lookup for queue in queues.values() for lookup in queue]
    queues.clear()
    reached = f"the scan's limit of {max_lookups} LookupEvents calls was reached"
    for lookup in left:
        reason = f"{reached} before its lookup ended" if lookup.asked else f"not looked up: {reached}"
        result.rows.append(creator_row(lookup.resource, None, SKIPPED, reason))
    result.problems.append(_problem(
        "aws:cloudtrail:LookupEvents",
        f"stopped after {max_lookups} LookupEvents calls (CloudTrail allows 2 a second per region): the creators of "
        f"{_plural(len(left), 'resource')} left unknown (not looked up, or not to the end)"))


# ------------------------------------------------------------------------------------------ log files in S3

# AccountID_CloudTrail_RegionName_YYYYMMDDTHHmmZ_UniqueString.json.gz, as CloudTrail names what it delivers
LOG_NAME = re.compile(r"(?:^|/)(\d{12})_CloudTrail_([a-z0-9-]+)_(\d{8}T\d{4}Z)_([A-Za-z0-9]+)\.json\.gz$")


class LogProblem(Exception):
    """A log file that cannot be read as CloudTrail's: the reason, without its path."""


@dataclass(frozen=True)
class LogFile:
    key: str
    account: str
    region: str
    delivered: dt.datetime
    size: int | None


def parse_log_key(key: str, size: int | None = None) -> LogFile | None:
    """A log file's account, region and delivery time from its name; None for any other object."""
    found = LOG_NAME.search(key)
    if not found:
        return None
    delivered = dt.datetime.strptime(found.group(3), "%Y%m%dT%H%MZ").replace(tzinfo=dt.timezone.utc)
    return LogFile(key, found.group(1), found.group(2), delivered, size)


def gunzip_bounded(data: bytes, limit: int) -> bytes:
    """A gzip file expanded, refused past `limit` bytes (a gzip bomb costs the reader `limit`, never more)."""
    out = bytearray()
    rest = data
    while rest:
        stream = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            out += stream.decompress(rest, limit - len(out) + 1)
        except zlib.error as error:
            raise LogProblem(f"not a gzip file ({error})" if not out else f"damaged gzip data ({error})") from None
        if len(out) > limit or stream.unconsumed_tail:
            raise LogProblem(f"expands past {limit / MiB:g} MiB (a gzip bomb?): not read")
        if not stream.eof:
            raise LogProblem("cut short: the gzip data ends early")
        rest = stream.unused_data
    if not data:
        raise LogProblem("empty")
    return bytes(out)


def read_log_document(content: bytes, max_log_bytes: int = MAX_LOG_BYTES) -> list:
    """The records of one CloudTrail log file (gzip JSON: {"Records": [...]}); LogProblem saying why not."""
    expanded = gunzip_bounded(content, max_log_bytes)
    try:
        document = orjson.loads(expanded)
    except orjson.JSONDecodeError:
        raise LogProblem("not JSON once expanded") from None
    if not isinstance(document, dict) or not isinstance(document.get("Records"), list):
        raise LogProblem('not a CloudTrail log file (no "Records" list)')
    return document["Records"]


def parse_log_location(url: str) -> tuple[str, str]:
    """s3://bucket/prefix as (bucket, the folder read): `<prefix>/AWSLogs/`, where a trail with that S3 key prefix
    delivers, or a prefix inside AWSLogs/ as given (scanner/permissions.py `log_location`, which the IAM policy
    grants). ValueError when it is no such location."""
    from scanner.permissions import log_location

    location = log_location(url)
    return location.bucket, location.prefix


@dataclass
class _Coverage:
    """The log files read for one account and region: how many, delivered when."""

    read: int = 0
    first: dt.datetime | None = None
    last: dt.datetime | None = None

    def add(self, log: LogFile) -> None:
        self.read += 1
        self.first = min(self.first or log.delivered, log.delivered)
        self.last = max(self.last or log.delivered, log.delivered)


def read_log_creators(session, s3_uri: str, resources: list[Mapping[str, Any]], *,
                      max_objects: int = DEFAULT_MAX_LOG_OBJECTS, max_object_bytes: int = MAX_LOG_OBJECT_BYTES,
                      max_log_bytes: int = MAX_LOG_BYTES, days: int = DEFAULT_LOG_DAYS,
                      now: dt.datetime | None = None) -> CreatorResult:
    """Each resource's creator from a trail's log files under s3://bucket/prefix.

    The files are where CloudTrail delivers them: `<prefix>/AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/`, or
    `<prefix>/AWSLogs/<organization id>/<account>/...` for an organization's trail; a prefix that already reaches
    inside AWSLogs/ is read as it is. Only the accounts and regions of the resources are listed, only files
    delivered in the last `days` days, and at most `max_objects` of them, newest first. A file larger than
    `max_object_bytes`, expanding past `max_log_bytes`, not gzip, not JSON or not a log is a warning naming it;
    the others are still read. Records match resources by `resources[].ARN` and the identifiers in their request
    and answer (`creating_event` says what counts)."""
    result = CreatorResult()
    now = now or dt.datetime.now(dt.timezone.utc)
    try:
        bucket, prefix = parse_log_location(s3_uri)
    except ValueError as error:
        return _all_failed(resources, s3_uri, str(error), result)
    wanted = [r for r in resources if r.get("type") in CREATORS]
    result.rows += [creator_row(r, None, SKIPPED, _no_rule(r)) for r in resources if r.get("type") not in CREATORS]
    places = sorted({(r.get("account") or "", home_region(r)) for r in wanted})
    if not wanted:
        return result
    client = session.client("s3")
    since = (now - dt.timedelta(days=days)).date()
    try:
        logs, missing = _list_logs(client, bucket, prefix, places, since)
    except Exception as error:  # the bucket cannot be listed: nothing can be looked for
        message = f"{s3_uri}: cannot list the CloudTrail log files ({_error_text(error)})"
        return _all_failed(wanted, s3_uri, message, result, code=_error_code(error))
    for account, region in missing:
        result.problems.append(_problem(s3_uri, f"{s3_uri}: no CloudTrail log files for account {account or '?'} in "
                                                f"{region} delivered since {since.isoformat()}", region,
                                        account=account or None))
    logs = [log for log in logs if log.delivered.date() >= since]
    logs.sort(key=lambda log: (log.delivered, log.key), reverse=True)
    if len(logs) > max_objects:
        oldest = logs[max_objects - 1].delivered
        result.problems.append(_problem(s3_uri, f"{s3_uri}: read the newest {max_objects} of {len(logs)} log files "
                                                f"(delivered since {oldest:%Y-%m-%d %H:%M}Z); a creator only in older "
                                                "files is not found"))
        logs = logs[:max_objects]
    events, coverage, unreadable = _read_logs(client, bucket, logs, max_object_bytes, max_log_bytes, result)
    _name_unreadable(s3_uri, unreadable, result)
    index = index_events(events)
    for resource in wanted:
        event = creating_event(resource, events_naming(index, resource))
        place = (resource.get("account") or "", home_region(resource))
        if event is not None:
            result.rows.append(creator_row(resource, event, FOUND))
        elif place in missing:
            result.rows.append(creator_row(resource, None, FAILED, f"no CloudTrail log files for its account and "
                                                                   f"region under {s3_uri}"))
        else:
            result.rows.append(creator_row(resource, None, NOT_FOUND, _not_in_logs(coverage.get(place), s3_uri)))
    return result


def _not_in_logs(coverage: _Coverage | None, s3_uri: str) -> str:
    if coverage is None or not coverage.read:
        return f"no creating event: none of its region's log files under {s3_uri} could be read"
    return (f"no creating event in the {_plural(coverage.read, 'log file')} of its account and region read "
            f"under {s3_uri} (delivered {coverage.first:%Y-%m-%d} to {coverage.last:%Y-%m-%d}): made earlier")


def _all_failed(resources, s3_uri: str, message: str, result: CreatorResult, code: str | None = None) -> CreatorResult:
    result.problems.append(_problem(s3_uri, message, code=code))
    result.rows += [creator_row(r, None, FAILED, message) for r in resources]
    return result


def _list_logs(client, bucket: str, prefix: str, places: list[tuple[str, str]], since: dt.date
               ) -> tuple[list[LogFile], set[tuple[str, str]]]:
    """The log files of the accounts and regions asked for, and the (account, region) pairs with none."""
    if not prefix.endswith("AWSLogs/"):  # the user narrowed it to an account, a region or a day: all under it
        asked = set(places)
        logs = [log for log in _list(client, bucket, prefix) if (log.account, log.region) in asked]
    else:
        roots = _log_roots(client, bucket, prefix, {account for account, _ in places})
        logs = []
        for account, region in places:
            for root in roots.get(account, []):
                folder = f"{root}CloudTrail/{region}/"
                logs += _list(client, bucket, folder, start_after=f"{folder}{since:%Y/%m/%d}")
    found = {(log.account, log.region) for log in logs}
    return logs, {place for place in places if place not in found}


def _list(client, bucket: str, prefix: str, start_after: str | None = None) -> list[LogFile]:
    params = {"Bucket": bucket, "Prefix": prefix, **({"StartAfter": start_after} if start_after else {})}
    logs = []
    for page in client.get_paginator("list_objects_v2").paginate(**params):
        for item in page.get("Contents") or []:
            log = parse_log_key(item.get("Key") or "", item.get("Size"))
            if log is not None:
                logs.append(log)
    return logs


def _log_roots(client, bucket: str, prefix: str, accounts: set[str]) -> dict[str, list[str]]:
    """Each account's folders under `<prefix>/AWSLogs/`: its own, and its folder in each organization's."""
    folders = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
        folders += [p.get("Prefix") for p in page.get("CommonPrefixes") or [] if isinstance(p.get("Prefix"), str)]
    names = {folder[len(prefix):].rstrip("/"): folder for folder in folders}
    organizations = [folder for name, folder in sorted(names.items()) if name.startswith("o-")]
    return {account: ([names[account]] if account in names else []) + [f"{org}{account}/" for org in organizations]
            for account in accounts if account}


def _read_logs(client, bucket: str, logs: list[LogFile], max_object_bytes: int, max_log_bytes: int,
               result: CreatorResult) -> tuple[list[Event], dict[tuple[str, str], _Coverage], list[tuple[str, str]]]:
    events: list[Event] = []
    coverage: dict[tuple[str, str], _Coverage] = defaultdict(_Coverage)
    unreadable: list[tuple[str, str]] = []
    for log in logs:
        source = f"s3://{bucket}/{log.key}"
        try:
            if log.size is not None and log.size > max_object_bytes:
                raise LogProblem(f"{log.size / MiB:.1f} MiB, over the {max_object_bytes / MiB:g} MiB limit "
                                 "for one log file: not read")
            records = read_log_document(_get(client, bucket, log.key, max_object_bytes), max_log_bytes)
        except LogProblem as problem:
            unreadable.append((source, str(problem)))
            continue
        except Exception as error:  # GetObject failed (AccessDenied, a KMS key not granted, a dropped connection)
            unreadable.append((source, f"cannot be read ({_error_text(error)})"))
            continue
        coverage[(log.account, log.region)].add(log)
        events += [e for e in (parse_record(r, source) for r in records) if e is not None]
    return events, coverage, unreadable


def _get(client, bucket: str, key: str, max_bytes: int) -> bytes:
    with closing(client.get_object(Bucket=bucket, Key=key)["Body"]) as body:
        content = body.read(max_bytes + 1)  # the object may have grown since it was listed
    if len(content) > max_bytes:
        raise LogProblem(f"over the {max_bytes / MiB:g} MiB limit for one log file: not read")
    return content


def _name_unreadable(s3_uri: str, unreadable: list[tuple[str, str]], result: CreatorResult) -> None:
    for source, reason in unreadable[:MAX_NAMED_PROBLEMS]:
        result.problems.append(_problem(source, f"{source}: {reason}"))
    if len(unreadable) > MAX_NAMED_PROBLEMS:
        reasons = Counter(reason.split(" (")[0] for _, reason in unreadable[MAX_NAMED_PROBLEMS:])
        counted = ", ".join(f"{count} {reason}" for reason, count in reasons.most_common())
        result.problems.append(_problem(s3_uri, f"{s3_uri}: {len(unreadable) - MAX_NAMED_PROBLEMS} more log files "
                                                f"could not be read: {counted}"))


# -------------------------------------------------------------------------------------------------- the entry


def find_creators(session, resources: list[Mapping[str, Any]], *, s3_uri: str | None = None,
                  calls_per_second: float = CALLS_PER_SECOND, max_lookups: int = DEFAULT_MAX_LOOKUPS,
                  clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                  **log_options: Any) -> CreatorResult:
    """Who made each resource (dicts with id, type, name, natural_id, arn, account, region, and aliases when known):
    from the trail's log files under `s3_uri` when given, else from CloudTrail's event history (LookupEvents).
    One row per resource (`creator_row`), and the problems met, as warnings."""
    if s3_uri:
        return read_log_creators(session, s3_uri, resources, **log_options)
    return lookup_creators(session, resources, calls_per_second=calls_per_second, max_lookups=max_lookups,
                           clock=clock, sleep=sleep)
