"""Graph analysis with networkx over the reconciled nodes and edges (pure: nodes and edges in, facts out)."""

from __future__ import annotations

import networkx as nx

from graph.records import CHILD, UNMANAGED


def import_groups(nodes, edges) -> dict[str, str]:
    """Unmanaged resources grouped by the relationships among them, with the AWS-made children they carry:
    a group is what one import has to take together (an instance with its hand-made group and its EIP).
    A group is named by its first unmanaged member's id: the name stays while the group does, so a resource
    whose group did not change is not a changed resource in the next scan (numbers would shift for all)."""
    unmanaged = {node.key for node in nodes if node.status == UNMANAGED}
    children = {node.key for node in nodes if node.status == CHILD}
    graph = nx.Graph()
    graph.add_nodes_from(unmanaged)
    # an edge between two unmanaged resources, or an unmanaged one and a child: a million edges, tested by set
    for source, _relation, target in edges:
        if (source in unmanaged and (target in unmanaged or target in children)) or (
                target in unmanaged and source in children):
            graph.add_edge(source, target)
    groups = {}
    for component in nx.connected_components(graph):
        members = sorted(k for k in component if k in unmanaged)
        groups.update((key, members[0]) for key in members)
    return groups
