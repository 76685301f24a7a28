"""ProjectionHead: Linear(d→512) → ReLU → Linear(512→512) as in the seed, applied on the last axis."""

from __future__ import annotations

import torch
from torch import nn

from protalign.projection import ProjectionHead


def test_structure_is_the_seeds() -> None:
    head = ProjectionHead(1280)
    layers = list(head.net)
    assert [type(m) for m in layers] == [nn.Linear, nn.ReLU, nn.Linear]
    assert (layers[0].in_features, layers[0].out_features) == (1280, 512)
    assert (layers[2].in_features, layers[2].out_features) == (512, 512)
    assert all(torch.equal(m.bias, torch.zeros_like(m.bias)) for m in (layers[0], layers[2]))


def test_formula_on_tokens_and_pooled() -> None:
    torch.manual_seed(0)
    head = ProjectionHead(6, 4)
    for m in head.net:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.bias)
    w1, b1, w2, b2 = head.net[0].weight, head.net[0].bias, head.net[2].weight, head.net[2].bias
    x = torch.randn(2, 3, 6)
    expected = torch.empty(2, 3, 4)
    for i in range(2):
        for j in range(3):
            hidden = torch.clamp(w1 @ x[i, j] + b1, min=0)
            expected[i, j] = w2 @ hidden + b2
    torch.testing.assert_close(head(x), expected)
    torch.testing.assert_close(head(x[:, 0]), expected[:, 0])
