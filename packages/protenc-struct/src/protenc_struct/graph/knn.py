"""KNN edges: the ``k`` nearest residues of the same protein, then sequence-close pairs dropped.

TorchDrug's ``KNNEdge(k=10, min_distance=5)`` calls torch-cluster's ``knn_graph(pos, k, batch)`` (self
excluded) and then drops pairs with ``|i - j| < min_distance`` and zero-length pairs — so a residue ends up
with at most ``k`` KNN edges, usually fewer. Ties at the k-th distance go to the lower residue index here.
"""

from __future__ import annotations

import torch
from torch import Tensor

from protenc_struct.graph.neighbors import DEFAULT_BLOCK_ELEMENTS, PairBlock, pair_blocks, smallest_k
from protenc_struct.graph.nodes import GraphNodes


def block_knn_edges(block: PairBlock, k: int = 10, min_distance: int = 5) -> Tensor:
    """``(2, E)`` KNN edges (source = neighbour, target = centre) of the query residues of one block."""
    values, columns = smallest_k(block.dist2, k)  # (G, Q, k)
    g, q, slot = torch.nonzero(torch.isfinite(values), as_tuple=True)  # inf: fewer than k others, padding
    c = columns[g, q, slot]
    if min_distance > 0:
        far = block.separation(q, c) >= min_distance
        g, q, c = g[far], q[far], c[far]
    return block.flat_pairs(g, q, c)


def knn_edges(
    nodes: GraphNodes,
    k: int = 10,
    *,
    min_distance: int = 5,
    check_duplicates: bool = True,
    block_elements: int = DEFAULT_BLOCK_ELEMENTS,
) -> Tensor:
    """KNN graph within each protein.

    Args:
        nodes: Cα nodes of the batch.
        k: Neighbours per residue before filtering, self excluded. Seed: 10.
        min_distance: Then drop pairs with ``|i - j| < min_distance``. Seed: 5.
        check_duplicates: Raise on two residues with identical Cα coordinates.
        block_elements: Pairs per distance block (memory bound).

    Returns:
        ``(2, E)`` int64 edge index ``(source, target)`` = (neighbour, centre); unsorted.
    """
    edges = [
        block_knn_edges(block, k, min_distance)
        for block in pair_blocks(nodes, block_elements=block_elements, check_duplicates=check_duplicates)
    ]
    return torch.cat(edges, dim=1) if edges else torch.zeros(2, 0, dtype=torch.long, device=nodes.device)
