"""CDConv: seed configuration size, invariance, pooling, encoder contract."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from protdata import ProteinBatch
from protdata.encoder import check_output
from protenc_struct import CDConvEncoder, GraphNodes
from protenc_struct.models.cdconv import pool_pairs

pytestmark = pytest.mark.numerics


def _block(d_in: int, d_out: int) -> int:
    """Parameters of one CDBlock with the seed's settings (no biases, kernel [32], 21 offsets, width d_out/4)."""
    width = int(d_out * 16 / 64)
    n = 2 * d_in + d_in * width + 2 * width  # input MLP: BN, Linear, BN
    n += 21 * 7 * 32 + 21 * 32 + 32 * width * width  # WeightNet + W
    n += 2 * width + width * d_out  # output: BN, Linear
    if d_in != d_out:
        n += 2 * d_in + d_in * d_out  # identity: BN, Linear
    return n


def test_seed_configuration_size():
    model = CDConvEncoder()
    assert model.output_dim == 2048
    dims = [16, 256, 512, 1024, 2048]
    expected = 21 * 16 + sum(_block(a, b) + _block(b, b) for a, b in itertools.pairwise(dims))
    assert sum(p.numel() for p in model.parameters()) == expected


def test_invariance_and_contract(globins, helpers):
    torch.manual_seed(0)
    model = CDConvEncoder(hidden_dims=[32, 64], cutoffs=[8.0, 12.0]).double().eval()
    batch = helpers.with_dtype(ProteinBatch.collate(globins[:3]), torch.float64)
    moved = helpers.transformed(batch, helpers.random_rotation(11), torch.tensor([100.0, 0.5, -30.0]))
    a, b = model(batch), model(moved)
    check_output(a, batch, 64)
    torch.testing.assert_close(a.protein, b.protein, rtol=0, atol=1e-5)
    # the residue output is the protein feature broadcast to every residue (seed: node_feature = graph_feature)
    for i in range(3):
        length = int(batch.lengths[i])
        assert torch.equal(a.residue[i, :length], a.protein[i].expand(length, -1))


def test_pooling_averages_consecutive_pairs(globins):
    proteins = [globins[0].select(slice(0, 7)), globins[1].select(slice(0, 4))]
    batch = ProteinBatch.collate(proteins)
    nodes = GraphNodes.from_batch(batch)
    x = torch.arange(batch.num_residues * 2, dtype=torch.float32).view(-1, 2)
    frames = torch.randn(batch.num_residues, 3, 3)
    pooled, px, pframes, pnumber = pool_pairs(nodes, x, frames, batch.residue_number)
    assert pooled.lengths.tolist() == [4, 2]
    rows, expected_numbers = [], []
    for b, p in enumerate(proteins):
        start = int(batch.offsets[b])
        for k in range(0, len(p), 2):
            idx = list(range(start + k, min(start + k + 2, start + len(p))))
            rows.append(idx)
            expected_numbers.append(int(np.floor(p.residue_number[k] / 2)))
    torch.testing.assert_close(px, torch.stack([x[r].mean(0) for r in rows]))
    torch.testing.assert_close(pooled.pos, torch.stack([batch.ca[r].mean(0) for r in rows]))
    norm = torch.stack([frames[r].mean(0) for r in rows])
    torch.testing.assert_close(pframes, norm / norm.norm(dim=-1, keepdim=True))
    assert pnumber.tolist() == expected_numbers


def test_trains(globins):
    model = CDConvEncoder(hidden_dims=[32, 64], cutoffs=[8.0, 12.0]).train()
    out = model(ProteinBatch.collate(globins[:2]))
    out.protein.pow(2).mean().backward()
    assert all(p.grad is not None and p.grad.isfinite().all() for p in model.parameters())
