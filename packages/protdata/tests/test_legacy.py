"""protdata.legacy: the header and tensors of an older apps export, checked against a model's state dict, with
the converter's error class and one-line messages naming the file and the tensor."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from protdata.errors import ProtdataError
from protdata.legacy import load_legacy_tensors, read_legacy_header, without_weights_path


class ConverterError(ProtdataError):
    """Stands for a package's own error class (ProttasksError, ProtalignError)."""


def _export(folder: Path, header: object, tensors: dict[str, torch.Tensor] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(header))
    if tensors is not None:
        save_file(tensors, str(folder / "model.safetensors"))
    return folder


def test_header_from_directory_or_config_file(tmp_path: Path) -> None:
    header = {"app": "align", "config": {"encoder": {"type": "esm2", "checkpoint": "/w.pt"}}, "step": 3}
    folder = _export(tmp_path / "old", header)
    assert read_legacy_header(folder) == (folder, header)
    assert read_legacy_header(folder / "config.json", ConverterError) == (folder, header)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", r"config\.json: not a readable config\.json"),
        ("[1, 2]", r"config\.json: config\.json must hold a JSON object"),
        ('{"format": "protstack", "type": "x"}', r"config\.json: already a protstack model directory"),
    ],
)
def test_bad_headers_raise_the_callers_error(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "config.json").write_text(content)
    with pytest.raises(ConverterError, match=message):
        read_legacy_header(tmp_path, ConverterError)
    with pytest.raises(ConverterError, match=r"config\.json: not a readable"):
        read_legacy_header(tmp_path / "missing", ConverterError)


def test_without_weights_path_clears_nested_checkpoints() -> None:
    section = {
        "type": "fusion",
        "checkpoint": "/a.pt",
        "sequence": {"checkpoint": "/b.pt", "dim": 4},
        "n": [1],
    }
    assert without_weights_path(section) == {
        "type": "fusion",
        "checkpoint": None,
        "sequence": {"checkpoint": None, "dim": 4},
        "n": [1],
    }
    assert section["sequence"]["checkpoint"] == "/b.pt"  # the input is left as it was


def test_tensors_renamed_cast_and_checked(tmp_path: Path) -> None:
    model = torch.nn.Sequential(torch.nn.Linear(3, 2))
    state = {f"head.{k}": v for k, v in model.state_dict().items()}
    old = {k: torch.randn(v.shape, dtype=torch.float64) for k, v in model.state_dict().items()}
    _export(tmp_path, {}, old)
    loaded = load_legacy_tensors(tmp_path, state, rename=lambda k: f"head.{k}")
    assert set(loaded) == set(state)
    for k, v in old.items():
        assert loaded[f"head.{k}"].dtype == torch.float32
        torch.testing.assert_close(loaded[f"head.{k}"], v.float(), rtol=0, atol=0)


def test_tensor_mismatches_name_the_tensor(tmp_path: Path) -> None:
    state = {"w": torch.zeros(2, 3), "scale": torch.zeros(())}
    shown = {"old_name": lambda name: f"old.{name}"}
    _export(tmp_path / "a", {}, {"w": torch.zeros(2, 3)})
    with pytest.raises(ConverterError, match=r"model\.safetensors: no tensor 'old\.scale'"):
        load_legacy_tensors(tmp_path / "a", state, ConverterError, **shown)
    _export(tmp_path / "b", {}, {"w": torch.zeros(3, 2), "scale": torch.zeros(())})
    with pytest.raises(ConverterError, match=r"old\.w has shape \(3, 2\), .* needs \(2, 3\)"):
        load_legacy_tensors(tmp_path / "b", state, ConverterError, **shown)
    _export(tmp_path / "c", {}, {"w": torch.zeros(2, 3), "scale": torch.zeros(()), "bias": torch.zeros(2)})
    with pytest.raises(ConverterError, match=r"tensor 'old\.bias' has no counterpart"):
        load_legacy_tensors(tmp_path / "c", state, ConverterError, **shown)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(ConverterError, match=r"model\.safetensors: not a readable safetensors file"):
        load_legacy_tensors(tmp_path / "d", state, ConverterError)


def test_one_element_tensors_reshaped_only_when_asked(tmp_path: Path) -> None:
    state = {"scale": torch.zeros(())}
    _export(tmp_path, {}, {"scale": torch.tensor([2.5])})  # a ZeRO-3 run's (1,) temperature
    with pytest.raises(ProtdataError, match=r"scale has shape \(1,\)"):
        load_legacy_tensors(tmp_path, state)
    loaded = load_legacy_tensors(tmp_path, state, scalars=True)
    assert loaded["scale"].shape == () and loaded["scale"].item() == 2.5
