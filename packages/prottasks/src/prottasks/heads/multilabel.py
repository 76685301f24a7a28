"""Multi-label classification head (EC, GO) — TorchDrug ``MultipleBinaryClassification`` as ESM-GearNet /
FusionProt configure it (DeepGraphLearning/ESM-GearNet ``config/EC``, ``config/GO``): ``num_mlp_layer 3`` MLP
(hidden width = the encoder's output dim) on the protein feature, binary cross-entropy with uniform label
weights (mean over proteins and labels).
Evaluate with :func:`prottasks.metrics.fmax` and :func:`prottasks.metrics.auprc_micro`."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from protdata import ProteinBatch
from prottasks.heads.base import HeadOutput, multilabel_targets
from prottasks.heads.configs import MultiLabelHeadConfig
from prottasks.nn import seed_mlp


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
