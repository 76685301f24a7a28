"""Classification metrics: AUPR (micro), AUROC, accuracy, Matthews correlation.

Definitions follow scikit-learn (the parity reference in the tests): tied scores form one threshold.

* ``auprc_micro`` — average precision of all (protein, label) entries pooled: ``Σ_k (R_k − R_{k−1}) · P_k`` over
  distinct thresholds (no interpolation). EC/GO "AUPR" of ESM-GearNet / ProtCLIP (TorchDrug ``auprc@micro``,
  which orders tied scores arbitrarily instead of grouping them).
* ``auroc`` — area under the ROC curve = P(score⁺ > score⁻) + ½ P(score⁺ = score⁻) (Mann–Whitney with average
  ranks); MSP's metric. For 2-d input, ``average="micro"`` pools entries, ``"macro"`` averages columns.
* ``accuracy`` — fraction of correct top-1 predictions (DeepLoc, HumanPPI, Metal Ion Binding).
* ``mcc`` — multi-class Matthews correlation (Gorodkin 2004), ``(c·s − Σ_k p_k t_k) / √((s² − Σ p_k²)(s² − Σ t_k²))``.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from prottasks.errors import MetricInputError
from prottasks.metrics._inputs import as_array, average_ranks, binary_array, same_shape, scores_array


def _auroc_1d(s: np.ndarray, y: np.ndarray, name: str) -> float:
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        raise MetricInputError(name, f"AUROC needs both classes, got {n_pos} positives and {n_neg} negatives")
    r = average_ranks(s)
    return float((r[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def auroc(scores: Any, labels: Any, average: Literal["micro", "macro"] = "micro") -> float:
    """Area under the ROC curve of ``scores`` against binary ``labels`` (1-d, or 2-d pooled / column-averaged)."""
    s = scores_array(scores, "scores", ndim=(1, 2))
    y = binary_array(labels, "labels", ndim=(1, 2))
    same_shape(s, y, "scores/labels")
    if s.ndim == 1 or average == "micro":
        return _auroc_1d(s.ravel(), y.ravel(), "labels")
    if average != "macro":
        raise MetricInputError("average", f"must be 'micro' or 'macro', not {average!r}")
    return float(np.mean([_auroc_1d(s[:, j], y[:, j], f"labels[:, {j}]") for j in range(s.shape[1])]))


def auprc_micro(scores: Any, labels: Any) -> float:
    """Average precision of all entries pooled (``sklearn.metrics.average_precision_score`` on the flattened
    arrays; ``average="micro"``)."""
    s = scores_array(scores, "scores", ndim=(1, 2)).ravel()
    y = binary_array(labels, "labels", ndim=(1, 2)).ravel()
    if s.shape != y.shape:
        raise MetricInputError("scores/labels", f"sizes differ: {s.shape} vs {y.shape}")
    n_pos = int(y.sum())
    if n_pos == 0:
        raise MetricInputError("labels", "average precision needs at least one positive label")
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order].astype(np.float64)
    last = np.flatnonzero(np.r_[s[1:] != s[:-1], True])  # end of each group of tied scores
    tp = np.cumsum(y)[last]
    predicted = last + 1.0
    precision = tp / predicted
    recall = tp / n_pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def _class_predictions(pred: Any, name: str) -> np.ndarray:
    """Class ids from ``(N,)`` ids or ``(N, C)`` scores (argmax)."""
    a = as_array(pred, name, ndim=(1, 2))
    if a.ndim == 2:
        if not np.isfinite(a).all():
            raise MetricInputError(name, "non-finite score")
        return a.argmax(axis=1)
    if not np.all(a == np.round(a)):
        raise MetricInputError(name, "class predictions must be integers (or pass (N, C) scores)")
    return a.astype(np.int64)


def _targets(target: Any, n: int) -> np.ndarray:
    t = as_array(target, "target", ndim=1)
    if t.shape != (n,):
        raise MetricInputError("target", f"expected ({n},), got {t.shape}")
    if not np.all(t == np.round(t)):
        raise MetricInputError("target", "class targets must be integers")
    return t.astype(np.int64)


def accuracy(pred: Any, target: Any) -> float:
    """Fraction of ``pred`` (ids ``(N,)`` or scores ``(N, C)``) equal to ``target`` ``(N,)``."""
    p = _class_predictions(pred, "pred")
    t = _targets(target, len(p))
    if len(p) == 0:
        raise MetricInputError("target", "empty")
    return float(np.mean(p == t))


def mcc(pred: Any, target: Any) -> float:
    """Multi-class Matthews correlation of ``pred`` (ids or scores) against ``target`` (0.0 when undefined, as
    scikit-learn)."""
    p = _class_predictions(pred, "pred")
    t = _targets(target, len(p))
    classes, inverse = np.unique(np.r_[p, t], return_inverse=True)
    k = len(classes)
    cm = np.zeros((k, k), dtype=np.float64)
    np.add.at(cm, (inverse[len(p) :], inverse[: len(p)]), 1.0)  # rows: true, columns: predicted
    t_sum, p_sum = cm.sum(axis=1), cm.sum(axis=0)
    correct, s = np.trace(cm), cm.sum()
    cov_ytyp = correct * s - np.dot(t_sum, p_sum)
    cov_ypyp = s * s - np.dot(p_sum, p_sum)
    cov_ytyt = s * s - np.dot(t_sum, t_sum)
    if cov_ypyp * cov_ytyt == 0:
        return 0.0
    return float(cov_ytyp / np.sqrt(cov_ytyt * cov_ypyp))
