"""Batch edits against protdata itself: selecting residues of a batch equals collating ``Protein.select`` crops,
and a batch survives the round trip through ``Protein`` objects."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from protdata import ProteinBatch
from protdata.foldseek import with_3di
from prottasks.batching import batch_to_proteins, select_residues, with_residue_masked

TENSORS = (
    "residue_type",
    "coords",
    "atom_mask",
    "residue_number",
    "chain_index",
    "residue_masked",
    "lengths",
)


def _same(a: ProteinBatch, b: ProteinBatch) -> None:
    for name in TENSORS:
        assert torch.equal(torch.nan_to_num(getattr(a, name)), torch.nan_to_num(getattr(b, name))), name
    assert a.ids == b.ids and a.sequences == b.sequences and a.structure_tokens == b.structure_tokens


@pytest.fixture(scope="module")
def proteins(cropped_globins):
    return with_3di(cropped_globins)


def test_select_residues_equals_collating_selected_proteins(proteins):
    batch = ProteinBatch.collate(proteins)
    rng = np.random.default_rng(0)
    keeps = [rng.random(len(p)) < 0.6 for p in proteins]
    got = select_residues(batch, torch.from_numpy(np.concatenate(keeps)))
    _same(got, ProteinBatch.collate([p.select(k) for p, k in zip(proteins, keeps)]))
    with pytest.raises(ValueError, match="would keep no residue"):
        select_residues(batch, torch.zeros(batch.num_residues, dtype=torch.bool))


def test_round_trip_through_proteins(proteins):
    batch = with_residue_masked(ProteinBatch.collate(proteins), torch.tensor([0, 5, 70]))
    _same(ProteinBatch.collate(batch_to_proteins(batch)), batch)
    assert batch.residue_masked.sum() == 3
