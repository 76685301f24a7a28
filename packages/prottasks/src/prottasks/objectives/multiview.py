"""Multiview contrast (GearNet paper Sec. 4.1; TorchDrug ``models.MultiviewContrast``; ESM-GearNet
``config/pretrain/mc_esm_gearnet.yaml``, DeepGraphLearning/ESM-GearNet).

Two views of every protein; for each view one crop and one noise function are drawn uniformly from the lists
(one draw per view for the whole batch, as TorchDrug's ``random.sample``):

* crops — ``protdata.transforms`` configs: ESM-GearNet ``SubsequenceCrop(max_length=50)`` (default);
  GearNet-Edge also ``SubspaceCrop(min_neighbor=15, min_radius=15)``; ``TruncateProtein`` and ``Identity`` work
  too.
* noise — :class:`IdentityNoiseConfig` or :class:`RandomEdgeMaskConfig` (``mask_rate 0.15``: per protein
  ``max(⌊0.15 · E⌋, 1)`` of its edges drawn with replacement and dropped, TorchDrug ``RandomEdgeMask``).

As in TorchDrug, a crop keeps the *induced subgraph* of the whole protein's graph (``induce_full_graph``): the
encoder's graph of the full batch is built once, and a view's graph is its edges between kept residues (the
nodes come from ``build_graph`` on the cropped batch). Otherwise the graph is rebuilt on the crop (KNN and the
radius cap then see only the crop).

Loss: protein features of both views → shared ``MLP(D, [D] * num_mlp_layer)`` → cosine similarity / τ (0.07);
InfoNCE with the positives on the diagonal, row-wise only: ``L = −mean_i(s_ii − logsumexp_j s_ij)``.

Encoders without a graph: a random edge mask has no edges to drop, so it masks ``max(⌊rate · n⌋, 1)`` residues
instead (drawn with replacement, like ``protdata.transforms.ResidueMasking``) — the closest corruption of what
such an encoder reads.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from protdata import ProteinBatch
from protdata.transforms import (
    SubsequenceCrop,
    SubsequenceCropConfig,
    SubspaceCrop,
    SubspaceCropConfig,
    TruncateProtein,
    TruncateProteinConfig,
)
from prottasks.batching import batch_to_proteins, select_residues, with_residue_masked
from prottasks.nn import MLP
from prottasks.objectives.base import ObjectiveOutput, metric, uniform
from prottasks.objectives.config import (  # re-exported
    MultiviewContrastConfig,
    RandomEdgeMaskConfig,
)
from prottasks.objectives.sampling import sample_in_groups, sample_residues
from prottasks.protocols import is_graph_encoder


def crop_keep(batch: ProteinBatch, crop: Any, rng: np.random.Generator) -> Tensor:
    """``(N,)`` bool: the residues one draw of ``crop`` (a protdata crop config) keeps in each protein."""
    offsets = batch.offsets.tolist()
    keep = np.zeros(batch.num_residues, dtype=bool)
    proteins = batch_to_proteins(batch) if isinstance(crop, SubspaceCropConfig) else None
    for b in range(len(batch)):
        n = offsets[b + 1] - offsets[b]
        if isinstance(crop, SubsequenceCropConfig):
            start, end = SubsequenceCrop(crop).window(n, rng)
            index = np.arange(start, end)
        elif isinstance(crop, TruncateProteinConfig):
            start, end = TruncateProtein(crop).window(n, rng)
            index = np.arange(start, end)
        elif isinstance(crop, SubspaceCropConfig):
            index = SubspaceCrop(crop).ball(proteins[b], rng)[2]
        else:
            index = np.arange(n)
        keep[offsets[b] + index] = True
    return torch.from_numpy(keep).to(batch.device)


def induced_graph(full_graph: Any, keep: Tensor, node_graph: Any) -> Any:
    """``node_graph`` (built on the cropped batch) with the edges of ``full_graph`` between kept residues,
    renumbered to the cropped flat index."""
    new_index = torch.cumsum(keep.long(), 0) - 1  # old flat index -> new
    src, tgt = full_graph.edge_index
    inside = keep[src] & keep[tgt]
    edge_index = torch.stack([new_index[src[inside]], new_index[tgt[inside]]])
    return dataclasses.replace(node_graph, edge_index=edge_index, relation=full_graph.relation[inside])


def random_edge_mask(graph: Any, node2graph: Tensor, num_graphs: int, rate: float, generator: Any) -> Any:
    """Drop ``max(⌊rate · E_b⌋, 1)`` edges (drawn with replacement) of every protein ``b`` that has edges."""
    g = node2graph[graph.edge_index[1]]
    order = torch.argsort(g, stable=True)
    sizes = torch.bincount(g, minlength=num_graphs)
    count = torch.where(sizes > 0, torch.floor(sizes.double() * rate + 1e-9).long().clamp(min=1), 0)
    local, group = sample_in_groups(sizes, count, generator)
    dropped = order[(torch.cumsum(sizes, 0) - sizes)[group] + local]
    keep = torch.ones(g.numel(), dtype=torch.bool, device=g.device)
    keep[dropped] = False
    return dataclasses.replace(graph, edge_index=graph.edge_index[:, keep], relation=graph.relation[keep])


def info_nce(x: Tensor, y: Tensor, tau: float) -> tuple[Tensor, Tensor]:
    """Row-wise InfoNCE on cosine similarities: ``(loss, accuracy of the diagonal as row argmax)``."""
    score = F.cosine_similarity(x.unsqueeze(1), y.unsqueeze(0), dim=-1) / tau  # (B, B)
    loss = -(score.diagonal() - score.logsumexp(dim=-1)).mean()
    accuracy = (score.argmax(-1) == torch.arange(len(x), device=x.device)).float().mean()
    return loss, accuracy


class MultiviewContrast(nn.Module):
    """Contrast two cropped, noised views of each protein (module docstring)."""

    def __init__(
        self, encoder: nn.Module, config: MultiviewContrastConfig | None = None, **kwargs: Any
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.config = config or MultiviewContrastConfig(**kwargs)
        dim = int(encoder.output_dim)
        self.mlp = MLP(dim, [dim] * self.config.num_mlp_layer)

    def _choose(self, options: list[Any], generator: torch.Generator | None, device: torch.device) -> Any:
        k = int((uniform((1,), generator, device) * len(options)).long().clamp(max=len(options) - 1))
        return options[k]

    def view(
        self, batch: ProteinBatch, full_graph: Any, generator: torch.Generator | None
    ) -> tuple[Tensor, dict]:
        """Protein features ``(B, D)`` of one view, and what was drawn."""
        crop = self._choose(self.config.crops, generator, batch.device)
        noise = self._choose(self.config.noises, generator, batch.device)
        seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=batch.device))
        keep = crop_keep(batch, crop, np.random.default_rng(seed))
        cropped = select_residues(batch, keep)
        graph = None
        if is_graph_encoder(self.encoder):
            graph = self.encoder.build_graph(cropped)
            if self.config.induce_full_graph:
                graph = induced_graph(full_graph, keep, graph)
            if isinstance(noise, RandomEdgeMaskConfig):
                graph = random_edge_mask(graph, cropped.batch, len(cropped), noise.mask_rate, generator)
            out = self.encoder(cropped, graph=graph)
        else:
            if isinstance(noise, RandomEdgeMaskConfig):
                cropped = with_residue_masked(cropped, sample_residues(cropped, noise.mask_rate, generator,
                                                                       known_only=False))  # fmt: skip
            out = self.encoder(cropped)
        return out.protein, {"keep": keep, "crop": crop.type, "noise": noise.type}

    def forward(self, batch: ProteinBatch, generator: torch.Generator | None = None) -> ObjectiveOutput:
        full = None
        if is_graph_encoder(self.encoder) and self.config.induce_full_graph:
            full = self.encoder.build_graph(batch)
        p1, info1 = self.view(batch, full, generator)
        p2, info2 = self.view(batch, full, generator)
        loss, accuracy = info_nce(self.mlp(p1), self.mlp(p2), self.config.tau)
        return ObjectiveOutput(
            loss=loss,
            metrics={"loss": metric(loss), "mutual_information": -metric(loss), "accuracy": metric(accuracy)},
            details={"keep_1": info1["keep"], "keep_2": info2["keep"]},
        )
