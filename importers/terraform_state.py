"""Terraform state files (format 3 and 4; local files, directories, globs, S3) as records of what Terraform manages.

Reading (files, S3) happens at the edge, in `load_terraform_states`; `parse_state` and `to_records` are pure.
Only identifiers, tags and the catalog's comparable attributes leave this module: a state holds secrets in
plain text (database passwords, SSM values, user data), so nothing else from `attributes` is ever kept.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import orjson

from graph.drift import pick_values
from graph.records import GLOBAL, TERRAFORM, ImportResult, Owner, Record, SourceError
from graph.redact import redact_text
from graph.resource_types import BOOKKEEPING_TYPES, CATALOG, CHILD_TYPES, TERRAFORM_TYPES

SOURCE_KIND = "terraform_state"

# What a directory walk picks up. A `terraform.tfstate.backup` is an older copy of the state next to it, so a
# walk leaves it out (it does not end in either suffix); naming it explicitly still loads it.
STATE_FILE_SUFFIXES = (".tfstate", ".tfstate.json")
S3_STATE_SUFFIXES = (".tfstate", ".json")

LOADED, ERROR, SUPERSEDED, REFUSED = "loaded", "error", "superseded", "refused"

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
    same_as: str | None = None  # set when the same local file was already named


# ------------------------------------------------------------------------------------------ public entry


def load_terraform_states(
    locations: list[str],
    session=None,
    default_account: str | None = None,
    default_region: str | None = None,
) -> ImportResult:
    """Read every state the locations name; one bad input never stops the others.

    `session` (a scanner.clients.AwsSession) is needed only for s3:// locations."""
    result = ImportResult()
    reads = [_read_input(item, result.errors) for item in _expand_locations(locations, session, default_region)]
    states = [(item.source, parsed) for item, parsed, _ in reads if parsed is not None]
    verdicts = iter(choose_latest(states))
    defaults = Defaults(default_account, default_region)
    for item, parsed, row in reads:
        if parsed is not None:
            verdict = next(verdicts)
            if verdict is None:
                records = to_records(parsed, item.source, defaults)
                result.records += records
                row.update(status=LOADED, message=describe_state(parsed, records))
            else:
                message, conflicting = verdict
                row.update(status=SUPERSEDED, message=redact_text(message))
                if conflicting:
                    result.errors.append(SourceError(item.source, row["message"], kind="warning"))
        result.sources.append(row)
    return result


def _read_input(item: _Input, errors: list[SourceError]) -> tuple[_Input, ParsedState | None, dict[str, Any]]:
    """Read and parse one input: its parsed state, or None with the problem in `errors` and in its row."""
    row = _source_row(item.source)
    if item.error is not None:
        errors.append(item.error)
        row.update(status=ERROR, message=item.error.message)
        return item, None, row
    if item.same_as is not None:
        row.update(status=SUPERSEDED, message=f"the same file as {item.same_as}, already read")
        return item, None, row
    try:
        parsed = parse_state(item.read(), item.source)
    except StateProblem as problem:
        errors.append(SourceError(item.source, problem.message, line=problem.line))
        row.update(status=problem.status, message=problem.message)
        if problem.format_version is not None:
            row["format_version"] = str(problem.format_version)
        return item, None, row
    except Exception as error:  # an unreadable file or a failed S3 call: named, never fatal
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
    return {
        "path": source,
        "kind": SOURCE_KIND,
        "status": ERROR,
        "format_version": None,
        "tool_version": None,
        "lineage": None,
        "serial": None,
        "resource_count": 0,
        "message": None,
    }


# --------------------------------------------------------------------------------------- edge: reading


def _expand_locations(locations: Iterable[str], session, region: str | None) -> list[_Input]:
    """Every input the locations name, in order: files, directory walks, glob matches, S3 objects."""
    inputs: list[_Input] = []
    for location in locations:
        if location.startswith("s3://"):
            inputs += _s3_inputs(location, session, region)
            continue
        location = os.path.expanduser(location)
        if glob.has_magic(location):
            matches = sorted(glob.glob(location, recursive=True))
            if not matches:
                inputs.append(_failed(location, f"{location}: no file matches this pattern"))
            for match in matches:
                inputs += _directory_inputs(match) if os.path.isdir(match) else [_file_input(match)]
        elif os.path.isdir(location):
            found = _directory_inputs(location)
            inputs += found or [_failed(location, f"{location}: no *.tfstate or *.tfstate.json file in this directory")]
        else:
            inputs.append(_file_input(location))
    seen: dict[str, str] = {}
    for item in inputs:
        if item.read is not None and not item.source.startswith("s3://"):
            key = os.path.realpath(item.source)
            if key in seen:
                item.same_as = seen[key]
            else:
                seen[key] = item.source
    return inputs


def _failed(source: str, message: str) -> _Input:
    return _Input(source, error=SourceError(source, redact_text(message)))


def _file_input(path: str) -> _Input:
    return _Input(path, read=lambda: Path(path).read_bytes())


def _directory_inputs(directory: str) -> list[_Input]:
    """State files under a directory, recursively, in a stable order; `.terraform/` caches are skipped."""
    found: list[str] = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if d != ".terraform")
        found += [os.path.join(root, f) for f in sorted(files) if f.endswith(STATE_FILE_SUFFIXES)]
    return [_file_input(path) for path in found]


def _s3_inputs(url: str, session, region: str | None) -> list[_Input]:
    """The state objects under an s3://bucket/prefix, each fetched lazily with GetObject."""
    bucket, _, prefix = url[len("s3://") :].partition("/")
    if not bucket:
        return [_failed(url, f"{url}: no bucket named")]
    if session is None:
        return [_failed(url, f"{url}: reading state from S3 needs an AWS session")]
    try:
        client = session.client("s3", region)
        keys = [
            item["Key"]
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for item in page.get("Contents") or []
            if item["Key"].endswith(S3_STATE_SUFFIXES)
        ]
    except Exception as error:
        return [_Input(url, error=SourceError(url, _read_failure(url, error), code=_error_code(error)))]
    if not keys:
        return [_failed(url, f"{url}: no object ending in .tfstate or .json under this prefix")]

    def fetch(key: str) -> Callable[[], bytes]:
        return lambda: client.get_object(Bucket=bucket, Key=key)["Body"].read()

    return [_Input(f"s3://{bucket}/{key}", read=fetch(key)) for key in sorted(keys)]


def _read_failure(source: str, error: Exception) -> str:
    if isinstance(error, IsADirectoryError):
        reason = "is a directory, not a state file"
    elif isinstance(error, FileNotFoundError):
        reason = "no such file"
    elif isinstance(error, PermissionError):
        reason = "permission denied"
    elif isinstance(error, OSError):
        reason = f"cannot be read ({error.strerror or type(error).__name__})"
    else:
        code = _error_code(error)
        reason = f"cannot be read ({type(error).__name__}{': ' + code if code else ''})"
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
    resources = document.get("resources") or []
    if not isinstance(resources, list):
        raise StateProblem(f"{source}: not a Terraform state (\"resources\" is not a list)")
    instances: list[Instance] = []
    data_sources = deposed = 0
    for resource in resources:
        if not isinstance(resource, dict):
            continue
        objects = [o for o in resource.get("instances") or [] if isinstance(o, dict)]
        mode = resource.get("mode", "managed")
        if mode == "data":
            data_sources += len(objects)
            continue
        if mode != "managed":
            continue
        rtype, name = str(resource.get("type", "")), str(resource.get("name", ""))
        module = _text(resource.get("module")) or ""
        base = f"{module}.{rtype}.{name}" if module else f"{rtype}.{name}"
        provider = parse_provider(resource.get("provider"), rtype)
        for obj in objects:
            if obj.get("deposed"):
                deposed += 1
                continue
            attributes = obj.get("attributes")
            if not isinstance(attributes, dict):
                flat = obj.get("attributes_flat")  # early 0.12 states kept legacy flat attributes here
                attributes = unflatten(flat) if isinstance(flat, dict) else {}
            instances.append(
                Instance(
                    address=base + format_index(obj.get("index_key")),
                    type=rtype,
                    provider=provider,
                    attributes=attributes,
                    sensitive=_sensitive_names(obj.get("sensitive_attributes")),
                    tainted=obj.get("status") == "tainted",
                )
            )
    return ParsedState(4, *_header(document), tuple(instances), data_sources, deposed, digest=_digest(resources))


def _sensitive_names(paths: Any) -> frozenset[str]:
    """Top-level attributes named by `sensitive_attributes` paths ([[{"type": "get_attr", "value": "password"}]])."""
    names: set[str] = set()
    for path in paths or []:
        step = path[0] if isinstance(path, list) and path else path
        if isinstance(step, dict) and step.get("type") == "get_attr" and isinstance(step.get("value"), str):
            names.add(step["value"])
    return frozenset(names)


def _parse_v3(document: dict, source: str) -> ParsedState:
    """Format 3 (Terraform 0.7-0.11): modules[].resources{"aws_x.name.N": {primary: {attributes (flat)}}}."""
    modules = document.get("modules") or []
    if not isinstance(modules, list):
        raise StateProblem(f"{source}: not a Terraform state (\"modules\" is not a list)")
    instances: list[Instance] = []
    data_sources = deposed = 0
    for module in modules:
        if not isinstance(module, dict):
            continue
        path = [str(p) for p in module.get("path") or ["root"]]
        prefix = "".join(f"module.{name}." for name in path[1:])
        resources = module.get("resources") or {}
        for key, resource in resources.items() if isinstance(resources, dict) else ():
            if not isinstance(resource, dict):
                continue
            if key.startswith("data."):
                data_sources += 1
                continue
            deposed += len([d for d in resource.get("deposed") or [] if d])
            primary = resource.get("primary")
            if not isinstance(primary, dict):
                continue  # only deposed objects are left
            parts = key.split(".")
            rtype = str(resource.get("type") or parts[0])
            name = parts[1] if len(parts) > 1 else ""
            index = f"[{parts[2]}]" if len(parts) > 2 and parts[2].isdigit() else ""
            attributes = unflatten(primary.get("attributes") or {})
            if primary.get("id") is not None:
                attributes.setdefault("id", primary["id"])
            instances.append(
                Instance(
                    address=f"{prefix}{rtype}.{name}{index}",
                    type=rtype,
                    provider=parse_provider(resource.get("provider"), rtype),
                    attributes=attributes,
                    tainted=bool(primary.get("tainted")),
                )
            )
    return ParsedState(3, *_header(document), tuple(instances), data_sources, deposed, digest=_digest(modules))


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
        return _BOOLEANS.get(value, value) if in_object else value
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


def choose_latest(states: list[tuple[str, ParsedState]]) -> list[tuple[str, bool] | None]:
    """For each state, None when it counts, or (why not, is it a conflict) when another input supersedes it.

    Two inputs with one lineage are one state's history (a backup, a copy, a pulled snapshot): only the highest
    serial counts, or two copies would look like two owners. A tie keeps the first named; when the tied
    contents differ the state was forked, and that is flagged as a conflict rather than guessed at."""
    by_lineage: dict[str, list[int]] = {}
    for position, (_, parsed) in enumerate(states):
        if parsed.lineage:
            by_lineage.setdefault(parsed.lineage, []).append(position)
    verdicts: list[tuple[str, bool] | None] = [None] * len(states)
    for lineage, positions in by_lineage.items():
        winner = max(positions, key=lambda p: (_serial(states[p][1]), -p))
        kept_source, kept = states[winner]
        for position in positions:
            parsed = states[position][1]
            if position == winner:
                continue
            if _serial(parsed) < _serial(kept):
                message = (
                    f"superseded by {kept_source}: same lineage {lineage}, older serial {parsed.serial} < {kept.serial}"
                )
                verdicts[position] = (message, False)
            elif parsed.digest == kept.digest:
                message = f"a copy of {kept_source} (same lineage {lineage}, serial {parsed.serial}, same resources)"
                verdicts[position] = (message, False)
            else:
                message = (
                    f"same lineage {lineage} and serial {parsed.serial} as {kept_source} but different resources "
                    f"(a forked state?); only {kept_source} was read"
                )
                verdicts[position] = (message, True)
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
    name = _identifier(attributes.get("name"))
    if name is None and NAME_LIKE_ID.search(tf.id_attribute):
        name = _identifier(attributes.get(tf.id_attribute))
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
