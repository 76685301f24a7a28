"""Shared fixtures: real structures of clearly different lengths, tiny random encoders with non-trivial batch-norm
statistics, and the seed's configurations."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from protdata import Protein, ProteinBatch, load_chains
from protdata.testing import shared_data

#: Tiny sequence architecture (4 layers → with 3 GearNet layers the derived schedule is 1, 2, 3).
TINY_ESM = {"num_layers": 4, "embed_dim": 32, "attention_heads": 4}


@pytest.fixture(scope="session")
def proteins() -> list[Protein]:
    """Four real chains of 20, 76, 142 and 208 residues (Trp-cage 1l2y, 2axd, the globin d1b0ba_ with an unknown
    residue X, 1dix), in this order."""
    fold = shared_data("foldseek", "structures")
    globins = shared_data("structures", "scop_globins")
    chains = [
        load_chains(fold / "1l2y.cif")[0],
        load_chains(fold / "2axd.cif")[0],
        load_chains(globins / "d1b0ba_")[0],
        load_chains(fold / "1dix.cif")[0],
    ]
    assert [len(p) for p in chains] == [20, 76, 142, 208]
    return chains


@pytest.fixture(scope="session")
def batch(proteins: list[Protein]) -> ProteinBatch:
    return ProteinBatch.collate(proteins)


def randomize_(module: nn.Module, seed: int) -> nn.Module:
    """Non-trivial parameters and batch-norm running statistics (so eval-mode batch norm is not the identity)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=gen))
                if m.affine:
                    m.weight.copy_(1 + 0.1 * torch.randn(m.weight.shape, generator=gen))
                    m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=gen))
    return module


def tiny(config: dict, seed: int = 0) -> nn.Module:
    """``protfusion.build(config)`` with torch seeded, batch-norm statistics randomised, in eval mode."""
    import protfusion

    torch.manual_seed(seed)
    return randomize_(protfusion.build(config), seed).eval()


@pytest.fixture(scope="session")
def helpers() -> SimpleNamespace:
    """Helper functions for tests (conftest is not importable under ``--import-mode=importlib``)."""
    return SimpleNamespace(randomize_=randomize_, tiny=tiny, TINY_ESM=TINY_ESM)
