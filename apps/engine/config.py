"""Configuration of the apps: the engine's sections — :class:`DeepSpeedConfig`, :class:`TrainConfig`,
:class:`DataConfig` (with commented defaults) and prottasks' :class:`OptimizerConfig` / :class:`SchedulerConfig`
— shared by every app, and :func:`schedule_settings` (what ``--resume`` must keep). Loading a YAML file (with
``extends``), ``key=value`` overrides and validation whose errors name the key are :mod:`protdata.configfile`.

Paths in configs may use ``${APPS_DIR}`` (the ``apps/`` directory), ``${CONFIG_DIR}`` (the directory of the YAML
file they came from), environment variables and ``~``; relative paths are taken from the working directory.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from protdata.transforms import TruncateProteinConfig
from protdata.transforms.compose import AnyTransformConfig
from prottasks.optim import OptimizerConfig, SchedulerConfig

#: The ``apps/`` directory (``${APPS_DIR}`` in config paths).
APPS_DIR = Path(__file__).resolve().parents[1]


def expand_path(value: str | os.PathLike[str]) -> Path:
    """``${APPS_DIR}``, environment variables and ``~`` expanded (``${CONFIG_DIR}`` is expanded on loading)."""
    text = str(value).replace("${APPS_DIR}", str(APPS_DIR))
    return Path(os.path.expanduser(os.path.expandvars(text)))


# -------------------------------------------------------------------------------------- engine sections
class Section(BaseModel):
    """Base of every config section: unknown keys and wrong types are errors that name the key."""

    model_config = ConfigDict(extra="forbid")


class DeepSpeedConfig(Section):
    """The DeepSpeed engine: ZeRO stage, precision, gradient accumulation and clipping (+ raw DeepSpeed keys)."""

    zero_stage: Literal[0, 1, 2, 3] = 0
    #: ``auto``: bf16 on a GPU that supports it, fp32 on CPU; ``bf16`` on CPU: bf16 autocast, fp32 weights
    #: (``engine.trainer.cpu_autocast``).
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    gradient_accumulation_steps: int = Field(1, ge=1)  # FusionProt: gradient_interval 8
    gradient_clipping: float = Field(1.0, ge=0)  # 0 disables clipping
    #: Raw DeepSpeed config keys merged last (e.g. ``zero_optimization.offload_optimizer``).
    extra: dict[str, Any] = Field(default_factory=dict)


class TrainConfig(Section):
    """The loop: how long, how often to log and checkpoint, where to run."""

    #: Optimizer steps (exactly one of max_steps / epochs).
    max_steps: int | None = Field(None, ge=1)
    #: Passes over the data (converted to steps with the first epoch's micro-batch count).
    epochs: float | None = Field(None, gt=0)
    log_every: int = Field(10, ge=1)
    #: Save a resumable checkpoint every N steps (and always at the end); None = only at the end.
    checkpoint_every: int | None = Field(None, ge=1)
    keep_checkpoints: int = Field(2, ge=1)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    #: torch intra-op threads per process (None: torch's default).
    num_threads: int | None = Field(None, ge=1)
    #: Stop with an error naming the proteins when the loss is NaN / infinite.
    stop_on_nonfinite: bool = True

    @model_validator(mode="after")
    def _length(self) -> TrainConfig:
        if (self.max_steps is None) == (self.epochs is None):
            raise ValueError("set exactly one of train.max_steps and train.epochs")
        return self


class DataConfig(Section):
    """Structures in, micro-batches out: sources (or a preprocessed dataset), cropping and batching."""

    #: Structure files, directories (walked recursively) or globs; tar archives are streamed. Parsed once into
    #: the structure cache (``cache_dir``) and held in memory by every rank: for small runs (null: use dataset).
    sources: list[str] | None = Field(
        default_factory=lambda: ["${APPS_DIR}/data/demo_structures"], min_length=1
    )
    #: A dataset directory written by ``apps/preprocess.py`` (memory-mapped shards: a rank's memory does not grow
    #: with the dataset); instead of ``sources`` (set ``data.sources=null``).
    dataset: str | None = None
    #: Where the preprocessed cache of ``sources`` lives (None: ``<output_root>/.cache``).
    cache_dir: str | None = None
    #: Proteins shorter than this are left out (and counted in the data report).
    min_length: int = Field(1, ge=1)
    #: Per-protein transform (protdata.transforms config; ESM-GearNet residue-type pretraining: random crop 100).
    transform: AnyTransformConfig | None = Field(
        default_factory=lambda: TruncateProteinConfig(max_length=100, random=True)
    )
    #: Most proteins in one micro-batch.
    batch_size: int = Field(8, ge=1)
    #: Most padded residues in one micro-batch (``proteins × longest``); None: no token budget.
    max_tokens: int | None = Field(None, ge=1)
    #: Proteins shuffled together and sorted by length before cutting batches (1: no length bucketing).
    bucket_window: int = Field(100, ge=1)
    #: DataLoader worker processes (0: load in the training process).
    num_workers: int = Field(1, ge=0)
    prefetch_factor: int = Field(4, ge=1)
    #: Processes that parse structure files when the cache is built.
    parse_workers: int = Field(1, ge=1)

    @model_validator(mode="after")
    def _one_source(self) -> DataConfig:
        if self.sources is not None and self.dataset is not None:
            raise ValueError(
                "data.sources and data.dataset are both set: use one (data.sources=null data.dataset=DIR trains "
                "on a preprocessed dataset)"
            )
        if self.sources is None and self.dataset is None:
            raise ValueError("set data.sources (structure files) or data.dataset (a preprocessed dataset)")
        return self


def schedule_settings(
    optimizer: OptimizerConfig,
    scheduler: SchedulerConfig,
    train: TrainConfig,
    plateau: BaseModel | None = None,
) -> dict[str, Any]:
    """The config values that define a run's learning rate at every step, as dotted key -> JSON value.

    A checkpoint stores them and ``--resume`` refuses a config that changes one
    (:func:`engine.app.check_same_schedule`): the restored optimizer keeps its saved base learning rates while the
    schedule's multiplier is rebuilt from the config, so a changed value would silently bend the schedule of the
    run being continued. ``plateau`` is
    the fine-tuning app's ReduceLROnPlateau section (a pydantic model) or ``None``. The number of micro-batches
    per optimizer step (processes × accumulation) is checked separately: it is not a config value alone.
    """
    settings: dict[str, Any] = {
        "train.max_steps": train.max_steps,
        "train.epochs": train.epochs,
        "optimizer.lr": optimizer.lr,
        "optimizer.lr_ratios": dict(sorted(optimizer.lr_ratios.items())),
    }
    settings.update({f"scheduler.{k}": v for k, v in scheduler.model_dump(mode="json").items()})
    if plateau is not None:
        settings.update({f"plateau.{k}": v for k, v in plateau.model_dump(mode="json").items()})
    else:
        settings["plateau"] = None
    return settings
