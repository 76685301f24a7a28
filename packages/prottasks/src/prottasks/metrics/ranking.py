"""Decoy-ranking metrics of ATOM3D PSR (Townshend et al. 2021; drorlab/atom3d ``atom3d/util/metrics.py`` and
``atom3d/util/results.py``): Kendall's τ-b, and the *per-target* versions of a correlation — the correlation
over the decoys of each target (targets with fewer than 3 decoys left out, as ATOM3D does), then their mean.
``global`` correlations pool every decoy. Everything in float64.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from prottasks.errors import MetricInputError
from prottasks.metrics.regression import _pair, mae, pearson, rmse, spearman

#: ATOM3D leaves out targets with fewer decoys (``results.py``: "correlations are not really meaningful").
MIN_DECOYS = 3


def _discordant(x: np.ndarray, y: np.ndarray) -> int:
    """Pairs ordered one way by ``x`` and the other by ``y`` (ties in either excluded): inversions of ``y`` after
    sorting by ``(x, y)`` (Knight 1966), counted with a Fenwick tree in O(n log n)."""
    order = np.lexsort((y, x))
    ranks = np.unique(y, return_inverse=True)[1][order] + 1  # (N,) dense ranks of y, 1-based, in x order
    size = int(ranks.max())
    tree = np.zeros(size + 1, dtype=np.int64)
    swaps = 0
    for seen, r in enumerate(ranks.tolist()):
        i, not_greater = r, 0  # earlier elements with rank <= r
        while i > 0:
            not_greater += int(tree[i])
            i -= i & -i
        swaps += seen - not_greater
        i = r
        while i <= size:
            tree[i] += 1
            i += i & -i
    return swaps


def _tied_pairs(*arrays: np.ndarray) -> int:
    counts = np.unique(np.stack(arrays, axis=1), axis=0, return_counts=True)[1]
    return int(np.sum(counts * (counts - 1) // 2))


def kendall(pred: Any, target: Any) -> float:
    """Kendall's τ-b (``scipy.stats.kendalltau``'s default): ``(C − D) / √((n₀ − n₁)(n₀ − n₂))`` with ``n₁``, ``n₂``
    the pairs tied in one input; NaN when an input is constant."""
    p, t = _pair(pred, target)
    if len(p) < 2:
        raise MetricInputError("pred/target", "a correlation needs at least 2 values")
    n0 = len(p) * (len(p) - 1) // 2
    n1, n2, n3 = _tied_pairs(p), _tied_pairs(t), _tied_pairs(p, t)
    denom = float(n0 - n1) * float(n0 - n2)
    if denom <= 0:
        return float("nan")
    return float((n0 - n1 - n2 + n3 - 2 * _discordant(p, t)) / np.sqrt(denom))


def per_target_mean(
    metric: Callable[[Any, Any], float], pred: Any, target: Any, groups: Any, min_decoys: int = MIN_DECOYS
) -> float:
    """Mean over targets (``groups``: one target id per decoy) of ``metric`` on that target's decoys; targets with
    fewer than ``min_decoys`` decoys are left out (ATOM3D). NaN if no target is left or a target's metric is NaN
    (``numpy.mean``, as ATOM3D's ``_per_target_mean``)."""
    p, t = _pair(pred, target)
    g = np.asarray(groups)
    if g.shape != p.shape:
        raise MetricInputError("groups", f"expected one target id per decoy {p.shape}, got {g.shape}")
    _, inverse = np.unique(g, return_inverse=True)
    values = []
    for k in range(int(inverse.max()) + 1 if len(g) else 0):
        sel = inverse == k
        if sel.sum() >= min_decoys:
            values.append(metric(p[sel], t[sel]))
    return float(np.mean(values)) if values else float("nan")


def psr_metrics(pred: Any, target: Any, groups: Any) -> dict[str, float]:
    """ATOM3D PSR's metrics of predicted vs true scores (e.g. GDT_TS): global ``spearman`` / ``pearson`` /
    ``kendall``, per-target means ``mean_spearman`` / ``mean_pearson`` / ``mean_kendall``, ``mae``, ``rmse``."""
    p, t = _pair(pred, target)
    ok = len(p) >= 2
    out = {
        "spearman": spearman(p, t) if ok else float("nan"),
        "pearson": pearson(p, t) if ok else float("nan"),
        "kendall": kendall(p, t) if ok else float("nan"),
    }
    for name, metric in (("spearman", spearman), ("pearson", pearson), ("kendall", kendall)):
        out[f"mean_{name}"] = per_target_mean(metric, p, t, groups)
    out.update(mae=mae(p, t), rmse=rmse(p, t))
    return out
