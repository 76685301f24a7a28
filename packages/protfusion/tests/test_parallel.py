"""Parallel fusion: ESM-GearNet's ``parallel`` branch -- both encoders on the same proteins, outputs concatenated."""

from __future__ import annotations

import pytest
import torch

from protenc_seq import ESM2Config, ESM2Encoder
from protenc_struct import CDConvEncoder, GearNet
from protfusion import FusionError, ParallelFusion

pytestmark = pytest.mark.numerics

SEQ = ESM2Config(num_layers=2, embed_dim=32, attention_heads=4)


def test_is_both_encoders_concatenated(helpers, batch):
    torch.manual_seed(0)
    fusion = helpers.randomize_(ParallelFusion(ESM2Encoder(SEQ), GearNet(hidden_dims=[16, 16])), 0).eval()
    with torch.no_grad():
        out = fusion(batch)
        seq, struct = fusion.sequence(batch), fusion.structure(batch)  # structure: 21-d one-hot input
    assert torch.equal(out.residue, torch.cat([seq.residue, struct.residue], dim=-1))
    assert torch.equal(out.protein, torch.cat([seq.protein, struct.protein], dim=-1))
    assert fusion.output_dim == 32 + 32


def test_structure_must_read_the_one_hot():
    with pytest.raises(
        FusionError, match="parallel fusion runs CDConvEncoder on the 21-d residue-type one-hot"
    ):
        ParallelFusion(ESM2Encoder(SEQ), CDConvEncoder(input_dim=32))
