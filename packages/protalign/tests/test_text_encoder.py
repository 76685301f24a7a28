"""TextEncoder: offline loading of a local Hugging Face directory (tiny random BERT with our own WordPiece
vocabulary), outputs equal to transformers' own BertModel, frozen vs trainable, clear errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from protalign.errors import TextEncoderError
from protalign.text_encoder import TextEncoder, TokenizedText, check_model_dir

TEXTS = ["PROTEIN NAME: Actin, cytoplasmic 3.", "FUNCTION: Seed storage protein.", "SIMILARITY:"]


@pytest.fixture(scope="module")
def encoder(tiny_bert_dir: Path) -> TextEncoder:
    return TextEncoder.from_pretrained(tiny_bert_dir)


def test_tokenizer_uses_our_vocabulary(encoder: TextEncoder, tiny_bert_dir: Path) -> None:
    tokens = encoder.tokenize(TEXTS)
    assert isinstance(tokens, TokenizedText) and tokens.input_ids.shape[0] == 3
    vocab = (tiny_bert_dir / "vocab.txt").read_text().splitlines()
    first = [vocab[i] for i in tokens.input_ids[0][tokens.mask[0]].tolist()]
    assert first == ["[CLS]", "protein", "name", ":", "actin", ",", "cytoplasmic", "3", ".", "[SEP]"]
    assert tokens.attention_mask.sum(1).tolist() == [10, 8, 4]  # e.g. CLS similarity : SEP
    assert encoder.tokenize(["word " * 100], max_length=16).input_ids.shape == (1, 16)


def test_hidden_states_equal_transformers_bert(encoder: TextEncoder, tiny_bert_dir: Path) -> None:
    from transformers import BertModel

    reference = BertModel.from_pretrained(tiny_bert_dir, local_files_only=True).eval()
    tokens = encoder.tokenize(TEXTS)
    with torch.no_grad():
        expected = reference(
            input_ids=tokens.input_ids, attention_mask=tokens.attention_mask
        ).last_hidden_state
    got = encoder(tokens)
    assert got.shape == (3, tokens.input_ids.shape[1], 32) and encoder.output_dim == 32
    torch.testing.assert_close(got, expected)


def test_frozen_stays_frozen(encoder: TextEncoder) -> None:
    wrapper = torch.nn.Sequential(encoder)
    wrapper.train()
    assert not encoder.model.training and all(not p.requires_grad for p in encoder.parameters())
    out = encoder(encoder.tokenize(TEXTS))
    assert not out.requires_grad


def test_trainable_gets_gradients(tiny_bert_dir: Path) -> None:
    encoder = TextEncoder.from_pretrained(tiny_bert_dir, frozen=False)
    encoder.train()
    assert encoder.model.training
    encoder(encoder.tokenize(TEXTS)).pow(2).mean().backward()
    grads = [p.grad for p in encoder.parameters()]
    assert all(g is not None for g in grads), "a parameter got no gradient (the pooler must be dropped)"
    assert encoder.model.embeddings.word_embeddings.weight.grad.abs().sum() > 0


def test_missing_pieces_are_named(tiny_bert_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(TextEncoderError, match="does not exist"):
        TextEncoder.from_pretrained(tmp_path / "nowhere")
    with pytest.raises(TextEncoderError, match="not a directory"):
        check_model_dir(tiny_bert_dir / "vocab.txt")
    for missing, message in [("config.json", "no config.json"), ("model.safetensors", "no weights"),
                             ("vocab.txt", "no tokenizer files")]:  # fmt: skip
        folder = tmp_path / missing
        shutil.copytree(tiny_bert_dir, folder)
        (folder / missing).unlink()
        for extra in ("tokenizer.json",):
            (folder / extra).unlink(missing_ok=True)
        with pytest.raises(TextEncoderError, match=message):
            TextEncoder.from_pretrained(folder)


def test_token_limit_beyond_the_positions_is_named(tiny_bert_dir: Path) -> None:
    """The tiny BERT has 512 positions (its config.json): 512 tokens load, 513 are a one-line error."""
    positions = json.loads((tiny_bert_dir / "config.json").read_text())["max_position_embeddings"]
    assert TextEncoder.from_pretrained(tiny_bert_dir, max_length=positions).max_length == positions
    with pytest.raises(
        TextEncoderError, match=rf"max_length {positions + 1} tokens, .* {positions} positions"
    ):
        TextEncoder.from_pretrained(tiny_bert_dir, max_length=positions + 1)


def test_hub_name_is_not_downloaded() -> None:
    """A Hub model id is not a local directory: a clear error, no network access."""
    with pytest.raises(TextEncoderError, match="does not exist"):
        TextEncoder.from_pretrained("microsoft/BiomedNLP-PubMedBERT-base-uncased-abstract")


def test_corrupt_weights(tiny_bert_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "corrupt"
    shutil.copytree(tiny_bert_dir, folder)
    (folder / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(TextEncoderError, match="cannot load the model"):
        TextEncoder.from_pretrained(folder)


def test_tokenize_rejects_non_strings(encoder: TextEncoder) -> None:
    with pytest.raises(TypeError, match="text 1 is int"):
        encoder.tokenize(["ok", 3])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="no texts"):
        encoder.tokenize([])
