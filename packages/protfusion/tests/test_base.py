"""Shared pieces: node-input widths, output concatenation, optimizer groups with the seeds' sequence lr ratios."""

from __future__ import annotations

import pytest
import torch

from protdata import EncoderOutput
from protenc_seq import ESM2Config, ESM2Encoder
from protenc_struct import GVPGNN, CDConvEncoder, GearNet
from protfusion import ParallelFusion, SerialFusion, TokenFusion, token_gearnet
from protfusion.base import concat_outputs, structure_input_dim

SEQ = ESM2Config(num_layers=4, embed_dim=32, attention_heads=4)


def test_structure_input_dim():
    assert structure_input_dim(GearNet(input_dim=1280, hidden_dims=[8])) == 1280
    assert structure_input_dim(GVPGNN(node_in_dim=(1280, 0))) == 1280
    assert structure_input_dim(CDConvEncoder()) == 21


def test_concat_outputs_prefixes_extras():
    mask = torch.ones(1, 2, dtype=torch.bool)
    a = EncoderOutput(torch.ones(1, 2, 3), torch.ones(1, 3), mask, {"covered": mask})
    b = EncoderOutput(
        torch.zeros(1, 2, 2, dtype=torch.float64),
        torch.zeros(1, 2, dtype=torch.float64),
        mask,
        {"vector": mask},
    )
    out = concat_outputs(a, b)
    assert out.residue.shape == (1, 2, 5) and out.residue.dtype == torch.float64
    assert set(out.extras) == {"sequence.covered", "structure.vector"}


def _check_groups(fusion, groups, lr, ratio):
    seen = [id(p) for g in groups for p in g["params"]]
    trainable = [id(p) for p in fusion.parameters() if p.requires_grad]
    assert sorted(seen) == sorted(trainable)  # every trainable parameter exactly once
    inside = {id(p) for p in fusion.sequence.parameters()}
    for g in groups:
        for p in g["params"]:
            assert g["lr"] == pytest.approx(lr * ratio if id(p) in inside else lr)
            if p.ndim < 2:
                assert g["weight_decay"] == 0.0


def test_default_ratios_are_the_seeds():
    """ESM-GearNet ``sequence_model_lr_ratio: 0.1``; FusionProt ``0.08``; the fusion's own parameters at ``lr``."""
    seq = ESM2Encoder(SEQ)
    serial = SerialFusion(seq, GearNet(input_dim=32, hidden_dims=[8]))
    _check_groups(serial, serial.parameter_groups(1e-4, weight_decay=0.01), 1e-4, 0.1)
    token = TokenFusion(ESM2Encoder(SEQ), token_gearnet(GearNet(hidden_dims=[8, 8]).config, 32))
    _check_groups(token, token.parameter_groups(2e-5, weight_decay=0.01), 2e-5, 0.08)
    token_params = {id(token.structure_token), *map(id, token.structure_linears.parameters())}
    fusion_groups = [
        g for g in token.parameter_groups(2e-5) if any(id(p) in token_params for p in g["params"])
    ]
    assert fusion_groups and all(g["lr"] == 2e-5 for g in fusion_groups)


def test_sequence_groups_come_from_protenc_seq(helpers):
    """Layer-wise decay and norm/bias handling are the sequence encoder's own ``parameter_groups``."""
    seq = ESM2Encoder(SEQ)
    fusion = ParallelFusion(seq, GearNet(hidden_dims=[8]))
    ours = fusion.parameter_groups(1e-3, lr_ratio=0.5, layer_decay=0.9, weight_decay=0.05)
    theirs = seq.parameter_groups(1e-3, lr_ratio=0.5, layer_decay=0.9, weight_decay=0.05)
    assert [(g["lr"], g["weight_decay"], [id(p) for p in g["params"]]) for g in ours[: len(theirs)]] == [
        (g["lr"], g["weight_decay"], [id(p) for p in g["params"]]) for g in theirs
    ]
    seq.freeze()
    groups = fusion.parameter_groups(1e-3)
    _check_groups(fusion, groups, 1e-3, 0.1)
    assert not any(id(p) in {id(q) for q in seq.parameters()} for g in groups for p in g["params"])
