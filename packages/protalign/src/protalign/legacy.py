"""Convert a ProtCLIP run exported by ``apps/align.py`` in the older layout into a protstack model directory.

The older export: ``config.json`` = ``{"app": "align", "config": <run config with "encoder" and "model">,
"format": "protstack-checkpoint", "parameters": {...}, "step": N}``, ``model.safetensors`` = every ProtCLIP
tensor (temperatures possibly ``(1,)``-shaped, as a ZeRO-3 run keeps them) and ``text_encoder/`` = the text
model's config and tokenizer files. The protein encoder's weights path (``checkpoint``) is dropped: the weights
are in the export.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from protalign.config import ProtCLIPConfig
from protalign.errors import ProtalignError
from protdata.legacy import load_legacy_tensors, read_legacy_header, without_weights_path
from protdata.pretrained import CONFIG_NAME, LEGACY_HINTS, PretrainedFormatError, build_model

#: The one-line hint for such an export.
LEGACY_ALIGN_HINT = LEGACY_HINTS["align"]


def convert_align_export(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> Path:
    """Write the ProtCLIP of the older ``apps/align.py`` export ``source`` into ``target`` (module docstring); the
    old run config is kept under ``run_config``, ``app`` and ``step`` as they are.

    Raises:
        ProtalignError: ``source`` is not such an export, or its weights do not fit its config (names the tensor).
    """
    from protalign.model import TEXT_ENCODER_DIR, ProtCLIP
    from protalign.text_encoder import TextEncoder

    directory, header = read_legacy_header(source, ProtalignError)
    path = directory / CONFIG_NAME
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
    section["protein_encoder"] = without_weights_path(encoder)
    try:
        config = ProtCLIPConfig.model_validate(section)
        protein_encoder = build_model(config.protein_encoder, source=path)
    except (ValueError, PretrainedFormatError) as exc:
        raise ProtalignError(path, " ".join(str(exc).split())) from None
    text_encoder = TextEncoder.from_files(
        directory / TEXT_ENCODER_DIR, frozen=config.text_encoder.frozen, max_length=config.max_text_length
    )
    model = ProtCLIP(protein_encoder, text_encoder, config)
    model.load_state_dict(load_legacy_tensors(directory, model.state_dict(), ProtalignError, scalars=True))
    metadata: dict[str, Any] = {k: v for k, v in header.items() if k in ("app", "step")}
    metadata["run_config"] = run
    return model.save_pretrained(target, **metadata)
