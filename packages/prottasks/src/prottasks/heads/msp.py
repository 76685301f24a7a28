"""Mutation stability prediction head (ATOM3D MSP; DeepGraphLearning/ESM-GearNet ``gearnet/task.py::MSP``).

The same encoder runs on the wild type and on the mutant (equal lengths, residue for residue); each one's
residue features are mean-pooled over the *mutated* positions (where the residue types differ); the
concatenation ``wt ‖ mt`` goes through an MLP (``num_mlp_layer 1`` by default: one ``Linear(2D → 1)``) to one
logit; binary cross-entropy; evaluate with :func:`prottasks.metrics.auroc` / ``auprc_micro``."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from protdata import ProteinBatch
from prottasks.errors import TaskInputError
from prottasks.heads.base import HeadOutput, multilabel_targets
from prottasks.heads.configs import MSPHeadConfig
from prottasks.nn import seed_mlp


def mutated_positions(wild_type: ProteinBatch, mutant: ProteinBatch) -> Tensor:
    """``(N,)`` bool: residues whose type differs. Lengths must match and every pair needs a mutation."""
    if len(wild_type) != len(mutant) or not torch.equal(wild_type.lengths, mutant.lengths):
        raise TaskInputError(
            "MSP", "wild type and mutant batches must hold the same proteins with equal lengths"
        )
    mutated = wild_type.residue_type != mutant.residue_type
    count = torch.zeros(len(wild_type), dtype=torch.long, device=mutated.device).index_add_(
        0, wild_type.batch, mutated.long()
    )
    if bool((count == 0).any()):
        b = int(torch.nonzero(count == 0)[0])
        raise TaskInputError(mutant.ids[b], f"mutant is identical to its wild type {wild_type.ids[b]!r}")
    return mutated


def pool_positions(residue: Tensor, mask: Tensor, batch: ProteinBatch) -> Tensor:
    """Mean of padded ``residue`` ``(B, L, D)`` over flat positions ``mask`` ``(N,)`` per protein → ``(B, D)``."""
    weights = batch.to_padded(mask.to(residue.dtype)).unsqueeze(-1)  # (B, L, 1)
    return (residue * weights).sum(1) / weights.sum(1).clamp(min=1.0)


class MSPHead(nn.Module):
    """Wild type vs mutant, pooled over the mutated residues → one logit (module docstring)."""

    def __init__(self, encoder: nn.Module, config: MSPHeadConfig | None = None, **kwargs: Any) -> None:
        super().__init__()
        self.encoder = encoder
        self.config = config = config or MSPHeadConfig(**kwargs)
        dim = int(encoder.output_dim)
        self.mlp = seed_mlp(2 * dim, dim, 1, config.num_mlp_layer)

    def forward(self, wild_type: ProteinBatch, mutant: ProteinBatch, targets: Any = None) -> HeadOutput:
        mutated = mutated_positions(wild_type, mutant)
        wt = pool_positions(self.encoder(wild_type).residue, mutated, wild_type)  # (B, D)
        mt = pool_positions(self.encoder(mutant).residue, mutated, mutant)
        logit = self.mlp(torch.cat([wt, mt], dim=-1)).squeeze(-1)  # (B,)
        if targets is None:
            return HeadOutput(logit)
        y = multilabel_targets(torch.as_tensor(targets).reshape(-1, 1), len(wild_type), 1).squeeze(-1)
        loss = F.binary_cross_entropy_with_logits(logit, y.to(logit.device))
        return HeadOutput(logit, loss, {"loss": float(loss.detach())})
