"""Embedding export: batched embeddings equal one-batch embeddings (masked pooling makes them independent of
batch composition), safetensors round trip read back by safetensors' own numpy reader, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from protalign_tiny import TinyProteinEncoder

from protalign.config import ProtCLIPConfig
from protalign.errors import EmbeddingFileError
from protalign.export import embed_proteins, embed_texts, load_embeddings, save_embeddings
from protalign.model import ProtCLIP
from protalign.text_encoder import TextEncoder
from protdata import ProteinBatch
from protdata.protanno import ProtAnnoRecord


@pytest.fixture(scope="module")
def model(tiny_bert_dir: Path) -> ProtCLIP:
    torch.manual_seed(0)
    cfg = ProtCLIPConfig(projection_dim=16, num_prototypes=8, mlm_hidden_dim=16, max_protein_length=80)
    return ProtCLIP(TinyProteinEncoder(dim=16), TextEncoder.from_pretrained(tiny_bert_dir), cfg)


def test_embeddings_do_not_depend_on_batching(
    model: ProtCLIP, swissprot_records: list[ProtAnnoRecord]
) -> None:
    records = swissprot_records[:7]
    proteins = [r.to_protein() for r in records]
    texts = [r.text for r in records]
    model.train()
    by2 = embed_proteins(model, proteins, batch_size=2)
    by7 = embed_proteins(model, proteins, batch_size=7)
    assert model.training  # restored
    torch.testing.assert_close(by2, by7, rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        model.eval()
        direct = model.encode_protein(ProteinBatch.collate([p.select(slice(0, 80)) for p in proteins]))
    torch.testing.assert_close(by7, direct, rtol=1e-5, atol=1e-5)
    assert torch.allclose(by7.norm(dim=1), torch.ones(7))
    t3, t7 = embed_texts(model, texts, batch_size=3), embed_texts(model, texts, batch_size=7)
    torch.testing.assert_close(t3, t7, rtol=1e-5, atol=1e-5)
    assert t7.shape == (7, 16)


def test_round_trip_and_independent_reader(tmp_path: Path) -> None:
    from safetensors.numpy import load_file

    protein, text = torch.randn(3, 4), torch.randn(2, 4)
    path = save_embeddings(tmp_path / "e.safetensors", protein=protein, protein_ids=["P1", "P2", "P3"], text=text,
                           text_ids=["t1", "t2"], metadata={"model": "tiny"})  # fmt: skip
    back = load_embeddings(path)
    assert torch.equal(back.protein, protein) and torch.equal(back.text, text)
    assert back.protein_ids == ["P1", "P2", "P3"] and back.text_ids == ["t1", "t2"]
    assert back.metadata == {"model": "tiny"}
    arrays = load_file(str(path))  # safetensors' own reader, no protalign code
    np.testing.assert_array_equal(arrays["protein"], protein.numpy())
    from safetensors import safe_open

    with safe_open(str(path), framework="np") as handle:
        assert json.loads(handle.metadata()["text_ids"]) == ["t1", "t2"]
    only = load_embeddings(save_embeddings(tmp_path / "p.safetensors", protein=protein))
    assert only.text is None and only.protein_ids == ["0", "1", "2"]


def test_errors(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    with pytest.raises(EmbeddingFileError, match="2 protein ids for 3"):
        save_embeddings(tmp_path / "x", protein=torch.zeros(3, 2), protein_ids=["a", "b"])
    with pytest.raises(EmbeddingFileError, match="nothing to save"):
        save_embeddings(tmp_path / "x")
    with pytest.raises(EmbeddingFileError, match="must be \\(N, D\\)"):
        save_embeddings(tmp_path / "x", text=torch.zeros(3))
    save_file({"protein": torch.zeros(2, 2)}, str(tmp_path / "foreign.safetensors"))
    with pytest.raises(EmbeddingFileError, match="not a protalign embedding file"):
        load_embeddings(tmp_path / "foreign.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 20)
    with pytest.raises(EmbeddingFileError, match="not a readable safetensors file"):
        load_embeddings(tmp_path / "junk.safetensors")
