"""Graph analysis with networkx over the reconciled nodes and edges (pure: nodes and edges in, facts out)."""

from __future__ import annotations

import networkx as nx

from graph.records import CHILD, UNMANAGED


def import_groups(nodes, edges) -> dict[str, str]:
    """Unmanaged resources grouped by the relationships among them, with the AWS-made children they carry:
    a group is what one import has to take together (an instance with its hand-made group and its EIP).
    A group is named by its first unmanaged member's id: the name stays while the group does, so a resource
    whose group did not change is not a changed resource in the next scan (numbers would shift for all)."""
    status = {node.key: node.status for node in nodes}
    graph = nx.Graph()
    graph.add_nodes_from(key for key, s in status.items() if s == UNMANAGED)
    for source, _relation, target in edges:
        ends = (status.get(source), status.get(target))
        if UNMANAGED in ends and all(s in (UNMANAGED, CHILD) for s in ends):
            graph.add_edge(source, target)
    groups = {}
    for component in nx.connected_components(graph):
        members = sorted(k for k in component if status[k] == UNMANAGED)
        groups.update((key, members[0]) for key in members)
    return groups
