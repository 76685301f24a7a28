"""Single-label classification head (DeepLoc subcellular 10 / binary 2, Metal Ion Binding 2, fold, Reaction):
MLP on the protein feature, cross-entropy, accuracy (TorchDrug ``PropertyPrediction`` with ``criterion: ce``;
ProtCLIP's downstream ``Linear → ReLU → Linear`` is ``num_mlp_layer 2``)."""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import nn

from protdata import ProteinBatch
from prottasks.heads.base import HeadOutput, class_targets
from prottasks.heads.configs import SingleLabelHeadConfig
from prottasks.nn import seed_mlp


class SingleLabelHead(nn.Module):
    """``encoder → protein feature → MLP → logits (B, K)``; cross-entropy against class ids."""

    def __init__(
        self, encoder: nn.Module, config: SingleLabelHeadConfig | None = None, **kwargs: Any
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.config = config = config or SingleLabelHeadConfig(**kwargs)
        dim = int(encoder.output_dim)
        self.mlp = seed_mlp(dim, dim, config.num_classes, config.num_mlp_layer, config.dropout)

    def forward(self, batch: ProteinBatch, targets: Any = None) -> HeadOutput:
        logits = self.mlp(self.encoder(batch).protein)  # (B, K)
        if targets is None:
            return HeadOutput(logits)
        y = class_targets(targets, len(batch), self.config.num_classes).to(logits.device)
        loss = F.cross_entropy(logits, y)
        accuracy = (logits.argmax(-1) == y).float().mean()
        return HeadOutput(logits, loss, {"loss": float(loss.detach()), "accuracy": float(accuracy)})
