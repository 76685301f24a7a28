"""Protein-centric Fmax (CAFA; Radivojac et al. 2013, Jiang et al. 2016), the EC / GO metric of ESM-GearNet,
SaProt and ProtCLIP.

For a threshold ``t`` a protein predicts every term with score ``≥ t``. With ``TP_i(t)`` its correct predictions,
``P_i(t)`` the number of its predictions and ``T_i`` its true terms:

    precision(t) = (1 / m(t)) · Σ_{i : P_i(t) > 0} TP_i(t) / P_i(t)      m(t) = #{i : P_i(t) > 0}
    recall(t)    = (1 / n)    · Σ_i TP_i(t) / T_i                         n = number of benchmark proteins
    Fmax         = max_t 2 · precision(t) · recall(t) / (precision(t) + recall(t))   over t with m(t) > 0

— exactly what the CAFA evaluator ``cafaeval`` computes per namespace (its default ``norm="cafa"``), whose
threshold grid is ``np.arange(0.01, 1, 0.01)`` (``th_step 0.01``). ``thresholds=None`` evaluates every distinct
score, which is the supremum over all thresholds.

How this differs from TorchDrug's ``metrics.f1_max`` (``torchdrug/metrics/metric.py``), which ESM-GearNet uses
and SaProt (``utils/metrics.py::count_f1_max``) and ProtCLIP copied — SaProt's maintainers found "a slight bug"
in their copy and re-evaluated EC/GO (issue #23; SaProt-650M GO-BP Fmax 0.356 → 0.486):

1. **Ties.** ``f1_max`` sorts all (protein, term) scores once and evaluates precision/recall after *every single
   entry*, so a group of equal scores is split at arbitrary points of the sort order: it reports F at cut-offs
   that no threshold produces, and the value depends on how ``argsort`` orders ties. Here all entries with an
   equal score enter together (every distinct score is one threshold).
2. **Proteins without a true term.** ``f1_max`` keeps them: they count in the recall denominator with recall 0
   (``target.sum(1) + 1e-10``) and in the precision average (precision 0) once they predict anything, which
   lowers Fmax — for GO branches where many proteins have no term of that branch, by a lot. CAFA's benchmark
   has only proteins with at least one annotation; here rows without a positive label are excluded (counted in
   :attr:`FmaxResult.num_excluded`, with a warning), or ``empty_rows="include"`` reproduces TorchDrug's
   counting, ``"error"`` refuses them.
3. ``f1_max`` adds ``1e-10`` to the F denominator; here F = 0 when precision + recall = 0.

Otherwise the definitions agree (precision over the proteins with a prediction, recall over all proteins): on
scores without ties and labels without empty rows both give the same number.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from prottasks.errors import MetricInputError
from prottasks.metrics._inputs import binary_array, same_shape, scores_array

EmptyRows = Literal["exclude", "include", "error"]

#: CAFA's threshold grid (``cafaeval`` ``th_step = 0.01``: ``np.arange(0.01, 1, 0.01)``).
CAFA_THRESHOLDS: np.ndarray = np.arange(0.01, 1, 0.01)


@dataclass(frozen=True)
class FmaxResult:
    """Fmax and the precision / recall curve it was taken from.

    Attributes:
        fmax: The maximum F over thresholds with coverage > 0 (0.0 if there is none).
        threshold: The threshold reaching it (the highest one, if several do).
        precision, recall, coverage: At that threshold (coverage = m(t) / n).
        thresholds: ``(T,)`` evaluated thresholds, ascending.
        precision_curve, recall_curve, f_curve, coverage_curve: ``(T,)`` values at each threshold.
        num_proteins: ``n``, the proteins evaluated.
        num_excluded: Rows dropped because they have no positive label.
    """

    fmax: float
    threshold: float
    precision: float
    recall: float
    coverage: float
    thresholds: np.ndarray
    precision_curve: np.ndarray
    recall_curve: np.ndarray
    f_curve: np.ndarray
    coverage_curve: np.ndarray
    num_proteins: int
    num_excluded: int


def fmax(scores: Any, labels: Any, thresholds: Any = None) -> float:
    """Protein-centric Fmax of ``scores`` ``(N, C)`` against binary ``labels`` ``(N, C)``.

    ``thresholds=None`` evaluates every distinct score; pass :data:`CAFA_THRESHOLDS` for CAFA's grid. Rows without
    a positive label are excluded (with a warning; see :func:`fmax_curve` for other choices).
    """
    return fmax_curve(scores, labels, thresholds).fmax


def fmax_curve(
    scores: Any, labels: Any, thresholds: Any = None, *, empty_rows: EmptyRows = "exclude"
) -> FmaxResult:
    """The precision / recall / F curve and its maximum (module docstring).

    Args:
        scores: ``(N, C)`` finite scores (probabilities), NumPy or torch.
        labels: ``(N, C)`` 0/1 or bool.
        thresholds: Thresholds ``t`` (a term is predicted when ``score ≥ t``); ``None`` = every distinct score.
        empty_rows: Rows without a positive label: ``"exclude"`` (CAFA), ``"include"`` (TorchDrug's counting) or
            ``"error"``.

    Raises:
        MetricInputError: shapes differ, non-finite scores, non-binary labels, no protein left, bad option.
    """
    s = scores_array(scores, "scores", ndim=2)
    y = binary_array(labels, "labels", ndim=2)
    same_shape(s, y, "scores/labels")
    positives = y.sum(axis=1)
    empty = positives == 0
    num_excluded = 0
    if empty.any():
        if empty_rows == "error":
            raise MetricInputError("labels", f"row {int(np.flatnonzero(empty)[0])} has no positive label")
        if empty_rows == "exclude":
            num_excluded = int(empty.sum())
            warnings.warn(f"fmax: {num_excluded} rows without a positive label excluded", stacklevel=2)
            s, y, positives = s[~empty], y[~empty], positives[~empty]
        elif empty_rows != "include":
            raise MetricInputError(
                "empty_rows", f"must be 'exclude', 'include' or 'error', not {empty_rows!r}"
            )
    n, c = s.shape
    if n == 0 or c == 0:
        raise MetricInputError("labels", "no protein (row) with a positive label to evaluate")

    # Each protein's entries in descending score order; tp[i, r] = true terms among its r + 1 best.
    row_order = np.argsort(-s, axis=1, kind="stable")
    s_sorted = np.take_along_axis(s, row_order, axis=1)  # (n, c)
    hits = np.take_along_axis(y, row_order, axis=1)  # (n, c)
    del row_order
    tp = np.cumsum(hits, axis=1, dtype=np.int64)  # (n, c)
    pos = positives.astype(np.float64)
    if thresholds is None:
        t, sums = _at_every_score(s_sorted, hits, tp, pos)
    else:
        t = np.sort(scores_array(thresholds, "thresholds", ndim=1))
        sums = _at_thresholds(s_sorted, tp, pos, t)
    sum_precision, sum_recall, m = sums
    precision = np.divide(sum_precision, m, out=np.zeros(len(t)), where=m > 0)
    recall = sum_recall / n
    denom = precision + recall
    f = np.divide(2 * precision * recall, denom, out=np.zeros(len(t)), where=denom > 0)
    coverage = m / n
    usable = np.flatnonzero(coverage > 0)
    if usable.size == 0:
        best = len(t) - 1 if len(t) else 0
        return FmaxResult(0.0, float(t[best]) if len(t) else float("nan"), 0.0, 0.0, 0.0, t, precision,
                          recall, f, coverage, n, num_excluded)  # fmt: skip
    best = usable[np.flatnonzero(f[usable] == f[usable].max())[-1]]  # highest threshold reaching the max
    return FmaxResult(
        fmax=float(f[best]),
        threshold=float(t[best]),
        precision=float(precision[best]),
        recall=float(recall[best]),
        coverage=float(coverage[best]),
        thresholds=t,
        precision_curve=precision,
        recall_curve=recall,
        f_curve=f,
        coverage_curve=coverage,
        num_proteins=n,
        num_excluded=num_excluded,
    )


def _at_thresholds(
    s_sorted: np.ndarray, tp: np.ndarray, pos: np.ndarray, t: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Σ precision over covered proteins, Σ recall, and m(t), at each ascending threshold ``t``."""
    n = s_sorted.shape[0]
    count = np.empty((n, len(t)), dtype=np.int64)  # predictions of protein i at threshold t
    for i in range(n):  # rows are sorted descending: the entries >= t are a prefix
        count[i] = np.searchsorted(-s_sorted[i], -t, side="right")
    covered = count > 0
    true_pos = np.where(covered, np.take_along_axis(tp, np.maximum(count - 1, 0), axis=1), 0).astype(
        np.float64
    )
    precision = np.divide(true_pos, count, out=np.zeros(count.shape), where=covered)
    recall = np.divide(true_pos, pos[:, None], out=np.zeros(count.shape), where=pos[:, None] > 0)
    return precision.sum(0), recall.sum(0), covered.sum(0).astype(np.float64)


def _at_every_score(
    s_sorted: np.ndarray, hits: np.ndarray, tp: np.ndarray, pos: np.ndarray
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The same sums at every distinct score (ascending). Each entry carries the change it makes to its protein's
    precision / recall / coverage; summed in global descending order, the sums at the end of each group of equal
    scores are the values at that threshold (a protein's entries >= t are a prefix of its row, so its changes
    telescope to its precision / recall at t)."""
    n, c = s_sorted.shape
    rank = np.arange(1, c + 1, dtype=np.float64)
    precision_now = tp / rank  # (n, c)
    d_precision = precision_now.copy()
    d_precision[:, 1:] -= precision_now[:, :-1]
    del precision_now
    d_recall = np.divide(hits, pos[:, None], out=np.zeros((n, c)), where=pos[:, None] > 0)
    order = np.argsort(-s_sorted.ravel(), kind="stable")
    scores = s_sorted.ravel()[order]
    last = np.flatnonzero(np.r_[scores[1:] != scores[:-1], True])  # end of each group of equal scores
    sum_precision = np.cumsum(d_precision.ravel()[order])[last]
    del d_precision
    sum_recall = np.cumsum(d_recall.ravel()[order])[last]
    del d_recall
    covered = np.cumsum(order % c == 0)[last].astype(np.float64)  # a protein's best entry covers it
    return scores[last][::-1].copy(), (sum_precision[::-1], sum_recall[::-1], covered[::-1])
