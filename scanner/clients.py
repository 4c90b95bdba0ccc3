"""The one place that builds boto3 clients, and the guard that lets out only the calls driftgraph makes.

boto3's standard credential chain applies (profiles, SSO, environment, instance roles) and so does
AWS_ENDPOINT_URL, which is how tests and the demo reach moto. Every client carries a `before-call` hook
that refuses, before anything is sent, any operation not on driftgraph's list of calls
(scanner/permissions.py, which also builds the IAM policy), and, as second walls, any operation whose name
is not a read and the reads that would fetch a secret value. Every call is also bounded in time (connect and
read timeouts per attempt, a budget across retries), stops at the next call once the scan is cancelled, and
fails with a clear error when the answer is not AWS's (an HTML page from a proxy) instead of reading it as an
empty answer.
"""

from __future__ import annotations

import difflib
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Iterable, Mapping

import boto3
from botocore import xform_name
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError

from graph.redact import redact_text

from scanner.permissions import allowed_calls

log = logging.getLogger("driftgraph.scanner")

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


# Per attempt: how long to wait for a connection and for each read. botocore's standard retries (up to
# MAX_ATTEMPTS) have no total budget of their own, so `--call-timeout` bounds the time one call may spend
# across all its attempts: no new attempt starts once it is spent.
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 30.0
MAX_ATTEMPTS = 8
DEFAULT_CALL_TIMEOUT = 60.0
HOME_REGION = "us-east-1"  # where identity and region calls go when the profile and environment name none


class CallTimeout(BotoCoreError):
    """A call spent its time budget across retries without an answer."""

    fmt = "{operation}: no answer within {seconds:g} s ({attempts}; --call-timeout): {last}"

    def __init__(self, operation: str, seconds: float, attempts: int, last: str) -> None:
        super().__init__(operation=operation, seconds=seconds, last=redact_text(last),
                         attempts=f"{attempts} attempt{'s' if attempts != 1 else ''}")


class UnreadableAnswer(BotoCoreError):
    """The answer is not in the service's format: an HTML page from a proxy, a captive portal, a wrong endpoint."""

    fmt = "{operation}: {detail}"


class ScanCancelled(BaseException):
    """The scan was cancelled (Ctrl-C): raised at a worker's next call so it stops there.

    A BaseException, like KeyboardInterrupt, so no handler of failed calls records it as a failed listing."""


def client_config(call_timeout: float = DEFAULT_CALL_TIMEOUT) -> Config:
    """Timeouts no longer than the budget itself, so a short budget is never outlived by one attempt."""
    return Config(
        retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS},
        max_pool_connections=32,
        connect_timeout=min(CONNECT_TIMEOUT, call_timeout),
        read_timeout=min(READ_TIMEOUT, call_timeout),
        user_agent_extra="driftgraph",
    )


_DEADLINE = "driftgraph_deadline"  # key in botocore's per-call request context


def _operation_name(kwargs: dict) -> str:
    model = kwargs.get("operation_model") or kwargs.get("operation") or kwargs.get("model")
    return model.name if model is not None else "a call"


def _looks_like_html(body: bytes) -> bool:
    # the body, not the Content-Type: moto (and some AWS front ends) label JSON and XML answers text/html
    return body.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html"))


def _html_title(body: bytes) -> str:
    found = re.search(rb"<title>(.*?)</title>", body, re.IGNORECASE | re.DOTALL)
    return " ".join(found.group(1).decode("utf-8", "replace").split())[:80] if found else ""


def _refuse_html(operation_model=None, response_dict=None, **_kwargs) -> None:
    """No AWS service answers HTML; a proxy, a captive portal or a wrong endpoint does. botocore would read a
    200 page as an empty answer (a silent empty listing) or fail with a KeyError. A 5xx page that starts with
    `<html>` is left to botocore, which knows it as a transient error and retries it."""
    body = (response_dict or {}).get("body") or b""
    if not isinstance(body, bytes) or not _looks_like_html(body):
        return
    status = response_dict.get("status_code")
    if status is not None and status >= 500 and body.lstrip().startswith(b"<html>"):
        return
    title = redact_text(_html_title(body))
    raise UnreadableAnswer(
        operation=operation_model.name if operation_model is not None else "a call",
        detail=f"the endpoint answered HTTP {status} with an HTML page{f' ({title!r})' if title else ''}, not AWS's "
        "format: a proxy, a captive portal or a wrong endpoint?",
    )


def _name_unreadable(exception=None, **kwargs) -> None:
    """botocore's parsers fail with ResponseParserError or a bare KeyError on a body they cannot read; neither is
    a BotoCoreError, so callers that handle failed calls would miss them. Name them as the failed call they are."""
    if exception is None or isinstance(exception, (BotoCoreError, ClientError)):
        return
    detail = redact_text(" ".join(str(exception).split())[:200]) or type(exception).__name__
    raise UnreadableAnswer(operation=kwargs.get("event_name", "").rsplit(".", 1)[-1] or "a call",
                           detail=f"unreadable answer ({type(exception).__name__}: {detail})") from exception


@dataclass
class AwsSession:
    """A boto3 session with guarded, cached clients (clients are thread-safe; creating them is not).

    `default_region` is where calls about no region go (identity, regions, global types) when the profile and
    environment name no region; never the first scanned region, which may be an opt-in region not enabled."""

    profile: str | None = None
    default_region: str | None = None
    call_timeout: float = DEFAULT_CALL_TIMEOUT
    _session: boto3.Session = field(init=False, repr=False)
    _clients: dict = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _cancelled: threading.Event = field(default_factory=threading.Event, init=False, repr=False)

    def __post_init__(self) -> None:
        self._session = boto3.Session(profile_name=self.profile)
        self._config = client_config(self.call_timeout)

    @property
    def configured_region(self) -> str | None:
        """The region the profile or environment names (AWS_REGION, AWS_DEFAULT_REGION, `region` in a profile)."""
        return self._session.region_name or None

    @property
    def region_name(self) -> str:
        return self._session.region_name or self.default_region or HOME_REGION

    def cancel(self) -> None:
        """Stop the scan: every call not yet started raises ScanCancelled, and no call retries."""
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def client(self, service: str, region: str | None = None):
        region = region or self.region_name
        key = (service, region)
        with self._lock:
            if key not in self._clients:
                client = self._session.client(service, region_name=region, config=self._config)
                events = client.meta.events
                events.register("before-call.*.*", _guard)
                events.register("before-call.*.*", self._start_clock)
                events.register("before-send.*.*", self._check_clock)
                # deeper than botocore's own `needs-retry.<service>` handler, so asked first
                events.register_first("needs-retry.*.*", self._may_retry)
                events.register("before-parse.*.*", _refuse_html)
                events.register("after-call-error.*.*", _name_unreadable)
                self._clients[key] = client
            return self._clients[key]

    # -- the time budget and the cancel flag, as botocore hooks

    def _start_clock(self, context=None, **_kwargs) -> None:
        if self.cancelled:
            raise ScanCancelled()
        if context is not None:
            context[_DEADLINE] = time.monotonic() + self.call_timeout

    def _check_clock(self, request=None, **kwargs) -> None:
        """Refuse an attempt that would start after the budget is spent (a retry's back-off may overrun it)."""
        if self.cancelled:
            raise ScanCancelled()
        context = getattr(request, "context", None) or {}
        if _DEADLINE in context and time.monotonic() >= context[_DEADLINE]:
            attempts = context.get("retries", {}).get("attempt", 1)
            raise CallTimeout(operation=kwargs.get("event_name", "").rsplit(".", 1)[-1] or "a call",
                              seconds=self.call_timeout, attempts=attempts - 1, last="budget spent before a retry")

    def _may_retry(self, request_dict=None, caught_exception=None, attempts=1, **kwargs):
        """False (no retry) once cancelled or out of time; None lets botocore's standard retry decide."""
        if self.cancelled:
            return False
        deadline = ((request_dict or {}).get("context") or {}).get(_DEADLINE)
        if deadline is None or time.monotonic() < deadline:
            return None
        if isinstance(caught_exception, (ConnectionError, HTTPClientError)):
            raise CallTimeout(operation=_operation_name(kwargs), seconds=self.call_timeout, attempts=attempts,
                              last=str(caught_exception))
        return False  # an AWS answer (throttling, a 5xx): surface it as it is

    # -- calls about no region

    def identity(self) -> dict:
        """Account, partition and caller ARN from STS."""
        answer = self.client("sts").get_caller_identity()
        arn = answer.get("Arn") or ""
        if arn.count(":") < 5 or not answer.get("Account"):
            raise UnreadableAnswer(operation="GetCallerIdentity", detail="the answer names no account and caller ARN")
        return {"account": answer["Account"], "partition": arn.split(":")[1], "caller_arn": arn}

    def region_statuses(self) -> dict[str, str]:
        """Every region of the account's partition with its opt-in status (DescribeRegions, AllRegions)."""
        answer = self.client("ec2").describe_regions(AllRegions=True)
        return {r["RegionName"]: r.get("OptInStatus", "opt-in-not-required") for r in answer["Regions"]}

    def enabled_regions(self) -> list[str]:
        """Every region enabled for the account (an opt-in region counts once it is opted in)."""
        return sorted(name for name, status in self.region_statuses().items() if status != NOT_OPTED_IN)

    def check_regions(self, regions: Iterable[str]) -> list[str]:
        """The regions asked for, each once in the order given; RegionError when one is not a region of the
        account or not enabled. When DescribeRegions is denied (or fails), only the names' shape is checked."""
        regions = list(dict.fromkeys(regions))
        try:
            statuses: dict[str, str] | None = self.region_statuses()
        except (ClientError, BotoCoreError) as exc:
            log.warning("cannot list the account's regions (%s); checking region names by their shape only", exc)
            statuses = None
        problems = region_problems(regions, statuses)
        if problems:
            raise RegionError("; ".join(problems))
        return regions


# ------------------------------------------------------------------------------------------------ regions

NOT_OPTED_IN = "not-opted-in"
REGION_SHAPE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")  # us-east-1, us-gov-west-1, ap-southeast-5


class RegionError(ValueError):
    """A `--region` value that is not a region of the account, or not enabled for it."""


def known_region_names() -> list[str]:
    """Every region botocore knows in every partition: the spellings a typo is compared with."""
    session = boto3.Session()
    return sorted({r for p in session.get_available_partitions() for r in session.get_available_regions("ec2", p)})


def region_problems(regions: Iterable[str], statuses: Mapping[str, str] | None = None) -> list[str]:
    """What is wrong with each region name, with the likely spelling: by shape alone, or against the account's
    regions (`statuses`: name -> opt-in status, from DescribeRegions with AllRegions) when known."""
    problems = []
    for region in regions:
        shaped = bool(REGION_SHAPE.match(region))
        if shaped and (statuses is None or statuses.get(region, NOT_OPTED_IN) != NOT_OPTED_IN):
            continue
        if shaped and region in statuses:
            problems.append(f"{region} is not enabled for this account (an opt-in region: enable it first, or leave it out)")
            continue
        candidates = sorted(statuses) if statuses else known_region_names()
        close = difflib.get_close_matches(region.lower(), candidates, n=1, cutoff=0.75)
        hint = f" (did you mean {close[0]}?)" if close else ""
        problems.append(f"{region} is not {'a region of this account' if shaped else 'a region name'}{hint}")
    return problems


def home_region(regions: Iterable[str]) -> str | None:
    """The region for identity and region calls when the profile and environment name none: us-east-1, unless
    the scan is of another partition (China, GovCloud), whose first region is then the way in."""
    first = next(iter(regions), None)
    if first is None:
        return None
    try:
        partition = boto3.Session().get_partition_for_region(first)
    except Exception:  # an unknown name: the region check reports it
        return None
    return None if partition == "aws" else first
