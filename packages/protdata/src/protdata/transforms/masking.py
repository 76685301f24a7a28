"""Residue masking for residue-type prediction (TorchDrug ``AttributeMasking`` / ESM-GearNet
``ResidueTypePrediction``, ``mask_rate 0.15``).

``⌊rate · n⌋`` positions (at least 1) are drawn per protein. TorchDrug draws them uniformly *with*
replacement (``⌊U · n⌋`` per sample), so duplicates can make fewer distinct residues masked; set
``with_replacement=False`` for exactly ``⌊rate · n⌋`` distinct positions. The drawn positions are flagged in
``Protein.residue_masked`` (OR-ed with any earlier mask); ``sequence`` keeps the true letters, which are the
labels — encoders hide flagged residues (e.g. ESM ``<mask>``).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from pydantic import Field

from protdata.errors import SequenceError
from protdata.protein import Protein
from protdata.transforms.base import Transform, TransformConfig


class ResidueMaskingConfig(TransformConfig):
    type: Literal["residue_masking"] = "residue_masking"
    #: Fraction of residues drawn (ESM-GearNet residue-type prediction: 0.15).
    rate: float = Field(default=0.15, gt=0.0, le=1.0)
    #: Draw positions with replacement, as TorchDrug does.
    with_replacement: bool = True


class ResidueMasking(Transform[ResidueMaskingConfig]):
    """Flag ``⌊rate · n⌋`` (≥ 1) residues in ``residue_masked``."""

    config_class = ResidueMaskingConfig

    def num_samples(self, n: int) -> int:
        """``max(⌊rate · n⌋, 1)``; the tiny tolerance makes decimal rates exact (0.15 · 20 = 3, not 2.999…)."""
        return max(math.floor(self.config.rate * n + 1e-9), 1)

    def positions(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """The drawn positions ``(num_samples,)`` int64 (with possible repeats when drawing with replacement)."""
        k = self.num_samples(n)
        if self.config.with_replacement:
            return (rng.random(k) * n).astype(np.int64)
        return np.sort(rng.choice(n, size=k, replace=False)).astype(np.int64)

    def apply(self, protein: Protein, rng: np.random.Generator) -> Protein:
        n = len(protein)
        if n == 0:
            raise SequenceError(protein.source or protein.id, f"{protein.id}: cannot mask an empty protein")
        masked = np.zeros(n, dtype=bool) if protein.residue_masked is None else protein.residue_masked.copy()
        masked[self.positions(n, rng)] = True
        return protein.replace(residue_masked=masked)
