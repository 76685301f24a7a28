"""protdata.weights: a module's tensors from a safetensors file (a whole model's, or the module's alone)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from protdata.errors import ProtdataError, WeightsError
from protdata.weights import load_module_weights, read_safetensors


class _Tiny(nn.Module):
    def __init__(self, width: int = 8) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(4, width), nn.BatchNorm1d(width))
        self.mlp = nn.Linear(width, 2)


def _save(module: nn.Module, path: Path) -> Path:
    save_file({k: v.contiguous() for k, v in module.state_dict().items()}, str(path))
    return path


def test_load_weights_full_or_encoder_only(tmp_path: Path) -> None:
    source = _Tiny(8)
    with torch.no_grad():
        for p in source.parameters():
            p.normal_()
    full = _save(source, tmp_path / "full.safetensors")
    target = _Tiny(8)
    assert load_module_weights(target, full).startswith(f"loaded {len(source.state_dict())} tensors from")
    for k, v in target.state_dict().items():
        torch.testing.assert_close(v, source.state_dict()[k])
    enc = _save(source.encoder, tmp_path / "encoder.safetensors")
    fresh = _Tiny(8)
    load_module_weights(fresh.encoder, enc)
    torch.testing.assert_close(fresh.encoder[0].weight, source.encoder[0].weight)
    other = _Tiny(8)
    note = load_module_weights(other.encoder, full)  # the encoder's part of a whole file
    assert "under 'encoder.'" in note and "(2 others ignored)" in note
    torch.testing.assert_close(other.encoder[0].weight, source.encoder[0].weight)
    model_dir = tmp_path / "run"
    model_dir.mkdir()
    _save(source, model_dir / "model.safetensors")
    assert str(model_dir / "model.safetensors") in load_module_weights(_Tiny(8), model_dir)


def test_bad_weights_are_one_line_errors_naming_key_file_and_tensor(tmp_path: Path) -> None:
    full = _save(_Tiny(8), tmp_path / "full.safetensors")
    with pytest.raises(
        WeightsError,
        match=r"^init_from: .*full\.safetensors: wrong-size weights: encoder\.0\.(weight|bias) has shape",
    ):
        load_module_weights(_Tiny(16), full, key="init_from")
    with pytest.raises(WeightsError, match=r"none\.safetensors: no such weights file$"):
        load_module_weights(_Tiny(8), tmp_path / "none.safetensors")
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not a safetensors file")
    with pytest.raises(ProtdataError, match=r"garbage\.safetensors: not a readable safetensors file"):
        read_safetensors(garbage)
    unrelated = tmp_path / "unrelated.safetensors"
    save_file({"other.weight": torch.zeros(2)}, str(unrelated))
    with pytest.raises(
        WeightsError,
        match=r"does not hold the weights of this model: no tensor 'encoder\.0\.weight' \(0 of 9",
    ):
        load_module_weights(_Tiny(8), unrelated)
