"""Sequential edges: offsets, chain boundaries and chain gaps vs the NumPy reference."""

from __future__ import annotations

import numpy as np
import torch

from protdata import ProteinBatch
from protenc_struct import GraphNodes
from protenc_struct.graph.reference import reference_sequential
from protenc_struct.graph.sequential import sequential_edges


def _rows(edge_index, relation, offset=0):
    return np.sort((((edge_index[0] - offset) * 100_000 + (edge_index[1] - offset)) * 8 + relation).numpy())


def test_relation_is_offset_plus_two(globins):
    """Relation r connects source k to target k + (r - 2): TorchDrug's node_in → node_out convention."""
    batch = ProteinBatch.collate(globins[:2])
    edge_index, relation = sequential_edges(GraphNodes.from_batch(batch), batch.chain_index)
    assert torch.equal(edge_index[1] - edge_index[0], relation - 2)
    assert torch.equal(batch.batch[edge_index[0]], batch.batch[edge_index[1]])  # never across proteins
    n = batch.lengths.tolist()
    assert len(relation) == sum(5 * length - 6 for length in n)


def test_chain_with_gaps(real_proteins):
    """3bww has three real chain breaks (Cα steps of up to 11 Å): TorchDrug bridges them (default), a gap
    cutoff of 4.2 Å breaks them; both equal the reference."""
    p = next(q for q in real_proteins if q.id == "3bww_A")
    steps = np.linalg.norm(np.diff(p.ca, axis=0), axis=1)
    assert (steps > 4.2).sum() == 3
    batch = ProteinBatch.collate([p])
    nodes = GraphNodes.from_batch(batch)
    for cutoff in (None, 4.2):
        edge_index, relation = sequential_edges(nodes, batch.chain_index, gap_cutoff=cutoff)
        ref = reference_sequential(p.ca, p.chain_index, gap_cutoff=cutoff)
        assert np.array_equal(
            _rows(edge_index, relation), np.sort((ref[:, 0] * 100_000 + ref[:, 1]) * 8 + ref[:, 2])
        )
    bridged, _ = sequential_edges(nodes, batch.chain_index)
    broken, _ = sequential_edges(nodes, batch.chain_index, gap_cutoff=4.2)
    assert bridged.shape[1] - broken.shape[1] == 3 * 6  # per gap: ±1 once each, ±2 twice each
