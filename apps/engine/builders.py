"""Build any protstack encoder from an ``encoder:`` config section, and load pretrained weights into it.

``encoder.type`` picks the package (DESIGN.md "One encoder contract"):

* ``esm2`` / ``saprot`` — a protenc-seq sequence encoder (:class:`protfusion.SequenceEncoderConfig`: ``preset`` or
  ``architecture``, optional local ``checkpoint`` — a fair-esm ``.pt``, a Hugging Face directory or protenc-seq
  safetensors, checked against the architecture);
* ``gearnet`` / ``gearnet_edge`` / ``gvp`` / ``cdconv`` — a protenc-struct structure encoder;
* ``serial`` / ``parallel`` / ``cross`` / ``token`` — a protfusion fused encoder (ESM-GearNet, FusionProt).

Paths may hold environment variables (the presets write ``${ESM2_650M}`` for local weights, never a download);
an unset variable is a :class:`~engine.errors.ConfigError` naming the key and the variable.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from torch import nn

from engine.config import expand_path
from engine.errors import CheckpointError, ConfigError, one_line
from protfusion import EncoderConfig, SequenceEncoderConfig
from protfusion.encoders import FUSION_TYPES, SEQUENCE_TYPES, STRUCTURE_TYPES

__all__ = ["FUSION_TYPES", "SEQUENCE_TYPES", "STRUCTURE_TYPES", "EncoderConfig"]

_UNSET = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")


def resolve_path(value: str | os.PathLike[str], key: str) -> Path:
    """``value`` with ``${APPS_DIR}``, environment variables and ``~`` expanded; an unset variable is an error."""
    path = expand_path(value)
    unset = _UNSET.search(str(path))
    if unset:
        raise ConfigError(
            f"{key}: environment variable {unset.group(1)} is not set (it should name a local file: {value}); "
            f"export {unset.group(1)}=/path/to/it or give the path with {key}=…"
        )
    return path


def sequence_config(config: Any) -> SequenceEncoderConfig | None:
    """The sequence-encoder section inside ``config`` (itself, or a fusion's ``sequence``), else ``None``."""
    if isinstance(config, SequenceEncoderConfig):
        return config
    return getattr(config, "sequence", None)


def check_sequence_window(config: Any, transform: Any, key: str = "data.transform") -> None:
    """Reject a truncation longer than the sequence encoder's window when that encoder stops on long proteins.

    ESM-2 / SaProt read at most ``max_residues`` residues (1,022: 1,024 tokens with ``<cls>`` / ``<eos>``); with
    ``on_long: error`` a longer protein is an error. A truncation (``transform``, a protdata transform config) past
    the window lets such proteins through and would stop a run at the first long one (issue 11).

    Raises:
        ConfigError: naming ``<key>.max_length``, the window and the fixes.
    """
    from engine.labelled import inference_transform

    seq = sequence_config(config)
    if seq is None or seq.on_long != "error":
        return
    window = seq.esm2_config().max_residues
    truncate = inference_transform(transform) if transform is not None else None
    if window is None or truncate is None or truncate.max_length <= window:
        return
    at = "encoder" if seq is config else "encoder.sequence"
    raise ConfigError(
        f"{key}.max_length: {truncate.max_length} residues exceed the {seq.type} encoder's window of {window} "
        f"residues ({window + 2} tokens with <cls> / <eos>) and {at}.on_long is 'error'; set "
        f"{key}.max_length={window}, or {at}.on_long=crop (keep the first {window}) or full"
    )


def needs_structures(config: Any) -> bool:
    """True when the encoder reads coordinates (structure and fused encoders)."""
    return config.type in STRUCTURE_TYPES or config.type in FUSION_TYPES


def vocabulary(config: Any) -> str | None:
    """``"saprot"`` / ``"esm2"`` for encoders with a sequence part (SaProt needs 3Di strings), else ``None``."""
    seq = sequence_config(config)
    return None if seq is None else seq.type


def _with_checkpoint(config: Any, checkpoint: str | None) -> Any:
    seq = sequence_config(config)
    if seq is None:
        return config
    new_seq = seq.model_copy(update={"checkpoint": checkpoint})
    if isinstance(config, SequenceEncoderConfig):
        return new_seq
    return config.model_copy(update={"sequence": new_seq})


def without_checkpoint(config: Any) -> Any:
    """``config`` with no sequence checkpoint (rebuild the architecture; weights come from an export)."""
    return _with_checkpoint(config, None)


def build_encoder(
    config: Any, *, key: str = "encoder", load_checkpoint: bool = True, cls_output: bool = False
) -> nn.Module:
    """The encoder of an ``encoder:`` section (module docstring): :func:`protfusion.build_encoder` after the
    sequence ``checkpoint`` path is resolved here (environment variables, ``${APPS_DIR}``).

    Args:
        config: A validated encoder config.
        key: The config key, for error messages.
        load_checkpoint: Load the sequence encoder's ``checkpoint`` (False: random weights of that architecture).
        cls_output: A plain ESM-2 / SaProt encoder also returns ``extras["cls"]`` (its config's ``cls_output``;
            the Function Caller head).
    """
    from protfusion import build_encoder as build_any

    seq = sequence_config(config)
    if seq is not None and seq.checkpoint is not None:
        if load_checkpoint:
            prefix = (
                f"{key}.checkpoint"
                if isinstance(config, SequenceEncoderConfig)
                else f"{key}.sequence.checkpoint"
            )
            path = resolve_path(seq.checkpoint, prefix)
            if not path.exists():
                raise CheckpointError(f"{prefix}: {path}: no such file or directory")
            config = _with_checkpoint(config, str(path))
        else:
            config = without_checkpoint(config)
    if cls_output and isinstance(config, SequenceEncoderConfig):
        config = config.model_copy(update={"cls_output": True})
    return build_any(config, key=key)


def load_encoder_weights(module: nn.Module, path: str | os.PathLike[str], key: str = "init_from") -> str:
    """Load the tensors of safetensors file ``path`` (or of a model directory's ``model.safetensors``) that belong to ``module`` (e.g. the encoder part of a pretraining
    export, whose other tensors — the objective's heads — are ignored). The file's names may carry a prefix
    (``encoder.``, ``model.encoder.`` for an MLM export, …): the prefix under which the file holds *every* tensor of
    ``module`` is used. Returns a one-line description.

    Raises:
        CheckpointError: unreadable file, no prefix covers the module (names the first missing tensor), or a tensor
            of the wrong size (names it and both shapes).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if path.is_dir():  # a protstack model directory (an export of apps/pretrain.py, finetune.py, align.py)
        path = path / "model.safetensors"
    if not path.is_file():
        raise CheckpointError(f"{key}: {path}: no such weights file")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(
            f"{key}: {path}: not a readable safetensors file ({one_line(str(exc))})"
        ) from None
    target = module.state_dict()
    prefixes = sorted(
        {
            p
            for k in tensors
            for t in target
            if k.endswith(t) and ((p := k[: len(k) - len(t)]) == "" or p[-1] == ".")
        },
        key=len,
    )
    best: tuple[int, str] = (-1, "")
    for prefix in prefixes:
        found = sum(1 for t in target if prefix + t in tensors)
        if found == len(target):
            for name, value in target.items():
                got = tensors[prefix + name]
                if tuple(got.shape) != tuple(value.shape):
                    raise CheckpointError(
                        f"{key}: {path}: wrong-size weights: {prefix + name} has shape {tuple(got.shape)} in the "
                        f"file but {tuple(value.shape)} in the model built from the config"
                    )
            module.load_state_dict({name: tensors[prefix + name] for name in target})
            ignored = len(tensors) - len(target)
            where = f" under {prefix!r}" if prefix else ""
            return f"loaded {len(target)} tensors{where} from {path}" + (
                f" ({ignored} others ignored)" if ignored else ""
            )
        best = max(best, (found, prefix))
    prefix = best[1]
    missing = next((t for t in target if prefix + t not in tensors), next(iter(target), "?"))
    raise CheckpointError(
        f"{key}: {path} does not hold the weights of this model: no tensor {prefix + missing!r} "
        f"({max(best[0], 0)} of {len(target)} found; was it written for another encoder?)"
    )
