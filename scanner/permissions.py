"""The minimal read-only IAM policy a scan needs, derived from the catalog so the two never disagree."""

from __future__ import annotations

import json
from functools import lru_cache

import botocore.session
from botocore import xform_name

from graph.resource_types import RESOURCE_TYPES

# Calls outside the catalog: identity, regions, stacks, Terraform state in S3.
EXTRA_CALLS = (
    ("ec2", "describe_regions"),
    ("cloudformation", "describe_stacks"),
    ("cloudformation", "list_stack_resources"),
    ("cloudformation", "get_template"),
    ("cloudformation", "list_exports"),
    ("s3", "list_objects_v2"),
    ("s3", "get_object"),
)
# IAM names that differ from the API operation (the policy language predates some APIs).
ACTION_NAMES = {("s3", "ListBuckets"): "ListAllMyBuckets", ("s3", "ListObjectsV2"): "ListBucket"}
IAM_PREFIX = {"cloudwatch": "cloudwatch"}  # CloudWatch signs as 'monitoring' but its IAM prefix is 'cloudwatch'


@lru_cache(maxsize=None)
def _service_model(service: str):
    return botocore.session.get_session().get_service_model(service)


def iam_action(service: str, method: str) -> str:
    model = _service_model(service)
    operation = {xform_name(name): name for name in model.operation_names}[method]
    prefix = IAM_PREFIX.get(service) or model.signing_name
    return f"{prefix}:{ACTION_NAMES.get((service, operation), operation)}"


def required_actions() -> list[str]:
    calls = set(EXTRA_CALLS)
    for row in RESOURCE_TYPES:
        calls.add((row.service, row.list.method))
        calls.update((row.service, call.method) for _, call in row.details)
        if row.tags and row.tags.call:
            calls.add((row.service, row.tags.call.method))
    return sorted({iam_action(service, method) for service, method in calls})


def read_only_policy() -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "DriftgraphReadOnly", "Effect": "Allow", "Action": required_actions(), "Resource": "*"}
        ],
    }


def policy_json() -> str:
    return json.dumps(read_only_policy(), indent=2) + "\n"
