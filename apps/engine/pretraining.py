"""The pretraining app's configuration and components: an encoder (protenc-struct) wrapped by a pretraining
objective (prottasks), trained by the shared loop.

``PretrainConfig`` composes the package configs (``encoder``: :data:`protenc_struct.StructureEncoderConfig`,
``objective``: :data:`prottasks.objectives.ObjectiveConfig`, ``data.transform``: a protdata transform) with the
engine's sections. Defaults are the seed's (ESM-GearNet: GearNet 6 × 512, residue-type prediction, Adam 2e-4,
random crop 100); the embedded demo (``apps/configs/default_pretrain.yaml``) shrinks the widths to run on a CPU.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field
from torch import nn

from engine.config import (
    DataConfig,
    DeepSpeedConfig,
    OptimizerConfig,
    SchedulerConfig,
    Section,
    TrainConfig,
)
from protenc_struct import GearNetConfig, StructureEncoderConfig
from protenc_struct import build as build_structure_encoder
from prottasks.objectives import ObjectiveConfig, ResidueTypePredictionConfig, build_objective


class PretrainConfig(Section):
    """``apps/pretrain.py``: what to train, on which structures, how (every key has a commented default)."""

    #: Run name: the output directory is ``<output_root>/<name>-<YYYYmmdd-HHMMSS>``.
    name: str = Field("pretrain", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    seed: int = Field(1024, ge=0)  # ESM-GearNet --seed default
    #: Exact output directory (overrides output_root / name / timestamp).
    output_dir: str | None = None
    output_root: str = "runs"
    #: Safetensors weights to start from (a previous export, or an encoder alone).
    init_from: str | None = None
    encoder: StructureEncoderConfig = Field(default_factory=GearNetConfig)
    objective: ObjectiveConfig = Field(default_factory=ResidueTypePredictionConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    optimizer: OptimizerConfig = Field(default_factory=lambda: OptimizerConfig(type="adam", lr=2e-4))
    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig)
    deepspeed: DeepSpeedConfig = Field(default_factory=DeepSpeedConfig)
    train: TrainConfig = Field(default_factory=lambda: TrainConfig(max_steps=1000))


def build_encoder(config: Any) -> nn.Module:
    """The encoder of an ``encoder`` config section (structure encoders: ``gearnet``, ``gearnet_edge``, ``gvp``,
    ``cdconv``)."""
    return build_structure_encoder(config)


def build_pretraining_model(config: PretrainConfig) -> nn.Module:
    """The objective module around a freshly initialised encoder (``forward(batch, generator) -> ObjectiveOutput``)."""
    return build_objective(config.objective, build_encoder(config.encoder))
