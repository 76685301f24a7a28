"""PrototypeBank: Gumbel-softmax as torch's reference, the formula by loop, and the Gumbel-max law."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from protalign.prototype_bank import PrototypeBank

pytestmark = pytest.mark.numerics


def test_same_draws_as_torch_gumbel_softmax() -> None:
    bank = PrototypeBank(dim=6, num_prototypes=10, tau=0.9)
    x = torch.randn(3, 4, 6)
    torch.manual_seed(123)
    out = bank(x)
    torch.manual_seed(123)
    reference = F.gumbel_softmax(x @ bank.prototypes.weight.t(), tau=0.9, hard=False, dim=-1)
    torch.testing.assert_close(out.weights, reference)
    torch.testing.assert_close(out.embeddings, reference @ bank.prototypes.weight)
    assert out.embeddings.shape == (3, 4, 6) and out.index.shape == (3, 4)


def test_formula_by_loop() -> None:
    torch.manual_seed(0)
    bank = PrototypeBank(dim=3, num_prototypes=4, tau=0.9)
    x = torch.randn(2, 3)
    noise = -torch.log(-torch.log(torch.rand(2, 4)))
    out = bank(x, noise=noise)
    w = bank.prototypes.weight.detach()
    for i in range(2):
        z = [float(x[i] @ w[k]) for k in range(4)]
        e = [math.exp((z[k] + float(noise[i, k])) / 0.9) for k in range(4)]
        y = [v / sum(e) for v in e]
        expected = sum(y[k] * w[k] for k in range(4))
        torch.testing.assert_close(out.embeddings[i].detach(), expected, rtol=1e-5, atol=1e-6)
        assert out.index[i].item() == max(range(4), key=lambda k: y[k])
    assert out.loss.item() == pytest.approx((out.embeddings - x).abs().mean().item())


def test_gumbel_max_law() -> None:
    """arg-max of the Gumbel-perturbed logits is distributed as softmax(logits) (the Gumbel-max trick)."""
    torch.manual_seed(5)
    bank = PrototypeBank(dim=2, num_prototypes=3, tau=0.9)
    with torch.no_grad():
        bank.prototypes.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]))
    x = torch.tensor([[0.5, 0.2]]).expand(40000, 2)
    counts = torch.bincount(bank(x).index, minlength=3).double() / 40000
    expected = torch.softmax(torch.tensor([0.5, 0.2, -0.5], dtype=torch.float64), dim=0)
    torch.testing.assert_close(counts, expected, atol=0.01, rtol=0)


def test_init_and_errors() -> None:
    bank = PrototypeBank()
    assert bank.prototypes.weight.shape == (512, 512) and bank.tau == 0.9
    assert abs(bank.prototypes.weight.std().item() - 1.0) < 0.01  # nn.Embedding's N(0, 1), as the seed
    with pytest.raises(ValueError, match="expected"):
        bank(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="temperature"):
        PrototypeBank(tau=0.0)
