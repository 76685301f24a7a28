"""The spatial line graph vs brute force over all pairs of edges (angles by arccos in float64)."""

from __future__ import annotations

import math

import numpy as np

from protdata import ProteinBatch
from protenc_struct import build_gearnet_graph, spatial_line_graph


def test_line_graph_matches_all_pairs(globins):
    p = globins[4].select(slice(0, 45))
    batch = ProteinBatch.collate([p])
    graph = build_gearnet_graph(batch)
    line_index, line_relation = spatial_line_graph(graph.edge_index, graph.nodes.pos, 8)
    source, target = graph.edge_index.numpy()
    ca = p.ca.astype(np.float64)
    expected = {}
    for a in range(len(source)):  # edge a: k → j
        for b in np.flatnonzero(source == target[a]):  # edge b: j → i
            k, j, i = source[a], target[a], target[b]
            v1, v2 = ca[i] - ca[j], ca[k] - ca[j]
            n1, n2 = np.linalg.norm(v1), np.linalg.norm(v2)
            angle = 0.0 if n1 == 0 or n2 == 0 else math.acos(np.clip(v1 @ v2 / (n1 * n2), -1, 1))
            expected[(a, int(b))] = angle
    ours = dict(zip(map(tuple, line_index.t().tolist()), line_relation.tolist()))
    assert ours.keys() == expected.keys()
    assert len(ours) == line_index.shape[1]
    for key, angle in expected.items():
        bin_ = min(int(angle / math.pi * 8), 7)
        near_boundary = abs(angle / math.pi * 8 - round(angle / math.pi * 8)) < 1e-5
        assert ours[key] == bin_ or near_boundary, (key, angle, ours[key])
    assert set(ours.values()) == set(range(8))  # every bin occurs on a real protein
