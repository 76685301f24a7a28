"""Our own checkpoint format: one safetensors file whose metadata holds the ``ESM2Config`` as JSON.

``save_safetensors(model, "m.safetensors")`` also writes the same config beside it as ``m.json`` (easy to read;
``read_safetensors`` uses it when the file's metadata has no config, and refuses a disagreement).
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError
from safetensors import safe_open
from safetensors.torch import save_file

from protenc_seq.errors import CheckpointError
from protenc_seq.esm2.config import ESM2Config
from protenc_seq.esm2.model import ESM2
from protenc_seq.loading.checkpoint import RawCheckpoint
from protenc_seq.loading.huggingface import read_safetensors_file

FORMAT = "protenc_seq.esm2"


def save_safetensors(model: ESM2, path: str | Path) -> Path:
    """Write ``model`` (our tensor names) and its config to ``path`` (``.safetensors``) and ``path.json``."""
    path = Path(path)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    config = model.config.model_dump_json()
    save_file(state, path, metadata={"format": FORMAT, "config": config})
    path.with_suffix(".json").write_text(json.dumps(json.loads(config), indent=2) + "\n")
    return path


def is_native(path: Path) -> bool:
    if path.suffix != ".safetensors" or not path.is_file():
        return False
    try:
        with safe_open(path, framework="pt") as handle:
            return (handle.metadata() or {}).get("format") == FORMAT
    except Exception:
        return False


def read_config(path: Path) -> ESM2Config | None:
    """The config stored in ``path``'s metadata or its ``.json`` sidecar (they must agree), if any."""
    stored = None
    try:
        with safe_open(path, framework="pt") as handle:
            stored = (handle.metadata() or {}).get("config")
    except Exception as err:
        raise CheckpointError(path, f"cannot be read as safetensors (truncated or corrupt?): {err}") from None
    sidecar = path.with_suffix(".json")
    side = sidecar.read_text() if sidecar.is_file() else None
    try:
        configs = [ESM2Config.model_validate_json(t) for t in (stored, side) if t is not None]
    except ValidationError as err:
        raise CheckpointError(path, f"invalid stored config: {err}") from None
    if len(configs) == 2 and configs[0] != configs[1]:
        raise CheckpointError(sidecar, f"disagrees with the config stored in {path.name}")
    return configs[0] if configs else None


def read_safetensors(path: str | Path) -> RawCheckpoint:
    """Read our safetensors checkpoint (tensors under our names)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "no such file")
    config = read_config(path)
    state = read_safetensors_file(path)
    hints: dict[str, object] = {}
    if config is not None:
        hints = {
            "name": config.name,
            "num_layers": config.num_layers,
            "embed_dim": config.embed_dim,
            "attention_heads": config.attention_heads,
            "ffn_dim": config.ffn,
            "vocab": config.vocab,
            "token_dropout": config.token_dropout,
            "layer_norm_eps": config.layer_norm_eps,
        }
    return RawCheckpoint(state=state, source=str(path), files=[path], hints=hints, config=config)
