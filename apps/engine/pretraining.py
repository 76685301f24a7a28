"""The pretraining app's configuration and components: any protstack encoder (``engine.builders``) wrapped by one
of the seeds' pretraining objectives (prottasks), trained by the shared loop.

``PretrainConfig`` composes the package configs (``encoder``: :data:`engine.builders.EncoderConfig` — ESM-2 /
SaProt, GearNet / GearNet-Edge / GVP-GNN / CDConv, serial / parallel / cross / token fusion; ``objective``:
:data:`prottasks.objectives.ObjectiveConfig`; ``data.transform``: a protdata transform) with the engine's sections.
Defaults are the seed's (ESM-GearNet residue-type pretraining, ``config/pretrain/attr_esm_gearnet.yaml``: GearNet
6 × 512, Adam 2e-4, random crop 100); the embedded demo (``apps/configs/default_pretrain.yaml``) shrinks the widths
to run on a CPU, and the presets in ``apps/configs/pretrain/`` hold each seed's pretraining run.

Which objective fits which encoder (:func:`check_combination`, one :class:`~engine.errors.ConfigError` naming
both keys, before anything is loaded or written):

* ``mlm`` — a masked language model: ``esm2`` / ``saprot`` sequence encoders only (through
  :class:`protenc_seq.MaskedLMAdapter`; SaProt: ``#`` + 3Di masking over 446 tokens, seed-systems.md §5.3).
* ``residue_type_prediction``, ``multiview_contrast`` — any encoder (the six ESM-GearNet objectives run on
  structure and fused encoders; on a sequence encoder these two see only what it reads: masked residues,
  subsequence crops).
* ``distance_prediction``, ``angle_prediction``, ``dihedral_prediction``, ``siamdiff`` — encoders that read
  coordinates (structure and fused encoders). The three geometry objectives also need an encoder whose residue
  graph they can edit (GearNet, GearNet-Edge, GVP-GNN, and fusions of them): they remove the sampled edges so
  the encoder cannot read the answer, and CDConv builds its graphs inside ``forward``.

SaProt encoders (alone or inside a fusion) read Foldseek 3Di strings, so their structure cache stores them
(:func:`needs_3di`, ``build_structure_cache(encode_3di=True)``); the tokenizer reads ``Protein.structure_tokens``.

Export: the run directory is the trained *encoder* as a protstack model directory (``config.json`` +
``model.safetensors``; ``protdata.pretrained.load_pretrained(run_dir)`` gives the encoder), and
``objective.safetensors`` beside it holds the objective's other tensors (its heads, under their names in the
objective). Fine-tuning starts from such a run with ``init_from=<run>`` (or ``<run>/model.safetensors``,
:func:`engine.builders.load_encoder_weights`); ``init_from`` here accepts such a run (heads too), a run of another
objective on the same encoder, or an encoder's weights alone (:func:`load_initial_weights`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field, SerializerFunctionWrapHandler, field_serializer
from torch import nn

from engine.builders import (
    FUSION_TYPES,
    SEQUENCE_TYPES,
    STRUCTURE_TYPES,
    EncoderConfig,
    check_sequence_window,
    load_encoder_weights,
    vocabulary,
)
from engine.builders import build_encoder as build_any_encoder
from engine.checkpoint import OBJECTIVE_WEIGHTS
from engine.config import (
    DataConfig,
    DeepSpeedConfig,
    OptimizerConfig,
    SchedulerConfig,
    Section,
    TrainConfig,
)
from engine.errors import CheckpointError, ConfigError, one_line
from protenc_struct import GearNetConfig
from prottasks.objectives import ObjectiveConfig, ResidueTypePredictionConfig, build_objective

#: Objectives that predict 3D geometry from a residue graph whose sampled edges they remove first.
GEOMETRY_OBJECTIVES = ("distance_prediction", "angle_prediction", "dihedral_prediction")
#: Objectives whose targets are coordinates: the encoder must read them.
STRUCTURE_OBJECTIVES = (*GEOMETRY_OBJECTIVES, "siamdiff")
#: Objectives a sequence-only encoder can be trained with.
SEQUENCE_OBJECTIVES = ("mlm", "residue_type_prediction", "multiview_contrast")


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


def _structure_type(encoder: object) -> str | None:
    """The structure encoder's ``type`` (itself, or a fusion's ``structure``), else ``None``."""
    kind = getattr(encoder, "type", None)
    if kind in STRUCTURE_TYPES:
        return kind
    structure = getattr(encoder, "structure", None)
    return getattr(structure, "type", None)


def check_combination(config: PretrainConfig) -> None:
    """Raise a :class:`ConfigError` naming ``objective.type`` and ``encoder.type`` when the objective cannot train
    the encoder (module docstring)."""
    objective, encoder = config.objective.type, config.encoder.type
    where = f"objective.type={objective} with encoder.type={encoder}"
    if objective == "mlm" and encoder not in SEQUENCE_TYPES:
        raise ConfigError(
            f"{where}: mlm trains a masked language model, which needs an esm2 or saprot encoder (structure and "
            f"fused encoders: use one of residue_type_prediction, {', '.join(STRUCTURE_OBJECTIVES)}, "
            "multiview_contrast)"
        )
    if objective in STRUCTURE_OBJECTIVES and encoder in SEQUENCE_TYPES:
        raise ConfigError(
            f"{where}: {objective} learns 3D structure from a residue graph, but a {encoder} encoder reads only "
            f"the sequence (use one of {', '.join(SEQUENCE_OBJECTIVES)}, or a structure or fused encoder)"
        )
    if objective in GEOMETRY_OBJECTIVES and _structure_type(config.encoder) == "cdconv":
        inner = "encoder.structure.type=cdconv" if encoder in FUSION_TYPES else "cdconv"
        raise ConfigError(
            f"{where}: {objective} removes the sampled edges from the encoder's residue graph, but {inner} builds "
            "its graphs inside forward and would see the geometry it must predict (use gearnet, gearnet_edge or "
            "gvp, or objective residue_type_prediction / multiview_contrast / siamdiff)"
        )


def needs_3di(config: PretrainConfig) -> bool:
    """True when the encoder reads Foldseek 3Di strings (a SaProt vocabulary, alone or inside a fusion)."""
    return vocabulary(config.encoder) == "saprot"


def build_encoder(config: object, *, load_checkpoint: bool = True) -> nn.Module:
    """The encoder of an ``encoder`` config section (:func:`engine.builders.build_encoder`; a sequence
    ``checkpoint`` is loaded from its local path unless ``load_checkpoint`` is False)."""
    return build_any_encoder(config, load_checkpoint=load_checkpoint)


def build_pretraining_model(config: PretrainConfig, *, load_checkpoint: bool = True) -> nn.Module:
    """The objective module around a freshly built encoder (``forward(batch, generator) -> ObjectiveOutput``).

    ``mlm`` gets the encoder through :class:`protenc_seq.MaskedLMAdapter`; every other objective gets the
    encoder itself. ``load_checkpoint=False`` builds the sequence encoder's architecture with random weights
    (a resumed run or ``init_from`` brings the weights).

    Raises:
        ConfigError: the objective does not fit the encoder (:func:`check_combination`), a truncation past the
            sequence encoder's window (:func:`~engine.builders.check_sequence_window`), or an MLM sequence
            checkpoint has no LM head.
    """
    check_combination(config)
    check_sequence_window(config.encoder, config.data.transform)
    encoder = build_encoder(config.encoder, load_checkpoint=load_checkpoint)
    if config.objective.type == "mlm":
        from protenc_seq import MaskedLMAdapter

        try:
            encoder = MaskedLMAdapter(encoder)
        except ValueError as exc:  # a checkpoint without an LM head (Hugging Face EsmModel)
            raise ConfigError(f"encoder.checkpoint: {one_line(str(exc))}") from None
    return build_objective(config.objective, encoder)


def pretrained_encoder(model: nn.Module) -> nn.Module:
    """The encoder inside a pretraining model (``model.encoder``; MLM: ``model.model.encoder``)."""
    inner = getattr(model, "model", None)
    if isinstance(inner, nn.Module) and isinstance(getattr(inner, "encoder", None), nn.Module):
        return inner.encoder
    encoder = getattr(model, "encoder", None)
    if not isinstance(encoder, nn.Module):
        raise TypeError(f"{type(model).__name__} holds no encoder")
    return encoder


def load_initial_weights(model: nn.Module, path: str | os.PathLike[str]) -> str:
    """Initialise a pretraining model from ``path`` (``init_from``); returns a one-line note.

    ``path`` is a pretraining run directory (or its ``model.safetensors``), an older whole-objective export, a
    fine-tuning export or an encoder's weights alone: the encoder's tensors are taken from the file under
    whatever prefix holds them all (:func:`engine.builders.load_encoder_weights`); the objective's heads are
    loaded too when the file (an older export) or the run's ``objective.safetensors`` holds every head tensor
    with the model's shapes, else they start fresh.

    Raises:
        CheckpointError: missing or unreadable file, no prefix holding every encoder tensor, or a wrong-size
            tensor (names the file and the tensor).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if path.is_dir():
        path = path / "model.safetensors"
    note = load_encoder_weights(pretrained_encoder(model), path, key="init_from")
    encoder = pretrained_encoder(model)
    prefix = next(name for name, module in model.named_modules() if module is encoder) + "."
    heads = {k: v for k, v in model.state_dict().items() if not k.startswith(prefix)}
    if not heads:
        return "init_from: " + note
    for source in (path, path.parent / OBJECTIVE_WEIGHTS):
        if not source.is_file():
            continue
        try:
            tensors = load_file(str(source))
        except (SafetensorError, OSError, ValueError) as exc:
            raise CheckpointError(
                f"init_from: {source}: not a readable safetensors file ({one_line(str(exc))})"
            ) from None
        if all(k in tensors and tuple(tensors[k].shape) == tuple(v.shape) for k, v in heads.items()):
            model.load_state_dict({k: tensors[k] for k in heads}, strict=False)
            return f"init_from: {note}; the objective's {len(heads)} head tensors from {source}"
    return f"init_from: {note}; the objective's heads start fresh"
