"""Edge sampling for the geometric objectives (TorchDrug ``DistancePrediction`` / ``AnglePrediction`` /
``DihedralPrediction``), without materialising line graphs.

TorchDrug samples, per protein and with replacement, ``num_sample`` uniform draws from

* distance: the edges ``j → i``;
* angle: the line-graph edges ``(k → j, j → i)`` — pairs of edges meeting at ``j`` — except ``e1 == e2`` and
  ``k == i``;
* dihedral: the line-graph-of-line-graph edges ``(k → t, t → j, j → i)`` except the self loops and ``e1 == e3``.

Worked out, a pair is valid iff ``k ≠ i`` and a triple iff ``k ≠ j`` and ``t ≠ i`` (the other exclusions are
implied). So the middle edge can be drawn with probability proportional to the number of valid completions —
``w(j → i) = indeg(j) − #(i → j)`` for angles, ``w(t → j) = (indeg(t) − #(j → t)) · (outdeg(j) − #(j → t))`` for
dihedrals (``#(a → b)`` counts parallel edges of different relations) — and the outer edges uniformly among the
valid ones (rejection). That is exactly TorchDrug's distribution (uniform over valid pairs / triples) at a cost
linear in the number of edges; GearNet's graph with ~40 edges per residue would otherwise need ~1,600 line-graph
edges per residue. As in TorchDrug, pairs through a self edge ``j → j`` (GearNet's sequential offset 0) are
valid and give a zero vector (angle 0).

For an encoder without a graph, :func:`neighbourhood_graph` gives the pairs to sample from: every ordered pair
of residues of one protein whose Cα lie closer than ``radius`` (10 Å, GearNet's spatial edge radius).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from protdata import ProteinBatch
from prottasks.errors import TaskInputError
from prottasks.objectives.base import uniform

_MAX_REJECTION_ROUNDS = 10_000


@dataclass
class NeighbourNodes:
    """Nodes of a :class:`NeighbourGraph`: Cα positions ``pos`` ``(N, 3)``."""

    pos: Tensor


@dataclass
class NeighbourGraph:
    """A one-relation radius graph over the flat residue index (the objectives' own graph for encoders that have
    none). Same fields as ``protenc_struct.ResidueGraph``."""

    nodes: NeighbourNodes
    edge_index: Tensor
    relation: Tensor
    num_relation: int = 1


def ca_positions(batch: ProteinBatch) -> Tensor:
    """Cα coordinates ``(N, 3)``; raises :class:`TaskInputError` naming the protein and residue if one is missing."""
    ca = batch.ca
    finite = torch.isfinite(ca).all(dim=-1)
    if not bool(finite.all()):
        k = int(torch.nonzero(~finite)[0])
        b = int(batch.batch[k])
        pos = k - int(batch.offsets[b])
        raise TaskInputError(
            batch.ids[b],
            f"residue {pos + 1} (position {pos}) has no Cα coordinates; geometric objectives need them",
        )
    return ca


def neighbourhood_graph(batch: ProteinBatch, radius: float = 10.0) -> NeighbourGraph:
    """Every ordered pair ``(j → i)``, ``i ≠ j``, of residues of one protein with ``‖x_i − x_j‖ < radius``."""
    ca = ca_positions(batch)
    padded = batch.to_padded(ca)  # (B, L, 3)
    dist = torch.cdist(padded.double(), padded.double())  # (B, L, L)
    mask = batch.mask
    pair = (dist < radius) & mask[:, :, None] & mask[:, None, :]
    pair &= ~torch.eye(batch.max_length, dtype=torch.bool, device=batch.device)
    b, src, tgt = torch.nonzero(pair, as_tuple=True)
    offset = batch.offsets[b]
    edge_index = torch.stack([offset + src, offset + tgt])
    relation = torch.zeros(edge_index.shape[1], dtype=torch.long, device=batch.device)
    return NeighbourGraph(NeighbourNodes(ca), edge_index, relation)


def remove_edges(graph: Any, edge_ids: Tensor) -> Any:
    """A copy of ``graph`` (a dataclass with ``edge_index``/``relation``) without the edges ``edge_ids``."""
    keep = torch.ones(graph.edge_index.shape[1], dtype=torch.bool, device=graph.edge_index.device)
    keep[edge_ids] = False
    return dataclasses.replace(graph, edge_index=graph.edge_index[:, keep], relation=graph.relation[keep])


def _edge_graph(edge_index: Tensor, node2graph: Tensor, num_graphs: int) -> Tensor:
    """``(E,)`` protein of each edge (its target's); checks that no edge leaves its protein."""
    src, tgt = edge_index
    g = node2graph[tgt]
    if bool((node2graph[src] != g).any()):
        raise TaskInputError(None, "the graph has edges between different proteins")
    return g


def _weighted_draw(
    weights: Tensor, edge_graph: Tensor, num_graphs: int, num_sample: int, generator: torch.Generator | None
) -> tuple[Tensor, Tensor]:
    """``num_sample`` draws per protein of an edge with probability ∝ ``weights`` (int64) among the protein's edges.

    Returns ``(edge ids (K,), protein of each draw (K,))``; proteins whose weights sum to 0 get no draws.
    """
    order = torch.argsort(edge_graph, stable=True)
    w = weights[order]
    cum = torch.cumsum(w, 0)  # (E,) int64, exact
    total = torch.zeros(num_graphs, dtype=torch.long, device=weights.device)
    total.index_add_(0, edge_graph, weights)
    base = torch.cumsum(total, 0) - total  # (G,) cumulative weight before each protein
    counts = torch.where(total > 0, num_sample, 0)
    group = torch.repeat_interleave(torch.arange(num_graphs, device=weights.device), counts)
    u = uniform((group.numel(),), generator, weights.device).double()
    r = torch.minimum((u * total[group].double()).long(), total[group] - 1)  # uniform integer in [0, total)
    position = torch.searchsorted(cum, base[group] + r, right=True)
    return order[position], group


def sample_edges(
    edge_index: Tensor,
    node2graph: Tensor,
    num_graphs: int,
    num_sample: int,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """``num_sample`` edges per protein, uniformly with replacement: ``(edge ids (K,), protein (K,))``."""
    g = _edge_graph(edge_index, node2graph, num_graphs)
    return _weighted_draw(torch.ones_like(g), g, num_graphs, num_sample, generator)


class _Adjacency:
    """CSR views of a multigraph: edges grouped by target (in-edges) and by source (out-edges), and parallel
    edge counts ``#(a → b)``."""

    def __init__(self, edge_index: Tensor, num_nodes: int) -> None:
        src, tgt = edge_index
        self.src, self.tgt, self.num_nodes = src, tgt, num_nodes
        self.in_order = torch.argsort(tgt, stable=True)
        self.out_order = torch.argsort(src, stable=True)
        self.indeg = torch.bincount(tgt, minlength=num_nodes)
        self.outdeg = torch.bincount(src, minlength=num_nodes)
        self.in_ptr = torch.cumsum(self.indeg, 0) - self.indeg
        self.out_ptr = torch.cumsum(self.outdeg, 0) - self.outdeg
        key = src * num_nodes + tgt
        self.keys, self.key_counts = torch.unique(key, return_counts=True)  # sorted

    def multiplicity(self, a: Tensor, b: Tensor) -> Tensor:
        """``#(a → b)`` for each pair (0 where there is no such edge)."""
        if self.keys.numel() == 0:
            return torch.zeros_like(a)
        key = a * self.num_nodes + b
        pos = torch.searchsorted(self.keys, key).clamp(max=self.keys.numel() - 1)
        return torch.where(self.keys[pos] == key, self.key_counts[pos], 0)

    def draw_in_edge(
        self, node: Tensor, forbidden_source: Tensor, generator: torch.Generator | None
    ) -> Tensor:
        """An edge into ``node`` whose source is not ``forbidden_source``, uniformly (rejection sampling)."""
        return self._draw(node, forbidden_source, self.in_ptr, self.indeg, self.in_order, self.src, generator)

    def draw_out_edge(
        self, node: Tensor, forbidden_target: Tensor, generator: torch.Generator | None
    ) -> Tensor:
        """An edge out of ``node`` whose target is not ``forbidden_target``, uniformly (rejection sampling)."""
        return self._draw(
            node, forbidden_target, self.out_ptr, self.outdeg, self.out_order, self.tgt, generator
        )

    @staticmethod
    def _draw(
        node: Tensor,
        forbidden: Tensor,
        ptr: Tensor,
        degree: Tensor,
        order: Tensor,
        other_end: Tensor,
        generator: torch.Generator | None,
    ) -> Tensor:
        result = torch.empty_like(node)
        todo = torch.arange(node.numel(), device=node.device)
        for _ in range(_MAX_REJECTION_ROUNDS):
            if todo.numel() == 0:
                return result
            n = node[todo]
            u = uniform((todo.numel(),), generator, node.device).double()
            k = torch.minimum((u * degree[n].double()).long(), degree[n] - 1)
            edge = order[ptr[n] + k]
            ok = other_end[edge] != forbidden[todo]
            result[todo[ok]] = edge[ok]
            todo = todo[~ok]
        raise RuntimeError("edge rejection sampling did not converge (a draw had no valid completion)")


def sample_edge_pairs(
    edge_index: Tensor,
    node2graph: Tensor,
    num_graphs: int,
    num_sample: int,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """``num_sample`` adjacent edge pairs ``(e1 = k → j, e2 = j → i)`` per protein, ``k ≠ i``, uniformly with
    replacement over all such pairs: ``(e1 (K,), e2 (K,), protein (K,))``."""
    g = _edge_graph(edge_index, node2graph, num_graphs)
    adj = _Adjacency(edge_index, node2graph.numel())
    j, i = adj.src, adj.tgt  # e2 = j → i
    weight = adj.indeg[j] - adj.multiplicity(i, j)  # in-edges of j not coming from i
    e2, group = _weighted_draw(weight, g, num_graphs, num_sample, generator)
    e1 = adj.draw_in_edge(adj.src[e2], adj.tgt[e2], generator)
    return e1, e2, group


def sample_edge_triples(
    edge_index: Tensor,
    node2graph: Tensor,
    num_graphs: int,
    num_sample: int,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``num_sample`` chains ``(e1 = k → t, e2 = t → j, e3 = j → i)`` per protein with ``k ≠ j`` and ``t ≠ i``,
    uniformly with replacement over all such chains: ``(e1, e2, e3, protein)``, each ``(K,)``."""
    g = _edge_graph(edge_index, node2graph, num_graphs)
    adj = _Adjacency(edge_index, node2graph.numel())
    t, j = adj.src, adj.tgt  # e2 = t → j
    back = adj.multiplicity(j, t)
    weight = (adj.indeg[t] - back) * (adj.outdeg[j] - back)
    e2, group = _weighted_draw(weight, g, num_graphs, num_sample, generator)
    t2, j2 = adj.src[e2], adj.tgt[e2]
    e1 = adj.draw_in_edge(t2, j2, generator)  # k → t with k ≠ j
    e3 = adj.draw_out_edge(j2, t2, generator)  # j → i with i ≠ t
    return e1, e2, e3, group
