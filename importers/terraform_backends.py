"""Terraform state where backends keep it (S3 with workspaces, HTTP, Terraform Cloud / Enterprise, standard input),
and the `--tfstate` locations that the backends named in Terraform code stand for.

Each location becomes one or more `BackendState`s whose `read` fetches the state's bytes when called (GET only,
capped, bounded in time) and raises `InputProblem` (or the AWS client's own error) saying why it cannot:
importers/terraform_state.py turns those into `sources` rows and SourceErrors as it does for files. Credentials
come from the environment or Terraform's own credentials files, are sent only to the host they are for, and never
appear in a source name, a message or a log: a source names a URL without its user, password or query values.
`backend_locations` is pure: backend blocks in, locations and what cannot be read out.
"""

from __future__ import annotations

import base64
import http.client
import ipaddress
import json
import os
import re
import ssl
import sys
import time
import urllib.error
import urllib.request
from contextlib import closing
from dataclasses import dataclass
from typing import Any, Callable, Mapping
from urllib.parse import parse_qsl, quote, unquote, urlencode, urljoin, urlsplit, urlunsplit

from graph.records import SourceError
from graph.redact import redact_text
from importers.inputs import DEFAULT_MAX_BYTES, REFUSED, InputProblem, MiB, format_size, read_file, too_large

# ------------------------------------------------------------------------------------------------ syntax

STDIN = "-"  # `--tfstate -`: one state on standard input (`terraform state pull | driftgraph scan --tfstate -`)
STDIN_SOURCE = "<stdin>"
S3_WORKSPACES = "s3+workspaces://"  # s3+workspaces://BUCKET/KEY[?workspace_key_prefix=P][&region=R]
TFC = "tfc://"  # tfc://[HOST/]ORG/WORKSPACE, tfc://[HOST/]ORG/PREFIX*, tfc://[HOST/]ORG/?tags=a,b, tfc://[HOST/]ws-ID
HTTP_SCHEMES = ("https://", "http://")  # an HTTP backend's address, as given to the backend
DEFAULT_WORKSPACE_KEY_PREFIX = "env:"  # the S3 backend's default workspace_key_prefix
DEFAULT_TFC_HOST = "app.terraform.io"
DEFAULT_WORKSPACE = "default"
WORKSPACE_ID = re.compile(r"^ws-[A-Za-z0-9]+$")
LOOPBACK_NAMES = ("localhost",)

# ------------------------------------------------------------------------------------------------ bounds

HTTP_TIMEOUT_S = 30.0  # to connect, and for each read
HTTP_BUDGET_S = 300.0  # for the whole body of one answer: a server trickling a byte at a time ends here
API_MAX_BYTES = 16 * MiB  # one Terraform Cloud API answer (JSON:API documents are kilobytes)
MAX_API_PAGES = 1000  # pages of a workspace listing: 100,000 workspaces, past any organization
PAGE_SIZE = 100
_CHUNK = 1 << 16


@dataclass(frozen=True)
class BackendState:
    """One state a backend location names: `read` fetches it; with `note` set there is nothing to read and the
    note says why (a row of status `skipped`)."""

    source: str  # as shown and stored: never a credential
    read: Callable[[], bytes] | None = None
    workspace: str | None = None  # the Terraform workspace it is the state of, when the backend has workspaces
    note: str | None = None


def is_backend_location(location: str) -> bool:
    """Whether a `--tfstate` location is read here rather than as a file, folder, glob or s3:// prefix."""
    return location == STDIN or location.startswith((S3_WORKSPACES, TFC, *HTTP_SCHEMES))


def backend_states(
    location: str,
    session=None,
    region: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    environ: Mapping[str, str] | None = None,
    stdin=None,
) -> list[BackendState]:
    """The states one backend location names. A location that cannot even be listed is one state whose `read`
    raises the reason, so that it becomes an error row like any unreadable state."""
    environ = os.environ if environ is None else environ
    try:
        if location == STDIN:
            return [_stdin_state(stdin if stdin is not None else sys.stdin, max_bytes)]
        if location.startswith(S3_WORKSPACES):
            return _s3_workspace_states(location, session, region, max_bytes)
        if location.startswith(TFC):
            return _tfc_states(location, max_bytes, environ)
        return [_http_state(location, max_bytes, environ)]
    except Exception as error:  # a bad location, a failed listing: named as that location's error
        return [BackendState(_source_name(location), _raise(error))]


def _raise(error: Exception) -> Callable[[], bytes]:
    def read() -> bytes:
        raise error

    return read


def _source_name(location: str) -> str:
    if location == STDIN:
        return STDIN_SOURCE
    if location.startswith(HTTP_SCHEMES):
        return display_url(location)
    return location


# ------------------------------------------------------------------------------------------------ stdin


def _stdin_state(stream, max_bytes: int) -> BackendState:
    """Standard input, read once and capped. A terminal is refused rather than waited on: nobody is typing a state."""
    isatty = getattr(stream, "isatty", None)
    if isatty is not None and isatty():
        raise InputProblem("standard input is a terminal, not a state: pipe one in "
                           "(`terraform state pull | driftgraph scan --tfstate - ...`)")
    binary = getattr(stream, "buffer", stream)

    def read() -> bytes:
        content = binary.read(max_bytes + 1)
        if isinstance(content, str):
            content = content.encode("utf-8")
        if len(content) > max_bytes:
            raise InputProblem(too_large(None, max_bytes), REFUSED)
        if not content.strip():
            raise InputProblem("standard input is empty (did `terraform state pull` fail?)")
        return content

    return BackendState(STDIN_SOURCE, read)


# ------------------------------------------------------------------------------------------------ S3 workspaces


@dataclass(frozen=True)
class S3Backend:
    bucket: str
    key: str
    workspace_key_prefix: str = DEFAULT_WORKSPACE_KEY_PREFIX
    region: str | None = None


def parse_s3_workspaces(location: str) -> S3Backend:
    """s3+workspaces://BUCKET/KEY[?workspace_key_prefix=P&region=R] as its parts; ValueError saying what is wrong.

    The key is literal up to `?`: the options are all that follows it."""
    rest, _, query = location[len(S3_WORKSPACES):].partition("?")
    bucket, _, key = rest.partition("/")
    if not bucket or not key or key.endswith("/"):
        raise ValueError(f"{location}: give the S3 backend's bucket and key: s3+workspaces://BUCKET/KEY")
    options = dict(parse_qsl(query, keep_blank_values=True))
    unknown = set(options) - {"workspace_key_prefix", "region"}
    if unknown:
        raise ValueError(f"{location}: unknown option {', '.join(sorted(unknown))} "
                         "(only workspace_key_prefix and region)")
    prefix = options.get("workspace_key_prefix", DEFAULT_WORKSPACE_KEY_PREFIX).strip("/")
    return S3Backend(bucket, key, prefix, options.get("region") or None)


def workspace_of_key(key: str, backend: S3Backend) -> str | None:
    """The workspace whose state `key` is, as the S3 backend lists them: `<prefix>/<workspace>/<key>` (with an
    empty prefix, `<workspace>/<key>`); None for any other key."""
    prefix = f"{backend.workspace_key_prefix}/" if backend.workspace_key_prefix else ""
    if not key.startswith(prefix):
        return None
    workspace, slash, rest = key[len(prefix):].partition("/")
    return workspace if slash and workspace and rest == backend.key else None


def _s3_workspace_states(location: str, session, region: str | None, max_bytes: int) -> list[BackendState]:
    """The default workspace's state at KEY and every other workspace's at `<prefix>/<workspace>/KEY`: two
    listings (exactly KEY's prefix, and the workspace prefix), then one GetObject per state."""
    try:
        backend = parse_s3_workspaces(location)
    except ValueError as error:
        raise InputProblem(str(error).removeprefix(f"{location}: ")) from None
    if session is None:
        raise InputProblem("reading state from S3 needs an AWS session")
    client = session.client("s3", backend.region or region)
    prefix = f"{backend.workspace_key_prefix}/" if backend.workspace_key_prefix else ""

    def listing(list_prefix: str) -> list[tuple[str, int | None]]:
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=backend.bucket, Prefix=list_prefix)
        return sorted((item["Key"], item.get("Size")) for page in pages for item in page.get("Contents") or [])

    states: list[BackendState] = []
    default_size = dict(listing(backend.key)).get(backend.key, -1)
    if default_size != -1:
        states.append(_s3_state(client, backend, backend.key, default_size, DEFAULT_WORKSPACE, max_bytes))
    for key, size in listing(prefix):
        workspace = workspace_of_key(key, backend)
        if workspace is not None and key != backend.key:
            states.append(_s3_state(client, backend, key, size, workspace, max_bytes))
    pattern = f"{prefix}*/{backend.key}"
    if not states:
        raise InputProblem(f"no state at {backend.key} (the default workspace) nor at {pattern} (other workspaces)")
    if default_size == -1:
        states.insert(0, BackendState(f"s3://{backend.bucket}/{backend.key}", workspace=DEFAULT_WORKSPACE,
                                      note="no state object: the default workspace holds no state"))
    return states


def _s3_state(client, backend: S3Backend, key: str, size: int | None, workspace: str, max_bytes: int) -> BackendState:
    source = f"s3://{backend.bucket}/{key}"
    if size is not None and size > max_bytes:
        return BackendState(source, _raise(InputProblem(too_large(size, max_bytes), REFUSED)), workspace)

    def read() -> bytes:
        with closing(client.get_object(Bucket=backend.bucket, Key=key)["Body"]) as body:
            content = body.read(max_bytes + 1)  # the listing's size may have changed since
        if len(content) > max_bytes:
            raise InputProblem(too_large(None, max_bytes), REFUSED)
        return content

    return BackendState(source, read, workspace)


# ------------------------------------------------------------------------------------------------ HTTP


def display_url(url: str) -> str:
    """A URL as it may be shown and stored: no user or password, every query value masked (a query may carry a
    token under any name), and whatever else looks secret masked by the redactor; a URL that cannot be parsed
    is not shown at all (it may hold anything)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return f"{url.partition(':')[0][:10]}://(a malformed URL)"
    query = "&".join(f"{quote(k, safe='[]')}=<redacted>" if v else quote(k, safe="[]")
                     for k, v in parse_qsl(parts.query, keep_blank_values=True))
    return redact_text(urlunsplit((parts.scheme, _netloc(url), parts.path, query, "")))


def _netloc(url: str) -> str:
    """host[:port] of a URL without its user and password; a port that is no number is kept as written."""
    return urlsplit(url).netloc.rpartition("@")[2]


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _require_secure(url: str) -> None:
    """HTTPS, or plain HTTP to this machine only: a token or a state must not cross a network in clear text."""
    parts = urlsplit(url)
    if parts.scheme == "https" or (parts.scheme == "http" and is_loopback(parts.hostname)):
        return
    raise InputProblem("plain http to another host would send credentials and state in clear text: use https")


def http_headers(environ: Mapping[str, str], url: str = "") -> dict[str, str]:
    """The http backend's credentials: the URL's own user and password, else TF_HTTP_USERNAME with
    TF_HTTP_PASSWORD (basic auth, as Terraform's http backend sends them; GitLab takes a token as the password),
    else a token alone (TF_HTTP_PASSWORD or GITLAB_TOKEN) as a bearer token."""
    parts = urlsplit(url)
    if parts.username is not None:
        return {"Authorization": _basic(unquote(parts.username), unquote(parts.password or ""))}
    user, password = environ.get("TF_HTTP_USERNAME"), environ.get("TF_HTTP_PASSWORD")
    if user and password:
        return {"Authorization": _basic(user, password)}
    token = password or environ.get("GITLAB_TOKEN")
    return {"Authorization": f"Bearer {token}"} if token else {}


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode("utf-8")).decode("ascii")


def _without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, _netloc(url), parts.path, parts.query, parts.fragment))


def _http_state(url: str, max_bytes: int, environ: Mapping[str, str]) -> BackendState:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (a port that is no number raises here, not later)
    except ValueError:
        raise InputProblem("not a URL that can be fetched") from None
    if not parts.hostname:
        raise InputProblem("no host in this URL")
    _require_secure(url)
    headers = http_headers(environ, url)
    target = _without_userinfo(url)
    return BackendState(display_url(url), lambda: http_get(target, headers, max_bytes, what="state"))


class _SameHostRedirects(urllib.request.HTTPRedirectHandler):
    """Redirects followed on the same host and scheme only: urllib would carry the Authorization header anywhere."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        old, new = urlsplit(req.full_url), urlsplit(newurl)
        if (new.scheme, new.hostname, new.port) != (old.scheme, old.hostname, old.port):
            raise InputProblem(f"HTTP {code} redirects to another host or scheme ({display_url(newurl)}): not followed")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _opener(url: str) -> urllib.request.OpenerDirector:
    handlers: list[Any] = [_SameHostRedirects(), urllib.request.HTTPSHandler(context=ssl.create_default_context())]
    if is_loopback(urlsplit(url).hostname):
        handlers.append(urllib.request.ProxyHandler({}))  # this machine is never reached through a proxy
    return urllib.request.build_opener(*handlers)


_STATUS_REASONS = {
    401: "the credentials were refused or are missing",
    403: "the credentials may not read it",
    404: "nothing there, or the credentials may not see it",
}


def http_get(url: str, headers: Mapping[str, str], max_bytes: int, what: str = "answer") -> bytes:
    """The body of a GET answered 200, at most `max_bytes`; InputProblem saying why not, never quoting a header."""
    request = urllib.request.Request(url, headers={**headers, "User-Agent": "driftgraph"}, method="GET")
    started = time.monotonic()
    try:
        with _opener(url).open(request, timeout=HTTP_TIMEOUT_S) as response:
            if response.status != 200:
                raise InputProblem(f"HTTP {response.status} instead of the {what}: not read")
            return _read_body(response, max_bytes, started)
    except InputProblem:
        raise
    except urllib.error.HTTPError as error:
        error.close()
        if error.code >= 500:
            reason = "the server failed"
        else:
            reason = _STATUS_REASONS.get(error.code, "refused")
        raise InputProblem(f"HTTP {error.code} {error.reason}: {reason}") from None
    except urllib.error.URLError as error:
        cause = error.reason
        if isinstance(cause, ssl.SSLCertVerificationError):
            raise InputProblem(f"TLS certificate not verified ({cause.verify_message})") from None
        if isinstance(cause, (TimeoutError, OSError)) and "timed out" in str(cause):
            raise InputProblem(f"no answer within {HTTP_TIMEOUT_S:g} s") from None
        raise InputProblem(f"cannot connect ({getattr(cause, 'strerror', None) or cause})") from None
    except TimeoutError:
        raise InputProblem(f"no answer within {HTTP_TIMEOUT_S:g} s") from None
    except http.client.HTTPException as error:  # a body cut short, a status line that is no HTTP
        raise InputProblem(f"the answer is not well-formed HTTP ({type(error).__name__})") from None
    except ValueError:  # a port that is no number, a host that is empty
        raise InputProblem("not a URL that can be fetched") from None
    except OSError as error:
        raise InputProblem(f"the connection failed ({error.strerror or type(error).__name__})") from None


def _read_body(response, max_bytes: int, started: float) -> bytes:
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise InputProblem(too_large(int(declared), max_bytes), REFUSED)
    chunks: list[bytes] = []
    total = 0
    while True:
        if time.monotonic() - started > HTTP_BUDGET_S:
            raise InputProblem(f"still arriving after {HTTP_BUDGET_S:g} s ({format_size(total)} so far): stopped")
        chunk = response.read1(_CHUNK)
        if not chunk:
            if declared and declared.isdigit() and total < int(declared):  # read1 does not say so itself
                raise InputProblem(f"the answer ended after {total:,} of the {int(declared):,} bytes it announced")
            return b"".join(chunks)
        total += len(chunk)
        if total > max_bytes:
            raise InputProblem(too_large(None, max_bytes), REFUSED)
        chunks.append(chunk)


# ------------------------------------------------------------------------------------------------ Terraform Cloud


@dataclass(frozen=True)
class TfcLocation:
    """A Terraform Cloud / Enterprise workspace, or the workspaces of an organization a prefix or tags choose."""

    host: str
    organization: str | None = None
    workspace: str | None = None  # a name
    workspace_id: str | None = None
    prefix: str | None = None  # tfc://ORG/PREFIX*
    tags: tuple[str, ...] = ()  # tfc://ORG/?tags=a,b

    def source(self, workspace: str | None = None) -> str:
        if self.workspace_id and not workspace:
            return f"{TFC}{self.host}/{self.workspace_id}"
        return f"{TFC}{self.host}/{self.organization}/{workspace or self.workspace}"

    def text(self) -> str:
        if self.workspace_id or self.workspace:
            return self.source()
        chosen = f"{self.prefix}*" if self.prefix is not None else ""
        return f"{TFC}{self.host}/{self.organization}/{chosen}" + (f"?tags={','.join(self.tags)}" if self.tags else "")


def _is_host(part: str) -> bool:
    return "." in part or ":" in part or part.lower() in LOOPBACK_NAMES


def parse_tfc(location: str) -> TfcLocation:
    """tfc://[HOST/]ORG/WORKSPACE, tfc://[HOST/]ORG/PREFIX*, tfc://[HOST/]ORG/?tags=a,b or tfc://[HOST/]ws-ID.
    A first part with a dot or a port is a host (organization names have neither). ValueError when malformed."""
    rest, _, query = location[len(TFC):].partition("?")
    parts = rest.split("/")
    host = DEFAULT_TFC_HOST
    if len(parts) > 1 and _is_host(parts[0]):
        host, parts = parts[0].lower(), parts[1:]
    options = dict(parse_qsl(query, keep_blank_values=True))
    if set(options) - {"tags"}:
        raise ValueError(f"{location}: unknown option {', '.join(sorted(set(options) - {'tags'}))} (only tags)")
    tags = tuple(t for t in (options.get("tags") or "").split(",") if t)
    if len(parts) == 1 and WORKSPACE_ID.match(parts[0]) and not tags:
        return TfcLocation(host, workspace_id=parts[0])
    if len(parts) != 2 or not parts[0]:
        raise ValueError(f"{location}: expected tfc://[HOST/]ORGANIZATION/WORKSPACE (or PREFIX*, or "
                         "?tags=a,b, or tfc://[HOST/]ws-ID)")
    organization, name = parts
    if tags:
        if name:
            raise ValueError(f"{location}: give a workspace or tags, not both")
        return TfcLocation(host, organization, tags=tags)
    if not name:
        raise ValueError(f"{location}: no workspace named")
    if name.endswith("*"):
        if "*" in name[:-1]:
            raise ValueError(f"{location}: only a trailing * (a prefix) is understood")
        return TfcLocation(host, organization, prefix=name[:-1])
    return TfcLocation(host, organization, workspace=name)


def api_base(host: str) -> str:
    """https://HOST; http://HOST only for this machine (a local fake of the API, a tunnel): nothing leaves it."""
    name = urlsplit(f"//{host}").hostname
    return f"{'http' if is_loopback(name) else 'https'}://{host}"


def tfc_token(host: str, environ: Mapping[str, str], home: str | None = None) -> str | None:
    """The API token for `host`, where Terraform looks: TF_TOKEN_<host> (dots as `_`, hyphens as `__`; compared
    case-insensitively), then ~/.terraform.d/credentials.tfrc.json (`terraform login`), then `credentials` blocks
    of the CLI configuration (TF_CLI_CONFIG_FILE, else ~/.terraformrc)."""
    wanted = host.lower()
    for name, value in environ.items():
        if name.upper().startswith("TF_TOKEN_") and value:
            encoded = name[len("TF_TOKEN_"):]
            if encoded.replace("__", "-").replace("_", ".").lower() == wanted:
                return value
    home = home if home is not None else os.path.expanduser("~")
    token = _token_from_json(os.path.join(home, ".terraform.d", "credentials.tfrc.json"), wanted)
    if token:
        return token
    config = environ.get("TF_CLI_CONFIG_FILE") or os.path.join(home, ".terraformrc")
    return _token_from_cli_config(config, wanted)


_CREDENTIALS_FILE_MAX = 1 * MiB


def _read_small(path: str) -> str | None:
    try:
        return read_file(path, _CREDENTIALS_FILE_MAX).decode("utf-8", errors="replace")
    except InputProblem:
        return None


def _token_from_json(path: str, host: str) -> str | None:
    text = _read_small(path)
    if text is None:
        return None
    try:
        credentials = json.loads(text).get("credentials") or {}
    except (ValueError, AttributeError):
        return None
    for name, entry in credentials.items():
        if isinstance(name, str) and name.lower() == host and isinstance(entry, dict):
            token = entry.get("token")
            if isinstance(token, str) and token:
                return token
    return None


_CREDENTIALS_BLOCK = re.compile(r'credentials\s+"([^"]+)"\s*\{([^}]*)\}')
_TOKEN_SETTING = re.compile(r'\btoken\s*=\s*"([^"]*)"')


def _token_from_cli_config(path: str, host: str) -> str | None:
    """A `credentials "HOST" { token = "..." }` block of the CLI configuration (HCL, read for this one shape)."""
    text = _read_small(path)
    if text is None:
        return None
    for name, body in _CREDENTIALS_BLOCK.findall(text):
        token = _TOKEN_SETTING.search(body)
        if name.lower() == host and token and token.group(1):
            return token.group(1)
    return None


def _tfc_states(location: str, max_bytes: int, environ: Mapping[str, str]) -> list[BackendState]:
    try:
        where = parse_tfc(location)
    except ValueError as error:
        raise InputProblem(str(error).removeprefix(f"{location}: ")) from None
    token = tfc_token(where.host, environ)
    if token is None:
        login = f"run `terraform login {where.host}`"
        if ":" in where.host:  # a port cannot be spelt in a variable's name
            raise InputProblem(f"no API token for {where.host}: {login}")
        variable = "TF_TOKEN_" + where.host.replace("-", "__").replace(".", "_")
        raise InputProblem(f"no API token for {where.host}: set {variable} or {login}")
    api = _TfcApi(api_base(where.host), token)
    if where.workspace_id:
        return [BackendState(where.source(), lambda: api.current_state(where.workspace_id, max_bytes))]
    if where.workspace:
        read = lambda: api.current_state(api.workspace_id(where.organization, where.workspace), max_bytes)  # noqa: E731
        return [BackendState(where.source(), read, where.workspace)]
    chosen = api.workspaces(where.organization, where.prefix, where.tags)
    if not chosen:
        raise InputProblem("no workspace matches")
    return [BackendState(where.source(name), (lambda ws_id=ws_id: api.current_state(ws_id, max_bytes)), name)
            for name, ws_id in chosen]


class _TfcApi:
    """The few reads of the Terraform Cloud / Enterprise API v2 that find a workspace's current state."""

    def __init__(self, base: str, token: str):
        self.base = base
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/vnd.api+json"}

    def _get(self, path: str, query: dict[str, str] | None = None) -> dict:
        url = f"{self.base}/api/v2{path}" + (f"?{urlencode(query)}" if query else "")
        body = http_get(url, self._headers, API_MAX_BYTES)
        try:
            document = json.loads(body)
        except ValueError:
            raise InputProblem(f"the API's answer to GET {path} is not JSON") from None
        if not isinstance(document, dict):
            raise InputProblem(f"the API's answer to GET {path} is not a JSON:API document")
        return document

    def workspace_id(self, organization: str, name: str) -> str:
        path = f"/organizations/{quote(organization, safe='')}/workspaces/{quote(name, safe='')}"
        workspace_id = _dig(self._get(path), "data", "id")
        if not isinstance(workspace_id, str):
            raise InputProblem(f"the API's answer to GET {path} names no workspace id")
        return workspace_id

    def workspaces(self, organization: str, prefix: str | None, tags: tuple[str, ...]) -> list[tuple[str, str]]:
        """(name, id) of the organization's workspaces with the prefix or all the tags, by name."""
        path = f"/organizations/{quote(organization, safe='')}/workspaces"
        found: dict[str, str] = {}
        page = 1
        for _ in range(MAX_API_PAGES):
            query = {"page[number]": str(page), "page[size]": str(PAGE_SIZE)}
            if prefix:
                query["search[name]"] = prefix  # a substring search: the prefix is checked below
            if tags:
                query["search[tags]"] = ",".join(tags)
            document = self._get(path, query)
            for item in document.get("data") or []:
                name, workspace_id = _dig(item, "attributes", "name"), _dig(item, "id")
                if isinstance(name, str) and isinstance(workspace_id, str) and name.startswith(prefix or ""):
                    found[name] = workspace_id
            following = _dig(document, "meta", "pagination", "next-page")
            if not isinstance(following, int) or following <= page:
                return sorted(found.items())
            page = following
        raise InputProblem(f"more than {MAX_API_PAGES} pages of workspaces: stopped")

    def current_state(self, workspace_id: str, max_bytes: int) -> bytes:
        """The current state version's raw state: its `hosted-state-download-url`, fetched with the token only
        when it is on the API's own host (Terraform Cloud's archivist URLs are signed; a token goes to no other host)."""
        path = f"/workspaces/{quote(workspace_id, safe='')}/current-state-version"
        url = _dig(self._get(path), "data", "attributes", "hosted-state-download-url")
        if not isinstance(url, str) or not url:
            raise InputProblem("the current state version has no hosted-state-download-url")
        url = urljoin(self.base + "/", url)
        same_host = urlsplit(url)[:2] == urlsplit(self.base)[:2]
        if not same_host:
            _require_secure(url)
        return http_get(url, self._headers if same_host else {}, max_bytes, what="state")


def _dig(document: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(document, dict):
            return None
        document = document.get(key)
    return document


# ------------------------------------------------------------------------------------------------ from code


@dataclass(frozen=True)
class _Where:
    file: str
    line: int | None

    def text(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


UNSUPPORTED_HINT = ("run `terraform state pull > state.json` there and pass --tfstate state.json (or pipe it: "
                    "`terraform state pull | driftgraph scan --tfstate - ...`)")


def backend_locations(backends: list[dict]) -> tuple[list[str], list[SourceError]]:
    """The `--tfstate` locations that backend and cloud blocks of Terraform code stand for, and an error for each
    one that cannot be read (a value not given literally, a backend type driftgraph does not read): the state
    it names exists but was not read, so what it declares is unknown. Pure: nothing is fetched or checked."""
    locations: list[str] = []
    errors: list[SourceError] = []
    for backend in backends:
        kind = str(backend.get("type") or "")
        config = backend.get("config") or {}
        where = _Where(str(backend.get("file") or "?"), backend.get("line"))
        try:
            location = _location_of(kind, config if isinstance(config, dict) else {}, where)
        except _Unreadable as problem:
            errors.append(SourceError(where.file, redact_text(f"{where.text()}: {problem}"), line=where.line))
            continue
        if location not in locations:
            locations.append(location)
    return locations, errors


class _Unreadable(Exception):
    pass


def _literal(config: Mapping[str, Any], name: str, kind: str, required: bool = True) -> str | None:
    """A setting's value when the code states it; a missing required one is _Unreadable."""
    value = config.get(name)
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, str) and value and "${" not in value:
        return value
    if value is None and not required:
        return None
    how = "is not a literal value" if value is not None else "is not given (a partial configuration, given with " \
                                                              "-backend-config or the environment?)"
    raise _Unreadable(f'backend "{kind}": its {name} {how}; its state was not read: pass it with --tfstate')


def _block(config: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = config.get(name)
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    return value if isinstance(value, dict) else {}


def _location_of(kind: str, config: Mapping[str, Any], where: _Where) -> str:
    if kind == "s3":
        bucket, key = _literal(config, "bucket", kind), _literal(config, "key", kind)
        options: dict[str, str] = {}
        if config.get("workspace_key_prefix") == "":
            options["workspace_key_prefix"] = ""  # workspaces at <workspace>/<key>
        elif config.get("workspace_key_prefix") is not None:
            options["workspace_key_prefix"] = _literal(config, "workspace_key_prefix", kind)
        region = _literal(config, "region", kind, required=False)
        if region:
            options["region"] = region
        return f"{S3_WORKSPACES}{bucket}/{key}" + (f"?{urlencode(options, safe=':/')}" if options else "")
    if kind == "http":
        return _literal(config, "address", kind)
    if kind in ("remote", "cloud"):
        hostname = _literal(config, "hostname", kind, required=False) or DEFAULT_TFC_HOST
        organization = _literal(config, "organization", kind)
        workspaces = _block(config, "workspaces")
        name = _literal(workspaces, "name", kind, required=False)
        prefix = _literal(workspaces, "prefix", kind, required=False)
        tags = workspaces.get("tags")
        if name:
            return f"{TFC}{hostname}/{organization}/{name}"
        if prefix:
            return f"{TFC}{hostname}/{organization}/{prefix}*"
        if isinstance(tags, list) and tags and all(isinstance(t, str) and "${" not in t for t in tags):
            return f"{TFC}{hostname}/{organization}/?tags={','.join(tags)}"
        raise _Unreadable(f'backend "{kind}": no literal workspaces name, prefix or list of tags (TF_WORKSPACE '
                          "or key-value tags?); its state was not read: pass it with --tfstate tfc://...")
    if kind == "local":
        path = _literal(config, "path", kind, required=False) or "terraform.tfstate"
        return path if os.path.isabs(path) else os.path.join(os.path.dirname(where.file), path)
    raise _Unreadable(f'backend "{kind or "?"}": driftgraph does not read this backend, so its state was not '
                      f"read: {UNSUPPORTED_HINT}")
