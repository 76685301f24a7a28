"""Convert a fine-tuned model exported by ``apps/finetune.py`` in the older layout into a task model directory.

The older export: ``config.json`` = ``{"app": "finetune", "config": <run config>, "task": {"kind", "encoder",
"head", "labels", ...}, "format": "protstack-checkpoint", "parameters": {...}, "step": N}`` and ``model.safetensors`` = the head module's state dict (``encoder.*`` + the
head's own tensors, e.g. ``dense.weight``). The apps rebuilt the encoder with its ``<cls>`` output for a Function
Caller head on a plain ESM-2 / SaProt encoder and let the head read the protein feature of any other encoder; the
conversion states both explicitly (``encoder.cls_output: true`` or ``head.pooling: protein``), and the export's
inference truncation becomes ``max_length``, so the converted model's ``predict`` scores exactly what
``apps/predict.py`` scored. The encoder's weights path (``checkpoint``) is dropped: the
weights are in the export.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from protdata.pretrained import CONFIG_NAME, FORMAT, LEGACY_HINTS, WEIGHTS_NAME, model_class
from prottasks.errors import ProttasksError

#: ``config.json`` key of the older fine-tuning exports.
TASK_KEY = "task"
#: The one-line hint :func:`protdata.pretrained.read_config` gives for such an export.
LEGACY_TASK_HINT = LEGACY_HINTS["finetune"]


def convert_finetune_export(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> Path:
    """Write the task model of the older fine-tuning export ``source`` into ``target`` (module docstring).

    The old ``task`` section (labels' kind, GO namespace, names, ontology, transform, ...) is kept under
    ``task`` in the new ``config.json`` (without ``encoder`` / ``head``, which are now the model config), the old
    run config under ``run_config``, the other old keys (``app``, ``step``) as they are (not the old
    ``format`` and ``parameters``: the tensor names changed).

    Raises:
        ProttasksError: ``source`` is not such an export, or its weights do not fit its config (names the tensor).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from prottasks.task_model import TaskModel

    source = Path(source)
    directory = source.parent if source.name == CONFIG_NAME else source
    path = directory / CONFIG_NAME
    try:
        header = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProttasksError(path, f"not a readable config.json ({exc})") from None
    if not isinstance(header, dict):
        raise ProttasksError(path, "config.json must hold a JSON object")
    if header.get("format") == FORMAT:
        raise ProttasksError(path, "already a protstack model directory: nothing to convert")
    task = header.get(TASK_KEY)
    if not isinstance(task, dict):
        raise ProttasksError(path, f"no {TASK_KEY!r} section: not an apps/finetune.py export")
    for key in ("encoder", "head", "labels", "kind"):
        if key not in task:
            raise ProttasksError(path, f"{TASK_KEY}.{key} is missing")
    if not isinstance(task["encoder"], dict) or not isinstance(task["head"], dict):
        raise ProttasksError(path, f"{TASK_KEY}.encoder and {TASK_KEY}.head must be objects")
    encoder = _without_weights_path(task["encoder"])
    head = dict(task["head"])
    if head.get("type") == "function_caller" and head.get("pooling", "cls") == "cls":
        fields = getattr(model_class(str(encoder.get("type")), source=path).config_class, "model_fields", {})
        if "cls_output" in fields:
            encoder["cls_output"] = True  # the apps' ClsEncoder
        else:
            head["pooling"] = "protein"  # the apps' fallback for encoders without <cls>
    transform = task.get("transform") or {}
    max_length = transform.get("max_length") if transform.get("type") == "truncate" else None
    config = {
        "encoder": encoder,
        "head": head,
        "labels": task["labels"],
        "kind": task["kind"],
        "max_length": max_length,
    }
    try:
        model = TaskModel(config)
    except ValueError as exc:  # pydantic's ValidationError and protstack errors are ValueErrors
        raise ProttasksError(path, f"{TASK_KEY}: {' '.join(str(exc).split())}") from None
    weights = directory / WEIGHTS_NAME
    try:
        tensors = load_file(str(weights))
    except (SafetensorError, OSError) as exc:
        raise ProttasksError(weights, f"not a readable safetensors file ({exc})") from None
    renamed = {k if k.startswith("encoder.") else f"head.{k}": v for k, v in tensors.items()}
    target_state = model.state_dict()
    for name, value in target_state.items():
        if name not in renamed:
            raise ProttasksError(weights, f"no tensor {_old_name(name)!r} (written for another model?)")
        if tuple(renamed[name].shape) != tuple(value.shape):
            raise ProttasksError(
                weights,
                f"{_old_name(name)} has shape {tuple(renamed[name].shape)}, the model its config builds needs "
                f"{tuple(value.shape)}",
            )
    extra = sorted(set(renamed) - set(target_state))
    if extra:
        raise ProttasksError(weights, f"tensor {_old_name(extra[0])!r} has no counterpart in the model")
    model.load_state_dict(renamed)
    reserved = {
        "config",
        TASK_KEY,
        "format",
        "format_version",
        "type",
        "parameters",
    }  # old tensor shapes: renamed
    metadata: dict[str, Any] = {k: v for k, v in header.items() if k not in reserved}
    metadata[TASK_KEY] = {k: v for k, v in task.items() if k not in ("encoder", "head")}
    if "config" in header:
        metadata["run_config"] = header["config"]
    return model.save_pretrained(target, **metadata)


def _old_name(name: str) -> str:
    return name.removeprefix("head.")


def _without_weights_path(section: dict[str, Any]) -> dict[str, Any]:
    """``section`` with every nested ``checkpoint`` set to ``None``."""
    out: dict[str, Any] = {}
    for key, value in section.items():
        if key == "checkpoint":
            out[key] = None
        elif isinstance(value, dict):
            out[key] = _without_weights_path(value)
        else:
            out[key] = value
    return out
