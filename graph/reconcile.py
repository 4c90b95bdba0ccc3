"""Matching and classification: records from every source in, one node per resource with a status out.

A pure function of its inputs (no clock, no network, no database). Live records are indexed by natural id
and by every alias (ARN, URL, name); each declaration finds its resource through any of them. The status
rules run in a fixed order and each names itself in `rule`, so every status can be explained.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from graph import quirks
from graph.drift import compare
from graph.ignore import IgnoreRules  # also imported from here by older callers
from graph.records import (
    CHILD,
    CLOUDFORMATION,
    CONFLICT,
    GLOBAL,
    IGNORED,
    LISTING_OK,
    MANAGED,
    MISSING,
    UNKNOWN,
    UNMANAGED,
    TERRAFORM,
    FailedSource,
    Listing,
    Record,
    bulk_work,
    held,
    hold,
)
from graph.resource_types import BOOKKEEPING_TYPES, CATALOG, CHILD_TYPES, FUNCTIONS, format_arn

STACK_TYPE = "AWS::CloudFormation::Stack"


@dataclass
class Scope:
    """What the scan looked at: declarations outside it are `unknown`, never `missing`."""

    accounts: set[str]
    regions: set[str]
    partition: str = "aws"
    listings: list[Listing] = field(default_factory=list)
    failed_sources: list[FailedSource] = field(default_factory=list)  # owner sources that could not be read
    # the regions scanned in each account, where they differ (each account's own enabled regions); an account
    # not named here was scanned in `regions`
    account_regions: dict[str, set[str]] = field(default_factory=dict)
    # accounts the scan was to cover but could not reach (a role it could not assume), each with why
    unreached: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._outcomes: dict[tuple[str, str, str], Listing] = {}
        for listing in self.listings:
            if listing.call is not None:
                continue  # a failed detail or tag call: the listing itself said what exists
            key = (listing.type, listing.account, listing.region)
            if key not in self._outcomes or listing.outcome != LISTING_OK:  # a failure wins over a success
                self._outcomes[key] = listing

    def regions_of(self, account: str | None) -> set[str]:
        """The regions scanned in `account` (in any account, for None)."""
        return self.account_regions.get(account, self.regions) if account else self.regions

    def in_scope(self, account: str | None, region: str | None) -> bool:
        """Whether the scan looked at (account, region): a place it did not look cannot be told to lack anything."""
        return (not self.accounts or account in (None, *self.accounts)) and (
            region in (None, GLOBAL) or region in self.regions_of(account))

    @property
    def several_accounts(self) -> bool:
        return len(self.accounts) > 1

    def _covering(self, type_: str, account: str | None, region: str | None) -> list[Listing]:
        """The listings that cover (type, account, region); a declaration that names no region (a template
        file given without one) is covered by the listings of every scanned region, and one that names no
        account (in a scan of several) by those of every scanned account."""
        accounts = [account] if account else sorted(self.accounts)
        return [self._outcomes[k] for a in accounts
                for r in ((region, GLOBAL) if region else (*sorted(self.regions_of(a)), GLOBAL))
                if (k := (type_, a, r)) in self._outcomes]

    def failed_listing(self, type_: str, account: str | None, region: str | None) -> Listing | None:
        """The failed listing that covers (type, account, region), if any."""
        return next((l for l in self._covering(type_, account, region) if l.outcome != LISTING_OK), None)

    def listed(self, type_: str, account: str | None, region: str | None) -> bool:
        return any(l.outcome == LISTING_OK for l in self._covering(type_, account, region))

    def failed_source(self, type_: str, account: str | None, region: str | None,
                      identifiers: Iterable[str | None] = ()) -> FailedSource | None:
        """The first owner source that could not be read (or was set aside) and could have declared a resource
        of (type, account, region) answering to one of `identifiers`."""
        if not self.failed_sources:
            return None
        identifiers = tuple(identifiers)
        return next((f for f in self.failed_sources if f.could_declare(type_, account, region, identifiers)), None)


@dataclass(slots=True)  # slots, and no list where there is nothing: a scan holds a node per resource
class Node:
    """One resource as the graph sees it, with everything every source said about it."""

    key: str
    type: str
    account: str | None
    region: str | None
    natural_id: str
    arn: str | None = None
    name: str | None = None
    live: Record | None = None
    declarations: list[Record] = field(default_factory=list)
    status: str = UNMANAGED
    reason: str = ""
    rule: str = ""
    parent_key: str | None = None
    # the three below are an empty tuple until something is added: most resources have none (a million empty
    # lists would take 56 MB)
    drift: list[dict[str, Any]] | tuple = ()
    # declarations that name no region and match this resource and others of the same name in other regions
    ambiguous: list[Record] | tuple = ()
    # Terraform code that declares it but was never applied (Record.pending): no owner, only a plan
    planned: list[Record] | tuple = ()

    @property
    def counted_drift(self) -> list[dict[str, Any]]:
        """Its drift less what an ignore rule set aside: what `drift_count`, `--fail-on drift` and diffs count."""
        return [d for d in self.drift if not d.get("ignored")]


# types whose services lowercase identifiers, and types listed once whose resources are regional (S3 buckets)
_LOWERCASE_TYPES = frozenset(row.type for row in CATALOG.values() if row.lowercase_id)
_GLOBAL_NAMED_TYPES = frozenset(row.type for row in CATALOG.values() if row.scope == "global_list")


class NodeIndex:
    """Finds nodes by (type, account, region, identifier) where the identifier is a natural id or an alias.

    An identifier most often names one node: the index holds that node itself, and a list only where several
    share it (a million resources, three identifiers each, would otherwise make three million lists)."""

    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}
        self._by_id: dict[tuple[str, str], Node | list[Node]] = {}
        self._live_edges: list[tuple[str, str, str]] | None = None  # (source key, relation, target key)
        self._targets: dict[str, dict[str, Node | list[Node]]] = {}  # relation -> source key -> target node(s)
        self._referrers: dict[str, dict[str, Node | list[Node]]] = {}  # relation -> target key -> source node(s)
        self._live_by_place: dict[tuple[str, str | None], list[Node]] | None = None
        # declarations that give no identifier: each may be any unowned live resource of its type and place
        self.unidentified: list[FailedSource] = []

    def add(self, node: Node, identifiers: Iterable[str]) -> None:
        self.nodes[node.key] = node
        by_id = self._by_id
        type_ = node.type
        lowercase = type_ in _LOWERCASE_TYPES
        for identifier in identifiers:
            if identifier:
                identifier = str(identifier)
                key = (type_, identifier.lower() if lowercase else identifier)
                held = by_id.get(key)
                if held is None:
                    by_id[key] = node
                elif held.__class__ is list:
                    if not any(n is node for n in held):
                        held.append(node)
                elif held is not node:
                    by_id[key] = [held, node]

    def find(self, type_: str, account: str | None, region: str | None, identifier: str) -> Node | None:
        """Account and region must agree where both sides know them; a global resource matches any region,
        and so does a resource whose name is global (an S3 bucket: a state may not record its region)."""
        identifier = str(identifier)
        held = self._by_id.get((type_, identifier.lower() if type_ in _LOWERCASE_TYPES else identifier))
        if held is None:
            return None
        if held.__class__ is list:
            return next(self._matches(type_, account, region, identifier), None)
        # one node holds the identifier (the common case): the same test as _matches, without a generator
        if (account is None or held.account is None or held.account == account) and (
            region is None or region == GLOBAL or type_ in _GLOBAL_NAMED_TYPES
            or held.region is None or held.region == region or held.region == GLOBAL
        ):
            return held
        return None

    def find_all(self, type_: str, account: str | None, region: str | None, identifier: str) -> list[Node]:
        """Every node `find` could answer: more than one only for a declaration that names no region."""
        return list(self._matches(type_, account, region, identifier))

    def _matches(self, type_: str, account: str | None, region: str | None, identifier: str):
        identifier = str(identifier)
        held = self._by_id.get((type_, identifier.lower() if type_ in _LOWERCASE_TYPES else identifier))
        if held is None:
            return
        region_free = region is None or region == GLOBAL or type_ in _GLOBAL_NAMED_TYPES
        for node in held if held.__class__ is list else (held,):
            if (account is None or node.account in (None, account)) and (
                region_free or node.region in (None, region, GLOBAL)
            ):
                yield node

    def live_edges(self) -> list[tuple[str, str, str]]:
        """Every relationship a live record names, as (source key, relation, target key), resolved to nodes
        once, on first use (after every declaration has its node; children are never edge targets)."""
        if self._live_edges is None:
            self._live_edges = []
            for source in list(self.nodes.values()):
                if source.live is None or not source.live.edges:
                    continue
                for relation, target_type, value in source.live.edges:
                    target = self.find(target_type, source.live.account, source.live.region, value)
                    if target is not None and target is not source:
                        self._live_edges.append((source.key, relation, target.key))
                        hold(self._targets.setdefault(relation, {}), source.key, target)
                        hold(self._referrers.setdefault(relation, {}), target.key, source)
        return self._live_edges

    def targets(self, node: Node, relation: str) -> list[Node]:
        """Nodes that `node`'s live `relation` edges point at."""
        self.live_edges()
        return held(self._targets.get(relation), node.key)

    def referrers(self, node: Node, relation: str) -> list[Node]:
        """Live nodes whose `relation` edge points at `node`."""
        self.live_edges()
        return held(self._referrers.get(relation), node.key)

    def live_at(self, type_: str, account: str | None) -> list[Node]:
        """The live nodes of a type in an account (indexed on first use, once every live record has its node)."""
        if self._live_by_place is None:
            self._live_by_place = {}
            for node in self.nodes.values():
                if node.live is not None:
                    self._live_by_place.setdefault((node.type, node.account), []).append(node)
        return self._live_by_place.get((type_, account), [])


def node_key(type_: str, account: str | None, region: str | None, natural_id: str, arn: str | None) -> str:
    """ARN where the type has one; else a key that is unique by construction."""
    if arn:
        return arn
    return f"{type_}:{account or '-'}:{region or '-'}:{natural_id}"


def _identifiers(record: Record) -> list[str]:
    """Every identifier a record gives, plus each mapped the way the type's physical ids are (a queue URL
    from any host names the same queue as its last segment)."""
    found = [x for x in (record.natural_id, record.arn, *record.aliases) if x]
    row = CATALOG.get(record.type)
    if row is not None and row.physical_id:
        mapped = FUNCTIONS[row.physical_id]
        found += [mapped(x) for x in found if not x.startswith("arn:")]
    return list(dict.fromkeys(found))


def _owner_text(record: Record) -> str:
    owner = record.owner
    if owner is None:
        return record.source_kind
    if record.pending:
        return f"Terraform code {owner.source} ({owner.address})"
    if owner.tool == CLOUDFORMATION:
        where = f"stack {owner.stack_name}" if owner.stack_name else f"template {owner.source}"
        return f"CloudFormation {where} ({owner.address})"
    return f"Terraform state {owner.source} ({owner.address})"


def _is_template_file(record: Record) -> bool:
    return record.owner.tool == CLOUDFORMATION and not record.owner.stack_name


def _distinct_owners(declarations: list[Record]) -> list[Record]:
    """One declaration per (tool, source, address). A template file gives way to its deployed stack, and two
    template files declaring it under the same logical id are copies of one template (a JSON and a YAML
    rendering, a file in two folders): one owner, not a conflict."""
    if len(declarations) < 2:
        return declarations  # nothing to tell apart (most resources): the same list, not a copy
    seen: dict[tuple, Record] = {}
    for record in declarations:
        owner = record.owner
        seen.setdefault((owner.tool, owner.source, owner.address), record)
    owners = list(seen.values())
    stack_addresses = {r.owner.address for r in owners if r.owner.tool == CLOUDFORMATION and r.owner.stack_name}
    template_addresses: set[tuple[str, str]] = set()
    distinct = []
    for r in owners:
        if _is_template_file(r):
            if r.owner.address in stack_addresses or (r.type, r.owner.address) in template_addresses:
                continue
            template_addresses.add((r.type, r.owner.address))
        distinct.append(r)
    if len(distinct) > 1:
        # a deployed stack stands as its own code only while nothing else declares it: a stack that Terraform
        # deploys (aws_cloudformation_stack) or a parent stack holds is theirs, not a conflict with itself
        distinct = [r for r in distinct if not _is_stack_itself(r)] or distinct
    return distinct


def _is_stack_itself(record: Record) -> bool:
    return record.type == STACK_TYPE and record.owner.tool == CLOUDFORMATION and record.owner.source == record.natural_id


def _copies_text(declarations: list[Record], owners: list[Record]) -> str:
    """'; the same declaration is in b.yaml' for template files set aside as copies of an owner's template."""
    if len(declarations) == len(owners):
        return ""  # nothing was set aside (the common case: one declaration, one owner)
    kept = {r.owner.source for r in owners}
    copies = sorted({r.owner.source for r in declarations if _is_template_file(r)} - kept)
    return f"; the same declaration is in {', '.join(copies)}" if copies else ""


@dataclass
class Graph:
    nodes: list[Node]
    edges: list[tuple[str, str, str]]  # (source key, relation, target key)


def reconcile(live: list[Record], declared: list[Record], scope: Scope, ignore: IgnoreRules | None = None) -> Graph:
    with bulk_work():
        return _reconcile(live, declared, scope, ignore)


def _reconcile(live: list[Record], declared: list[Record], scope: Scope, ignore: IgnoreRules | None) -> Graph:
    index = NodeIndex()
    for record in live:
        key = node_key(record.type, record.account, record.region, record.natural_id, record.arn)
        node = Node(key, record.type, record.account, record.region, record.natural_id, record.arn, record.name, live=record)
        index.add(node, _identifiers(record))

    children: list[Record] = []
    others: list[Record] = []
    unidentified: list[Record] = []
    for record in declared:
        if record.type in CATALOG and not record.natural_id:
            unidentified.append(record)  # identified below, once every identified declaration has its node
        elif record.type in CATALOG:
            _attach_declaration(index, record, scope)
        elif record.type in CHILD_TYPES or record.parent is not None:
            children.append(record)
        else:
            others.append(record)
    for record in others:
        _attach_declaration(index, record, scope)
    for record in unidentified:
        _attach_unidentified(index, record)

    for node in list(index.nodes.values()):
        if node.rule != "no_physical_id":
            classify(node, index, scope)
    child_edges = [_attach_child(index, record) for record in children]

    if ignore is not None:
        for node in index.nodes.values():
            _apply_ignore(node, ignore)

    edges = {e for e in child_edges if e}
    edges |= {(node.key, "belongs_to", node.parent_key) for node in index.nodes.values()
              if node.parent_key and node.parent_key in index.nodes}
    edges.update(index.live_edges())
    return Graph(sorted(index.nodes.values(), key=lambda n: n.key), sorted(edges))


def _apply_ignore(node: Node, ignore: IgnoreRules) -> None:
    reason = ignore.match(node)
    if reason:
        # the verdict it would have had stays readable; its drift is set aside with it, so an ignored
        # resource never fails `--fail-on drift` nor counts as drifted anywhere
        would = f"{node.status}, {len(node.drift)} drifted attributes" if node.drift else node.status
        node.status, node.reason, node.rule = IGNORED, f"{reason} (otherwise {would})", "ignore_file"
        node.drift = []
        return
    for difference in node.drift:
        # an attribute rule sets this drift aside, not the resource: the row stays, marked with the rule
        difference["ignored"] = ignore.match_drift(node, difference["attribute"])


def _attach_declaration(index: NodeIndex, record: Record, scope: Scope) -> None:
    node = None
    row = CATALOG.get(record.type)
    regionless = record.region is None and row is not None and row.scope == "regional"
    # in a scan of several accounts, a declaration that names no account (a template file) may be any of theirs
    accountless = record.account is None and scope.several_accounts
    if not regionless and not accountless and record.natural_id:
        # its natural id, the first identifier tried below, most often finds it: the others are not made
        node = index.find(record.type, record.account, record.region, record.natural_id)
    for identifier in _identifiers(record) if node is None else ():
        if not regionless and not accountless:
            node = index.find(record.type, record.account, record.region, identifier)
            if node is not None:
                break
            continue
        found = index.find_all(record.type, record.account, None if regionless else record.region, identifier)
        live_found = [n for n in found if n.live is not None]
        if len(live_found) > 1:
            # it names no region (or account) and a resource of this name is live in several: which one it
            # declares is unknown, so it declares none of them, and each is told why it cannot be called unmanaged.
            # Code never applied owns nothing, so it casts no such doubt: each is told of the plan instead
            for candidate in live_found:
                if record.pending:
                    candidate.planned = [*candidate.planned, record]
                else:
                    candidate.ambiguous = [*candidate.ambiguous, record]
            return
        node = found[0] if found else None
        if node is not None:
            break
    if node is None:
        arn = record.arn
        if not arn and row is not None and record.natural_id and (record.region or row.is_global):
            region = "" if record.region == GLOBAL else record.region or ""
            arn = format_arn(row, scope.partition, region, record.account or "", record.natural_id)
        key = node_key(record.type, record.account, record.region, record.natural_id, arn)
        node = index.nodes.get(key) or Node(
            key, record.type, record.account, record.region, record.natural_id, arn, record.name or record.natural_id
        )
        index.add(node, _identifiers(record) + ([arn] if arn else []))
    if record.pending:
        node.planned = [*node.planned, record]
    else:
        node.declarations.append(record)


def _stack_tagged(node: Node, owner) -> bool:
    tags = (node.live.tags if node.live else None) or {}
    return tags.get("aws:cloudformation:logical-id") == owner.address and owner.source in (
        tags.get("aws:cloudformation:stack-id"), tags.get("aws:cloudformation:stack-name")
    )


def _generated_name_of(node: Node, owner) -> bool:
    """CloudFormation names what a template leaves unnamed '<stack>-<logical id>-<SUFFIX>' (parts truncated
    to fit the type's length limit, case lowered by some services)."""
    text = (node.natural_id or "").rsplit("/", 1)[-1].lower()
    stack, logical = (owner.stack_name or "").lower(), owner.address.lower()
    return bool(stack) and text.startswith(stack[:5]) and logical[:8] in text and re.search(r"-[a-z0-9]{6,}$", text) is not None


def _attach_unidentified(index: NodeIndex, record: Record) -> None:
    """A stack resource without a physical id: found by the stack's tags on it, else by its generated name;
    else it stays `unknown` (never `missing`: nothing says it is gone)."""
    candidates = [
        n for n in index.live_at(record.type, record.account)
        if not n.declarations and n.region in (record.region, GLOBAL)
    ]
    for test in (_stack_tagged, _generated_name_of):
        found = [n for n in candidates if test(n, record.owner)]
        if len(found) == 1:
            found[0].declarations.append(record)
            return
    key = f"{record.type}:{record.account}:{record.region}:{record.owner.source}#{record.owner.address}"
    owner = record.owner
    index.unidentified.append(FailedSource(f"{_owner_text(record)}", owner.tool, "it gives no identifier",
                                           record.account, record.region, frozenset({record.type})))
    node = Node(key, record.type, record.account, record.region, f"{owner.stack_name or owner.source}/{owner.address}",
                None, owner.address, declarations=[record], status=UNKNOWN, rule="no_physical_id")
    if owner.tool == TERRAFORM:
        node.reason = f"Terraform state {owner.source} records no identifier for {owner.address}, so it cannot be found live"
    elif owner.stack_name:
        node.reason = (f"stack {owner.stack_name} reports no physical id for {owner.address}, and no live resource "
                       "carries its tags or generated name")
    else:
        node.reason = f"template {owner.source} gives {owner.address} no literal name, so it cannot be found live"
    index.nodes[key] = node


def _attach_child(index: NodeIndex, record: Record) -> tuple[str, str, str] | None:
    """A declaration that belongs to a parent: a node of its own with status `child` and an edge up.

    A child lives where its parent does: two states that guessed different accounts for the same rule still
    name one resource. Two owners of one child are a conflict, as for any resource."""
    parent = None
    if record.parent is not None:
        parent_type, parent_ref = record.parent
        if parent_ref:
            parent = index.find(parent_type, record.account, record.region, str(parent_ref))
    natural_id = record.natural_id or f"{record.owner.source}#{record.owner.address}"
    account, region = record.account, record.region
    if parent is not None:
        account = parent.account or account
        region = region if parent.region in (None, GLOBAL) and region else parent.region or region
    # keyed without an ARN: a child's `arn` attribute often names its parent (a secret version's is the secret's)
    key = node_key(record.raw_type or record.type, account, region, natural_id, None)
    if key in index.nodes:
        node = index.nodes[key]
    else:
        node = Node(key, record.raw_type or record.type, account, region, natural_id, None, record.name or natural_id)
        index.nodes[key] = node
    node.declarations.append(record)
    owners = _distinct_owners(node.declarations)
    if len(owners) >= 2:
        node.status, node.rule = CONFLICT, "two_owners"
        node.reason = "claimed by " + " and by ".join(_owner_text(o) for o in owners)
    else:
        node.status, node.rule = CHILD, "declared_child"
        node.reason = f"declared by {_owner_text(record)}"
    if parent is not None:
        node.parent_key = parent.key
        if node.status == CHILD:
            node.reason = f"belongs to {parent.type} {parent.name} ({parent.status}); {node.reason}"
        return (node.key, "belongs_to", parent.key)
    if node.status == CHILD:
        node.reason = f"belongs to a {record.parent[0] if record.parent else 'parent'} that was not found; {node.reason}"
    return None


def classify(node: Node, index: NodeIndex, scope: Scope) -> None:
    """Set status, reason and rule; the rules run in this order and the first that applies decides.

    Terraform code never applied (`node.planned`) decides nothing: the resource is classified as if the code
    were not there, and the plan is then told in the reason (and, where nothing else owns it, in the rule)."""
    if not node.planned:
        _classify(node, index, scope)
        return
    if node.live is None and not node.declarations:
        node.declarations = node.planned  # for the checks of scope and listings a declaration goes through
        _classify(node, index, scope)
        node.declarations = []
        if node.rule == "declared_not_live":
            node.status, node.rule = UNKNOWN, _planned_rule(node)
            node.reason = f"{_planned_text(node)}, and it is not found in {node.account}/{node.region}: " + (
                "the import will fail" if node.rule == "import_pending"
                else "not applied yet, or the state that holds it was not read")
        return
    _classify(node, index, scope)
    if node.rule == "no_owner":
        node.rule = _planned_rule(node)
        node.reason = f"{node.reason}; {_planned_text(node)}" + (
            "" if node.rule == "import_pending" else ": import it there, or applying it would try to create it again")
    else:
        node.reason = f"{node.reason}; also {_planned_text(node)}"


def _planned_rule(node: Node) -> str:
    return "import_pending" if any(r.pending == "import" for r in node.planned) else "declared_not_applied"


def _planned_text(node: Node) -> str:
    """'declared in Terraform code infra (aws_sqs_queue.jobs), in no state read' or its import-block variant."""
    imports = [r for r in node.planned if r.pending == "import"]
    if imports:
        return "an import block in " + " and in ".join(_owner_text(r) for r in imports) + " adopts it at the next apply"
    return "declared in " + " and in ".join(_owner_text(r) for r in node.planned) + ", which no state read holds"


def _classify(node: Node, index: NodeIndex, scope: Scope) -> None:
    owners = _distinct_owners(node.declarations)
    copies = _copies_text(node.declarations, owners)
    node.declarations = owners
    row = CATALOG.get(node.type)

    if node.type in BOOKKEEPING_TYPES or node.type.startswith("Custom::"):
        node.status, node.rule = IGNORED, "tool_bookkeeping"
        node.reason = f"{node.type} is bookkeeping of the deploying tool, not an AWS resource ({_owner_text(owners[0])})"
        return

    if node.live is None and node.account in scope.unreached:
        node.status, node.rule = UNKNOWN, "account_not_reached"
        node.reason = (f"declared by {_owner_text(owners[0])} in {node.account}/{node.region}, an account the scan could "
                       f"not reach: {scope.unreached[node.account]}")
        return

    in_scope = node.live is not None or scope.in_scope(node.account, node.region)
    if not in_scope:
        node.status, node.rule = UNKNOWN, "outside_scan"
        node.reason = f"declared by {_owner_text(owners[0])} in {node.account}/{node.region}, which this scan did not cover"
        return

    if node.live is None and row is not None:
        failed = scope.failed_listing(node.type, node.account, node.region)
        if failed is not None:
            node.status, node.rule = UNKNOWN, "listing_failed"
            node.reason = (
                f"could not list {node.type} in {failed.account}/{failed.region} ({failed.error_code or failed.outcome});"
                f" declared by {_owner_text(owners[0])}"
            )
            return
        if not scope.listed(node.type, node.account, node.region):
            node.status, node.rule = UNKNOWN, "not_listed"
            node.reason = f"{node.type} was not listed in {node.account}/{node.region}; declared by {_owner_text(owners[0])}"
            return

    declared_by = " and by ".join(_owner_text(o) for o in owners) + copies
    if len(owners) >= 2 and (node.live is not None or row is None):
        node.status, node.rule = CONFLICT, "two_owners"
        node.reason = "claimed by " + declared_by
        _compute_drift(node, owners, row)
        return

    if owners:
        if row is None:
            node.status, node.rule = MANAGED, "declared_unverified_type"
            node.reason = f"declared by {declared_by}; {node.type} is not in the catalog, so not checked live"
            return
        if node.live is not None:
            node.status, node.rule = MANAGED, "declared_and_live"
            node.reason = f"declared by {declared_by}"
            other = scope.failed_sources and scope.failed_source(node.type, node.account, node.region,
                                                                 _node_identifiers(node))
            if other and other.source != owners[0].owner.source:
                node.reason += f"; {other.source} could not be read, so a second owner cannot be ruled out"
            _compute_drift(node, owners, row)
            return
        if all(o.condition for o in owners):
            conditions = ", ".join(sorted({o.condition for o in owners}))
            node.status, node.rule = UNKNOWN, "condition_undecided"
            node.reason = (f"declared by {declared_by} only if condition {conditions} holds, which could not be "
                           f"decided (a parameter without a known value); not found in {node.account}/{node.region or 'any scanned region'}")
            return
        if node.region is None:
            node.status, node.rule = UNKNOWN, "region_unknown"
            node.reason = (
                f"declared by {declared_by}, which names no region for it, and not found in the scanned regions "
                f"({', '.join(sorted(scope.regions_of(node.account)))}){_region_hint(owners)}"
            )
            return
        if node.account is None and scope.several_accounts:
            node.status, node.rule = UNKNOWN, "account_unknown"
            node.reason = (f"declared by {declared_by}, which names no account for it, and not found in "
                           f"{node.region} in any scanned account ({', '.join(sorted(scope.accounts))})")
            return
        # gone, whoever declared it: two claims on something that is not there are not a conflict over it
        node.status, node.rule = MISSING, "declared_not_live"
        node.reason = f"declared by {declared_by} but not found in {node.account}/{node.region}"
        return

    failed = None
    if scope.failed_sources or index.unidentified:
        identifiers = _node_identifiers(node)
        failed = scope.failed_source(node.type, node.account, node.region, identifiers)
    if failed is None and index.unidentified:
        failed = next((f for f in index.unidentified
                       if f.could_declare(node.type, node.account, node.region, identifiers)), None)
    for rule in quirks.UNOWNED_RULES:
        if failed is not None and quirks.is_inference(rule):
            break  # what an unreadable owner may declare is not to be explained away by a guess
        verdict = rule(node, index)
        if verdict is not None:
            node.status, node.reason, node.parent_key = verdict
            node.rule = rule.__name__
            return
    if failed is not None:
        node.status, node.rule = UNKNOWN, "owner_source_failed"
        what = "could not be read" if failed.partial else "was set aside"
        node.reason = (f"no source that was read declares it, but {failed.source} {what} ({failed.message}), "
                       "so it may declare it")
        return
    undecided = quirks.undecided_parent(node, scope.failed_listing)
    if undecided is not None:
        rule, listing = undecided
        node.status, node.rule = UNKNOWN, "listing_failed"
        node.reason = (f"could not list {listing.type} in {listing.account}/{listing.region} "
                       f"({listing.error_code or listing.outcome}), so whether it is what `{rule.__name__}` names "
                       f"({(rule.__doc__ or '').strip().splitlines()[0].rstrip('.')}) cannot be told")
        return
    details = [c for c in node.live.failed_calls if not _is_tags_call(row, c)]
    if details:
        node.status, node.rule = UNKNOWN, "detail_failed"
        node.reason = (f"no source declares it, but {', '.join(details)} failed for it, so what it is (made by AWS, "
                       "a part of another resource) cannot be told")
        return
    if node.ambiguous:
        claim = node.ambiguous[0]
        # elsewhere: the other regions of its account, and (for a claim naming no account) other accounts
        others = [n for n in index.find_all(node.type, claim.account, claim.region, node.natural_id)
                  if n.live is not None and n is not node]
        elsewhere = sorted({n.region if n.account == node.account else f"{n.account}/{n.region}" for n in others})
        unplaced = "a region" if claim.account is not None else "an account or region" if claim.region is None \
            else "an account"
        node.status = UNKNOWN
        node.rule = "account_unknown" if claim.region is not None else "region_unknown"
        node.reason = (f"{_owner_text(claim)} declares a resource of this name without {unplaced}, and one is "
                       f"also live in {', '.join(elsewhere)}: which one it declares is unknown"
                       f"{_region_hint([claim]) if claim.region is None else ''}")
        return
    node.status, node.rule = UNMANAGED, "no_owner"
    node.reason = "no Terraform state or CloudFormation stack declares it"
    if len(details) < len(node.live.failed_calls):
        node.reason += " (its tags could not be read)"
    stack = (node.live.tags or {}).get("aws:cloudformation:stack-name")
    if stack:
        logical = (node.live.tags or {}).get("aws:cloudformation:logical-id")
        node.reason += f"; it carries the tags of stack {stack} ({logical}): retained after a delete, or dropped from the template"


def _node_identifiers(node: Node) -> tuple[str, ...]:
    """Every identifier a resource answers to: its natural id, ARN and the aliases its sources gave."""
    found = [node.natural_id, node.arn, *(node.live.aliases if node.live else ())]
    found += [alias for record in node.declarations for alias in record.aliases]
    return tuple(i for i in found if i)


def _region_hint(owners: list[Record]) -> str:
    if any(_is_template_file(o) for o in owners):
        return "; give the template's region (PATH@REGION or --cfn-template-region) to check it there"
    return ""


def _is_tags_call(row, call: str) -> bool:
    """Whether `call` (an operation name such as ListQueueTags, or list_queue_tags) is the row's tag call."""
    if row is None or row.tags is None or row.tags.call is None:
        return False
    return call.replace("_", "").lower() == row.tags.call.method.replace("_", "").lower()


def _compute_drift(node: Node, owners: list[Record], row) -> None:
    if node.live is None or row is None:
        return
    for owner in owners:
        for difference in compare(
            row, owner.attributes, owner.tags, node.live.attributes, node.live.tags, own_id=node.natural_id,
            declared_by=owner.owner.tool,
        ):
            found = {**difference, "tool": owner.owner.tool, "source": owner.owner.source,
                     "address": owner.owner.address, "ignored": None}
            if node.drift.__class__ is list:
                node.drift.append(found)
            else:
                node.drift = [*node.drift, found]
