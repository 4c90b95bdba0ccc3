"""What `driftgraph codify` emits and in which groups: the latest scan's resources no code owns, grouped by the
relationships among them and ordered so that what others depend on comes first (pure, shared by every format)."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from graph.records import (
    CHILD,
    CONFLICT,
    DEFAULT,
    IGNORED,
    MANAGED,
    MISSING,
    UNKNOWN,
    UNMANAGED,
)
from graph.report import loads, scan_row
from graph.resource_types import CATALOG, RESOURCE_TYPES, TERRAFORM_TYPES

# Statuses a user may ask to codify, and why the others never are.
CODIFIABLE = (UNMANAGED, UNKNOWN, IGNORED, CHILD)
NEVER = {
    MANAGED: "it is owned by code already",
    CONFLICT: "it is owned by code already (twice)",
    MISSING: "it is not live: there is nothing to import",
    DEFAULT: "AWS made it; no code should own it",
}

GROUP_BY = ("component", "vpc", "none")  # and tag:KEY

# Relations that make the source depend on the target (a subnet is in its VPC; an EIP points at its
# instance). The others tie resources together without an order: an instance's `attaches_volume` and the
# volume's `attached_to` name one attachment from both ends, and a route table's association is its own
# Terraform resource.
DEPENDS_ON = frozenset(
    {
        "in_vpc", "in_subnet", "in_subnet_group", "in_cluster", "uses_security_group", "uses_instance_profile",
        "uses_role", "uses_eip", "uses_interface", "uses_subnet", "member_of", "runs", "listens_on", "points_to",
        "belongs_to",
    }
)
# `attached_to` is a dependency for what is set with the thing it attaches to (an EIP's `instance`, an
# internet gateway's `vpc_id`), and not for a volume, whose attachment is a resource of its own.
ATTACHED_DEPENDS = frozenset({"AWS::EC2::EIP", "AWS::EC2::InternetGateway"})

# Catalog order puts networks before subnets before instances: the tie-break among independent resources.
_TYPE_RANK = {row.type: rank for rank, row in enumerate(RESOURCE_TYPES)}


@dataclass(frozen=True)
class CodifyResource:
    """One live resource to write as code, as the scan stored it (tags and attributes already redacted)."""

    id: str  # the resource's key in the database (its ARN, or a synthetic key)
    type: str  # CloudFormation type name
    account: str | None
    region: str | None
    name: str | None
    natural_id: str | None
    arn: str | None
    tags: dict[str, Any]
    attributes: dict[str, Any]
    status: str
    edges_out: list[tuple[str, str]]  # (relation, target resource id), every edge the scan found from it
    # target resource id -> {"type", "natural_id", "name", "arn", "status"}: what an edge points at, so a renderer can
    # write the target's literal id when the target is not in the same group
    targets: dict[str, dict[str, Any]] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()  # other identifiers it answers to (an EIP's public address: its import id)


@dataclass(frozen=True)
class Group:
    """Resources to import together: one folder (Terraform) or template (CloudFormation)."""

    key: str  # folder-safe name
    title: str
    resources: list[CodifyResource]  # what others depend on first


@dataclass(frozen=True)
class Codification:
    """Everything a renderer and the summary need."""

    scan_id: int
    groups: list[Group]
    blockers: list[dict[str, Any]]
    pending: list[CodifyResource]  # left out: already in a Terraform `import` block


def slug(text: str, limit: int = 48) -> str:
    """A lower-case name safe as a folder, a file and (after a letter) a Terraform or CloudFormation name."""
    text = re.sub(r"[^a-z0-9]+", "-", (text or "").lower()).strip("-")
    return text[:limit].strip("-") or "resource"


def resolve_type(name: str) -> str:
    """A CloudFormation or Terraform type name as our catalog type; ValueError for one we do not know."""
    if name in CATALOG:
        return name
    if name in TERRAFORM_TYPES:
        return TERRAFORM_TYPES[name][0].type
    raise ValueError(f"{name}: not a catalog type (see `driftgraph types`)")




def _scan_id(db, scan_id: int | None) -> int:
    return scan_row(db, scan_id)["id"]


def scan_edges(db, scan_id: int | None = None) -> list[tuple[str, str, str]]:
    """Every (source_id, relation, target_id) edge of the scan."""
    scan_id = _scan_id(db, scan_id)
    return [tuple(row) for row in db.execute(
        "select source_id, relation, target_id from scan_edges where scan_id = ? order by source_id, relation, target_id",
        [scan_id])]


def _resources(db, scan_id: int) -> dict[str, dict[str, Any]]:
    have = {row[1] for row in db.execute("pragma table_info(resources)")}
    columns = "id, type, account, region, name, natural_id, arn, status, tags, attributes"
    columns += ", aliases" if "aliases" in have else ", null as aliases"  # older databases kept none
    return {row[0]: dict(zip([c.split()[-1] for c in columns.split(", ")], row))
            for row in db.execute(f"select {columns} from scan_resources where scan_id = ?", [scan_id])}


def select(db, scan_id: int | None = None, *, statuses: Iterable[str] = (UNMANAGED,), types: Iterable[str] = (),
           tags: dict[str, str] | None = None, accounts: Iterable[str] = (), regions: Iterable[str] = (),
           pending: set[str] | frozenset[str] = frozenset()) -> list[CodifyResource]:
    """The scan's resources to codify: of `statuses` (unmanaged by default), filtered by type, tag, account and
    region, never one owned by any tool, AWS-made, a child of an owned parent, or in `pending` (resource ids
    already in a Terraform `import` block: `pending_resources` lists those)."""
    statuses = tuple(dict.fromkeys(statuses)) or (UNMANAGED,)
    for status in statuses:
        if status in NEVER:
            raise ValueError(f"--status {status}: never codified, {NEVER[status]}")
        if status not in CODIFIABLE:
            raise ValueError(f"--status {status}: not a status (codifiable: {', '.join(CODIFIABLE)})")
    wanted_types = {resolve_type(t) for t in types}
    scan_id = _scan_id(db, scan_id)
    rows = _resources(db, scan_id)
    owned = {row[0] for row in db.execute("select distinct resource_id from scan_owners where scan_id = ?", [scan_id])}
    owned |= {key for key, row in rows.items() if row["status"] in (MANAGED, CONFLICT)}
    edges = scan_edges(db, scan_id)
    parents = defaultdict(set)
    for source, relation, target in edges:
        if relation == "belongs_to":
            parents[source].add(target)
    chosen = []
    for key, row in rows.items():
        if row["status"] not in statuses or key in owned or key in pending or row["status"] == DEFAULT:
            continue
        if parents[key] & owned or any(rows.get(p, {}).get("status") == DEFAULT for p in parents[key]):
            continue  # a child of an owned parent is its parent's code's; of an AWS-made one, AWS's
        if wanted_types and row["type"] not in wanted_types:
            continue
        if accounts and row["account"] not in accounts:
            continue
        if regions and row["region"] not in regions:
            continue
        row_tags = loads(row["tags"]) or {}
        if tags and any(row_tags.get(k) != v for k, v in tags.items()):
            continue
        chosen.append(key)
    out_edges = _edges_by_source(edges)
    return [_resource(rows, key, out_edges) for key in sorted(chosen)]


def pending_resources(db, pending: set[str] | frozenset[str], scan_id: int | None = None) -> list[CodifyResource]:
    """The scan's resources named in `pending` (already in a Terraform `import` block), to list as such."""
    scan_id = _scan_id(db, scan_id)
    rows = _resources(db, scan_id)
    edges = scan_edges(db, scan_id)
    out_edges = _edges_by_source(edges)
    return [_resource(rows, key, out_edges) for key in sorted(pending) if key in rows]


def _edges_by_source(edges: Iterable[tuple[str, str, str]],
                     sources: set[str] | None = None) -> dict[str, list[tuple[str, str]]]:
    """(relation, target) of each resource's outgoing edges (of the `sources` only, when given), in the edges'
    order: looked up once per resource (a scan of all edges per resource was quadratic: hours for 100,000
    unmanaged resources)."""
    out: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for source, relation, target in edges:
        if sources is None or source in sources:
            out[source].append((relation, target))
    return out


def _resource(rows: Mapping[str, dict[str, Any]], key: str, out_edges: dict[str, list[tuple[str, str]]]) -> CodifyResource:
    row = rows[key]
    out = list(out_edges.get(key, ()))
    # each target's row read once: `rows` may make a dict of a row each time it is read (driftgraph.scan._RowsById)
    targets = {target: {k: found[k] for k in ("type", "natural_id", "name", "arn", "status")}
               for _, target in out if (found := rows.get(target)) is not None}
    return CodifyResource(
        id=key, type=row["type"], account=row["account"], region=row["region"], name=row["name"],
        natural_id=row["natural_id"], arn=row["arn"], tags=loads(row["tags"]) or {},
        attributes=loads(row["attributes"]) or {}, status=row["status"], edges_out=out, targets=targets,
        aliases=tuple(loads(row["aliases"]) or ()),
    )


def unmanaged_import_ids(rows: Mapping[str, dict[str, Any]], unmanaged: Iterable[str],
                         edges: list[tuple[str, str, str]]) -> dict[str, str]:
    """Resource id -> the id `terraform import` takes, for each of the `unmanaged` ids of a scan's rows (`rows`: by
    id, as the scan writes them): stored with the scan so the worksheet's queries can show it. One the scan cannot
    build has none."""
    from graph.codify_terraform import import_id

    unmanaged = list(unmanaged)
    out_edges = _edges_by_source(edges, set(unmanaged))
    found = {}
    for id_ in unmanaged:
        try:
            found[id_] = import_id(_resource(rows, id_, out_edges))
        except (ValueError, KeyError):
            continue  # codify lists it as a blocker, with why
    return found


def find_resource(db, reference: str, scan_id: int | None = None) -> str:
    """The id of the scan's resource answering to `reference` (its id, ARN, natural id or name);
    ValueError when none does, or several do."""
    scan_id = _scan_id(db, scan_id)
    found = [row[0] for row in db.execute(
        "select id from scan_resources where scan_id = ? and (id = ? or arn = ? or natural_id = ?)",
        [scan_id, reference, reference, reference])]
    if not found:
        found = [row[0] for row in db.execute(
            "select id from scan_resources where scan_id = ? and name = ?", [scan_id, reference])]
    if not found:
        raise ValueError(f"--around {reference}: no resource of scan {scan_id} has this id, ARN or name")
    if len(set(found)) > 1:
        raise ValueError(f"--around {reference}: {len(set(found))} resources answer to it; give its ARN "
                         f"({', '.join(sorted(set(found))[:3])})")
    return found[0]


def depends(resource_type: str | None, relation: str) -> bool:
    """Whether a resource depends on the target of its `relation` edge (must exist, or be imported, first)."""
    return relation in DEPENDS_ON or (relation == "attached_to" and resource_type in ATTACHED_DEPENDS)


def neighbourhood(center: str, all_edges: Iterable[tuple[str, str, str]], depth: int) -> set[str]:
    """`center` and every resource within `depth` hops of it, whatever the edges' directions."""
    graph = nx.Graph()
    graph.add_node(center)
    graph.add_edges_from((source, target) for source, _relation, target in all_edges)
    return set(nx.single_source_shortest_path_length(graph, center, cutoff=max(depth, 0)))


def ordered(resources: list[CodifyResource], all_edges: Iterable[tuple[str, str, str]]) -> list[CodifyResource]:
    """`resources` with what others depend on first; resources in a cycle stay together in catalog order."""
    by_id = {r.id: r for r in resources}
    graph = nx.DiGraph()
    graph.add_nodes_from(by_id)
    for source, relation, target in all_edges:
        if source in by_id and target in by_id and source != target and depends(by_id[source].type, relation):
            graph.add_edge(target, source)  # the dependency first

    def rank(key: str) -> tuple:
        r = by_id[key]
        return (_TYPE_RANK.get(r.type, len(_TYPE_RANK)), r.type, r.name or "", r.id)

    condensed = nx.condensation(graph)
    members = {n: sorted(condensed.nodes[n]["members"], key=rank) for n in condensed.nodes}
    order = nx.lexicographical_topological_sort(condensed, key=lambda n: rank(members[n][0]))
    return [by_id[key] for n in order for key in members[n]]


def _label(resource: CodifyResource) -> str:
    return resource.tags.get("Name") if isinstance(resource.tags.get("Name"), str) else resource.name or resource.natural_id or resource.id


def group(resources: list[CodifyResource], all_edges: Iterable[tuple[str, str, str]], *, by: str = "component",
          around: str | None = None, depth: int = 1) -> list[Group]:
    """The resources in groups to import together, each ordered dependencies first.

    `by`: `component` (connected pieces of the relationship graph among the resources: an instance with its
    security group, EIP and volumes), `vpc` (the VPC each is in, directly or through what it depends on),
    `tag:KEY` (the tag's value) or `none` (one group). `around`: only that resource and its neighbours within
    `depth` hops in the whole scan's graph (the resource itself only when it is among `resources`)."""
    all_edges = list(all_edges)
    if around is not None:
        near = neighbourhood(around, all_edges, depth)
        resources = [r for r in resources if r.id in near]
    if not resources:
        return []
    if by == "component":
        pieces = _components(resources, all_edges)
    elif by == "vpc":
        pieces = _by_vpc(resources, all_edges)
    elif by == "none":
        pieces = [("all", "All selected resources", resources)]
    elif by.startswith("tag:") and len(by) > 4:
        key = by[4:]
        values: dict[str, list[CodifyResource]] = defaultdict(list)
        for r in resources:
            value = r.tags.get(key)
            values[value if isinstance(value, str) and value else ""].append(r)
        pieces = [(f"{slug(key)}-{slug(value)}" if value else f"no-{slug(key)}",
                   f"Tag {key} = {value}" if value else f"Without tag {key}", members)
                  for value, members in sorted(values.items(), key=lambda item: (item[0] == "", item[0]))]
    else:
        raise ValueError(f"--group-by {by}: one of {', '.join(GROUP_BY)} or tag:KEY")
    groups, used = [], set()
    for key, title, members in pieces:
        unique, n = key, 2
        while unique in used:  # two Name tags that slug alike
            unique, n = f"{key}-{n}", n + 1
        used.add(unique)
        groups.append(Group(key=unique, title=title, resources=ordered(members, all_edges)))
    return groups


def _components(resources: list[CodifyResource], all_edges: list[tuple[str, str, str]]):
    by_id = {r.id: r for r in resources}
    graph = nx.Graph()
    graph.add_nodes_from(by_id)
    graph.add_edges_from((s, t) for s, _rel, t in all_edges if s in by_id and t in by_id)
    components = sorted((sorted(c) for c in nx.connected_components(graph)), key=lambda c: (-len(c), c[0]))
    width = len(str(len(components)))
    pieces = []
    for number, component in enumerate(components, 1):
        members = ordered([by_id[k] for k in component], all_edges)
        # the group is named after its most connected resource (the instance, not its security group)
        anchor = max(members, key=lambda r: (graph.degree(r.id), -members.index(r)))
        others = f" and {len(members) - 1} more" if len(members) > 1 else ""
        pieces.append((f"{number:0{width}d}-{slug(_label(anchor), 40)}",
                       f"{anchor.type} {_label(anchor)}{others}", members))
    return pieces


def _by_vpc(resources: list[CodifyResource], all_edges: list[tuple[str, str, str]]):
    """Each resource in the group of the VPC it is in or depends on through others (a security group through
    its VPC, an EIP through its instance's subnet); the rest in `no-vpc`."""
    types = {r.id: r.type for r in resources}
    names = {}
    for r in resources:
        names[r.id] = r
        for target, facts in r.targets.items():
            types.setdefault(target, facts.get("type"))
    graph = nx.DiGraph()
    for source, relation, target in all_edges:
        if depends(types.get(source), relation):
            graph.add_edge(source, target)
    vpcs: dict[str, list[CodifyResource]] = defaultdict(list)
    labels: dict[str, str] = {}
    for r in resources:
        if r.type == "AWS::EC2::VPC":
            vpc = r.id
        else:
            reachable = nx.descendants(graph, r.id) if r.id in graph else set()
            found = sorted(k for k in reachable if types.get(k) == "AWS::EC2::VPC" or k.split(":")[-1].startswith("vpc/"))
            vpc = found[0] if found else ""
        vpcs[vpc].append(r)
        if vpc and vpc not in labels:
            facts = next((x.targets[vpc] for x in resources if vpc in x.targets), None)
            natural = (facts or {}).get("natural_id") or (names[vpc].natural_id if vpc in names else vpc.rsplit("/", 1)[-1])
            name = (facts or {}).get("name") or (names[vpc].name if vpc in names else None)
            labels[vpc] = natural + (f" ({name})" if name and name != natural else "")
    pieces = []
    for vpc, members in sorted(vpcs.items(), key=lambda item: (item[0] == "", labels.get(item[0], ""))):
        if vpc:
            natural = labels[vpc].split(" ")[0]
            pieces.append((f"vpc-{slug(natural.removeprefix('vpc-'))}", f"VPC {labels[vpc]}", members))
        else:
            pieces.append(("no-vpc", "Outside any VPC", members))
    return pieces


# Why a tool cannot import a resource of a type, when it cannot (beyond the catalog's own data).
TERRAFORM_LIMITS: dict[str, str] = {}
CLOUDFORMATION_LIMITS: dict[str, str] = {
    "AWS::CloudFormation::Stack": "a stack is imported as a nested stack of its parent, not on its own",
}


def blockers(resources: Iterable[CodifyResource], tool: str) -> list[dict[str, Any]]:
    """The resources `tool` (terraform | cloudformation) cannot import, each with why: listed, never
    silently skipped."""
    if tool not in ("terraform", "cloudformation"):
        raise ValueError(f"{tool}: not a tool codify writes for (terraform, cloudformation)")
    out = []
    for r in resources:
        row = CATALOG.get(r.type)
        reason = None
        if row is None:
            reason = f"{r.type} is not in the catalog: driftgraph does not know how it is imported"
        elif tool == "terraform":
            if not row.terraform:
                reason = f"the catalog names no Terraform type for {r.type}"
            elif r.type in TERRAFORM_LIMITS:
                reason = TERRAFORM_LIMITS[r.type]
            else:
                # the id's recipe lives with the renderer
                from graph.codify_terraform import import_id

                try:
                    import_id(r)
                except ValueError as error:
                    reason = str(error)
        else:
            if not row.import_identifier:
                reason = f"CloudFormation cannot import {r.type} (no resource-import identifier)"
            elif r.type in CLOUDFORMATION_LIMITS:
                reason = CLOUDFORMATION_LIMITS[r.type]
        if reason:
            out.append({"id": r.id, "type": r.type, "name": r.name, "account": r.account, "region": r.region,
                        "tool": tool, "reason": reason})
    return out


def codify(db, scan_id: int | None = None, *, tool: str, statuses: Iterable[str] = (UNMANAGED,),
           types: Iterable[str] = (), tags: dict[str, str] | None = None, accounts: Iterable[str] = (),
           regions: Iterable[str] = (), by: str = "component", around: str | None = None, depth: int = 1,
           pending: set[str] | frozenset[str] = frozenset()) -> Codification:
    """select, group and list blockers in one call: what `driftgraph codify` writes. Blocked resources stay
    out of the groups."""
    scan_id = _scan_id(db, scan_id)
    # an `import` block in Terraform code read with --tf-dir already adopts these: never emitted again
    pending = set(pending) | {row["id"] for row in db.query(
        "select id from scan_resources where scan_id = ? and rule = 'import_pending'", [scan_id])}
    center = find_resource(db, around, scan_id) if around is not None else None
    chosen = select(db, scan_id, statuses=statuses, types=types, tags=tags or {}, accounts=accounts,
                    regions=regions, pending=pending)
    edges = scan_edges(db, scan_id)
    if center is not None:
        near = neighbourhood(center, edges, depth)
        chosen = [r for r in chosen if r.id in near]
    blocked = blockers(chosen, tool)
    blocked_ids = {b["id"] for b in blocked}
    groups = group([r for r in chosen if r.id not in blocked_ids], edges, by=by)
    return Codification(scan_id=scan_id, groups=groups, blockers=blocked,
                        pending=pending_resources(db, set(pending), scan_id))


def written_counts(files: dict[str, str], codification: "Codification") -> tuple[int, int]:
    """(resources imported, blockers) as the written code has them: a writer may block more than the selection
    did (CloudFormation's `blockers.json` adds resources whose required property the scan never reads)."""
    import json

    listed = files.get("blockers.json")
    blocked = len(json.loads(listed)) if listed else len(codification.blockers)
    chosen = sum(len(g.resources) for g in codification.groups)
    return chosen - (blocked - len(codification.blockers)), blocked
