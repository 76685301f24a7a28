"""Zero-shot mutation-effect metrics (ProteinGym's headline number): Spearman's ρ between a model's scores and
the measured fitness of a deep mutational scan, over the rows that have both."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from prottasks.errors import MetricInputError
from prottasks.metrics.regression import spearman


@dataclass(frozen=True)
class ZeroShotSpearman:
    """``rho``: Spearman's ρ in float64 (NaN when fewer than 2 pairs or a constant side); ``n``: pairs used."""

    rho: float
    n: int

    def as_json(self) -> float | None:
        """``rho``, or ``None`` where it is undefined (JSON has no NaN)."""
        return None if math.isnan(self.rho) else self.rho


def zero_shot_spearman(scores: Sequence[float | None], labels: Sequence[float]) -> ZeroShotSpearman:
    """Spearman's ρ (ties averaged, float64) of ``scores`` against ``labels``, row by row, leaving out rows
    without a score (``None``: a skipped mutant) or without a finite label (an unmeasured variant)."""
    if len(scores) != len(labels):
        raise MetricInputError("scores/labels", f"lengths differ: {len(scores)} vs {len(labels)}")
    pairs = [
        (float(s), float(y)) for s, y in zip(scores, labels) if s is not None and math.isfinite(float(y))
    ]
    if len(pairs) < 2:
        return ZeroShotSpearman(math.nan, len(pairs))
    return ZeroShotSpearman(spearman([p[0] for p in pairs], [p[1] for p in pairs]), len(pairs))
