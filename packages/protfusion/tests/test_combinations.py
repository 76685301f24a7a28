"""Any sequence encoder with any structure encoder: ESM-2 / SaProt × GearNet, GearNet-Edge, GVP-GNN, CDConv for
serial, parallel and cross fusion; token fusion with GearNet and GearNet-Edge (others: a clear error). Every fused
encoder honours the encoder contract (``protdata.encoder.check_output``)."""

from __future__ import annotations

import itertools

import pytest
import torch
from pydantic import ValidationError

import protfusion
from protdata import ProteinBatch
from protdata.encoder import check_output
from protdata.foldseek import with_3di
from protenc_seq import ESM2Config, ESM2Encoder, SaProtEncoder
from protenc_struct import GVPGNN, CDConvEncoder
from protfusion import FusionError, TokenFusion

SEQUENCES = {
    "esm2": {"architecture": {"num_layers": 3, "embed_dim": 16, "attention_heads": 2}},
    "saprot": {"type": "saprot", "architecture": {"num_layers": 3, "embed_dim": 16, "attention_heads": 2, "vocab": "saprot"}},
}  # fmt: skip
STRUCTURES = {
    "gearnet": {"type": "gearnet", "hidden_dims": [8, 8]},
    "gearnet_edge": {"type": "gearnet_edge", "hidden_dims": [8, 8]},
    "gvp": {"type": "gvp", "node_h_dim": [8, 2], "edge_h_dim": [4, 1], "num_layers": 1},
    "cdconv": {"type": "cdconv", "hidden_dims": [8, 8, 8, 8], "kernel_dims": [4]},
}
WIDTHS = {"gearnet": 16, "gearnet_edge": 16, "gvp": 8, "cdconv": 8}


@pytest.fixture(scope="module")
def small_batch(proteins):
    return ProteinBatch.collate(with_3di(proteins[:2]))  # 20 and 76 residues, with 3Di for SaProt


@pytest.mark.parametrize(
    "fusion, sequence, structure",
    list(itertools.product(["serial", "parallel", "cross"], SEQUENCES, STRUCTURES)),
)
def test_serial_parallel_cross_matrix(helpers, small_batch, fusion, sequence, structure):
    config = {"type": fusion, "sequence": SEQUENCES[sequence], "structure": STRUCTURES[structure]}
    if fusion == "cross":
        config |= {"cross_dim": 8, "num_heads": 2}
    model = helpers.tiny(config)
    assert isinstance(model.sequence, SaProtEncoder if sequence == "saprot" else ESM2Encoder)
    width = 16 if fusion == "cross" else 16 + WIDTHS[structure]
    assert model.output_dim == width == protfusion.parse_config(config).output_dim
    with torch.no_grad():
        out = model(small_batch)
    check_output(out, small_batch, width)
    assert torch.isfinite(out.residue).all() and torch.isfinite(out.protein).all()
    assert (getattr(model, "build_graph", None) is None) == (structure == "cdconv")


@pytest.mark.parametrize(
    "sequence, structure", list(itertools.product(SEQUENCES, ["gearnet", "gearnet_edge"]))
)
def test_token_fusion_matrix(helpers, small_batch, sequence, structure):
    config = {"type": "token", "sequence": SEQUENCES[sequence], "structure": STRUCTURES[structure]}
    model = helpers.tiny(config)
    assert isinstance(model, TokenFusion) and model.inject_after == [1, 2]
    with torch.no_grad():
        out = model(small_batch)
    check_output(out, small_batch, 32)
    assert torch.isfinite(out.protein).all() and out.extras["token"].shape == (2, 16)


@pytest.mark.parametrize("structure", ["gvp", "cdconv"])
def test_token_fusion_rejects_encoders_without_layer_wise_access(structure):
    with pytest.raises(ValidationError, match="layer-wise structure encoder"):
        protfusion.parse_config(
            {"type": "token", "sequence": SEQUENCES["esm2"], "structure": STRUCTURES[structure]}
        )
    seq = ESM2Encoder(ESM2Config(num_layers=3, embed_dim=16, attention_heads=2))
    module = GVPGNN(node_in_dim=(16, 0)) if structure == "gvp" else CDConvEncoder(input_dim=16)
    with pytest.raises(FusionError, match="supports GearNet and GearNet-Edge"):
        TokenFusion(seq, module)
