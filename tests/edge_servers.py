"""Misbehaving AWS endpoints for tests, on loopback: one that never answers, and a proxy in front of moto that
answers chosen calls itself (an HTML page, a broken body, silence, a trickle, a body cut short, moto's own
answer rewritten, or a call moto does not implement: `MaintenanceFake`) and records what it was asked; and
CloudTrail's event history (LookupEvents), which moto lacks, as an answer rule for that proxy.

The edge is what is faked here; the scanner runs its real boto3 path through AWS_ENDPOINT_URL."""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import subprocess
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterator, Mapping
from urllib.parse import parse_qs, urlparse
from xml.sax.saxutils import escape

HOLD = "hold"  # an answer rule's reply: keep the connection open and never answer
FORWARD = None  # an answer rule's reply: pass the request on to moto


@contextmanager
def silent_endpoint() -> Iterator[tuple[str, list[socket.socket]]]:
    """An endpoint that accepts TCP connections and never answers a byte; yields its URL and the connections
    it holds (so a test can wait until a call is in flight)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}", held
    finally:
        stop.set()
        thread.join(timeout=5)
        for connection in held:
            connection.close()
        server.close()


@dataclass(frozen=True)
class Request:
    """What the proxy saw: the signing service and region, the API action (a REST call's path), the method and
    the path with its query, and the headers that say the protocol."""

    service: str
    region: str
    action: str
    method: str = ""
    path: str = ""
    target: str = ""  # X-Amz-Target: the JSON protocols
    content_type: str = ""
    # the query protocols' form parameters (Marker, UpdateActionStatus.member.1, ...), each name's first value
    params: Mapping[str, str] = field(default_factory=dict, compare=False)
    body: bytes = b""  # what the request sent (a JSON protocol's parameters)


def _describe(handler: BaseHTTPRequestHandler, body: bytes) -> Request:
    scope = re.search(r"Credential=[^/]+/\d+/([^/]+)/([^/]+)/aws4_request", handler.headers.get("Authorization", ""))
    region, service = scope.groups() if scope else ("", "")
    target = handler.headers.get("X-Amz-Target", "")
    form = {} if target else {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
    action = target.rsplit(".", 1)[-1] if target else form.get("Action", "")
    return Request(service, region, action or urlparse(handler.path).path, handler.command, handler.path, target,
                   handler.headers.get("Content-Type", ""), form, body)


@dataclass(frozen=True)
class Trickle:
    """An answer whose headers come at once and whose body comes a byte every `interval` seconds."""

    status: int
    content_type: str
    body: bytes
    interval: float


@dataclass(frozen=True)
class CutShort:
    """An answer that announces `declared` bytes, sends `body` (fewer) and closes the connection."""

    status: int
    content_type: str
    body: bytes
    declared: int


@dataclass(frozen=True)
class Rewrite:
    """moto's own answer, passed through `change(status, headers, body) -> (status, headers, body)`; a fourth
    item, when returned, is the length to announce (longer than the body: the connection closes mid-answer)."""

    change: Callable


Answer = Callable[[Request], "tuple | str | Trickle | CutShort | Rewrite | None"]


@contextmanager
def aws_proxy(upstream: str | None, answer: Answer = lambda request: FORWARD) -> Iterator[tuple[str, list[Request]]]:
    """A proxy on loopback: `answer(request)` gives (status, content type, body[, [(header, value), ...]]) to
    answer itself, HOLD to never answer, FORWARD to pass the request on to `upstream` (moto), or a Trickle,
    CutShort or Rewrite. Yields the URL and the requests seen."""
    seen: list[Request] = []
    released = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            request = _describe(self, body)
            seen.append(request)
            reply = answer(request)
            if reply == HOLD:
                released.wait()
                return
            declared = None
            if isinstance(reply, Trickle):
                self._trickle(reply)
                return
            if reply is FORWARD or isinstance(reply, Rewrite):
                status, headers, payload = self._forward(body)
                if isinstance(reply, Rewrite):
                    status, headers, payload, *rest = reply.change(status, headers, payload)
                    declared = rest[0] if rest else None
            elif isinstance(reply, CutShort):
                status, headers, payload, declared = reply.status, [("Content-Type", reply.content_type)], reply.body, reply.declared
            else:
                status, content_type, payload = reply[:3]
                headers = [("Content-Type", content_type), *(reply[3] if len(reply) > 3 else [])]
            self.send_response(status)
            for key, value in headers:
                if key.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload) if declared is None else declared))
            self.end_headers()
            self.wfile.write(payload)
            if declared is not None:
                self.close_connection = True

        def _trickle(self, reply: Trickle) -> None:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.flush()
            try:
                for n in range(len(reply.body)):
                    if released.wait(reply.interval):
                        return
                    self.wfile.write(reply.body[n:n + 1])
                    self.wfile.flush()
            except OSError:  # the client gave up and closed the connection
                self.close_connection = True

        def _forward(self, body: bytes):
            target = urlparse(upstream)
            connection = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection",)}
                connection.request(self.command, self.path, body=body, headers=headers)
                response = connection.getresponse()
                return response.status, response.getheaders(), response.read()
            finally:
                connection.close()

        do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _handle

        def log_message(self, *_args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        released.set()
        server.shutdown()
        server.server_close()


IDENTITY = b"""<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/scanner</Arn><UserId>AIDAEXAMPLE</UserId>
  <Account>123456789012</Account></GetCallerIdentityResult>
  <ResponseMetadata><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ResponseMetadata>
</GetCallerIdentityResponse>"""

REGIONS = b"""<DescribeRegionsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>00000000-0000-0000-0000-000000000000</requestId>
  <regionInfo><item><regionName>us-east-1</regionName><regionEndpoint>ec2.us-east-1.amazonaws.com</regionEndpoint>
  <optInStatus>opt-in-not-required</optInStatus></item></regionInfo>
</DescribeRegionsResponse>"""


S3_SUBRESOURCES = {"location": "GetBucketLocation", "versioning": "GetBucketVersioning", "tagging": "GetBucketTagging"}


def operation_of(request: Request) -> str:
    """The API operation a request calls, REST ones (S3, Lambda, Route 53, EFS) and CloudWatch's CBOR included."""
    if not request.action.startswith("/"):
        return request.action
    path, _, query = request.path.partition("?")
    if "/operation/" in path:  # smithy RPC v2 (CloudWatch): /service/<name>/operation/<Operation>
        return path.rsplit("/", 1)[-1]
    if request.service == "s3":
        keys = {part.partition("=")[0] for part in query.split("&") if part}
        if request.method == "HEAD":
            return "HeadBucket"
        if path.strip("/") == "":
            return "ListBuckets"
        for key, operation in S3_SUBRESOURCES.items():
            if key in keys:
                return operation
        return "ListObjectsV2" if "list-type" in keys else "GetObject"
    if request.service == "lambda":
        return "ListTags" if "/tags/" in path else "ListFunctions"
    if request.service == "route53":
        if "/tags/" in path:  # GET .../tags/hostedzone/ID for one zone, POST .../tags/hostedzone for several
            return "ListTagsForResources" if request.method == "POST" else "ListTagsForResource"
        return "ListHostedZones"
    if request.service == "elasticfilesystem":
        return "DescribeFileSystems"
    return request.action


def denied(request: Request, code: str = "AccessDenied", message: str = "denied by the test's policy"):
    """An AWS error answer in the request's protocol (JSON for X-Amz-Target calls, rest-json for Lambda and EFS,
    EC2's, S3's and the query services' XML), as a service whose policy denies the call sends it."""
    if request.target:
        kind = {"AccessDenied": "AccessDeniedException"}.get(code, code)
        return 400, request.content_type or "application/x-amz-json-1.0", json.dumps({"__type": kind, "message": message}).encode()
    if request.service in ("lambda", "elasticfilesystem"):
        return 403, "application/json", json.dumps({"Message": message}).encode(), [("x-amzn-ErrorType", f"{code}Exception")]
    if request.service == "ec2":
        code = {"AccessDenied": "UnauthorizedOperation"}.get(code, code)
        return 403, "text/xml", (f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error>"
                                 "</Errors><RequestID>x</RequestID></Response>").encode()
    if request.service == "s3":
        return 403, "application/xml", f"<Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()
    return 403, "text/xml", (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message>"
                             "</Error><RequestId>x</RequestId></ErrorResponse>").encode()


# ------------------------------------------------------------------ calls moto does not implement, faked

# What a query-protocol list's items are called in the XML AWS sends (the API reference's
# `PendingMaintenanceActionDetails.PendingMaintenanceAction.N`): botocore reads the items by these names only.
QUERY_LIST_MEMBERS = {
    "PendingMaintenanceActions": "ResourcePendingMaintenanceActions",
    "PendingMaintenanceActionDetails": "PendingMaintenanceAction",
    "UpdateActions": "UpdateAction",
    "ServiceUpdates": "ServiceUpdate",
}
RDS_XMLNS = "http://rds.amazonaws.com/doc/2014-10-31/"
ELASTICACHE_XMLNS = "http://elasticache.amazonaws.com/doc/2015-02-02/"


def query_xml(fields: Mapping[str, Any]) -> str:
    """The XML of a query-protocol structure: a dict's members as elements, lists as their named items, True as
    `true`; None is left out, as AWS leaves out a field it has no value for."""
    parts = []
    for name, value in fields.items():
        if value is None:
            continue
        if isinstance(value, list):
            member = QUERY_LIST_MEMBERS.get(name, "member")
            inner = "".join(f"<{member}>{query_xml(v) if isinstance(v, dict) else escape(str(v))}</{member}>"
                            for v in value)
        elif isinstance(value, dict):
            inner = query_xml(value)
        elif isinstance(value, bool):
            inner = "true" if value else "false"
        else:
            inner = escape(str(value))
        parts.append(f"<{name}>{inner}</{name}>")
    return "".join(parts)


def query_answer(action: str, xmlns: str, result: Mapping[str, Any]) -> tuple[int, str, bytes]:
    """A query-protocol service's 200 answer to `action`, as RDS and ElastiCache send it."""
    return 200, "text/xml", (
        f'<{action}Response xmlns="{xmlns}"><{action}Result>{query_xml(result)}</{action}Result>'
        f"<ResponseMetadata><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ResponseMetadata>"
        f"</{action}Response>").encode()


def _members(params: Mapping[str, str], name: str) -> list[str]:
    return [v for k, v in sorted(params.items(), key=lambda kv: kv[0]) if k.startswith(f"{name}.member.")]


@dataclass
class MaintenanceFake:
    """RDS DescribePendingMaintenanceActions and ElastiCache DescribeUpdateActions and DescribeServiceUpdates,
    which moto does not implement, answered as AWS answers them (query protocol XML), for `aws_proxy`: per
    region (the request's signing region), a page at a time (Marker; MaxRecords or `page_size` items a page),
    filtered by the statuses the request names. Items are dicts in the API's field names (dates as ISO 8601
    text). Every other call passes on to moto. `fail` maps (region, action) to an error code answered instead."""

    pending_maintenance: dict[str, list[dict]] = field(default_factory=dict)
    update_actions: dict[str, list[dict]] = field(default_factory=dict)
    service_updates: dict[str, list[dict]] = field(default_factory=dict)
    page_size: int = 100
    fail: dict[tuple[str, str], str] = field(default_factory=dict)

    def __call__(self, request: Request):
        if request.action not in ("DescribePendingMaintenanceActions", "DescribeUpdateActions", "DescribeServiceUpdates"):
            return FORWARD
        code = self.fail.get((request.region, request.action))
        if code:
            return denied(request, code)
        params = request.params
        if request.action == "DescribePendingMaintenanceActions":
            items, key, xmlns = self.pending_maintenance.get(request.region, []), "PendingMaintenanceActions", RDS_XMLNS
        elif request.action == "DescribeUpdateActions":
            items, key, xmlns = self.update_actions.get(request.region, []), "UpdateActions", ELASTICACHE_XMLNS
            wanted = _members(params, "UpdateActionStatus")
            items = [i for i in items if not wanted or i.get("UpdateActionStatus") in wanted]
        else:
            items, key, xmlns = self.service_updates.get(request.region, []), "ServiceUpdates", ELASTICACHE_XMLNS
        updates = _members(params, "ServiceUpdateStatus")
        items = [i for i in items if not updates or i.get("ServiceUpdateStatus") in updates]
        start = int(params.get("Marker") or 0)
        size = int(params.get("MaxRecords") or self.page_size)
        end = start + size
        return query_answer(request.action, xmlns, {key: items[start:end], "Marker": str(end) if end < len(items) else None})


def identity_only(request: Request):
    """STS and DescribeRegions answer at once; every other call never does: the listings hang, not the start."""
    if request.action == "GetCallerIdentity":
        return 200, "text/xml", IDENTITY
    if request.action == "DescribeRegions":
        return 200, "text/xml", REGIONS
    return HOLD


def aws_variables(endpoint: str) -> dict[str, str]:
    """boto3's standard chain pointed at `endpoint` with test credentials, no profile or config file read."""
    return {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}


def point_boto3_at(monkeypatch, endpoint: str) -> None:
    """This process's boto3 pointed at `endpoint`, as a user's environment would point it."""
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    for key, value in aws_variables(endpoint).items():
        monkeypatch.setenv(key, value)


def scan_env(endpoint: str, **extra: str) -> dict[str, str]:
    """The environment of a `driftgraph` subprocess pointed at `endpoint` with test credentials."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "CI"}
    env.update(aws_variables(endpoint))
    env.update(extra)
    return {k: v for k, v in env.items() if v is not None}


def driftgraph(args: list[str], env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "driftgraph", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


# ------------------------------------------------------------------------------------ CloudTrail's event history

CLOUDTRAIL_TARGET = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101."


@dataclass
class EventHistory:
    """LookupEvents as CloudTrail answers it (JSON 1.1), as an `aws_proxy` answer rule: each region's events,
    newest first, filtered by the one lookup attribute asked (ResourceName matches an event's Resources), in pages
    of `page_size` with an opaque NextToken. Every other call is passed on (to moto, or nowhere).

    `events` hold LookupEvents' own event shape (`history_event` makes one from a CloudTrail record). `script`
    answers chosen calls itself: it gets (call number from 0, region, request) and returns a reply (as
    `denied` makes) or None for the real answer. `calls` records (clock(), region, attribute value, NextToken)."""

    events: dict = None  # region -> list of LookupEvents events
    page_size: int = 50
    script: Callable = None
    clock: Callable = None

    def __post_init__(self) -> None:
        self.events = self.events or {}
        self.calls: list[tuple] = []

    def answer(self, request: Request):
        if not request.target.startswith(CLOUDTRAIL_TARGET):
            return FORWARD
        parameters = json.loads(request.body or b"{}")
        attributes = parameters.get("LookupAttributes") or []
        value = attributes[0]["AttributeValue"] if attributes else None
        token = parameters.get("NextToken")
        number = len(self.calls)
        self.calls.append((self.clock() if self.clock else None, request.region, value, token))
        scripted = self.script(number, request.region, request) if self.script else None
        if scripted is not None:
            return scripted
        matching = [e for e in sorted(self.events.get(request.region, []), key=lambda e: e["EventTime"], reverse=True)
                    if value is None or any(r.get("ResourceName") == value for r in e.get("Resources", []))]
        start = int(token.removeprefix("page-")) if token else 0
        page = {"Events": matching[start:start + self.page_size]}
        if start + self.page_size < len(matching):
            page["NextToken"] = f"page-{start + self.page_size}"
        return 200, "application/x-amz-json-1.1", json.dumps(page).encode()


def history_event(record: dict, resource_names: list[str], resource_type: str | None = None) -> dict:
    """A CloudTrail record as LookupEvents returns it: its own fields, the resources it names, and the record
    itself as the CloudTrailEvent string."""
    from datetime import datetime

    when = datetime.fromisoformat(record["eventTime"].replace("Z", "+00:00")).timestamp()
    identity = record.get("userIdentity") or {}
    username = identity.get("userName") or (identity.get("arn") or "").rsplit("/", 1)[-1] or None
    return {
        "EventId": record["eventID"],
        "EventName": record["eventName"],
        "ReadOnly": "false",
        "AccessKeyId": identity.get("accessKeyId", ""),
        "EventTime": when,
        "EventSource": record["eventSource"],
        **({"Username": username} if username else {}),
        "Resources": [{"ResourceType": resource_type, "ResourceName": name} for name in resource_names],
        "CloudTrailEvent": json.dumps(record),
    }


def throttled(request: Request):
    """CloudTrail's answer past its rate: botocore's standard retries back off and ask again."""
    return denied(request, "ThrottlingException", "Rate exceeded")
