"""Tensor names of ESM C checkpoints <-> ours (:class:`~protenc_seq.esmc.model.ESMC`).

Three layouts hold the same tensors:

* ours -- ``layers.{i}.attn.qkv_proj`` (q, k, v stacked), ``layers.{i}.ffn.gate_up_proj`` (gate, up stacked);
* the ``esm`` package (evolutionaryscale/esm, ``ESMC.state_dict()`` as in ``esmc_300m_2024_12_v0.pth``):
  ``embed``, ``transformer.blocks.{i}.attn.layernorm_qkv.{0,1}`` (LayerNorm, fused qkv Linear),
  ``attn.q_ln`` / ``attn.k_ln`` / ``attn.out_proj``, ``ffn.{0,1,3}`` (LayerNorm, fused gate/up Linear, down
  Linear; index 2 is the parameter-free ``SwiGLU``), ``transformer.norm``, ``sequence_head.{0,2,3}`` (dense,
  LayerNorm, decoder; index 1 is ``GELU``);
* transformers (``EsmcForMaskedLM``; ``models/esmc/modeling_esmc.py``): ``esmc.`` prefix (none in a bare
  ``EsmcModel``), ``layers.{i}.self_attn.{q,k,v,o}_proj`` / ``q_norm`` / ``k_norm``, ``input_layernorm``,
  ``post_attention_layernorm``, ``mlp.{gate,up,down}_proj``, ``norm``, ``lm_head.{dense,layer_norm,decoder}``.

The fused projections split along their output rows: q, k, v in that order (``torch.chunk(qkv, 3)``), gate
then up (``SwiGLU``: ``silu(x1) * x2``).
"""

from __future__ import annotations

import re

import torch
from torch import Tensor

_HF_LAYER = re.compile(r"^layers\.(\d+)\.(.+)$")
_ESM_LAYER = re.compile(r"^transformer\.blocks\.(\d+)\.(.+)$")

# per-layer names that are a plain rename: ours <- transformers
_HF_PLAIN = {
    "input_layernorm.weight": "attn_norm.weight",
    "input_layernorm.bias": "attn_norm.bias",
    "self_attn.q_norm.weight": "attn.q_norm.weight",
    "self_attn.k_norm.weight": "attn.k_norm.weight",
    "self_attn.o_proj.weight": "attn.out_proj.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "post_attention_layernorm.bias": "ffn_norm.bias",
    "mlp.down_proj.weight": "ffn.down_proj.weight",
}
_HF_FUSED = {
    "attn.qkv_proj.weight": ("self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight"),
    "ffn.gate_up_proj.weight": ("mlp.gate_proj.weight", "mlp.up_proj.weight"),
}
_ESM_PLAIN = {
    "attn.layernorm_qkv.0.weight": "attn_norm.weight",
    "attn.layernorm_qkv.0.bias": "attn_norm.bias",
    "attn.layernorm_qkv.1.weight": "attn.qkv_proj.weight",
    "attn.q_ln.weight": "attn.q_norm.weight",
    "attn.k_ln.weight": "attn.k_norm.weight",
    "attn.out_proj.weight": "attn.out_proj.weight",
    "ffn.0.weight": "ffn_norm.weight",
    "ffn.0.bias": "ffn_norm.bias",
    "ffn.1.weight": "ffn.gate_up_proj.weight",
    "ffn.3.weight": "ffn.down_proj.weight",
}
_ESM_TOP = {
    "embed.weight": "embed_tokens.weight",
    "transformer.norm.weight": "norm.weight",
    "sequence_head.0.weight": "lm_head.dense.weight",
    "sequence_head.0.bias": "lm_head.dense.bias",
    "sequence_head.2.weight": "lm_head.layer_norm.weight",
    "sequence_head.2.bias": "lm_head.layer_norm.bias",
    "sequence_head.3.weight": "lm_head.decoder.weight",
    "sequence_head.3.bias": "lm_head.decoder.bias",
}
_HF_TOP = {
    "embed_tokens.weight": "embed_tokens.weight",
    "norm.weight": "norm.weight",
    **{
        f"lm_head.{m}.{p}": f"lm_head.{m}.{p}"
        for m in ("dense", "layer_norm", "decoder")
        for p in ("weight", "bias")
    },
}
#: Buffers the references may keep in a state dict; recomputed here, never read.
_BUFFERS = ("inv_freq", "original_inv_freq")

#: A tensor name only the ``esm`` package's layout has (layout detection).
ESM_PACKAGE_MARKER = "transformer.blocks.0.attn.layernorm_qkv.1.weight"


def esm_package_name(key: str) -> str:
    """An ``esm``-package tensor name as ``ESMC.state_dict()`` spells it: the ``esmc.`` prefix dropped and
    ``lm_head.`` read as ``sequence_head.``, as the esm package's own loader normalises its safetensors checkpoints
    (``esm/pretrained.py`` ``_normalize_esmc_checkpoint_key``)."""
    key = key.removeprefix("esmc.")
    return "sequence_head." + key.removeprefix("lm_head.") if key.startswith("lm_head.") else key


def is_esm_package_layout(state: dict[str, Tensor]) -> bool:
    """True for an ``esm``-package ESMC state dict (names as :func:`esm_package_name` reads them)."""
    return ESM_PACKAGE_MARKER in state or any(esm_package_name(k) == ESM_PACKAGE_MARKER for k in state)


def is_transformers_layout(state: dict[str, Tensor]) -> bool:
    """True for a transformers ``EsmcForMaskedLM`` / ``EsmcModel`` state dict."""
    return any(k.endswith("self_attn.q_proj.weight") for k in state)


def hf_to_ours(state: dict[str, Tensor]) -> tuple[dict[str, Tensor], list[str], list[str]]:
    """transformers names -> ours. Returns ``(ours, ignored, unknown)``: ``ignored`` are recomputed buffers and
    other heads (``classifier.*``, ``score.*``); ``unknown`` anything else."""
    ours: dict[str, Tensor] = {}
    ignored: list[str] = []
    unknown: list[str] = []
    fused: dict[tuple[str, str], Tensor] = {}
    for key, value in state.items():
        name = key.removeprefix("esmc.")
        if name.split(".")[-1] in _BUFFERS:
            ignored.append(key)
            continue
        if name in _HF_TOP:
            ours[_HF_TOP[name]] = value
            continue
        m = _HF_LAYER.match(name)
        if m is None:
            (ignored if name.split(".")[0] in ("classifier", "score") else unknown).append(key)
            continue
        index, rest = m.groups()
        if rest in _HF_PLAIN:
            ours[f"layers.{index}.{_HF_PLAIN[rest]}"] = value
        elif any(rest in parts for parts in _HF_FUSED.values()):
            fused[(index, rest)] = value
        else:
            unknown.append(key)
    indices = sorted({i for i, _ in fused}, key=int)
    for index in indices:
        for target, parts in _HF_FUSED.items():
            missing = [p for p in parts if (index, p) not in fused]
            if missing:
                unknown.append(f"layers.{index}.{missing[0]} (missing; its siblings are present)")
                continue
            ours[f"layers.{index}.{target}"] = torch.cat([fused[(index, p)] for p in parts], dim=0)
    return ours, ignored, unknown


def esm_to_ours(state: dict[str, Tensor]) -> tuple[dict[str, Tensor], list[str], list[str]]:
    """``esm``-package names (:func:`esm_package_name`) -> ours. Returns ``(ours, ignored, unknown)``; those
    lists hold the names as given."""
    ours: dict[str, Tensor] = {}
    ignored: list[str] = []
    unknown: list[str] = []
    for given, value in state.items():
        key = esm_package_name(given)
        if key.split(".")[-1] in _BUFFERS or key.endswith("rotary.scale"):
            ignored.append(given)
        elif key in _ESM_TOP:
            ours[_ESM_TOP[key]] = value
        elif (m := _ESM_LAYER.match(key)) is not None and m.group(2) in _ESM_PLAIN:
            ours[f"layers.{m.group(1)}.{_ESM_PLAIN[m.group(2)]}"] = value
        else:
            unknown.append(given)
    return ours, ignored, unknown


def ours_to_hf(state: dict[str, Tensor], *, prefix: str = "esmc.") -> dict[str, Tensor]:
    """Ours -> transformers ``EsmcForMaskedLM`` names (``prefix=""`` for a bare ``EsmcModel``, whose state has
    no LM head)."""
    top = {v: k for k, v in _HF_TOP.items()}
    plain = {v: k for k, v in _HF_PLAIN.items()}
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        if key.startswith("lm_head."):
            out[key] = value
            continue
        if key in top:
            out[prefix + top[key]] = value
            continue
        m = re.match(r"^layers\.(\d+)\.(.+)$", key)
        if m is None:
            raise KeyError(f"not an ESM C tensor name: {key}")
        index, rest = m.groups()
        p = f"{prefix}layers.{index}."
        if rest in plain:
            out[p + plain[rest]] = value
        elif rest in _HF_FUSED:
            parts = _HF_FUSED[rest]
            for name, chunk in zip(parts, value.chunk(len(parts), dim=0)):
                out[p + name] = chunk
        else:
            raise KeyError(f"not an ESM C tensor name: {key}")
    return out


def ours_to_esm(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Ours -> ``esm``-package names (an ``ESMC.state_dict()``)."""
    top = {v: k for k, v in _ESM_TOP.items()}
    plain = {v: k for k, v in _ESM_PLAIN.items()}
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        if key in top:
            out[top[key]] = value
            continue
        m = re.match(r"^layers\.(\d+)\.(.+)$", key)
        if m is None or m.group(2) not in plain:
            raise KeyError(f"not an ESM C tensor name: {key}")
        out[f"transformer.blocks.{m.group(1)}.{plain[m.group(2)]}"] = value
    return out
