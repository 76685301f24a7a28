"""Load the weights a module needs from a safetensors file that may hold more (e.g. a whole model's export).

:func:`load_module_weights` finds the prefix under which a file holds *every* tensor of a module (``""``,
``encoder.``, ``model.encoder.`` for an MLM export, …), checks the shapes and loads them; the file's other tensors
(an objective's heads, a task head) are ignored. A protstack model directory (``protdata.save_pretrained``) is
read through its ``model.safetensors``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from protdata.errors import WeightsError

__all__ = ["load_module_weights", "read_safetensors"]


def _where(path: Path, key: str | None) -> str:
    return f"{key}: {path}" if key else str(path)


def read_safetensors(path: str | os.PathLike[str], *, key: str | None = None) -> dict[str, Any]:
    """All tensors of safetensors file ``path`` (torch tensors on the CPU).

    Raises:
        WeightsError: no such file, or not a readable safetensors file (the message starts with ``key: path``).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise WeightsError(_where(path, key), "no such weights file")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        reason = " ".join(str(exc).split())
        raise WeightsError(_where(path, key), f"not a readable safetensors file ({reason})") from None


def load_module_weights(module: Any, path: str | os.PathLike[str], *, key: str | None = None) -> str:
    """Load into ``module`` (an ``nn.Module``) its tensors from safetensors file ``path`` (or a model directory's
    ``model.safetensors``), under the prefix that holds all of them (module docstring). Returns a one-line
    description (``loaded N tensors [under 'prefix'] from path [(M others ignored)]``).

    Raises:
        WeightsError: unreadable file, no prefix covers the module (names the first missing tensor), or a
            tensor of the wrong size (names it and both shapes). Messages start with ``key: path``.
    """
    path = Path(path)
    if path.is_dir():  # a protstack model directory
        path = path / "model.safetensors"
    tensors = read_safetensors(path, key=key)
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
                    raise WeightsError(
                        _where(path, key),
                        f"wrong-size weights: {prefix + name} has shape {tuple(got.shape)} in the file but "
                        f"{tuple(value.shape)} in the model",
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
    raise WeightsError(
        _where(path, key),
        f"does not hold the weights of this model: no tensor {prefix + missing!r} ({max(best[0], 0)} of "
        f"{len(target)} found; was it written for another encoder?)",
    )
