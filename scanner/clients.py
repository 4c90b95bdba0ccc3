"""The one place that builds boto3 clients, and the guard that keeps every call a read.

boto3's standard credential chain applies (profiles, SSO, environment, instance roles) and so does
AWS_ENDPOINT_URL, which is how tests and the demo reach moto. Every client carries a `before-call` hook
that refuses, before anything is sent, any operation that is not a read, and the few reads that would
fetch a secret value.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import boto3
from botocore.config import Config

READ_PREFIXES = ("Describe", "List", "Get", "Head", "Lookup", "BatchGet")

# Reads we never make: they return secret values, not metadata.
SECRET_READS = frozenset(
    {
        "GetSecretValue",
        "BatchGetSecretValue",
        "GetParameter",
        "GetParameters",
        "GetParametersByPath",
        "GetParameterHistory",
        "GetPasswordData",
        "GetAuthorizationToken",
        "GetSessionToken",
        "GetFederationToken",
        "GetCredentialsForIdentity",
        "GetOpenIdToken",
        "GetLoginProfile",
        "GetAccessKeyLastUsed",
        "GetRandomPassword",
    }
)
EXTRA_READS = frozenset({"GetCallerIdentity"})


class ReadOnlyViolation(RuntimeError):
    """Raised before sending when code asks for an operation that could change AWS or reveal a secret."""


def is_allowed_operation(operation: str) -> bool:
    if operation in SECRET_READS:
        return False
    return operation in EXTRA_READS or operation.startswith(READ_PREFIXES)


def _guard(model=None, **_kwargs):
    operation = model.name if model is not None else "?"
    if not is_allowed_operation(operation):
        raise ReadOnlyViolation(
            f"driftgraph is read-only: refused {model.service_model.service_name}:{operation} before sending it"
        )


RETRY_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 8},
    max_pool_connections=32,
    connect_timeout=10,
    read_timeout=60,
    user_agent_extra="driftgraph",
)


@dataclass
class AwsSession:
    """A boto3 session with guarded, cached clients (clients are thread-safe; creating them is not)."""

    profile: str | None = None
    default_region: str | None = None
    _session: boto3.Session = field(init=False, repr=False)
    _clients: dict = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        self._session = boto3.Session(profile_name=self.profile, region_name=self.default_region)

    @property
    def configured_region(self) -> str | None:
        """The region the profile or environment names (AWS_REGION, AWS_DEFAULT_REGION, `region` in a profile)."""
        return boto3.Session(profile_name=self.profile).region_name or None

    @property
    def region_name(self) -> str:
        return self._session.region_name or self.default_region or "us-east-1"

    def client(self, service: str, region: str | None = None):
        region = region or self.region_name
        key = (service, region)
        with self._lock:
            if key not in self._clients:
                client = self._session.client(service, region_name=region, config=RETRY_CONFIG)
                client.meta.events.register("before-call.*.*", _guard)
                self._clients[key] = client
            return self._clients[key]

    def identity(self) -> dict:
        """Account, partition and caller ARN from STS."""
        answer = self.client("sts").get_caller_identity()
        arn = answer["Arn"]
        return {"account": answer["Account"], "partition": arn.split(":")[1], "caller_arn": arn}

    def enabled_regions(self) -> list[str]:
        """Every region enabled for the account (DescribeRegions answers only those by default)."""
        answer = self.client("ec2").describe_regions()
        return sorted(r["RegionName"] for r in answer["Regions"])
