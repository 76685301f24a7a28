"""Stand-alone radius and KNN edges (GVP's graph, other settings) vs the NumPy reference."""

from __future__ import annotations

import numpy as np
import pytest

from protdata import ProteinBatch
from protenc_struct import GraphNodes, build_radius_graph
from protenc_struct.graph.knn import knn_edges
from protenc_struct.graph.radius import radius_edges
from protenc_struct.graph.reference import reference_knn, reference_radius


def _codes(edges: np.ndarray) -> np.ndarray:
    return np.sort(edges[:, 0] * 100_000 + edges[:, 1])


def _local(batch: ProteinBatch, edge_index) -> list[np.ndarray]:
    offsets = batch.offsets.tolist()
    e = edge_index.t().numpy()
    graph = np.searchsorted(offsets, e[:, 1], side="right") - 1
    return [e[graph == b] - offsets[b] for b in range(len(batch))]


@pytest.mark.parametrize(("radius", "min_distance", "cap"), [(10.0, 0, 32), (7.5, 3, 8), (12.0, 5, None)])
def test_radius_edges(globins, radius, min_distance, cap):
    batch = ProteinBatch.collate(globins[:8])
    edges = radius_edges(
        GraphNodes.from_batch(batch), radius, min_distance=min_distance, max_num_neighbors=cap
    )
    for p, ours in zip(globins, _local(batch, edges)):
        assert np.array_equal(_codes(ours), _codes(reference_radius(p.ca, radius, min_distance, cap)))


@pytest.mark.parametrize(("k", "min_distance"), [(10, 5), (16, 0), (1, 0), (300, 2)])
def test_knn_edges(globins, k, min_distance):
    batch = ProteinBatch.collate(globins[:8])
    edges = knn_edges(GraphNodes.from_batch(batch), k, min_distance=min_distance)
    for p, ours in zip(globins, _local(batch, edges)):
        assert np.array_equal(_codes(ours), _codes(reference_knn(p.ca, k, min_distance)))


def test_gvp_graph_and_cdconv_self_loops(globins):
    """GVP: radius 10, min_distance 0, ≤ 32 nearest, no self loops; CDConv adds one self loop per residue."""
    batch = ProteinBatch.collate(globins[:3])
    gvp = build_radius_graph(batch, 10.0, max_num_neighbors=32)
    cd = build_radius_graph(batch, 8.0, max_num_neighbors=None, self_loops=True)
    for p, ours, mine in zip(globins, _local(batch, gvp.edge_index), _local(batch, cd.edge_index)):
        assert np.array_equal(_codes(ours), _codes(reference_radius(p.ca, 10.0, 0, 32)))
        loops = np.column_stack([np.arange(len(p)), np.arange(len(p))])
        expected = np.concatenate([reference_radius(p.ca, 8.0, 0, None), loops])
        assert np.array_equal(_codes(mine), _codes(expected))
