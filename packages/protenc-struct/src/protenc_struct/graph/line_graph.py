"""GearNet-Edge's spatial line graph (TorchDrug ``SpatialLineGraph(num_angle_bin=8)``).

Each edge of the residue graph becomes a node. For every pair of edges ``(k → j)`` and ``(j → i)`` that meet
at ``j`` there is a line-graph edge from the first to the second (TorchDrug's ``PackedGraph.line_graph``; all
pairs, including ``i == k`` and the self edges ``j → j``), whose relation is the angle ∠kji binned into
``num_angle_bin`` equal bins over ``[0, π]``:

    θ = atan2(‖(x_i − x_j) × (x_k − x_j)‖, (x_i − x_j)·(x_k − x_j)),   bin = min(⌊θ / π · n⌋, n − 1)

(a zero-length vector, from a self edge, gives θ = 0). GearNet paper, Sec. 3.3, Eq. 5.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def spatial_line_graph(edge_index: Tensor, pos: Tensor, num_angle_bin: int = 8) -> tuple[Tensor, Tensor]:
    """Line graph of ``edge_index`` with angle-bin relations.

    Args:
        edge_index: ``(2, E)`` (source, target) of the residue graph.
        pos: ``(N, 3)`` node positions.
        num_angle_bin: Number of angle bins (seed: 8).

    Returns:
        ``line_edge_index`` ``(2, E_line)`` over edge ids (source edge ``k → j``, target edge ``j → i``) and
        ``line_relation`` ``(E_line,)`` in ``[0, num_angle_bin)``. ``E_line = Σ_j in_deg(j) · out_deg(j)``.
    """
    source, target = edge_index
    num_nodes = pos.shape[0]
    device = edge_index.device
    incoming = torch.argsort(target, stable=True)  # edges grouped by the node they enter
    outgoing = torch.argsort(source, stable=True)  # edges grouped by the node they leave
    in_degree = torch.bincount(target, minlength=num_nodes)  # (N,)
    out_degree = torch.bincount(source, minlength=num_nodes)  # (N,)
    pairs = in_degree * out_degree  # (N,) line edges through each node
    total = int(pairs.sum())
    node = torch.repeat_interleave(torch.arange(num_nodes, device=device), pairs, output_size=total)  # (L,)
    local = torch.arange(total, device=device) - (torch.cumsum(pairs, 0) - pairs)[node]
    inner = out_degree[node]
    first_in = (torch.cumsum(in_degree, 0) - in_degree)[node]
    first_out = (torch.cumsum(out_degree, 0) - out_degree)[node]
    edge_in = incoming[first_in + torch.div(local, inner, rounding_mode="floor")]  # (L,) k → j
    edge_out = outgoing[first_out + local % inner]  # (L,) j → i

    node_i, node_j, node_k = target[edge_out], source[edge_out], source[edge_in]
    v1 = pos[node_i] - pos[node_j]  # (L, 3)
    v2 = pos[node_k] - pos[node_j]  # (L, 3)
    angle = torch.atan2(torch.linalg.cross(v1, v2).norm(dim=-1), (v1 * v2).sum(dim=-1))  # (L,)
    relation = (angle / math.pi * num_angle_bin).long().clamp(max=num_angle_bin - 1)
    return torch.stack([edge_in, edge_out]), relation
