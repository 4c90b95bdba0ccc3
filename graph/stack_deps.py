"""Stacks as a dependency graph: which stack needs which, and through what (an export, an SSM parameter, a nested
stack, a cdk.out manifest, CDK's cross-region references, the CDK bootstrap), with upgrade waves, cycles and blast
radius. Pure: rows and references in, facts out; no AWS, no files.

Names are scoped as AWS scopes them: an export or an SSM parameter belongs to one account and one region, so a
stack only ever matches a writer of the same account and region. CDK's cross-region references are the one
deliberate crossing: the producer writes SSM parameters into the consumer's region, and they match there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import networkx as nx

# What an edge's `via` starts with: its kind. The rest of `via`, when there is any, names the export or parameter.
EXPORT, SSM, NESTED, MANIFEST, CROSS_REGION, BOOTSTRAP = "export", "ssm", "nested", "manifest", "cross-region", "bootstrap"
EDGE_KINDS = (EXPORT, SSM, NESTED, MANIFEST, CROSS_REGION, BOOTSTRAP)

# SSM reserves names under /aws (AWS's public parameters: AMI ids, service endpoints): no stack can write one,
# so a read of one is no missing dependency.
AWS_PUBLIC_PARAMETERS = "/aws/"


@dataclass(frozen=True)
class StackReferences:
    """What one stack's template says about other stacks beyond Fn::ImportValue (see importers.stack_links,
    which reads it from a template). It lives here, with the graph that consumes it, so that `graph/` depends
    on nothing above it."""

    ssm_writes: tuple[str, ...] = ()  # names of the AWS::SSM::Parameter resources it declares
    ssm_reads: tuple[str, ...] = ()  # SSM parameter names it reads: parameter types and {{resolve:ssm:...}}
    bootstrap: tuple[str, ...] = ()  # the CDK bootstrap version parameter(s) it checks, /cdk-bootstrap/Q/version
    nested: tuple[str, ...] = ()  # logical ids of its nested stacks
    cross_region_reads: tuple[tuple[str | None, str], ...] = ()  # (region, /cdk/exports/... name); None: its own region
    cross_region_writes: tuple[tuple[str | None, str], ...] = ()  # (target region, name); None: target unknown
    unresolved: tuple[str, ...] = ()  # references whose name could not be resolved: the stack may need more


@dataclass(frozen=True)
class StackEdge:
    """One fact that makes `stack` need `depends_on`. `depends_on` is None when no known stack provides what
    `stack` reads (an import whose exporter was not scanned): an unmet dependency, kept and named, never dropped."""

    stack: str  # the dependent stack id
    depends_on: str | None  # the stack id it needs; None when nobody known provides it
    via: str  # "export NAME" | "ssm NAME" | "nested" | "manifest" | "cross-region NAME" | "bootstrap NAME"

    @property
    def kind(self) -> str:
        return self.via.split(" ", 1)[0]


def _edge_order(edge: StackEdge) -> tuple:
    return (edge.stack, edge.depends_on is None, edge.depends_on or "", edge.via)


def _scope(stack: dict) -> tuple:
    return (stack.get("account"), stack.get("region"))


def ssm_parameter_keys(name: str, account: str | None, region: str | None) -> list[tuple]:
    """(account, region, name) keys a reference to SSM parameter `name` may match. A parameter ARN (shared
    parameters, read across accounts) names its own account and region; its `parameter/a/b` path is the name
    `/a/b` or, for a name without a leading slash, `a/b`."""
    if not name.startswith("arn:"):
        return [(account, region, name)]
    parts = name.split(":", 5)
    if len(parts) < 6 or parts[2] != "ssm" or not parts[5].startswith("parameter/"):
        return []
    path = parts[5][len("parameter/"):]
    return [(parts[4], parts[3], path), (parts[4], parts[3], "/" + path)]


def _writers_of(index: dict[tuple, set[str]], keys: Iterable[tuple]) -> list[str]:
    return sorted({stack_id for key in keys for stack_id in index.get(key, ())})


def stack_edges(
    stacks: list[dict],
    imports: list[dict],
    exports: list[dict],
    references: dict[str, StackReferences],
    manifest_edges: Iterable[StackEdge] = (),
) -> list[StackEdge]:
    """Every dependency between stacks, each with the fact that makes it, sorted and without duplicates.

    `stacks` are rows with `id`, `account`, `region`, `parent_id` (and `name`); `imports` and `exports` are the
    importer's rows; `references` maps a stack id to what its template says (importers.stack_links). A read that
    no known stack provides is an edge whose `depends_on` is None, except reads of AWS's public parameters. A stack
    reading what it writes itself is no cross-stack dependency and makes no edge."""
    by_id = {stack["id"]: stack for stack in stacks}
    found: set[StackEdge] = set()

    def scope_of(stack_id: str, row: dict | None = None) -> tuple:
        stack = by_id.get(stack_id, {})
        row = row or {}
        return (row.get("account", stack.get("account")), row.get("region", stack.get("region")))

    # Fn::ImportValue: the importer resolved the exporter from ListExports where it could; otherwise the export
    # of the same name in the same account and region (export names are unique there, and only there).
    exported: dict[tuple, set[str]] = {}
    for row in exports:
        exported.setdefault((*scope_of(row["stack_id"], row), row["export_name"]), set()).add(row["stack_id"])
    for row in imports:
        name = row["export_name"]
        exporters = [row["exporting_stack_id"]] if row.get("exporting_stack_id") else _writers_of(
            exported, [(*scope_of(row["stack_id"], row), name)]
        )
        for exporter in exporters or [None]:
            found.add(StackEdge(row["stack_id"], exporter, f"{EXPORT} {name}"))

    # SSM parameters (and the CDK bootstrap version, which is one): written by AWS::SSM::Parameter resources
    written: dict[tuple, set[str]] = {}
    for stack_id, refs in references.items():
        for name in refs.ssm_writes:
            written.setdefault((*scope_of(stack_id), name), set()).add(stack_id)
    for stack_id, refs in references.items():
        account, region = scope_of(stack_id)
        for kind, names in ((SSM, refs.ssm_reads), (BOOTSTRAP, refs.bootstrap)):
            for name in names:
                writers = _writers_of(written, ssm_parameter_keys(name, account, region))
                if not writers and name.startswith(AWS_PUBLIC_PARAMETERS):
                    continue
                for writer in writers or [None]:
                    found.add(StackEdge(stack_id, writer, f"{kind} {name}"))

    # CDK cross-region references: the producer's Custom::CrossRegionExportWriter puts /cdk/exports/CONSUMER/...
    # parameters into the consumer's region, where the consumer's Custom::CrossRegionExportReader reads them. One
    # account (CDK supports no cross-account references this way). A writer whose target region is unknown
    # matches the name in any region: the name carries the consumer's stack name and a hash of the value.
    cross_written: dict[tuple, set[str]] = {}
    for stack_id, refs in references.items():
        for target_region, name in refs.cross_region_writes:
            cross_written.setdefault((scope_of(stack_id)[0], target_region, name), set()).add(stack_id)
    for stack_id, refs in references.items():
        account, own_region = scope_of(stack_id)
        for read_region, name in refs.cross_region_reads:
            keys = [(account, read_region or own_region, name), (account, None, name)]
            for writer in _writers_of(cross_written, keys) or [None]:
                found.add(StackEdge(stack_id, writer, f"{CROSS_REGION} {name}"))

    # Nested stacks. A nested stack is a resource of its parent: CloudFormation creates (and updates) the child
    # as one step of the parent's deployment, and the parent reads the child's outputs (GetAtt Child.Outputs.X),
    # so the parent completes only after its children: the parent depends on its children. Children are only
    # deployed through their root, so their wave orders them inside the root's deployment.
    children: dict[str, list[dict]] = {}
    for stack in stacks:
        if stack.get("parent_id"):
            children.setdefault(stack["parent_id"], []).append(stack)
            found.add(StackEdge(stack["parent_id"], stack["id"], NESTED))
    for stack_id, refs in references.items():
        found.update(_missing_children(by_id.get(stack_id), stack_id, refs.nested, children.get(stack_id, [])))

    found.update(manifest_edges)
    return sorted((edge for edge in found if edge.stack != edge.depends_on), key=_edge_order)


def _missing_children(parent: dict | None, parent_id: str, declared: tuple[str, ...], children: list[dict]) -> list[StackEdge]:
    """Nested stacks a parent declares that no scanned stack is the child of. Only said when the parent has fewer
    children than it declares; which ones are missing is told by CloudFormation's naming of nested stacks,
    PARENT-LOGICALID-SUFFIX (a name too long for that is truncated, so this can name the wrong one of them)."""
    if len(children) >= len(declared):
        return []
    prefix = f"{(parent or {}).get('name') or ''}-"
    named = {
        logical for logical in declared
        if any(str(child.get("name") or "").startswith(f"{prefix}{logical}-") for child in children)
    }
    return [StackEdge(parent_id, None, f"{NESTED} {logical}") for logical in sorted(set(declared) - named)]


def dependency_graph(
    stacks: list[dict],
    imports: list[dict],
    exports: list[dict],
    references: dict[str, StackReferences],
    manifest_edges: Iterable[StackEdge] = (),
) -> nx.DiGraph:
    """Stacks (nodes: stack ids, with the stack's row as data) and their dependencies (an edge from a stack to one
    it depends on, `vias`: every fact that makes it, sorted). Dependencies on no known stack are not edges: each
    stack's node lists them under `unmet` (StackEdges), and `graph.graph["unmet"]` lists them all, with those whose
    dependent stack itself is unknown (a nested stack whose parent was not scanned)."""
    graph = nx.DiGraph()
    for stack in sorted(stacks, key=lambda s: s["id"]):
        graph.add_node(stack["id"], **{**stack, "unmet": []})
    unmet: list[StackEdge] = []
    for edge in stack_edges(stacks, imports, exports, references, manifest_edges):
        if edge.stack in graph and edge.depends_on in graph:
            if graph.has_edge(edge.stack, edge.depends_on):
                graph.edges[edge.stack, edge.depends_on]["vias"].append(edge.via)
            else:
                graph.add_edge(edge.stack, edge.depends_on, vias=[edge.via])
        else:
            unmet.append(edge)
            if edge.stack in graph:
                graph.nodes[edge.stack]["unmet"].append(edge)
    graph.graph["unmet"] = unmet
    return graph


def stored_graph(stacks: list[dict], edges: Iterable[StackEdge]) -> nx.DiGraph:
    """The graph again from stack rows and the edges a scan stored (unmet ones, `depends_on` None, included)."""
    return dependency_graph(stacks, [], [], {}, manifest_edges=edges)


def graph_edges(graph: nx.DiGraph) -> list[StackEdge]:
    """The graph's dependencies as StackEdges, one per fact, sorted (unmet ones not included)."""
    edges = [StackEdge(stack, needed, via) for stack, needed, vias in graph.edges(data="vias") for via in vias or ()]
    return sorted(edges, key=_edge_order)


def upgrade_waves(graph: nx.DiGraph) -> tuple[list[list[str]], list[list[str]]]:
    """(waves, cycles). Wave 0 holds the stacks that depend on no other; every other stack is in the wave after the
    last of the stacks it depends on, so it comes after every stack whose exports (parameters, children) it reads.

    Stacks that depend on each other (a cycle: A imports from B and B from A) cannot be ordered: each cycle is named
    in `cycles`, and its stacks are placed together, in the wave after the last of the stacks the cycle depends on.
    No stack is ever left out. Stacks are sorted by id within a wave and a cycle; cycles by their first stack."""
    components = nx.condensation(graph)  # one node per strongly connected component; edges as in the graph
    wave_of: dict[int, int] = {}
    for component in reversed(list(nx.topological_sort(components))):  # a component's dependencies come first
        wave_of[component] = 1 + max((wave_of[needed] for needed in components.successors(component)), default=-1)
    waves: list[list[str]] = [[] for _ in range(1 + max(wave_of.values(), default=-1))]
    cycles: list[list[str]] = []
    for component, wave in wave_of.items():
        members = sorted(components.nodes[component]["members"])
        waves[wave] += members
        if len(members) > 1 or graph.has_edge(members[0], members[0]):
            cycles.append(members)
    return [sorted(wave) for wave in waves], sorted(cycles)


def blast_radius(graph: nx.DiGraph, stack_id: str, kinds: Iterable[str] | None = None) -> list[str]:
    """Every stack that breaks, directly or through others, if this stack's exports (parameters, outputs) change:
    the stacks that depend on it, transitively, sorted. `kinds` keeps only edges of those kinds (e.g. ("export",)
    for what CloudFormation itself would refuse to update). Raises KeyError for a stack not in the graph."""
    if stack_id not in graph:
        raise KeyError(f"no stack {stack_id} in the dependency graph")
    if kinds is not None:
        wanted = set(kinds)
        graph = graph.edge_subgraph(
            (stack, needed) for stack, needed, vias in graph.edges(data="vias")
            if any(via.split(" ", 1)[0] in wanted for via in vias)
        )
        if stack_id not in graph:
            return []
    return sorted(nx.ancestors(graph, stack_id))
