"""symmetrize / apc against the published formula (float64, loops) and fair-esm's own functions."""

from __future__ import annotations

import itertools

import pytest
import torch

from protdata.contact_features import apc, symmetrize


def _apc_by_hand(f: torch.Tensor) -> torch.Tensor:
    """Dunn et al. 2008: ``APC(i, j) = F̄(i, ·) F̄(·, j) / F̄`` with sums, one (L, L) map at a time."""
    out = torch.empty_like(f)
    n = f.shape[-1]
    for idx in itertools.product(*(range(d) for d in f.shape[:-2])):
        m = f[idx]
        total = float(m.sum())
        for i in range(n):
            for j in range(n):
                out[idx][i, j] = m[i, j] - float(m[i].sum()) * float(m[:, j].sum()) / total
    return out


def test_formula_per_channel() -> None:
    maps = torch.rand(2, 3, 7, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    sym = symmetrize(maps)
    assert torch.equal(sym, sym.transpose(-1, -2))
    assert torch.allclose(sym[0, 1, 2, 5], maps[0, 1, 2, 5] + maps[0, 1, 5, 2])
    torch.testing.assert_close(apc(sym), _apc_by_hand(sym), rtol=0, atol=1e-12)


def test_zero_padding_adds_nothing() -> None:
    maps = torch.rand(1, 2, 5, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    padded = torch.zeros(1, 2, 8, 8, dtype=torch.float64)
    padded[..., :5, :5] = maps
    out = apc(symmetrize(padded))
    torch.testing.assert_close(out[..., :5, :5], apc(symmetrize(maps)), rtol=0, atol=1e-12)
    assert not out[..., 5:, :].any() and not out[..., :, 5:].any()


def test_matches_fair_esm() -> None:
    modules = pytest.importorskip("esm.modules")
    maps = torch.rand(2, 4, 9, 9, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(symmetrize(maps), modules.symmetrize(maps), rtol=0, atol=0)
    torch.testing.assert_close(apc(maps), modules.apc(maps), rtol=1e-6, atol=1e-6)
