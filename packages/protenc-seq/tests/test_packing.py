"""Packed/padded layouts and length bucketing (against fair-esm's ``get_batch_indices``)."""

from __future__ import annotations

import pytest
import torch

from protenc_seq import PackedBatch, length_buckets


def test_buckets_equal_esm_extract(esm, cafa_records) -> None:
    """``length_buckets([len + 1], 4096)`` reproduces ``esm-extract``'s batches (extra_toks_per_seq=1)."""
    dataset = esm.data.FastaBatchedDataset([n for n, _ in cafa_records], [s for _, s in cafa_records])
    want = dataset.get_batch_indices(4096, extra_toks_per_seq=1)
    assert length_buckets([len(s) + 1 for _, s in cafa_records], 4096) == want


def test_views_round_trip() -> None:
    arrays = [torch.tensor([0, 5, 6, 2]), torch.tensor([0, 7, 2]), torch.tensor([0, 5, 6, 7, 8, 2])]
    for padded in (False, True):
        p = PackedBatch.from_token_arrays(arrays, padded=padded)
        assert p.lengths == [4, 3, 6] and p.num_tokens == 13
        assert p.num_rows == (18 if padded else 13)
        tokens = p.padded_tokens(1)
        assert tokens.tolist() == [[0, 5, 6, 2, 1, 1], [0, 7, 2, 1, 1, 1], [0, 5, 6, 7, 8, 2]]
        assert [x.tolist() for x in p.split(p.tokens)] == [a.tolist() for a in arrays]
        assert p.tokens[p.residue_rows].tolist() == [5, 6, 7, 5, 6, 7, 8]
        assert p.positions[p.residue_rows].tolist() == [1, 2, 1, 1, 2, 3, 4]
        q = PackedBatch.from_padded(tokens, pad_id=1)
        assert q.tokens.tolist() == torch.cat(arrays).tolist()


def test_left_padding_rejected() -> None:
    with pytest.raises(ValueError, match="row 1 has <pad> before a real token"):
        PackedBatch.from_padded(torch.tensor([[0, 5, 2], [1, 0, 2]]), pad_id=1)
