"""Prototype-guided local contrast against a loop over the formula of ProtCLIP (Zhou et al., AAAI 2025)
(min–max normalised similarities, 0.3 cut, weighted residue summary, per-protein 4 × 4 InfoNCE)."""

from __future__ import annotations

import math

import pytest
import torch

from protalign.losses.local_contrast import local_contrastive_loss


def _norm(v: list[float]) -> list[float]:
    n = math.sqrt(sum(x * x for x in v))
    return [x / n for x in v]


def _cross_entropy_diagonal(rows: list[list[float]]) -> float:
    """1/T Σ_i −log softmax(rows_i)_i."""
    n = len(rows)
    return sum(-rows[i][i] + math.log(sum(math.exp(x) for x in rows[i])) for i in range(n)) / n


def _loop_local(s, r, lengths, scale, threshold=0.3, symmetric=False) -> float:
    s, r = s.double().tolist(), r.double().tolist()
    total = 0.0
    for b, length in enumerate(lengths):
        t_num, d = len(s[b]), len(s[b][0])
        summaries = []
        for t in range(t_num):
            sims = [sum(s[b][t][k] * r[b][pos][k] for k in range(d)) for pos in range(length)]
            lo, hi = min(sims), max(sims)
            norm = [(x - lo) / (hi - lo) if hi > lo else 1.0 for x in sims]
            norm = [0.0 if x < threshold else x for x in norm]
            z = sum(norm)
            summaries.append([sum(norm[pos] / z * r[b][pos][k] for pos in range(length)) for k in range(d)])
        a = [_norm(v) for v in summaries]
        u = [_norm(v) for v in s[b]]
        logits = [
            [scale * sum(x * y for x, y in zip(a[i], u[j])) for j in range(t_num)] for i in range(t_num)
        ]
        loss = _cross_entropy_diagonal(logits)
        if symmetric:
            loss = (loss + _cross_entropy_diagonal([list(col) for col in zip(*logits)])) / 2
        total += loss
    return total / len(lengths)


@pytest.mark.parametrize("symmetric", [False, True])
def test_matches_loop_with_padding(symmetric: bool) -> None:
    g = torch.Generator().manual_seed(0)
    lengths = [6, 3, 5]
    s = torch.randn(3, 4, 5, generator=g)
    r = torch.randn(3, 6, 5, generator=g)
    mask = torch.arange(6)[None] < torch.tensor(lengths)[:, None]
    r = r * mask[..., None] + (~mask[..., None]) * 50.0  # garbage in padding must not matter
    got = local_contrastive_loss(s, r, mask, 10.0, symmetric=symmetric)
    assert got.item() == pytest.approx(_loop_local(s, r, lengths, 10.0, symmetric=symmetric), rel=1e-5)


def test_threshold_and_scale_are_used() -> None:
    g = torch.Generator().manual_seed(1)
    s, r = torch.randn(2, 4, 3, generator=g), torch.randn(2, 7, 3, generator=g)
    mask = torch.ones(2, 7, dtype=torch.bool)
    for threshold, scale in [(0.0, 10.0), (0.3, 10.0), (0.8, 3.0)]:
        got = local_contrastive_loss(s, r, mask, scale, threshold=threshold)
        assert got.item() == pytest.approx(_loop_local(s, r, [7, 7], scale, threshold), rel=1e-5)
    assert local_contrastive_loss(s, r, mask, 10.0, threshold=0.0).item() != pytest.approx(
        local_contrastive_loss(s, r, mask, 10.0, threshold=0.8).item()
    )


def test_equal_similarities_give_uniform_weights_not_nan() -> None:
    """One residue (max = min): the seed divides by zero; here the summary is that residue."""
    g = torch.Generator().manual_seed(2)
    s, r = torch.randn(1, 4, 3, generator=g), torch.randn(1, 1, 3, generator=g)
    got = local_contrastive_loss(s, r, torch.ones(1, 1, dtype=torch.bool), 10.0)
    assert torch.isfinite(got)
    assert got.item() == pytest.approx(_loop_local(s, r, [1], 10.0), rel=1e-5)


def test_gradients_reach_both_inputs() -> None:
    g = torch.Generator().manual_seed(3)
    s = torch.randn(2, 4, 3, generator=g, requires_grad=True)
    r = torch.randn(2, 5, 3, generator=g, requires_grad=True)
    local_contrastive_loss(s, r, torch.ones(2, 5, dtype=torch.bool), 10.0).backward()
    assert s.grad.abs().sum() > 0 and r.grad.abs().sum() > 0
