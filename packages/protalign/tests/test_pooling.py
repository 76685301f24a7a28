"""mean_pool: masked mean over real positions (loop reference) and the seed's mean over padding."""

from __future__ import annotations

import pytest
import torch

from protalign.pooling import mean_pool

pytestmark = pytest.mark.numerics


def _loop_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    out = torch.zeros(x.shape[0], x.shape[2], dtype=torch.float64)
    for b in range(x.shape[0]):
        rows = [x[b, i].double() for i in range(x.shape[1]) if mask[b, i]]
        if rows:
            out[b] = sum(rows) / len(rows)
    return out


def test_masked_mean_matches_loop() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 7, 5, generator=g)
    lengths = torch.tensor([7, 3, 1, 0])
    mask = torch.arange(7)[None] < lengths[:, None]
    got = mean_pool(x, mask)
    torch.testing.assert_close(got.double(), _loop_mean(x, mask), rtol=1e-6, atol=1e-6)
    assert torch.equal(got[3], torch.zeros(5))  # no real position: zeros, not NaN


def test_masked_mean_ignores_padding_values_and_length() -> None:
    """The embedding of a sequence must not depend on how much padding its batch adds (the seed's bug)."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1, 4, 3, generator=g)
    short = mean_pool(x, torch.ones(1, 4, dtype=torch.bool))
    padded = torch.cat([x, torch.randn(1, 6, 3, generator=g)], dim=1)
    mask = torch.arange(10)[None] < 4
    torch.testing.assert_close(mean_pool(padded, mask), short)
    seed_style = mean_pool(padded, mask, include_padding=True)
    torch.testing.assert_close(seed_style, padded.sum(1) / 10)  # Σ over all 10 positions / 10
    assert not torch.allclose(seed_style, short)


def test_shape_errors() -> None:
    with pytest.raises(ValueError, match="expected x"):
        mean_pool(torch.zeros(2, 3), torch.ones(2, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="mask"):
        mean_pool(torch.zeros(2, 3, 4), torch.ones(2, 4, dtype=torch.bool))
