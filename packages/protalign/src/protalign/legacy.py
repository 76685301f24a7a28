"""Convert a ProtCLIP run exported by ``apps/align.py`` in the older layout into a protstack model directory.

The older export: ``config.json`` = ``{"app": "align", "config": <run config with "encoder" and "model">,
"format": "protstack-checkpoint", "parameters": {...}, "step": N}``, ``model.safetensors`` = every ProtCLIP
tensor (temperatures possibly ``(1,)``-shaped, as a ZeRO-3 run keeps them) and ``text_encoder/`` = the text
model's config and tokenizer files. The protein encoder's weights path (``checkpoint``) is dropped: the weights
are in the export.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from protalign.config import ProtCLIPConfig
from protalign.errors import ProtalignError
from protdata.pretrained import (
    CONFIG_NAME,
    FORMAT,
    LEGACY_HINTS,
    WEIGHTS_NAME,
    PretrainedFormatError,
    build_model,
)

#: The one-line hint for such an export.
LEGACY_ALIGN_HINT = LEGACY_HINTS["align"]


def convert_align_export(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> Path:
    """Write the ProtCLIP of the older ``apps/align.py`` export ``source`` into ``target`` (module docstring); the
    old run config is kept under ``run_config``, ``app`` and ``step`` as they are.

    Raises:
        ProtalignError: ``source`` is not such an export, or its weights do not fit its config (names the tensor).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from protalign.model import TEXT_ENCODER_DIR, ProtCLIP
    from protalign.text_encoder import TextEncoder

    source = Path(source)
    directory = source.parent if source.name == CONFIG_NAME else source
    path = directory / CONFIG_NAME
    try:
        header = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtalignError(path, f"not a readable config.json ({exc})") from None
    if not isinstance(header, dict):
        raise ProtalignError(path, "config.json must hold a JSON object")
    if header.get("format") == FORMAT:
        raise ProtalignError(path, "already a protstack model directory: nothing to convert")
    run = header.get("config")
    if header.get("app") != "align" or not isinstance(run, dict):
        raise ProtalignError(path, 'not an apps/align.py export (no "app": "align" with its "config")')
    encoder = run.get("encoder")
    if not isinstance(encoder, dict):
        raise ProtalignError(path, "config.encoder is missing")
    section = dict(run.get("model") or {})
    text = section.get("text_encoder") or {}
    section["text_encoder"] = {
        "type": "hf_text_encoder",
        "path": TEXT_ENCODER_DIR,
        "frozen": text.get("frozen", True),
    }
    section["protein_encoder"] = _without_weights_path(encoder)
    try:
        config = ProtCLIPConfig.model_validate(section)
        protein_encoder = build_model(config.protein_encoder, source=path)
    except (ValueError, PretrainedFormatError) as exc:
        raise ProtalignError(path, " ".join(str(exc).split())) from None
    text_encoder = TextEncoder.from_files(
        directory / TEXT_ENCODER_DIR, frozen=config.text_encoder.frozen, max_length=config.max_text_length
    )
    model = ProtCLIP(protein_encoder, text_encoder, config)
    weights = directory / WEIGHTS_NAME
    try:
        tensors = load_file(str(weights))
    except (SafetensorError, OSError) as exc:
        raise ProtalignError(weights, f"not a readable safetensors file ({exc})") from None
    state = model.state_dict()
    for name, value in state.items():
        if name not in tensors:
            raise ProtalignError(weights, f"no tensor {name!r} (written for another model?)")
        got = tensors[name]
        if got.numel() == 1 and value.numel() == 1:
            tensors[name] = got = got.reshape(value.shape)  # a ZeRO-3 run's (1,) temperatures
        if tuple(got.shape) != tuple(value.shape):
            raise ProtalignError(
                weights,
                f"{name} has shape {tuple(got.shape)}, the model its config builds needs {tuple(value.shape)}",
            )
    extra = sorted(set(tensors) - set(state))
    if extra:
        raise ProtalignError(weights, f"tensor {extra[0]!r} has no counterpart in the model")
    model.load_state_dict({k: tensors[k].to(v.dtype) for k, v in state.items()})
    metadata: dict[str, Any] = {k: v for k, v in header.items() if k in ("app", "step")}
    metadata["run_config"] = run
    return model.save_pretrained(target, **metadata)


def _without_weights_path(section: dict[str, Any]) -> dict[str, Any]:
    """``section`` with every nested ``checkpoint`` set to ``None``."""
    return {
        k: None if k == "checkpoint" else _without_weights_path(v) if isinstance(v, dict) else v
        for k, v in section.items()
    }
