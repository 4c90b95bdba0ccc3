"""The calls driftgraph makes to AWS, as data: the read-only guard allows exactly these and the IAM policy grants them.

The list is the catalog's list, detail and tag calls plus the few calls outside the catalog. One list builds
both the guard's allow-list (scanner/clients.py) and the policy, so the two can never disagree. Each call
says what it needs from IAM: an action on every resource, an action on the S3 locations the user names
(Terraform state, `driftgraph iam-policy --tfstate s3://bucket/prefix`; CloudTrail log files, `--cloudtrail
s3://bucket/prefix`), or nothing.

One action is granted that is on no list: `sts:AssumeRole`, on the roles a scan of several accounts assumes
(`driftgraph iam-policy --role-name NAME` / `--account-role ARN`). It is no read, so the guard never lets a
scan's client send it; only the credential path does (scanner/clients.py `AwsSession.assume_role`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable

import botocore.session
from botocore import xform_name

from graph.resource_types import RESOURCE_TYPES

# What a call needs from IAM.
EVERY_RESOURCE = "every_resource"  # granted on "*": the scan reads every resource of a type
# granted on the S3 buckets the user names (Terraform state, CloudTrail log files), for the prefixes named
STATE_BUCKET = "state_bucket"
STATE_OBJECT = "state_object"  # granted on the objects under those prefixes
NO_PERMISSION = "no_permission"  # AWS answers it whatever the caller's policy says


@dataclass(frozen=True, order=True)
class ApiCall:
    """One AWS operation driftgraph sends: boto3 client name, boto3 method name, what IAM must grant."""

    service: str
    method: str  # botocore's xform_name of the operation: the name our code calls
    grant: str = EVERY_RESOURCE


# Calls outside the catalog, each beside the code that sends it.
OUTSIDE_CATALOG = (
    ApiCall("sts", "get_caller_identity", NO_PERMISSION),  # AwsSession.identity
    ApiCall("ec2", "describe_regions"),  # AwsSession.enabled_regions
    ApiCall("cloudformation", "describe_stacks"),  # importers/cloudformation.py: deployed stacks
    ApiCall("cloudformation", "list_stack_resources"),
    ApiCall("cloudformation", "get_template"),
    ApiCall("cloudformation", "list_exports"),
    # importers/terraform_state.py: --tfstate s3://bucket/prefix; scanner/cloudtrail.py: --cloudtrail s3://bucket/prefix
    ApiCall("s3", "list_objects_v2", STATE_BUCKET),
    ApiCall("s3", "get_object", STATE_OBJECT),
    ApiCall("cloudtrail", "lookup_events"),  # scanner/cloudtrail.py: who made a resource (--cloudtrail lookup)
    # botocore's S3 region redirector sends HeadBucket through our own S3 client when a wrong-region answer
    # does not name the bucket's region; S3 names it in the HeadBucket answer even when access is denied.
    ApiCall("s3", "head_bucket", NO_PERMISSION),
    ApiCall("rds", "describe_pending_maintenance_actions"),  # scanner/maintenance.py: pending maintenance
    ApiCall("elasticache", "describe_update_actions"),
    ApiCall("elasticache", "describe_service_updates"),
    # scanner/accounts.py: `scan --org`, answered in the management account or a delegated administrator's
    ApiCall("organizations", "list_accounts"),
    # scanner/live.py TagIndex: the tags of every type a row names a Resource Groups Tagging API filter for
    ApiCall("resourcegroupstaggingapi", "get_resources"),
)


def catalog_calls() -> set[ApiCall]:
    """The list, detail and tag calls of every catalog row."""
    calls = set()
    for row in RESOURCE_TYPES:
        calls.add(ApiCall(row.service, row.list.method))
        calls.update(ApiCall(row.service, call.method) for _, call in row.details)
        if row.tags and row.tags.call:
            calls.add(ApiCall(row.service, row.tags.call.method))
        if row.tags and row.tags.bulk:
            calls.add(ApiCall(row.service, row.tags.bulk.method))
    return calls


DRIFTGRAPH_CALLS: tuple[ApiCall, ...] = tuple(sorted(catalog_calls() | set(OUTSIDE_CATALOG)))


@lru_cache(maxsize=None)
def allowed_calls() -> frozenset[tuple[str, str]]:
    """(service, method) pairs the read-only guard lets through."""
    return frozenset((call.service, call.method) for call in DRIFTGRAPH_CALLS)


# --------------------------------------------------------------------------------------- the IAM policy

# IAM names that differ from the API operation (the policy language predates some APIs).
ACTION_NAMES = {("s3", "ListBuckets"): "ListAllMyBuckets", ("s3", "ListObjectsV2"): "ListBucket"}
# CloudWatch signs as "monitoring" but its IAM prefix is "cloudwatch"; the Tagging API signs as "tagging", IAM says "tag"
IAM_PREFIX = {"cloudwatch": "cloudwatch", "resourcegroupstaggingapi": "tag"}


@lru_cache(maxsize=None)
def _service_model(service: str):
    return botocore.session.get_session().get_service_model(service)


def iam_action(service: str, method: str) -> str:
    model = _service_model(service)
    operation = {xform_name(name): name for name in model.operation_names}[method]
    prefix = IAM_PREFIX.get(service) or model.signing_name
    return f"{prefix}:{ACTION_NAMES.get((service, operation), operation)}"


def _actions(grant: str) -> list[str]:
    return sorted({iam_action(call.service, call.method) for call in DRIFTGRAPH_CALLS if call.grant == grant})


def required_actions() -> list[str]:
    """The actions a scan needs on every resource (the default policy)."""
    return _actions(EVERY_RESOURCE)


BUCKET_NAME = re.compile(r"[A-Za-z0-9._-]+")  # wider than today's rules: the oldest buckets allow more


@dataclass(frozen=True, order=True)
class StateLocation:
    """An s3://bucket/prefix the user reads Terraform state from, or (with `workspace_key_prefix` set) the key of
    an S3 backend and its workspaces' keys `<workspace_key_prefix>/<workspace>/<key>`."""

    bucket: str
    prefix: str
    workspace_key_prefix: str | None = None


S3_WORKSPACES = "s3+workspaces://"  # as importers/terraform_backends.py reads it; a test keeps the two agreeing


def parse_state_location(url: str) -> StateLocation:
    """s3://bucket/prefix as the state importer reads it: everything under the prefix, literally; or
    s3+workspaces://bucket/key[?workspace_key_prefix=P&region=R]: the key and its workspaces' keys."""
    if url.startswith(S3_WORKSPACES):
        from urllib.parse import parse_qsl

        rest, _, query = url[len(S3_WORKSPACES):].partition("?")
        bucket, _, key = rest.partition("/")
        if not key:
            raise ValueError(f"{url}: no key named (s3+workspaces://BUCKET/KEY)")
        if not BUCKET_NAME.fullmatch(bucket):
            raise ValueError(f"{url}: no bucket named" if not bucket else f"{url}: {bucket!r} is not a bucket name")
        workspace_prefix = dict(parse_qsl(query, keep_blank_values=True)).get("workspace_key_prefix", "env:")
        return StateLocation(bucket, key, workspace_prefix.strip("/"))
    if not url.startswith("s3://"):
        raise ValueError(f"{url}: not an s3://bucket/prefix location nor an s3+workspaces://bucket/key one (local "
                         "state, HTTP and Terraform Cloud need no AWS permission)")
    bucket, _, prefix = url[len("s3://"):].partition("/")
    if not BUCKET_NAME.fullmatch(bucket):
        raise ValueError(f"{url}: no bucket named" if not bucket else f"{url}: {bucket!r} is not a bucket name")
    return StateLocation(bucket, prefix)


def _literal(text: str) -> str:
    """IAM reads '*', '?' and '$' in a resource or a StringLike value as wildcards or variables; an S3
    prefix holds them literally, so they are written as IAM's escapes."""
    return "".join({"*": "${*}", "?": "${?}", "$": "${$}"}.get(c, c) for c in text)


def state_statements(locations: Iterable[StateLocation], partition: str = "aws", sid: str = "DriftgraphState"
                     ) -> list[dict]:
    """Reading Terraform state (or, with another `sid`, CloudTrail log files) from the named locations: objects
    under each prefix, and listing each bucket for those prefixes only (the whole bucket when a location names no
    prefix)."""
    locations = sorted(set(locations))
    if not locations:
        return []
    objects: list[str] = []
    for loc in locations:
        if loc.workspace_key_prefix is None:
            objects.append(f"arn:{partition}:s3:::{loc.bucket}/{_literal(loc.prefix)}*")
        else:  # the default workspace's key, and that key in every workspace (a workspace name has no "/")
            objects.append(f"arn:{partition}:s3:::{loc.bucket}/{_literal(loc.prefix)}")
            objects.append(f"arn:{partition}:s3:::{loc.bucket}/{_literal(_workspaces_prefix(loc))}*/"
                           f"{_literal(loc.prefix)}")
    statements = [{
        "Sid": f"{sid}Objects",
        "Effect": "Allow",
        "Action": _actions(STATE_OBJECT),
        "Resource": sorted(set(objects), key=objects.index),
    }]
    buckets = sorted({loc.bucket for loc in locations})
    for number, bucket in enumerate(buckets, 1):
        prefixes = [p for loc in locations if loc.bucket == bucket for p in _listed_prefixes(loc)]
        statement = {
            "Sid": f"{sid}List{number}",
            "Effect": "Allow",
            "Action": _actions(STATE_BUCKET),
            "Resource": f"arn:{partition}:s3:::{bucket}",
        }
        if "" not in prefixes:
            statement["Condition"] = {"StringLike": {"s3:prefix": [f"{_literal(p)}*" for p in prefixes]}}
        statements.append(statement)
    return statements


def _workspaces_prefix(location: StateLocation) -> str:
    return f"{location.workspace_key_prefix}/" if location.workspace_key_prefix else ""


def _listed_prefixes(location: StateLocation) -> list[str]:
    """The prefixes the importer lists: a location's own; for an S3 backend its key and its workspaces' prefix."""
    if location.workspace_key_prefix is None:
        return [location.prefix]
    return [location.prefix, _workspaces_prefix(location)]


def log_location(url: str) -> StateLocation:
    """Where `--cloudtrail s3://bucket/prefix` reads: the trail's prefix (its S3 key prefix) as the folder CloudTrail
    delivers under, `<prefix>/AWSLogs/`; a prefix that already reaches inside AWSLogs/ (one account or region)
    as it is. scanner/cloudtrail.py reads exactly there, and the policy grants exactly that."""
    if not url.startswith("s3://"):
        raise ValueError(f"{url}: not an s3://bucket/prefix location of CloudTrail log files")
    location = parse_state_location(url)
    prefix = location.prefix if not location.prefix or location.prefix.endswith("/") else location.prefix + "/"
    return StateLocation(location.bucket, prefix if "AWSLogs/" in prefix else prefix + "AWSLogs/")


ASSUME_ROLE_ACTION = "sts:AssumeRole"


def member_role_arn(role_name: str, partition: str = "aws", account: str = "*") -> str:
    """The ARN of the role `--role-name` names in a member account (in every account: `*`, for a policy)."""
    return f"arn:{partition}:iam::{account}:role/{role_name}"


def assume_role_statements(role_arns: Iterable[str]) -> list[dict]:
    """The scanning identity's right to assume the roles a scan of several accounts assumes; each such role needs
    the read-only policy itself, in its own account, and a trust policy naming the scanning identity."""
    arns = sorted(set(role_arns))
    if not arns:
        return []
    return [{"Sid": "DriftgraphAssumeRole", "Effect": "Allow", "Action": [ASSUME_ROLE_ACTION], "Resource": arns}]


def read_only_policy(state_locations: Iterable[StateLocation] = (), partition: str = "aws",
                     log_locations: Iterable[StateLocation] = (), role_arns: Iterable[str] = ()) -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "DriftgraphReadOnly", "Effect": "Allow", "Action": required_actions(), "Resource": "*"},
            *state_statements(state_locations, partition),
            *state_statements(log_locations, partition, sid="DriftgraphCloudTrail"),
            *assume_role_statements(role_arns),
        ],
    }


def policy_json(state_locations: Iterable[StateLocation] = (), partition: str = "aws",
                log_locations: Iterable[StateLocation] = (), role_arns: Iterable[str] = ()) -> str:
    return json.dumps(read_only_policy(state_locations, partition, log_locations, role_arns), indent=2) + "\n"
