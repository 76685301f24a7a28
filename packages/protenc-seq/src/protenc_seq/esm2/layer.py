"""One pre-LN transformer block of ESM-2 (fair-esm ``TransformerLayer``, ``modules.py``).

    h = x + W_o · Attn(LN₁(x))
    y = h + fc2(GELU(fc1(LN₂(h))))

GELU is the exact erf form ``x·Φ(x)`` (fair-esm ``gelu``); ``F.gelu`` computes that same function in one
kernel (not the tanh approximation the fair-esm comment warns about). q, k, v come from one fused projection
``qkv_proj`` (fair-esm's ``q_proj``/``k_proj``/``v_proj`` stacked in that order).

CPU inference projects q/k with a row-reordered copy of ``qkv_proj`` (interleaved pairs, kept beside the module
and re-made when the weights change) so that the rotary rotation is one complex multiply (``rotary.py``); q·k and
therefore every output are the same as with the stored order.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from protenc_seq.esm2.attention import AttentionContext, attention, attention_with_weights
from protenc_seq.esm2.linear import linear
from protenc_seq.esm2.rotary import apply_rotary, apply_rotary_interleaved, interleave_index


class SelfAttention(nn.Module):
    """Rotary multi-head self-attention on packed rows."""

    def __init__(self, embed_dim: int, heads: int, attention_dropout: float = 0.0) -> None:
        super().__init__()
        self.heads = heads
        self.head_dim = embed_dim // heads
        self.scale = self.head_dim**-0.5
        self.attention_dropout = attention_dropout
        self.qkv_proj = nn.Linear(embed_dim, 3 * embed_dim)
        self.out_proj = nn.Linear(embed_dim, embed_dim)

    def forward(
        self, x: Tensor, ctx: AttentionContext, need_weights: bool = False, residual: Tensor | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """``x`` ``(N, D)`` -> ``out_proj(attention)`` ``(N, D)`` (plus ``residual`` if given, fused on CPU)."""
        n, d = x.shape  # (N, D)
        interleaved = self._interleaved_qkv(x)
        if interleaved is not None:  # CPU inference: q/k channels in rotary pairs, one complex multiply
            qkv = linear(x, interleaved).view(n, 3, self.heads, self.head_dim)  # (N, 3, H, hd)
            qk = apply_rotary_interleaved(qkv[:, :2], ctx.rotation)  # (N, 2, H, hd)
        else:
            qkv = linear(x, self.qkv_proj).view(n, 3, self.heads, self.head_dim)  # (N, 3, H, hd)
            qk = apply_rotary(qkv[:, :2], ctx.cos, ctx.sin)  # (N, 2, H, hd)
        q, k, v = qk[:, 0], qk[:, 1], qkv[:, 2]
        weights = None
        if need_weights:
            out, weights = attention_with_weights(q, k, v, ctx, scale=self.scale)
        else:
            dropout = self.attention_dropout if self.training else 0.0
            out = attention(q, k, v, ctx, scale=self.scale, dropout_p=dropout)  # (N, H, hd)
        return linear(out.reshape(n, d), self.out_proj, residual=residual), weights

    def _interleaved_qkv(self, x: Tensor) -> nn.Linear | None:
        """``qkv_proj`` with q/k rows in rotary-pair order (:func:`interleave_index`) for CPU inference, cached
        on the module (keyed by the parameters' storage and version); ``None`` on CUDA or with autograd."""
        if not isinstance(self.qkv_proj, nn.Linear):  # a wrapped projection (PEFT LoRA): its own forward
            return None
        w, b = self.qkv_proj.weight, self.qkv_proj.bias
        if x.device.type != "cpu" or (torch.is_grad_enabled() and (x.requires_grad or w.requires_grad)):
            return None
        key = (w.data_ptr(), w._version, w.dtype, None if b is None else (b.data_ptr(), b._version, b.dtype))
        cached = self.__dict__.get("_interleaved_cache")
        if cached is None or cached[0] != key:
            index = interleave_index(w.shape[1], self.heads, w.device)  # (3·D,)
            layer = nn.Linear(w.shape[1], w.shape[0], bias=b is not None, device="meta")
            # normal tensors even under inference_mode: the bf16 weight cache reads their version counter
            with torch.inference_mode(False), torch.no_grad():
                layer.weight = nn.Parameter(w.detach()[index], requires_grad=False)  # (3·D, D)
                if b is not None:
                    layer.bias = nn.Parameter(b.detach()[index], requires_grad=False)  # (3·D,)
            cached = (key, layer)
            # a plain attribute: not a submodule, not in state_dict
            self.__dict__["_interleaved_cache"] = cached
        return cached[1]


class TransformerLayer(nn.Module):
    """Pre-LN block: attention then a 4·D GELU feed-forward network, each with a residual connection."""

    def __init__(
        self,
        embed_dim: int,
        ffn_dim: int,
        heads: int,
        *,
        eps: float = 1e-5,
        dropout: float = 0.0,
        attention_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.self_attn_layer_norm = nn.LayerNorm(embed_dim, eps=eps)
        self.self_attn = SelfAttention(embed_dim, heads, attention_dropout)
        self.final_layer_norm = nn.LayerNorm(embed_dim, eps=eps)
        self.fc1 = nn.Linear(embed_dim, ffn_dim)
        self.fc2 = nn.Linear(ffn_dim, embed_dim)
        self.dropout = nn.Dropout(dropout)

    def forward(
        self, x: Tensor, ctx: AttentionContext, need_weights: bool = False
    ) -> tuple[Tensor, Tensor | None]:
        """``x`` ``(N, D)`` -> ``(N, D)`` and, if ``need_weights``, attention probabilities ``(B, H, T, T)``."""
        if self.training and self.dropout.p > 0:
            h, weights = self.self_attn(self.self_attn_layer_norm(x), ctx, need_weights)
            x = x + self.dropout(h)
            h = self.fc2(F.gelu(self.fc1(self.final_layer_norm(x))))
            return x + self.dropout(h), weights
        # residual adds and GELU fused into the projections where the backend allows (linear.py)
        x, weights = self.self_attn(self.self_attn_layer_norm(x), ctx, need_weights, residual=x)
        h = linear(self.final_layer_norm(x), self.fc1, gelu=True)
        return linear(h, self.fc2, residual=x), weights
