"""Graph analysis with networkx over the reconciled nodes and edges (pure: nodes and edges in, facts out)."""

from __future__ import annotations

import networkx as nx

from graph.records import CHILD, UNMANAGED


def import_groups(nodes, edges) -> dict[str, int]:
    """Unmanaged resources grouped by the relationships among them, with the AWS-made children they carry:
    a group is what one import has to take together (an instance with its hand-made group and its EIP).
    Groups are numbered from 1, largest first, so numbering is stable for the same graph."""
    status = {node.key: node.status for node in nodes}
    graph = nx.Graph()
    graph.add_nodes_from(key for key, s in status.items() if s == UNMANAGED)
    for source, _relation, target in edges:
        ends = (status.get(source), status.get(target))
        if UNMANAGED in ends and all(s in (UNMANAGED, CHILD) for s in ends):
            graph.add_edge(source, target)
    components = sorted(
        (sorted(c) for c in nx.connected_components(graph) if any(status[k] == UNMANAGED for k in c)),
        key=lambda c: (-len(c), c[0]),
    )
    return {key: number for number, component in enumerate(components, 1) for key in component if status[key] == UNMANAGED}
