"""The interleaved (complex-multiply) rotary form against fair-esm's half-split ``RotaryEmbedding``."""

from __future__ import annotations

import pytest
import torch

from protenc_seq.esm2.attention import AttentionContext
from protenc_seq.esm2.layer import SelfAttention
from protenc_seq.esm2.packing import PackedBatch
from protenc_seq.esm2.rotary import (
    RotaryEmbedding,
    apply_rotary_interleaved,
    interleave_index,
    rotation_table,
)

pytestmark = pytest.mark.numerics


def test_interleave_index_pairs_halves() -> None:
    index = interleave_index(embed_dim=8, heads=2)  # head_dim 4: q head 0 rows 0, 2, 1, 3
    assert index.tolist() == [0, 2, 1, 3, 4, 6, 5, 7, 8, 10, 9, 11, 12, 14, 13, 15, *range(16, 24)]


def test_matches_fair_esm_rotary(esm) -> None:
    from esm.rotary_embedding import RotaryEmbedding as FairRotary

    hd, length, heads = 24, 41, 3
    fair = FairRotary(hd)
    fair.inv_freq.copy_(fair.inv_freq.half().float())
    ours = RotaryEmbedding(hd)
    ours.inv_freq.copy_(fair.inv_freq)
    q, k = torch.randn(heads, length, hd), torch.randn(heads, length, hd)  # fair-esm: (B·H, T, hd)
    fq, fk = fair(q, k)
    cos, sin = ours(torch.arange(length))
    within = interleave_index(hd, 1)[:hd]  # one head's channel order
    x = torch.stack([q, k], 0).permute(2, 0, 1, 3)[..., within]  # (T, 2, H, hd) interleaved
    for dtype, tol in ((torch.float32, 1e-6), (torch.bfloat16, 4e-2)):
        rot = apply_rotary_interleaved(x.to(dtype), rotation_table(cos, sin))
        assert rot.dtype == dtype
        back = torch.empty_like(rot)
        back[..., within] = rot  # undo the channel order
        back = back.permute(1, 2, 0, 3).double()  # (2, H, T, hd)
        assert (back[0] - fq.double()).abs().max() < tol and (back[1] - fk.double()).abs().max() < tol


def test_attention_output_matches_half_split_path() -> None:
    """Inference (interleaved q/k, cached reordered weights) equals the autograd path (stored order)."""
    torch.manual_seed(0)
    attn = SelfAttention(embed_dim=48, heads=4)
    rotary = RotaryEmbedding(12)
    packed = PackedBatch.from_token_arrays([torch.arange(9), torch.arange(6)], padded=True)
    cos, sin = rotary(packed.positions)
    x = torch.randn(packed.num_rows, 48)  # (R, D)
    want, _ = attn(x.requires_grad_(True), AttentionContext(packed, cos, sin))  # half-split, autograd
    with torch.no_grad():
        got, _ = attn(x.detach(), AttentionContext(packed, cos, sin))
        real = packed.real_rows
        assert (got[real].double() - want.detach()[real].double()).abs().max() < 1e-5
        with torch.no_grad():  # a weight update re-makes the cached reordered copy
            attn.qkv_proj.weight.mul_(0.5)
        want2, _ = attn(x.detach().requires_grad_(True), AttentionContext(packed, cos, sin))
        got2, _ = attn(x.detach(), AttentionContext(packed, cos, sin))
    assert (got2[real].double() - want2.detach()[real].double()).abs().max() < 1e-5
    assert "qkv_proj.weight" in dict(attn.named_parameters()) and len(attn.state_dict()) == 4
