"""protdata.encoding: length-bucketed batches and pooled embeddings of any encoder.

Truths: the batch constraints themselves (each index once, at most ``batch_size`` proteins and ``max_tokens``
padded residues), and a per-residue table (an ``nn.Embedding``) whose mean / readout over each protein is computed
here in float64 from the sequence alone, independently of batching and padding.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from protdata import EncoderOutput, Protein, ProteinBatch
from protdata.constants import sequence_to_ids
from protdata.encoding import (
    EncodeReport,
    PoolingError,
    encode_proteins,
    encode_stream,
    length_batches,
)
from protdata.errors import SequenceError
from protdata.fasta import read_fasta
from protdata.testing import shared_data


class TableEncoder(nn.Module):
    """Residue features = a fixed table row per residue type; readout = their sum; rejects the protein ``bad``."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.table = nn.Embedding(21, 8)

    def forward(self, batch: ProteinBatch) -> EncoderOutput:
        if "bad" in batch.ids:
            raise SequenceError("bad", "rejected by the table encoder")
        residue = batch.to_padded(self.table(batch.residue_type))  # (B, L, 8)
        return EncoderOutput(residue=residue, protein=residue.sum(1), mask=batch.mask)


@pytest.fixture(scope="module")
def proteins() -> list[Protein]:
    """20 real Swiss-Prot sequences cut to 20-58 residues (different lengths)."""
    found = read_fasta(shared_data("function", "cafa_like_sequences.fasta"))[:20]
    return [p.select(slice(0, 20 + 2 * i)) for i, p in enumerate(found)]


def test_length_batches_respect_both_limits() -> None:
    lengths = [5, 50, 7, 300, 12, 12, 40, 3]
    batches = length_batches(lengths, batch_size=3, max_tokens=100)
    flat = sorted(int(i) for b in batches for i in b)
    assert flat == list(range(len(lengths)))
    for b in batches:
        longest = max(lengths[i] for i in b)
        assert len(b) <= 3 and (longest * len(b) <= 100 or len(b) == 1)
    assert [int(i) for i in batches[0]] == [7, 0, 2]  # the shortest first
    again = length_batches(lengths, batch_size=3, max_tokens=100)  # deterministic
    assert [b.tolist() for b in batches] == [b.tolist() for b in again]


@pytest.mark.parametrize("pooling", ["mean", "readout"])
def test_pooled_embeddings_equal_a_per_protein_computation(proteins, pooling) -> None:
    encoder = TableEncoder()
    table = encoder.table.weight.detach().double()
    bad = Protein.from_sequence("bad", "MKTAYIAKQR", source="x.fasta")
    items = [*proteins[:5], bad, *proteins[5:]]
    report = EncodeReport()
    batches = length_batches([len(p) for p in items], batch_size=4, max_tokens=150)
    got = list(encode_proteins(encoder, items, batches, device=torch.device("cpu"), pooling=pooling,
                               per_residue=True, report=report))  # fmt: skip
    assert sorted(e.index for e in got) == [i for i in range(len(items)) if i != 5]
    assert report.skipped == [("x.fasta:bad", "bad: rejected by the table encoder")] and report.cropped == 0
    for e in got:
        rows = table[torch.as_tensor(sequence_to_ids(items[e.index].sequence))]
        want = rows.mean(0) if pooling == "mean" else rows.sum(0)
        torch.testing.assert_close(e.protein.double(), want, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(e.residue.double(), rows, atol=1e-6, rtol=0)


def test_cls_pooling_without_cls_is_an_error(proteins) -> None:
    with pytest.raises(PoolingError, match="pooling: 'cls' needs an ESM-2 / SaProt encoder"):
        list(encode_proteins(TableEncoder(), proteins[:2], [np.array([0, 1])], device=torch.device("cpu"),
                             pooling="cls"))  # fmt: skip


def test_encode_stream_in_windows_equals_the_per_protein_computation(proteins) -> None:
    """A generator of proteins, length-sorted in windows of 6: every protein but the rejected one once, with its
    position in the stream, and the float64 per-protein mean; the windows hold at most 6 proteins at a time."""
    encoder = TableEncoder()
    table = encoder.table.weight.detach().double()
    bad = Protein.from_sequence("bad", "MKTAYIAKQR", source="x.fasta")
    items = [*proteins[:7], bad, *proteins[7:]]
    pulled: list[int] = []

    def stream():
        for i, p in enumerate(items):
            pulled.append(i)
            yield p

    report = EncodeReport()
    got = []
    for protein, e in encode_stream(encoder, stream(), batch_size=4, max_tokens=150, window=6,
                                    device=torch.device("cpu"), report=report):  # fmt: skip
        assert len(pulled) <= (e.index // 6 + 1) * 6  # only this protein's window has been read
        got.append((protein, e))
    assert sorted(e.index for _, e in got) == [i for i in range(len(items)) if i != 7]
    assert report.skipped == [("x.fasta:bad", "bad: rejected by the table encoder")]
    for protein, e in got:
        assert protein is items[e.index]
        rows = table[torch.as_tensor(sequence_to_ids(protein.sequence))]
        torch.testing.assert_close(e.protein.double(), rows.mean(0), atol=1e-5, rtol=1e-5)
