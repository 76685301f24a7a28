"""Geometric pretraining objectives of GearNet / ESM-GearNet: distance, angle and dihedral prediction.

Zhang et al., "Protein Representation Learning by Geometric Structure Pretraining" (arXiv 2203.06125), Sec. 4.2;
TorchDrug ``tasks.DistancePrediction`` / ``AnglePrediction`` / ``DihedralPrediction``; ESM-GearNet configs
``config/pretrain/{distance,angle,dihedral}_esm_gearnet.yaml`` (DeepGraphLearning/ESM-GearNet):

* distance — ``num_sample 256`` edges ``j → i`` per protein (with replacement), removed from the graph; target
  ``‖x_i − x_j‖`` (Cα, Å); ``MLP(2D → D → 1)`` on ``h_i ‖ h_j``; MSE.
* angle — ``num_sample 512`` adjacent edge pairs ``(k → j, j → i)``, both removed; target
  ``∠kji = atan2(‖v1 × v2‖, v1 · v2)`` with ``v1 = x_i − x_j``, ``v2 = x_k − x_j``, binned into ``num_class 8``
  equal bins over ``[0, π)`` (``bucketize(θ, arange(0, π, π/8), right=True) − 1``); ``MLP`` on ``h_i ‖ h_j ‖ h_k``;
  cross-entropy.
* dihedral — ``num_sample 512`` chains ``(k → t, t → j, j → i)``, all three removed; target
  ``atan2(‖n1 × n2‖, n1 · n2) ∈ [0, π]`` with ``n1 = (x_t − x_j) × (x_i − x_j)``, ``n2 = (x_t − x_j) × (x_k − x_t)``,
  8 bins; ``MLP`` on ``h_i ‖ h_j ‖ h_k ‖ h_t``; cross-entropy.

All heads are ``num_mlp_layer 2`` MLPs with hidden width ``D`` (the encoder's ``output_dim``).

Graph encoders (:class:`prottasks.protocols.GraphEncoder`) are sampled on their own graph, which is passed back
with the sampled edges removed. Encoders without a graph (plain sequence encoders) have no edges to leak the
answer: the pairs, pairs of pairs and chains are drawn from :func:`~prottasks.objectives.edges.neighbourhood_graph`
(residues of one protein with Cα closer than ``radius``, 10 Å) and the encoder runs on the unchanged batch.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from protdata import EncoderOutput, ProteinBatch
from prottasks.errors import TaskInputError
from prottasks.nn import seed_mlp
from prottasks.objectives.base import ObjectiveOutput, metric
from prottasks.objectives.config import (  # re-exported
    AnglePredictionConfig,
    DihedralPredictionConfig,
    DistancePredictionConfig,
)
from prottasks.objectives.edges import (
    ca_positions,
    neighbourhood_graph,
    remove_edges,
    sample_edge_pairs,
    sample_edge_triples,
    sample_edges,
)
from prottasks.protocols import is_graph_encoder


# --------------------------------------------------------------------------------------------- targets
def edge_length(pos: Tensor, i: Tensor, j: Tensor) -> Tensor:
    """``‖x_i − x_j‖`` ``(K,)``."""
    return (pos[i] - pos[j]).norm(dim=-1)


def bond_angle(pos: Tensor, i: Tensor, j: Tensor, k: Tensor) -> Tensor:
    """Angle ∠kji in ``[0, π]``: ``atan2(‖v1 × v2‖, v1 · v2)``, ``v1 = x_i − x_j``, ``v2 = x_k − x_j`` (0 for a zero
    vector)."""
    v1, v2 = pos[i] - pos[j], pos[k] - pos[j]
    return torch.atan2(torch.linalg.cross(v1, v2).norm(dim=-1), (v1 * v2).sum(dim=-1))


def dihedral_angle(pos: Tensor, i: Tensor, j: Tensor, t: Tensor, k: Tensor) -> Tensor:
    """Unsigned dihedral of the chain ``k → t → j → i`` in ``[0, π]`` (TorchDrug ``DihedralPrediction``):
    ``atan2(‖n1 × n2‖, n1 · n2)``, ``n1 = (x_t − x_j) × (x_i − x_j)``, ``n2 = (x_t − x_j) × (x_k − x_t)``."""
    v_ctr = pos[t] - pos[j]
    n1 = torch.linalg.cross(v_ctr, pos[i] - pos[j])
    n2 = torch.linalg.cross(v_ctr, pos[k] - pos[t])
    return torch.atan2(torch.linalg.cross(n1, n2).norm(dim=-1), (n1 * n2).sum(dim=-1))


def angle_bin(angle: Tensor, num_class: int) -> Tensor:
    """Bin of ``angle`` among ``num_class`` equal bins over ``[0, π)`` (π itself falls in the last bin):
    ``bucketize(angle, arange(0, π, π / num_class), right=True) − 1``, boundaries in ``angle.dtype``."""
    boundary = torch.arange(0, math.pi, math.pi / num_class, dtype=angle.dtype, device=angle.device)
    return torch.bucketize(angle, boundary, right=True) - 1


# ------------------------------------------------------------------------------------------- objectives
class _GeometryObjective(nn.Module):
    """Shared plumbing: the graph to sample from, and the encoder call on the reduced graph."""

    num_nodes_in_head: int = 2

    def __init__(self, encoder: nn.Module, config: Any, num_out: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.config = config
        dim = int(encoder.output_dim)
        self.mlp = seed_mlp(self.num_nodes_in_head * dim, dim, num_out, config.num_mlp_layer)

    def graph(self, batch: ProteinBatch) -> tuple[Any, bool]:
        """``(graph, is the encoder's own graph)``."""
        if is_graph_encoder(self.encoder):
            return self.encoder.build_graph(batch), True
        return neighbourhood_graph(batch, self.config.radius), False

    def encode(self, batch: ProteinBatch, graph: Any, own_graph: bool, removed: Tensor) -> Tensor:
        """Flat residue features ``(N, D)``, the encoder seeing ``graph`` minus ``removed`` edges."""
        out: EncoderOutput = (
            self.encoder(batch, graph=remove_edges(graph, removed)) if own_graph else self.encoder(batch)
        )
        return out.flat_residue()

    @staticmethod
    def check_sampled(batch: ProteinBatch, count: int, what: str) -> None:
        if count == 0:
            raise TaskInputError(", ".join(batch.ids), f"no protein of the batch has any {what} to sample")


class DistancePrediction(_GeometryObjective):
    """Predict the Cα distance of sampled, removed edges (module docstring; MSE)."""

    def __init__(
        self, encoder: nn.Module, config: DistancePredictionConfig | None = None, **kwargs: Any
    ) -> None:
        config = config or DistancePredictionConfig(**kwargs)
        super().__init__(encoder, config, 1)

    def forward(self, batch: ProteinBatch, generator: torch.Generator | None = None) -> ObjectiveOutput:
        pos = ca_positions(batch)
        graph, own = self.graph(batch)
        edge, group = sample_edges(
            graph.edge_index, batch.batch, len(batch), self.config.num_sample, generator
        )
        self.check_sampled(batch, edge.numel(), "edge")
        node_i, node_j = graph.edge_index[0, edge], graph.edge_index[1, edge]
        target = edge_length(pos, node_i, node_j)  # (K,)
        h = self.encode(batch, graph, own, edge)
        pred = self.mlp(torch.cat([h[node_i], h[node_j]], dim=-1)).squeeze(-1)  # (K,)
        loss = F.mse_loss(pred, target)
        return ObjectiveOutput(
            loss=loss,
            metrics={"loss": metric(loss), "mse": metric(loss)},
            details={"edges": edge, "node_i": node_i, "node_j": node_j, "target": target, "protein": group,
                     "prediction": pred.detach()},
        )  # fmt: skip


class AnglePrediction(_GeometryObjective):
    """Predict the binned angle between two sampled, removed adjacent edges (module docstring)."""

    num_nodes_in_head = 3

    def __init__(
        self, encoder: nn.Module, config: AnglePredictionConfig | None = None, **kwargs: Any
    ) -> None:
        config = config or AnglePredictionConfig(**kwargs)
        super().__init__(encoder, config, config.num_class)

    def forward(self, batch: ProteinBatch, generator: torch.Generator | None = None) -> ObjectiveOutput:
        pos = ca_positions(batch)
        graph, own = self.graph(batch)
        ei = graph.edge_index
        e1, e2, group = sample_edge_pairs(ei, batch.batch, len(batch), self.config.num_sample, generator)
        self.check_sampled(batch, e2.numel(), "pair of adjacent edges")
        node_i, node_j, node_k = ei[1, e2], ei[0, e2], ei[0, e1]  # (k → j) then (j → i)
        angle = bond_angle(pos, node_i, node_j, node_k)
        target = angle_bin(angle, self.config.num_class)
        h = self.encode(batch, graph, own, torch.cat([e1, e2]))
        logits = self.mlp(torch.cat([h[node_i], h[node_j], h[node_k]], dim=-1))  # (K, C)
        loss = F.cross_entropy(logits, target)
        accuracy = (logits.argmax(-1) == target).float().mean()
        return ObjectiveOutput(
            loss=loss,
            metrics={"loss": metric(loss), "accuracy": metric(accuracy)},
            details={"edge_1": e1, "edge_2": e2, "node_i": node_i, "node_j": node_j, "node_k": node_k,
                     "angle": angle, "target": target, "protein": group},
        )  # fmt: skip


class DihedralPrediction(_GeometryObjective):
    """Predict the binned dihedral of three sampled, removed consecutive edges (module docstring)."""

    num_nodes_in_head = 4

    def __init__(
        self, encoder: nn.Module, config: DihedralPredictionConfig | None = None, **kwargs: Any
    ) -> None:
        config = config or DihedralPredictionConfig(**kwargs)
        super().__init__(encoder, config, config.num_class)

    def forward(self, batch: ProteinBatch, generator: torch.Generator | None = None) -> ObjectiveOutput:
        pos = ca_positions(batch)
        graph, own = self.graph(batch)
        ei = graph.edge_index
        e1, e2, e3, group = sample_edge_triples(
            ei, batch.batch, len(batch), self.config.num_sample, generator
        )
        self.check_sampled(batch, e2.numel(), "chain of three edges")
        node_k, node_t, node_j, node_i = ei[0, e1], ei[0, e2], ei[0, e3], ei[1, e3]  # k → t → j → i
        dihedral = dihedral_angle(pos, node_i, node_j, node_t, node_k)
        target = angle_bin(dihedral, self.config.num_class)
        h = self.encode(batch, graph, own, torch.cat([e1, e2, e3]))
        logits = self.mlp(torch.cat([h[node_i], h[node_j], h[node_k], h[node_t]], dim=-1))  # (K, C)
        loss = F.cross_entropy(logits, target)
        accuracy = (logits.argmax(-1) == target).float().mean()
        return ObjectiveOutput(
            loss=loss,
            metrics={"loss": metric(loss), "accuracy": metric(accuracy)},
            details={"edge_1": e1, "edge_2": e2, "edge_3": e3, "node_i": node_i, "node_j": node_j,
                     "node_t": node_t, "node_k": node_k, "dihedral": dihedral, "target": target,
                     "protein": group},
        )  # fmt: skip
