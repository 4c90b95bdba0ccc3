"""Terraform state from backends: S3 with workspaces (moto in server mode), the HTTP backend and Terraform Cloud
(fake servers on loopback, started and stopped by each test), standard input, and the locations of code's backends."""

from __future__ import annotations

import json
import os
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Iterator

import pytest

from conftest import run_cli
from driftgraph.scan import failed_owner_sources
from importers import terraform_backends
from importers.terraform_backends import (
    backend_locations,
    backend_states,
    display_url,
    is_backend_location,
    parse_s3_workspaces,
    parse_tfc,
    tfc_token,
    workspace_of_key,
)
from importers.terraform_state import load_terraform_states
from scanner.permissions import parse_state_location, state_statements

TOKEN = "tok-Planted-Secret-123"
PASSWORD = "pw-Planted-Secret-456"


def _state(queue: str, lineage: str, serial: int = 1) -> bytes:
    """A format-4 state declaring one queue, its lineage telling one workspace from another."""
    attributes = {"id": f"https://sqs.us-east-1.amazonaws.com/123456789012/{queue}", "name": queue,
                  "arn": f"arn:aws:sqs:us-east-1:123456789012:{queue}"}
    return json.dumps({
        "version": 4, "terraform_version": "1.9.8", "serial": serial, "lineage": lineage, "outputs": {},
        "resources": [{"mode": "managed", "type": "aws_sqs_queue", "name": "q",
                       "provider": 'provider["registry.terraform.io/hashicorp/aws"]',
                       "instances": [{"schema_version": 0, "attributes": attributes}]}],
    }).encode()


def _lineage(n: int) -> str:
    return f"{n:08d}-2222-3333-4444-555555555555"


def _rows(result) -> list[tuple[str, str]]:
    return [(row["path"], row["status"]) for row in result.sources]


def _everything(result) -> str:
    """All a result would store or show: rows, errors, records."""
    return json.dumps([result.sources, [e.__dict__ for e in result.errors], [repr(r) for r in result.records]])


# ------------------------------------------------------------------------------------------------ fake servers


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class FakeServer:
    """An HTTP server on loopback answering each path from `routes` (status, headers, body), recording requests."""

    routes: dict[str, Callable[["FakeServer", BaseHTTPRequestHandler], tuple[int, dict, bytes]]] = field(
        default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    base: str = ""
    port: int = 0


@contextmanager
def fake_server(host: str = "127.0.0.1") -> Iterator[FakeServer]:
    fake = FakeServer()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def _answer(self):
            fake.seen.append(Seen(self.command, self.path, dict(self.headers)))
            route = fake.routes.get(self.path) or fake.routes.get(self.path.split("?")[0])
            status, headers, body = route(fake, self) if route else (404, {}, b'{"errors":[{"status":"404"}]}')
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            if "Content-Length" not in headers and "Transfer-Encoding" not in headers:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if headers.get("Transfer-Encoding") == "chunked":
                for start in range(0, len(body), 1000):
                    piece = body[start:start + 1000]
                    self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                self.wfile.write(b"0\r\n\r\n")
            else:
                self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = _answer

    server = ThreadingHTTPServer((host, 0), Handler)
    fake.port = server.server_address[1]
    fake.base = f"http://{host}:{fake.port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _fixed(status: int, body: bytes, headers: dict | None = None):
    return lambda fake, handler: (status, headers or {}, body)


def _authorized(expected: str, body: bytes):
    """200 with `body` to a request carrying exactly this Authorization header, else 401."""
    def answer(fake, handler):
        if handler.headers.get("Authorization") != expected:
            return 401, {}, b'{"errors":[{"status":"401","title":"unauthorized"}]}'
        return 200, {}, body
    return answer


# ------------------------------------------------------------------------------------------------ syntax


def test_backend_locations_are_told_from_files_folders_globs_and_s3_prefixes():
    assert [is_backend_location(x) for x in ("-", "s3+workspaces://b/k", "tfc://acme/prod",
                                              "https://gitlab.example.com/api/v4/projects/1/terraform/state/p",
                                              "http://127.0.0.1:8080/state")] == [True] * 5
    assert [is_backend_location(x) for x in ("s3://b/prefix", "infra/", "states/**/*.tfstate", "-x.tfstate",
                                              "./-")] == [False] * 5


def test_tfc_locations_name_a_workspace_by_name_id_prefix_or_tags():
    assert parse_tfc("tfc://acme/prod").source() == "tfc://app.terraform.io/acme/prod"
    assert parse_tfc("tfc://TFE.Corp.example/acme/prod").source() == "tfc://tfe.corp.example/acme/prod"
    assert parse_tfc("tfc://ws-SihZTyXKfNXUWuUa").workspace_id == "ws-SihZTyXKfNXUWuUa"
    assert parse_tfc("tfc://tfe.corp.example/ws-SihZTyXKfNXUWuUa").source() == \
        "tfc://tfe.corp.example/ws-SihZTyXKfNXUWuUa"
    assert parse_tfc("tfc://acme/app-*").prefix == "app-"
    assert parse_tfc("tfc://127.0.0.1:8443/acme/?tags=team-a,prod").tags == ("team-a", "prod")
    for bad in ("tfc://", "tfc://acme", "tfc://acme/", "tfc://h.example/acme/a/b", "tfc://acme/a*b*",
                "tfc://acme/prod?tags=x", "tfc://acme/prod?token=x"):
        with pytest.raises(ValueError):
            parse_tfc(bad)


def test_displayed_urls_carry_no_user_password_or_query_value():
    shown = display_url(f"https://bot:{PASSWORD}@gitlab.example.com/api/v4/projects/7/terraform/state/prod"
                        f"?private_token={TOKEN}&ref=main")
    assert shown == ("https://gitlab.example.com/api/v4/projects/7/terraform/state/prod"
                     "?private_token=<redacted>&ref=<redacted>")


def test_the_workspace_of_an_s3_key_is_found_as_the_s3_backend_lists_them():
    backend = parse_s3_workspaces("s3+workspaces://b/app/terraform.tfstate")
    assert backend.workspace_key_prefix == "env:"
    assert workspace_of_key("env:/staging/app/terraform.tfstate", backend) == "staging"
    assert workspace_of_key("env:/staging/other/terraform.tfstate", backend) is None  # another configuration's
    assert workspace_of_key("env:/a/b/app/terraform.tfstate", backend) is None  # a workspace name has no "/"
    assert workspace_of_key("app/terraform.tfstate", backend) is None
    bare = parse_s3_workspaces("s3+workspaces://b/terraform.tfstate?workspace_key_prefix=")
    assert workspace_of_key("dev/terraform.tfstate", bare) == "dev"
    for bad in ("s3+workspaces://b", "s3+workspaces://b/", "s3+workspaces://b/dir/", "s3+workspaces://b/k?x=1"):
        with pytest.raises(ValueError):
            parse_s3_workspaces(bad)


def test_the_iam_policy_grants_the_key_and_the_same_key_in_every_workspace():
    location = "s3+workspaces://tf-states/app/terraform.tfstate?workspace_key_prefix=envs&region=eu-west-1"
    parsed = parse_state_location(location)
    backend = parse_s3_workspaces(location)  # the importer's reading and the policy's agree
    assert (parsed.bucket, parsed.prefix, parsed.workspace_key_prefix) == \
        (backend.bucket, backend.key, backend.workspace_key_prefix)
    objects, listing = state_statements([parsed])
    assert objects["Resource"] == ["arn:aws:s3:::tf-states/app/terraform.tfstate",
                                   "arn:aws:s3:::tf-states/envs/*/app/terraform.tfstate"]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["app/terraform.tfstate*", "envs/*"]}}
    with pytest.raises(ValueError):
        parse_state_location("tfc://acme/prod")


# ------------------------------------------------------------------------------------------------ S3 workspaces


def test_an_s3_backend_is_read_in_its_default_workspace_and_every_other(aws):
    """Through the real boto3 path against the moto server."""
    import boto3

    from scanner.clients import AwsSession

    s3 = boto3.client("s3", region_name="us-east-1")  # setup writes bypass the read-only session on purpose
    s3.create_bucket(Bucket="ws-states")
    key = "app/terraform.tfstate"
    s3.put_object(Bucket="ws-states", Key=key, Body=_state("q-default", _lineage(1)))
    s3.put_object(Bucket="ws-states", Key=f"env:/staging/{key}", Body=_state("q-staging", _lineage(2)))
    s3.put_object(Bucket="ws-states", Key=f"env:/prod/{key}", Body=_state("q-prod", _lineage(3)))
    s3.put_object(Bucket="ws-states", Key="env:/prod/other/terraform.tfstate", Body=_state("q-other", _lineage(4)))
    s3.put_object(Bucket="ws-states", Key=f"{key}.backup", Body=_state("q-old", _lineage(1)))
    s3.put_object(Bucket="ws-states", Key=f"env:/big/{key}", Body=b" " * 5000)

    result = load_terraform_states([f"s3+workspaces://ws-states/{key}"], session=AwsSession(default_region="us-east-1"),
                                   max_bytes=4000)

    assert _rows(result) == [
        (f"s3://ws-states/{key}", "loaded"),
        (f"s3://ws-states/env:/big/{key}", "refused"),
        (f"s3://ws-states/env:/prod/{key}", "loaded"),
        (f"s3://ws-states/env:/staging/{key}", "loaded"),
    ]
    messages = [row["message"] for row in result.sources]
    assert [m.split(":")[0] for m in messages] == ["workspace default", "workspace big", "workspace prod",
                                                   "workspace staging"]
    assert {(r.name, r.owner.source) for r in result.records} == {
        ("q-default", f"s3://ws-states/{key}"), ("q-prod", f"s3://ws-states/env:/prod/{key}"),
        ("q-staging", f"s3://ws-states/env:/staging/{key}")}
    (refusal,) = result.errors
    assert refusal.message.startswith(f"s3://ws-states/env:/big/{key}: 5,000 bytes, over the 4,000 bytes limit")


def test_an_s3_backend_with_its_own_prefix_and_no_default_state(aws):
    import boto3

    from scanner.clients import AwsSession

    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="ws-states-2")
    s3.put_object(Bucket="ws-states-2", Key="workspaces/dev/net.tfstate", Body=_state("q-dev", _lineage(5)))
    s3.put_object(Bucket="ws-states-2", Key="env:/ignored/net.tfstate", Body=_state("q-no", _lineage(6)))
    session = AwsSession(default_region="us-east-1")

    result = load_terraform_states(["s3+workspaces://ws-states-2/net.tfstate?workspace_key_prefix=workspaces",
                                    "s3+workspaces://ws-states-2/none.tfstate",
                                    "s3+workspaces://no-such-bucket-here/net.tfstate"], session=session)

    assert _rows(result) == [
        ("s3://ws-states-2/net.tfstate", "skipped"),
        ("s3://ws-states-2/workspaces/dev/net.tfstate", "loaded"),
        ("s3+workspaces://ws-states-2/none.tfstate", "error"),
        ("s3+workspaces://no-such-bucket-here/net.tfstate", "error"),
    ]
    assert result.sources[0]["message"] == ("workspace default: s3://ws-states-2/net.tfstate: no state object: the "
                                            "default workspace holds no state")
    assert [r.name for r in result.records] == ["q-dev"]
    assert result.errors[0].message == ("s3+workspaces://ws-states-2/none.tfstate: no state at none.tfstate (the "
                                        "default workspace) nor at env:/*/none.tfstate (other workspaces)")
    assert result.errors[1].code == "NoSuchBucket"
    # what could not be read makes what it could have declared unknown, never unmanaged
    assert [f.source for f in failed_owner_sources(result.sources, {})] == [
        "s3+workspaces://ws-states-2/none.tfstate", "s3+workspaces://no-such-bucket-here/net.tfstate"]


# ------------------------------------------------------------------------------------------------ HTTP


def test_the_http_backend_sends_basic_auth_from_tf_http_variables_and_stores_no_credential(monkeypatch):
    import base64

    monkeypatch.setenv("TF_HTTP_USERNAME", "bot")
    monkeypatch.setenv("TF_HTTP_PASSWORD", PASSWORD)
    expected = "Basic " + base64.b64encode(f"bot:{PASSWORD}".encode()).decode()
    with fake_server() as server:
        server.routes["/api/v4/projects/7/terraform/state/prod"] = _authorized(expected, _state("q-http", _lineage(7)))
        url = f"{server.base}/api/v4/projects/7/terraform/state/prod"
        result = load_terraform_states([url])
    assert _rows(result) == [(url, "loaded")]
    assert [r.owner.source for r in result.records] == [url]
    assert [s.method for s in server.seen] == ["GET"]
    assert PASSWORD not in _everything(result)


def test_a_token_alone_is_sent_as_a_bearer_token(monkeypatch):
    monkeypatch.delenv("TF_HTTP_USERNAME", raising=False)
    monkeypatch.delenv("TF_HTTP_PASSWORD", raising=False)
    monkeypatch.setenv("GITLAB_TOKEN", TOKEN)
    with fake_server() as server:
        server.routes["/state"] = _authorized(f"Bearer {TOKEN}", _state("q-gitlab", _lineage(8)))
        result = load_terraform_states([f"{server.base}/state"])
    assert [r.name for r in result.records] == ["q-gitlab"]


def test_credentials_in_the_url_are_used_and_never_shown(monkeypatch):
    import base64

    for name in ("TF_HTTP_USERNAME", "TF_HTTP_PASSWORD", "GITLAB_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    expected = "Basic " + base64.b64encode(f"bot:{PASSWORD}".encode()).decode()
    with fake_server() as server:
        server.routes["/state"] = _authorized(expected, _state("q-userinfo", _lineage(9)))
        result = load_terraform_states([f"http://bot:{PASSWORD}@127.0.0.1:{server.port}/state?sig={TOKEN}"])
    assert _rows(result) == [(f"{server.base}/state?sig=<redacted>", "loaded")]
    assert PASSWORD not in _everything(result) and TOKEN not in _everything(result)


@pytest.mark.parametrize("status, expected", [
    (401, "HTTP 401 Unauthorized: the credentials were refused or are missing"),
    (403, "HTTP 403 Forbidden: the credentials may not read it"),
    (404, "HTTP 404 Not Found: nothing there, or the credentials may not see it"),
    (503, "HTTP 503 Service Unavailable: the server failed"),
])
def test_http_failures_are_errors_naming_the_url_not_the_token(monkeypatch, status, expected):
    monkeypatch.setenv("GITLAB_TOKEN", TOKEN)
    monkeypatch.delenv("TF_HTTP_PASSWORD", raising=False)
    with fake_server() as server:
        server.routes["/state"] = _fixed(status, f"denied for {TOKEN}".encode())
        url = f"{server.base}/state"
        result = load_terraform_states([url])
    assert _rows(result) == [(url, "error")]
    assert result.errors[0].message == f"{url}: {expected}"
    assert TOKEN not in _everything(result)
    assert [f.source for f in failed_owner_sources(result.sources, {})] == [url]


def test_redirects_are_followed_on_the_same_host_only(monkeypatch):
    monkeypatch.setenv("GITLAB_TOKEN", TOKEN)
    monkeypatch.delenv("TF_HTTP_PASSWORD", raising=False)
    with fake_server() as server, fake_server("127.0.0.2") as elsewhere:
        server.routes["/moved"] = _fixed(302, b"", {"Location": "/state"})
        server.routes["/state"] = _authorized(f"Bearer {TOKEN}", _state("q-moved", _lineage(10)))
        server.routes["/away"] = _fixed(302, b"", {"Location": f"{elsewhere.base}/steal"})
        result = load_terraform_states([f"{server.base}/moved", f"{server.base}/away"])
    assert _rows(result) == [(f"{server.base}/moved", "loaded"), (f"{server.base}/away", "error")]
    assert result.errors[0].message == (f"{server.base}/away: HTTP 302 redirects to another host or scheme "
                                        f"({elsewhere.base}/steal): not followed")
    assert elsewhere.seen == []  # the token never went there


def test_plain_http_to_another_host_is_refused_before_connecting():
    result = load_terraform_states(["http://state.example.invalid/tf"])
    assert _rows(result) == [("http://state.example.invalid/tf", "error")]
    assert "plain http to another host would send credentials and state in clear text" in result.errors[0].message


def test_an_http_state_over_the_size_limit_is_refused_with_or_without_a_length(monkeypatch):
    monkeypatch.delenv("GITLAB_TOKEN", raising=False)
    monkeypatch.delenv("TF_HTTP_PASSWORD", raising=False)
    big = _state("q-big", _lineage(11)) + b" " * 20_000
    with fake_server() as server:
        server.routes["/declared"] = _fixed(200, big)
        server.routes["/chunked"] = _fixed(200, big, {"Transfer-Encoding": "chunked"})
        result = load_terraform_states([f"{server.base}/declared", f"{server.base}/chunked"], max_bytes=10_000)
    assert [row["status"] for row in result.sources] == ["refused", "refused"]
    assert result.errors[0].message.endswith(f"{len(big):,} bytes, over the 10,000 bytes limit for one input file; "
                                             "not read (raise the limit with --max-input-mb)")
    assert "more than 10,000 bytes, the limit" in result.errors[1].message


def test_a_server_that_never_answers_costs_the_timeout_not_the_scan(monkeypatch):
    from edge_servers import silent_endpoint

    monkeypatch.setattr(terraform_backends, "HTTP_TIMEOUT_S", 0.5)
    with silent_endpoint() as (endpoint, _held):
        result = load_terraform_states([f"{endpoint}/state"])
    assert _rows(result) == [(f"{endpoint}/state", "error")]
    assert result.errors[0].message == f"{endpoint}/state: no answer within 0.5 s"


# ------------------------------------------------------------------------------------------------ Terraform Cloud


def _tfc_api(server: FakeServer, token: str, archive_base: str) -> None:
    """The API v2 answers Terraform Cloud gives for organization acme's workspaces (shapes from its docs)."""
    workspaces = {"prod": "ws-PROD0000000001", "app-a": "ws-APPA000000000001", "app-b": "ws-APPB000000000001",
                  "other": "ws-OTHR00000000001"}
    bearer = f"Bearer {token}"

    def doc(value: dict) -> bytes:
        return json.dumps(value).encode()

    for name, ws_id in workspaces.items():
        server.routes[f"/api/v2/organizations/acme/workspaces/{name}"] = _authorized(
            bearer, doc({"data": {"id": ws_id, "type": "workspaces", "attributes": {"name": name}}}))
        server.routes[f"/api/v2/workspaces/{ws_id}/current-state-version"] = _authorized(bearer, doc({"data": {
            "id": f"sv-{ws_id[3:]}", "type": "state-versions",
            "attributes": {"serial": 3, "hosted-state-download-url": f"{archive_base}/archivist/{ws_id}"}}}))
        server.routes[f"/archivist/{ws_id}"] = _fixed(200, _state(f"q-{name}", _lineage(len(name) * 100 + 1)))
    del server.routes["/api/v2/workspaces/ws-OTHR00000000001/current-state-version"]  # a workspace with no state

    def listing(fake, handler):
        from urllib.parse import parse_qs, urlsplit

        if handler.headers.get("Authorization") != bearer:
            return 401, {}, b"{}"
        query = {k: v[0] for k, v in parse_qs(urlsplit(handler.path).query).items()}
        names = sorted(n for n in workspaces if query.get("search[name]", "") in n)
        if query.get("search[tags]"):
            names = [n for n in names if n.startswith("app-")]  # the app workspaces carry the tag
        page = int(query.get("page[number]", "1"))
        shown = names[page - 1:page]  # one a page, whatever was asked: pagination must be followed
        following = page + 1 if page < len(names) else None
        return 200, {}, doc({"data": [{"id": workspaces[n], "type": "workspaces", "attributes": {"name": n}}
                                      for n in shown],
                             "meta": {"pagination": {"current-page": page, "next-page": following}}})

    server.routes["/api/v2/organizations/acme/workspaces"] = listing


def _credentials(home: Path, host: str, token: str) -> None:
    (home / ".terraform.d").mkdir(parents=True, exist_ok=True)
    (home / ".terraform.d" / "credentials.tfrc.json").write_text(
        json.dumps({"credentials": {host: {"token": token}}}))


def test_terraform_cloud_workspaces_by_name_id_prefix_and_tags(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    with fake_server() as server:
        host = f"127.0.0.1:{server.port}"
        _credentials(tmp_path, host, TOKEN)
        _tfc_api(server, TOKEN, server.base)
        result = load_terraform_states([f"tfc://{host}/acme/prod", f"tfc://{host}/ws-APPA000000000001",
                                        f"tfc://{host}/acme/app-*", f"tfc://{host}/acme/?tags=app"])
    assert _rows(result) == [
        (f"tfc://{host}/acme/prod", "loaded"),
        (f"tfc://{host}/ws-APPA000000000001", "loaded"),
        (f"tfc://{host}/acme/app-a", "superseded"),  # the state ws-APPA... named: one lineage and serial
        (f"tfc://{host}/acme/app-b", "loaded"),
        (f"tfc://{host}/acme/app-a", "superseded"),  # chosen by tags too: the same state, read once
        (f"tfc://{host}/acme/app-b", "superseded"),
    ]
    assert result.sources[0]["message"].startswith("workspace prod: 1 managed instances")
    assert sorted(r.name for r in result.records) == ["q-app-a", "q-app-b", "q-prod"]
    assert {s.method for s in server.seen} == {"GET"}
    api_calls = [s for s in server.seen if s.path.startswith("/api/")]
    assert api_calls and all(s.headers.get("Authorization") == f"Bearer {TOKEN}" for s in api_calls)
    assert TOKEN not in _everything(result)


def test_terraform_cloud_failures_are_errors_that_say_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in [n for n in os.environ if n.upper().startswith("TF_TOKEN_")]:
        monkeypatch.delenv(name)
    with fake_server() as server:
        host = f"127.0.0.1:{server.port}"
        _tfc_api(server, TOKEN, server.base)
        without = load_terraform_states([f"tfc://{host}/acme/prod"])
        _credentials(tmp_path, host, "wrong-token")
        refused = load_terraform_states([f"tfc://{host}/acme/prod"])
        _credentials(tmp_path, host, TOKEN)
        stateless = load_terraform_states([f"tfc://{host}/acme/other", f"tfc://{host}/acme/missing"])
    assert without.errors[0].message == f"tfc://{host}/acme/prod: no API token for {host}: run `terraform login {host}`"
    (no_token,) = load_terraform_states(["tfc://tfe.my-corp.example/acme/prod"]).errors
    assert no_token.message == ("tfc://tfe.my-corp.example/acme/prod: no API token for tfe.my-corp.example: set "
                                "TF_TOKEN_tfe_my__corp_example or run `terraform login tfe.my-corp.example`")
    assert refused.errors[0].message == (f"tfc://{host}/acme/prod: HTTP 401 Unauthorized: the credentials were "
                                         "refused or are missing")
    assert [e.message for e in stateless.errors] == [
        f"tfc://{host}/acme/other: HTTP 404 Not Found: nothing there, or the credentials may not see it",
        f"tfc://{host}/acme/missing: HTTP 404 Not Found: nothing there, or the credentials may not see it"]
    assert [f.source for f in failed_owner_sources(stateless.sources, {})] == [f"tfc://{host}/acme/other",
                                                                               f"tfc://{host}/acme/missing"]


def test_a_state_download_on_another_host_gets_no_token(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    with fake_server() as server, fake_server("127.0.0.2") as archivist:
        host = f"127.0.0.1:{server.port}"
        _credentials(tmp_path, host, TOKEN)
        _tfc_api(server, TOKEN, archivist.base)
        _tfc_api(archivist, TOKEN, archivist.base)  # it serves the signed download URLs
        result = load_terraform_states([f"tfc://{host}/acme/prod"])
    assert [r.name for r in result.records] == ["q-prod"]
    (download,) = archivist.seen
    assert download.path == "/archivist/ws-PROD0000000001" and "Authorization" not in download.headers


def test_the_token_is_found_where_terraform_looks(tmp_path):
    environ = {"TF_TOKEN_tfe_my__corp_example": "from-env", "TF_TOKEN_APP_TERRAFORM_IO": "upper"}
    assert tfc_token("tfe.my-corp.example", environ, str(tmp_path)) == "from-env"
    assert tfc_token("app.terraform.io", environ, str(tmp_path)) == "upper"
    assert tfc_token("other.example", environ, str(tmp_path)) is None
    _credentials(tmp_path, "other.example", "from-login")
    assert tfc_token("other.example", {}, str(tmp_path)) == "from-login"
    (tmp_path / ".terraformrc").write_text('credentials "rc.example" {\n  token = "from-rc"\n}\n')
    assert tfc_token("rc.example", {}, str(tmp_path)) == "from-rc"
    cli_config = tmp_path / "elsewhere.tfrc"
    cli_config.write_text('credentials "cfg.example" { token = "from-cli-config" }')
    assert tfc_token("cfg.example", {"TF_CLI_CONFIG_FILE": str(cli_config)}, str(tmp_path)) == "from-cli-config"


# ------------------------------------------------------------------------------------------------ stdin


@contextmanager
def _stdin(monkeypatch, content: bytes) -> Iterator[None]:
    """A real pipe on standard input, its writer closed once the content is in (as after `terraform state pull`)."""
    read_end, write_end = os.pipe()
    writer = threading.Thread(target=lambda: (os.write(write_end, content), os.close(write_end)), daemon=True)
    writer.start()
    with open(read_end, "rb", buffering=0) as raw:
        monkeypatch.setattr(sys, "stdin", type("Stdin", (), {"buffer": raw, "isatty": raw.isatty})())
        yield
    writer.join(timeout=5)


def test_standard_input_is_one_state_named_stdin(monkeypatch):
    with _stdin(monkeypatch, _state("q-piped", _lineage(12))):
        result = load_terraform_states(["-", "-"])
    assert _rows(result) == [("<stdin>", "loaded"), ("<stdin>", "superseded")]
    assert result.sources[1]["message"] == "the same state as <stdin>, already read"
    assert [(r.name, r.owner.source) for r in result.records] == [("q-piped", "<stdin>")]


def test_standard_input_is_capped_and_an_empty_one_is_an_error(monkeypatch):
    with _stdin(monkeypatch, _state("q-piped", _lineage(13)) + b" " * 100_000):
        capped = load_terraform_states(["-"], max_bytes=50_000)
    with _stdin(monkeypatch, b""):
        empty = load_terraform_states(["-"])
    assert _rows(capped) == [("<stdin>", "refused")]
    assert _rows(empty) == [("<stdin>", "error")]
    assert empty.errors[0].message == "<stdin>: standard input is empty (did `terraform state pull` fail?)"


def test_a_terminal_on_standard_input_is_refused_not_waited_on():
    leader, follower = os.openpty()
    try:
        with open(follower, "rb", buffering=0, closefd=False) as terminal:
            (state,) = backend_states("-", stdin=terminal)
            with pytest.raises(Exception) as raised:
                state.read()
    finally:
        os.close(leader)
        os.close(follower)
    assert "standard input is a terminal" in str(raised.value)


# ------------------------------------------------------------------------------------------------ from code


def test_backend_blocks_become_locations_and_what_cannot_be_read_is_named():
    blocks = [
        {"type": "s3", "config": {"bucket": "tf-states", "key": "app/terraform.tfstate", "region": "eu-west-1"},
         "file": "infra/main.tf", "line": 3},
        {"type": "s3", "config": {"bucket": "tf-states", "key": "net.tfstate", "workspace_key_prefix": "envs"},
         "file": "net/main.tf", "line": 2},
        {"type": "http", "config": {"address": "https://gitlab.example.com/api/v4/projects/7/terraform/state/prod"},
         "file": "gl/main.tf", "line": 1},
        {"type": "remote", "config": {"organization": "acme", "workspaces": [{"name": "prod"}]},
         "file": "r/main.tf", "line": 1},
        {"type": "remote", "config": {"hostname": "tfe.corp.example", "organization": "acme",
                                      "workspaces": {"prefix": "app-"}}, "file": "p/main.tf", "line": 1},
        {"type": "cloud", "config": {"organization": "acme", "workspaces": [{"tags": ["app", "prod"]}]},
         "file": "c/main.tf", "line": 1},
        {"type": "local", "config": {"path": "state/terraform.tfstate"}, "file": "l/main.tf", "line": 1},
        {"type": "s3", "config": {"bucket": "tf-states"}, "file": "partial/main.tf", "line": 4},
        {"type": "s3", "config": {"bucket": "tf-states", "key": "${var.key}"}, "file": "var/main.tf", "line": 5},
        {"type": "gcs", "config": {"bucket": "b"}, "file": "g/main.tf", "line": 6},
        {"type": "cloud", "config": {"organization": "acme"}, "file": "e/main.tf", "line": 7},
    ]
    locations, errors = backend_locations(blocks)
    assert locations == [
        "s3+workspaces://tf-states/app/terraform.tfstate?region=eu-west-1",
        "s3+workspaces://tf-states/net.tfstate?workspace_key_prefix=envs",
        "https://gitlab.example.com/api/v4/projects/7/terraform/state/prod",
        "tfc://app.terraform.io/acme/prod",
        "tfc://tfe.corp.example/acme/app-*",
        "tfc://app.terraform.io/acme/?tags=app,prod",
        os.path.join("l", "state/terraform.tfstate"),
    ]
    # every location is one the loaders understand
    assert parse_s3_workspaces(locations[0]).region == "eu-west-1"
    assert parse_s3_workspaces(locations[1]).workspace_key_prefix == "envs"
    assert [parse_tfc(x).source() for x in locations[3:4]] == ["tfc://app.terraform.io/acme/prod"]
    assert parse_tfc(locations[4]).prefix == "app-" and parse_tfc(locations[5]).tags == ("app", "prod")
    assert [(e.source, e.line, e.kind) for e in errors] == [
        ("partial/main.tf", 4, "error"), ("var/main.tf", 5, "error"), ("g/main.tf", 6, "error"),
        ("e/main.tf", 7, "error")]
    assert errors[0].message == ('partial/main.tf:4: backend "s3": its key is not given (a partial configuration, '
                                 "given with -backend-config or the environment?); its state was not read: pass it "
                                 "with --tfstate")
    assert errors[1].message.startswith('var/main.tf:5: backend "s3": its key is not a literal value')
    assert errors[2].message.startswith('g/main.tf:6: backend "gcs": driftgraph does not read this backend')
    assert "terraform state pull" in errors[2].message
    assert errors[3].message.startswith('e/main.tf:7: backend "cloud": no literal workspaces name, prefix or list')



@pytest.mark.parametrize("location", ["https://[::1/state", "https://host.example:99999999/state",
                                      f"https://:{PASSWORD}@/state", "https:///state"])
def test_a_malformed_url_is_an_error_row_not_a_traceback_nor_a_leak(location):
    result = load_terraform_states([location])
    assert [row["status"] for row in result.sources] == ["error"]
    assert len(result.errors) == 1 and "unexpected" not in result.errors[0].message
    assert PASSWORD not in _everything(result)


def test_an_http_answer_cut_short_is_an_error_not_a_short_state(monkeypatch):
    monkeypatch.delenv("GITLAB_TOKEN", raising=False)
    monkeypatch.delenv("TF_HTTP_PASSWORD", raising=False)
    whole = _state("q-cut", _lineage(14)) + b" " * 100  # what is sent still parses: only the length tells
    with fake_server() as server:
        server.routes["/state"] = _fixed(200, whole, {"Content-Length": str(len(whole) + 500)})
        result = load_terraform_states([f"{server.base}/state"])
    assert _rows(result) == [(f"{server.base}/state", "error")]
    assert result.errors[0].message == (f"{server.base}/state: the answer ended after {len(whole):,} of the "
                                        f"{len(whole) + 500:,} bytes it announced")


def test_a_scan_reads_a_piped_state_and_a_state_it_cannot_fetch_leaves_the_rest_unknown(aws, tmp_path):
    """The user's path: `terraform state pull | driftgraph scan --tfstate -`, with an HTTP state that fails."""
    import socket

    import boto3
    import sqlite_utils

    sqs = boto3.client("sqs", endpoint_url=aws, region_name="us-east-1")
    for name in ("e2e-piped", "e2e-hand"):
        sqs.create_queue(QueueName=name)
    with socket.socket() as closed:  # a loopback port nothing listens on
        closed.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{closed.getsockname()[1]}/state"
    piped = _state("e2e-piped", _lineage(15))
    statuses = {}
    for label, extra in (("alone", []), ("with a failed state", ["--tfstate", down])):
        db = tmp_path / f"{label}.db"
        run_cli(["scan", "--db", str(db), "--region", "us-east-1", "--type", "AWS::SQS::Queue", "--no-stacks",
                 "--tfstate", "-", *extra], aws, input=piped.decode())
        rows = sqlite_utils.Database(db).query("select natural_id, status from resources where type = 'AWS::SQS::Queue'")
        statuses[label] = {row["natural_id"].rsplit("/", 1)[-1]: row["status"] for row in rows
                           if row["natural_id"].rsplit("/", 1)[-1].startswith("e2e-")}
    assert statuses == {"alone": {"e2e-piped": "managed", "e2e-hand": "unmanaged"},
                        "with a failed state": {"e2e-piped": "managed", "e2e-hand": "unknown"}}

