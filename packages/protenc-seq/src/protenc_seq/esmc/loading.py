"""Load ESM C weights offline: a transformers directory (``model_type: esmc``) or an ``esm``-package state dict.

* A Hugging Face directory (``biohub/ESMC-300M`` / ``-600M`` / ``-6B`` layout): ``config.json`` with
  ``model_type: esmc`` and ``EsmcForMaskedLM`` (or bare ``EsmcModel``) weights as ``model.safetensors``, shards
  listed in ``model.safetensors.index.json`` or ``pytorch_model.bin`` (read with ``torch.load(weights_only=True)``).
* An ``esm``-package checkpoint (evolutionaryscale/esm: ``torch.load(.../esmc_300m_2024_12_v0.pth)`` then
  ``ESMC.load_state_dict``): a flat state dict in ``.pth`` / ``.pt`` (weights only) or ``.safetensors``.

The architecture is read from the tensors (width and table rows from the embedding, depth from the largest
block index, SwiGLU width from the down projection) and checked against the file's ``config.json`` and against
``expect``. The head count is not visible in the tensors (QK LayerNorm spans the full width): it comes from
``expect``, the config, or the published size with that depth and width (every released ESM C has 64-wide heads).
Nothing is downloaded.
"""

from __future__ import annotations

import json
import pickle
import re
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import save_file
from torch import Tensor

from protenc_seq.errors import CheckpointError
from protenc_seq.esmc.config import PRESETS, ESMCConfig, swiglu_hidden
from protenc_seq.esmc.convert import esm_to_ours, hf_to_ours, is_esm_package_layout, ours_to_hf
from protenc_seq.esmc.model import ESMC
from protenc_seq.esmc.tokenizer import ESMC_ALPHABET

_LAYER = re.compile(r"^layers\.(\d+)\.")


def read_config_json(directory: Path) -> dict[str, Any] | None:
    """``directory/config.json`` as a dict, or ``None`` when absent or unreadable."""
    path = directory / "config.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def is_esmc_huggingface_dir(path: str | Path) -> bool:
    """True for a directory whose ``config.json`` says ``model_type: esmc``."""
    path = Path(path)
    config = read_config_json(path) if path.is_dir() else None
    return config is not None and config.get("model_type") == "esmc"


def is_esm_package_file(path: str | Path) -> bool:
    """True for a ``.pth`` / ``.pt`` / ``.safetensors`` file holding an ``esm``-package ESM C state dict (read
    lazily: memory-mapped, weights only)."""
    path = Path(path)
    if not path.is_file():
        return False
    try:
        if path.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as f:
                return is_esm_package_layout(dict.fromkeys(f.keys()))  # type: ignore[arg-type]
        if path.suffix in (".pt", ".pth"):
            data = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            return isinstance(data, dict) and is_esm_package_layout(data)
    except (pickle.UnpicklingError, RuntimeError, OSError, ValueError, EOFError, SafetensorError):
        return False  # not ours to read: the other readers say why
    return False


# ------------------------------------------------------------------------------------------------- readers
def read_esmc_huggingface(directory: str | Path) -> tuple[dict[str, Tensor], dict[str, Any], bool]:
    """A transformers ESM C directory -> ``(state in our names, hints, has_lm_head)``."""
    from protenc_seq.loading.huggingface import _read_weights

    directory = Path(directory)
    config = read_config_json(directory)
    if config is None:
        raise CheckpointError(directory, "no readable config.json: not a Hugging Face model directory")
    if config.get("model_type") != "esmc":
        raise CheckpointError(
            directory / "config.json", f"model_type is {config.get('model_type')!r}, not 'esmc'"
        )
    for key, want in (("pad_token_id", 1), ("mask_token_id", 32), ("bos_token_id", 0), ("eos_token_id", 2)):
        if config.get(key) is not None and config[key] != want:
            raise CheckpointError(
                directory / "config.json", f"{key} is {config[key]}, ESM C's vocabulary has {want}"
            )
    if config.get("num_key_value_heads") not in (None, config.get("num_attention_heads")):
        raise CheckpointError(directory / "config.json", "grouped-query attention: not an ESM C architecture")
    if config.get("hidden_act", "silu") != "silu" or config.get("attention_bias") or config.get("mlp_bias"):
        raise CheckpointError(
            directory / "config.json", "hidden_act / biases differ from ESM C's (silu, no bias)"
        )
    rope = config.get("rope_parameters") or {}
    theta = rope.get("rope_theta", config.get("rope_theta", 10000.0))
    if rope.get("rope_type", "default") != "default":
        raise CheckpointError(
            directory / "config.json", f"rope_type {rope.get('rope_type')!r} is not ESM C's"
        )
    state, _files = _read_weights(directory)
    ours, _ignored, unknown = hf_to_ours(state)
    if unknown:
        raise CheckpointError(directory, f"unrecognised ESM C tensor(s): {', '.join(unknown[:5])}")
    hints = {
        "num_layers": config.get("num_hidden_layers"),
        "embed_dim": config.get("hidden_size"),
        "attention_heads": config.get("num_attention_heads"),
        "ffn_dim": config.get("intermediate_size"),
        "vocab_rows": config.get("vocab_size"),
        "rope_theta": theta,
    }
    has_head = any(k.startswith("lm_head.") for k in ours)
    return ours, {k: v for k, v in hints.items() if v is not None}, has_head


def read_esm_package(path: str | Path) -> dict[str, Tensor]:
    """An ``esm``-package ESM C state dict file -> our names."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from protenc_seq.loading.huggingface import read_safetensors_file

        state: Any = read_safetensors_file(path)
    else:
        from protenc_seq.loading.fair_esm import torch_load_weights_only

        state = torch_load_weights_only(path)
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]  # a training checkpoint wrapping the state dict
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise CheckpointError(path, "not a state dict of tensors")
    if not is_esm_package_layout(state):
        raise CheckpointError(
            path, "not an esm-package ESM C state dict (no transformer.blocks.0.attn.layernorm_qkv)"
        )
    ours, _ignored, unknown = esm_to_ours(state)
    if unknown:
        raise CheckpointError(path, f"unrecognised ESM C tensor(s): {', '.join(unknown[:5])}")
    return ours


# ------------------------------------------------------------------------------------------------ building
def infer_esmc_config(
    state: dict[str, Tensor],
    source: str | Path,
    hints: dict[str, Any] | None = None,
    expect: ESMCConfig | None = None,
) -> ESMCConfig:
    """The :class:`ESMCConfig` the tensors describe (module docstring), checked against ``hints`` and ``expect``."""
    hints = hints or {}
    if "embed_tokens.weight" not in state:
        raise CheckpointError(source, "no token embedding: not an ESM C checkpoint")
    rows, dim = (int(s) for s in state["embed_tokens.weight"].shape)
    indices = {int(m.group(1)) for k in state if (m := _LAYER.match(k))}
    if not indices:
        raise CheckpointError(source, "no transformer blocks found")
    num_layers = max(indices) + 1
    absent = sorted(set(range(num_layers)) - indices)
    if absent:
        raise CheckpointError(
            source, f"block(s) {absent[:5]} missing out of {num_layers} (truncated checkpoint?)"
        )
    down = state.get("layers.0.ffn.down_proj.weight")
    if down is None:
        raise CheckpointError(source, "layers.0: no FFN down projection")
    ffn = int(down.shape[1])
    inferred = {"num_layers": num_layers, "embed_dim": dim, "ffn": ffn, "vocab_rows": rows}
    declared = {**hints, "ffn": hints.get("ffn_dim")}
    for key, value in inferred.items():
        if declared.get(key) is not None and int(declared[key]) != value:
            raise CheckpointError(
                source, f"its config declares {key}={declared[key]} but its tensors describe {value}"
            )
    heads = hints.get("attention_heads")
    if heads is None and expect is not None:
        heads = expect.attention_heads
    if heads is None:
        known = [p for p in PRESETS.values() if (p["num_layers"], p["embed_dim"]) == (num_layers, dim)]
        if not known:
            raise CheckpointError(
                source,
                f"{num_layers} blocks × {dim} is no published ESM C size and the file has no config: pass expect= "
                "an ESMCConfig to give the number of attention heads",
            )
        heads = known[0]["attention_heads"]
    try:
        config = ESMCConfig(
            num_layers=num_layers,
            embed_dim=dim,
            attention_heads=int(heads),
            ffn_dim=None if ffn == swiglu_hidden(dim) else ffn,
            vocab_rows=rows,
            rope_theta=float(hints.get("rope_theta", 10000.0)),
        )
    except ValueError as err:
        raise CheckpointError(source, f"inconsistent architecture: {err}") from None
    for name in PRESETS:  # a published size: keep its name
        if ESMCConfig.preset(name) == config.model_copy(update={"name": name}):
            config = ESMCConfig.preset(name)
    if expect is not None:
        fields = ("num_layers", "embed_dim", "attention_heads", "ffn", "vocab_rows", "rope_theta")
        if any(getattr(expect, f) != getattr(config, f) for f in fields):
            raise CheckpointError(
                source, f"expected {_describe(expect)} but the checkpoint holds {_describe(config)}"
            )
        config = expect
    return config


def _describe(config: ESMCConfig) -> str:
    return (
        f"{config.name or 'ESM C'} ({config.num_layers} blocks × {config.embed_dim}, {config.attention_heads} heads, "
        f"FFN {config.ffn})"
    )


def build_esmc(
    state: dict[str, Tensor], config: ESMCConfig, source: str | Path, *, has_lm_head: bool = True
) -> ESMC:
    """An :class:`ESMC` of ``config`` holding ``state`` (our names), every shape checked; no LM head allowed."""
    expected = config.expected_shapes()
    for key, value in state.items():
        if key not in expected:
            raise CheckpointError(source, f"unexpected tensor {key}")
        if tuple(value.shape) != expected[key]:
            raise CheckpointError(
                source, f"tensor {key} has shape {tuple(value.shape)}, expected {expected[key]}"
            )
    missing = [k for k in expected if k not in state and not (k.startswith("lm_head.") and not has_lm_head)]
    if missing:
        raise CheckpointError(source, f"missing tensor(s): {', '.join(missing[:5])}")
    model = ESMC(config)
    model.load_state_dict(state, strict=False)
    model.has_lm_head = has_lm_head
    return model


def load_esmc(
    path: str | Path, *, expect: str | ESMCConfig | None = None, dtype: torch.dtype = torch.float32
) -> ESMC:
    """Load an :class:`ESMC` in eval mode from a transformers directory or an ``esm``-package state dict file.

    Args:
        path: A directory with ``config.json`` (``model_type: esmc``) or a ``.pth`` / ``.pt`` / ``.safetensors``
            state dict in the ``esm`` package's names.
        expect: A preset name (``"300M"``, ``"esmc_600m"``, …) or config the checkpoint must match.
        dtype: Parameter dtype.
    """
    path = Path(path)
    want = ESMCConfig.preset(expect) if isinstance(expect, str) else expect
    if not path.exists():
        raise CheckpointError(path, "no such file or directory")
    if path.is_dir():
        state, hints, has_head = read_esmc_huggingface(path)
    else:
        state, hints = read_esm_package(path), {}
        has_head = any(k.startswith("lm_head.") for k in state)
    config = infer_esmc_config(state, path, hints, want)
    return build_esmc(state, config, path, has_lm_head=has_head).to(dtype).eval()


# ------------------------------------------------------------------------------------------------- writers
def esmc_hf_config(model: ESMC) -> dict[str, Any]:
    """A transformers ``EsmcConfig`` (``config.json``) for ``model``."""
    c = model.config
    a = ESMC_ALPHABET
    return {
        "architectures": ["EsmcForMaskedLM"],
        "model_type": "esmc",
        "vocab_size": c.vocab_rows,
        "hidden_size": c.embed_dim,
        "intermediate_size": c.ffn,
        "num_hidden_layers": c.num_layers,
        "num_attention_heads": c.attention_heads,
        "num_key_value_heads": c.attention_heads,
        "head_dim": c.head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": 2048,
        "rope_parameters": {"rope_type": "default", "rope_theta": c.rope_theta},
        "attention_bias": False,
        "attention_dropout": c.attention_dropout,
        "mlp_bias": False,
        "pad_token_id": a.pad_id,
        "bos_token_id": a.cls_id,
        "eos_token_id": a.eos_id,
        "mask_token_id": a.mask_id,
        "tie_word_embeddings": False,
        "dtype": "float32",
    }


def save_esmc_huggingface(model: ESMC, directory: str | Path) -> Path:
    """Write ``model`` as a transformers ``EsmcForMaskedLM`` directory (``config.json`` + ``model.safetensors``)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    hf = {k: v.contiguous().clone() for k, v in ours_to_hf(state).items()}
    save_file(hf, directory / "model.safetensors", metadata={"format": "pt"})
    (directory / "config.json").write_text(json.dumps(esmc_hf_config(model), indent=2) + "\n")
    return directory
