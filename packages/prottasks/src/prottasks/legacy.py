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

import os
from pathlib import Path
from typing import Any

from protdata.legacy import load_legacy_tensors, read_legacy_header, without_weights_path
from protdata.pretrained import CONFIG_NAME, LEGACY_HINTS, model_class
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
    from prottasks.task_model import TaskModel

    directory, header = read_legacy_header(source, ProttasksError)
    path = directory / CONFIG_NAME
    task = header.get(TASK_KEY)
    if not isinstance(task, dict):
        raise ProttasksError(path, f"no {TASK_KEY!r} section: not an apps/finetune.py export")
    for key in ("encoder", "head", "labels", "kind"):
        if key not in task:
            raise ProttasksError(path, f"{TASK_KEY}.{key} is missing")
    if not isinstance(task["encoder"], dict) or not isinstance(task["head"], dict):
        raise ProttasksError(path, f"{TASK_KEY}.encoder and {TASK_KEY}.head must be objects")
    encoder = without_weights_path(task["encoder"])
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
    model.load_state_dict(
        load_legacy_tensors(
            directory, model.state_dict(), ProttasksError, rename=_new_name, old_name=_old_name
        )
    )
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


def _new_name(name: str) -> str:
    """The task model's name of the old head module's tensor ``name``."""
    return name if name.startswith("encoder.") else f"head.{name}"


def _old_name(name: str) -> str:
    return name.removeprefix("head.")
