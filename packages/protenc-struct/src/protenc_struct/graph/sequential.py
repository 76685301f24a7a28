"""Sequential edges: residues at most ``max_distance`` apart in the sequence, within one chain.

TorchDrug's ``SequentialEdge(max_distance=2)`` (GearNet's graph): for every offset ``o`` in
``-max_distance … +max_distance`` there is an edge from residue ``k`` (source, ``node_in``) to residue
``k + o`` (target, ``node_out``) with relation ``o + max_distance`` — so relations 0…4 are offsets −2…+2 and
relation 2 is the self edge every residue has. Edges that would leave the protein or cross a chain boundary are
dropped; gaps in the author numbering do *not* break the sequence in TorchDrug (the residue order does), which
is the default here too. ``gap_cutoff`` optionally treats consecutive residues whose Cα are farther apart than
``gap_cutoff`` Å (a chain break: 3.8 Å is the trans peptide Cα–Cα distance) as unconnected.
"""

from __future__ import annotations

import torch
from torch import Tensor

from protenc_struct.graph.nodes import GraphNodes


def sequence_segments(nodes: GraphNodes, chain_index: Tensor, gap_cutoff: float | None = None) -> Tensor:
    """``(N,)`` id of the unbroken segment each residue is in (new protein, new chain, or a gap starts one)."""
    n = nodes.num_nodes
    breaks = torch.ones(n, dtype=torch.bool, device=nodes.device)  # breaks[k]: k and k+1 are not connected
    if n > 1:
        same = (nodes.batch[1:] == nodes.batch[:-1]) & (chain_index[1:] == chain_index[:-1])
        if gap_cutoff is not None:
            step = nodes.pos[1:] - nodes.pos[:-1]  # (N-1, 3)
            same = same & ((step * step).sum(-1) <= float(gap_cutoff) ** 2)
        breaks[:-1] = ~same
    return torch.cumsum(breaks, 0) - breaks.long()  # breaks strictly before k


def sequential_edges(
    nodes: GraphNodes,
    chain_index: Tensor,
    max_distance: int = 2,
    *,
    gap_cutoff: float | None = None,
) -> tuple[Tensor, Tensor]:
    """Sequential edges of the batch.

    Args:
        nodes: Cα nodes of the batch.
        chain_index: ``(N,)`` chain of each residue (within its protein).
        max_distance: Largest sequence offset. Seed: 2 (5 relations).
        gap_cutoff: Break the sequence where consecutive Cα are farther apart (Å); ``None`` = TorchDrug.

    Returns:
        ``edge_index`` ``(2, E)`` (source, target) and ``relation`` ``(E,)`` in ``0 … 2 * max_distance``,
        grouped by relation, then by source.
    """
    n = nodes.num_nodes
    segment = sequence_segments(nodes, chain_index, gap_cutoff)
    index = torch.arange(n, device=nodes.device)
    sources, targets, relations = [], [], []
    for offset in range(-max_distance, max_distance + 1):
        if abs(offset) >= n:
            continue
        source = index[max(0, -offset) : n - max(0, offset)]
        target = source + offset
        if offset:
            ok = segment[source] == segment[target]
            source, target = source[ok], target[ok]
        sources.append(source)
        targets.append(target)
        relations.append(torch.full_like(source, offset + max_distance))
    edge_index = torch.stack([torch.cat(sources), torch.cat(targets)])
    return edge_index, torch.cat(relations)
