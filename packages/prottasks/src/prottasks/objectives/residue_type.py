"""Residue type prediction (ESM-GearNet ``gearnet/task.py::ResidueTypePrediction``, a TorchDrug
``AttributeMasking``; DeepGraphLearning/ESM-GearNet ``config/pretrain/attr_esm_gearnet.yaml``).

Per protein ``max(⌊0.15 · n⌋, 1)`` residue positions are drawn uniformly *with replacement* (duplicates possible,
as in TorchDrug); they are flagged ``residue_masked`` in the batch, so a structure encoder zeroes their one-hot
features and a sequence encoder feeds ``<mask>`` (the protdata contract). A ``num_mlp_layer 2`` MLP
(``D → D → 20``) on the masked residues' features predicts their type; cross-entropy over the 20 standard
residues; metric accuracy.

Unknown residues (``X``, type 20) have no class among TorchDrug's 20; positions are drawn among the standard
residues only (the count still follows the full length).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from protdata import ProteinBatch
from prottasks.batching import with_residue_masked
from prottasks.nn import seed_mlp
from prottasks.objectives.base import ObjectiveOutput, metric
from prottasks.objectives.config import ResidueTypePredictionConfig  # re-exported
from prottasks.objectives.sampling import sample_residues

#: Standard residue types predicted (TorchDrug ``constant.NUM_AMINO_ACID``).
NUM_RESIDUE_CLASSES = 20


class ResidueTypePrediction(nn.Module):
    """Mask residues, encode, predict their types (module docstring)."""

    def __init__(
        self, encoder: nn.Module, config: ResidueTypePredictionConfig | None = None, **kwargs: Any
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.config = config or ResidueTypePredictionConfig(**kwargs)
        dim = int(encoder.output_dim)
        self.mlp = seed_mlp(dim, dim, NUM_RESIDUE_CLASSES, self.config.num_mlp_layer)

    def forward(self, batch: ProteinBatch, generator: torch.Generator | None = None) -> ObjectiveOutput:
        index = sample_residues(batch, self.config.mask_rate, generator)  # (K,) flat, with replacement
        target = batch.residue_type[index]  # (K,) in 0..19
        masked = with_residue_masked(batch, index)
        h = self.encoder(masked).flat_residue()  # (N, D)
        logits = self.mlp(h[index])  # (K, 20)
        loss = F.cross_entropy(logits, target)
        accuracy = (logits.argmax(-1) == target).float().mean()
        return ObjectiveOutput(
            loss=loss,
            metrics={"loss": metric(loss), "accuracy": metric(accuracy)},
            details={"index": index, "target": target, "residue_masked": masked.residue_masked},
        )
