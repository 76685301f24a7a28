"""ATOM3D PSR / MSP metrics against independent references in float64: Kendall's τ-b vs ``scipy.stats.kendalltau``,
per-target means vs ATOM3D's own evaluation (``atom3d.util.metrics``: per-target correlation, then the mean;
targets with < 3 decoys left out as ``atom3d.util.results`` does), MSP AUROC / AUPRC vs scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from prottasks.errors import MetricInputError
from prottasks.metrics import kendall, per_target_mean, psr_metrics, spearman, task_metrics

pytestmark = pytest.mark.numerics


@pytest.mark.parametrize("seed", range(4))
def test_kendall_matches_scipy_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 400))
    target = np.round(rng.normal(size=n), 1)  # ties
    pred = np.round(target + rng.normal(scale=0.7, size=n), int(rng.integers(0, 2)))
    assert kendall(pred, target) == pytest.approx(stats.kendalltau(pred, target).statistic, abs=1e-12)
    x = rng.normal(size=n)
    assert kendall(x, x) == pytest.approx(1.0) and kendall(x, -x) == pytest.approx(-1.0)


def test_kendall_constant_is_nan_and_bad_input() -> None:
    assert math.isnan(kendall([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]))
    with pytest.raises(MetricInputError, match="at least 2"):
        kendall([1.0], [2.0])


def _atom3d_per_target(metric, pred, target, groups):  # atom3d.util.results + metrics, without the files
    per_target = []
    for g in dict.fromkeys(groups):
        sel = groups == g
        if sel.sum() < 3:
            continue
        per_target.append((target[sel], pred[sel]))
    return metric, per_target


@pytest.mark.parametrize("seed", range(3))
def test_psr_metrics_match_atom3d_evaluation(seed: int) -> None:
    met = pytest.importorskip("atom3d.util.metrics")
    rng = np.random.default_rng(seed)
    groups = np.array([f"T{k:04d}" for k in rng.integers(0, 12, size=300)])
    groups[:2] = "T9999"  # a target with 2 decoys: left out
    target = rng.uniform(size=300)
    pred = target + rng.normal(scale=0.3, size=300)
    out = psr_metrics(pred, target, groups)
    for name, ref in (("spearman", met.spearman), ("pearson", met.pearson), ("kendall", met.kendall)):
        assert out[name] == pytest.approx(ref(target, pred), abs=1e-12)
        metric, per_target = _atom3d_per_target(ref, pred, target, groups)
        assert out[f"mean_{name}"] == pytest.approx(met._per_target_mean(per_target, metric), abs=1e-12)
    assert out["mae"] == pytest.approx(met.mae(target, pred), abs=1e-12)
    assert out["rmse"] == pytest.approx(met.rmse(target, pred), abs=1e-12)
    # the mean over targets is not the global correlation
    assert out["mean_spearman"] != pytest.approx(out["spearman"], abs=1e-6)


def test_per_target_mean_rules() -> None:
    pred, target = np.array([1.0, 2.0, 3.0, 1.0, 2.0]), np.array([1.0, 2.0, 3.0, 2.0, 1.0])
    groups = np.array(["a", "a", "a", "b", "b"])
    assert per_target_mean(spearman, pred, target, groups) == 1.0  # b has 2 decoys: left out
    assert math.isnan(per_target_mean(spearman, pred, target, groups, min_decoys=4))
    with pytest.raises(MetricInputError, match="one target id per decoy"):
        per_target_mean(spearman, pred, target, groups[:3])


def test_task_metrics_psr_and_msp() -> None:
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(5)
    y = (rng.uniform(size=80) < 0.4).astype(np.float64)
    logits = rng.normal(size=80) + y
    out = task_metrics("msp", logits, y)
    assert out["auroc"] == pytest.approx(sk.roc_auc_score(y, logits), abs=1e-12)
    assert out["auprc"] == pytest.approx(sk.average_precision_score(y, logits), abs=1e-12)
    assert out["loss"] == pytest.approx(sk.log_loss(y, 1 / (1 + np.exp(-logits))), abs=1e-9)
    assert math.isnan(task_metrics("msp", logits[:3], np.ones(3))["auroc"])  # one class: undefined
    groups = np.repeat(["a", "b", "c", "d"], 20)
    values = rng.uniform(size=80)
    psr = task_metrics("regression", values + rng.normal(size=80), values, groups=groups)
    assert {
        "spearman",
        "kendall",
        "mean_spearman",
        "mean_pearson",
        "mean_kendall",
        "mae",
        "rmse",
        "loss",
    } <= set(psr)
    assert "kendall" not in task_metrics("regression", values, values)
