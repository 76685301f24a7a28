"""Metrics of the seeds' downstream tasks, as NumPy functions of score / label arrays (torch tensors accepted).

Protein-centric Fmax (CAFA-exact, :mod:`prottasks.metrics.fmax`), AUPR micro, AUROC, accuracy, MCC
(:mod:`~prottasks.metrics.classification`), Spearman, Pearson, MAE, RMSE, R² (:mod:`~prottasks.metrics.regression`),
Kendall's τ-b and ATOM3D PSR's per-target correlations (:mod:`~prottasks.metrics.ranking`), contact precision P@L
(:mod:`~prottasks.metrics.contact`), zero-shot mutation-effect Spearman
(:mod:`~prottasks.metrics.zero_shot`) and ProteinGym's per-assay NDCG@10% / top-10% recall
(:mod:`~prottasks.metrics.proteingym`); a fine-tuning task's metrics by kind (:func:`task_metrics`).
"""

from prottasks.metrics.classification import accuracy, auprc_micro, auroc, mcc
from prottasks.metrics.contact import (
    CONTACT_METRICS,
    contact_coords,
    contact_labels,
    contact_map,
    contact_pair_mask,
    contact_precisions,
    mean_precision_at_l,
    precision_at_l,
    precision_at_l_counts,
    precision_key,
    protein_precision_counts,
    reduce_precision_counts,
    sequence_separation_scores,
)
from prottasks.metrics.fmax import CAFA_THRESHOLDS, FmaxResult, fmax, fmax_curve
from prottasks.metrics.proteingym import (
    AssayMetrics,
    average_metrics,
    proteingym_metrics,
    proteingym_ndcg,
    top_recall,
)
from prottasks.metrics.ranking import kendall, per_target_mean, psr_metrics
from prottasks.metrics.regression import mae, pearson, r2, rmse, spearman
from prottasks.metrics.task import GROUPED_METRICS, MINIMISED, TASK_METRICS, task_metrics
from prottasks.metrics.zero_shot import ZeroShotSpearman, zero_shot_spearman

__all__ = [
    "CAFA_THRESHOLDS",
    "CONTACT_METRICS",
    "GROUPED_METRICS",
    "MINIMISED",
    "TASK_METRICS",
    "AssayMetrics",
    "FmaxResult",
    "ZeroShotSpearman",
    "accuracy",
    "auprc_micro",
    "auroc",
    "average_metrics",
    "contact_coords",
    "contact_labels",
    "contact_map",
    "contact_pair_mask",
    "contact_precisions",
    "fmax",
    "fmax_curve",
    "kendall",
    "mae",
    "mcc",
    "mean_precision_at_l",
    "pearson",
    "per_target_mean",
    "precision_at_l",
    "precision_at_l_counts",
    "precision_key",
    "protein_precision_counts",
    "proteingym_metrics",
    "proteingym_ndcg",
    "psr_metrics",
    "r2",
    "reduce_precision_counts",
    "rmse",
    "sequence_separation_scores",
    "spearman",
    "task_metrics",
    "top_recall",
    "zero_shot_spearman",
]
