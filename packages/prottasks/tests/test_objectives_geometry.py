"""Distance / angle / dihedral prediction on real globin structures: the sampled targets equal a direct NumPy
computation from the Cα coordinates, the sampled edges are removed from the graph the encoder sees, the samples
are uniform over exactly the pairs / chains TorchDrug's line graphs enumerate (brute force + χ² test), and the
losses fall on a tiny encoder."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch
from prottasks_tiny import TinyGraphEncoder, TinySequenceEncoder, learned, train_objective
from scipy.stats import chisquare

from protdata import ProteinBatch
from prottasks.errors import TaskInputError
from prottasks.objectives import (
    AnglePrediction,
    DihedralPrediction,
    DistancePrediction,
    neighbourhood_graph,
)
from prottasks.objectives.edges import sample_edge_pairs, sample_edge_triples, sample_edges

pytestmark = pytest.mark.numerics


def _ca(batch: ProteinBatch) -> np.ndarray:
    return batch.ca.double().numpy()


def _np_angle(x: np.ndarray, i, j, k) -> np.ndarray:
    """Angle between x_i - x_j and x_k - x_j from the cosine; 0 for a zero vector (a self edge j → j)."""
    v1, v2 = x[i] - x[j], x[k] - x[j]
    norms = np.linalg.norm(v1, axis=1) * np.linalg.norm(v2, axis=1)
    cos = np.einsum("nd,nd->n", v1, v2) / np.where(norms > 0, norms, 1.0)
    return np.where(norms > 0, np.arccos(np.clip(cos, -1, 1)), 0.0)


def _np_dihedral(x: np.ndarray, i, j, t, k) -> np.ndarray:
    """Angle between the planes (i, j, t) and (j, t, k) along the axis j–t, from the plane normals."""
    b = x[t] - x[j]
    n1 = np.cross(b, x[i] - x[j])
    n2 = np.cross(b, x[k] - x[t])
    norms = np.linalg.norm(n1, axis=1) * np.linalg.norm(n2, axis=1)
    cos = np.einsum("nd,nd->n", n1, n2) / np.where(norms > 0, norms, 1.0)
    return np.where(norms > 0, np.arccos(np.clip(cos, -1, 1)), 0.0)


def _check_bins(angle: np.ndarray, target: np.ndarray, n: int = 8) -> None:
    expected = np.minimum(np.floor(angle / (np.pi / n)), n - 1).astype(int)
    scaled = angle / (np.pi / n)
    clear = (np.abs(scaled - np.round(scaled)) > 1e-5) | (scaled < 1e-5)  # not on an inner bin boundary
    assert clear.mean() > 0.99
    np.testing.assert_array_equal(target[clear], expected[clear])


def _edges(graph) -> Counter:
    return Counter(zip(*graph.edge_index.tolist(), graph.relation.tolist()))


def _removed_ok(before, after, removed: torch.Tensor) -> None:
    """``after`` = ``before`` minus the edges at ``removed`` (ids into ``before``), as multisets."""
    ids = set(removed.tolist())
    ei, rel = before.edge_index.tolist(), before.relation.tolist()
    expected = Counter((ei[0][e], ei[1][e], rel[e]) for e in range(len(rel)) if e not in ids)
    assert _edges(after) == expected


# ---------------------------------------------------------------------------------------- targets
def test_distance_targets_and_removed_edges(batch):
    enc = TinyGraphEncoder()
    objective = DistancePrediction(enc, num_sample=64)
    out = objective(batch, generator=torch.Generator().manual_seed(0))
    d = out.details
    x = _ca(batch)
    np.testing.assert_allclose(
        d["target"].numpy(), np.linalg.norm(x[d["node_i"]] - x[d["node_j"]], axis=1), rtol=1e-5
    )
    assert torch.bincount(d["protein"], minlength=len(batch)).tolist() == [64] * len(batch)
    full = enc.build_graph(batch)
    assert torch.equal(full.edge_index[:, d["edges"]], torch.stack([d["node_i"], d["node_j"]]))
    _removed_ok(full, enc.seen_graphs[-1], d["edges"])
    assert torch.isfinite(out.loss)


def test_angle_targets_and_removed_edges(batch):
    enc = TinyGraphEncoder()
    out = AnglePrediction(enc, num_sample=128)(batch, generator=torch.Generator().manual_seed(1))
    d = out.details
    full = enc.build_graph(batch)
    src, tgt = full.edge_index
    assert torch.equal(tgt[d["edge_1"]], src[d["edge_2"]])  # k → j then j → i
    assert torch.equal(d["node_j"], src[d["edge_2"]]) and torch.equal(d["node_i"], tgt[d["edge_2"]])
    assert torch.equal(d["node_k"], src[d["edge_1"]])
    assert bool((d["node_k"] != d["node_i"]).all())
    x = _ca(batch)
    np.testing.assert_allclose(
        d["angle"].numpy(), _np_angle(x, d["node_i"], d["node_j"], d["node_k"]), atol=2e-4
    )
    _check_bins(_np_angle(x, d["node_i"], d["node_j"], d["node_k"]), d["target"].numpy())
    _removed_ok(full, enc.seen_graphs[-1], torch.cat([d["edge_1"], d["edge_2"]]))


def test_self_edge_pairs_are_sampled_with_angle_zero(batch):
    """TorchDrug keeps pairs through a self edge ``j → j`` (GearNet's sequential offset 0): zero vector, bin 0."""
    enc = TinyGraphEncoder()
    out = AnglePrediction(enc, num_sample=2000)(batch, generator=torch.Generator().manual_seed(2))
    d = out.details
    self_pair = d["node_k"] == d["node_j"]
    assert bool(self_pair.any())
    assert bool((d["target"][self_pair] == 0).all()) and bool((d["angle"][self_pair] == 0).all())


def test_dihedral_targets_and_removed_edges(batch):
    enc = TinyGraphEncoder()
    out = DihedralPrediction(enc, num_sample=128)(batch, generator=torch.Generator().manual_seed(3))
    d = out.details
    full = enc.build_graph(batch)
    src, tgt = full.edge_index
    assert torch.equal(tgt[d["edge_1"]], src[d["edge_2"]]) and torch.equal(tgt[d["edge_2"]], src[d["edge_3"]])
    assert bool((d["node_k"] != d["node_j"]).all()) and bool((d["node_t"] != d["node_i"]).all())
    x = _ca(batch)
    i, j, t, k = (d[n].numpy() for n in ("node_i", "node_j", "node_t", "node_k"))
    proper = (i != j) & (j != t) & (t != k)  # chains through a self edge are degenerate
    ref = _np_dihedral(x, i, j, t, k)
    np.testing.assert_allclose(d["dihedral"].numpy()[proper], ref[proper], atol=2e-4)
    _check_bins(ref[proper], d["target"].numpy()[proper])
    _removed_ok(full, enc.seen_graphs[-1], torch.cat([d["edge_1"], d["edge_2"], d["edge_3"]]))


# ------------------------------------------------------------------------------- sampling law
def _small_graph(cropped_globins, n: int):
    batch = ProteinBatch.collate([cropped_globins[0].select(slice(0, n))])
    return batch, TinyGraphEncoder(radius=7.0).build_graph(batch)


def test_pair_sampling_is_uniform_over_torchdrug_line_graph(cropped_globins):
    batch, graph = _small_graph(cropped_globins, 25)
    src, tgt = graph.edge_index.tolist()
    valid = [
        (a, b)
        for a in range(len(src))
        for b in range(len(src))
        if tgt[a] == src[b] and a != b and src[a] != tgt[b]
    ]
    e1, e2, _ = sample_edge_pairs(
        graph.edge_index, batch.batch, 1, 60 * len(valid), torch.Generator().manual_seed(0)
    )
    counts = Counter(zip(e1.tolist(), e2.tolist()))
    assert set(counts) == set(valid)
    assert chisquare([counts[v] for v in valid]).pvalue > 1e-3


def test_triple_sampling_is_uniform_over_torchdrug_line_graph_of_line_graph(cropped_globins):
    batch, graph = _small_graph(cropped_globins, 12)
    src, tgt = graph.edge_index.tolist()
    m = len(src)
    pairs = [(a, b) for a in range(m) for b in range(m) if tgt[a] == src[b] and a != b and src[a] != tgt[b]]
    valid = [(a, b, c) for a, b in pairs for b2, c in pairs if b2 == b and (a, b) != (b, c) and a != c]
    gen = torch.Generator().manual_seed(1)
    e1, e2, e3, _ = sample_edge_triples(graph.edge_index, batch.batch, 1, 40 * len(valid), gen)
    counts = Counter(zip(e1.tolist(), e2.tolist(), e3.tolist()))
    assert set(counts) == set(valid)
    assert chisquare([counts[v] for v in valid]).pvalue > 1e-3


def test_edge_sampling_is_per_protein(batch):
    graph = TinyGraphEncoder().build_graph(batch)
    edges, protein = sample_edges(
        graph.edge_index, batch.batch, len(batch), 500, torch.Generator().manual_seed(0)
    )
    assert torch.equal(batch.batch[graph.edge_index[1, edges]], protein)
    assert torch.bincount(protein).tolist() == [500] * len(batch)


# ------------------------------------------------------------------------- sequence encoders
def test_neighbourhood_graph_is_every_pair_within_radius(batch):
    graph = neighbourhood_graph(batch, 10.0)
    x = _ca(batch)
    expected = set()
    offsets = batch.offsets.tolist()
    for b in range(len(batch)):
        lo, hi = offsets[b], offsets[b + 1]
        d = np.linalg.norm(x[lo:hi, None] - x[None, lo:hi], axis=-1)
        expected |= {(lo + s, lo + t) for s, t in zip(*np.nonzero((d < 10.0) & ~np.eye(hi - lo, dtype=bool)))}
    assert set(zip(*graph.edge_index.tolist())) == expected


def test_sequence_encoder_samples_from_neighbourhood(batch):
    out = DihedralPrediction(TinySequenceEncoder(), num_sample=64)(
        batch, generator=torch.Generator().manual_seed(4)
    )
    d = out.details
    x = _ca(batch)
    for a, b in (("node_k", "node_t"), ("node_t", "node_j"), ("node_j", "node_i")):
        assert (np.linalg.norm(x[d[a]] - x[d[b]], axis=1) < 10.0).all()
    assert torch.isfinite(out.loss)


# ---------------------------------------------------------------------------------- training
@pytest.mark.parametrize("encoder_cls", [TinyGraphEncoder, TinySequenceEncoder])
@pytest.mark.parametrize("objective_cls", [DistancePrediction, AnglePrediction, DihedralPrediction])
def test_loss_finite_and_decreasing(batch, encoder_cls, objective_cls):
    torch.manual_seed(0)
    objective = objective_cls(encoder_cls(), num_sample=64)
    losses, _ = train_objective(objective, batch, steps=30)
    assert learned(losses), losses


# --------------------------------------------------------------------------------- bad input
def test_missing_ca_is_a_clear_error(cropped_globins):
    p = cropped_globins[1]
    coords = p.coords.copy()
    coords[7, 1] = np.nan
    bad = ProteinBatch.collate([cropped_globins[0], p.replace(coords=coords)])
    with pytest.raises(TaskInputError, match=r"d1b0ba_.*residue 8"):
        DistancePrediction(TinySequenceEncoder())(bad)


def test_no_edges_anywhere_is_a_clear_error(cropped_globins):
    tiny = ProteinBatch.collate([cropped_globins[0].select(slice(0, 1))])
    with pytest.raises(TaskInputError, match="no protein of the batch has any edge"):
        DistancePrediction(TinySequenceEncoder())(tiny)
