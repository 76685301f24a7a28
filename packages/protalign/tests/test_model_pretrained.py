"""ProtCLIP saves as a protstack model directory that is self-contained: after the text encoder's own directory
is deleted, ``load_pretrained`` (also in a fresh, offline process) rebuilds both towers and embeds real proteins
and texts exactly as the model did in memory; every tensor is identical; bad directories are one-line errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from protalign_tiny import (
    TinyPretrainedProteinEncoder,
    TinyProteinEncoder,
    TinyProteinEncoderConfig,
    make_tiny_bert,
)

from protalign import ProtCLIP, ProtCLIPConfig, embed_proteins, embed_texts
from protalign.errors import ProtalignError, TextEncoderError
from protalign.text_encoder import TextEncoder
from protdata import ProtdataError
from protdata.pretrained import PretrainedFormatError, load_pretrained, read_config
from protdata.protanno import ProtAnnoRecord

pytestmark = pytest.mark.numerics

TESTS = Path(__file__).parent
SMALL = {"projection_dim": 16, "num_prototypes": 8, "mlm_hidden_dim": 16, "max_text_length": 64}


def _model(bert: Path) -> ProtCLIP:
    torch.manual_seed(0)
    encoder = TinyPretrainedProteinEncoder(TinyProteinEncoderConfig(dim=16, seed=3))
    model = ProtCLIP(encoder, TextEncoder.from_pretrained(bert, max_length=64), ProtCLIPConfig(**SMALL))
    with torch.no_grad():  # trained-looking temperatures, not the initial values
        model.clip_loss.logit_scale.fill_(3.3)
        model.local_logit_scale.fill_(2.1)
    return model.eval()


def _embeddings(model: ProtCLIP, records: list[ProtAnnoRecord]) -> tuple[np.ndarray, np.ndarray]:
    proteins = [r.to_protein() for r in records]
    texts = [r.text for r in records]
    return embed_proteins(model, proteins, batch_size=4).numpy(), embed_texts(
        model, texts, batch_size=4
    ).numpy()


def test_saved_directory_is_self_contained(tmp_path, swissprot_records):
    records = swissprot_records[:10]
    bert = make_tiny_bert(tmp_path / "bert", [r.text for r in records], seed=5)
    model = _model(bert)
    proteins, texts = _embeddings(model, records)
    model.save_pretrained(tmp_path / "clip")
    shutil.rmtree(bert)  # the text encoder's own directory is gone
    header = read_config(tmp_path / "clip")
    assert header["type"] == "protclip"
    assert header["config"]["text_encoder"] == {
        "type": "hf_text_encoder",
        "path": "text_encoder",
        "frozen": True,
    }
    assert header["config"]["protein_encoder"]["type"] == "protalign_tiny_protein"
    files = {p.name for p in (tmp_path / "clip" / "text_encoder").iterdir()}
    assert {"config.json", "tokenizer.json"} <= files and not files & {
        "model.safetensors",
        "pytorch_model.bin",
    }
    loaded = ProtCLIP.from_pretrained(tmp_path / "clip")
    expected = model.state_dict()
    got = loaded.state_dict()
    assert set(got) == set(expected)
    for name, value in expected.items():
        assert torch.equal(got[name], value), name
    assert not loaded.training and not loaded.text_encoder.model.training
    assert not any(p.requires_grad for p in loaded.text_encoder.parameters())  # still frozen
    p2, t2 = _embeddings(loaded, records)
    np.testing.assert_array_equal(p2, proteins)
    np.testing.assert_array_equal(t2, texts)
    # independent of the loader: the text tower of the reloaded model encodes the same token ids
    tokens = model.text_encoder.tokenize([r.text for r in records])
    torch.testing.assert_close(
        loaded.text_encoder.tokenize([r.text for r in records]).input_ids, tokens.input_ids
    )

    # a fresh process with the hub offline and a different working directory
    code = (
        f"import sys; sys.path.insert(0, {str(TESTS)!r}); import protalign_tiny, numpy as np, json\n"
        "from protdata.pretrained import load_pretrained\nfrom protalign import embed_proteins, embed_texts\n"
        "from protdata.protanno import read_uniprot\nfrom protdata.testing import shared_data\n"
        "rs = [e.to_record() for e in read_uniprot(shared_data('function', 'uniprot_swissprot_sample.dat'))][:10]\n"
        f"m = load_pretrained({str(tmp_path / 'clip')!r})\n"
        f"np.save({str(tmp_path / 'p.npy')!r}, embed_proteins(m, [r.to_protein() for r in rs], batch_size=4).numpy())\n"
        f"np.save({str(tmp_path / 't.npy')!r}, embed_texts(m, [r.text for r in rs], batch_size=4).numpy())\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300, env=env, cwd=tmp_path)
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), proteins)
    np.testing.assert_array_equal(np.load(tmp_path / "t.npy"), texts)


def test_objectives_off_round_trip(tmp_path, tiny_bert_dir):
    """Weight-0 objectives build no modules; the reloaded model has the same (smaller) set of tensors."""
    torch.manual_seed(0)
    config = ProtCLIPConfig(**SMALL, weights={"protein_mlm": 0, "fragment_mlm": 0, "local_contrast": 0})
    model = ProtCLIP(
        TinyPretrainedProteinEncoder(TinyProteinEncoderConfig(dim=16)),
        TextEncoder.from_pretrained(tiny_bert_dir),
        config,
    )
    model.save_pretrained(tmp_path / "m")
    loaded = load_pretrained(tmp_path / "m")
    assert loaded.mlm_head is None and loaded.prototype_bank is None
    assert set(loaded.state_dict()) == set(model.state_dict())
    assert loaded.config.weights == config.weights


def test_errors(tmp_path, tiny_bert_dir):
    assert issubclass(ProtalignError, ProtdataError) and issubclass(TextEncoderError, ProtdataError)
    assert str(TextEncoderError("/x: no config.json")) == "/x: no config.json"
    unsaveable = ProtCLIP(
        TinyProteinEncoder(dim=16), TextEncoder.from_pretrained(tiny_bert_dir), ProtCLIPConfig(**SMALL)
    )
    with pytest.raises(
        ProtalignError, match="protein encoder TinyProteinEncoder is not a protstack Pretrained"
    ):
        unsaveable.save_pretrained(tmp_path / "nope")
    model = _model(tiny_bert_dir)
    model.save_pretrained(tmp_path / "m")
    config = tmp_path / "m" / "config.json"
    header = json.loads(config.read_text())
    header["config"]["protein_encoder"]["dim"] = "wide"
    config.write_text(json.dumps(header))
    with pytest.raises(
        PretrainedFormatError,
        match=r"m/config.json: protein_encoder: invalid 'protalign_tiny_protein' config: dim",
    ):
        load_pretrained(tmp_path / "m")
    header["config"]["protein_encoder"]["dim"] = 16
    config.write_text(json.dumps(header))
    (tmp_path / "m" / "text_encoder" / "tokenizer.json").unlink()
    with pytest.raises(TextEncoderError, match=r"text_encoder: no tokenizer files") as exc:
        load_pretrained(tmp_path / "m")
    assert "\n" not in str(exc.value)


@pytest.mark.slow
def test_esm2_protclip_from_config_reloads_in_a_fresh_process(tmp_path, swissprot_records, tiny_bert_dir):
    """Built from its config alone (the ESM-2 encoder by type, through the registry) and reloaded in a process
    that has imported neither protalign nor protenc-seq: the loader finds both through the entry points."""
    from protdata.pretrained import model_types

    if "esm2" not in model_types():
        pytest.skip("protenc-seq (type esm2) is not installed")
    esm = {"type": "esm2", "architecture": {"num_layers": 1, "embed_dim": 16, "attention_heads": 2}}
    torch.manual_seed(0)
    config = {**SMALL, "protein_encoder": esm, "text_encoder": {"path": str(tiny_bert_dir)}}
    model = ProtCLIP.from_config(config).eval()
    records = swissprot_records[:6]
    proteins, texts = _embeddings(model, records)
    model.save_pretrained(tmp_path / "clip")
    code = (
        "import sys, numpy as np\nfrom protdata.pretrained import load_pretrained\n"
        "assert 'protalign' not in sys.modules and 'protenc_seq' not in sys.modules\n"
        "from protdata.protanno import read_uniprot\nfrom protdata.testing import shared_data\n"
        "rs = [e.to_record() for e in read_uniprot(shared_data('function', 'uniprot_swissprot_sample.dat'))][:6]\n"
        f"m = load_pretrained({str(tmp_path / 'clip')!r})\nfrom protalign import embed_proteins, embed_texts\n"
        f"np.save({str(tmp_path / 'p.npy')!r}, embed_proteins(m, [r.to_protein() for r in rs], batch_size=4).numpy())\n"
        f"np.save({str(tmp_path / 't.npy')!r}, embed_texts(m, [r.text for r in rs], batch_size=4).numpy())\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300, env=env, cwd=tmp_path)
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), proteins)
    np.testing.assert_array_equal(np.load(tmp_path / "t.npy"), texts)


def test_convert_older_align_export(tmp_path, swissprot_records, tiny_bert_dir):
    """An export as apps/align.py wrote it (ZeRO-3 (1,) temperatures, text_encoder/ without weights, the run
    config): loading it is a one-line error; the converted directory embeds exactly as the trained model did."""
    from safetensors.torch import save_file

    from protalign import convert_align_export

    model = _model(tiny_bert_dir)
    records = swissprot_records[:6]
    proteins, texts = _embeddings(model, records)
    old = tmp_path / "run"
    state = {k: v.reshape(1) if v.dim() == 0 else v for k, v in model.state_dict().items()}
    old.mkdir()
    save_file(state, str(old / "model.safetensors"), metadata={"format": "protstack"})
    model.text_encoder.save_files(old / "text_encoder")
    run = {"encoder": {"type": "protalign_tiny_protein", "dim": 16, "seed": 3},
           "model": {**model.config.model_dump(mode="json"), "text_encoder": {"path": "/gone/bert", "frozen": True}}}  # fmt: skip
    header = {"app": "align", "config": run, "format": "protstack-checkpoint", "parameters": {}, "step": 7}
    (old / "config.json").write_text(json.dumps(header))
    with pytest.raises(
        PretrainedFormatError, match=r"not a protstack .* protalign\.convert_align_export"
    ) as exc:
        load_pretrained(old)
    assert "\n" not in str(exc.value)
    convert_align_export(old, tmp_path / "new")
    saved = read_config(tmp_path / "new")
    assert saved["step"] == 7 and saved["run_config"] == run and saved["app"] == "align"
    loaded = load_pretrained(tmp_path / "new")
    p2, t2 = _embeddings(loaded, records)
    np.testing.assert_array_equal(p2, proteins)
    np.testing.assert_array_equal(t2, texts)
    assert loaded.logit_scale.item() == pytest.approx(np.exp(3.3), rel=1e-6)
    (old / "text_encoder" / "config.json").unlink()
    with pytest.raises(TextEncoderError, match=r"text_encoder: no config\.json"):
        convert_align_export(old, tmp_path / "again")
    header["app"] = "finetune"
    (old / "config.json").write_text(json.dumps(header))
    with pytest.raises(ProtalignError, match=r"not an apps/align\.py export"):
        convert_align_export(old, tmp_path / "again")
