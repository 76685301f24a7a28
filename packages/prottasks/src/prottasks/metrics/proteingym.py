"""ProteinGym's per-assay zero-shot metrics (Notin et al. 2023, OATML-Markslab/ProteinGym
``proteingym/performance_DMS_benchmarks.py``: ``calc_ndcg``, ``calc_toprecall``, ``spearmanr``,
``roc_auc_score`` on ``DMS_score_bin``).

For one assay of ``n`` variants with measured fitness ``y`` and model scores ``s`` (higher = fitter on both):

* **Spearman** — Spearman's ρ of ``s`` and ``y`` (ties averaged; ``scipy.stats.spearmanr``).
* **NDCG@10%** — ``k = ⌊n · 10 / 100⌋``; gains ``g = (y - min y) / (max y - min y)``; ``r_i`` = 1-based rank of
  variant ``i`` by descending ``s``; ``DCG = Σ_{r_i ≤ k} g_i / log2(r_i + 1)``; ``IDCG`` the same sum with the
  variants ranked by descending ``g``; NDCG = DCG / IDCG (0 when no variant with a positive gain is in the
  model's top k, as ProteinGym's early return). ProteinGym ranks with ``np.argsort`` (ties in arbitrary order);
  here ties keep the table's row order (a stable sort).
* **Top-10% recall** — the share of the variants above the 90th percentile of ``y`` that are also above the 90th
  percentile of ``s`` (strictly above; percentiles with NumPy's default linear interpolation).
* **AUC** — area under the ROC curve of ``s`` against the binary ``DMS_score_bin`` (when the assay has it).

The summary's average row is the plain mean over assays (ProteinGym's DMS-level ``Average`` row; its headline
number further averages per UniProt id and function category, which needs its reference file), NaN skipped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from prottasks.errors import MetricInputError
from prottasks.metrics._inputs import binary_array, scores_array
from prottasks.metrics.classification import auroc
from prottasks.metrics.regression import spearman

__all__ = ["AssayMetrics", "average_metrics", "proteingym_metrics", "proteingym_ndcg", "top_recall"]


def _pair(y_true: Any, y_score: Any) -> tuple[np.ndarray, np.ndarray]:
    y = scores_array(y_true, "y_true", ndim=(1,))
    s = scores_array(y_score, "y_score", ndim=(1,))
    if len(y) != len(s):
        raise MetricInputError("y_true/y_score", f"lengths differ: {len(y)} vs {len(s)}")
    return y.astype(np.float64), s.astype(np.float64)


def proteingym_ndcg(y_true: Any, y_score: Any, top: float = 10.0) -> float:
    """NDCG over the top ``top`` percent of the variants, with min-max scaled fitness as gains (module
    docstring; ProteinGym ``calc_ndcg`` with ``quantile=True``). 0 when ``k`` is 0 or no gain reaches the top k;
    NaN when every fitness is equal (no gain at all)."""
    y, s = _pair(y_true, y_score)
    k = math.floor(len(y) * top / 100)
    span = y.max() - y.min() if len(y) else 0.0
    if span == 0:
        return math.nan
    gains = (y - y.min()) / span  # (n,) in [0, 1]
    discount = 1.0 / np.log2(np.arange(2, k + 2))  # (k,) rank r -> 1 / log2(r + 1)
    dcg = float(np.dot(gains[np.argsort(-s, kind="stable")[:k]], discount))
    idcg = float(np.dot(np.sort(gains)[::-1][:k], discount))
    return dcg / idcg if idcg > 0 else 0.0


def top_recall(y_true: Any, y_score: Any, top: float = 10.0) -> float:
    """Recall of the top ``top`` percent of the fitness among the model's top ``top`` percent (module docstring;
    ProteinGym ``calc_toprecall``); NaN when no variant is above the fitness percentile."""
    y, s = _pair(y_true, y_score)
    true_top = y > np.percentile(y, 100 - top)
    model_top = s > np.percentile(s, 100 - top)
    n_true = int(true_top.sum())
    return float((true_top & model_top).sum() / n_true) if n_true else math.nan


@dataclass(frozen=True)
class AssayMetrics:
    """One assay's row of the summary: ProteinGym's metrics (NaN where undefined) and its number of mutants."""

    spearman: float
    ndcg: float
    top_recall: float
    auc: float
    number_mutants: int

    def as_json(self) -> dict[str, float | int | None]:
        """The fields, with ``None`` for NaN (JSON has no NaN)."""
        return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in asdict(self).items()}


def proteingym_metrics(scores: Any, dms_score: Any, dms_score_bin: Any | None = None) -> AssayMetrics:
    """Spearman, NDCG@10%, top-10% recall and (with ``dms_score_bin``) AUC of ``scores`` against one assay's
    ``DMS_score`` (module docstring). Every variant must have a score and a finite fitness, as ProteinGym
    requires (its models score every mutant).

    Raises:
        MetricInputError: different lengths, a NaN / infinite value, fewer than 2 variants, a non-binary bin.
    """
    y, s = _pair(dms_score, scores)
    if len(y) < 2:
        raise MetricInputError("DMS_score", f"an assay needs at least 2 variants, got {len(y)}")
    auc = math.nan
    if dms_score_bin is not None:
        bins = binary_array(dms_score_bin, "DMS_score_bin", ndim=(1,))
        auc = auroc(s, bins) if 0 < bins.sum() < len(bins) else math.nan  # one class only: undefined
    return AssayMetrics(spearman(s, y), proteingym_ndcg(y, s), top_recall(y, s), auc, len(y))


def average_metrics(rows: Sequence[AssayMetrics]) -> dict[str, float]:
    """The average row: each metric's mean over the assays where it is defined (NaN when none); the mean number
    of mutants (ProteinGym's ``Average`` row averages every column)."""
    out: dict[str, float] = {}
    for name in ("spearman", "ndcg", "top_recall", "auc", "number_mutants"):
        values = np.array([getattr(r, name) for r in rows], dtype=np.float64)
        values = values[~np.isnan(values)]
        out[name] = float(values.mean()) if len(values) else math.nan
    return out
