"""What an AWS answer must look like before botocore reads it: cheap checks on its first and last bytes.

botocore reads a 2xx answer it cannot decode as an empty one: its JSON parsers turn plain text into
`{"message": ...}` and an empty body into `{}`, its XML parsers read any well-formed document (an XHTML login
page, `<Nothing/>`) as an answer with no items. Each would be a listing marked `ok` with nothing in it. So
every answer is checked before it is parsed: a 2xx answer of an operation that answers with a body must
start and end as its protocol's document does (a JSON object; XML whose root element is the operation's
answer), and no answer may be an HTML page or a redirect no AWS API sends. The checks read a few bytes at
each end of the body and never parse it twice: they run on every answer of a scan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from graph.redact import redact_text

JSON_PROTOCOLS = frozenset({"json", "rest-json"})
XML_PROTOCOLS = frozenset({"query", "ec2", "rest-xml"})
CBOR_PROTOCOLS = frozenset({"smithy-rpc-v2-cbor"})
BODY_LOCATIONS = frozenset({None, "", "payload"})  # members in headers or the status code need no body

# S3 names its answers' root elements after the document, not the operation (Route 53, the other rest-xml
# service driftgraph reads, says `<Operation>Response` as the query services do, and so does moto for an
# unversioned bucket's GetBucketVersioning: that name is accepted too). Every S3 call driftgraph makes is
# here; a test keeps it so.
REST_XML_ROOTS = {
    ("s3", "ListBuckets"): "ListAllMyBucketsResult",
    ("s3", "ListObjectsV2"): "ListBucketResult",
    ("s3", "GetBucketLocation"): "LocationConstraint",
    ("s3", "GetBucketTagging"): "Tagging",
    ("s3", "GetBucketVersioning"): "VersioningConfiguration",
}
AWS_ERROR_ROOTS = frozenset({b"Error", b"ErrorResponse", b"Response"})
HTML_ROOTS = frozenset({b"html", b"head", b"body"})

# Past a byte-order mark, the XML declaration, processing instructions, comments and a doctype: the first
# element's name (its namespace prefix dropped). Run on the first 4 KiB only.
_FIRST_ELEMENT = re.compile(
    rb"(?:\xef\xbb\xbf)?(?:\s+|<\?.*?\?>|<!--.*?-->|<!(?!--)[^>]*>)*<(?:[A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)",
    re.DOTALL,
)
_HTML_DOCTYPE = re.compile(rb"(?:\xef\xbb\xbf)?\s*(?:<\?.*?\?>\s*|<!--.*?-->\s*)*<!doctype\s+html", re.DOTALL | re.IGNORECASE)
_JSON_OBJECT_START = re.compile(rb"\s*\{")
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
HEAD_BYTES = 4096


@dataclass(frozen=True)
class Expected:
    """What a 2xx answer of one operation looks like."""

    operation: str
    protocol: str
    has_body: bool  # its output has members read from the body, and it is no HEAD request
    roots: frozenset[str] = frozenset()  # XML protocols: the names its root element may have


_EXPECTED: dict[tuple[str, str], Expected] = {}


def expected_answer(operation_model) -> Expected:
    """The shape of an operation's answer, from botocore's model (worked out once per operation)."""
    service_model = operation_model.service_model
    key = (service_model.service_name, operation_model.name)
    found = _EXPECTED.get(key)
    if found is None:
        protocol = getattr(service_model, "resolved_protocol", None) or service_model.protocol
        output = operation_model.output_shape
        has_body = (
            output is not None
            and operation_model.http.get("method") != "HEAD"
            and any(m.serialization.get("location") in BODY_LOCATIONS for m in output.members.values())
        )
        roots = {f"{operation_model.name}Response"} if protocol in XML_PROTOCOLS else set()
        if protocol == "rest-xml" and key in REST_XML_ROOTS:
            roots.add(REST_XML_ROOTS[key])
        found = _EXPECTED[key] = Expected(operation_model.name, protocol, has_body, frozenset(roots))
    return found


def first_element(body: bytes) -> bytes | None:
    """The name of an XML or HTML document's first element, or None when the body does not start as markup."""
    found = _FIRST_ELEMENT.match(body[:HEAD_BYTES])
    return found.group(1) if found else None


def _is_html(body: bytes, root: bytes | None) -> bool:
    return (root is not None and root.lower() in HTML_ROOTS) or bool(_HTML_DOCTYPE.match(body[:HEAD_BYTES]))


def _title(body: bytes) -> str:
    found = _TITLE.search(body[: 16 * HEAD_BYTES])
    return " ".join(found.group(1).decode("utf-8", "replace").split())[:80] if found else ""


def _last_byte(body: bytes) -> bytes:
    return body[-64:].rstrip()[-1:]


def _what_it_is(body: bytes, root: bytes | None) -> str:
    """The body named for a reader, never quoted (it may hold anything): only an HTML page's title is shown."""
    if not body or body.isspace():
        return "an empty body"
    if _is_html(body, root):
        title = redact_text(_title(body))
        return f"an HTML page{f' ({title!r})' if title else ''}"
    if root is not None:
        return f"an XML document whose root is {root.decode('ascii', 'replace')!r}"
    if _JSON_OBJECT_START.match(body):
        return "a JSON object cut short"
    if body.lstrip()[:1] in (b"[", b'"') or body.strip() in (b"null", b"true", b"false"):
        return "JSON that is not an object"
    return "a body that is neither JSON nor XML"


def answer_problem(operation_model, status: int | None, headers, body) -> str | None:
    """Why an answer is not AWS's answer to this operation, or None when it may be.

    Error answers (4xx, 5xx) are left to botocore, which knows AWS's error documents, except an HTML page,
    named here (a 5xx page is first retried: see `error_page`)."""
    if not isinstance(body, (bytes, bytearray)) or status is None:
        return None  # a streamed answer (S3 GetObject): its reader checks its length
    body = bytes(body)
    if 300 <= status < 400:
        return _redirect_problem(operation_model, status, headers, body)
    root = first_element(body) if body[:1] != b"{" else None
    if status >= 300:
        if _is_html(body, root):
            return f"the endpoint answered HTTP {status} with {_what_it_is(body, root)}, not AWS's format: {_WHO}"
        return None
    expected = expected_answer(operation_model)
    if not expected.has_body:
        return None
    if expected.protocol in JSON_PROTOCOLS:
        readable = bool(_JSON_OBJECT_START.match(body)) and _last_byte(body) == b"}"
        wanted = "a JSON object"
    elif expected.protocol in XML_PROTOCOLS:
        readable = root is not None and root.decode("ascii", "replace") in expected.roots and _last_byte(body) == b">"
        wanted = f"an XML {' or '.join(sorted(expected.roots))} document"
    elif expected.protocol in CBOR_PROTOCOLS:
        readable = bool(body) and body[0] >> 5 == 5  # CBOR's major type 5: a map
        wanted = "a CBOR map"
    else:
        return None  # a protocol this check does not know: botocore alone judges it
    if readable:
        return None
    return f"the endpoint answered HTTP {status} with {_what_it_is(body, root)}, not {wanted}: {_WHO}"


_WHO = "a proxy, a captive portal or a wrong endpoint?"


def error_page(status: int, body: bytes) -> str | None:
    """What a 5xx HTML page is, for an answer to retry: a load balancer's or gateway's 502/503 page, or a web
    server's 500 page, is as transient as AWS's own 5xx, but botocore retries only a page that starts with
    `<html>` (and cannot parse one that starts with a doctype). None for any other answer."""
    if status < 500:
        return None
    root = first_element(body) if body[:1] != b"{" else None
    if not _is_html(body, root):
        return None
    return f"the endpoint answered HTTP {status} with {_what_it_is(body, root)}, not AWS's format: {_WHO}"


def _redirect_problem(operation_model, status: int, headers, body: bytes) -> str | None:
    """No AWS API answers with a redirect to follow, but S3 says a bucket is in another region with a 301 or
    307 that botocore follows itself (an S3 error document, `x-amz-bucket-region`, or a bare 301 without a
    Location, after which botocore asks HeadBucket): those are left to it. A proxy's redirect names a Location."""
    headers = headers if headers is not None else {}
    location = headers.get("location") or ""
    if headers.get("x-amz-bucket-region") or body[:1] == b"{" or first_element(body) in AWS_ERROR_ROOTS:
        return None
    service = operation_model.service_model.service_name if operation_model is not None else ""
    if service == "s3" and status in (301, 307) and not location:
        return None
    where = f" to {redact_text(location)[:200]}" if location else " with no Location"
    return f"the endpoint answered HTTP {status}, a redirect{where}, not AWS's answer: {_WHO}"
