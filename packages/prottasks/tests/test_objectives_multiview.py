"""Multiview contrast: subsequence / subspace crops as protdata's transforms draw them, the induced subgraph of the
full graph (brute force), the random edge mask (15 % of each protein's edges), InfoNCE against a NumPy formula,
and a falling loss."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from prottasks_tiny import TinyGraphEncoder, TinySequenceEncoder, learned, train_objective

from protdata import ProteinBatch
from protdata.transforms import SubspaceCrop, SubspaceCropConfig
from prottasks.objectives import (
    IdentityNoiseConfig,
    MultiviewContrast,
    MultiviewContrastConfig,
    RandomEdgeMaskConfig,
)
from prottasks.objectives.multiview import crop_keep, info_nce

pytestmark = pytest.mark.numerics


class _SpyGraphEncoder(TinyGraphEncoder):
    def forward(self, batch, node_features=None, graph=None):
        self.seen_batches = [*getattr(self, "seen_batches", []), batch]
        return super().forward(batch, node_features, graph)


def _edge_set(edge_index: torch.Tensor) -> set[tuple[int, int]]:
    return set(zip(*edge_index.tolist()))


def test_subsequence_crop_is_a_window_of_50(globins):
    batch = ProteinBatch.collate(globins)
    keep = crop_keep(batch, MultiviewContrastConfig().crops[0], np.random.default_rng(0))
    offsets = batch.offsets.tolist()
    for b in range(len(batch)):
        kept = np.flatnonzero(keep[offsets[b] : offsets[b + 1]].numpy())
        assert len(kept) == 50 and np.array_equal(kept, np.arange(kept[0], kept[0] + 50))


def test_subspace_crop_is_the_ball_protdata_draws(globins):
    batch = ProteinBatch.collate(globins[:2])
    crop = SubspaceCropConfig(min_neighbor=15, min_radius=15.0)
    keep = crop_keep(batch, crop, np.random.default_rng(5))
    rng = np.random.default_rng(5)
    offsets = batch.offsets.tolist()
    for b, protein in enumerate(globins[:2]):
        centre, radius, _ = SubspaceCrop(crop).ball(protein, rng)
        d = np.linalg.norm(protein.ca - protein.ca[centre], axis=1)
        assert np.array_equal(
            np.flatnonzero(keep[offsets[b] : offsets[b + 1]].numpy()), np.flatnonzero(d < radius)
        )


def test_view_graph_is_the_induced_subgraph(globins):
    batch = ProteinBatch.collate(globins[:3])
    enc = _SpyGraphEncoder()
    objective = MultiviewContrast(enc, MultiviewContrastConfig(noises=[IdentityNoiseConfig()]))
    out = objective(batch, generator=torch.Generator().manual_seed(0))
    full = enc.build_graph(batch)
    for view, keep in zip(enc.seen_graphs[-2:], (out.details["keep_1"], out.details["keep_2"])):
        old = torch.nonzero(keep).squeeze(-1).tolist()  # new index -> old index
        renumbered = {(old[s], old[t]) for s, t in _edge_set(view.edge_index)}
        kept = set(old)
        assert renumbered == {(s, t) for s, t in _edge_set(full.edge_index) if s in kept and t in kept}


def test_random_edge_mask_drops_15_percent_per_protein(globins):
    batch = ProteinBatch.collate(globins[:3])
    enc = _SpyGraphEncoder()
    config = MultiviewContrastConfig(noises=[RandomEdgeMaskConfig()], induce_full_graph=False)
    MultiviewContrast(enc, config)(batch, generator=torch.Generator().manual_seed(1))
    view, cropped = enc.seen_graphs[-1], enc.seen_batches[-1]
    complete = enc.build_graph(cropped)
    before = torch.bincount(cropped.batch[complete.edge_index[1]], minlength=len(batch))
    after = torch.bincount(cropped.batch[view.edge_index[1]], minlength=len(batch))
    assert _edge_set(view.edge_index) <= _edge_set(complete.edge_index)
    for b in range(len(batch)):
        drawn = math.floor(0.15 * int(before[b]))
        dropped = int(before[b] - after[b])
        assert 0.8 * drawn <= dropped <= drawn  # drawn with replacement: a few repeats


def test_sequence_encoder_gets_residue_masking_for_edge_noise(globins):
    batch = ProteinBatch.collate(globins[:2])
    seen = []

    class Spy(TinySequenceEncoder):
        def forward(self, b):
            seen.append(b)
            return super().forward(b)

    MultiviewContrast(Spy(), MultiviewContrastConfig(noises=[RandomEdgeMaskConfig()]))(batch)
    for view in seen:
        counts = torch.zeros(len(view), dtype=torch.long).index_add_(
            0, view.batch, view.residue_masked.long()
        )
        assert bool((counts >= 1).all()) and bool((counts <= math.floor(0.15 * 50)).all())


def test_info_nce_matches_formula():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(5, 8, generator=g), torch.randn(5, 8, generator=g)
    loss, _ = info_nce(x, y, 0.07)
    xn = x.numpy() / np.linalg.norm(x.numpy(), axis=1, keepdims=True)
    yn = y.numpy() / np.linalg.norm(y.numpy(), axis=1, keepdims=True)
    s = xn @ yn.T / 0.07
    lse = np.log(np.exp(s - s.max(1, keepdims=True)).sum(1)) + s.max(1)
    assert float(loss) == pytest.approx(-np.mean(np.diag(s) - lse), rel=1e-5)


@pytest.mark.parametrize("encoder_cls", [TinyGraphEncoder, TinySequenceEncoder])
def test_loss_finite_and_decreasing(globins, encoder_cls):
    batch = ProteinBatch.collate(globins)
    torch.manual_seed(0)
    objective = MultiviewContrast(encoder_cls())
    losses, _ = train_objective(objective, batch, steps=20)
    assert learned(losses), losses
