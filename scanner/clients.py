"""The one place that builds boto3 clients, and the guard that lets out only the calls driftgraph makes.

boto3's standard credential chain applies (profiles, SSO, environment, instance roles) and so does
AWS_ENDPOINT_URL, which is how tests and the demo reach moto. Every client carries a `before-call` hook
that refuses, before anything is sent, any operation not on driftgraph's list of calls
(scanner/permissions.py, which also builds the IAM policy), and, as second walls, any operation whose name
is not a read and the reads that would fetch a secret value. Every call is also bounded in time (connect and
read timeouts per attempt, a budget across retries that also bounds reading the answer), stops at the next
call once the scan is cancelled, and fails with a clear error when the answer is not AWS's (an HTML page from
a proxy, an empty or cut-short body: scanner/answers.py) instead of reading it as an empty answer. Every
pagination goes through one guard: a token given twice, or more than MAX_PAGES pages, ends it as a failure.
The credential chain's own calls (STS AssumeRole for a role profile, SSO GetRoleCredentials) are sent by
botocore's credential providers with clients of their own, outside these hooks. So is the one call driftgraph
itself asks for that is not a read: STS AssumeRole into another account (`AwsSession.assume_role`, for
`scan --org`/`--account-role`), sent by an STS client made for that alone, whose own guard lets out
AssumeRole and nothing else. The scan's clients still refuse it: it is on no list.
"""

from __future__ import annotations

import difflib
import functools
import json
import logging
import random
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import boto3
import botocore.loaders
import botocore.session
from botocore import xform_name
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.credentials import (
    AssumeRoleCredentialFetcher,
    CredentialProvider,
    CredentialResolver,
    Credentials,
    RefreshableCredentials,
)
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    HTTPClientError,
    NoCredentialsError,
    PaginationError,
    ReadTimeoutError,
)
from botocore.paginate import PageIterator
from botocore.retries.standard import RetryEventAdapter, StandardRetryConditions
from urllib3.exceptions import ProtocolError
from urllib3.exceptions import ReadTimeoutError as URLLib3ReadTimeoutError

from graph.redact import redact_text

from scanner.answers import answer_problem, error_page
from scanner.permissions import allowed_calls
from scanner.rates import THROTTLING_CODES, Cancelled, RateLimits

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


# The one operation sent outside the list, and only by `AwsSession.assume_role`'s own STS client.
CREDENTIAL_CALL = ("sts", "AssumeRole")
ROLE_SESSION_NAME = "driftgraph"  # what CloudTrail shows in the member account: who made these reads


def _credential_guard(model=None, **_kwargs):
    """The guard of the STS client that fetches a role's credentials: AssumeRole, and nothing else."""
    name = (model.service_model.service_name, model.name) if model is not None else None
    if name != CREDENTIAL_CALL:
        shown = f"{name[0]}:{name[1]}" if name else "an operation botocore did not name"
        raise ReadOnlyViolation(f"driftgraph is read-only: refused {shown} on the credential client before sending it "
                                "(it sends sts:AssumeRole only)")


class _GivenCredentials(CredentialProvider):
    """A credential chain of one link: the credentials a session was given (a role's, refreshed as they expire)."""

    METHOD = "assume-role"
    CANONICAL_NAME = "driftgraph-assume-role"

    def __init__(self, credentials: Credentials) -> None:
        super().__init__()
        self._credentials = credentials

    def load(self) -> Credentials:
        return self._credentials


# Per attempt: how long to wait for a connection and for each read. botocore's standard retries (up to
# MAX_ATTEMPTS) have no total budget of their own, so `--call-timeout` bounds the time one call may spend
# across all its attempts: no new attempt starts once it is spent, no read waits past it, and the answer's
# body stops being read when it runs out (an endpoint that trickles its answer a byte at a time).
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 30.0
MAX_ATTEMPTS = 8
DEFAULT_CALL_TIMEOUT = 60.0
HOME_REGION = "us-east-1"  # where identity and region calls go when the profile and environment name none
# Pages one pagination may take: far beyond any real listing (100,000 pages of SQS queues are 100 million
# queues), so only an endpoint that never stops handing out new tokens reaches it.
MAX_PAGES = 100_000
READ_CHUNK = 1 << 16
MAX_BACKOFF, RETRY_AFTER_MAX = 20.0, 5.0  # botocore's standard back-off: its cap, and what x-amz-retry-after adds
_RETRY_EVENTS = RetryEventAdapter()
_RETRY_CONDITIONS = StandardRetryConditions(max_attempts=MAX_ATTEMPTS)


class CallTimeout(BotoCoreError):
    """A call spent its time budget across retries: without an answer, or answered each time with an error
    worth retrying (throttling, a 5xx), which `last_code` then names."""

    fmt = "{operation}: {summary}"

    def __init__(self, operation: str, seconds: float, attempts: int, last: str, last_code: str | None = None) -> None:
        tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
        if last_code:
            summary = (f"--call-timeout of {seconds:g} s ran out after {tries}, each answered with an error "
                       f"worth retrying; the last: {last_code}: {last}")
        else:
            summary = f"no answer within {seconds:g} s ({tries}; --call-timeout): {last}"
        super().__init__(operation=operation, summary=redact_text(summary))
        self.last_code = last_code


class UnreadableAnswer(BotoCoreError):
    """The answer is not in the service's format: an HTML page from a proxy, a captive portal, a wrong endpoint,
    an empty body, a document that is not the operation's answer."""

    fmt = "{operation}: {detail}"


class AnswerCutShort(HTTPClientError):
    """The connection closed before the answer's announced length arrived (botocore would keep the short body,
    reading a listing cut in half as a short one): retried as the dropped connection it is."""

    fmt = "the answer from {endpoint_url} ended after {received} of the {declared} bytes it announced"


class ErrorPage(HTTPClientError):
    """A 5xx answer that is an HTML page (a load balancer's 502, a gateway's 503, a server's 500): retried as
    the transient failure it usually is; if every attempt gets one, the call fails naming the page."""

    fmt = "{operation}: {detail}"


class AnswerTooSlow(ReadTimeoutError):
    """The answer was still arriving when the call's time ran out (each read was in time, the whole was not)."""

    fmt = "the answer from {endpoint_url} was still arriving when the call's time ran out"


class ScanCancelled(BaseException):
    """The scan was cancelled (Ctrl-C): raised at a worker's next call so it stops there.

    A BaseException, like KeyboardInterrupt, so no handler of failed calls records it as a failed listing."""


def client_config(call_timeout: float = DEFAULT_CALL_TIMEOUT, retry_mode: str = "standard") -> Config:
    """Timeouts no longer than the budget itself, so a short budget is never outlived by one attempt."""
    return Config(
        retries={"mode": retry_mode, "total_max_attempts": MAX_ATTEMPTS},  # ("max_attempts" would be one more)
        max_pool_connections=64,  # two pools (listings, describes) of up to 32 workers each may share a client
        connect_timeout=min(CONNECT_TIMEOUT, call_timeout),
        read_timeout=min(READ_TIMEOUT, call_timeout),
        user_agent_extra="driftgraph",
    )


_DEADLINE = "driftgraph_deadline"  # keys in botocore's per-call request context
_LAST_FAILURE = "driftgraph_last_failure"  # (error code or None, message) of the call's last failed attempt


def _operation_name(kwargs: dict) -> str:
    model = kwargs.get("operation_model") or kwargs.get("operation") or kwargs.get("model")
    return model.name if model is not None else "a call"


def _check_answer(operation_model=None, response_dict=None, **_kwargs) -> None:
    """Refuse, before botocore parses it, an answer that is not AWS's (scanner/answers.py says how it tells)."""
    response = response_dict or {}
    problem = answer_problem(operation_model, response.get("status_code"), response.get("headers"), response.get("body"))
    if problem:
        raise UnreadableAnswer(operation=operation_model.name if operation_model is not None else "a call",
                               detail=problem)


def _name_unreadable(exception=None, **kwargs) -> None:
    """botocore's parsers fail with ResponseParserError or a bare KeyError on a body they cannot read; neither is
    a BotoCoreError, so callers that handle failed calls would miss them. Name them as the failed call they are.
    Redacted before it is cut short, so a secret cut in two is still recognised whole."""
    if exception is None or isinstance(exception, (BotoCoreError, ClientError)):
        return
    detail = redact_text(" ".join(str(exception).split()))[:200] or type(exception).__name__
    raise UnreadableAnswer(operation=kwargs.get("event_name", "").rsplit(".", 1)[-1] or "a call",
                           detail=f"unreadable answer ({type(exception).__name__}: {detail})") from exception


class GuardedPages(PageIterator):
    """botocore ends a pagination only when a token comes back twice in a row; an endpoint that hands out
    A, B, A, B or ever-new tokens would hold a listing forever. Every token a pagination was given is
    remembered: one given again is a failed listing, and so is a pagination past `max_pages` pages."""

    max_pages = MAX_PAGES

    def __iter__(self):
        self._tokens_seen: set[str] = set()
        self._pages = 0
        return super().__iter__()

    def _operation(self) -> str:
        client = getattr(self._method, "__self__", None)
        name = getattr(self._method, "__name__", "a call")
        return client.meta.method_to_api_mapping.get(name, name) if client is not None else name

    def _get_next_token(self, parsed):
        token = super()._get_next_token(parsed)
        self._pages += 1
        if all(value is None for value in token.values()):
            return token
        if self._pages >= self.max_pages:
            raise PaginationError(message=f"{self._operation()}: still more after {self._pages:,} pages; stopped "
                                          "there, as an endpoint that never stops handing out tokens would")
        seen = json.dumps(token, sort_keys=True, default=str)
        if seen in self._tokens_seen:
            raise PaginationError(message=f"{self._operation()}: page {self._pages} gave a next-page token an earlier "
                                          "page gave: the listing would go round forever")
        self._tokens_seen.add(seen)
        return token


def _guarded_pagination(pages: type[GuardedPages]) -> type:
    """A base for our client classes whose paginators page through `pages`: every pagination of every client
    made from the session, the importers' included, goes through the guard."""

    class GuardedPagination:
        def get_paginator(self, operation_name):
            paginator = super().get_paginator(operation_name)
            paginator.PAGE_ITERATOR_CLS = pages
            return paginator

    return GuardedPagination


class _ReadBody:
    """An answer's body already read, in the place of urllib3's response: what botocore reads it through."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, *_args, **_kwargs):
        yield self._body

    def close(self) -> None:
        pass

    def release_conn(self) -> None:
        pass


def _set_read_timeout(raw: Any, seconds: float) -> None:
    """The socket's timeout for the next read, so no read outlives the call's budget (best effort: the socket
    sits inside urllib3, which may not show it)."""
    connection = getattr(raw, "connection", None)
    sock = getattr(connection, "sock", None)
    if sock is not None:
        try:
            sock.settimeout(max(seconds, 0.001))
        except OSError:
            pass


@functools.lru_cache(maxsize=None)
def shared_loader(data_path: str | None = None) -> botocore.loaders.Loader:
    """One botocore loader per process (per data path): every session's clients read the service models, endpoint
    rules and paginators it parsed once. Each boto3 session would otherwise parse its own copies: the EC2 model
    alone is megabytes of JSON, and a scan of many accounts makes a session per account. A loader is already
    shared by every client (and thread) of a session; what it caches is never changed after loading."""
    return botocore.loaders.create_loader(data_path)


@dataclass
class AwsSession:
    """A boto3 session with guarded, cached clients (clients are thread-safe; creating them is not).

    `default_region` is where calls about no region go (identity, regions, global types) when the profile and
    environment name no region; never the first scanned region, which may be an opt-in region not enabled."""

    profile: str | None = None
    default_region: str | None = None
    call_timeout: float = DEFAULT_CALL_TIMEOUT
    max_pages: int = MAX_PAGES
    # credentials to use instead of boto3's standard chain (a role assumed in another account: `assume_role`)
    credentials: Credentials | None = field(default=None, repr=False)
    # the account the credentials are in, once known (a role's ARN names it; else STS): its calls share buckets
    account: str | None = None
    # the scan's token buckets (scanner/rates.py), shared by every session of the scan; None sends unpaced
    rates: RateLimits | None = field(default_factory=RateLimits, repr=False)
    # botocore's retry mode: "standard" (with the buckets above); bench/latency.py compares "adaptive" without them
    retry_mode: str = "standard"
    # for a session made by assume_role: (the session it was assumed from, the role's ARN, the session name), so
    # that a process of its own (scanner/processes.py) assumes the role again and its credentials refresh there too
    assumed_from: tuple["AwsSession", str, str] | None = field(default=None, repr=False)
    _session: boto3.Session = field(init=False, repr=False)
    _clients: dict = field(default_factory=dict, init=False, repr=False)
    # one lock per (service, region) so building one client never holds up a thread that wants another; the
    # session-wide lock only hands those locks out, and builds the first client alone (botocore's session sets
    # up its credential resolver and endpoint data lazily, and not thread-safely, on the first client)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _client_locks: dict = field(default_factory=dict, init=False, repr=False)
    _cancelled: threading.Event = field(default_factory=threading.Event, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.credentials is None:
            self._session = boto3.Session(profile_name=self.profile)
        else:
            core = botocore.session.Session(profile=self.profile)
            core.register_component("credential_provider", CredentialResolver([_GivenCredentials(self.credentials)]))
            self._session = boto3.Session(botocore_session=core)
        core = self._session._session
        # after boto3's own set-up, which adds its resource models' path to the session's first loader
        core.register_component("data_loader", shared_loader(core.get_config_variable("data_path")))
        self._config = client_config(self.call_timeout, self.retry_mode)
        pages = type("SessionPages", (GuardedPages,), {"max_pages": self.max_pages})
        mixin = _guarded_pagination(pages)
        self._session.events.register("creating-client-class",
                                      lambda base_classes, **_kwargs: base_classes.insert(0, mixin))

    @property
    def configured_region(self) -> str | None:
        """The region the profile or environment names (AWS_REGION, AWS_DEFAULT_REGION, `region` in a profile)."""
        return self._session.region_name or None

    @property
    def configured_account(self) -> str | None:
        """The account the profile names before any call (its `role_arn`'s, or `sso_account_id`): where a profile
        that gives no working credentials would have scanned."""
        config = self._session._session.get_scoped_config() if self.profile else {}
        role = ROLE_ARN_ACCOUNT.match(str(config.get("role_arn") or ""))
        account = role.group(1) if role else str(config.get("sso_account_id") or "")
        return account if ACCOUNT_ID.fullmatch(account) else None

    @property
    def region_name(self) -> str:
        return self._session.region_name or self.default_region or HOME_REGION

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def cancel(self) -> None:
        """Stop the scan: every call not yet started raises ScanCancelled, and no call retries."""
        self._cancelled.set()
        if self.rates is not None:
            self.rates.wake()  # a thread waiting for a token looks again, and stops

    def client(self, service: str, region: str | None = None):
        region = region or self.region_name
        key = (service, region)
        client = self._clients.get(key)
        if client is not None:
            return client
        with self._lock:
            lock = self._client_locks.setdefault(key, threading.Lock())
            if not self._clients:  # the first client alone, under the session-wide lock: see `_lock`
                return self._build_client(key)
        with lock:
            return self._clients.get(key) or self._build_client(key)

    def _build_client(self, key: tuple[str, str]):
        """A guarded client, made once per key (its lock held by the caller)."""
        service, region = key
        client = self._session.client(service, region_name=region, config=self._config)
        events = client.meta.events
        events.register("before-call.*.*", _guard)
        events.register("before-call.*.*", self._start_clock)
        if self.rates is not None:  # first: the budget check after it counts the wait for a token
            events.register("before-send.*.*", functools.partial(self._take_token, service, region))
        events.register("before-send.*.*", self._check_clock)
        # botocore passes the send hook no handle on the connection, so it gets the client's own
        events.register("before-send.*.*", functools.partial(self._send_in_time, client._endpoint.http_session))
        # deeper than botocore's own `needs-retry.<service>` handler, so asked first
        events.register_first("needs-retry.*.*", self._may_retry)
        events.register("before-parse.*.*", _check_answer)
        events.register("after-call-error.*.*", _name_unreadable)
        self._clients[key] = client
        return client

    # -- the token buckets, the time budget and the cancel flag, as botocore hooks

    def _take_token(self, service: str, region: str, event_name: str = "", **_kwargs) -> None:
        """Wait for the call's token (scanner/rates.py) before each attempt is sent."""
        key = self.rates.key(self.account, region, service, event_name.rsplit(".", 1)[-1])
        try:
            self.rates.take(key, lambda: self.cancelled)
        except Cancelled:
            raise ScanCancelled() from None

    def _start_clock(self, context=None, **_kwargs) -> None:
        if self.cancelled:
            raise ScanCancelled()
        if context is not None:
            context[_DEADLINE] = time.monotonic() + self.call_timeout

    def _check_clock(self, request=None, **kwargs) -> None:
        """Refuse an attempt that would start after the budget is spent, naming what the attempts before it met."""
        if self.cancelled:
            raise ScanCancelled()
        context = getattr(request, "context", None) or {}
        if _DEADLINE in context and time.monotonic() >= context[_DEADLINE]:
            attempts = context.get("retries", {}).get("attempt", 1)
            code, last = context.get(_LAST_FAILURE) or (None, "budget spent before a retry")
            raise CallTimeout(operation=kwargs.get("event_name", "").rsplit(".", 1)[-1] or "a call",
                              seconds=self.call_timeout, attempts=attempts - 1, last=last, last_code=code)

    def _send_in_time(self, http_session, request=None, **kwargs):
        """Send one attempt as botocore would, but read its answer within the call's budget: no read waits past
        it (botocore's read timeout is per read) and the body stops being read when it runs out. The answer's
        length is checked against its Content-Length, which botocore does not enforce."""
        context = getattr(request, "context", None)
        if request is None or request.stream_output or context is None or _DEADLINE not in context:
            return None  # a streamed answer (S3 GetObject) is read, and its length checked, by its reader
        deadline = context[_DEADLINE]
        context["read_timeout"] = max(min(self._config.read_timeout, deadline - time.monotonic()), 0.001)
        request.stream_output = True  # headers only: the body is read below
        try:
            response = http_session.send(request)
        except ReadTimeoutError as error:
            if deadline - time.monotonic() < 0.05:  # the read waited as long as the budget had left
                raise AnswerTooSlow(endpoint_url=request.url) from error
            raise
        finally:
            request.stream_output = False
        body = self._read_in_time(response.raw, request, deadline)
        declared = response.headers.get("content-length")
        if (declared and declared.isdigit() and len(body) < int(declared) and request.method != "HEAD"
                and response.status_code not in (204, 304)
                and response.headers.get("content-encoding", "identity") == "identity"):
            raise AnswerCutShort(endpoint_url=request.url, received=len(body), declared=int(declared), request=request)
        page = error_page(response.status_code, body)
        if page:
            raise ErrorPage(operation=kwargs.get("event_name", "").rsplit(".", 1)[-1] or "a call", detail=page)
        return AWSResponse(response.url, response.status_code, response.headers, _ReadBody(body))

    def _read_in_time(self, raw: Any, request, deadline: float) -> bytes:
        read = getattr(raw, "read1", None) or raw.read  # read1: at most one read from the socket
        chunks = []
        try:
            while True:
                if self.cancelled:
                    raise ScanCancelled()
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AnswerTooSlow(endpoint_url=request.url)
                if left < self._config.read_timeout:
                    _set_read_timeout(raw, left)
                chunk = read(READ_CHUNK)
                if not chunk:
                    break
                chunks.append(chunk)
        except (URLLib3ReadTimeoutError, socket.timeout) as error:
            if deadline - time.monotonic() < 0.05:  # the read waited as long as the budget had left
                raise AnswerTooSlow(endpoint_url=request.url) from error
            raise ReadTimeoutError(endpoint_url=request.url, error=error) from error
        except ProtocolError as error:
            raise ConnectionClosedError(error=error, request=request, endpoint_url=request.url) from error
        except (BotoCoreError, ScanCancelled):
            raw.close()  # the rest of the answer is not wanted: the connection cannot serve another call
            raise
        except Exception as error:
            raw.close()
            raise HTTPClientError(error=error) from error
        finally:
            raw.release_conn()
        return b"".join(chunks)

    def _may_retry(self, request_dict=None, response=None, caught_exception=None, attempts=1, **kwargs):
        """False (no retry) once cancelled; None lets botocore's standard retry decide while its back-off (at
        most 2**attempts, 20 s, plus 5 s a service may ask for) ends within the budget. Nearer the end this
        decides itself, with botocore's own retry conditions: a back-off that ends in time, else CallTimeout
        naming what the attempts met. Each failed attempt is noted for that message."""
        context = (request_dict or {}).get("context")
        if context is None:
            return None
        if isinstance(caught_exception, ErrorPage):
            context[_LAST_FAILURE] = ("an HTML page", caught_exception.kwargs["detail"])  # an answer, but not AWS's
        elif caught_exception is not None:
            if not (isinstance(caught_exception, (AnswerTooSlow, CallTimeout)) and _LAST_FAILURE in context):
                context[_LAST_FAILURE] = (None, str(caught_exception))  # not the budget's own end over an AWS answer
        elif response is not None and isinstance(response[1], dict) and "Error" in response[1]:
            error = response[1]["Error"]
            context[_LAST_FAILURE] = (str(error.get("Code") or ""), str(error.get("Message") or ""))
            if self.rates is not None and context[_LAST_FAILURE][0] in THROTTLING_CODES:
                model = kwargs.get("operation")
                service = model.service_model.service_name if model is not None else ""
                region = context.get("client_region") or self.region_name
                self.rates.throttled_answer(self.rates.key(self.account, region, service,
                                                           model.name if model is not None else ""))
        if self.cancelled:
            return False
        deadline = context.get(_DEADLINE)
        if deadline is None:
            return None
        left = deadline - time.monotonic()
        if left > min(2 ** (attempts - 1), MAX_BACKOFF) + RETRY_AFTER_MAX:
            return None
        retry = _RETRY_EVENTS.create_retry_context(request_dict=request_dict, response=response, attempts=attempts,
                                                   caught_exception=caught_exception, operation=kwargs.get("operation"))
        if not _RETRY_CONDITIONS.is_retryable(retry):
            return None  # botocore will not retry it either: the answer surfaces as it is
        room = left - min(1.0, self.call_timeout / 10)  # time for the back-off that leaves the attempt a chance
        if room > 0:
            return random.uniform(0, min(room, 2 ** (attempts - 1)))
        code, last = context.get(_LAST_FAILURE) or (None, "no answer")
        raise CallTimeout(operation=_operation_name(kwargs), seconds=self.call_timeout, attempts=attempts, last=last,
                          last_code=code)

    # -- another account

    def assume_role(self, role_arn: str, session_name: str = ROLE_SESSION_NAME) -> "AwsSession":
        """A session in the account of `role_arn`, with the role's credentials: fetched now, so a role that cannot
        be assumed (denied, no such role, a trust policy that does not name us) raises here, as the ClientError
        STS answered; fetched again before they expire, so a long scan outlives the first hour.

        AssumeRole is not a read and is on no list: it goes out through an STS client of its own, made from this
        session's credentials, whose guard allows AssumeRole alone; no other client ever sends it."""
        if self.cancelled:
            raise ScanCancelled()
        source = self._session.get_credentials()
        if source is None:
            raise NoCredentialsError()
        fetcher = AssumeRoleCredentialFetcher(self._credential_client, source, role_arn,
                                              extra_args={"RoleSessionName": session_name}, cache={})
        first = fetcher.fetch_credentials()
        credentials = RefreshableCredentials.create_from_metadata(first, refresh_using=fetcher.fetch_credentials,
                                                                  method=_GivenCredentials.METHOD)
        account = ROLE_ARN_ACCOUNT.match(role_arn)
        return AwsSession(default_region=self.region_name, call_timeout=self.call_timeout, max_pages=self.max_pages,
                          credentials=credentials, account=account.group(1) if account else None, rates=self.rates,
                          retry_mode=self.retry_mode, assumed_from=(self, role_arn, session_name))

    def _credential_client(self, service: str, **credentials: Any):
        """The STS client AssumeRole goes out by (botocore's fetcher asks for it with the source credentials)."""
        client = self._session.client(service, region_name=self.region_name, config=self._config, **credentials)
        client.meta.events.register("before-call.*.*", _credential_guard)
        return client

    # -- calls about no region

    def identity(self) -> dict:
        """Account, partition and caller ARN from STS."""
        answer = self.client("sts").get_caller_identity()
        arn = answer.get("Arn") or ""
        if arn.count(":") < 5 or not answer.get("Account"):
            raise UnreadableAnswer(operation="GetCallerIdentity", detail="the answer names no account and caller ARN")
        self.account = self.account or answer["Account"]
        return {"account": answer["Account"], "partition": arn.split(":")[1], "caller_arn": arn}

    def region_statuses(self) -> dict[str, str]:
        """Every region of the account's partition with its opt-in status (DescribeRegions, AllRegions);
        UnreadableAnswer when the answer lists none or one without a region's name (AWS lists every region)."""
        answer = self.client("ec2").describe_regions(AllRegions=True)
        listed = answer.get("Regions")
        if not isinstance(listed, list) or not listed:
            raise UnreadableAnswer(operation="DescribeRegions", detail="the answer lists no regions")
        statuses = {}
        for region in listed:
            name = region.get("RegionName") if isinstance(region, dict) else None
            if not isinstance(name, str) or not REGION_SHAPE.fullmatch(name):
                raise UnreadableAnswer(operation="DescribeRegions",
                                       detail="the answer lists a region without a region's name")
            statuses[name] = region.get("OptInStatus") or "opt-in-not-required"
        return statuses

    def enabled_regions(self) -> list[str]:
        """Every region enabled for the account (an opt-in region counts once it is opted in); never none:
        a scan of no region would be a complete scan of nothing."""
        enabled = sorted(name for name, status in self.region_statuses().items() if status != NOT_OPTED_IN)
        if not enabled:
            raise UnreadableAnswer(operation="DescribeRegions",
                                   detail="the answer lists no region enabled for the account; name the regions "
                                          "to scan with --region")
        return enabled

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
ACCOUNT_ID = re.compile(r"\d{12}")
ROLE_ARN_ACCOUNT = re.compile(r"arn:aws[a-z-]*:iam::(\d{12}):role/")
REGION_SHAPE = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")  # us-east-1, us-gov-west-1, ap-southeast-5 (fullmatch)


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
        shaped = bool(REGION_SHAPE.fullmatch(region))
        if shaped and (statuses is None or statuses.get(region, NOT_OPTED_IN) != NOT_OPTED_IN):
            continue
        if shaped and region in statuses:
            problems.append(f"{region} is not enabled for this account (an opt-in region: enable it first, or leave it out)")
            continue
        candidates = sorted(statuses) if statuses else known_region_names()
        close = [c for c in difflib.get_close_matches(region.lower(), candidates, n=2, cutoff=0.75) if c != region]
        hint = f" (did you mean {close[0]}?)" if close else ""
        shown = region if region.isprintable() and region.strip() == region else repr(region)  # 'us-east-1\n'
        problems.append(f"{shown} is not {'a region of this account' if shaped else 'a region name'}{hint}")
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
