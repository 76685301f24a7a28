"""Spearman, Pearson (against SciPy, with ties), MAE, RMSE, R² (against their formulas via NumPy / sklearn)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from prottasks.errors import MetricInputError
from prottasks.metrics import mae, pearson, r2, rmse, spearman

pytestmark = pytest.mark.numerics


@pytest.mark.parametrize("seed", range(4))
def test_correlations_match_scipy(seed):
    rng = np.random.default_rng(seed)
    target = np.round(rng.normal(size=200), 1)  # ties
    pred = np.round(target + rng.normal(scale=0.8, size=200), 1)
    assert spearman(pred, target) == pytest.approx(stats.spearmanr(pred, target).statistic, abs=1e-12)
    assert pearson(pred, target) == pytest.approx(stats.pearsonr(pred, target).statistic, abs=1e-12)


def test_errors_match_formulas():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(1)
    target, pred = rng.normal(size=50), rng.normal(size=50)
    assert mae(pred, target) == pytest.approx(sklearn_metrics.mean_absolute_error(target, pred))
    assert rmse(pred, target) == pytest.approx(math.sqrt(sklearn_metrics.mean_squared_error(target, pred)))
    assert r2(pred, target) == pytest.approx(sklearn_metrics.r2_score(target, pred))


def test_constant_input_and_bad_input():
    assert math.isnan(spearman([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]))
    with pytest.raises(MetricInputError, match="shapes differ"):
        mae([1.0, 2.0], [1.0])
    with pytest.raises(MetricInputError, match="non-finite"):
        rmse([np.nan, 2.0], [1.0, 2.0])
    with pytest.raises(MetricInputError, match="at least 2"):
        pearson([1.0], [2.0])
