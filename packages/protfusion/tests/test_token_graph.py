"""Token edges: every residue linked both ways to its own protein's token node, with the chosen relation."""

from __future__ import annotations

import torch

from protenc_struct import build_gearnet_graph
from protfusion.token_graph import SEED_TOKEN_RELATION, token_edges, token_relation, with_token_edges


def test_token_edges_match_fusionprots_construction(batch):
    """Brute force of ``build_protein_graph_with_3d_token``: for every protein b and residue i of b, the edges
    (N + b → i) and (i → N + b)."""
    graph = build_gearnet_graph(batch)
    n = graph.num_nodes
    index, relation = token_edges(graph.nodes.batch, n, 7)
    expected = set()
    start = 0
    for b, length in enumerate(batch.lengths.tolist()):
        for i in range(start, start + length):
            expected |= {(n + b, i), (i, n + b)}
        start += length
    got = list(zip(index[0].tolist(), index[1].tolist()))
    assert len(got) == len(set(got)) == 2 * n
    assert set(got) == expected
    assert torch.equal(relation, torch.full((2 * n,), 7))


def test_relation_ids():
    """Own relation: the graph's relation count (7 for GearNet's graph); seed: relation 1, because FusionProt takes
    ``bond_type.max() + 1`` over TorchDrug's all-zero protein bond types."""
    assert token_relation(7, seed_token_relation=False) == 7
    assert token_relation(7, seed_token_relation=True) == SEED_TOKEN_RELATION == 0 + 1


def test_residue_edges_kept_in_front(batch):
    graph = build_gearnet_graph(batch)
    index, relation = with_token_edges(
        graph.edge_index, graph.relation, graph.nodes.batch, graph.num_nodes, 7
    )
    e = graph.num_edges
    assert torch.equal(index[:, :e], graph.edge_index) and torch.equal(relation[:e], graph.relation)
    assert index.shape[1] == e + 2 * graph.num_nodes
