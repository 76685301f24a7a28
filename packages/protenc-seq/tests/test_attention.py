"""Packed attention (length groups, padded view) against a brute-force per-sequence softmax(q kᵀ / √d) v."""

from __future__ import annotations

import pytest
import torch

from protenc_seq import PackedBatch
from protenc_seq.esm2.attention import AttentionContext, attention, attention_with_weights

pytestmark = pytest.mark.numerics


def brute_force(q, k, v, lengths, scale):
    outs, weights, start = [], [], 0
    for n in lengths:
        qs, ks, vs = (t[start : start + n].transpose(0, 1).double() for t in (q, k, v))  # (H, n, hd)
        w = torch.softmax(qs @ ks.transpose(-1, -2) * scale, -1)
        outs.append((w @ vs).transpose(0, 1))
        weights.append(w)
        start += n
    return torch.cat(outs).float(), weights


@pytest.mark.parametrize("lengths", [[5, 40, 41, 7, 100, 3], [17, 17, 17], [64]])
@pytest.mark.parametrize("padded", [False, True])
def test_attention_matches_brute_force(lengths, padded) -> None:
    torch.manual_seed(0)
    heads, hd, scale = 3, 8, 8**-0.5
    batch = PackedBatch.from_token_arrays([torch.zeros(n, dtype=torch.long) for n in lengths], padded=padded)
    rows = batch.num_rows
    q, k, v = (torch.randn(rows, heads, hd) for _ in range(3))
    ctx = AttentionContext(batch, torch.ones(1), torch.zeros(1))
    real = batch.real_rows if batch.real_rows is not None else torch.ones(rows, dtype=torch.bool)
    want, want_w = brute_force(q[real], k[real], v[real], lengths, scale)
    got = attention(q, k, v, ctx, scale=scale)
    assert (got[real] - want).abs().max() < 1e-5
    got2, probs = attention_with_weights(q, k, v, ctx, scale=scale)
    assert (got2[real] - want).abs().max() < 1e-5
    for i, (n, w) in enumerate(zip(lengths, want_w)):
        assert (probs[i, :, :n, :n].double() - w).abs().max() < 1e-6
        assert probs[i, :, n:].abs().sum() == 0 and probs[i, :, :, n:].abs().sum() == 0
