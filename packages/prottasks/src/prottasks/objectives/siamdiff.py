"""SiamDiff: Siamese diffusion trajectory prediction (Zhang et al., "Pre-Training Protein Encoder via Siamese
Sequence-Structure Diffusion Trajectory Prediction", NeurIPS 2023; ESM-GearNet ``gearnet/siamdiff.py``,
``config/pretrain/siamdiff_esm_gearnet.yaml``).

One step, per batch:

1. Second conformer: ``x² = x + ε``, ``ε ~ N(0, 0.3²)`` per atom and axis (``NoiseTransform sigma 0.3``; crop 150
   with ``TruncateProtein(random=True)`` happens in the data pipeline).
2. One noise level ``t ~ U{0 … T−1}`` per protein, shared by both views (``T = num_noise_level = 100``);
   ``β = sigmoid(linspace(−6, 6, T)) · (σ_end − σ_begin) + σ_begin`` (1e-3 → 0.1), ``α_t = ∏_{s≤t}(1 − β_s)``.
3. Sequence noise (``γ < 1``): ``max(⌊n · r_t⌋, 1)`` residues drawn with replacement,
   ``r_t = (max_mask_ratio − 0.15) · (t + 1) / T + 0.15``; the same residues are masked in both views.
4. Graphs are built on the masked views *before* the structure noise (edges of the clean / conformer geometry).
5. Structure noise (``γ > 0``), per view: ``x̃ = x + ε' · √(1 − α_t) / √α_t`` (every atom of a residue moves by
   the residue's ``ε'``); per edge ``d`` and ``d̃`` (Cα), target ``(d − d̃) / √(1 − α_t) · √α_t``.
6. Both views are encoded; each view's heads read the *other* view's residue features (mutual information,
   ``use_mi``): edge score ``struct_mlp(h_i ⊙ h_j ‖ dist_mlp(d̃))``, scores and targets turned into node vectors
   (``Σ`` over edges of the unit vector ``(x̃_src − x̃_tgt)/‖·‖`` times the score: mean over out-edges minus mean
   over in-edges), loss ``0.5 ‖pred − target‖²`` per node, mean per protein then over proteins; sequence loss
   ``0.5 · CE`` of ``seq_mlp(h)`` at the masked residues (20 types), mean per protein then over proteins.
7. ``L = γ · (L_struct¹ + L_struct²) + (1 − γ) · (L_seq¹ + L_seq²)``, ``γ = 0.5``; MLPs have
   ``num_mlp_layer 3``.

Encoders without a graph: step 4 uses :func:`~prottasks.objectives.edges.neighbourhood_graph` (10 Å) of each
view for the structure head; the encoder itself sees only the masked sequence, so the structure loss is learned
from its features and the perturbed distances alone.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from protdata import ProteinBatch
from prottasks.batching import replace_fields, with_residue_masked
from prottasks.nn import seed_mlp
from prottasks.objectives.base import ObjectiveOutput, metric
from prottasks.objectives.config import SiamDiffConfig  # re-exported
from prottasks.objectives.edges import ca_positions, neighbourhood_graph
from prottasks.objectives.residue_type import NUM_RESIDUE_CLASSES
from prottasks.objectives.sampling import sample_residues
from prottasks.protocols import is_graph_encoder


def noise_schedule(config: SiamDiffConfig) -> Tensor:
    """``α_t = ∏_{s ≤ t} (1 − β_s)``, ``β = sigmoid(linspace(−6, 6, T)) · (σ_end − σ_begin) + σ_begin`` ``(T,)``."""
    span = config.sigma_end - config.sigma_begin
    betas = torch.linspace(-6, 6, config.num_noise_level).sigmoid() * span + config.sigma_begin  # (T,)
    return (1.0 - betas).cumprod(dim=0)


def scatter_mean(src: Tensor, index: Tensor, size: int) -> Tensor:
    """Mean of the rows of ``src`` ``(E, F)`` per ``index`` ``(E,)`` → ``(size, F)`` (zeros where none)."""
    total = src.new_zeros((size, *src.shape[1:])).index_add_(0, index, src)
    count = src.new_zeros(size).index_add_(0, index, src.new_ones(index.shape[0]))
    return total / count.clamp(min=1).view(-1, *([1] * (src.dim() - 1)))


def edge_scores_to_nodes(score: Tensor, pos: Tensor, edge_index: Tensor) -> Tensor:
    """Invariant edge scores ``(E,)`` → equivariant node vectors ``(N, 3)`` (GeoDiff's ``eq_transform``)."""
    src, tgt = edge_index
    diff = pos[src] - pos[tgt]
    unit = diff / (diff.norm(dim=-1, keepdim=True) + 1e-10)
    vec = unit * score.unsqueeze(-1)
    n = pos.shape[0]
    return scatter_mean(vec, src, n) + scatter_mean(-vec, tgt, n)


def per_protein_mean(values: Tensor, protein: Tensor, num_proteins: int) -> Tensor:
    """Mean over proteins of the per-protein mean of ``values`` (proteins without values are skipped)."""
    count = torch.bincount(protein, minlength=num_proteins)
    means = scatter_mean(values.unsqueeze(-1), protein, num_proteins).squeeze(-1)
    return means[count > 0].mean()


@dataclasses.dataclass
class _View:
    batch: ProteinBatch
    graph: Any
    pos: Tensor  # (N, 3) perturbed Cα
    edge_index: Tensor
    perturbed_dist: Tensor  # (E,)
    target: Tensor  # (E,)


class SiamDiff(nn.Module):
    """SiamDiff pretraining (module docstring)."""

    def __init__(self, encoder: nn.Module, config: SiamDiffConfig | None = None, **kwargs: Any) -> None:
        super().__init__()
        self.encoder = encoder
        self.config = config = config or SiamDiffConfig(**kwargs)
        dim = int(encoder.output_dim)
        n = config.num_mlp_layer
        self.struct_mlp = seed_mlp(2 * dim, dim, 1, n)
        self.dist_mlp = seed_mlp(1, dim, dim, n)
        self.seq_mlp = seed_mlp(dim, dim, NUM_RESIDUE_CLASSES, n)
        self.register_buffer("alphas", noise_schedule(config), persistent=False)

    # ------------------------------------------------------------------ pieces
    def conformer(self, batch: ProteinBatch, generator: torch.Generator | None) -> ProteinBatch:
        """The second view: every present atom moved by N(0, σ²) (``protdata.transforms.GaussianNoise``)."""
        noise = (
            torch.randn(batch.coords.shape, generator=generator, device=batch.device)
            * self.config.conformer_sigma
        )
        coords = torch.where(batch.atom_mask.unsqueeze(-1), batch.coords + noise, batch.coords)
        return replace_fields(batch, coords=coords)

    def mask_rate(self, level: Tensor) -> Tensor:
        """``(max − min) · (t + 1) / T + min`` per protein."""
        c = self.config
        return (c.max_mask_ratio - c.min_mask_ratio) * (
            level.double() + 1
        ) / c.num_noise_level + c.min_mask_ratio

    def perturb(self, batch: ProteinBatch, level: Tensor, generator: torch.Generator | None) -> _View:
        """Build the view's graph on clean coordinates, then add structure noise (steps 4–5)."""
        graph = self.encoder.build_graph(batch) if is_graph_encoder(self.encoder) else None
        edge_index = (
            graph.edge_index
            if graph is not None
            else neighbourhood_graph(batch, self.config.radius).edge_index
        )
        pos = ca_positions(batch)
        alpha = self.alphas[level].to(pos.dtype)  # (B,)
        a_node = alpha[batch.batch]
        src, tgt = edge_index
        dist = (pos[src] - pos[tgt]).norm(dim=-1)
        if self.config.gamma > 0.0:
            eps = torch.randn(pos.shape, generator=generator, device=pos.device, dtype=pos.dtype)
            shift = eps * ((1.0 - a_node).sqrt() / a_node.sqrt()).unsqueeze(-1)  # (N, 3)
            new_pos = pos + shift
            batch = replace_fields(batch, coords=batch.coords + shift.unsqueeze(1))
            if graph is not None and hasattr(graph, "nodes") and hasattr(graph.nodes, "pos"):
                graph = dataclasses.replace(graph, nodes=dataclasses.replace(graph.nodes, pos=new_pos))
        else:
            new_pos = pos
        perturbed = (new_pos[src] - new_pos[tgt]).norm(dim=-1)
        a_edge = alpha[batch.batch[tgt]]
        target = (dist - perturbed) / (1.0 - a_edge).sqrt() * a_edge.sqrt()
        return _View(batch, graph, new_pos, edge_index, perturbed, target)

    def encode(self, view: _View) -> Tensor:
        out = (
            self.encoder(view.batch, graph=view.graph) if view.graph is not None else self.encoder(view.batch)
        )
        return out.flat_residue()  # (N, D)

    def struct_loss(self, view: _View, h: Tensor) -> Tensor:
        src, tgt = view.edge_index
        edge_in = torch.cat([h[src] * h[tgt], self.dist_mlp(view.perturbed_dist.unsqueeze(-1))], dim=-1)
        score = self.struct_mlp(edge_in).squeeze(-1)  # (E,)
        pred = edge_scores_to_nodes(score, view.pos, view.edge_index)  # (N, 3)
        target = edge_scores_to_nodes(view.target, view.pos, view.edge_index)
        per_node = 0.5 * ((pred - target) ** 2).sum(dim=-1)  # (N,)
        return per_protein_mean(per_node, view.batch.batch, len(view.batch))

    def seq_loss(
        self, h: Tensor, index: Tensor, target: Tensor, batch: ProteinBatch
    ) -> tuple[Tensor, Tensor]:
        logits = self.seq_mlp(h[index])  # (K, 20)
        loss = 0.5 * F.cross_entropy(logits, target, reduction="none")
        accuracy = (logits.argmax(-1) == target).float().mean()
        return per_protein_mean(loss, batch.batch[index], len(batch)), accuracy

    # ----------------------------------------------------------------- forward
    def forward(self, batch: ProteinBatch, generator: torch.Generator | None = None) -> ObjectiveOutput:
        c = self.config
        ca_positions(batch)  # clear error for missing Cα before anything else
        second = self.conformer(batch, generator) if c.use_mi else None
        level = torch.randint(0, c.num_noise_level, (len(batch),), generator=generator, device=batch.device)
        index = target = None
        if c.gamma < 1.0:
            index = sample_residues(batch, self.mask_rate(level), generator)
            target = batch.residue_type[index]
            batch = with_residue_masked(batch, index)
            second = with_residue_masked(second, index) if second is not None else None
        view1 = self.perturb(batch, level, generator)
        view2 = self.perturb(second, level, generator) if second is not None else view1
        h1 = self.encode(view1)
        h2 = self.encode(view2) if second is not None else h1
        loss = h1.new_zeros(())
        metrics: dict[str, float] = {}
        if c.gamma > 0.0:
            s1, s2 = self.struct_loss(view1, h2), self.struct_loss(view2, h1)
            loss = loss + c.gamma * (s1 + s2)
            metrics["structure_denoising_loss"] = metric(s1 + s2)
        if c.gamma < 1.0:
            q1, acc1 = self.seq_loss(h2, index, target, view1.batch)
            q2, acc2 = self.seq_loss(h1, index, target, view2.batch)
            loss = loss + (1.0 - c.gamma) * (q1 + q2)
            metrics["sequence_denoising_loss"] = metric(q1 + q2)
            metrics["sequence_denoising_accuracy"] = metric(0.5 * (acc1 + acc2))
        metrics["loss"] = metric(loss)
        details = {"noise_level": level, "struct_target_1": view1.target, "edge_index_1": view1.edge_index,
                   "perturbed_pos_1": view1.pos}  # fmt: skip
        if index is not None:
            details.update(masked_index=index, masked_target=target)
        return ObjectiveOutput(loss, metrics, details)
