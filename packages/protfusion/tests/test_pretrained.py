"""Fused encoders as protstack saved models: save_pretrained -> load_pretrained reproduces the in-memory model.

Truth: the outputs (real structures, with Foldseek 3Di for SaProt) and state dict of the fused encoder that was
saved (eval mode, non-trivial batch-norm statistics); a fusion assembled from encoder modules rebuilds, from the
config it reports, to the same architecture.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

import protfusion
from protdata import ProteinBatch
from protdata.errors import ProtdataError
from protdata.foldseek import with_3di
from protdata.pretrained import CONFIG_NAME, WEIGHTS_NAME, PretrainedFormatError, load_pretrained, model_class
from protenc_seq import build_sequence_encoder
from protenc_struct import GearNet, build
from protfusion import (
    CrossFusion,
    FusionError,
    ParallelFusion,
    SerialFusion,
    TokenFusion,
    fusion_config,
    token_gearnet,
)

SEQ = {"type": "esm2", "architecture": {"num_layers": 4, "embed_dim": 16, "attention_heads": 2}}
SAPROT = {
    "type": "saprot",
    "architecture": {"num_layers": 4, "embed_dim": 16, "attention_heads": 2, "vocab": "saprot"},
}
CONFIGS = {
    "serial": {"type": "serial", "sequence": SEQ, "structure": {"type": "gearnet", "hidden_dims": [8, 8]}},
    "parallel": {
        "type": "parallel",
        "sequence": SAPROT,
        "structure": {"type": "gvp", "node_h_dim": [8, 2], "edge_h_dim": [4, 1], "num_layers": 1},
    },
    "cross": {
        "type": "cross",
        "sequence": SEQ,
        "structure": {"type": "cdconv", "hidden_dims": [8, 8], "cutoffs": [8.0, 12.0], "kernel_dims": [4]},
        "cross_dim": 8,
        "num_heads": 2,
        "sequence_lr_ratio": 0.2,
    },
    "token": {
        "type": "token",
        "sequence": SAPROT,
        "structure": {"type": "gearnet_edge", "hidden_dims": [8, 8]},
        "inject_every": 1,
    },
}
CLASSES = {"serial": SerialFusion, "parallel": ParallelFusion, "cross": CrossFusion, "token": TokenFusion}


@pytest.fixture(scope="module")
def batch(proteins) -> ProteinBatch:
    return ProteinBatch.collate(with_3di(proteins[:3]))  # 20, 76 and 142 residues, with 3Di for SaProt


def assert_same_state(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for name in sa:
        assert torch.equal(sa[name], sb[name]), name


def shapes(model: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


@pytest.mark.parametrize("kind", sorted(CONFIGS))
def test_save_load_reproduces_outputs_and_state(kind, helpers, batch, tmp_path: Path) -> None:
    model = helpers.tiny(CONFIGS[kind], seed=7)
    assert type(model) is CLASSES[kind]
    with torch.no_grad():
        want = model(batch)
    model.save_pretrained(tmp_path / kind)
    header = json.loads((tmp_path / kind / CONFIG_NAME).read_text())
    assert header["type"] == kind and header["config"]["sequence"]["checkpoint"] is None
    loaded = load_pretrained(tmp_path / kind)
    assert type(loaded) is CLASSES[kind] and not loaded.training
    assert loaded.config == model.config == protfusion.parse_config(CONFIGS[kind])
    assert_same_state(model, loaded)
    with torch.no_grad():
        got = loaded(batch)
    assert torch.equal(got.residue, want.residue) and torch.equal(got.protein, want.protein)
    assert_same_state(model, CLASSES[kind].from_pretrained(tmp_path / kind))


@pytest.mark.slow
def test_fresh_process_loads_the_same_fusion(helpers, proteins, batch, tmp_path: Path) -> None:
    model = helpers.tiny(CONFIGS["token"], seed=8)
    with torch.no_grad():
        want = model(batch)
    model.save_pretrained(tmp_path / "model")
    code = (
        "import sys, torch; from safetensors.torch import save_file;"
        "from protdata import ProteinBatch, load_chains; from protdata.foldseek import with_3di;"
        "from protdata.pretrained import load_pretrained; from protdata.testing import shared_data;"
        "f = shared_data('foldseek', 'structures'); g = shared_data('structures', 'scop_globins');"
        "p = [load_chains(f / '1l2y.cif')[0], load_chains(f / '2axd.cif')[0], load_chains(g / 'd1b0ba_')[0]];"
        "m = load_pretrained(sys.argv[1]); torch.set_grad_enabled(False);"
        "out = m(ProteinBatch.collate(with_3di(p)));"
        "save_file({'residue': out.residue, 'protein': out.protein}, sys.argv[2])"
    )
    result = tmp_path / "out.safetensors"
    run = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "model"), str(result)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    got = load_file(result)
    assert torch.equal(got["residue"], want.residue) and torch.equal(got["protein"], want.protein)


def test_fusion_from_modules_reports_a_config_that_rebuilds_it(tmp_path: Path) -> None:
    torch.manual_seed(0)
    sequence = build_sequence_encoder(SAPROT)
    structure = token_gearnet(build({"type": "gearnet", "hidden_dims": [8]}).config, 16)
    fused = TokenFusion(sequence, structure, inject_every=2, token_init_std=0.02)
    config = fusion_config(fused)
    assert config.type == "token" and config.inject_every == 2 and config.token_init_std == 0.02
    assert config.structure.num_relation == 7  # the token's relation is added by token_gearnet, not saved
    assert shapes(protfusion.build(config)) == shapes(fused)
    serial = SerialFusion(
        build_sequence_encoder(SEQ), GearNet(input_dim=16, hidden_dims=[8]), sequence_lr_ratio=0.3
    )
    assert shapes(protfusion.build(serial.config)) == shapes(serial)
    assert serial.config.sequence_lr_ratio == 0.3
    serial.save_pretrained(tmp_path / "s")
    assert_same_state(serial, load_pretrained(tmp_path / "s"))


def test_fusion_of_a_foreign_encoder_cannot_be_saved(tmp_path: Path) -> None:
    class Foreign(torch.nn.Module):
        output_dim = 16

    fused = ParallelFusion(Foreign(), GearNet(hidden_dims=[8]))
    assert fused.config is None  # getattr(model, "config", None) stays safe
    with pytest.raises(
        FusionError, match="sequence encoder Foreign has no protenc-seq SequenceEncoderConfig"
    ):
        fused.save_pretrained(tmp_path / "x")


@pytest.mark.parametrize("kind", sorted(CONFIGS))
def test_config_round_trip(kind: str) -> None:
    model = protfusion.build(CONFIGS[kind])
    data = model.config_dict()
    assert json.loads(json.dumps(data)) == data
    rebuilt = CLASSES[kind].from_config(data)
    assert rebuilt.config == model.config and shapes(rebuilt) == shapes(model)
    assert model_class(kind) is CLASSES[kind]


def test_wrong_class_and_wrong_size_errors(tmp_path: Path) -> None:
    model = protfusion.build(CONFIGS["serial"])
    model.save_pretrained(tmp_path / "serial")
    with pytest.raises(
        PretrainedFormatError, match=r"holds a SerialFusion \(type 'serial'\), not a ParallelFusion"
    ):
        ParallelFusion.from_pretrained(tmp_path / "serial")
    with pytest.raises(FusionError, match="builds a SerialFusion, not a CrossFusion"):
        CrossFusion.from_config(model.config)
    wider = protfusion.build({**CONFIGS["serial"], "structure": {"type": "gearnet", "hidden_dims": [8, 12]}})
    save_file(
        {k: v.contiguous() for k, v in wider.state_dict().items()}, str(tmp_path / "serial" / WEIGHTS_NAME)
    )
    with pytest.raises(PretrainedFormatError) as err:
        load_pretrained(tmp_path / "serial")
    assert "\n" not in str(err.value) and "size mismatch for structure.layers.1." in str(err.value)


def test_fusion_error_is_a_protdata_error() -> None:
    err = FusionError("cannot fuse")
    assert isinstance(err, ProtdataError) and isinstance(err, ValueError)
    assert str(err) == "cannot fuse" and str(FusionError("bad", source="c.yaml")) == "c.yaml: bad"
