"""ESM C (ESM Cambrian; EvolutionaryScale 2024, "ESM Cambrian: Revealing the mysteries of proteins with
unsupervised learning"): our implementation of the network the references define -- evolutionaryscale/esm
``esm/models/esmc.py`` + ``esm/layers/{transformer_stack,blocks,attention,rotary,regression_head}.py`` and
transformers' ``models/esmc/modeling_esmc.py``.

    x_0 = E[tokens]                                                    (64-row table, no scaling, no dropout)
    a   = Attn(LN_attn(x))      q, k, v = W_qkv·a;  q, k = LN_q(q), LN_k(k) over the full width (no bias);
                                rotary (half-split, base 10000, positions 0 … T-1 from <cls>); SDPA, keys masked
                                at padding; W_o
    x   = x + a / s             s = sqrt(n_layers / 36)  (ESM3 residue scaling)
    x   = x + W_down(SiLU(W_gate·LN_ffn(x)) ⊙ W_up·LN_ffn(x)) / s
    h   = LN_final(x)           (no bias)
    logits = W_dec·LN(GELU(W_dense·h + b)) + b_dec                     (untied; 64 outputs)

Projections carry no bias; the three pre-norms (attention, FFN, head) do. q/k/v are one fused projection as in
the ``esm`` package (``layernorm_qkv``), gate/up one fused projection as its ``swiglu_ln_ffn`` (gate = first half).

Rows follow protenc-seq's packed layout (:class:`~protenc_seq.esm2.packing.PackedBatch`): token-wise maths runs on
rows ``(R, D)``; attention views them as a right-padded ``(B, T, H, hd)`` batch (a copy-free view when the batch is
already padded) and calls :func:`torch.nn.functional.scaled_dot_product_attention` with a key-padding mask, so the
model plugs into everything that drives ESM-2 by ``embed`` / ``attention_context`` / ``run_layer`` /
``forward_packed`` (encoder, embedding, scoring, MLM, token fusion).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from protenc_seq.alphabet import Alphabet
from protenc_seq.esm2.model import PackedOutput
from protenc_seq.esm2.packing import PackedBatch
from protenc_seq.esmc.config import ESMCConfig


@dataclass
class ESMCOutput:
    """Padded outputs of :meth:`ESMC.forward` (``(B, T, ·)``, zeros on padding).

    Attributes:
        hidden: ``(B, T, D)`` final representation (after the final LayerNorm; the references' ``embeddings`` /
            ``last_hidden_state``).
        logits: ``(B, T, 64)`` LM-head logits (``sequence_logits``), ``None`` without an LM head.
        representations: ``{layer: (B, T, D)}`` for the requested layers (0 = embeddings, ``i`` = block ``i``'s
            output, ``num_layers`` = ``hidden``).
    """

    hidden: Tensor
    logits: Tensor | None
    representations: dict[int, Tensor]


class ESMCAttentionContext:
    """The padded view of a packed batch that attention needs, built once per forward and shared by all layers.

    Args:
        packed: The batch (``<cls>`` … ``<eos>`` per sequence).
        head_dim: Rotary width.
        theta: Rotary base; ``inv_freq = 1 / theta^(2i / head_dim)`` is computed here in float32 (both references
            recompute it rather than store it), so it stays exact whatever dtype the weights are cast to.
    """

    def __init__(self, packed: PackedBatch, head_dim: int, theta: float = 10000.0) -> None:
        self.packed = packed
        self.batch = len(packed)
        self.length = packed.max_len
        device = packed.device
        self.direct = packed.uniform_slots and packed.slots[0] == self.length  # rows are already (B·T)
        positions = torch.arange(self.length, device=device)
        inv_freq = 1.0 / (
            theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32, device=device) / head_dim)
        )
        freqs = positions.float()[:, None] * inv_freq[None, :]  # (T, hd/2)
        angles = torch.cat([freqs, freqs], dim=-1)  # (T, hd): cat(θ, θ) as rotate_half expects
        self.cos, self.sin = angles.cos(), angles.sin()  # (T, hd) float32
        lengths = packed.lengths_tensor  # (B,)
        self.key_mask = (positions[None, :] < lengths[:, None])[:, None, None, :]  # (B, 1, 1, T) True = real

    def to_padded(self, x: Tensor) -> Tensor:
        """Rows ``(R, *F)`` -> ``(B, T, *F)`` (zeros where the packed layout had no row)."""
        if self.direct:
            return x.view(self.batch, self.length, *x.shape[1:])
        return self.packed.to_padded(x)

    def to_rows(self, y: Tensor) -> Tensor:
        """``(B, T, *F)`` -> rows ``(R, *F)`` of the packed layout (padding rows of a padded layout: zeros)."""
        flat = y.reshape(self.batch * self.length, *y.shape[2:])
        if self.direct:
            return flat
        real = flat[self.packed.padded_index]  # (Σ L_i, *F)
        if self.packed.real_rows is None:
            return real
        out = flat.new_zeros((self.packed.num_rows, *flat.shape[1:]))
        return out.index_copy(0, self.packed.real_rows.nonzero().squeeze(1), real)


def rotate_half(x: Tensor) -> Tensor:
    """``[x1, x2] -> [-x2, x1]`` over the last axis (the half-split, GPT-NeoX form both references use)."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([-x2, x1], dim=-1)


def split_projection(proj: nn.Module, x: Tensor, parts: int) -> tuple[Tensor, ...]:
    """``proj(x)`` split into ``parts`` equal feature blocks. A plain ``nn.Linear`` runs as one GEMM per row block
    of its stored weight (contiguous outputs); any wrapper (a PEFT LoRA layer, a quantised linear) runs its own
    ``forward`` so what it adds is never bypassed."""
    if type(proj) is nn.Linear:
        return tuple(F.linear(x, w) for w in proj.weight.chunk(parts, dim=0))
    return tuple(t.contiguous() for t in proj(x).chunk(parts, dim=-1))


class ESMCAttention(nn.Module):
    """Multi-head self-attention with QK LayerNorm and rotary positions (``MultiHeadAttention``, esm package)."""

    def __init__(self, config: ESMCConfig) -> None:
        super().__init__()
        d = config.embed_dim
        self.heads = config.attention_heads
        self.head_dim = config.head_dim
        self.attention_dropout = config.attention_dropout
        self.qkv_proj = nn.Linear(d, 3 * d, bias=False)
        self.q_norm = nn.LayerNorm(d, eps=config.layer_norm_eps, bias=False)
        self.k_norm = nn.LayerNorm(d, eps=config.layer_norm_eps, bias=False)
        self.out_proj = nn.Linear(d, d, bias=False)

    def forward(self, x: Tensor, ctx: ESMCAttentionContext) -> Tensor:
        """``x`` ``(R, D)`` (already normalised) -> ``(R, D)``."""
        # one stored (3D, D) projection applied as three GEMMs on its row blocks: contiguous outputs, so QK LayerNorm
        # needs no copy (one GEMM + chunk measured a few % slower per forward on the 2-core CPU)
        q, k, v = split_projection(self.qkv_proj, x, 3)  # 3 × (R, D)
        q = self.q_norm(q).to(v.dtype)  # LayerNorm over the full width, back to the branch dtype
        k = self.k_norm(k).to(v.dtype)
        shape = (ctx.batch, ctx.length, self.heads, self.head_dim)
        q, k, v = (ctx.to_padded(t).view(shape).transpose(1, 2) for t in (q, k, v))  # (B, H, T, hd)
        cos, sin = ctx.cos.to(q.dtype), ctx.sin.to(q.dtype)  # (T, hd)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=ctx.key_mask, dropout_p=self.attention_dropout if self.training else 0.0
        )  # (B, H, T, hd)
        out = out.transpose(1, 2).reshape(ctx.batch, ctx.length, -1)  # (B, T, D)
        return self.out_proj(ctx.to_rows(out))


class SwiGLUFFN(nn.Module):
    """``W_down(SiLU(W_gate x) ⊙ W_up x)`` with gate and up as one projection (gate = first half)."""

    def __init__(self, config: ESMCConfig) -> None:
        super().__init__()
        self.gate_up_proj = nn.Linear(config.embed_dim, 2 * config.ffn, bias=False)
        self.down_proj = nn.Linear(config.ffn, config.embed_dim, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        gate, up = split_projection(self.gate_up_proj, x, 2)  # 2 × (R, F), contiguous
        return self.down_proj(F.silu(gate) * up)


class ESMCBlock(nn.Module):
    """Pre-LN block with residue scaling (``UnifiedTransformerBlock`` without geometric attention)."""

    def __init__(self, config: ESMCConfig) -> None:
        super().__init__()
        d, eps = config.embed_dim, config.layer_norm_eps
        self.attn_norm = nn.LayerNorm(d, eps=eps)
        self.attn = ESMCAttention(config)
        self.ffn_norm = nn.LayerNorm(d, eps=eps)
        self.ffn = SwiGLUFFN(config)
        self.divisor = config.residual_divisor

    def forward(self, x: Tensor, ctx: ESMCAttentionContext) -> Tensor:
        """``x`` ``(R, D)`` -> ``(R, D)``."""
        x = x + self.attn(self.attn_norm(x), ctx) / self.divisor
        return x + self.ffn(self.ffn_norm(x)) / self.divisor


class ESMCLMHead(nn.Module):
    """``decoder(LN(GELU(dense(h))))`` (``RegressionHead(d_model, 64)``; exact erf GELU)."""

    def __init__(self, config: ESMCConfig) -> None:
        super().__init__()
        d = config.embed_dim
        self.dense = nn.Linear(d, d)
        self.layer_norm = nn.LayerNorm(d, eps=config.layer_norm_eps)
        self.decoder = nn.Linear(d, config.vocab_rows)

    def forward(self, x: Tensor) -> Tensor:
        """``(..., D)`` -> ``(..., 64)``; in the weights' dtype with autocast off, so log-probabilities (scores)
        are not rounded to bf16."""
        dtype = self.dense.weight.dtype
        with torch.autocast(x.device.type, enabled=False):
            x = x.to(dtype)
            return self.decoder(self.layer_norm(F.gelu(self.dense(x))))


class ESMC(nn.Module):
    """The ESM C transformer (module docstring).

    Args:
        config: Sizes (:class:`ESMCConfig`; presets ``esmc_300m`` / ``esmc_600m`` / ``esmc_6b``).
    """

    def __init__(self, config: ESMCConfig) -> None:
        super().__init__()
        self.config = config
        self.alphabet: Alphabet = config.alphabet
        d = config.embed_dim
        self.embed_tokens = nn.Embedding(config.vocab_rows, d)
        self.layers = nn.ModuleList(ESMCBlock(config) for _ in range(config.num_layers))
        self.norm = nn.LayerNorm(d, eps=config.layer_norm_eps, bias=False)
        self.lm_head = ESMCLMHead(config)
        self.gradient_checkpointing = config.gradient_checkpointing
        #: Attention kernel: always SDPA with a padding mask (the encoder asks, as for ESM-2).
        self.attention_backend = "sdpa"
        #: False when the checkpoint had no LM head (an ``EsmcModel`` directory; set by the loader).
        self.has_lm_head = True
        self.has_contact_head = False

    # ------------------------------------------------------------ building blocks
    @property
    def num_layers(self) -> int:
        return self.config.num_layers

    @property
    def emb_layer_norm_after(self) -> nn.LayerNorm:
        """The final LayerNorm under ESM-2's name (code that drives either model layer by layer reads it)."""
        return self.norm

    def embed(self, packed: PackedBatch) -> Tensor:
        """Token embeddings ``(R, D)`` (no token dropout, no scaling; padding rows zero)."""
        x = self.embed_tokens(packed.tokens)  # (R, D)
        if packed.real_rows is not None:
            x = x.masked_fill(~packed.real_rows[:, None], 0.0)
        return x

    def attention_context(self, packed: PackedBatch) -> ESMCAttentionContext:
        """Rotary tables and the padded view of ``packed``, shared by every layer of one forward."""
        return ESMCAttentionContext(packed, self.config.head_dim, self.config.rope_theta)

    def run_layer(self, index: int, x: Tensor, ctx: ESMCAttentionContext) -> Tensor:
        """Block ``index`` on rows ``x`` ``(R, D)`` (activation checkpointing when enabled and training)."""
        layer = self.layers[index]
        if self.gradient_checkpointing and self.training and torch.is_grad_enabled():
            return checkpoint(layer, x, ctx, use_reentrant=False)
        return layer(x, ctx)

    def logits(self, hidden: Tensor) -> Tensor:
        """LM-head logits ``(..., 64)`` of final representations ``(..., D)``."""
        return self.lm_head(hidden)

    # ------------------------------------------------------------------ forward
    def forward_packed(
        self,
        packed: PackedBatch,
        *,
        repr_layers: Iterable[int] = (),
        return_logits: bool = True,
        logits_rows: Tensor | None = None,
        need_head_weights: bool = False,
        return_contacts: bool = False,
    ) -> PackedOutput:
        """Run the model on a packed batch (same signature and output as :meth:`ESM2.forward_packed`; ESM C has
        no contact head and returns no attention maps)."""
        if need_head_weights or return_contacts:
            raise RuntimeError("ESM C has no contact head; attention maps are not returned")
        if return_logits and not self.has_lm_head:
            raise RuntimeError("this ESM C checkpoint has no LM head (an EsmcModel directory?): no logits")
        repr_layers = set(repr_layers)
        bad = [i for i in repr_layers if not 0 <= i <= self.num_layers]
        if bad:
            raise ValueError(f"repr_layers {bad} out of range 0..{self.num_layers}")
        x = self.embed(packed)  # (R, D)
        reps: dict[int, Tensor] = {0: x} if 0 in repr_layers else {}
        ctx = self.attention_context(packed)
        for i in range(self.num_layers):
            x = self.run_layer(i, x, ctx)
            if i + 1 in repr_layers:
                reps[i + 1] = x
        x = self.norm(x)
        if self.num_layers in repr_layers:
            reps[self.num_layers] = x
        out = PackedOutput(packed=packed, hidden=x, representations=reps)
        if return_logits:
            out.logits = self.logits(x if logits_rows is None else x[logits_rows])
        return out

    def forward(self, tokens: Tensor, repr_layers: Iterable[int] = ()) -> ESMCOutput:
        """Right-padded tokens ``(B, T)`` (``<pad>`` = 1 marks padding, as the ``esm`` package's
        ``sequence_tokens != pad``) -> padded outputs ``(B, T, ·)``."""
        packed = PackedBatch.from_padded(tokens, self.alphabet.pad_id, keep_padding=True)
        out = self.forward_packed(packed, repr_layers=repr_layers, return_logits=self.has_lm_head)
        t = tokens.shape[1]

        def pad(x: Tensor) -> Tensor:
            y = packed.to_padded(x)  # (B, max_len, ...), zeros on padding
            return F.pad(y, (0, 0, 0, t - y.shape[1])) if y.shape[1] < t else y

        return ESMCOutput(
            hidden=pad(out.hidden),
            logits=None if out.logits is None else pad(out.logits),
            representations={k: pad(v) for k, v in out.representations.items()},
        )
