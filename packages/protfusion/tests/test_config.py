"""Configurations: the seeds' defaults and output widths (ESM-GearNet, FusionProt), derived node-input widths,
errors that name the key, building with local weights. Seed-size models are built on the meta device."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

import protfusion
from protenc_seq import ESM2, CheckpointError, ESM2Config, save_safetensors
from protfusion import (
    CrossFusion,
    CrossFusionConfig,
    ParallelFusionConfig,
    SerialFusion,
    SerialFusionConfig,
    TokenFusion,
    TokenFusionConfig,
    parse_config,
)

#: ESM-GearNet / FusionProt: "Output dim with GearNet: 1280 + 3072 = 4352; with GVP: 1280 + 256; with CDConv:
#: 1280 + 2048"; cross fusion "→ 1024-d"; FusionProt "ESM ‖ GearNet (1280 + 3072 = 4352)".
SEED_WIDTHS = [
    ({"type": "serial"}, 4352),
    ({"type": "serial", "structure": {"type": "gvp"}}, 1280 + 256),
    ({"type": "serial", "structure": {"type": "cdconv"}}, 1280 + 2048),
    ({"type": "parallel"}, 4352),
    ({"type": "cross"}, 1024),
    ({"type": "token"}, 4352),
]


@pytest.mark.parametrize("config, width", SEED_WIDTHS)
def test_seed_output_widths(config, width):
    """From the configuration alone, and from the module built on the meta device (no 650M weights)."""
    parsed = parse_config(config)
    assert parsed.output_dim == width
    with torch.device("meta"):
        model = protfusion.build(parsed)
    assert model.output_dim == width
    assert model.sequence.output_dim == 1280 and model.sequence.model.num_layers == 33  # ESM-2-650M


def test_esm_gearnet_defaults_on_meta():
    """Serial: GearNet input_dim 1280 (7 relations, 6 × 512); cross: Linear(1280→512), Linear(3072→512), 8 heads."""
    with torch.device("meta"):
        serial = protfusion.build({"type": "serial"})
        cross = protfusion.build({"type": "cross"})
    assert isinstance(serial, SerialFusion) and serial.sequence_lr_ratio == 0.1
    assert tuple(serial.structure.layers[0].linear.weight.shape) == (512, 7 * 1280)
    assert serial.structure.dims == [1280] + [512] * 6
    assert isinstance(cross, CrossFusion) and cross.structure.dims[0] == 21
    assert tuple(cross.seq_linear.weight.shape) == (512, 1280)
    assert tuple(cross.struct_linear.weight.shape) == (512, 3072)
    assert cross.attn.num_heads == 8 and cross.attn.attn.dropout == 0.1


@pytest.mark.parametrize("seed_relation, relations", [(True, 7), (False, 8)])
def test_fusionprot_defaults_on_meta(seed_relation, relations):
    """FusionProt's ``FusionNetwork``: 1280-d token, Linear(21→1280) + BatchNorm1d(1280), GearNet input 1280, six
    Linear(512→1280) structure→sequence maps and Linear(1280→512) sequence→structure maps for k ≥ 1, injections
    after ESM layers 5, 10, …, 30, ratio 0.08."""
    with torch.device("meta"):
        fusion = protfusion.build({"type": "token", "seed_token_relation": seed_relation})
    assert isinstance(fusion, TokenFusion)
    assert fusion.inject_after == [5, 10, 15, 20, 25, 30]
    assert fusion.structure.num_relation == relations and fusion.structure.dims == [1280] + [512] * 6
    assert tuple(fusion.structure_token.shape) == (1280,)
    assert tuple(fusion.structure_embed_linear.weight.shape) == (1280, 21)
    assert fusion.embedding_batch_norm.num_features == 1280
    assert [tuple(m.weight.shape) for m in fusion.seq_linears[1:]] == [(512, 1280)] * 5
    assert [tuple(m.weight.shape) for m in fusion.structure_linears] == [(1280, 512)] * 6
    own = sum(
        p.numel() for n, p in fusion.named_parameters() if not n.startswith(("sequence.", "structure."))
    )
    assert own == 1280 + (21 * 1280 + 1280) + 2 * 1280 + 5 * (1280 * 512 + 512) + 6 * (512 * 1280 + 1280)
    assert fusion.sequence_lr_ratio == 0.08


def test_derived_structure_width_and_errors_naming_the_key():
    assert SerialFusionConfig().structure_config().input_dim == 1280
    assert SerialFusionConfig(structure={"type": "gvp"}).structure_config().node_in_dim == (1280, 0)
    assert ParallelFusionConfig().structure_config().input_dim == 21
    with pytest.raises(
        ValidationError, match=r"structure\.input_dim: serial fusion feeds the structure encoder 1280-d"
    ):
        SerialFusionConfig(structure={"type": "gearnet", "input_dim": 21})
    with pytest.raises(ValidationError, match=r"structure.input_dim: parallel fusion .* 21-d"):
        ParallelFusionConfig(structure={"type": "cdconv", "input_dim": 1280})
    with pytest.raises(
        ValidationError, match=r"token fusion runs a layer-wise structure encoder .* not 'gvp'"
    ):
        TokenFusionConfig(structure={"type": "gvp"})
    with pytest.raises(ValidationError, match="inject_every=6"):
        TokenFusionConfig(inject_every=6)
    with pytest.raises(ValidationError, match="cross_dim"):
        parse_config({"type": "cross", "cross_dimm": 256})
    with pytest.raises(ValidationError, match="unknown preset"):
        parse_config({"type": "serial", "sequence": {"preset": "esm3"}})
    with pytest.raises(ValidationError, match="'saprot' needs the 'saprot' vocabulary"):
        parse_config({"type": "serial", "sequence": {"type": "saprot", "preset": "650M"}})
    with pytest.raises(ValidationError, match="type"):
        parse_config({"type": "series"})


def test_saprot_default_and_seed_lr_ratios():
    config = parse_config({"type": "token", "sequence": {"type": "saprot"}})
    assert config.sequence.esm2_config().name == "SaProt_650M_AF2" and config.sequence_lr_ratio == 0.08
    assert CrossFusionConfig().sequence_lr_ratio == 0.1


def test_builds_with_local_weights(tmp_path):
    """``sequence.checkpoint``: protenc-seq's loader, checked against the configured architecture."""
    arch = ESM2Config(num_layers=2, embed_dim=16, attention_heads=2)
    torch.manual_seed(3)
    source = ESM2(arch)
    path = save_safetensors(source, tmp_path / "tiny.safetensors")
    config = {"type": "parallel", "sequence": {"architecture": arch.model_dump(), "checkpoint": str(path)},
              "structure": {"type": "gearnet", "hidden_dims": [8]}}  # fmt: skip
    fusion = protfusion.build(config)
    for key, value in source.state_dict().items():
        assert torch.equal(fusion.sequence.model.state_dict()[key], value), key
    wrong = {**config, "sequence": {"preset": "8M", "checkpoint": str(path)}}
    with pytest.raises(CheckpointError, match="expected esm2_t6_8M_UR50D"):
        protfusion.build(wrong)


@pytest.mark.parametrize("kind", ["serial", "parallel", "cross", "token"])
@pytest.mark.parametrize("structure", ["gearnet", "gvp"])
def test_dump_validates_back_to_the_same_config(kind, structure):
    """A saved config (``model_dump()``) loads again: the derived node width is not written out."""
    if kind == "token" and structure == "gvp":
        pytest.skip("token fusion needs GearNet")
    config = parse_config({"type": kind, "structure": {"type": structure}})
    dumped = config.model_dump()
    assert "input_dim" not in dumped["structure"] and "node_in_dim" not in dumped["structure"]
    again = parse_config(dumped)
    assert again == config
    assert again.structure_config() == config.structure_config()
