"""The apps' side of building encoders: config paths with environment variables, and app error keys.

Encoder building is :func:`protfusion.build_encoder` (any ``encoder:`` section; helpers ``sequence_config``,
``needs_structures``, ``vocabulary``, ``needs_3di`` in :mod:`protfusion.encoders`), weights loading is
:func:`protdata.weights.load_module_weights` and the window check is :func:`protenc_seq.check_sequence_window`.
Paths may hold environment variables (the presets write ``${ESM2_650M}`` for local weights, never a download);
an unset variable is a :class:`~engine.errors.ConfigError` naming the key and the variable.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from engine.config import expand_path
from engine.errors import CheckpointError, ConfigError

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


def resolve_checkpoint(config: Any, *, key: str = "encoder", load_checkpoint: bool = True) -> Any:
    """``config`` with its sequence ``checkpoint`` path resolved (environment variables, ``${APPS_DIR}``; a
    missing file is a :class:`CheckpointError` naming the key), or without it when ``load_checkpoint`` is False."""
    from protfusion.encoders import sequence_config, with_checkpoint

    seq = sequence_config(config)
    if seq is None or seq.checkpoint is None:
        return config
    if not load_checkpoint:
        return with_checkpoint(config, None)
    prefix = f"{key}.checkpoint" if seq is config else f"{key}.sequence.checkpoint"
    path = resolve_path(seq.checkpoint, prefix)
    if not path.exists():
        raise CheckpointError(f"{prefix}: {path}: no such file or directory")
    return with_checkpoint(config, str(path))


def build_encoder(
    config: Any, *, key: str = "encoder", load_checkpoint: bool = True, cls_output: bool = False
) -> Any:
    """:func:`protfusion.build_encoder` after :func:`resolve_checkpoint`. ``cls_output``: a plain ESM-2 / SaProt
    encoder also returns ``extras["cls"]`` (the Function Caller head)."""
    from protenc_seq import SequenceEncoderConfig
    from protfusion import build_encoder as build_any

    config = resolve_checkpoint(config, key=key, load_checkpoint=load_checkpoint)
    if cls_output and isinstance(config, SequenceEncoderConfig):
        config = config.model_copy(update={"cls_output": True})
    return build_any(config, key=key, load_checkpoint=load_checkpoint)


def load_encoder_weights(module: Any, path: str | os.PathLike[str], key: str = "init_from") -> str:
    """:func:`protdata.weights.load_module_weights` with the messages under ``key`` (``init_from``)."""
    from protdata.weights import load_module_weights

    return load_module_weights(module, path, key=key)
