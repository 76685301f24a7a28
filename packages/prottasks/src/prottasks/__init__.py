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
"""

from prottasks import data, go, heads, metrics, objectives, protocols
from prottasks.errors import LabelError, MetricInputError, OntologyError, ProttasksError, TaskInputError
from prottasks.legacy import convert_finetune_export
from prottasks.task_model import TaskModel, TaskModelConfig

__version__ = "0.1.0"

__all__ = [
    "LabelError",
    "MetricInputError",
    "OntologyError",
    "ProttasksError",
    "TaskInputError",
    "TaskModel",
    "TaskModelConfig",
    "convert_finetune_export",
    "data",
    "go",
    "heads",
    "metrics",
    "objectives",
    "protocols",
]
