"""The one record every source produces (live AWS, CloudFormation, CDK, Terraform), and the statuses."""

from __future__ import annotations

import gc
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

from graph.resource_types import CATALOG

GLOBAL = "global"  # the region of a global resource (IAM, Route 53, S3 names are global but buckets are regional)

LIVE = "live"
TERRAFORM = "terraform"
CLOUDFORMATION = "cloudformation"

# Statuses, in the order a reader meets them in a report.
MANAGED = "managed"
UNMANAGED = "unmanaged"
MISSING = "missing"
CONFLICT = "conflict"
CHILD = "child"
DEFAULT = "default"
IGNORED = "ignored"
UNKNOWN = "unknown"
STATUSES = (MANAGED, UNMANAGED, MISSING, CONFLICT, CHILD, DEFAULT, IGNORED, UNKNOWN)


def hold(found: dict[Any, Any], key: Any, item: Any) -> None:
    """`item` filed under `key`: the item itself while it is the only one there, a list once there are more (a
    million one-item lists would take more memory than what they hold). Items are never lists themselves."""
    held_ = found.get(key)
    if held_ is None:
        found[key] = item
    elif held_.__class__ is list:
        held_.append(item)
    else:
        found[key] = [held_, item]


def held(found: dict[Any, Any] | None, key: Any) -> list:
    """What `hold` filed under `key`, as a list."""
    held_ = found.get(key) if found else None
    if held_ is None:
        return []
    return held_ if held_.__class__ is list else [held_]


@contextmanager
def bulk_work() -> Iterator[None]:
    """No garbage collection while a million records, nodes or rows are made: each full collection walks every
    object alive, so a scan of a large estate spent a third of its time in them. What we build here holds no
    reference cycles; the collector, on again afterwards, finds whatever else was left."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if gc.get_count()[0] >= _FREEZE_AFTER:
            # what was made (a million objects) is set aside for good rather than walked by the next young
            # collection, then again by every older one, to find no cycles in it; refcounting still frees it
            gc.freeze()
        if enabled:
            gc.enable()


_FREEZE_AFTER = 100_000  # objects made under bulk_work from which they are frozen (bench/scale.py; tests make fewer)


class Unresolved:
    """A declared value we cannot know without deploying (an unresolved Ref, an ImportValue, a module output).

    Drift comparison skips any attribute whose declared value holds one: skip, don't guess."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<unresolved>"

    def __reduce__(self):
        return (Unresolved, ())


UNRESOLVED = Unresolved()


def holds_unresolved(value: Any) -> bool:
    if value is UNRESOLVED:
        return True
    if isinstance(value, dict):
        return any(holds_unresolved(v) for v in value.values())
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(holds_unresolved(v) for v in value)
    return False


@dataclass(frozen=True, slots=True)
class Owner:
    """Who declares a resource: which tool, which file or stack, which address in it."""

    tool: str  # "terraform" | "cloudformation"
    source: str  # state file path or s3:// URL; stack ARN; template path
    address: str  # Terraform address (module.a.aws_sqs_queue.q["x"]) or CloudFormation logical id
    framework: str  # "terraform", or the stack's origin: "cloudformation", "cdk-v1", "cdk-v2", "sam", ...
    stack_name: str | None = None
    construct_path: str | None = None  # a CDK resource's `aws:cdk:path` (App/Stack/Construct/Resource)


@dataclass(slots=True)  # slots: a scan holds a million or two of them at once
class Record:
    """One observation of one resource by one source.

    `type` is the CloudFormation type name (our canonical type) or, for declarations we do not catalog,
    the declaring tool's own type name. `natural_id` is the identifier the catalog says is unique within
    (type, account, region); `aliases` are other identifiers the same resource answers to (its ARN, a queue
    URL, an EIP's public address) so declarations written with any of them still match.
    """

    source_kind: str  # LIVE | TERRAFORM | CLOUDFORMATION
    type: str
    account: str | None
    region: str | None
    natural_id: str | None
    arn: str | None = None
    name: str | None = None
    aliases: tuple[str, ...] = ()
    tags: dict[str, Any] | None = None  # None: the source says nothing about tags
    attributes: dict[str, Any] = field(default_factory=dict)  # comparable attributes, snake_case, redacted
    owner: Owner | None = None
    parent: tuple[str, str] | None = None  # (parent type, parent natural id or alias) for children
    edges: tuple[tuple[str, str, str], ...] = ()  # (relation, target type, target natural id or alias)
    raw_type: str | None = None  # the declaring tool's type (aws_sqs_queue, AWS::SQS::Queue)
    is_default: bool = False  # live only: AWS made it (default VPC, service-linked role, AWS-managed key)
    default_reason: str | None = None
    note: str | None = None  # anything the source wants a reader to see (e.g. "deposed instance")
    # live only: the detail or tag calls that failed for this item (e.g. "ListQueueTags"). What they would have
    # told is unknown: never drift, and an unowned resource missing them cannot be called unmanaged.
    failed_calls: tuple[str, ...] = ()
    # declared only if this template condition holds, and the condition could not be decided (a template file
    # read with its parameters' defaults, one without a default): absent live, it is unknown, never missing
    condition: str | None = None
    # Terraform code not applied: declared in code that no state read holds, "create" (Terraform would create it)
    # or "import" (an import block adopts it at the next apply). It owns nothing: never `managed`, never a conflict
    pending: str | None = None


@dataclass(frozen=True)
class Listing:
    """The outcome of listing one resource type in one account and region."""

    account: str
    region: str
    type: str
    outcome: str  # "ok" | "access_denied" | "throttled" | "error" | "unsupported"
    count: int = 0
    error_code: str | None = None
    message: str | None = None
    duration_ms: int = 0
    call: str | None = None  # None: the list call itself; else a detail or tag call that failed for `count` items


LISTING_OK = "ok"


@dataclass(frozen=True)
class SourceError:
    """A problem with one input or one call: recorded, shown, never silent."""

    source: str  # file path, s3 URL, stack name, or "aws:<service>:<operation>"
    message: str
    kind: str = "error"  # "error" | "warning"
    line: int | None = None
    account: str | None = None
    region: str | None = None
    type: str | None = None
    code: str | None = None


def source_row(path: str, kind: str, status: str, resource_count: int = 0, message: str | None = None,
               **facts: Any) -> dict[str, Any]:
    """One row of the `sources` table: an input a scan read (a state, a stack, a template file) and how it went.
    `facts` are the columns that only some kinds have: format_version, tool_version, lineage, serial,
    superseded_by, and a template file's framework and its evidence."""
    row = {"path": path, "kind": kind, "status": status, "format_version": None, "tool_version": None,
           "lineage": None, "serial": None, "resource_count": resource_count, "message": message,
           "superseded_by": None, "framework": None, "evidence": None}
    unknown = set(facts) - set(row)
    if unknown:
        raise TypeError(f"no source column {', '.join(sorted(unknown))}")
    return {**row, **facts}


@dataclass(frozen=True)
class FailedSource:
    """An owner source that could not be read (a state file, a stack, a region's stacks, a template file).

    What it would have declared is unknown, so a live resource it could have declared is never called
    `unmanaged`. None in `account`, `region`, `types` or `identifiers` means "any": a truncated state could
    declare anything. Also a source that was read but set aside (a superseded state, `partial` false): what only
    it declares may be another environment's, so it is doubt, not a failure of the scan."""

    source: str  # the path, s3:// URL, stack name or "aws:cloudformation:DescribeStacks"
    tool: str  # TERRAFORM | CLOUDFORMATION
    message: str
    account: str | None = None
    region: str | None = None
    types: frozenset[str] | None = None  # catalog types it could declare, when known (a stack's template)
    # the natural ids, ARNs and aliases of the only resources it could declare, when known (a superseded state)
    identifiers: frozenset[str] | None = None
    partial: bool = True  # whether the scan is partial for it: False for doubt about a source that was read

    def __post_init__(self) -> None:
        folded = None if self.identifiers is None else frozenset(i.lower() for i in self.identifiers)
        object.__setattr__(self, "_folded", folded)  # for types whose ids AWS compares case-insensitively

    def could_declare(
        self, type_: str, account: str | None, region: str | None, identifiers: Iterable[str | None] = ()
    ) -> bool:
        """Whether it could declare a resource of this type and place answering to one of `identifiers`
        (its natural id, ARN and aliases)."""
        if not (
            (self.account is None or account is None or account == self.account)
            and (self.region is None or region in (None, GLOBAL, self.region))
            and (self.types is None or type_ in self.types)
        ):
            return False
        if self.identifiers is None:
            return True
        row = CATALOG.get(type_)
        if row is not None and row.lowercase_id:
            return any(isinstance(i, str) and i.lower() in self._folded for i in identifiers)
        return any(i in self.identifiers for i in identifiers if i)


@dataclass
class ImportResult:
    """What an importer hands the graph: records, problems, and one row per input it read."""

    records: list[Record] = field(default_factory=list)
    errors: list[SourceError] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)  # rows of the `sources` table
    stacks: list[dict[str, Any]] = field(default_factory=list)  # rows of the `stacks` table
    exports: list[dict[str, Any]] = field(default_factory=list)  # rows of `stack_exports`
    imports: list[dict[str, Any]] = field(default_factory=list)  # rows of `stack_imports`
    references: list[dict[str, Any]] = field(default_factory=list)  # rows of `stack_references` (SSM, nested, ...)
    failed: list[FailedSource] = field(default_factory=list)  # owner sources that could not be read
    # values known to be secrets (a stack's secret parameters as DescribeStacks shows them, a template's secret
    # defaults): never stored or shown anywhere, whatever AWS made of them (a tag, a name)
    secrets: set[str] = field(default_factory=set, repr=False)
    # stack id -> (logical id, type) of each resource ListStackResources gave: what a cloud assembly is compared to
    deployed_resources: dict[str, list[tuple[str, str]]] = field(default_factory=dict, repr=False)

    def extend(self, other: "ImportResult") -> None:
        self.records += other.records
        self.errors += other.errors
        self.sources += other.sources
        self.stacks += other.stacks
        self.exports += other.exports
        self.imports += other.imports
        self.references += other.references
        self.failed += other.failed
        self.secrets |= other.secrets
        self.deployed_resources.update(other.deployed_resources)
