"""prottasks: pretraining objectives, task heads, CAFA-exact metrics and the GO ontology.

Tasks sit on any encoder through the protdata contract (``forward(batch) -> EncoderOutput``); what some
objectives need beyond it is stated as protocols in :mod:`prottasks.protocols`. Subpackages:

* :mod:`prottasks.objectives` — MLM (ESM-2 / SaProt / ProtCLIP), residue type, distance / angle / dihedral
  prediction, multiview contrast, SiamDiff.
* :mod:`prottasks.heads` — multi-label, single-label, regression, pair (PPI), MSP, ESM2 Function Caller.
* :mod:`prottasks.metrics` — Fmax (CAFA), AUPR, AUROC, accuracy, MCC, Spearman, Pearson, MAE, RMSE, P@L.
* :mod:`prottasks.go` — OBO reading, id resolution, true-path propagation, ranking, CAFA files.
* :mod:`prottasks.data` — label vocabularies, nrPDB-EC and nrPDB-GO benchmark files.
* :class:`TaskModel` — encoder + head as one saved model (``save_pretrained`` / ``load_pretrained``, type
  ``"task"``) with ``predict``; :func:`convert_finetune_export` converts an older ``apps/finetune.py`` export.
* :mod:`prottasks.lora` — LoRA fine-tuning with PEFT: :func:`apply_lora`, :func:`merge_lora` (extra ``lora``).
"""

from protdata._lazy import lazy_exports

__version__ = "0.1.0"

__all__ = [
    "InformationContent",
    "LabelError",
    "LoraConfig",
    "MetricInputError",
    "OntologyError",
    "OptimizerConfig",
    "OptimizerConfigError",
    "ProttasksError",
    "SchedulerConfig",
    "TableError",
    "TaskInputError",
    "TaskModel",
    "TaskModelConfig",
    "apply_lora",
    "best_match_average",
    "build_optimizer",
    "build_scheduler",
    "check_schedule",
    "convert_finetune_export",
    "data",
    "go",
    "heads",
    "lr_multiplier",
    "merge_lora",
    "metrics",
    "objectives",
    "parameter_groups",
    "predict_scores",
    "protocols",
    "semantic_similarity_spearman",
]

# public name -> defining module, imported on first use (protdata._lazy)
_EXPORTS = {
    "OptimizerConfig": "prottasks.optim",
    "OptimizerConfigError": "prottasks.optim",
    "SchedulerConfig": "prottasks.optim",
    "build_optimizer": "prottasks.optim",
    "build_scheduler": "prottasks.optim",
    "check_schedule": "prottasks.optim",
    "lr_multiplier": "prottasks.optim",
    "parameter_groups": "prottasks.optim",
    "data": "prottasks.data",
    "go": "prottasks.go",
    "heads": "prottasks.heads",
    "metrics": "prottasks.metrics",
    "objectives": "prottasks.objectives",
    "protocols": "prottasks.protocols",
    "LabelError": "prottasks.errors",
    "MetricInputError": "prottasks.errors",
    "OntologyError": "prottasks.errors",
    "ProttasksError": "prottasks.errors",
    "TableError": "prottasks.errors",
    "TaskInputError": "prottasks.errors",
    "convert_finetune_export": "prottasks.legacy",
    "TaskModel": "prottasks.task_model",
    "TaskModelConfig": "prottasks.task_model",
    "predict_scores": "prottasks.predictions",
    "InformationContent": "prottasks.go_similarity",
    "best_match_average": "prottasks.go_similarity",
    "semantic_similarity_spearman": "prottasks.go_similarity",
    "LoraConfig": "prottasks.lora",
    "apply_lora": "prottasks.lora",
    "merge_lora": "prottasks.lora",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
