"""The fused CPU linear (oneDNN) against plain ``F.linear`` + ``F.gelu`` + add."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from protenc_seq.esm2.linear import linear, onednn_enabled, set_onednn


def test_fused_epilogues_match_plain_ops() -> None:
    torch.manual_seed(0)
    layer = nn.Linear(48, 96)
    x, residual = torch.randn(37, 48), torch.randn(37, 96)
    with torch.no_grad():
        want = F.linear(x, layer.weight, layer.bias)
        for enabled in (True, False):
            previous = onednn_enabled()
            set_onednn(enabled)
            try:
                assert (linear(x, layer) - want).abs().max() < 1e-5
                assert (linear(x, layer, gelu=True) - F.gelu(want)).abs().max() < 1e-5
                assert (linear(x, layer, residual=residual) - (residual + want)).abs().max() < 1e-5
            finally:
                set_onednn(previous)


def test_autograd_path_keeps_gradients() -> None:
    layer = nn.Linear(8, 4)
    x = torch.randn(5, 8, requires_grad=True)
    linear(x, layer, gelu=True).sum().backward()
    assert x.grad is not None and layer.weight.grad is not None
