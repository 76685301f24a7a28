"""Protein MLM: the seed's head shape and the masked cross-entropy against a loop over masked residues."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from protalign.losses.protein_mlm import MLMHead, mlm_loss


def test_head_is_the_seeds() -> None:
    head = MLMHead(1280, 512, 33)  # the seed's mlm_head on ESM-2 650M
    assert [type(m) for m in head.net] == [nn.Linear, nn.GELU, nn.LayerNorm, nn.Linear]
    assert head.net[0].in_features == 1280 and head.net[2].normalized_shape == (512,)
    assert head.net[3].out_features == 33
    assert MLMHead(16).net[3].out_features == 21  # protdata's residue types by default


def test_loss_matches_loop() -> None:
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(7, 21, generator=g, dtype=torch.float64)
    targets = torch.randint(0, 21, (7,), generator=g)
    expected = 0.0
    for row, target in zip(logits, targets):
        expected += -float(row[target]) + math.log(sum(math.exp(float(v)) for v in row))
    assert mlm_loss(logits, targets).item() == pytest.approx(expected / 7, rel=1e-6)


def test_no_masked_residue_gives_zero_with_graph() -> None:
    logits = torch.zeros(0, 21, requires_grad=True)
    loss = mlm_loss(logits, torch.zeros(0, dtype=torch.long))
    assert loss.item() == 0.0 and loss.requires_grad
    loss.backward()


def test_shape_error() -> None:
    with pytest.raises(ValueError, match="expected logits"):
        mlm_loss(torch.zeros(3, 21), torch.zeros(2, dtype=torch.long))
