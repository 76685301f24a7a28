"""SiamDiff: the noise schedule and mask rates against the paper's formulas, the structure targets against a
NumPy recomputation from the perturbed coordinates, the edge → node transform against a loop, shared sequence
masks across the two views, graphs built before the structure noise, and a falling loss."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from prottasks_tiny import TinyGraphEncoder, TinySequenceEncoder, learned, train_objective

from prottasks.objectives import SiamDiff, SiamDiffConfig, noise_schedule
from prottasks.objectives.siamdiff import edge_scores_to_nodes

pytestmark = pytest.mark.numerics


class _Spy(TinyGraphEncoder):
    def forward(self, batch, node_features=None, graph=None):
        self.seen_batches = [*getattr(self, "seen_batches", []), batch]
        return super().forward(batch, node_features, graph)


def _alphas() -> np.ndarray:
    t = np.linspace(-6, 6, 100)
    betas = 1 / (1 + np.exp(-t)) * (0.1 - 1e-3) + 1e-3
    return np.cumprod(1 - betas)


def test_noise_schedule():
    np.testing.assert_allclose(noise_schedule(SiamDiffConfig()).numpy(), _alphas(), rtol=1e-5)


def test_masks_targets_and_graphs(batch):
    enc = _Spy()
    objective = SiamDiff(enc)
    out = objective(batch, generator=torch.Generator().manual_seed(0))
    d = out.details
    level = d["noise_level"].numpy()
    rate = (1.0 - 0.15) * (level + 1) / 100 + 0.15
    counts = torch.bincount(batch.batch[d["masked_index"]], minlength=len(batch)).numpy()
    assert counts.tolist() == [max(math.floor(n * r + 1e-9), 1) for n, r in zip(batch.lengths.tolist(), rate)]
    v1, v2 = enc.seen_batches[-2:]
    assert torch.equal(v1.residue_masked, v2.residue_masked)  # shared sequence noise
    expected = torch.zeros(batch.num_residues, dtype=torch.bool)
    expected[d["masked_index"]] = True
    assert torch.equal(v1.residue_masked, expected)

    # graph of view 1: built on the clean (masked) coordinates, nodes moved to the perturbed ones
    clean = enc.build_graph(batch)
    g1 = enc.seen_graphs[-2]
    assert torch.equal(g1.edge_index, clean.edge_index)
    assert torch.equal(g1.nodes.pos, d["perturbed_pos_1"])
    assert torch.allclose(v1.ca, d["perturbed_pos_1"])

    # structure target: (d - d~) / sqrt(1 - a) * sqrt(a) with a = alpha of the protein's level
    x = batch.ca.double().numpy()
    xt = d["perturbed_pos_1"].double().numpy()
    src, tgt = d["edge_index_1"].numpy()
    a = _alphas()[level][batch.batch.numpy()[tgt]]
    dist = np.linalg.norm(x[src] - x[tgt], axis=1)
    pdist = np.linalg.norm(xt[src] - xt[tgt], axis=1)
    np.testing.assert_allclose(d["struct_target_1"].numpy(), (dist - pdist) / np.sqrt(1 - a) * np.sqrt(a),
                               atol=2e-3)  # fmt: skip
    # the perturbation is N(0, (1 - a) / a) per coordinate
    a_node = _alphas()[level][batch.batch.numpy()]
    z = (xt - x) / np.sqrt((1 - a_node) / a_node)[:, None]
    assert abs(z.std() - 1.0) < 0.1 and abs(z.mean()) < 0.1
    assert torch.isfinite(out.loss)


def test_second_conformer_noise(batch):
    objective = SiamDiff(TinySequenceEncoder())
    coords = batch.coords.clone()
    coords[3, 4] = float("nan")  # a missing CB stays missing
    atom_mask = batch.atom_mask.clone()
    atom_mask[3, 4] = False
    b = dataclasses.replace(batch, coords=coords, atom_mask=atom_mask)
    second = objective.conformer(b, torch.Generator().manual_seed(0))
    diff = (second.coords - b.coords)[b.atom_mask]
    assert abs(float(diff.std()) - 0.3) < 0.02
    assert bool(torch.isnan(second.coords[3, 4]).all())


def test_edge_scores_to_nodes_matches_loop():
    g = torch.Generator().manual_seed(0)
    pos = torch.randn(6, 3, generator=g, dtype=torch.float64)
    edge_index = torch.tensor([[0, 1, 2, 2, 3, 5], [1, 0, 3, 4, 4, 0]])
    score = torch.randn(6, generator=g, dtype=torch.float64)
    out = edge_scores_to_nodes(score, pos, edge_index).numpy()
    p, s = pos.numpy(), score.numpy()
    expected = np.zeros((6, 3))
    for node in range(6):
        outgoing = [e for e in range(6) if edge_index[0, e] == node]
        incoming = [e for e in range(6) if edge_index[1, e] == node]
        for edges, sign in ((outgoing, 1.0), (incoming, -1.0)):
            if edges:
                vecs = [
                    (p[edge_index[0, e]] - p[edge_index[1, e]])
                    / np.linalg.norm(p[edge_index[0, e]] - p[edge_index[1, e]])
                    * s[e]
                    for e in edges
                ]
                expected[node] += sign * np.mean(vecs, axis=0)
    np.testing.assert_allclose(out, expected, atol=1e-9)


@pytest.mark.parametrize(
    ("encoder_cls", "kwargs"),
    [(TinyGraphEncoder, {}), (TinySequenceEncoder, {}), (TinyGraphEncoder, {"use_mi": False}),
     (TinyGraphEncoder, {"gamma": 1.0}), (TinySequenceEncoder, {"gamma": 0.0})],
)  # fmt: skip
def test_loss_finite_and_decreasing(batch, encoder_cls, kwargs):
    torch.manual_seed(0)
    objective = SiamDiff(encoder_cls(), **kwargs)
    losses, _ = train_objective(objective, batch, steps=25)
    assert learned(losses), losses
