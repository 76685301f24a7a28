"""Structure encoders as protstack saved models: save_pretrained -> load_pretrained reproduces the in-memory model.

Truth: the outputs and state dict of the model that was saved (eval mode, non-trivial batch-norm statistics), on
real structures from ``shared/data``; the registry and error paths of ``protdata.pretrained``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from protdata import ProteinBatch, load_chains
from protdata.errors import ProtdataError
from protdata.pretrained import CONFIG_NAME, WEIGHTS_NAME, PretrainedFormatError, load_pretrained, model_class
from protdata.testing import shared_data
from protenc_struct import (
    GVPGNN,
    CDConvEncoder,
    GearNet,
    GearNetConfig,
    GearNetEdge,
    GearNetEdgeConfig,
    StructureInputError,
    build,
)

CONFIGS = {
    "gearnet": {"type": "gearnet", "hidden_dims": [16, 16, 16]},
    "gearnet_edge": {"type": "gearnet_edge", "hidden_dims": [16, 16]},
    "gvp": {"type": "gvp", "node_h_dim": [16, 4], "edge_h_dim": [8, 1], "num_layers": 2},
    "cdconv": {
        "type": "cdconv",
        "hidden_dims": [16, 32],
        "cutoffs": [8.0, 12.0],
        "kernel_dims": [8],
        "embedding_dim": 8,
    },
}
CLASSES = {"gearnet": GearNet, "gearnet_edge": GearNetEdge, "gvp": GVPGNN, "cdconv": CDConvEncoder}


@pytest.fixture(scope="module")
def batch() -> ProteinBatch:
    globins = shared_data("structures", "scop_globins")
    proteins = [
        load_chains(globins / "d1asha_")[0],
        load_chains(shared_data("foldseek", "structures") / "1l2y.cif")[0],
        load_chains(globins / "d1b0ba_")[0],
    ]
    return ProteinBatch.collate(proteins)


def trained_like(config: dict, seed: int = 0) -> torch.nn.Module:
    """``build(config)`` with random weights and non-trivial batch-norm statistics, in eval mode."""
    torch.manual_seed(seed)
    model = build(config)
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=gen))
    return model.eval()


def assert_same_state(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for name in sa:
        assert torch.equal(sa[name], sb[name]), name


@pytest.mark.parametrize("kind", sorted(CONFIGS))
def test_save_load_reproduces_outputs_and_state(kind: str, batch: ProteinBatch, tmp_path: Path) -> None:
    model = trained_like(CONFIGS[kind])
    assert type(model) is CLASSES[kind] and model.model_type == kind
    with torch.no_grad():
        want = model(batch)
    model.save_pretrained(tmp_path / kind)
    header = json.loads((tmp_path / kind / CONFIG_NAME).read_text())
    assert header["type"] == kind and header["config"]["type"] == kind
    loaded = load_pretrained(tmp_path / kind)
    assert type(loaded) is CLASSES[kind] and not loaded.training
    assert loaded.config == model.config
    assert_same_state(model, loaded)
    with torch.no_grad():
        got = loaded(batch)
    assert torch.equal(got.residue, want.residue)
    assert torch.equal(got.protein, want.protein)
    assert set(got.extras) == set(want.extras)
    for key in want.extras:
        assert torch.equal(got.extras[key], want.extras[key]), key
    # the class method loads the same model
    again = CLASSES[kind].from_pretrained(tmp_path / kind)
    assert_same_state(model, again)


@pytest.mark.parametrize("kind", sorted(CONFIGS))
def test_config_round_trip(kind: str) -> None:
    model = build(CONFIGS[kind])
    data = model.config_dict()
    assert json.loads(json.dumps(data)) == data  # JSON-ready
    rebuilt = CLASSES[kind].from_config(data)
    assert rebuilt.config == model.config
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {
        k: v.shape for k, v in model.state_dict().items()
    }


def test_gearnet_edge_config_gives_the_edge_type() -> None:
    # GearNet(GearNetEdgeConfig) and build(...) give the class the saved type names, so a reload is the same class.
    assert type(GearNet(GearNetEdgeConfig(hidden_dims=[8]))) is GearNetEdge
    assert type(GearNet.from_config({"type": "gearnet_edge", "hidden_dims": [8]})) is GearNetEdge
    assert type(GearNet(hidden_dims=[8])) is GearNet
    assert type(GearNetEdge(hidden_dims=[8])) is GearNetEdge
    assert GearNetEdge(hidden_dims=[8]).config.num_angle_bin == 8
    assert model_class("gearnet_edge") is GearNetEdge


@pytest.mark.slow
def test_fresh_process_loads_the_same_model(batch: ProteinBatch, tmp_path: Path) -> None:
    model = trained_like(CONFIGS["gearnet_edge"], seed=3)
    with torch.no_grad():
        want = model(batch)
    model.save_pretrained(tmp_path / "model")
    files = [str(shared_data("structures", "scop_globins") / name) for name in ("d1asha_", "d1b0ba_")]
    code = (
        "import sys, torch; from safetensors.torch import save_file;"
        "from protdata import ProteinBatch, load_chains; from protdata.pretrained import load_pretrained;"
        "from protdata.testing import shared_data;"
        "m = load_pretrained(sys.argv[1]);"
        "p = [load_chains(sys.argv[3])[0], load_chains(shared_data('foldseek', 'structures') / '1l2y.cif')[0],"
        " load_chains(sys.argv[4])[0]];"
        "torch.set_grad_enabled(False); out = m(ProteinBatch.collate(p));"
        "save_file({'residue': out.residue, 'protein': out.protein, "
        "'type': torch.tensor([m.model_type == 'gearnet_edge'])}, sys.argv[2])"
    )
    result = tmp_path / "out.safetensors"
    run = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "model"), str(result), *files],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    got = load_file(result)
    assert bool(got["type"])
    assert torch.equal(got["residue"], want.residue)
    assert torch.equal(got["protein"], want.protein)


def test_wrong_size_weights_name_the_tensor(tmp_path: Path) -> None:
    build(CONFIGS["gearnet"]).save_pretrained(tmp_path / "m")
    wider = build({**CONFIGS["gearnet"], "hidden_dims": [16, 24, 16]})
    save_file({k: v.contiguous() for k, v in wider.state_dict().items()}, str(tmp_path / "m" / WEIGHTS_NAME))
    with pytest.raises(PretrainedFormatError) as err:
        load_pretrained(tmp_path / "m")
    message = str(err.value)
    assert "\n" not in message
    assert WEIGHTS_NAME in message and "size mismatch" in message
    assert "layers.1." in message  # the first tensor whose shape differs


def test_directory_of_another_class_is_an_error(tmp_path: Path) -> None:
    build(CONFIGS["gvp"]).save_pretrained(tmp_path / "gvp")
    with pytest.raises(PretrainedFormatError, match=r"holds a GVPGNN \(type 'gvp'\), not a GearNet"):
        GearNet.from_pretrained(tmp_path / "gvp")
    build(CONFIGS["gearnet"]).save_pretrained(tmp_path / "gearnet")
    with pytest.raises(PretrainedFormatError, match="not a GearNetEdge"):
        GearNetEdge.from_pretrained(tmp_path / "gearnet")
    build(CONFIGS["gearnet_edge"]).save_pretrained(tmp_path / "edge")
    assert type(GearNet.from_pretrained(tmp_path / "edge")) is GearNetEdge  # a GearNet-Edge is a GearNet


def test_invalid_saved_config_names_the_key(tmp_path: Path) -> None:
    build(CONFIGS["gearnet"]).save_pretrained(tmp_path / "m")
    path = tmp_path / "m" / CONFIG_NAME
    header = json.loads(path.read_text())
    header["config"]["hidden_dims"] = []
    path.write_text(json.dumps(header))
    with pytest.raises(PretrainedFormatError, match=r"invalid 'gearnet' config: hidden_dims"):
        load_pretrained(tmp_path / "m")


def test_structure_input_error_is_a_protdata_error() -> None:
    err = StructureInputError("protein 'x' has 2 residues")
    assert isinstance(err, ProtdataError) and isinstance(err, ValueError)
    assert str(err) == "protein 'x' has 2 residues"
    assert str(StructureInputError("bad", source="a.pdb")) == "a.pdb: bad"
    assert GearNetConfig().type == "gearnet"
