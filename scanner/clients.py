"""The one place that builds boto3 clients, and the guard that lets out only the calls driftgraph makes.

boto3's standard credential chain applies (profiles, SSO, environment, instance roles) and so does
AWS_ENDPOINT_URL, which is how tests and the demo reach moto. Every client carries a `before-call` hook
that refuses, before anything is sent, any operation not on driftgraph's list of calls
(scanner/permissions.py, which also builds the IAM policy), and, as second walls, any operation whose name
is not a read and the reads that would fetch a secret value.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import boto3
from botocore import xform_name
from botocore.config import Config

from scanner.permissions import allowed_calls

READ_PREFIXES = ("Describe", "List", "Get", "Head", "Lookup", "BatchGet")

# Reads we never make: they return secret values or credentials, or create something despite the name.
# A second wall: none is on the list of calls, and a test keeps it so.
SECRET_READS = frozenset(
    {
        "GetSecretValue",
        "BatchGetSecretValue",
        "GetRandomPassword",
        "GetParameter",
        "GetParameters",
        "GetParametersByPath",
        "GetParameterHistory",
        "GetPasswordData",
        "GetLaunchTemplateData",  # user data
        "GetConsoleOutput",
        "GetConsoleScreenshot",
        "GetAuthorizationToken",
        "GetSessionToken",
        "GetFederationToken",
        "GetRoleCredentials",
        "GetClusterCredentials",
        "GetClusterCredentialsWithIAM",
        "GetCredentials",
        "GetCredentialsForIdentity",
        "GetId",  # creates an identity
        "GetOpenIdToken",
        "GetOpenIdTokenForDeveloperIdentity",
        "GetRelationalDatabaseMasterUserPassword",
        "GetInstanceAccessDetails",
        "GetApiKey",
        "GetApiKeys",
        "GetFunction",  # environment values and a code download URL
        "GetFunctionConfiguration",
        "GetLoginProfile",
        "GetAccessKeyLastUsed",
        "GetParametersForImport",
    }
)


class ReadOnlyViolation(RuntimeError):
    """Raised before sending when code asks for an operation driftgraph does not make."""


def is_allowed_operation(service: str, operation: str, calls: frozenset[tuple[str, str]] | None = None) -> bool:
    """True for a call on driftgraph's list (`calls`, by default the one in scanner/permissions.py) that is
    also read-named and no secret read: the list decides, the names are walls behind it."""
    if operation in SECRET_READS or not operation.startswith(READ_PREFIXES):
        return False
    return (service, xform_name(operation)) in (allowed_calls() if calls is None else calls)


def _guard(model=None, **_kwargs):
    if model is None:  # botocore always passes the operation; refuse rather than guess if it ever does not
        raise ReadOnlyViolation("driftgraph is read-only: refused an operation botocore did not name")
    service, operation = model.service_model.service_name, model.name
    if not is_allowed_operation(service, operation):
        why = "it returns secret values" if operation in SECRET_READS else "not a call driftgraph makes"
        raise ReadOnlyViolation(f"driftgraph is read-only: refused {service}:{operation} before sending it ({why})")


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
