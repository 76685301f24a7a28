"""The metrics of a fine-tuning task, by task kind, from model outputs (float64 throughout):

* ``multi_label`` — ``fmax`` (CAFA's protein-centric Fmax over every threshold, :func:`~prottasks.metrics.fmax`;
  rows without a positive label are excluded, as in CAFA), ``auprc_micro``, ``loss`` (binary cross-entropy of the
  logits). ESM-GearNet EC / GO select on Fmax (TorchDrug ``f1_max``, which splits tied scores and keeps proteins
  without a label: the seeds' numbers are not reproduced bit for bit on such data).
* ``single_label`` — ``accuracy``, ``mcc``, ``loss`` (cross-entropy of the logits).
* ``regression`` — ``spearman``, ``pearson``, ``mae``, ``rmse``, ``loss`` (mean squared error in target units);
  with ``groups`` (ATOM3D PSR: the target of each decoy) also ``kendall`` and the per-target means
  ``mean_spearman``, ``mean_pearson``, ``mean_kendall`` (:func:`prottasks.metrics.ranking.psr_metrics`).
* ``msp`` — ``auroc``, ``auprc`` (average precision), ``loss`` (binary cross-entropy of the logits): ATOM3D MSP
  (ESM-GearNet selects on AUROC).
* ``contact`` — P@L, P@L/2, P@L/5 by short / medium / long range and ``loss``
  (:data:`~prottasks.metrics.contact.CONTACT_METRICS`); per-residue-pair outputs, so they are computed by
  :func:`prottasks.data.contacts.evaluate_contact_splits`, not by :func:`task_metrics`.

A metric that is undefined on the data (Fmax / AUPR without a positive label, correlations of fewer than 2
proteins) is NaN.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from prottasks.errors import MetricInputError
from prottasks.metrics.contact import CONTACT_METRICS

#: The metrics of each task kind; the first is the default selection metric.
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "multi_label": ("fmax", "auprc_micro", "loss"),
    "single_label": ("accuracy", "mcc", "loss"),
    "regression": ("spearman", "pearson", "mae", "rmse", "loss"),
    "contact": CONTACT_METRICS,
    "msp": ("auroc", "auprc", "loss"),
}
#: Regression metrics logged besides :data:`TASK_METRICS` when decoys are grouped by target (ATOM3D PSR).
GROUPED_METRICS = ("kendall", "mean_spearman", "mean_pearson", "mean_kendall")
#: Metrics where lower is better.
MINIMISED = frozenset({"loss", "mae", "rmse"})


def task_metrics(kind: str, output: Any, targets: Any, groups: Any = None) -> dict[str, float]:
    """The metrics of ``kind`` (module docstring) of model ``output`` against ``targets``.

    Args:
        kind: ``multi_label``, ``single_label`` or ``regression``.
        output: ``(N, C)`` logits (classification) or ``(N,)`` predictions (regression).
        targets: ``(N, C)`` k-hot, ``(N,)`` class ids or ``(N,)`` values (``msp``: 0 / 1).
        groups: ``(N,)`` target ids of regression items (ATOM3D PSR decoys), for the per-target metrics.

    Raises:
        MetricInputError: an unknown kind, or arrays of the wrong shape / values.
    """
    from prottasks import metrics as m

    o = np.asarray(output, dtype=np.float64)
    t = np.asarray(targets)
    if kind == "multi_label":
        y = t.astype(np.float64)
        loss = float(np.mean(np.logaddexp(0.0, o) - y * o))  # BCE with logits, stable
        scores = np.exp(-np.logaddexp(0.0, -o))  # sigmoid
        if y.sum() == 0:
            return {"fmax": float("nan"), "auprc_micro": float("nan"), "loss": loss}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # rows without a positive label are excluded (CAFA)
            fmax = m.fmax(scores, t)
        return {"fmax": fmax, "auprc_micro": m.auprc_micro(scores, t), "loss": loss}
    if kind == "single_label":
        classes = t.astype(np.int64)
        shifted = o - o.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        loss = float(-log_probs[np.arange(len(classes)), classes].mean())
        return {"accuracy": m.accuracy(o, classes), "mcc": m.mcc(o, classes), "loss": loss}
    if kind == "msp":
        y = t.astype(np.float64).reshape(-1)
        o = o.reshape(-1)
        loss = float(np.mean(np.logaddexp(0.0, o) - y * o))
        if y.min() == y.max():  # one class only: undefined
            return {"auroc": float("nan"), "auprc": float("nan"), "loss": loss}
        return {"auroc": m.auroc(o, y), "auprc": m.auprc_micro(o, y), "loss": loss}
    if kind == "regression":
        y = t.astype(np.float64)
        ok = len(y) >= 2
        if groups is not None:
            from prottasks.metrics.ranking import psr_metrics

            return {**psr_metrics(o, y, groups), "loss": float(np.mean((o - y) ** 2))}
        return {
            "spearman": m.spearman(o, y) if ok else float("nan"),
            "pearson": m.pearson(o, y) if ok else float("nan"),
            "mae": m.mae(o, y),
            "rmse": m.rmse(o, y),
            "loss": float(np.mean((o - y) ** 2)),
        }
    if kind == "contact":
        raise MetricInputError(
            "kind",
            "contact maps are scored per residue pair (prottasks.data.contacts.evaluate_contact_splits)",
        )
    raise MetricInputError("kind", f"unknown task kind {kind!r} (expected one of {', '.join(TASK_METRICS)})")
