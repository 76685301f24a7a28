"""Regression metrics: Spearman, Pearson, MAE, RMSE, R² (PSR, stability, fluorescence, thermostability).

``spearman`` is the Pearson correlation of the ranks with ties averaged (``scipy.stats.spearmanr``), not
TorchDrug's / ProtCLIP's rank formula that ignores ties. Correlations of a constant input are undefined: NaN.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from prottasks.errors import MetricInputError
from prottasks.metrics._inputs import average_ranks, same_shape, scores_array


def _pair(pred: Any, target: Any) -> tuple[np.ndarray, np.ndarray]:
    p = scores_array(pred, "pred", ndim=1)
    t = scores_array(target, "target", ndim=1)
    same_shape(p, t, "pred/target")
    if len(p) == 0:
        raise MetricInputError("pred/target", "empty")
    return p, t


def pearson(pred: Any, target: Any) -> float:
    """Pearson's r (NaN if either input is constant)."""
    p, t = _pair(pred, target)
    if len(p) < 2:
        raise MetricInputError("pred/target", "a correlation needs at least 2 values")
    pc, tc = p - p.mean(), t - t.mean()
    denom = np.sqrt(np.dot(pc, pc) * np.dot(tc, tc))
    return float(np.dot(pc, tc) / denom) if denom > 0 else float("nan")


def spearman(pred: Any, target: Any) -> float:
    """Spearman's ρ: Pearson's r of the average ranks."""
    p, t = _pair(pred, target)
    return pearson(average_ranks(p), average_ranks(t))


def mae(pred: Any, target: Any) -> float:
    """Mean absolute error."""
    p, t = _pair(pred, target)
    return float(np.mean(np.abs(p - t)))


def rmse(pred: Any, target: Any) -> float:
    """Root mean squared error."""
    p, t = _pair(pred, target)
    return float(np.sqrt(np.mean((p - t) ** 2)))


def r2(pred: Any, target: Any) -> float:
    """Coefficient of determination ``1 − SS_res / SS_tot`` (NaN for a constant target)."""
    p, t = _pair(pred, target)
    ss_tot = float(np.sum((t - t.mean()) ** 2))
    return 1.0 - float(np.sum((t - p) ** 2)) / ss_tot if ss_tot > 0 else float("nan")
