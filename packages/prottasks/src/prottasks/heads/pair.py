"""Pair classification head (HumanPPI; SaProt ``saprot_ppi_model``): the two proteins are encoded by the same
encoder, their protein features concatenated and classified — SaProt: ``Linear(2h, 2h) → ReLU → Linear(2h, 2)``,
i.e. ``num_mlp_layer 2`` with hidden width ``2h``; cross-entropy, accuracy."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from protdata import ProteinBatch
from prottasks.errors import TaskInputError
from prottasks.heads.base import HeadOutput, class_targets
from prottasks.heads.configs import PairHeadConfig
from prottasks.nn import seed_mlp


class PairHead(nn.Module):
    """``MLP(protein(a) ‖ protein(b))`` → logits ``(B, K)``."""

    def __init__(self, encoder: nn.Module, config: PairHeadConfig | None = None, **kwargs: Any) -> None:
        super().__init__()
        self.encoder = encoder
        self.config = config = config or PairHeadConfig(**kwargs)
        dim = 2 * int(encoder.output_dim)
        self.mlp = seed_mlp(dim, dim, config.num_classes, config.num_mlp_layer, config.dropout)

    def forward(self, first: ProteinBatch, second: ProteinBatch, targets: Any = None) -> HeadOutput:
        if len(first) != len(second):
            raise TaskInputError("PairHead", f"{len(first)} first proteins but {len(second)} second proteins")
        x = torch.cat([self.encoder(first).protein, self.encoder(second).protein], dim=-1)  # (B, 2D)
        logits = self.mlp(x)
        if targets is None:
            return HeadOutput(logits)
        y = class_targets(targets, len(first), self.config.num_classes).to(logits.device)
        loss = F.cross_entropy(logits, y)
        accuracy = (logits.argmax(-1) == y).float().mean()
        return HeadOutput(logits, loss, {"loss": float(loss.detach()), "accuracy": float(accuracy)})
