"""AUPR (micro), AUROC, accuracy and MCC against scikit-learn, with tied scores."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from prottasks.errors import MetricInputError
from prottasks.metrics import accuracy, auprc_micro, auroc, mcc

pytestmark = pytest.mark.numerics

sklearn_metrics = pytest.importorskip(
    "sklearn.metrics", reason="scikit-learn (dev dependency) is the reference"
)


@pytest.mark.parametrize("seed", range(4))
def test_auprc_micro_and_auroc_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    scores = np.round(rng.random((40, 12)), 1)  # ties
    labels = rng.random((40, 12)) < 0.2
    ap = sklearn_metrics.average_precision_score(labels, scores, average="micro")
    assert auprc_micro(scores, labels) == pytest.approx(ap, abs=1e-12)
    assert auroc(scores, labels) == pytest.approx(
        sklearn_metrics.roc_auc_score(labels.ravel(), scores.ravel())
    )
    keep = labels.any(0) & (~labels).any(0)
    macro = sklearn_metrics.roc_auc_score(labels[:, keep], scores[:, keep], average="macro")
    assert auroc(scores[:, keep], labels[:, keep], average="macro") == pytest.approx(macro)


def test_binary_auroc_from_torch():
    g = torch.Generator().manual_seed(0)
    s, y = torch.rand(200, generator=g), torch.rand(200, generator=g) < 0.4
    assert auroc(s, y) == pytest.approx(sklearn_metrics.roc_auc_score(y.numpy(), s.numpy()))


@pytest.mark.parametrize("seed", range(4))
def test_accuracy_and_mcc_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(300, 5))
    target = rng.integers(0, 5, 300)
    target[:150] = logits[:150].argmax(1)  # better than chance
    pred = logits.argmax(1)
    assert accuracy(logits, target) == pytest.approx(sklearn_metrics.accuracy_score(target, pred))
    assert mcc(logits, target) == pytest.approx(sklearn_metrics.matthews_corrcoef(target, pred))
    assert mcc(pred, target) == pytest.approx(sklearn_metrics.matthews_corrcoef(target, pred))
    binary = (pred > 2).astype(int), (target > 2).astype(int)
    assert mcc(*binary) == pytest.approx(sklearn_metrics.matthews_corrcoef(binary[1], binary[0]))
    assert mcc(np.zeros(5), np.zeros(5)) == sklearn_metrics.matthews_corrcoef(np.zeros(5), np.zeros(5)) == 0.0


def test_bad_input():
    with pytest.raises(MetricInputError, match="both classes"):
        auroc([0.1, 0.2], [1, 1])
    with pytest.raises(MetricInputError, match="at least one positive"):
        auprc_micro([0.1, 0.2], [0, 0])
    with pytest.raises(MetricInputError, match="0/1"):
        auroc([0.1, 0.2], [1, 3])
    with pytest.raises(MetricInputError, match="non-finite"):
        auprc_micro([np.inf, 0.2], [1, 0])
    with pytest.raises(MetricInputError, match="expected"):
        accuracy(np.zeros((3, 2)), [0, 1])
