"""Misbehaving AWS endpoints for tests, on loopback: one that never answers, and a proxy in front of moto that
answers chosen calls itself (an HTML page, a broken body, silence) and records what it was asked.

The edge is what is faked here; the scanner runs its real boto3 path through AWS_ENDPOINT_URL."""

from __future__ import annotations

import http.client
import os
import re
import socket
import subprocess
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterator
from urllib.parse import parse_qs, urlparse

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
    """What the proxy saw: the signing service and region, and the API action."""

    service: str
    region: str
    action: str


def _describe(handler: BaseHTTPRequestHandler, body: bytes) -> Request:
    scope = re.search(r"Credential=[^/]+/\d+/([^/]+)/([^/]+)/aws4_request", handler.headers.get("Authorization", ""))
    region, service = scope.groups() if scope else ("", "")
    target = handler.headers.get("X-Amz-Target", "")
    action = target.rsplit(".", 1)[-1] if target else (parse_qs(body.decode("utf-8", "replace")).get("Action") or [""])[0]
    return Request(service, region, action or urlparse(handler.path).path)


Answer = Callable[[Request], "tuple[int, str, bytes] | str | None"]


@contextmanager
def aws_proxy(upstream: str | None, answer: Answer = lambda request: FORWARD) -> Iterator[tuple[str, list[Request]]]:
    """A proxy on loopback: `answer(request)` gives (status, content type, body) to answer itself, HOLD to never
    answer, or FORWARD to pass the request on to `upstream` (moto). Yields the URL and the requests seen."""
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
            if reply is FORWARD:
                status, headers, payload = self._forward(body)
            else:
                status, content_type, payload = reply
                headers = [("Content-Type", content_type)]
            self.send_response(status)
            for key, value in headers:
                if key.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

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


def identity_only(request: Request):
    """STS and DescribeRegions answer at once; every other call never does: the listings hang, not the start."""
    if request.action == "GetCallerIdentity":
        return 200, "text/xml", IDENTITY
    if request.action == "DescribeRegions":
        return 200, "text/xml", REGIONS
    return HOLD


def scan_env(endpoint: str, **extra: str) -> dict[str, str]:
    """The environment of a `driftgraph` subprocess pointed at `endpoint` with test credentials."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "CI"}
    env.update({"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull})
    env.update(extra)
    return {k: v for k, v in env.items() if v is not None}


def driftgraph(args: list[str], env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "driftgraph", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)
