"""Single-label classification head (DeepLoc subcellular 10 / binary 2, Metal Ion Binding 2, fold, Reaction):
MLP on the protein feature, cross-entropy, accuracy (TorchDrug ``PropertyPrediction`` with ``criterion: ce``;
ProtCLIP's downstream ``Linear → ReLU → Linear`` is ``num_mlp_layer 2``)."""

from __future__ import annotations

from typing import Any, Literal

import torch.nn.functional as F
from pydantic import Field
from torch import nn

from protdata import ProteinBatch
from prottasks.config import TaskConfig
from prottasks.heads.base import HeadOutput, class_targets
from prottasks.nn import seed_mlp


class SingleLabelHeadConfig(TaskConfig):
    type: Literal["single_label"] = "single_label"
    num_classes: int = Field(ge=2)
    num_mlp_layer: int = Field(default=2, ge=1)
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)


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
