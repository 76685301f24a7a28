"""protdata.pretrained: the saved-model directory format and the type registry, on a small model defined here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Literal

import pytest
import torch
from pydantic import BaseModel
from safetensors.torch import load_file, save_file

from protdata.pretrained import (
    CONFIG_NAME,
    FORMAT_VERSION,
    LEGACY_HINTS,
    WEIGHTS_NAME,
    Pretrained,
    PretrainedFormatError,
    build_model,
    load_pretrained,
    model_types,
    read_config,
)


class TinyConfig(BaseModel):
    type: Literal["test_tiny"] = "test_tiny"
    width: int = 4
    inner: dict | None = None  # a nested model section, built through the registry


class Tiny(Pretrained):
    model_type = "test_tiny"
    config_class = TinyConfig

    def __init__(self, config: TinyConfig) -> None:
        super().__init__()
        self.config = config
        self.proj = torch.nn.Linear(config.width, 3)
        self.tied = self.proj  # a shared module: safetensors refuses shared tensors unless de-duplicated
        self.register_buffer("scale", torch.full((3,), 2.0))
        self.inner = build_model(config.inner) if config.inner is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.proj(x) * self.scale
        return y if self.inner is None else y + self.inner(x).sum(-1, keepdim=True)


def _model(**config: object) -> Tiny:
    torch.manual_seed(0)
    return Tiny.from_config(config)


def test_round_trip_equal_outputs_and_state(tmp_path: Path) -> None:
    model = _model(width=5, inner={"type": "test_tiny", "width": 5})
    with torch.no_grad():
        model.scale.mul_(3)  # a buffer that differs from its initial value must be saved too
    model.save_pretrained(tmp_path / "m", labels=["a", "b"])
    header = json.loads((tmp_path / "m" / CONFIG_NAME).read_text())
    assert header["format"] == "protstack" and header["format_version"] == FORMAT_VERSION
    assert header["type"] == "test_tiny" and header["labels"] == ["a", "b"]
    assert header["config"]["inner"]["type"] == "test_tiny"
    loaded = load_pretrained(tmp_path / "m")
    assert type(loaded) is Tiny and not loaded.training
    x = torch.randn(2, 5)
    assert torch.equal(loaded(x), model.eval()(x))
    expect, got = model.state_dict(), loaded.state_dict()
    assert expect.keys() == got.keys() and all(torch.equal(expect[k], got[k]) for k in expect)
    assert Tiny.from_pretrained(tmp_path / "m" / CONFIG_NAME).config == model.config


def test_parameters_viewing_one_flat_buffer_are_saved(tmp_path: Path) -> None:
    """DeepSpeed ZeRO makes every parameter a view into one flat buffer; the save must still work and round-trip."""
    model = _model(width=6)
    params = list(model.proj.parameters())
    flat = torch.cat([p.detach().reshape(-1) for p in params])  # (n_params,)
    offset = 0
    for p in params:
        p.data = flat[offset : offset + p.numel()].view_as(p)
        offset += p.numel()
    assert model.proj.weight.untyped_storage().data_ptr() == model.proj.bias.untyped_storage().data_ptr()
    model.save_pretrained(tmp_path / "m")
    saved = load_file(tmp_path / "m" / WEIGHTS_NAME)
    assert sorted(saved) == ["proj.bias", "proj.weight", "scale"]  # the tied copy ("tied.*") is stored once
    loaded = load_pretrained(tmp_path / "m")
    assert loaded.tied is loaded.proj and torch.equal(loaded.proj.weight, model.proj.weight)
    x = torch.randn(3, 6)
    assert torch.equal(loaded(x), model.eval()(x))


def test_registry_lists_the_type_and_unknown_types_name_the_installed_ones(tmp_path: Path) -> None:
    assert "test_tiny" in model_types()
    _model().save_pretrained(tmp_path)
    header = json.loads((tmp_path / CONFIG_NAME).read_text())
    header["type"] = header["config"]["type"] = "no_such_model"
    (tmp_path / CONFIG_NAME).write_text(json.dumps(header))
    with pytest.raises(
        PretrainedFormatError, match=r"unknown model type 'no_such_model'.*installed types: .*test_tiny"
    ):
        load_pretrained(tmp_path)


def test_wrong_weights_name_the_tensor(tmp_path: Path) -> None:
    _model(width=4).save_pretrained(tmp_path)
    tensors = load_file(str(tmp_path / WEIGHTS_NAME))
    name = next(k for k in tensors if k.endswith("weight"))
    tensors[name] = torch.zeros(3, 7)
    save_file(tensors, str(tmp_path / WEIGHTS_NAME))
    with pytest.raises(PretrainedFormatError, match=r"weights do not fit.*size mismatch.*weight") as info:
        load_pretrained(tmp_path)
    assert "\n" not in str(info.value)
    del tensors[name]
    save_file(tensors, str(tmp_path / WEIGHTS_NAME))
    with pytest.raises(PretrainedFormatError, match=r"missing \['proj.weight'\]"):
        load_pretrained(tmp_path)


def test_bad_directories_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(PretrainedFormatError, match=r"no config.json"):
        load_pretrained(tmp_path)
    (tmp_path / CONFIG_NAME).write_text("{not json")
    with pytest.raises(PretrainedFormatError, match="not readable JSON"):
        read_config(tmp_path)
    (tmp_path / CONFIG_NAME).write_text(
        json.dumps({"architectures": ["EsmForMaskedLM"], "model_type": "esm"})
    )
    with pytest.raises(
        PretrainedFormatError, match=r"Hugging Face model directory.*protenc_seq.load_encoder"
    ):
        read_config(tmp_path)
    (tmp_path / CONFIG_NAME).write_text(json.dumps({"format": "protstack", "format_version": 99}))
    with pytest.raises(PretrainedFormatError, match="newer than this protdata reads"):
        read_config(tmp_path)
    for app, converter in [
        ("finetune", "prottasks.convert_finetune_export"),
        ("align", "protalign.convert_align"),
    ]:
        (tmp_path / CONFIG_NAME).write_text(
            json.dumps({"app": app, "config": {}, "format": "protstack-checkpoint"})
        )
        with pytest.raises(
            PretrainedFormatError, match=rf"apps/{app}.py export of the older layout.*{converter}"
        ):
            read_config(tmp_path)
    assert set(LEGACY_HINTS) == {"finetune", "align", "pretrain"}
    _model().save_pretrained(tmp_path)
    (tmp_path / WEIGHTS_NAME).unlink()
    with pytest.raises(PretrainedFormatError, match=r"no model.safetensors"):
        load_pretrained(tmp_path)


def test_from_pretrained_refuses_another_class(tmp_path: Path) -> None:
    class Other(Pretrained):
        model_type = "test_other"
        config_class = TinyConfig

        def __init__(self, config: TinyConfig) -> None:
            super().__init__()
            self.config = config

    _model().save_pretrained(tmp_path)
    with pytest.raises(PretrainedFormatError, match=r"holds a Tiny.*not a Other"):
        Other.from_pretrained(tmp_path)


def test_a_fresh_process_finds_types_through_entry_points() -> None:
    """The base package imports no encoder package; the registry finds every type the installed packages declare."""
    code = (
        "import sys, protdata.pretrained as p; types = p.model_types(); "
        "assert not any(m.startswith(('protenc', 'protfusion', 'prottasks', 'protalign')) for m in sys.modules), "
        "sorted(m for m in sys.modules if m.startswith('prot')); print(','.join(types))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    types = set(out.strip().split(",")) - {""}
    # Whatever the installed packages declare must be importable as a Pretrained class.
    for name in types:
        from protdata.pretrained import model_class

        assert issubclass(model_class(name), Pretrained)
