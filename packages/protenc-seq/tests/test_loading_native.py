"""Our safetensors format and format detection."""

from __future__ import annotations

import json

import pytest
import torch

from protenc_seq import (
    ESM2,
    CheckpointError,
    ESM2Config,
    detect_format,
    load_encoder,
    load_model,
    save_safetensors,
)
from protenc_seq.encoder import ESM2Encoder, SaProtEncoder


def test_round_trip_keeps_config_and_tensors(tmp_path) -> None:
    config = ESM2Config(num_layers=2, embed_dim=48, attention_heads=4, dropout=0.1, max_residues=500)
    model = ESM2(config)
    path = save_safetensors(model, tmp_path / "m.safetensors")
    assert json.loads(path.with_suffix(".json").read_text())["num_layers"] == 2
    loaded = load_model(path)
    assert loaded.config == config
    a, b = model.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert detect_format(path) == "safetensors" and detect_format(tmp_path) == "safetensors"
    assert isinstance(load_encoder(path), ESM2Encoder)
    saprot = tmp_path / "s" / "s.safetensors"
    saprot.parent.mkdir()
    save_safetensors(ESM2(ESM2Config(num_layers=1, embed_dim=32, attention_heads=2, vocab="saprot")), saprot)
    assert isinstance(load_encoder(saprot), SaProtEncoder)


def test_sidecar_disagreement_and_bad_paths(tmp_path) -> None:
    path = save_safetensors(
        ESM2(ESM2Config(num_layers=1, embed_dim=32, attention_heads=2)), tmp_path / "m.safetensors"
    )
    side = json.loads(path.with_suffix(".json").read_text())
    side["dropout"] = 0.5
    path.with_suffix(".json").write_text(json.dumps(side))
    with pytest.raises(CheckpointError, match=r"disagrees with the config stored in m\.safetensors"):
        load_model(path)
    with pytest.raises(CheckpointError, match="no such file"):
        load_model(tmp_path / "missing.pt")
    (tmp_path / "x.onnx").write_text("")
    with pytest.raises(CheckpointError, match="unknown checkpoint type"):
        load_model(tmp_path / "x.onnx")
