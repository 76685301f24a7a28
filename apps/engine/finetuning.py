"""The fine-tuning app's config and task model: any protstack encoder under a prottasks head, trained on labelled
proteins (:mod:`prottasks.data`) with validation and ReduceLROnPlateau (:mod:`engine.validation`), metrics
:func:`prottasks.metrics.task_metrics` logged as ``<split>_<metric>`` (contact prediction: P@L by range,
:func:`prottasks.data.contacts.evaluate_contact_splits`). The seeds' values (ESM-GearNet, FusionProt,
ESM2 Function Caller, SaProt; DeepGraphLearning/ESM-GearNet, kalifadan/FusionProt, andrewdalpino/esm2-function-classifier, westlake-repl/SaProt) are in the presets."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, create_model

from engine.config import DeepSpeedConfig, Section, TrainConfig
from engine.errors import ConfigError
from protenc_seq.window import check_sequence_window
from protfusion.encoders import EncoderConfig, sequence_config
from prottasks.data import LabelledDataConfig, LabelTable
from prottasks.heads import (
    AttentionContactHeadConfig,
    ContactHeadConfig,
    FunctionCallerHeadConfig,
    MSPHeadConfig,
    MultiLabelHeadConfig,
    RegressionHeadConfig,
    SingleLabelHeadConfig,
)
from prottasks.heads.configs import head_kind
from prottasks.lora import LoraConfig
from prottasks.metrics.task import MINIMISED, TASK_METRICS
from prottasks.optim import OptimizerConfig, PlateauConfig, SchedulerConfig


def _auto_count(config: type[Any], key: str) -> Any:
    """prottasks' head ``config`` whose label count ``key`` may be ``auto`` (the data's count; prottasks.TaskModel
    resolves it from the labels)."""
    return create_model(config.__name__, __base__=config, **{key: (int | Literal["auto"], "auto")})


MultiLabelHeadSection = _auto_count(MultiLabelHeadConfig, "num_labels")  # ESM-GearNet EC / GO
SingleLabelHeadSection = _auto_count(SingleLabelHeadConfig, "num_classes")
FunctionCallerHeadSection = _auto_count(
    FunctionCallerHeadConfig, "num_labels"
)  # also SaProt's annotation head
HeadSection = Annotated[
    MultiLabelHeadSection
    | SingleLabelHeadSection
    | RegressionHeadConfig
    | FunctionCallerHeadSection
    | ContactHeadConfig  # contact maps of data.structures (data.labels: {type: contacts})
    | AttentionContactHeadConfig  # ESM's logistic regression on attention maps (esm2 / saprot encoders)
    | MSPHeadConfig,  # ATOM3D MSP pairs (data.labels: {type: atom3d, task: msp})
    Field(discriminator="type"),
]


class EvaluationConfig(Section):
    """Validation during training (seed: every epoch, selection on valid ``f1_max``)."""

    #: Selects the best model and drives the plateau: ``auto`` = ``valid_`` + the task's first metric
    #: (:data:`prottasks.metrics.TASK_METRICS`: fmax, accuracy, spearman) or any logged ``<split>_<metric>``.
    metric: str = "auto"
    every_epochs: float = Field(1.0, gt=0)
    every_steps: int | None = Field(None, ge=1)
    test: bool = True  # also evaluate the test split at every validation (the seed does)
    export_best: bool = True  # export the best model to <run>/best/
    #: Early stopping: stop after this many evaluations without ``metric`` improving by more than ``min_delta``
    #: (transformers' EarlyStoppingCallback); null: train to the end (the seeds do).
    patience: int | None = Field(None, ge=1)
    min_delta: float = Field(0.0, ge=0)


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
    #: LoRA adapters on the sequence encoder (:mod:`prottasks.lora`: r, alpha, dropout, target_modules,
    #: layers): only adapters + head train; exports hold them + the base checkpoint's path and sha256.
    #: null: full fine-tuning.
    lora: LoraConfig | None = None
    data: LabelledDataConfig
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    plateau: PlateauConfig | None = Field(default_factory=PlateauConfig)  # null: off
    optimizer: OptimizerConfig = Field(default_factory=lambda: OptimizerConfig(type="adam", lr=1e-4))
    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig)
    deepspeed: DeepSpeedConfig = Field(default_factory=DeepSpeedConfig)
    train: TrainConfig = Field(default_factory=lambda: TrainConfig(epochs=50))


def selection(config: FinetuneConfig) -> tuple[str, Literal["max", "min"]]:
    """``(monitored key, mode)`` of the evaluation config."""
    kind = head_kind(config.head)
    metric = config.evaluation.metric
    if metric == "auto":
        metric = "valid_" + TASK_METRICS[kind][0]
    split, _, name = metric.partition("_")
    splits = ("valid", "test") if config.evaluation.test else ("valid",)
    if split not in splits or name not in TASK_METRICS[kind]:
        known = ", ".join(f"{s}_{m}" for s in splits for m in TASK_METRICS[kind])
        raise ConfigError(
            f"evaluation.metric: {metric!r} is not logged for a {kind} task (choose from {known})"
        )
    return metric, "min" if name in MINIMISED else "max"


def check_window(config: FinetuneConfig) -> None:
    """A ``data.transform`` truncation past the sequence encoder's window, with ``on_long: error``, is a
    :class:`ConfigError` up front (:func:`protenc_seq.check_sequence_window`; issue 11), and so is ``lora`` with
    ``init_from`` (the adapters' base must be the checkpoint the export references)."""
    if config.lora is not None and config.init_from:
        raise ConfigError("lora: not supported with init_from (the base must be encoder.checkpoint)")
    check_sequence_window(config.encoder, config.data.transform)


def build_task_model(config: FinetuneConfig, table: LabelTable, *, load_checkpoint: bool = True) -> Any:
    """The task model of a fine-tuning config with the labels of ``table`` and the inference truncation; a head
    that does not fit the labels (kind, count) or a truncation past the encoder's window is a ConfigError."""
    from engine.builders import build_encoder
    from protdata.transforms import inference_transform
    from prottasks.task_model import COUNT_KEYS, TaskModel

    check_window(config)
    head = config.head
    if head_kind(head) != table.kind:
        problem = f" ({head.problem})" if head.type == "function_caller" else ""
        raise ConfigError(
            f"head.type: a {head.type} head{problem} needs {head_kind(head)} labels, but data.labels gives "
            f"{table.kind} targets"
        )
    key = COUNT_KEYS.get(head.type)
    if key is not None and getattr(head, key) not in ("auto", len(table.labels)):
        raise ConfigError(
            f"head.{key}: {getattr(head, key)}, but data.labels ({table.source}) has {len(table.labels)} labels"
        )
    plain_sequence = sequence_config(config.encoder) is config.encoder
    if head.type == "function_caller" and not plain_sequence and "pooling" not in head.model_fields_set:
        head = head.model_copy(update={"pooling": "protein"})  # no <cls> on structure / fused encoders
    # a Function Caller head on a plain ESM-2 / SaProt encoder reads its <cls> embedding
    cls_output = head.type == "function_caller" and plain_sequence
    encoder = build_encoder(config.encoder, load_checkpoint=load_checkpoint, cls_output=cls_output)
    truncate = inference_transform(config.data.transform)
    labels = list(table.labels) if table.kind not in ("regression", "contact", "msp") else None
    data = {"encoder": encoder.config_dict(), "head": head.model_dump(mode="json"), "labels": labels}
    model = TaskModel({**data, "max_length": getattr(truncate, "max_length", None)}, encoder)
    if config.lora is not None:  # exports reference the sequence checkpoint instead of holding it
        from engine.builders import resolve_checkpoint
        from prottasks.lora import apply_lora

        seq = sequence_config(resolve_checkpoint(config.encoder))
        apply_lora(model, config.lora, base=None if seq is None else seq.checkpoint)
    return model


#: ``config.json`` key of what ``apps/predict.py`` needs (:func:`export_task`).
TASK_KEY = "task"


def export_task(config: FinetuneConfig, table: LabelTable) -> dict[str, Any]:
    """What an export records for prediction besides the task model, under :data:`TASK_KEY`: the labels
    (:meth:`prottasks.data.LabelTable.metadata`), the ontology file, the inference transform, the inputs."""
    from engine.builders import resolve_path
    from protdata.transforms import inference_transform
    from protfusion.encoders import needs_structures, vocabulary

    obo = getattr(config.data.labels, "obo", None)
    transform = inference_transform(config.data.transform)
    return {
        **table.metadata(),
        "obo": str(resolve_path(obo, "data.labels.obo").resolve()) if obo else None,
        "transform": transform.model_dump(mode="json") if transform is not None else None,
        "needs_structures": needs_structures(config.encoder),
        "vocabulary": vocabulary(config.encoder),
    }


def labelled_data(config: FinetuneConfig, table: LabelTable, dist: Any) -> Any:
    """The labelled splits (:func:`prottasks.data.prepare_labelled_data`): rank 0 builds (or reuses) the structure
    cache first, then the other ranks read it; a data error on rank 0 is raised on every rank."""
    from engine.app import main_rank_first
    from engine.builders import resolve_path
    from engine.config import expand_path
    from engine.errors import DataError
    from engine.stopping import ignore_stop_signals
    from protdata.errors import ProtdataError
    from protfusion.encoders import needs_structures, vocabulary
    from prottasks.data import prepare_labelled_data

    cache_dir = expand_path(config.data.cache_dir or f"{config.output_root}/.cache")

    def prepare() -> Any:
        try:
            data = prepare_labelled_data(
                config.data,
                table,
                needs_structures=needs_structures(config.encoder),
                encode_3di=vocabulary(config.encoder) == "saprot",
                cache_dir=cache_dir,
                seed=config.seed,
                resolve=resolve_path,
            )
        except ProtdataError as exc:  # rank 0's DataError reaches every rank (engine.app.main_rank_first)
            raise DataError(str(exc)) from None
        data.worker_init = ignore_stop_signals  # workers leave stop signals to the main process
        return data

    return main_rank_first(prepare, dist)
