"""Global contrastive loss against a direct loop over the InfoNCE formula; logit-scale init and clamp."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from protalign.losses.clip import ClipLoss, clip_loss

pytestmark = pytest.mark.numerics


def _loop_clip(p: torch.Tensor, t: torch.Tensor, scale: float) -> float:
    """½ [1/B Σ_i −log(e^{s p_i·t_i} / Σ_j e^{s p_i·t_j}) + 1/B Σ_j −log(e^{s p_j·t_j} / Σ_i e^{s p_i·t_j})]."""
    b = p.shape[0]
    sim = [
        [scale * float(sum(p[i, k] * t[j, k] for k in range(p.shape[1]))) for j in range(b)] for i in range(b)
    ]
    p2t = sum(-sim[i][i] + math.log(sum(math.exp(sim[i][j]) for j in range(b))) for i in range(b)) / b
    t2p = sum(-sim[j][j] + math.log(sum(math.exp(sim[i][j]) for i in range(b))) for j in range(b)) / b
    return (p2t + t2p) / 2


@pytest.mark.parametrize("b", [1, 2, 5])
def test_clip_loss_matches_loop(b: int) -> None:
    g = torch.Generator().manual_seed(b)
    p = F.normalize(torch.randn(b, 6, generator=g, dtype=torch.float64), dim=-1)
    t = F.normalize(torch.randn(b, 6, generator=g, dtype=torch.float64), dim=-1)
    got = clip_loss(p, t, 1 / 0.07)
    assert got.item() == pytest.approx(_loop_clip(p, t, 1 / 0.07), rel=1e-6)


def test_asymmetric_logits_use_both_directions() -> None:
    """With B = 3 and a non-symmetric similarity matrix, the two directions differ; the loss is their mean."""
    p = torch.eye(3)
    t = F.normalize(torch.tensor([[1.0, 0.5, 0.0], [0.0, 1.0, 0.0], [0.9, 0.0, 0.1]]), dim=-1)
    logits = 10 * p @ t.t()
    labels = torch.arange(3)
    expected = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels)) / 2
    assert F.cross_entropy(logits, labels).item() != pytest.approx(F.cross_entropy(logits.t(), labels).item())
    assert clip_loss(p, t, 10.0).item() == pytest.approx(expected.item())
    assert clip_loss(p, t, 10.0).item() == pytest.approx(_loop_clip(p, t, 10.0), rel=1e-5)


def test_logit_scale_init_and_clamp() -> None:
    loss = ClipLoss()
    assert loss.logit_scale.item() == pytest.approx(math.log(1 / 0.07))
    assert loss.scale().item() == pytest.approx(1 / 0.07, rel=1e-6)
    with torch.no_grad():
        loss.logit_scale.fill_(math.log(1000.0))
    assert loss.scale().item() == pytest.approx(100.0)
    g = torch.Generator().manual_seed(0)
    p = F.normalize(torch.randn(4, 3, generator=g), dim=-1)
    t = F.normalize(torch.randn(4, 3, generator=g), dim=-1)
    out = loss(p, t)
    assert out.item() == pytest.approx(_loop_clip(p, t, 100.0), rel=1e-5)
    out.backward()
    assert loss.logit_scale.grad.item() == 0.0  # clamped: no gradient pushes it further up


def test_logit_scale_gradient_matches_formula() -> None:
    """d L / d log s = s · d L / d s, with d L / d s from the loop formula by central differences."""
    loss = ClipLoss()
    g = torch.Generator().manual_seed(3)
    p = F.normalize(torch.randn(5, 4, generator=g, dtype=torch.float64), dim=-1)
    t = F.normalize(torch.randn(5, 4, generator=g, dtype=torch.float64), dim=-1)
    loss(p, t).backward()
    s, h = 1 / 0.07, 1e-4
    numeric = s * (_loop_clip(p, t, s + h) - _loop_clip(p, t, s - h)) / (2 * h)
    assert loss.logit_scale.grad.item() == pytest.approx(numeric, rel=1e-4)


def test_bad_shapes() -> None:
    with pytest.raises(ValueError, match="two \\(B, D\\)"):
        clip_loss(torch.zeros(3, 4), torch.zeros(2, 4), 1.0)
    with pytest.raises(ValueError, match="initial scale"):
        ClipLoss(temperature=0.001, max_scale=100.0)
