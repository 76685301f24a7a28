"""From a checkpoint's tensors (our names) to a ready :class:`~protenc_seq.esm2.model.ESM2`.

The architecture is read from the tensors themselves (width and vocabulary from ``embed_tokens``, depth from
the largest layer index, FFN width from ``fc1``, head size from ``2·len(inv_freq)`` -- fair-esm
``pretrained.py`` (facebookresearch/esm); "Safer approach"), and checked against whatever the file's own
config declares and against the manifest.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from protenc_seq.alphabet import alphabet_for_vocab_size
from protenc_seq.errors import CheckpointError
from protenc_seq.esm2.config import ESM2Config
from protenc_seq.esm2.model import ESM2
from protenc_seq.loading import manifest

_LAYER_INDEX = re.compile(r"^layers\.(\d+)\.")


@dataclass
class RawCheckpoint:
    """Tensors read from a checkpoint, renamed to ours, plus what the file declares about itself.

    Attributes:
        state: Tensors under our names.
        source: The file or directory (for messages).
        files: Every file read (for sha256 checks).
        hints: ``ESM2Config`` fields the file's own config declares (num_layers, embed_dim, …).
        ignored: Tensors of other heads that were skipped (e.g. a classifier).
        config: A full config stored with the weights (our own format), used once the tensors agree with it.
    """

    state: dict[str, Tensor]
    source: str
    files: list[Path] = field(default_factory=list)
    hints: dict[str, object] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)
    config: ESM2Config | None = None


def infer_config(raw: RawCheckpoint) -> ESM2Config:
    """The :class:`ESM2Config` the tensors describe, cross-checked with the file's declared config."""
    state, source = raw.state, raw.source
    if "embed_tokens.weight" not in state:
        raise CheckpointError(source, "no token embedding tensor: not an ESM-2 / SaProt checkpoint")
    vocab_size, dim = state["embed_tokens.weight"].shape
    try:
        vocab = alphabet_for_vocab_size(int(vocab_size)).name
    except ValueError as err:
        raise CheckpointError(source, str(err)) from None
    indices = {int(m.group(1)) for k in state if (m := _LAYER_INDEX.match(k))}
    if not indices:
        raise CheckpointError(source, "no transformer layers found")
    num_layers = max(indices) + 1
    absent = sorted(set(range(num_layers)) - indices)
    if absent:
        raise CheckpointError(
            source, f"layer(s) {absent[:5]} missing out of {num_layers} (truncated checkpoint?)"
        )
    ffn = int(state["layers.0.fc1.weight"].shape[0]) if "layers.0.fc1.weight" in state else 4 * int(dim)
    if "rotary.inv_freq" in state:
        heads = int(dim) // (2 * int(state["rotary.inv_freq"].shape[0]))
    elif "contact_head.regression.weight" in state:
        heads = int(state["contact_head.regression.weight"].shape[1]) // num_layers
    elif raw.hints.get("attention_heads") is not None:
        heads = int(raw.hints["attention_heads"])  # type: ignore[arg-type]
    else:
        raise CheckpointError(source, "cannot tell the number of attention heads (no inv_freq, no config)")
    inferred = {"num_layers": num_layers, "embed_dim": int(dim), "attention_heads": heads, "ffn_dim": ffn}
    for key, value in inferred.items():
        declared = raw.hints.get(key)
        if declared is not None and int(declared) != value:  # type: ignore[call-overload]
            raise CheckpointError(
                source, f"its config declares {key}={declared} but its tensors describe {key}={value}"
            )
    declared_vocab = raw.hints.get("vocab")
    if declared_vocab is not None and declared_vocab != vocab:
        raise CheckpointError(
            source, f"its config declares the {declared_vocab} vocabulary but has {vocab_size} tokens"
        )
    try:
        return ESM2Config(
            name=raw.hints.get("name"),  # type: ignore[arg-type]
            num_layers=num_layers,
            embed_dim=int(dim),
            attention_heads=heads,
            ffn_dim=None if ffn == 4 * int(dim) else ffn,
            vocab=vocab,  # type: ignore[arg-type]
            token_dropout=bool(raw.hints.get("token_dropout", True)),
            layer_norm_eps=float(raw.hints.get("layer_norm_eps", 1e-5)),  # type: ignore[arg-type]
        )
    except ValueError as err:
        raise CheckpointError(source, f"inconsistent architecture: {err}") from None


def build_model(
    raw: RawCheckpoint,
    *,
    expect: str | ESM2Config | None = None,
    dtype: torch.dtype = torch.float32,
    verify_sha256: bool = False,
) -> ESM2:
    """Check ``raw`` against its inferred config, the manifest and ``expect``, and load it into an ``ESM2``.

    Args:
        raw: Tensors read by one of the format readers.
        expect: A preset name or config the checkpoint must match (a wrong size is a :class:`CheckpointError`).
        dtype: Parameter dtype (the rotary table stays float32 with its stored values).
        verify_sha256: Hash the files and compare with the manifest's pinned digests.
    """
    config = infer_config(raw)
    if raw.config is not None:  # our format: keep every stored option (dropout, window, …)
        config = raw.config.model_copy(
            update={"ffn_dim": config.ffn_dim, "token_dropout": config.token_dropout}
        )
    if expect is not None:
        want = ESM2Config.preset(expect) if isinstance(expect, str) else expect
        name = want.name or "the expected config"
        fields = ("num_layers", "embed_dim", "attention_heads", "vocab", "ffn")
        if any(getattr(want, f) != getattr(config, f) for f in fields):
            raise CheckpointError(
                raw.source,
                f"expected {name} ({manifest.describe(want)}) but the checkpoint holds a {manifest.describe(config)} model",
            )
    entry = manifest.lookup(raw.source)
    if entry is not None:
        manifest.check_against_entry(entry, config, raw.source)
        if verify_sha256:
            manifest.verify_files(entry, raw.files)
        config = config.model_copy(update={"name": entry.name})
    missing = manifest.check_state_dict(raw.state, config, raw.source)
    with torch.device("meta"):
        model = ESM2(config)
    model.load_state_dict(raw.state, strict=False, assign=True)
    _materialize(model)
    model.has_lm_head = not any(k.startswith("lm_head.") for k in missing)
    model.has_contact_head = not any(k.startswith("contact_head.") for k in missing)
    if "rotary.inv_freq" in missing:
        warnings.warn(
            f"{raw.source}: no rotary inv_freq stored; using 1/theta^(2i/d) in float32, which differs slightly from "
            "the fp16 table ESM-2 was trained with",
            stacklevel=3,
        )
    return model.to(dtype).eval()


def _materialize(model: ESM2) -> None:
    """Give tensors the checkpoint did not provide (optional heads, rotary table) real storage."""
    for module in model.modules():
        for name, param in list(module._parameters.items()):
            if param is not None and param.is_meta:
                value = torch.ones(param.shape) if _is_norm_weight(module, name) else torch.zeros(param.shape)
                module._parameters[name] = nn.Parameter(value, requires_grad=param.requires_grad)
        for name, buf in list(module._buffers.items()):
            if buf is not None and buf.is_meta:  # rotary inv_freq
                hd = 2 * buf.shape[0]
                theta = model.config.rope_theta
                module._buffers[name] = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))


def _is_norm_weight(module: nn.Module, name: str) -> bool:
    return isinstance(module, nn.LayerNorm) and name == "weight"
