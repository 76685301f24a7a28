"""Older apps/finetune.py exports (a ``task`` section, the head module's state dict): loading one is a one-line
error saying how to convert it; the converted model scores exactly what the old head module scored (the
apps' <cls> encoder for a Function Caller head), keeps the export's metadata, and a broken export is a clear
error. The old export is written here the way apps/engine/checkpoint.py::export_model wrote it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from prottasks_tiny import TinyEncoderConfig, TinyPretrainedEncoder
from safetensors.torch import save_file

from protdata import ProteinBatch, read_fasta
from protdata.pretrained import PretrainedFormatError, load_pretrained, model_types, read_config
from protdata.testing import shared_data
from prottasks import TaskModel, convert_finetune_export
from prottasks.errors import ProttasksError
from prottasks.heads import build_head

pytestmark = pytest.mark.numerics

LABELS = ["GO:0005515", "GO:0016020", "GO:0003677"]
HEAD = {"type": "function_caller", "num_labels": 3, "problem": "multi_label", "dropout": 0.0,
        "unfreeze_last_k_layers": 0}  # fmt: skip


@pytest.fixture(scope="module")
def sequences():
    return read_fasta(shared_data("function", "cafa_like_sequences.fasta"))[:8]


def _old_export(folder: Path, encoder_section: dict, encoder: torch.nn.Module, head: dict) -> torch.nn.Module:
    """An export as the apps wrote it: build_head(head, encoder) state dict + config.json with a task section."""
    torch.manual_seed(4)
    module = build_head(head, encoder)
    for p in module.parameters():
        p.data.normal_(0, 0.5)
    folder.mkdir(parents=True)
    save_file(module.state_dict(), str(folder / "model.safetensors"), metadata={"format": "protstack"})
    task = {"kind": "multi_label", "encoder": encoder_section, "head": head, "labels": LABELS, "label_kind": "go",
            "namespace": "molecular_function", "label_names": {}, "obo": None,
            "transform": {"type": "truncate", "max_length": 90, "random": False},
            "needs_structures": False, "vocabulary": encoder_section["type"]}  # fmt: skip
    shapes = {k: list(v.shape) for k, v in module.state_dict().items()}
    header = {"app": "finetune", "config": {"name": "run"}, "task": task, "format": "protstack-checkpoint",
              "parameters": shapes, "step": 12}  # fmt: skip
    (folder / "config.json").write_text(json.dumps(header))
    return module.eval()


def test_convert_tiny_function_caller_export(sequences, tmp_path):
    encoder = TinyPretrainedEncoder(TinyEncoderConfig(cls_output=True))
    section = {
        "type": "prottasks_tiny_sequence",
        "dim": 16,
        "num_layers": 2,
    }  # no cls_output, as the apps wrote
    old = _old_export(tmp_path / "old", section, encoder, HEAD)
    with pytest.raises(
        PretrainedFormatError, match=r"prottasks.convert_finetune_export\(old_dir, new_dir\)"
    ) as exc:
        load_pretrained(tmp_path / "old")
    assert "\n" not in str(exc.value)
    convert_finetune_export(tmp_path / "old", tmp_path / "new")
    header = read_config(tmp_path / "new")
    assert header["config"]["encoder"]["cls_output"] is True and header["config"]["head"]["pooling"] == "cls"
    assert header["task"]["label_kind"] == "go" and "encoder" not in header["task"]
    assert header["step"] == 12 and header["run_config"] == {"name": "run"} and header["app"] == "finetune"
    assert header["format"] == "protstack" and "parameters" not in header
    assert header["config"]["max_length"] == 90  # the export's inference truncation
    model = load_pretrained(tmp_path / "new")
    cut = [p.select(slice(0, min(len(p), 90))) for p in sequences]
    assert any(len(p) > 90 for p in sequences)
    with torch.no_grad():
        expected = torch.sigmoid(old(ProteinBatch.collate(cut)).output).double().numpy()
    np.testing.assert_allclose(model.predict(sequences), expected, atol=1e-6)


@pytest.mark.slow
def test_convert_esm2_function_caller_export(sequences, tmp_path):
    """The 0.590 / 0.627 case: an ESM-2 Function Caller export (checkpoint path in its encoder section)."""
    if "esm2" not in model_types():
        pytest.skip("protenc-seq (type esm2) is not installed")
    arch = {"num_layers": 2, "embed_dim": 32, "attention_heads": 4}
    torch.manual_seed(0)
    encoder = TaskModel({"encoder": {"type": "esm2", "architecture": arch, "cls_output": True},
                         "head": {"type": "regression", "normalization": "none"}}).encoder  # fmt: skip
    section = {
        "type": "esm2",
        "architecture": arch,
        "checkpoint": "/gone/esm2_t6_8M_UR50D.pt",
        "on_long": "crop",
    }
    old = _old_export(tmp_path / "old", section, encoder, HEAD)
    convert_finetune_export(tmp_path / "old" / "config.json", tmp_path / "new")
    model = load_pretrained(tmp_path / "new")
    assert model.config.encoder["checkpoint"] is None and model.config.encoder["cls_output"] is True
    with torch.no_grad():
        batch = ProteinBatch.collate([p.select(slice(0, min(len(p), 90))) for p in sequences])
        expected = torch.sigmoid(old(batch).output).double().numpy()
        out = old.encoder(batch)
        mean = old.out_proj(torch.tanh(old.dense(out.protein))).sigmoid().double().numpy()
    scores = model.predict(sequences)
    np.testing.assert_allclose(scores, expected, atol=1e-6)
    assert np.abs(scores - mean).max() > 1e-2


def test_broken_exports_are_clear_errors(tmp_path):
    encoder = TinyPretrainedEncoder(TinyEncoderConfig())
    section = {"type": "prottasks_tiny_sequence", "dim": 16, "num_layers": 2}
    _old_export(tmp_path / "old", section, encoder, HEAD)
    header = json.loads((tmp_path / "old" / "config.json").read_text())
    header["task"]["head"]["num_labels"] = 5
    (tmp_path / "old" / "config.json").write_text(json.dumps(header))
    with pytest.raises(ProttasksError, match=r"head.num_labels: 5, but labels lists 3"):
        convert_finetune_export(tmp_path / "old", tmp_path / "new")
    header["task"]["head"]["num_labels"] = 3
    header["task"]["encoder"]["dim"] = 8
    (tmp_path / "old" / "config.json").write_text(json.dumps(header))
    with pytest.raises(
        ProttasksError, match=r"model.safetensors: encoder.cls has shape \(16,\), .* needs \(8,\)"
    ):
        convert_finetune_export(tmp_path / "old", tmp_path / "new")
    del header["task"]
    (tmp_path / "old" / "config.json").write_text(json.dumps(header))
    with pytest.raises(ProttasksError, match="no 'task' section"):
        convert_finetune_export(tmp_path / "old", tmp_path / "new")
    assert not (tmp_path / "new").exists()
