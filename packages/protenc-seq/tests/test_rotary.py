"""Rotary embedding against fair-esm's ``RotaryEmbedding`` (half-split, positions from <cls>)."""

from __future__ import annotations

import pytest
import torch

from protenc_seq.esm2.rotary import RotaryEmbedding, apply_rotary

pytestmark = pytest.mark.numerics


def test_matches_fair_esm_rotary(esm) -> None:
    from esm.rotary_embedding import RotaryEmbedding as FairRotary

    hd, length, heads = 16, 37, 3
    fair = FairRotary(hd)
    fair.inv_freq.copy_(fair.inv_freq.half().float())  # the fp16 table of the released checkpoints
    ours = RotaryEmbedding(hd)
    ours.inv_freq.copy_(fair.inv_freq)
    q, k = torch.randn(heads, length, hd), torch.randn(heads, length, hd)  # fair-esm: (B·H, T, hd)
    fq, fk = fair(q, k)
    cos, sin = ours(torch.arange(length))
    x = torch.stack([q, k], 0).permute(2, 0, 1, 3)  # (T, 2, H, hd): our packed layout
    for grad in (False, True):  # in-place fast path and the autograd path
        with torch.set_grad_enabled(grad):
            rot = apply_rotary(x.clone().requires_grad_(grad), cos, sin).permute(1, 2, 0, 3)
        assert torch.allclose(rot[0], fq, atol=1e-6) and torch.allclose(rot[1], fk, atol=1e-6)
