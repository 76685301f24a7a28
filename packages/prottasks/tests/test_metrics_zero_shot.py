"""Zero-shot Spearman over a scan's scored and labelled rows, against SciPy in float64."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import spearmanr

from prottasks import MetricInputError
from prottasks.metrics import zero_shot_spearman


def test_matches_scipy_on_the_rows_with_both() -> None:
    rng = np.random.default_rng(0)
    n = 500
    labels = np.round(rng.normal(size=n), 1)  # many ties
    scores: list[float | None] = list(np.round(labels + rng.normal(scale=0.7, size=n), 2))
    labels[rng.choice(n, 40, replace=False)] = np.nan  # unmeasured variants
    for i in rng.choice(n, 30, replace=False):
        scores[int(i)] = None  # skipped mutants
    keep = [i for i in range(n) if scores[i] is not None and math.isfinite(labels[i])]
    want = spearmanr(np.array([scores[i] for i in keep], np.float64), labels[keep].astype(np.float64))[0]
    got = zero_shot_spearman(scores, list(labels))
    assert got.n == len(keep) and n - 70 <= got.n < n - 30
    assert abs(got.rho - want) < 1e-12 and got.as_json() == got.rho


def test_undefined_and_bad_input() -> None:
    assert math.isnan(zero_shot_spearman([1.0, None], [0.5, 2.0]).rho)  # one pair
    constant = zero_shot_spearman([1.0, 1.0, 1.0], [0.1, 0.2, 0.3])
    assert constant.n == 3 and math.isnan(constant.rho) and constant.as_json() is None
    with pytest.raises(MetricInputError, match="lengths differ: 2 vs 3"):
        zero_shot_spearman([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(MetricInputError, match="non-finite"):
        zero_shot_spearman([1.0, math.inf, 2.0], [1.0, 2.0, 3.0])
