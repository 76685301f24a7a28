"""GearNet-Edge's 59-d edge features vs a per-edge transcription of TorchDrug's ``edge_gearnet``."""

from __future__ import annotations

import numpy as np

from protdata import ProteinBatch
from protenc_struct import build_gearnet_graph, gearnet_edge_features


def test_edge_features_per_edge(globins):
    proteins = [globins[0], globins[1].replace(sequence="X" + globins[1].sequence[1:])]  # one unknown residue
    masked = np.zeros(len(proteins[0]), dtype=bool)
    masked[[3, 50]] = True
    proteins[0] = proteins[0].replace(residue_masked=masked)
    batch = ProteinBatch.collate(proteins)
    graph = build_gearnet_graph(batch)
    feats = gearnet_edge_features(
        graph.edge_index, graph.relation, 7, batch.residue_type, graph.nodes.pos, batch.residue_masked
    ).numpy()
    assert feats.shape == (graph.num_edges, 59)
    types = batch.residue_type.numpy()
    hidden = batch.residue_masked.numpy()
    ca = batch.ca.numpy()
    for e in range(0, graph.num_edges, 7):  # every 7th edge: all relations and both proteins
        j, i = graph.edge_index[:, e].tolist()
        r = int(graph.relation[e])
        expected = np.zeros(59, dtype=np.float32)
        if types[j] < 20 and not hidden[j]:
            expected[types[j]] = 1
        if types[i] < 20 and not hidden[i]:
            expected[20 + types[i]] = 1
        expected[40 + r] = 1
        expected[47 + min(abs(i - j), 10)] = 1
        expected[58] = np.linalg.norm(ca[i] - ca[j])
        np.testing.assert_allclose(feats[e], expected, rtol=1e-6, atol=1e-6)
    offset = int(batch.offsets[1])
    assert feats[graph.edge_index[0].numpy() == offset, :20].sum() == 0  # the unknown residue: zero block
    assert feats[graph.edge_index[0].numpy() == 3, :20].sum() == 0  # a masked residue: zero block
