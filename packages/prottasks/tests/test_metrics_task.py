"""prottasks.metrics.task: each task kind's metrics against independent float64 references — scikit-learn
(log loss, average precision, accuracy, MCC), SciPy (Spearman, Pearson) and a by-definition protein-centric
Fmax over every threshold — on real nrPDB-EC label rows with seeded logits."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import scipy.stats
from sklearn.metrics import accuracy_score, average_precision_score, log_loss, matthews_corrcoef

from protdata.testing import shared_data
from prottasks.errors import MetricInputError
from prottasks.metrics import TASK_METRICS, task_metrics


@pytest.fixture(scope="module")
def ec_rows() -> np.ndarray:
    """k-hot rows of 200 nrPDB-EC chains over the 40 most frequent of their ECs (some rows all-zero)."""
    with shared_data("ec_go_benchmark", "deepfri", "nrPDB-EC_2020.04_annot.tsv").open() as f:
        rows = list(csv.reader(f, delimiter="\t"))[3:203]
    counts: dict[str, int] = {}
    for r in rows:
        for ec in r[1].split(","):
            counts[ec] = counts.get(ec, 0) + 1
    columns = sorted(counts, key=lambda ec: -counts[ec])[:40]
    y = np.array([[ec in r[1].split(",") for ec in columns] for r in rows], dtype=np.float64)
    assert 0 < (y.sum(1) == 0).sum() < len(y)
    return y


def _fmax_by_definition(scores: np.ndarray, y: np.ndarray) -> float:
    """CAFA over every threshold: proteins without a true label left out; at each distinct score τ, precision
    averaged over proteins with a prediction ≥ τ, recall over all proteins; Fmax = max of their harmonic mean."""
    best = 0.0
    annotated = y.sum(1) > 0
    scores, y = scores[annotated], y[annotated]
    for tau in np.unique(scores):
        pred = scores >= tau
        has = pred.sum(1) > 0
        if not has.any():
            continue
        tp = (pred & (y > 0)).sum(1)
        precision = (tp[has] / pred[has].sum(1)).mean()
        recall = (tp / y.sum(1)).mean()
        if precision + recall > 0:
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def test_multi_label(ec_rows: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    logits = 2.5 * (ec_rows - 0.5) + rng.normal(0, 1.5, ec_rows.shape)
    got = task_metrics("multi_label", logits, ec_rows.astype(np.float32))
    assert set(got) == set(TASK_METRICS["multi_label"])
    p = 1 / (1 + np.exp(-logits))
    assert got["loss"] == pytest.approx(log_loss(ec_rows.ravel(), p.ravel()), rel=1e-12)
    assert got["auprc_micro"] == pytest.approx(average_precision_score(ec_rows.ravel(), p.ravel()), rel=1e-12)
    assert got["fmax"] == pytest.approx(_fmax_by_definition(p, ec_rows), rel=1e-12)
    empty = task_metrics("multi_label", logits, np.zeros_like(ec_rows))
    assert np.isnan(empty["fmax"]) and np.isnan(empty["auprc_micro"]) and np.isfinite(empty["loss"])


def test_single_label_and_regression() -> None:
    rng = np.random.default_rng(1)
    classes = rng.integers(0, 4, 300)
    logits = rng.normal(0, 1, (300, 4)) + 1.2 * np.eye(4)[classes]
    got = task_metrics("single_label", logits, classes)
    softmax = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    assert got["loss"] == pytest.approx(log_loss(classes, softmax, labels=range(4)), rel=1e-12)
    assert got["accuracy"] == pytest.approx(accuracy_score(classes, logits.argmax(1)), rel=1e-12)
    assert got["mcc"] == pytest.approx(matthews_corrcoef(classes, logits.argmax(1)), rel=1e-12)

    gb1 = shared_data("dms", "mavenn_nisthal_gb1_data.csv")
    with gb1.open() as f:
        y = np.array([float(r["y"]) for r in csv.DictReader(f) if r["y"].strip()])
    pred = y + rng.normal(0, 0.5, len(y))
    got = task_metrics("regression", pred.astype(np.float32), y.astype(np.float32))
    pred32, y32 = pred.astype(np.float32).astype(np.float64), y.astype(np.float32).astype(np.float64)
    assert got["spearman"] == pytest.approx(scipy.stats.spearmanr(pred32, y32)[0], rel=1e-12)
    assert got["pearson"] == pytest.approx(scipy.stats.pearsonr(pred32, y32)[0], rel=1e-12)
    assert got["mae"] == pytest.approx(np.abs(pred32 - y32).mean(), rel=1e-12)
    assert got["rmse"] == pytest.approx(np.sqrt(((pred32 - y32) ** 2).mean()), rel=1e-12)
    assert got["loss"] == pytest.approx(((pred32 - y32) ** 2).mean(), rel=1e-12)
    one = task_metrics("regression", pred[:1], y[:1])
    assert np.isnan(one["spearman"]) and np.isnan(one["pearson"])
    with pytest.raises(MetricInputError, match="unknown task kind 'pair'"):
        task_metrics("pair", pred, y)
