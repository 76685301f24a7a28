"""Multi-label classification head (EC, GO) — TorchDrug ``MultipleBinaryClassification`` as ESM-GearNet /
FusionProt configure it (DeepGraphLearning/ESM-GearNet ``config/EC``, ``config/GO``): ``num_mlp_layer 3`` MLP
(hidden width = the encoder's output dim) on the protein feature, binary cross-entropy with uniform label
weights (mean over proteins and labels).
Evaluate with :func:`prottasks.metrics.fmax` and :func:`prottasks.metrics.auprc_micro`."""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from protdata import ProteinBatch
from prottasks.config import TaskConfig
from prottasks.heads.base import HeadOutput, multilabel_targets
from prottasks.nn import seed_mlp


class MultiLabelHeadConfig(TaskConfig):
    type: Literal["multi_label"] = "multi_label"
    #: Number of labels (EC: 538 in torchdrug / ProtCLIP, 585 in SaProt; GO-MF/BP/CC: 489/1943/320).
    num_labels: int = Field(ge=1)
    #: MLP layers (ESM-GearNet: 3).
    num_mlp_layer: int = Field(default=3, ge=1)
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)


class MultiLabelHead(nn.Module):
    """``encoder → protein feature → MLP → logits (B, C)``; BCE-with-logits against k-hot targets."""

    def __init__(self, encoder: nn.Module, config: MultiLabelHeadConfig | None = None, **kwargs: Any) -> None:
        super().__init__()
        self.encoder = encoder
        self.config = config = config or MultiLabelHeadConfig(**kwargs)
        dim = int(encoder.output_dim)
        self.mlp = seed_mlp(dim, dim, config.num_labels, config.num_mlp_layer, config.dropout)

    def forward(self, batch: ProteinBatch, targets: Any = None) -> HeadOutput:
        logits = self.mlp(self.encoder(batch).protein)  # (B, C)
        if targets is None:
            return HeadOutput(logits)
        y = multilabel_targets(targets, len(batch), self.config.num_labels).to(logits.device)
        loss = F.binary_cross_entropy_with_logits(logits, y)
        return HeadOutput(logits, loss, {"loss": float(loss.detach())})

    @torch.no_grad()
    def predict_proba(self, batch: ProteinBatch) -> torch.Tensor:
        """Sigmoid probabilities ``(B, C)``."""
        return torch.sigmoid(self.forward(batch).output)
