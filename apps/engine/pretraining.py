"""The pretraining app's configuration (torch-free: ``--help`` and config errors answer at once).

``PretrainConfig`` composes the package configs (``encoder``: :data:`protfusion.EncoderConfig`; ``objective``:
:data:`prottasks.objectives.ObjectiveConfig`; ``data.transform``: a protdata transform) with the engine's sections.
Defaults are the seed's (ESM-GearNet residue-type pretraining, ``config/pretrain/attr_esm_gearnet.yaml``: GearNet
6 × 512, Adam 2e-4, random crop 100); ``apps/configs/default_pretrain.yaml`` shrinks it to run on a CPU and
``apps/configs/pretrain/`` holds each seed's run. The model is :mod:`prottasks.objectives.pretraining`'s (which
objective fits which encoder, starting from a saved run).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, SerializerFunctionWrapHandler, field_serializer

from engine.config import DataConfig, DeepSpeedConfig, Section, TrainConfig
from engine.validation import ValidationConfig
from protenc_struct.config import GearNetConfig
from protfusion.encoders import EncoderConfig
from prottasks.objectives.config import ObjectiveConfig, ResidueTypePredictionConfig
from prottasks.optim import OptimizerConfig, SchedulerConfig


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
    #: Any protstack encoder (``type``: esm2, saprot, gearnet, gearnet_edge, gvp, cdconv, serial, parallel, cross,
    #: token); default: GearNet 6 × 512 (ESM-GearNet's structure encoder).
    encoder: EncoderConfig = Field(default_factory=GearNetConfig)
    objective: ObjectiveConfig = Field(default_factory=ResidueTypePredictionConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    optimizer: OptimizerConfig = Field(default_factory=lambda: OptimizerConfig(type="adam", lr=2e-4))
    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig)
    deepspeed: DeepSpeedConfig = Field(default_factory=DeepSpeedConfig)
    train: TrainConfig = Field(default_factory=lambda: TrainConfig(max_steps=1000))
    #: Held-out proteins, validated every N steps (:class:`engine.validation.ValidationConfig`).
    validation: ValidationConfig = Field(default_factory=ValidationConfig)

    @field_serializer("encoder", mode="wrap")
    def _dump_encoder(self, value: Any, handler: SerializerFunctionWrapHandler) -> Any:
        """A fusion derives its structure encoder's node input width (``input_dim`` / ``node_in_dim``) and rejects
        an explicit one that differs; the dump leaves the width out unless the config set it, so a saved
        ``config.yaml`` (``--resume``) and ``config.json`` load back to the same config."""
        data = handler(value)
        structure = getattr(value, "structure", None)
        if structure is not None and isinstance(data, dict) and isinstance(data.get("structure"), dict):
            for key in ("input_dim", "node_in_dim"):
                if key not in structure.model_fields_set:
                    data["structure"].pop(key, None)
        return data


def build_pretraining_model(config: PretrainConfig, *, load_checkpoint: bool = True) -> Any:
    """The objective module around a freshly built encoder (:func:`engine.builders.build_encoder`: a sequence
    ``checkpoint`` is loaded from its local path unless ``load_checkpoint`` is False), after the config's checks:
    the objective fits the encoder, and no truncation passes the sequence encoder's window."""
    from engine.builders import build_encoder
    from protenc_seq.window import check_sequence_window
    from prottasks.objectives import build_pretraining_model as build
    from prottasks.objectives import check_combination

    check_combination(config.encoder, config.objective)
    check_sequence_window(config.encoder, config.data.transform)
    encoder = build_encoder(config.encoder, load_checkpoint=load_checkpoint)
    return build(encoder, config.objective)
