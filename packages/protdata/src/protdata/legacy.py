"""Reading the apps' exports of the older layout (before :mod:`protdata.pretrained`), for the converters.

``prottasks.convert_finetune_export`` and ``protalign.convert_align_export`` share these steps: read the old
``config.json`` (a JSON object, not already in the protstack format), drop the weights paths (``checkpoint``)
of the old encoder section (the weights are in the export), and load the old ``model.safetensors`` checked
against the state dict of the model the converted config builds (every tensor present, every shape equal, no
tensor left over). Each converter passes its own error class (a :class:`~protdata.errors.ProtdataError`), so
the one-line messages name the file, the tensor and what is wrong.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from protdata.errors import ProtdataError
from protdata.pretrained import CONFIG_NAME, FORMAT, WEIGHTS_NAME

if TYPE_CHECKING:
    from torch import Tensor


def read_legacy_header(
    source: str | os.PathLike[str], error: type[ProtdataError] = ProtdataError
) -> tuple[Path, dict[str, Any]]:
    """``(directory, header)`` of the older export at ``source`` (its directory or its ``config.json``).

    Raises:
        error: ``config.json`` is unreadable, not a JSON object, or already in the protstack format.
    """
    source = Path(source)
    directory = source.parent if source.name == CONFIG_NAME else source
    path = directory / CONFIG_NAME
    try:
        header = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise error(path, f"not a readable config.json ({exc})") from None
    if not isinstance(header, dict):
        raise error(path, "config.json must hold a JSON object")
    if header.get("format") == FORMAT:
        raise error(path, "already a protstack model directory: nothing to convert")
    return directory, header


def without_weights_path(section: Mapping[str, Any]) -> dict[str, Any]:
    """``section`` with every nested ``checkpoint`` (a weights path) set to ``None``."""
    return {
        k: None if k == "checkpoint" else without_weights_path(v) if isinstance(v, Mapping) else v
        for k, v in section.items()
    }


def load_legacy_tensors(
    directory: Path,
    state: Mapping[str, Tensor],
    error: type[ProtdataError] = ProtdataError,
    *,
    rename: Callable[[str], str] | None = None,
    old_name: Callable[[str], str] | None = None,
    scalars: bool = False,
) -> dict[str, Tensor]:
    """The tensors of ``directory/model.safetensors`` under the names of ``state`` (``rename``: old name → new
    name), each in the dtype of its counterpart, ready for ``load_state_dict``.

    Args:
        old_name: How a new name is shown in messages (default: as it is).
        scalars: Accept a one-element tensor of another shape (a ZeRO-3 run's ``(1,)`` temperatures).

    Raises:
        error: an unreadable file, a missing tensor, a shape that differs, or a tensor left over (named).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    shown = old_name or (lambda name: name)
    weights = directory / WEIGHTS_NAME
    try:
        loaded = load_file(str(weights))
    except (SafetensorError, OSError) as exc:
        raise error(weights, f"not a readable safetensors file ({exc})") from None
    tensors = {rename(k): v for k, v in loaded.items()} if rename is not None else loaded
    for name, value in state.items():
        if name not in tensors:
            raise error(weights, f"no tensor {shown(name)!r} (written for another model?)")
        got = tensors[name]
        if scalars and got.numel() == 1 and value.numel() == 1:
            tensors[name] = got = got.reshape(value.shape)
        if tuple(got.shape) != tuple(value.shape):
            raise error(
                weights,
                f"{shown(name)} has shape {tuple(got.shape)}, the model its config builds needs "
                f"{tuple(value.shape)}",
            )
    extra = sorted(set(tensors) - set(state))
    if extra:
        raise error(weights, f"tensor {shown(extra[0])!r} has no counterpart in the model")
    return {k: tensors[k].to(v.dtype) for k, v in state.items()}
