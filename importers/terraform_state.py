"""Terraform state files (format 3 and 4; local files, directories, globs, S3) as records of what Terraform manages.

Reading (files, S3) happens at the edge, in `load_terraform_states` (local files through importers.inputs, which
keeps walks finite and reads capped); `parse_state`, `choose_latest` and `to_records` are pure.
Only identifiers, tags and the catalog's comparable attributes leave this module: a state holds secrets in
plain text (database passwords, SSM values, user data), so nothing else from `attributes` is ever kept.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import Counter
from contextlib import closing
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

import orjson
from botocore.exceptions import BotoCoreError, ClientError

from graph.drift import pick_values
from graph.records import GLOBAL, TERRAFORM, ImportResult, Owner, Record, SourceError, source_row
from graph.redact import redact_text
from graph.resource_types import BOOKKEEPING_TYPES, CATALOG, CHILD_TYPES, TERRAFORM_TYPES
from importers.inputs import DEFAULT_MAX_BYTES, InputProblem, find_files, read_file, too_large

SOURCE_KIND = "terraform_state"

# What a directory walk picks up. A `terraform.tfstate.backup` is an older copy of the state next to it, so a
# walk leaves it out (it does not end in either suffix); naming it explicitly still loads it.
STATE_FILE_SUFFIXES = (".tfstate", ".tfstate.json")
# Where the S3 backend keeps the states of workspaces other than "default" (its workspace_key_prefix, "env:").
S3_WORKSPACE_KEY = re.compile(r"(?:^|/)env:/[^/]+/.")
S3_HEAD_BYTES = 4096  # what one ranged GetObject reads of a key that is not a state by name, to tell
_STATE_HEADER_KEY = re.compile(rb'"(version|terraform_version|serial|lineage)"\s*:')

LOADED, ERROR, SUPERSEDED, REFUSED, SKIPPED = "loaded", "error", "superseded", "refused", "skipped"

# Classes of managed instances: only the first three become records.
CATALOGED, CHILD, UNCATALOGED, BOOKKEEPING, NOT_AWS = "cataloged", "child", "uncataloged", "bookkeeping", "not_aws"

# Attributes that name the resource itself on every type. Others (key_name, zone_id, allocation_id,
# cluster_identifier) name a *different* resource on most types, so only the catalog's own id attribute is added.
IDENTIFIER_ATTRIBUTES = ("id", "arn", "name", "url")
# Id attributes that hold a name rather than an opaque id; their value doubles as the record's name.
NAME_LIKE_ID = re.compile(r"name|^bucket$|identifier$|^cluster_id$|^replication_group_id$")

REGION = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d+$")
AVAILABILITY_ZONE = re.compile(r"^([a-z]{2}(?:-[a-z]+)+-\d+)(?:-[a-z]+-\d+)?[a-z]$")  # incl. local zones
ACCOUNT = re.compile(r"^\d{12}$")
SQS_URL = re.compile(r"^https://sqs\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/(\d{12})/")

_PROVIDER = re.compile(
    r'^(?P<module>(?:module\.[^.\[]+(?:\[[^\]]*\])?\.)*)'
    r'provider(?:\["(?P<source>[^"]+)"\]|\.(?P<name>[A-Za-z0-9_-]+))'
    r"(?:\.(?P<alias>[A-Za-z0-9_-]+))?$"
)
_PROVIDER_SHORT = re.compile(r"^(?P<name>[A-Za-z0-9_-]+)(?:\.(?P<alias>[A-Za-z0-9_-]+))?$")  # format 3: "aws.west"


# ------------------------------------------------------------------------------------------------ shapes


class StateProblem(Exception):
    """An input we cannot or will not read; `status` is ERROR or REFUSED."""

    def __init__(self, message: str, status: str = ERROR, line: int | None = None, format_version: Any = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.line = line
        self.format_version = format_version  # shown in the source row even when the state is refused


@dataclass(frozen=True)
class ProviderConfig:
    """One provider configuration: resources sharing it share a region and account unless they say otherwise."""

    type: str  # "aws", "google", "null"...
    alias: str = ""
    module: str = ""  # set when the provider block lives inside a module


@dataclass(frozen=True)
class Instance:
    """One current object of a managed resource, with attributes in the nested (format 4) shape."""

    address: str
    type: str
    provider: ProviderConfig
    attributes: Mapping[str, Any]
    sensitive: frozenset[str] = frozenset()  # top-level attribute names Terraform marks sensitive
    tainted: bool = False


@dataclass(frozen=True)
class ParsedState:
    format_version: int
    terraform_version: str | None
    lineage: str | None
    serial: int | None
    instances: tuple[Instance, ...]
    data_sources: int = 0  # data source instances: read by Terraform, managed by nobody here
    deposed: int = 0  # deposed objects: leftovers of a create_before_destroy replacement
    digest: str = ""  # of the resources, to tell a copy from a conflicting state with the same serial


@dataclass(frozen=True)
class Defaults:
    """Where a resource is when neither it nor its provider's other resources say."""

    account: str | None = None
    region: str | None = None


@dataclass(frozen=True)
class Location:
    """Where one resource is, as far as some evidence says."""

    region: str | None = None
    account: str | None = None
    arn_is_global: bool = False  # the resource's own ARN has an empty region (IAM, CloudFront, S3)


@dataclass
class _Input:
    source: str  # path or s3:// URL, as shown to the user
    read: Callable[[], bytes] | None = None
    error: SourceError | None = None
    status: str = ERROR  # of `error`, or SKIPPED for a prefix's summary of what it left out (then `note` says)
    note: str | None = None
    same_as: str | None = None  # set when the same local file was already named


@dataclass(frozen=True)
class Verdict:
    """What becomes of one state among the inputs: loaded, or superseded by another input of its lineage."""

    loaded: bool
    message: str | None = None  # why it is superseded
    superseded_by: str | None = None
    forked_with: tuple[str, ...] = ()  # loaded states of the same lineage and serial with other resources


# ------------------------------------------------------------------------------------------ public entry


def load_terraform_states(
    locations: list[str],
    session=None,
    default_account: str | None = None,
    default_region: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> ImportResult:
    """Read every state the locations name; one bad input never stops the others.

    `session` (a scanner.clients.AwsSession) is needed only for s3:// locations. `max_bytes` caps one input
    (a local file or an S3 object): a larger one is refused, unread. Every input gets a `sources` row, whose
    `superseded_by` names the input that made it count for nothing (a newer serial, the file it copies)."""
    result = ImportResult()
    inputs = _expand_locations(locations, session, default_region, max_bytes)
    reads = [_read_input(item, result.errors) for item in inputs]
    states = [(item.source, parsed) for item, parsed, _ in reads if parsed is not None]
    verdicts = iter(choose_latest(states))
    defaults = Defaults(default_account, default_region)
    for item, parsed, row in reads:
        if parsed is not None:
            verdict = next(verdicts)
            if verdict.loaded:
                _load(item.source, parsed, verdict, row, defaults, result)
            else:
                row.update(status=SUPERSEDED, message=redact_text(verdict.message), superseded_by=verdict.superseded_by)
        result.sources.append(row)
    return result


def _load(source: str, parsed: ParsedState, verdict: Verdict, row: dict, defaults: Defaults, result: ImportResult):
    try:
        records = to_records(parsed, source, defaults)
        message = describe_state(parsed, records)
    except Exception as error:  # a bug meeting an unforeseen state: this input fails, never the scan
        message = redact_text(f"{source}: could not be turned into records (unexpected {type(error).__name__})")
        result.errors.append(SourceError(source, message))
        row.update(status=ERROR, message=message)
        return
    result.records += records
    if verdict.forked_with:
        fork = redact_text(
            f"{source}: forked state: {' and '.join(verdict.forked_with)} "
            f"{'has' if len(verdict.forked_with) == 1 else 'have'} the same lineage {parsed.lineage} and serial "
            f"{parsed.serial} but different resources; all are read, so a resource in more than one has two owners"
        )
        result.errors.append(SourceError(source, fork, kind="warning"))
        message = f"{message}; {fork.removeprefix(source + ': ')}"
    row.update(status=LOADED, message=redact_text(message))


def _read_input(item: _Input, errors: list[SourceError]) -> tuple[_Input, ParsedState | None, dict[str, Any]]:
    """Read and parse one input: its parsed state, or None with the problem in `errors` and in its row."""
    row = _source_row(item.source)
    if item.error is not None or item.note is not None:
        if item.error is not None:
            errors.append(item.error)
        row.update(status=item.status, message=item.error.message if item.error else item.note)
        return item, None, row
    if item.same_as is not None:
        message = f"the same file as {item.same_as}, already read"
        row.update(status=SUPERSEDED, message=message, superseded_by=item.same_as)
        return item, None, row
    try:
        parsed = parse_state(item.read(), item.source)
    except StateProblem as problem:
        errors.append(SourceError(item.source, problem.message, line=problem.line))
        row.update(status=problem.status, message=problem.message)
        if problem.format_version is not None:
            row["format_version"] = str(problem.format_version)
        return item, None, row
    except InputProblem as problem:  # not a regular file, over the size limit
        message = redact_text(f"{item.source}: {problem.reason}")
        errors.append(SourceError(item.source, message))
        row.update(status=problem.status, message=message)
        return item, None, row
    except Exception as error:  # an unreadable file, a failed S3 call, a bug: named, never fatal
        message = _read_failure(item.source, error)
        errors.append(SourceError(item.source, message, code=_error_code(error)))
        row.update(status=ERROR, message=message)
        return item, None, row
    row.update(
        format_version=str(parsed.format_version),
        tool_version=parsed.terraform_version,
        lineage=parsed.lineage,
        serial=parsed.serial,
        resource_count=len(parsed.instances),
    )
    return item, parsed, row


def _source_row(source: str) -> dict[str, Any]:
    return source_row(source, SOURCE_KIND, ERROR)


# --------------------------------------------------------------------------------------- edge: reading


def _expand_locations(locations: Iterable[str], session, region: str | None, max_bytes: int) -> list[_Input]:
    """Every input the locations name, in order: files, folder walks, glob matches, S3 objects."""
    inputs: list[_Input] = []
    for location in locations:
        if location.startswith("s3://"):
            inputs += _s3_inputs(location, session, region, max_bytes)
            continue
        found = find_files(location, _is_state_name, skip_folder=lambda name: name == ".terraform")
        if not found:
            inputs.append(_failed(location, f"{location}: no *.tfstate or *.tfstate.json file in this directory"))
        for item in found:
            if item.problem is not None:
                inputs.append(_failed(item.path, f"{item.path}: {item.problem}", item.status))
            else:
                inputs.append(_Input(item.path, read=_local_reader(item.path, max_bytes)))
    seen: dict[str, str] = {}
    for item in inputs:
        if item.read is not None and not item.source.startswith("s3://"):
            key = os.path.realpath(item.source)
            if key in seen:
                item.same_as = seen[key]
            else:
                seen[key] = item.source
    return inputs


def _is_state_name(name: str) -> bool:
    return name.endswith(STATE_FILE_SUFFIXES)


def _failed(source: str, message: str, status: str = ERROR, code: str | None = None) -> _Input:
    return _Input(source, error=SourceError(source, redact_text(message), code=code), status=status)


def _local_reader(path: str, max_bytes: int) -> Callable[[], bytes]:
    return lambda: read_file(path, max_bytes)


def _s3_inputs(url: str, session, region: str | None, max_bytes: int) -> list[_Input]:
    """The state objects under an s3://bucket/prefix, each fetched lazily with GetObject.

    A prefix may hold thousands of other objects (plans, lock files, exports): only keys ending in `.tfstate` are
    states by name; a `.json` key, or any key where the S3 backend keeps workspaces (`env:/<workspace>/<key>`), is
    read only if its first bytes (one ranged GetObject) look like a state. The others are counted, not read."""
    bucket, _, prefix = url[len("s3://") :].partition("/")
    if not bucket:
        return [_failed(url, f"{url}: no bucket named")]
    if session is None:
        return [_failed(url, f"{url}: reading state from S3 needs an AWS session")]
    try:
        client = session.client("s3", region)
        listed = sorted(
            (item["Key"], item.get("Size"))
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for item in page.get("Contents") or []
        )
    except Exception as error:
        return [_failed(url, _read_failure(url, error), code=_error_code(error))]

    inputs: list[_Input] = []
    not_states = 0
    for key, size in listed:
        source = f"s3://{bucket}/{key}"
        by_name = key.endswith(".tfstate")
        if not by_name and not (key.endswith(".json") or S3_WORKSPACE_KEY.search(key)):
            continue
        if size is not None and size > max_bytes:
            inputs.append(_failed(source, f"{source}: {too_large(size, max_bytes)}", REFUSED))
            continue
        if by_name:
            inputs.append(_Input(source, read=_s3_reader(client, bucket, key, max_bytes)))
            continue
        if not size:
            not_states += 1  # an empty object (or a folder marker) is not a state
            continue
        try:
            head = _s3_head(client, bucket, key)
        except Exception as error:
            inputs.append(_failed(source, _read_failure(source, error), code=_error_code(error)))
            continue
        if not looks_like_state(head):
            not_states += 1
        elif len(head) >= size:  # the head was the whole object
            inputs.append(_Input(source, read=lambda head=head: head))
        else:
            inputs.append(_Input(source, read=_s3_reader(client, bucket, key, max_bytes)))
    checked = f"{not_states} object{'s' if not_states != 1 else ''} whose first bytes are not a Terraform state"
    if not inputs:
        return [_failed(url, f"{url}: no Terraform state under this prefix" + (f" ({checked})" if not_states else ""))]
    if not_states:
        inputs.append(_Input(url, status=SKIPPED, note=f"{url}: skipped {checked}"))
    return inputs


def _s3_head(client, bucket: str, key: str) -> bytes:
    answer = client.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{S3_HEAD_BYTES - 1}")
    with closing(answer["Body"]) as body:
        return body.read(S3_HEAD_BYTES)


def _s3_reader(client, bucket: str, key: str, max_bytes: int) -> Callable[[], bytes]:
    def read() -> bytes:
        with closing(client.get_object(Bucket=bucket, Key=key)["Body"]) as body:
            content = body.read(max_bytes + 1)  # the listing's size may have changed since
        if len(content) > max_bytes:
            raise InputProblem(too_large(None, max_bytes), REFUSED)
        return content

    return read


def looks_like_state(head: bytes) -> bool:
    """Whether the first bytes of a JSON document look like a Terraform state: an object whose first keys
    include two of version, terraform_version, serial and lineage (Terraform writes them first)."""
    if not head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
        return False
    return len(set(_STATE_HEADER_KEY.findall(head))) >= 2


def _read_failure(source: str, error: Exception) -> str:
    if isinstance(error, OSError):  # local files come as InputProblem: this is a connection to S3 failing
        reason = f"cannot be read ({error.strerror or type(error).__name__})"
    elif isinstance(error, ClientError):
        code = _error_code(error) or "?"
        detail = (error.response.get("Error") or {}).get("Message")
        reason = f"cannot be read ({code}{': ' + detail if detail and detail != code else ''})"
    elif isinstance(error, BotoCoreError):
        reason = f"cannot be read ({error})"
    else:
        reason = f"cannot be read (unexpected {type(error).__name__}: please report it)"
    return redact_text(f"{source}: {reason}")


def _error_code(error: Exception) -> str | None:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        return (response.get("Error") or {}).get("Code")
    return None


# ----------------------------------------------------------------------------------------- pure: parsing


def parse_state(content: bytes | str, source: str) -> ParsedState:
    """A state document as its managed instances. Raises StateProblem naming `source` when it cannot.

    Integers beyond 64 bits come back as floats (orjson); state identifiers are strings, so none is affected."""
    if isinstance(content, str):
        content = content.encode("utf-8")
    if content.startswith(b"\xef\xbb\xbf"):  # a BOM, as some Windows editors write
        content = content[3:]
    try:
        document = orjson.loads(content)
    except orjson.JSONDecodeError as error:
        line, column = _error_position(content, error)
        raise StateProblem(
            redact_text(f"{source}: invalid JSON at line {line}, column {column}: {error.msg}"), line=line
        ) from None
    if not isinstance(document, dict):
        raise StateProblem(f"{source}: not a Terraform state (the top level is not a JSON object)")
    version = document.get("version")
    if version is None or isinstance(version, bool):
        raise StateProblem(f"{source}: not a Terraform state (no format \"version\" field)")
    if version in (1, 2):
        raise StateProblem(
            f"{source}: state format version {version} (Terraform < 0.7) is not supported; upgrade it by "
            "running `terraform plan` with Terraform 0.11, which rewrites it as format 3",
            status=REFUSED,
            format_version=version,
        )
    if version == 3:
        return _parse_v3(document, source)
    if version == 4:
        return _parse_v4(document, source)
    raise StateProblem(
        redact_text(
            f"{source}: unknown state format version {version!r}; driftgraph reads formats 3 (Terraform 0.7-0.11) "
            "and 4 (Terraform 0.12 and later)"
        ),
        status=REFUSED,
        format_version=version,
    )


def _error_position(content: bytes, error: orjson.JSONDecodeError) -> tuple[int, int]:
    """Line and column of a JSON error; orjson counts them from its position in the decoded text."""
    lineno, colno = getattr(error, "lineno", None), getattr(error, "colno", None)
    if lineno:
        return lineno, colno or 1
    try:  # fall back on the standard library, which always reports a line
        json.loads(content.decode("utf-8", errors="replace"))
    except json.JSONDecodeError as fallback:
        return fallback.lineno, fallback.colno
    return 1, 1


def _header(document: dict) -> tuple[str | None, str | None, int | None]:
    serial = document.get("serial")
    return (
        _text(document.get("terraform_version")),
        _text(document.get("lineage")),
        serial if isinstance(serial, int) and not isinstance(serial, bool) else None,
    )


def _digest(value: Any) -> str:
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _parse_v4(document: dict, source: str) -> ParsedState:
    """Format 4 (Terraform 0.12+): resources[].instances[] with nested attributes."""
    resources = _field(document, "resources", list, source, "the state")
    instances: list[Instance] = []
    data_sources = deposed = 0
    for position, resource in enumerate(resources):
        where = f"resources[{position}]"
        try:
            _require(resource, dict, source, where)
            mode = _field(resource, "mode", str, source, where, default="managed")
            rtype = _field(resource, "type", str, source, where, default=None)
            name = _field(resource, "name", str, source, where, default=None)
            if not rtype or name is None:
                raise StateProblem(f"{source}: {where}: no {'type' if not rtype else 'name'}")
            module = _field(resource, "module", str, source, where, default="")
            base = f"{module}.{rtype}.{name}" if module else f"{rtype}.{name}"
            where = f"{where} ({'data.' if mode == 'data' else ''}{base})"
            objects = _field(resource, "instances", list, source, where)
            for index, obj in enumerate(objects):
                _require(obj, dict, source, f"{where}, instances[{index}]")
            if mode == "data":
                data_sources += len(objects)
                continue
            if mode != "managed":
                raise StateProblem(f"{source}: {where}: unknown mode {mode!r} (Terraform writes managed or data)")
            provider = parse_provider(_field(resource, "provider", str, source, where, default=None), rtype)
            for index, obj in enumerate(objects):
                if obj.get("deposed"):
                    deposed += 1
                    continue
                instances.append(_v4_instance(obj, base, rtype, provider, source, f"{where}, instances[{index}]"))
        except StateProblem:
            raise
        except Exception as error:  # unforeseen: named by place, never by value (a value may be a secret)
            raise StateProblem(f"{source}: {where}: cannot be read (unexpected {type(error).__name__})") from None
    return ParsedState(4, *_header(document), tuple(instances), data_sources, deposed, digest=_digest(resources))


def _v4_instance(obj: dict, base: str, rtype: str, provider: ProviderConfig, source: str, where: str) -> Instance:
    key = obj.get("index_key")
    if isinstance(key, bool) or not isinstance(key, (str, int, type(None))):
        raise StateProblem(f"{source}: {where}: \"index_key\" is {_json_type(key)}, not a string or a number")
    address = base + format_index(key)
    where = f"{where} ({address})"
    attributes = _field(obj, "attributes", dict, source, where, default=None)
    if attributes is None:  # early 0.12 states kept legacy flat attributes here
        flat = _field(obj, "attributes_flat", dict, source, where, default=None)
        if flat is None:
            raise StateProblem(f"{source}: {where}: no \"attributes\" (nor \"attributes_flat\")")
        attributes = unflatten(flat)
    return Instance(
        address=address,
        type=rtype,
        provider=provider,
        attributes=attributes,
        sensitive=_sensitive_names(_field(obj, "sensitive_attributes", list, source, where)),
        tainted=obj.get("status") == "tainted",
    )


def _json_type(value: Any) -> str:
    """What a JSON value is, to say so without quoting it (a state's values may be secrets)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return {str: "a string", list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


_EXPECTED = {list: "a list", dict: "an object", str: "a string"}


def _require(value: Any, kind: type, source: str, where: str) -> None:
    if not isinstance(value, kind):
        raise StateProblem(f"{source}: {where} is {_json_type(value)}, not {_EXPECTED[kind]}")


_EMPTY = object()


def _field(container: dict, key: str, kind: type, source: str, where: str, default: Any = _EMPTY) -> Any:
    """container[key] when it is of `kind`; `default` (an empty one by default) when missing or null."""
    value = container.get(key)
    if value is None:
        return kind() if default is _EMPTY else default
    if not isinstance(value, kind):
        raise StateProblem(f"{source}: {where}: \"{key}\" is {_json_type(value)}, not {_EXPECTED[kind]}")
    return value


def _sensitive_names(paths: list) -> frozenset[str]:
    """Top-level attributes named by `sensitive_attributes` paths ([[{"type": "get_attr", "value": "password"}]])."""
    names: set[str] = set()
    for path in paths:
        step = path[0] if isinstance(path, list) and path else path
        if isinstance(step, dict) and step.get("type") == "get_attr" and isinstance(step.get("value"), str):
            names.add(step["value"])
    return frozenset(names)


def _parse_v3(document: dict, source: str) -> ParsedState:
    """Format 3 (Terraform 0.7-0.11): modules[].resources{"aws_x.name.N": {primary: {attributes (flat)}}}."""
    modules = _field(document, "modules", list, source, "the state")
    instances: list[Instance] = []
    data_sources = deposed = 0
    for position, module in enumerate(modules):
        where = f"modules[{position}]"
        _require(module, dict, source, where)
        path = _field(module, "path", list, source, where, default=["root"])
        if not all(isinstance(p, str) for p in path):
            raise StateProblem(f"{source}: {where}: \"path\" holds something other than module names (strings)")
        prefix = "".join(f"module.{name}." for name in path[1:])
        where = f"{where} ({'.'.join(path)})"
        resources = _field(module, "resources", dict, source, where)
        for key, resource in resources.items():
            place = f"{where}, resource {prefix}{key}"
            try:
                if key.startswith("data."):
                    data_sources += 1
                    continue
                instance, deposed_here = _v3_instance(key, resource, prefix, source, place)
                deposed += deposed_here
                if instance is not None:
                    instances.append(instance)
            except StateProblem:
                raise
            except Exception as error:  # unforeseen: named by place, never by value (a value may be a secret)
                raise StateProblem(f"{source}: {place}: cannot be read (unexpected {type(error).__name__})") from None
    return ParsedState(3, *_header(document), tuple(instances), data_sources, deposed, digest=_digest(modules))


def _v3_instance(key: str, resource: Any, prefix: str, source: str, where: str) -> tuple[Instance | None, int]:
    """One resource of a format 3 module: its primary object (None when only deposed ones are left), and how
    many deposed objects it has."""
    _require(resource, dict, source, where)
    deposed = len([d for d in _field(resource, "deposed", list, source, where) if d])
    primary = _field(resource, "primary", dict, source, where, default=None)
    if primary is None:
        return None, deposed
    parts = key.split(".")
    rtype = _field(resource, "type", str, source, where, default=None) or parts[0]
    name = parts[1] if len(parts) > 1 else ""
    index = f"[{parts[2]}]" if len(parts) > 2 and parts[2].isdigit() else ""
    attributes = unflatten(_field(primary, "attributes", dict, source, f"{where}, primary"))
    if primary.get("id") is not None:
        attributes.setdefault("id", primary["id"])
    provider = parse_provider(_field(resource, "provider", str, source, where, default=None), rtype)
    instance = Instance(
        address=f"{prefix}{rtype}.{name}{index}",
        type=rtype,
        provider=provider,
        attributes=attributes,
        tainted=bool(primary.get("tainted")),
    )
    return instance, deposed


def format_index(key: Any) -> str:
    """An instance key as Terraform prints it: [0] for count, ["orders"] for for_each."""
    if key is None:
        return ""
    if isinstance(key, bool):  # never written by Terraform; spelt as HCL would
        return f"[{str(key).lower()}]"
    if isinstance(key, int):
        return f"[{key}]"
    return "[" + json.dumps(str(key), ensure_ascii=False) + "]"


def parse_provider(text: Any, resource_type: str) -> ProviderConfig:
    """A provider reference in any spelling Terraform has used, as (type, alias, module).

    provider["registry.terraform.io/hashicorp/aws"].west, module.m.provider.aws, provider.aws.west, aws.west;
    a missing one means the default configuration of the provider the type's prefix names."""
    text = _text(text) or ""
    match = _PROVIDER.match(text)
    if match:
        name = (match["source"] or "").rsplit("/", 1)[-1] or match["name"]
        return ProviderConfig(name, match["alias"] or "", (match["module"] or "").rstrip("."))
    match = _PROVIDER_SHORT.match(text)
    if match:
        return ProviderConfig(match["name"], match["alias"] or "")
    return ProviderConfig(resource_type.split("_", 1)[0])


def unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Terraform 0.11's flat attributes as the nested shape format 4 writes.

    "tags.%" marks a map (its keys may hold dots: "tags.kubernetes.io/role"), "x.#" a list or set whose
    elements are "x.0", "x.1" (lists) or "x.<hash>" (sets), and "x.0.port" a field of an element."""
    groups: dict[str, dict[str | None, Any]] = {}
    for key, value in flat.items():
        head, dot, rest = str(key).partition(".")
        groups.setdefault(head, {})[rest if dot else None] = value
    return {head: _unflatten_group(members, in_object=True) for head, members in groups.items()}


def _unflatten_group(members: dict[str | None, Any], in_object: bool = False) -> Any:
    if set(members) == {None}:
        value = members[None]
        # Format 3 wrote every value as text. Booleans are given their type back, as format 4 has them (and so a
        # rule's "self": "false" does not read as true); numbers stay text: the int/float normalisers read both.
        # Map values (tags) and list items keep their text: a tag "true" is a string in every format.
        return _BOOLEANS.get(value, value) if in_object and isinstance(value, str) else value
    items = {k: v for k, v in members.items() if k not in (None, "%", "#")}
    if "%" in members:
        return items
    if "#" in members:
        heads = {k.partition(".")[0] for k in items}
        if not all(_is_index(h) for h in heads):
            return items  # format 1 and 2 marked maps with '#' too
        elements: dict[str, dict[str | None, Any]] = {}
        for key, value in items.items():
            index, dot, rest = key.partition(".")
            elements.setdefault(index, {})[rest if dot else None] = value
        return [_unflatten_group(elements[i]) for i in sorted(elements, key=_index_order)]
    return unflatten(items)


_BOOLEANS = {"true": True, "false": False}


def _is_index(text: str) -> bool:
    return text.lstrip("~-").isdigit()


def _index_order(text: str) -> tuple[int, str]:
    return (int(text.lstrip("~")), text)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


# ------------------------------------------------------------------------------------ pure: supersession


def choose_latest(states: list[tuple[str, ParsedState]]) -> list[Verdict]:
    """For each (source, state), whether it counts, and when not, which input supersedes it and why.

    Two inputs with one lineage are one state's history (a backup, a copy, a pulled snapshot): only the highest
    serial counts, or two copies would look like two owners. Copies at that serial count once, the first named.
    Different contents at that serial mean the state was forked: no side can be chosen, so every side is read
    and each names the others (their common resources then have two owners, which the report shows)."""
    by_lineage: dict[str, list[int]] = {}
    for position, (_, parsed) in enumerate(states):
        if parsed.lineage:
            by_lineage.setdefault(parsed.lineage, []).append(position)
    verdicts = [Verdict(True)] * len(states)
    for lineage, positions in by_lineage.items():
        newest = max(_serial(states[p][1]) for p in positions)
        sides: dict[str, int] = {}  # the first input of each content at the newest serial
        for position in positions:
            if _serial(states[position][1]) == newest:
                sides.setdefault(states[position][1].digest, position)
        first_side = states[min(sides.values())][0]
        for position in positions:
            source, parsed = states[position]
            side = sides.get(parsed.digest) if _serial(parsed) == newest else None
            if side == position:
                others = tuple(states[p][0] for p in sides.values() if p != position)
                verdicts[position] = Verdict(True, forked_with=others)
            elif side is not None:
                kept = states[side][0]
                message = f"a copy of {kept} (same lineage {lineage}, serial {parsed.serial}, same resources)"
                verdicts[position] = Verdict(False, message, superseded_by=kept)
            else:
                message = f"superseded by {first_side}: same lineage {lineage}, older serial {parsed.serial} < {newest}"
                verdicts[position] = Verdict(False, message, superseded_by=first_side)
    return verdicts


def _serial(parsed: ParsedState) -> int:
    return parsed.serial if parsed.serial is not None else -1


# ------------------------------------------------------------------------------------- pure: to records


def classify(instance: Instance) -> str:
    """What an instance is to us: a cataloged resource, a child of one, another AWS type, or none of ours."""
    if instance.type in BOOKKEEPING_TYPES:
        return BOOKKEEPING
    if instance.provider.type != "aws" and not instance.type.startswith("aws_"):
        return NOT_AWS
    if instance.type in TERRAFORM_TYPES:  # before CHILD_TYPES: aws_default_network_acl is both
        return CATALOGED
    if instance.type in CHILD_TYPES:
        return CHILD
    return UNCATALOGED


def to_records(parsed: ParsedState, source: str, defaults: Defaults = Defaults()) -> list[Record]:
    """One record per managed AWS instance; bookkeeping and other providers' resources are left out."""
    kept = [(instance, classify(instance)) for instance in parsed.instances]
    kept = [(instance, kind) for instance, kind in kept if kind in (CATALOGED, CHILD, UNCATALOGED)]
    own = [own_location(instance.attributes) for instance, _ in kept]
    by_provider = provider_locations([(instance.provider, location) for (instance, _), location in zip(kept, own)])
    accounts = {location.account for location in own if location.account}
    state_account = accounts.pop() if len(accounts) == 1 else None
    records = []
    for (instance, kind), location in zip(kept, own):
        shared = by_provider.get(instance.provider, Location())
        account = location.account or shared.account or defaults.account or state_account
        regional = location.region or shared.region or defaults.region
        owner = Owner(tool="terraform", source=source, address=instance.address, framework="terraform")
        if kind == CATALOGED:
            records.append(_cataloged_record(instance, account, regional, owner))
        elif kind == CHILD:
            records.append(_child_record(instance, account, regional, owner))
        else:
            region = GLOBAL if location.arn_is_global and not location.region else regional
            records.append(_uncataloged_record(instance, account, region, owner))
    return records


def own_location(attributes: Mapping[str, Any]) -> Location:
    """Region and account a resource states itself: its ARN, its `region` (provider v6, S3 buckets), its
    availability zone, a queue URL, an EC2 `owner_id`."""
    region = account = None
    arn_is_global = False
    arn = _arn_of(attributes)
    if arn:
        parts = arn.split(":", 5)
        region = parts[3] if REGION.match(parts[3]) else None
        account = parts[4] if ACCOUNT.match(parts[4]) else None
        arn_is_global = parts[3] == ""
    for candidate in (attributes.get("region"), attributes.get("availability_zone")):
        if region is None and isinstance(candidate, str):
            zone = AVAILABILITY_ZONE.match(candidate)
            region = candidate if REGION.match(candidate) else (zone.group(1) if zone else None)
    for value in (attributes.get("url"), attributes.get("id")):
        url = SQS_URL.match(value) if isinstance(value, str) else None
        if url:
            region, account = region or url.group(1), account or url.group(2)
    owner_id = attributes.get("owner_id")
    if account is None and isinstance(owner_id, str) and ACCOUNT.match(owner_id):
        account = owner_id
    return Location(region, account, arn_is_global)


def provider_locations(evidence: list[tuple[ProviderConfig, Location]]) -> dict[ProviderConfig, Location]:
    """The region and account most resources of each provider configuration state about themselves."""
    regions: dict[ProviderConfig, Counter] = {}
    accounts: dict[ProviderConfig, Counter] = {}
    for provider, location in evidence:
        if location.region:
            regions.setdefault(provider, Counter())[location.region] += 1
        if location.account:
            accounts.setdefault(provider, Counter())[location.account] += 1
    return {
        provider: Location(_most_common(regions.get(provider)), _most_common(accounts.get(provider)))
        for provider in set(regions) | set(accounts)
    }


def _most_common(counter: Counter | None) -> str | None:
    if not counter:
        return None
    return min(counter.items(), key=lambda item: (-item[1], item[0]))[0]  # ties: alphabetical, not random


def _cataloged_record(instance: Instance, account, region, owner: Owner) -> Record:
    row, tf = TERRAFORM_TYPES[instance.type]
    attributes = _visible(instance)
    natural_id = _identifier(attributes.get(tf.id_attribute))
    note = None
    if natural_id is None:
        natural_id = _identifier(attributes.get("id"))
        note = f"no {tf.id_attribute} in state; matched by id"
    if natural_id is not None and row.lowercase_id:
        natural_id = natural_id.lower()
    if row.is_global:
        region = GLOBAL
    # the identifier names the resource where it is a name (an RDS instance's `identifier`); `name` may be
    # something else there (aws_db_instance's `name` is the database inside it)
    name = _identifier(attributes.get(tf.id_attribute)) if NAME_LIKE_ID.search(tf.id_attribute) else None
    name = name or _identifier(attributes.get("name"))
    tags = _tags(attributes)
    if name is None and tags:
        name = _identifier(tags.get("Name"))
    return Record(
        source_kind=TERRAFORM,
        type=row.type,
        account=account,
        region=region,
        natural_id=natural_id,
        arn=_arn_of(attributes),
        name=name,
        aliases=_aliases(attributes, (*IDENTIFIER_ATTRIBUTES, tf.id_attribute), natural_id, row.lowercase_id),
        tags=tags,
        # exactly the comparables, as the other sources give them; the store redacts every row on the way in
        attributes=pick_values(row, TERRAFORM, attributes),
        owner=owner,
        raw_type=instance.type,
        note=_join_notes(note, _tainted_note(instance)),
    )


def _child_record(instance: Instance, account, region, owner: Owner) -> Record:
    parent_type, parent_attribute = CHILD_TYPES[instance.type]
    attributes = _visible(instance)
    parent_id = _identifier(attributes.get(parent_attribute))
    parent_row = CATALOG.get(parent_type)
    if parent_row is not None and parent_row.is_global:
        region = GLOBAL  # a policy attachment lives where its role does
    return Record(
        source_kind=TERRAFORM,
        type=instance.type,
        account=account,
        region=region,
        natural_id=_identifier(attributes.get("id")),
        arn=_arn_of(attributes),
        tags=_tags(attributes),
        owner=owner,
        parent=(parent_type, parent_id) if parent_id is not None else None,
        raw_type=instance.type,
        note=_join_notes(
            None if parent_id is not None else f"no {parent_attribute} in state: parent unknown",
            _tainted_note(instance),
        ),
    )


def _uncataloged_record(instance: Instance, account, region, owner: Owner) -> Record:
    attributes = _visible(instance)
    natural_id = _identifier(attributes.get("id"))
    return Record(
        source_kind=TERRAFORM,
        type=instance.type,
        account=account,
        region=region,
        natural_id=natural_id,
        arn=_arn_of(attributes),
        name=_identifier(attributes.get("name")),
        aliases=_aliases(attributes, IDENTIFIER_ATTRIBUTES, natural_id, False),
        tags=_tags(attributes),
        owner=owner,
        raw_type=instance.type,
        note=_tainted_note(instance),
    )


def _visible(instance: Instance) -> Mapping[str, Any]:
    """The attributes without those Terraform marks sensitive: they never reach a record, even if compared."""
    if not instance.sensitive:
        return instance.attributes
    return {k: v for k, v in instance.attributes.items() if k not in instance.sensitive}


def _identifier(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return str(value)
    return value if isinstance(value, str) and value else None


def _arn_of(attributes: Mapping[str, Any]) -> str | None:
    for key in ("arn", "id"):
        value = attributes.get(key)
        if isinstance(value, str) and value.startswith("arn:") and value.count(":") >= 5:
            return value
    return None


def _aliases(
    attributes: Mapping[str, Any], keys: Iterable[str], natural_id: str | None, case_insensitive: bool
) -> tuple[str, ...]:
    def same(a: str, b: str | None) -> bool:
        return b is not None and (a.lower() == b.lower() if case_insensitive else a == b)

    found: list[str] = []
    for key in keys:
        value = _identifier(attributes.get(key))
        if value is not None and not same(value, natural_id) and not any(same(value, f) for f in found):
            found.append(value)
    return tuple(found)


def _tags(attributes: Mapping[str, Any]) -> dict[str, Any] | None:
    """`tags_all` (with the provider's default_tags, as AWS has them), else `tags`; None when the type has none."""
    for key in ("tags_all", "tags"):
        value = attributes.get(key)
        if isinstance(value, dict):
            return dict(value)
    if "tags_all" in attributes or "tags" in attributes:
        return {}  # null tags: Terraform declares none
    return None


def _tainted_note(instance: Instance) -> str | None:
    return "tainted: Terraform will replace it on the next apply" if instance.tainted else None


def _join_notes(*notes: str | None) -> str | None:
    present = [n for n in notes if n]
    return "; ".join(present) if present else None


def describe_state(parsed: ParsedState, records: list[Record]) -> str:
    """The source row's message: what was read, and what was left out and why."""
    kinds = Counter()
    skipped_types: dict[str, set[str]] = {BOOKKEEPING: set(), NOT_AWS: set()}
    for instance in parsed.instances:
        kind = classify(instance)
        kinds[kind] += 1
        if kind in skipped_types:
            skipped_types[kind].add(instance.type)
    parts = [f"{len(parsed.instances)} managed instances, {len(records)} records"]
    for kind, label in ((BOOKKEEPING, "bookkeeping"), (NOT_AWS, "not AWS")):
        if kinds[kind]:
            names = sorted(skipped_types[kind])
            shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
            parts.append(f"{kinds[kind]} {label} skipped ({shown})")
    if parsed.data_sources:
        parts.append(f"{parsed.data_sources} data source instances not read")
    if parsed.deposed:
        parts.append(f"{parsed.deposed} deposed objects skipped (left by an unfinished create_before_destroy)")
    return redact_text("; ".join(parts))
