"""The encoder of ``apps/embed.py`` and ``apps/score.py``: an ``encoder:`` section (:func:`engine.builders.
build_encoder`) or a protstack export (:func:`protdata.pretrained.load_encoder`). Inputs, batches and encoding
are the packages' (:mod:`protdata.inputs`, :mod:`protdata.encoding`, :mod:`protdata.device`)."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, NamedTuple

import torch

from engine.builders import build_encoder, resolve_path
from engine.config import Section
from engine.errors import CheckpointError, ConfigError, one_line
from protdata.configfile import validate
from protdata.device import choose_device as _choose_device
from protdata.errors import ProtdataError
from protdata.pretrained import ENCODER_ATTRIBUTES, PretrainedFormatError, load_encoder, read_config
from protfusion.encoders import EncoderConfig, sequence_config

#: Padded tokens per batch when the config gives none: fair-esm ``extract.py --toks_per_batch`` 4096 on CPU.
CPU_MAX_TOKENS = 4096
GPU_MAX_TOKENS = 32768


#: :func:`protdata.device.choose_device`, its error naming the apps' ``--device``.
choose_device = functools.partial(_choose_device, name="--device")


class _EncoderSection(Section):
    encoder: EncoderConfig


class LoadedEncoder(NamedTuple):
    """An encoder ready for inference (eval mode, on its device) and what it was built from."""

    module: torch.nn.Module
    config: Any
    description: str


def read_export(path: str | os.PathLike[str], key: str = "export") -> tuple[Any, Path, dict[str, Any]]:
    """``(validated encoder config, model directory, config.json)`` of a saved protstack model; only
    ``config.json`` is read. Raises CheckpointError (not a saved model) or ConfigError (naming the key)."""
    root = resolve_path(path, key)
    if not root.exists():
        raise CheckpointError(f"{key}: {root}: no such export directory or weights file")
    directory = root if root.is_dir() else root.parent
    try:
        header = read_config(directory)
    except PretrainedFormatError as exc:
        raise CheckpointError(f"{key}: {one_line(str(exc))}") from None
    attribute = ENCODER_ATTRIBUTES.get(header["type"])  # a task model's / ProtCLIP's encoder section
    section = header["config"][attribute] if attribute else header["config"]
    config = validate(_EncoderSection, {"encoder": section}, f"{key}: {directory / 'config.json'}").encoder
    return config, directory, header


def load_inference_encoder(
    encoder: Any | None,
    export: str | None,
    *,
    device: torch.device,
    precision: str = "auto",
    cls_output: bool = False,
    joint: bool = False,
) -> LoadedEncoder:
    """The encoder of an ``encoder:`` section or of a protstack export (exactly one), in eval mode on ``device``,
    with its sequence encoder's ``precision`` (``auto``: as configured) and ``<cls>`` output set; ``joint``: a
    ProtCLIP export's protein tower and projection (:class:`protalign.joint_space.JointProteinEncoder`)."""
    from protenc_seq import ESM2Encoder

    if (encoder is None) == (export is None):
        both = "both" if encoder is not None else "neither"
        raise ConfigError(f"give one of encoder (a section) or export (a model directory), not {both}")
    if joint and (export is None or read_export(export)[2]["type"] != "protclip"):
        raise ConfigError(
            "space: 'joint' is the projected space of a ProtCLIP model: give export: <an align run>"
        )
    if export is not None:
        config, directory, header = read_export(export)  # one-line errors for a bad config first
        try:
            module, _ = load_encoder(directory)
            if joint:
                from protalign.joint_space import JointProteinEncoder
                from protdata.pretrained import load_pretrained

                module = JointProteinEncoder(load_pretrained(directory))
        except PretrainedFormatError as exc:
            raise CheckpointError(f"export: {one_line(str(exc))}") from None
        what = f"{header.get('app', 'protstack')} export ({header['type']} model loaded from {directory})"
        description = f"{config.type} encoder of a {what}" + (
            ", projected to its joint space" if joint else ""
        )
    else:
        config, seq = encoder, sequence_config(encoder)
        try:
            module = build_encoder(config, cls_output=cls_output)
        except ProtdataError as exc:  # protenc-seq's unreadable / wrong-size checkpoint: name the config key
            key = "encoder" if seq is config else "encoder.sequence"
            raise CheckpointError(f"{key}.checkpoint: {one_line(str(exc))}") from None
        source = " with random weights (no checkpoint)" if seq else ""
        if seq and seq.checkpoint:
            source = f" from {resolve_path(seq.checkpoint, 'checkpoint')}"
        description = f"{config.type} encoder{source}"
    seq_module = module if isinstance(module, ESM2Encoder) else getattr(module, "sequence", None)
    if isinstance(seq_module, ESM2Encoder):
        if precision != "auto":
            seq_module.precision = precision
        if cls_output and seq_module is module:
            seq_module.cls_output = True
    return LoadedEncoder(module.eval().to(device), config, description)
