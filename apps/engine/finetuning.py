"""The fine-tuning app's configuration and components: an encoder (any protstack encoder) under a prottasks task
head, trained on labelled proteins with validation every epoch (the task's metrics), model selection and
ReduceLROnPlateau.

Seeds (seed-systems.md §1.1, §2.2, §4.2, §5.5):

* ESM-GearNet EC / GO — ``MultipleBinaryClassification``: MLP (3 layers) on the protein feature, BCE; metrics
  ``auprc@micro`` and ``f1_max``, selection ``f1_max`` on valid; Adam 1e-4 with the sequence encoder at
  ``lr × 0.1``; ReduceLROnPlateau (factor 0.6, patience 5) stepped with valid ``f1_max`` every epoch; batch 2 per GPU
  on 4 GPUs; 50 epochs; ``TruncateProtein(550)``.
* FusionProt — the same head and schedule; AdamW 2e-5 (0.9, 0.98), weight decay 0.01, ratio 0.08, accumulation 8,
  100 epochs, truncation 1024.
* ESM2 Function Caller — ``<cls>`` head (:class:`~prottasks.heads.FunctionCallerHead`), encoder frozen except its
  last ``k`` blocks, AdamW 5e-4, batch 16 × accumulation 4, clipping 1.0.
* SaProt EC / GO — the same ``<cls>`` head with the whole model trained, AdamW 2e-5 (0.9, 0.98), wd 0.01, Fmax.

Metrics by task: multi-label — ``fmax`` (protein-centric, every threshold; :func:`prottasks.metrics.fmax`),
``auprc_micro``, ``loss`` (BCE); single-label — ``accuracy``, ``mcc``, ``loss`` (CE); regression — ``spearman``,
``pearson``, ``mae``, ``rmse``, ``loss`` (MSE in target units). Each split's metrics are logged as
``<split>_<metric>`` (``valid_fmax``, ``test_fmax``); the seed evaluates the test split at every epoch too. ``fmax``
is CAFA's protein-centric Fmax, not TorchDrug's ``f1_max`` (which splits tied scores and keeps proteins without a
label; SaProt issue #23): the seeds' own numbers are not reproduced bit for bit on such data (prottasks README).

Exports (``model.safetensors`` + ``config.json``; the best model in ``best/``) carry, under ``task`` (:func:`export_task`),
everything ``apps/predict.py`` needs: the encoder and head configs, the labels in column order, their kind, GO
namespace, names and ontology, and the inference transform.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Annotated, Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field

from engine.builders import EncoderConfig, build_encoder, check_sequence_window, sequence_config
from engine.config import DeepSpeedConfig, OptimizerConfig, SchedulerConfig, Section, TrainConfig
from engine.errors import ConfigError
from engine.labelled import FinetuneDataConfig, LabelledSplit, eval_batches
from engine.labels import LabelTable
from engine.plateau import PlateauConfig
from prottasks import TaskModel
from prottasks.heads import (
    FunctionCallerHeadConfig,
    MultiLabelHeadConfig,
    RegressionHeadConfig,
    SingleLabelHeadConfig,
)


# ---------------------------------------------------------------------------------------------- heads
class MultiLabelHeadSection(MultiLabelHeadConfig):
    """prottasks' multi-label head (ESM-GearNet EC / GO); ``num_labels: auto`` = the data's label count."""

    num_labels: int | Literal["auto"] = "auto"  # type: ignore[assignment]


class SingleLabelHeadSection(SingleLabelHeadConfig):
    """prottasks' single-label head; ``num_classes: auto`` = the data's class count."""

    num_classes: int | Literal["auto"] = "auto"  # type: ignore[assignment]


class RegressionHeadSection(RegressionHeadConfig):
    """prottasks' regression head (target normalisation fitted on the training split)."""


class FunctionCallerHeadSection(FunctionCallerHeadConfig):
    """The ESM2 Function Caller's ``<cls>`` head (also SaProt's annotation head)."""

    num_labels: int | Literal["auto"] = "auto"  # type: ignore[assignment]


HeadSection = Annotated[
    MultiLabelHeadSection | SingleLabelHeadSection | RegressionHeadSection | FunctionCallerHeadSection,
    Field(discriminator="type"),
]


def task_kind(head: Any) -> str:
    """``multi_label``, ``single_label`` or ``regression`` for a head section."""
    if isinstance(head, FunctionCallerHeadSection):
        return head.problem
    return head.type


def head_config(head: Any, table: LabelTable) -> Any:
    """The prottasks head config with the data's label count filled in (a mismatch is a ConfigError)."""
    kind = task_kind(head)
    if kind != table.kind:
        raise ConfigError(
            f"head.type: a {head.type} head{'' if head.type != 'function_caller' else f' ({head.problem})'} needs "
            f"{kind} labels, but data.labels gives {table.kind} targets"
        )
    data = head.model_dump()
    count_key = {"multi_label": "num_labels", "function_caller": "num_labels", "single_label": "num_classes"}
    key = count_key.get(head.type)
    if key is not None:
        n = len(table.labels)
        if data[key] not in ("auto", n):
            raise ConfigError(f"head.{key}: {data[key]}, but data.labels ({table.source}) has {n} labels")
        data[key] = n
    cls = {
        "multi_label": MultiLabelHeadConfig,
        "single_label": SingleLabelHeadConfig,
        "regression": RegressionHeadConfig,
        "function_caller": FunctionCallerHeadConfig,
    }[head.type]
    return cls.model_validate(data)


# --------------------------------------------------------------------------------------------- config
class EvaluationConfig(Section):
    """Validation during training (seed: every epoch, selection on valid ``f1_max``)."""

    #: The metric that selects the best model and drives the plateau: ``auto`` = ``valid_fmax`` (multi-label),
    #: ``valid_accuracy`` (single-label), ``valid_spearman`` (regression); or any logged ``<split>_<metric>``.
    metric: str = "auto"
    every_epochs: float = Field(1.0, gt=0)
    every_steps: int | None = Field(None, ge=1)
    #: Also evaluate the test split at every validation (the seed does).
    test: bool = True
    #: Export the best model to ``<run>/best/``.
    export_best: bool = True


class FinetuneConfig(Section):
    """``apps/finetune.py``: which encoder, which head, which labelled data, how to train."""

    name: str = Field("finetune", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    seed: int = Field(1024, ge=0)  # ESM-GearNet --seed default
    output_dir: str | None = None
    output_root: str = "runs"
    #: Safetensors weights to start from (e.g. a pretraining export); the tensors of ``init_target`` are taken.
    init_from: str | None = None
    #: Module of the task model that ``init_from`` initialises: ``encoder``, ``encoder.sequence``, ``encoder.structure``.
    init_target: str = "encoder"
    encoder: EncoderConfig
    head: HeadSection = Field(default_factory=MultiLabelHeadSection)
    data: FinetuneDataConfig
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    #: ReduceLROnPlateau on the selection metric (``null``: off).
    plateau: PlateauConfig | None = Field(default_factory=PlateauConfig)
    optimizer: OptimizerConfig = Field(default_factory=lambda: OptimizerConfig(type="adam", lr=1e-4))
    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig)
    deepspeed: DeepSpeedConfig = Field(default_factory=DeepSpeedConfig)
    train: TrainConfig = Field(default_factory=lambda: TrainConfig(epochs=50))


METRICS = {
    "multi_label": ("fmax", "auprc_micro", "loss"),
    "single_label": ("accuracy", "mcc", "loss"),
    "regression": ("spearman", "pearson", "mae", "rmse", "loss"),
}
MINIMISED = {"loss", "mae", "rmse"}


def selection(config: FinetuneConfig) -> tuple[str, Literal["max", "min"]]:
    """``(monitored key, mode)`` of the evaluation config."""
    kind = task_kind(config.head)
    metric = config.evaluation.metric
    if metric == "auto":
        metric = "valid_" + METRICS[kind][0]
    split, _, name = metric.partition("_")
    splits = ("valid", "test") if config.evaluation.test else ("valid",)
    if split not in splits or name not in METRICS[kind]:
        known = ", ".join(f"{s}_{m}" for s in splits for m in METRICS[kind])
        raise ConfigError(
            f"evaluation.metric: {metric!r} is not logged for a {kind} task (choose from {known})"
        )
    return metric, "min" if name in MINIMISED else "max"


# ---------------------------------------------------------------------------------------------- model
def build_model(
    encoder_config: Any,
    head: Any,
    *,
    labels: list[str] | None = None,
    max_length: int | None = None,
    load_checkpoint: bool = True,
) -> TaskModel:
    """A :class:`prottasks.TaskModel`: the prottasks head ``head`` (a resolved prottasks head config) on a freshly
    built encoder (``forward(batch, targets=None) -> HeadOutput``; saves and loads as one protstack model).

    The Function Caller head on a plain ESM-2 / SaProt encoder reads the ``<cls>`` embedding (the encoder is
    built with ``cls_output: true``); on any other encoder give it ``pooling: protein``
    (:func:`build_task_model` does, unless the config sets ``pooling``).
    """
    from prottasks import TaskModelConfig

    cls_output = head.type == "function_caller" and sequence_config(encoder_config) is encoder_config
    head_data = head.model_dump(mode="json")
    encoder = build_encoder(encoder_config, load_checkpoint=load_checkpoint, cls_output=cls_output)
    config = TaskModelConfig.model_validate(
        {
            "encoder": encoder.config_dict(),
            "head": head_data,
            "labels": labels,
            "kind": task_kind_of(head),
            "max_length": max_length,
        }
    )
    return TaskModel(config, encoder)


def task_kind_of(head: Any) -> str:
    """The task kind of a prottasks head config (its type, or the Function Caller head's ``problem``)."""
    return head.problem if head.type == "function_caller" else head.type


def check_window(config: FinetuneConfig) -> None:
    """A ``data.transform`` truncation past the sequence encoder's window, with ``on_long: error``, is a
    :class:`ConfigError` up front (:func:`engine.builders.check_window`; issue 11)."""
    check_sequence_window(config.encoder, config.data.transform)


def build_task_model(config: FinetuneConfig, table: LabelTable, *, load_checkpoint: bool = True) -> TaskModel:
    """The task model of a fine-tuning config, with the labels of ``table`` and the inference truncation
    (:func:`build_model`); a truncation past the sequence encoder's window is rejected first
    (:func:`check_window`)."""
    from engine.labelled import inference_transform

    check_window(config)
    transform = inference_transform(config.data.transform)
    head = head_config(config.head, table)
    plain_sequence = sequence_config(config.encoder) is config.encoder
    if (
        head.type == "function_caller"
        and not plain_sequence
        and "pooling" not in config.head.model_fields_set
    ):
        head = head.model_copy(update={"pooling": "protein"})  # no <cls> on structure / fused encoders
    return build_model(
        config.encoder,
        head,
        labels=list(table.labels) if table.kind != "regression" else None,
        max_length=getattr(transform, "max_length", None),
        load_checkpoint=load_checkpoint,
    )


#: ``config.json`` key of what ``apps/predict.py`` needs (:func:`export_task`).
TASK_KEY = "task"


def export_task(config: FinetuneConfig, table: LabelTable) -> dict[str, Any]:
    """What an export's ``config.json`` records for prediction besides the task model (whose config holds the
    encoder, the head, the labels in column order and the truncation), under :data:`TASK_KEY`: the task kind, the
    labels, their kind (``go`` / ``ec`` / ``generic``), GO namespace, names and ontology file, and the inference
    transform (the same section :func:`prottasks.convert_finetune_export` writes for an older export).
    """
    from engine.builders import needs_structures, resolve_path, vocabulary
    from engine.labelled import inference_transform

    obo = getattr(config.data.labels, "obo", None)
    transform = inference_transform(config.data.transform)
    return {
        "kind": table.kind,
        "labels": list(table.labels),
        "label_kind": table.label_kind,
        "namespace": table.namespace,
        "label_names": {k: table.label_names[k] for k in table.labels if k in table.label_names},
        "obo": str(resolve_path(obo, "data.labels.obo").resolve()) if obo else None,
        "transform": transform.model_dump(mode="json") if transform is not None else None,
        "needs_structures": needs_structures(config.encoder),
        "vocabulary": vocabulary(config.encoder),
    }


def fit_head(model: TaskModel, train_targets: np.ndarray) -> None:
    """Fit the regression head's target normalisation on the training split (no-op for other heads)."""
    fit = getattr(model, "fit", None)
    if callable(fit):
        fit(torch.from_numpy(np.asarray(train_targets, dtype=np.float64)))


# ----------------------------------------------------------------------------------------- evaluation
def task_metrics(kind: str, output: np.ndarray, targets: np.ndarray) -> dict[str, float]:
    """The task's metrics of model ``output`` (logits, or predictions for regression) against ``targets``."""
    from prottasks import metrics as m

    out: dict[str, float] = {}
    o = torch.from_numpy(np.asarray(output, dtype=np.float64))
    t = torch.from_numpy(np.asarray(targets))
    if kind == "multi_label":
        scores = torch.sigmoid(o).numpy()
        out["loss"] = float(F.binary_cross_entropy_with_logits(o, t.double()))
        with warnings.catch_warnings():
            warnings.simplefilter(
                "ignore"
            )  # rows without a positive label are excluded (CAFA), counted below
            out["fmax"] = m.fmax(scores, targets) if targets.sum() > 0 else float("nan")
        out["auprc_micro"] = m.auprc_micro(scores, targets) if targets.sum() > 0 else float("nan")
    elif kind == "single_label":
        out["loss"] = float(F.cross_entropy(o, t.long()))
        out["accuracy"] = m.accuracy(output, targets)
        out["mcc"] = m.mcc(output, targets)
    else:
        out["loss"] = float(np.mean((np.asarray(output, np.float64) - targets) ** 2))
        ok = len(targets) >= 2
        out["spearman"] = m.spearman(output, targets) if ok else float("nan")
        out["pearson"] = m.pearson(output, targets) if ok else float("nan")
        out["mae"] = m.mae(output, targets)
        out["rmse"] = m.rmse(output, targets)
    return out


def split_outputs(
    forward: Callable[..., Any], split: LabelledSplit, device: torch.device, rank: int, world_size: int
) -> np.ndarray:
    """The model's outputs over every protein of ``split``, in split order (all ranks take part and get them)."""
    parts: list[tuple[np.ndarray, np.ndarray]] = []
    for indices, micro in eval_batches(split, rank, world_size):
        output = forward(micro.batch.to(device)).output  # (B, C) logits or (B,) predictions
        if len(indices):
            parts.append((indices, output.detach().float().cpu().numpy()))
    if world_size > 1:
        gathered: list[Any] = [None] * world_size
        torch.distributed.all_gather_object(gathered, parts)
        parts = [p for rank_parts in gathered for p in rank_parts]
    first = parts[0][1]
    result = np.zeros((len(split), *first.shape[1:]), dtype=np.float64)
    for indices, values in parts:
        result[indices] = values
    return result


def make_evaluate(
    splits: dict[str, LabelledSplit], kind: str, device: torch.device, rank: int, world_size: int
) -> Callable[[Callable[..., Any]], dict[str, float]]:
    """The ``evaluate(forward)`` of :class:`~engine.validation.Validation` over ``splits`` (``valid``, ``test``)."""

    def evaluate(forward: Callable[..., Any]) -> dict[str, float]:
        metrics: dict[str, float] = {}
        for name, split in splits.items():
            output = split_outputs(forward, split, device, rank, world_size)
            metrics.update({f"{name}_{k}": v for k, v in task_metrics(kind, output, split.targets).items()})
        return metrics

    return evaluate
