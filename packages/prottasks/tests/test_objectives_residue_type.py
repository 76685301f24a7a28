"""Residue type prediction: ``max(⌊0.15 n⌋, 1)`` draws per protein among standard residues, targets = the true
residue types, the encoder sees those residues masked, and the loss falls."""

from __future__ import annotations

import math

import pytest
import torch
from prottasks_tiny import TinyGraphEncoder, TinySequenceEncoder, learned, train_objective

from protdata import ProteinBatch
from protdata.constants import RESIDUE_LETTERS
from prottasks.errors import TaskInputError
from prottasks.objectives import ResidueTypePrediction

pytestmark = pytest.mark.numerics


class _Spy(TinySequenceEncoder):
    def forward(self, batch):
        self.seen = batch
        return super().forward(batch)


def test_draws_targets_and_masking(batch):
    enc = _Spy()
    out = ResidueTypePrediction(enc)(batch, generator=torch.Generator().manual_seed(0))
    index, target = out.details["index"], out.details["target"]
    counts = torch.bincount(batch.batch[index], minlength=len(batch)).tolist()
    assert counts == [max(math.floor(0.15 * n), 1) for n in batch.lengths.tolist()]  # 60 residues -> 9
    letters = "".join(batch.sequences)
    assert [RESIDUE_LETTERS[t] for t in target.tolist()] == [letters[i] for i in index.tolist()]
    expected = torch.zeros(batch.num_residues, dtype=torch.bool)
    expected[index] = True
    assert torch.equal(enc.seen.residue_masked, expected)
    assert not bool(batch.residue_masked.any())  # the input batch is untouched


def test_unknown_residues_are_never_targets(cropped_globins):
    p = cropped_globins[0]
    seq = "X" * 30 + p.sequence[30:]
    b = ProteinBatch.collate([p.replace(sequence=seq)] * 20)
    out = ResidueTypePrediction(TinySequenceEncoder())(b, generator=torch.Generator().manual_seed(1))
    assert bool((out.details["target"] < 20).all())
    assert bool((b.position[out.details["index"]] >= 30).all())
    with pytest.raises(TaskInputError, match="no residue of a standard type"):
        ResidueTypePrediction(TinySequenceEncoder())(ProteinBatch.collate([p.replace(sequence="X" * len(p))]))


@pytest.mark.parametrize("encoder_cls", [TinyGraphEncoder, TinySequenceEncoder])
def test_loss_finite_and_decreasing(batch, encoder_cls):
    torch.manual_seed(0)
    objective = ResidueTypePrediction(encoder_cls())
    losses, _ = train_objective(objective, batch, steps=30)
    assert learned(losses), losses
