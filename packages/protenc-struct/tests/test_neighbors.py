"""Blocked pair enumeration and deterministic nearest-k selection vs brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from protenc_struct import GraphNodes
from protenc_struct.graph.neighbors import _blocks, keep_nearest, pair_blocks, smallest_k


@pytest.mark.parametrize("budget", [1, 7, 50, 400, 10_000])
def test_blocks_cover_every_pair_once_within_budget(budget):
    lengths = [1, 5, 17, 3, 30, 2, 9]
    seen = []
    for b0, b1, r0, r1, width in _blocks(lengths, budget):
        assert width == max(lengths[b0:b1])
        assert (b1 - b0) * (r1 - r0) * width <= max(budget, width)  # a single row may exceed a tiny budget
        for b in range(b0, b1):
            seen += [(b, q, c) for q in range(r0, min(r1, lengths[b])) for c in range(lengths[b])]
    expected = [(b, q, c) for b, n in enumerate(lengths) for q, c in itertools.product(range(n), range(n))]
    assert sorted(seen) == expected


def test_pair_blocks_distances_match_numpy():
    g = torch.Generator().manual_seed(0)
    lengths = torch.tensor([4, 11, 1, 7])
    pos = torch.randn(int(lengths.sum()), 3, generator=g) * 10
    nodes = GraphNodes(pos=pos, lengths=lengths)
    offsets = nodes.offsets.tolist()
    found = {}
    for block in pair_blocks(nodes, block_elements=60):
        for g_, q, c in zip(*torch.nonzero(torch.isfinite(block.dist2), as_tuple=True)):
            s, t = block.flat_pairs(g_[None], q[None], c[None])[:, 0].tolist()
            found[(s, t)] = float(block.dist2[g_, q, c])
    expected = {}
    p = pos.numpy()
    for b in range(4):
        for i in range(offsets[b], offsets[b + 1]):
            for j in range(offsets[b], offsets[b + 1]):
                if i != j:
                    d = p[j] - p[i]
                    expected[(j, i)] = float(d[0] * d[0] + d[1] * d[1] + d[2] * d[2])
    assert found.keys() == expected.keys()
    assert all(found[k] == expected[k] for k in expected)  # bit-identical float32 formula


def test_smallest_k_breaks_ties_by_lower_column():
    dist2 = torch.tensor(
        [
            [5.0, 1.0, 3.0, 3.0, 3.0, 0.5],  # three-way tie at the 3rd value
            [2.0, 2.0, 2.0, 2.0, 2.0, 2.0],  # all tied
            [float("inf"), 1.0, float("inf"), float("inf"), float("inf"), float("inf")],  # fewer than k
        ]
    )
    values, columns = smallest_k(dist2, 3)
    expected = np.argsort(dist2.numpy(), axis=1, kind="stable")[:, :3]
    finite = torch.isfinite(values)
    ours = [sorted(c for c, f in zip(r, m) if f) for r, m in zip(columns.tolist(), finite.tolist())]
    assert ours == [[1, 2, 5], [0, 1, 2], [1]]  # ties → lower columns; inf entries (no neighbour) flagged
    assert [sorted(r) for r in expected.tolist()][:2] == ours[:2]


def test_keep_nearest_matches_stable_sort():
    g = torch.Generator().manual_seed(1)
    dist2 = torch.randint(0, 6, (200, 30), generator=g).float()  # many ties
    mask = torch.rand(200, 30, generator=g) < 0.6
    kept = keep_nearest(dist2, mask, 8)
    for row in range(200):
        candidates = np.flatnonzero(mask[row].numpy())
        order = candidates[np.argsort(dist2[row, candidates].numpy(), kind="stable")][:8]
        assert set(np.flatnonzero(kept[row].numpy())) == set(order.tolist())
