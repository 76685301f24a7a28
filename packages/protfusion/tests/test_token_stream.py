"""The sequence-side token: its position, the row bookkeeping and ESM-2's token dropout around it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from protdata import ProteinBatch
from protenc_seq import ESM2Config, ESM2Encoder
from protfusion.token_stream import embed_with_token, residue_features, token_layout

pytestmark = pytest.mark.numerics

PLACEHOLDER = 3  # <unk>


@pytest.fixture(scope="module")
def encoder():
    torch.manual_seed(0)
    return ESM2Encoder(ESM2Config(num_layers=2, embed_dim=16, attention_heads=2)).eval()


def test_layout_places_the_token_just_before_each_eos(encoder, batch):
    layout = token_layout(encoder, batch, PLACEHOLDER)
    tokens = layout.packed.tokens
    a = encoder.model.alphabet
    plain = encoder.tokenizer.encode_batch(batch)
    for i, length in enumerate(batch.lengths.tolist()):
        t = int(layout.token_rows[i])
        assert int(tokens[t]) == PLACEHOLDER and int(tokens[t + 1]) == a.eos_id
        first = int(layout.first_residue[i])
        assert int(tokens[first - 1]) == a.cls_id
        assert t - first == length  # residues r_1 … r_L, then the token
        assert np.array_equal(tokens[first : first + length].numpy(), plain[i][1:-1])
        assert int(layout.seen[i]) == length


def test_plain_rows_move_every_plain_token_to_its_place(encoder, batch):
    layout = token_layout(encoder, batch, PLACEHOLDER)
    assert torch.equal(layout.packed.tokens[layout.plain_rows], layout.plain.tokens)
    # every real row of the token stream is either a plain row or a token row, once
    rows = torch.cat([layout.plain_rows, layout.token_rows]).sort().values
    real = torch.arange(layout.packed.num_rows)
    if layout.packed.real_rows is not None:
        real = real[layout.packed.real_rows]
    assert torch.equal(rows, real)


def test_token_dropout_as_fair_esm_counts_it_without_the_structure_token(encoder, proteins):
    """With ``<mask>`` residues: each row is ``E[tok] · 0.88 / (1 − n_mask / (L + 2))`` (fair-esm ``esm2.py``
    L86-92 on the stream without the structure token, as FusionProt computes it before inserting the token),
    ``<mask>`` rows zero, and the structure token unscaled."""
    masked = [p.replace(residue_masked=np.arange(len(p)) % 4 == 1) for p in proteins[:3]]
    batch = ProteinBatch.collate(masked)
    layout = token_layout(encoder, batch, PLACEHOLDER)
    token = torch.randn(16)
    x = embed_with_token(encoder, layout, token)
    weight = encoder.model.embed_tokens.weight.detach()
    tokens = layout.packed.tokens
    for i, length in enumerate(batch.lengths.tolist()):
        n_mask = int(batch.residue_masked[batch.offsets[i] : batch.offsets[i + 1]].sum())
        scale = (1 - 0.15 * 0.8) / (1 - n_mask / (length + 2))
        first = int(layout.first_residue[i])
        rows = [*range(first - 1, first + length), first + length + 1]  # <cls>, residues, <eos>
        for r in rows:
            tok = int(tokens[r])
            want = torch.zeros(16) if tok == encoder.model.alphabet.mask_id else weight[tok] * scale
            torch.testing.assert_close(x[r], want, rtol=1e-6, atol=1e-7)
        assert torch.equal(x[int(layout.token_rows[i])], token)


def test_residue_features_follow_the_padded_view(encoder, batch):
    layout = token_layout(encoder, batch, PLACEHOLDER)
    hidden = torch.arange(layout.packed.num_rows, dtype=torch.float32)[:, None].repeat(1, 2)  # row ids
    residue, covered = residue_features(batch, layout, hidden)
    assert torch.equal(covered, batch.mask)
    for i, length in enumerate(batch.lengths.tolist()):
        first = int(layout.first_residue[i])
        assert torch.equal(residue[i, :length, 0], torch.arange(first, first + length, dtype=torch.float32))
        assert not residue[i, length:].any()
