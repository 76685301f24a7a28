"""prottasks.export: a trained model saved from its full fp32 state dict (as the apps gather it from DeepSpeed) —
the weights of the state (not the live bf16 copy), the objective's other tensors beside the encoder."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from pydantic import BaseModel
from safetensors.torch import load_file

from protdata.pretrained import Pretrained, load_pretrained
from prottasks.export import export_model


class _ExportTinyConfig(BaseModel):
    width: int = 4


class _ExportTiny(Pretrained):
    model_type = "test_export_tiny"
    config_class = _ExportTinyConfig

    def __init__(self, config: _ExportTinyConfig) -> None:
        super().__init__()
        self.config = config
        self.proj = torch.nn.Linear(config.width, 3)


class _WithHead(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = _ExportTiny.from_config({"width": 4})
        self.head = torch.nn.Linear(3, 2)


def test_export_takes_the_fp32_state_not_the_bf16_copy(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = _WithHead()
    state = {k: torch.randn(v.shape, dtype=torch.float64).float() for k, v in model.state_dict().items()}
    model.to(torch.bfloat16)  # the live parameters are a low-precision copy of the state's master weights
    weights, config = export_model(model, state, tmp_path / "m", {"app": "test"}, lambda m: m.encoder)
    loaded = load_pretrained(tmp_path / "m")
    assert type(loaded) is _ExportTiny and weights.is_file()
    for name, value in loaded.state_dict().items():
        assert value.dtype == torch.float32 and torch.equal(value, state["encoder." + name]), name
    heads = load_file(tmp_path / "m" / "objective.safetensors")
    assert set(heads) == {"head.weight", "head.bias"} and torch.equal(
        heads["head.weight"], state["head.weight"]
    )
    assert json.loads(config.read_text())["app"] == "test"


def test_export_of_a_plain_module_is_its_state(tmp_path: Path) -> None:
    module = torch.nn.Linear(2, 2)
    state = {k: v.detach().clone() + 1 for k, v in module.state_dict().items()}
    weights, config = export_model(module, state, tmp_path / "plain", {"note": 1})
    got = load_file(weights)
    assert got.keys() == state.keys() and all(torch.equal(got[k], state[k]) for k in state)
    assert json.loads(config.read_text()) == {"note": 1}
