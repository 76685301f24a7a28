"""Parameter-name conversions between fair-esm, Hugging Face and our ESM-2 state dicts.

fair-esm names (after its ``^(encoder.sentence_encoder.|encoder.)`` prefix strip) and the Hugging Face names
follow transformers' ``convert_esm.py`` (the fair-esm → ``EsmForMaskedLM`` table); there is no transpose.
Ours differ from fair-esm's in two places only: q/k/v are one stacked ``qkv_proj`` (rows q, then k, then v),
and the rotary ``inv_freq`` is one shared buffer ``rotary.inv_freq`` (every layer of a real checkpoint holds
the same values; we check that).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch
from torch import Tensor

from protenc_seq.errors import CheckpointError

FAIR_PREFIX = re.compile(r"^(encoder\.sentence_encoder\.|encoder\.)")
_LAYER = re.compile(r"^layers\.(\d+)\.(.+)$")
_QKV = ("q_proj", "k_proj", "v_proj")
# Per-layer fair-esm names we keep unchanged.
_SAME = (
    "self_attn.out_proj.weight",
    "self_attn.out_proj.bias",
    "self_attn_layer_norm.weight",
    "self_attn_layer_norm.bias",
    "final_layer_norm.weight",
    "final_layer_norm.bias",
    "fc1.weight",
    "fc1.bias",
    "fc2.weight",
    "fc2.bias",
)
_TOP = (
    "embed_tokens.weight",
    "emb_layer_norm_after.weight",
    "emb_layer_norm_after.bias",
    "lm_head.dense.weight",
    "lm_head.dense.bias",
    "lm_head.layer_norm.weight",
    "lm_head.layer_norm.bias",
    "lm_head.bias",
    "contact_head.regression.weight",
    "contact_head.regression.bias",
)


def strip_fair_prefix(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """fair-esm's ``upgrade_state_dict``: drop ``encoder.sentence_encoder.`` / ``encoder.``."""
    return {FAIR_PREFIX.sub("", k): v for k, v in state.items()}


def fair_to_ours(state: Mapping[str, Tensor], source: str) -> tuple[dict[str, Tensor], list[str]]:
    """fair-esm names -> ours. Returns the converted dict and the keys that were not recognised."""
    out: dict[str, Tensor] = {}
    qkv: dict[int, dict[str, Tensor]] = {}
    inv_freqs: dict[int, Tensor] = {}
    unknown: list[str] = []
    for key, value in state.items():
        m = _LAYER.match(key)
        if m is None:
            if key in _TOP:
                out[key] = value
            elif key == "lm_head.weight":
                pass  # tied to embed_tokens.weight; checked below
            else:
                unknown.append(key)
            continue
        i, rest = int(m.group(1)), m.group(2)
        if rest in _SAME:
            out[key] = value
        elif rest.startswith("self_attn.") and rest.split(".")[1] in _QKV and rest.count(".") == 2:
            _, proj, kind = rest.split(".")
            qkv.setdefault(i, {})[f"{proj}.{kind}"] = value
        elif rest == "self_attn.rot_emb.inv_freq":
            inv_freqs[i] = value
        else:
            unknown.append(key)
    for i, parts in sorted(qkv.items()):
        for kind in ("weight", "bias"):
            names = [f"{p}.{kind}" for p in _QKV]
            missing = [n for n in names if n not in parts]
            if missing:
                raise CheckpointError(source, f"layer {i} lacks self_attn.{', self_attn.'.join(missing)}")
            out[f"layers.{i}.self_attn.qkv_proj.{kind}"] = torch.cat([parts[n] for n in names], 0)
    if inv_freqs:
        out["rotary.inv_freq"] = shared_inv_freq(inv_freqs, source)
    tied = state.get("lm_head.weight")
    emb = state.get("embed_tokens.weight")
    if tied is not None and emb is not None and not tied.is_meta and not torch.equal(tied, emb):
        raise CheckpointError(source, "lm_head.weight differs from embed_tokens.weight (ESM-2 ties them)")
    return out, unknown


def shared_inv_freq(per_layer: Mapping[int, Tensor], source: str) -> Tensor:
    """The one rotary ``inv_freq`` of a checkpoint that stores a copy per layer (they must agree)."""
    first_layer = min(per_layer)
    first = per_layer[first_layer]
    for i, value in per_layer.items():
        if value.shape != first.shape or (
            not value.is_meta and not torch.equal(value.float(), first.float())
        ):
            raise CheckpointError(
                source,
                f"rotary inv_freq of layer {i} differs from layer {first_layer}; expected one shared table",
            )
    return first


def ours_to_fair(state: Mapping[str, Tensor], num_layers: int) -> dict[str, Tensor]:
    """Ours -> fair-esm names (unprefixed), with ``lm_head.weight`` and per-layer ``inv_freq`` restored."""
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        m = _LAYER.match(key)
        if m and m.group(2).startswith("self_attn.qkv_proj."):
            kind = m.group(2).rsplit(".", 1)[1]
            for proj, part in zip(_QKV, value.chunk(3, 0)):
                out[f"layers.{m.group(1)}.self_attn.{proj}.{kind}"] = part.clone()
        elif key == "rotary.inv_freq":
            for i in range(num_layers):
                out[f"layers.{i}.self_attn.rot_emb.inv_freq"] = value.clone()
        else:
            out[key] = value
    if "embed_tokens.weight" in state:
        out["lm_head.weight"] = state["embed_tokens.weight"]
    return out


# --------------------------------------------------------------------------- Hugging Face
_HF_LAYER = {
    "attention.self.query": "self_attn.q_proj",
    "attention.self.key": "self_attn.k_proj",
    "attention.self.value": "self_attn.v_proj",
    "attention.output.dense": "self_attn.out_proj",
    "attention.LayerNorm": "self_attn_layer_norm",
    "intermediate.dense": "fc1",
    "output.dense": "fc2",
    "LayerNorm": "final_layer_norm",
}
_HF_TOP = {
    "esm.embeddings.word_embeddings.weight": "embed_tokens.weight",
    "esm.encoder.emb_layer_norm_after.weight": "emb_layer_norm_after.weight",
    "esm.encoder.emb_layer_norm_after.bias": "emb_layer_norm_after.bias",
    "esm.contact_head.regression.weight": "contact_head.regression.weight",
    "esm.contact_head.regression.bias": "contact_head.regression.bias",
    "lm_head.dense.weight": "lm_head.dense.weight",
    "lm_head.dense.bias": "lm_head.dense.bias",
    "lm_head.layer_norm.weight": "lm_head.layer_norm.weight",
    "lm_head.layer_norm.bias": "lm_head.layer_norm.bias",
    "lm_head.bias": "lm_head.bias",
    "lm_head.decoder.weight": "lm_head.weight",
}
#: Hugging Face keys that carry nothing for ESM-2 (transformers ``modeling_esm.py``).
HF_IGNORED = re.compile(
    r"^esm\.(embeddings\.position_ids|embeddings\.position_embeddings\.weight|pooler\..*)$"
)
_HF_LAYER_KEY = re.compile(r"^esm\.encoder\.layer\.(\d+|\*)\.(.+)\.(weight|bias|gamma|beta|inv_freq)$")
#: transformers >= 5 writes LayerNorm parameters under their legacy names.
_LEGACY_NORM = {"gamma": "weight", "beta": "bias"}


def hf_to_fair(state: Mapping[str, Tensor], source: str) -> tuple[dict[str, Tensor], list[str]]:
    """Hugging Face ``EsmForMaskedLM``/``EsmModel`` names -> fair-esm names.

    Accepts ``EsmModel`` checkpoints without the ``esm.`` prefix, per-layer rotary ``inv_freq`` (hub files),
    the model-level ``esm.rotary_embeddings.inv_freq`` of transformers >= 5, the ``layer.*`` wildcard key and
    ``LayerNorm.gamma``/``beta`` names that transformers 5 ``save_pretrained`` writes.
    Returns the converted dict and the keys that belong to other heads (e.g. ``classifier.*``), which are ignored.
    """
    if not any(k.startswith("esm.") for k in state):
        state = {("esm." + k if not k.startswith("lm_head.") else k): v for k, v in state.items()}
    out: dict[str, Tensor] = {}
    ignored: list[str] = []
    inv_freqs: dict[int, Tensor] = {}
    shared_inv: Tensor | None = None
    for key, value in state.items():
        if key in _HF_TOP:
            out[_HF_TOP[key]] = value
            continue
        if key == "esm.rotary_embeddings.inv_freq":
            shared_inv = value
            continue
        if HF_IGNORED.match(key):
            continue
        m = _HF_LAYER_KEY.match(key)
        if m is None:
            if key.startswith(("esm.", "lm_head.")):
                raise CheckpointError(source, f"unrecognised ESM tensor {key!r}")
            ignored.append(key)
            continue
        index, module, kind = m.groups()
        if module == "attention.self.rotary_embeddings" and kind == "inv_freq":
            if index == "*":
                shared_inv = value
            else:
                inv_freqs[int(index)] = value
            continue
        if module not in _HF_LAYER or index == "*" or kind == "inv_freq":
            raise CheckpointError(source, f"unrecognised ESM tensor {key!r}")
        if kind in _LEGACY_NORM:
            if not module.endswith("LayerNorm"):
                raise CheckpointError(source, f"unrecognised ESM tensor {key!r}")
            kind = _LEGACY_NORM[kind]
        out[f"layers.{index}.{_HF_LAYER[module]}.{kind}"] = value
    if shared_inv is not None:
        out["layers.0.self_attn.rot_emb.inv_freq"] = shared_inv
    for i, value in inv_freqs.items():
        out[f"layers.{i}.self_attn.rot_emb.inv_freq"] = value
    return out, ignored


def fair_to_hf(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """fair-esm names -> Hugging Face ``EsmForMaskedLM`` names (per-layer ``inv_freq``, as on the hub).

    ``lm_head.decoder.weight`` is left out: it is tied to the word embeddings (``tie_word_embeddings``).
    """
    top = {v: k for k, v in _HF_TOP.items()}
    layer = {v: k for k, v in _HF_LAYER.items()}
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        if key == "lm_head.weight":
            continue
        if key in top:
            out[top[key]] = value
            continue
        m = _LAYER.match(key)
        if m is None:
            raise ValueError(f"cannot map {key!r} to a Hugging Face name")
        i, rest = m.groups()
        if rest == "self_attn.rot_emb.inv_freq":
            out[f"esm.encoder.layer.{i}.attention.self.rotary_embeddings.inv_freq"] = value
            continue
        module, kind = rest.rsplit(".", 1)
        out[f"esm.encoder.layer.{i}.{layer[module]}.{kind}"] = value
    return out
