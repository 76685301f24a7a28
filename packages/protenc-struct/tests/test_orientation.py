"""CDConv's local frames vs the seed's per-protein formula (``transforms.Orientation``), written with loops."""

from __future__ import annotations

import numpy as np
import pytest

from protdata import ProteinBatch
from protenc_struct import GraphNodes, StructureInputError
from protenc_struct.graph.orientation import local_frames


def _normalize(v: np.ndarray) -> np.ndarray:
    return v / max(np.linalg.norm(v), 1e-12)


def _seed_frames(pos: np.ndarray) -> np.ndarray:
    u = [_normalize(pos[k + 1] - pos[k]) for k in range(len(pos) - 1)]
    frames = []
    for t in range(1, len(pos) - 1):
        u2, u1 = u[t - 1], u[t]
        b = _normalize(u2 - u1)
        n = _normalize(np.cross(u2, u1))
        o = _normalize(np.cross(b, n))
        frames.append(np.stack([b, n, o]))
    return np.stack([frames[0], *frames, frames[-1]])


def test_frames_match_seed_formula(globins):
    proteins = [globins[0], globins[3].select(slice(0, 3)), globins[5]]
    batch = ProteinBatch.collate(proteins)
    frames = local_frames(GraphNodes.from_batch(batch)).numpy()
    offsets = batch.offsets.tolist()
    for b, p in enumerate(proteins):
        expected = _seed_frames(p.ca.astype(np.float64))
        np.testing.assert_allclose(frames[offsets[b] : offsets[b + 1]], expected, atol=1e-5)
    gram = np.einsum("nij,nkj->nik", frames, frames)
    np.testing.assert_allclose(gram, np.broadcast_to(np.eye(3), gram.shape), atol=1e-5)  # orthonormal rows


def test_too_short_protein_is_a_clear_error(globins):
    batch = ProteinBatch.collate([globins[0], globins[1].select([0, 1])])
    with pytest.raises(StructureInputError, match=f"{globins[1].id}.*at least 3 residues"):
        local_frames(GraphNodes.from_batch(batch))
