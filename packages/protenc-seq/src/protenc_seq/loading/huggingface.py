"""Read and write Hugging Face ESM directories (``EsmForMaskedLM`` / ``EsmModel``; ESM-2 and SaProt).

A directory holds ``config.json`` and the weights as ``model.safetensors``, ``pytorch_model.bin`` (read with
``torch.load(weights_only=True)``) or shards listed in ``model.safetensors.index.json`` /
``pytorch_model.bin.index.json`` (Hugging Face ESM-2 and SaProt directories). Names are mapped with the table
of ``convert.py``. Written directories load with transformers' ``EsmForMaskedLM.from_pretrained``; they keep
the rotary ``inv_freq`` per layer, as the hub files do.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor

from protenc_seq.errors import CheckpointError
from protenc_seq.esm2.model import ESM2
from protenc_seq.loading.checkpoint import RawCheckpoint
from protenc_seq.loading.convert import fair_to_hf, fair_to_ours, hf_to_fair, ours_to_fair
from protenc_seq.loading.fair_esm import torch_load_weights_only

WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)


def is_huggingface_dir(path: Path) -> bool:
    if not (path / "config.json").is_file():
        return False
    try:
        return json.loads((path / "config.json").read_text()).get("model_type") == "esm"
    except (json.JSONDecodeError, OSError):
        return False


def read_safetensors_file(path: Path) -> dict[str, Tensor]:
    try:
        return load_file(path, device="cpu")
    except (SafetensorError, OSError) as err:
        raise CheckpointError(path, f"cannot be read as safetensors (truncated or corrupt?): {err}") from None


def _read_weights(directory: Path) -> tuple[dict[str, Tensor], list[Path]]:
    for name in WEIGHT_FILES:
        path = directory / name
        if not path.is_file():
            continue
        if name.endswith(".index.json"):
            try:
                weight_map = json.loads(path.read_text())["weight_map"]
            except (json.JSONDecodeError, KeyError, TypeError) as err:
                raise CheckpointError(path, f"not a shard index (needs 'weight_map'): {err}") from None
            state: dict[str, Tensor] = {}
            files = [path]
            for shard in sorted(set(weight_map.values())):
                shard_path = directory / shard
                part = (
                    read_safetensors_file(shard_path)
                    if shard.endswith(".safetensors")
                    else _read_bin(shard_path)
                )
                state.update(part)
                files.append(shard_path)
            listed = set(weight_map) - set(state)
            if listed:
                raise CheckpointError(path, f"tensor {sorted(listed)[0]} is listed but absent from its shard")
            return state, files
        if name.endswith(".safetensors"):
            return read_safetensors_file(path), [path]
        return _read_bin(path), [path]
    raise CheckpointError(directory, f"no weights found (looked for {', '.join(WEIGHT_FILES)})")


def _read_bin(path: Path) -> dict[str, Tensor]:
    data = torch_load_weights_only(path)
    if not isinstance(data, dict) or not all(isinstance(v, Tensor) for v in data.values()):
        raise CheckpointError(path, "not a state dict of tensors")
    return data


def read_huggingface(directory: str | Path) -> RawCheckpoint:
    """Read a Hugging Face ESM directory into our names."""
    directory = Path(directory)
    config_path = directory / "config.json"
    if not config_path.is_file():
        raise CheckpointError(directory, "no config.json: not a Hugging Face model directory")
    try:
        config = json.loads(config_path.read_text())
    except json.JSONDecodeError as err:
        raise CheckpointError(config_path, f"invalid JSON: {err}") from None
    if config.get("model_type") != "esm":
        raise CheckpointError(config_path, f"model_type is {config.get('model_type')!r}, not 'esm'")
    if config.get("position_embedding_type", "absolute") != "rotary":
        raise CheckpointError(
            config_path, "position_embedding_type is not 'rotary': ESM-1b/ESM-1v checkpoints are not ESM-2"
        )
    if config.get("emb_layer_norm_before"):
        raise CheckpointError(config_path, "emb_layer_norm_before is set: not an ESM-2 architecture")
    if config.get("is_folding_model"):
        raise CheckpointError(config_path, "an ESMFold checkpoint, not an ESM-2 language model")
    state, files = _read_weights(directory)
    fair, ignored = hf_to_fair(state, str(directory))
    ours, unknown = fair_to_ours(fair, str(directory))
    if unknown:  # pragma: no cover - hf_to_fair only emits known names
        raise CheckpointError(directory, f"unrecognised tensor(s): {', '.join(unknown[:5])}")
    vocab_size = config.get("vocab_size")
    hints: dict[str, object] = {
        "num_layers": config.get("num_hidden_layers"),
        "embed_dim": config.get("hidden_size"),
        "attention_heads": config.get("num_attention_heads"),
        "ffn_dim": config.get("intermediate_size"),
        "token_dropout": config.get("token_dropout"),
        "layer_norm_eps": config.get("layer_norm_eps"),
        "vocab": {33: "esm", 446: "saprot"}.get(vocab_size) if vocab_size is not None else None,
    }
    expected_mask = {33: 32, 446: 4}.get(vocab_size or 0)
    if expected_mask is not None and config.get("mask_token_id", expected_mask) != expected_mask:
        raise CheckpointError(
            config_path, f"mask_token_id {config['mask_token_id']} is not {expected_mask} for this vocabulary"
        )
    if config.get("pad_token_id", 1) != 1:
        raise CheckpointError(config_path, f"pad_token_id {config['pad_token_id']} is not 1")
    return RawCheckpoint(
        state=ours,
        source=str(directory),
        files=files,
        hints={k: v for k, v in hints.items() if v is not None},
        ignored=ignored,
    )


def hf_config(model: ESM2) -> dict[str, object]:
    """A transformers ``EsmConfig`` (``config.json``) for ``model``."""
    c = model.config
    alphabet = model.alphabet
    return {
        "architectures": ["EsmForMaskedLM"],
        "model_type": "esm",
        "vocab_size": c.vocab_size,
        "hidden_size": c.embed_dim,
        "num_hidden_layers": c.num_layers,
        "num_attention_heads": c.attention_heads,
        "intermediate_size": c.ffn,
        "hidden_act": "gelu",
        "hidden_dropout_prob": c.dropout,
        "attention_probs_dropout_prob": c.attention_dropout,
        "max_position_embeddings": 1026,
        "layer_norm_eps": c.layer_norm_eps,
        "position_embedding_type": "rotary",
        "rope_theta": c.rope_theta,
        "token_dropout": c.token_dropout,
        "mask_token_id": alphabet.mask_id,
        "pad_token_id": alphabet.pad_id,
        "eos_token_id": alphabet.eos_id,
        "emb_layer_norm_before": False,
        "is_folding_model": False,
        "tie_word_embeddings": True,
        "initializer_range": 0.02,
        "torch_dtype": "float32",
    }


def save_huggingface(model: ESM2, directory: str | Path) -> Path:
    """Write ``model`` as a Hugging Face ``EsmForMaskedLM`` directory (config.json, model.safetensors, vocab.txt)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    fair = ours_to_fair(state, model.config.num_layers)
    hf = {k: v.contiguous().clone() for k, v in fair_to_hf(fair).items()}
    save_file(hf, directory / "model.safetensors", metadata={"format": "pt"})
    (directory / "config.json").write_text(json.dumps(hf_config(model), indent=2) + "\n")
    (directory / "vocab.txt").write_text("\n".join(model.alphabet.tokens) + "\n")
    a = model.alphabet
    special = {
        "cls_token": a.tokens[a.cls_id],
        "pad_token": a.tokens[a.pad_id],
        "eos_token": a.tokens[a.eos_id],
        "unk_token": a.tokens[a.unk_id],
        "mask_token": a.tokens[a.mask_id],
    }
    (directory / "special_tokens_map.json").write_text(json.dumps(special, indent=2) + "\n")
    tokenizer_config = {"tokenizer_class": "EsmTokenizer", "model_max_length": 1026, **special}
    (directory / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2) + "\n")
    return directory


def hf_state_dict(model: ESM2) -> dict[str, torch.Tensor]:
    """``model``'s tensors under Hugging Face names (as :func:`save_huggingface` writes them)."""
    state = {k: v.detach() for k, v in model.state_dict().items()}
    return fair_to_hf(ours_to_fair(state, model.config.num_layers))
