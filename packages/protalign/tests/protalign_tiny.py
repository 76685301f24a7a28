"""Tiny stand-ins for the tests (never other protstack packages: protalign's tests import protdata only).

* :class:`TinyProteinEncoder` — residue-type embedding (with a ``<mask>`` embedding for ``residue_masked``) +
  learned positions + one transformer layer; honours the protdata encoder contract.
  :class:`TinyPretrainedProteinEncoder` is the same as a protstack ``Pretrained`` model (type
  ``"protalign_tiny_protein"``), for the save / load tests.
* :func:`make_tiny_bert` — a random BERT (``BertModel``) with a WordPiece vocabulary built from given texts,
  saved as a Hugging Face directory (``config.json``, ``model.safetensors``, ``vocab.txt``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from protdata import EncoderOutput, ProteinBatch, ProteinEncoder, masked_mean
from protdata.constants import NUM_RESIDUE_TYPES
from protdata.pretrained import Pretrained

MASK_ID = NUM_RESIDUE_TYPES  # 21: the <mask> embedding
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


class TinyProteinEncoder(ProteinEncoder):
    def __init__(self, dim: int = 32, heads: int = 2, max_length: int = 1024, seed: int = 0) -> None:
        super().__init__()
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        self.output_dim = dim
        self.embed = nn.Embedding(NUM_RESIDUE_TYPES + 1, dim)
        self.position = nn.Embedding(max_length, dim)
        self.layer = nn.TransformerEncoderLayer(dim, heads, 2 * dim, dropout=0.0, batch_first=True)
        torch.random.set_rng_state(generator_state)
        self.seen_masks: list[torch.Tensor] = []

    def forward(self, batch: ProteinBatch) -> EncoderOutput:
        self.seen_masks.append(batch.residue_masked.clone())
        types = batch.residue_type.masked_fill(batch.residue_masked, MASK_ID)  # (N,)
        tokens = batch.to_padded(types)  # (B, L)
        mask = batch.mask  # (B, L)
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        x = self.embed(tokens) + self.position(positions)[None]  # (B, L, D)
        x = self.layer(x, src_key_padding_mask=~mask)
        x = x * mask[..., None]
        return EncoderOutput(residue=x, protein=masked_mean(x, mask), mask=mask)


class TinyProteinEncoderConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str = "protalign_tiny_protein"
    dim: int = Field(default=32, ge=2)
    heads: int = Field(default=2, ge=1)
    max_length: int = Field(default=1024, ge=1)
    seed: int = 0


class TinyPretrainedProteinEncoder(TinyProteinEncoder, Pretrained):
    """:class:`TinyProteinEncoder` built from :class:`TinyProteinEncoderConfig`, saveable as a protstack model."""

    model_type = "protalign_tiny_protein"
    config_class = TinyProteinEncoderConfig

    def __init__(self, config: TinyProteinEncoderConfig | None = None) -> None:
        config = config or TinyProteinEncoderConfig()
        super().__init__(dim=config.dim, heads=config.heads, max_length=config.max_length, seed=config.seed)
        self.config = config


def basic_tokens(text: str) -> list[str]:
    """BERT's basic tokenisation for an uncased vocabulary: lower case, strip accents, split on punctuation."""
    text = unicodedata.normalize("NFD", text.lower())
    text = "".join(c for c in text if unicodedata.category(c) != "Mn")
    return re.findall(r"[^\W_]+|[^\w\s]|_", text)


def build_vocab(texts: Iterable[str]) -> list[str]:
    """Specials, every whole word of ``texts``, and single characters (+ ``##`` continuations) as fallback."""
    words: set[str] = set()
    for text in texts:
        words.update(basic_tokens(text))
    chars = sorted({c for w in words for c in w} | set("abcdefghijklmnopqrstuvwxyz0123456789"))
    return SPECIALS + sorted(words) + [c for c in chars if c not in words] + ["##" + c for c in chars]


def make_tiny_bert(
    folder: Path,
    texts: Iterable[str] = (),
    *,
    hidden: int = 32,
    layers: int = 1,
    heads: int = 2,
    seed: int = 0,
) -> Path:
    """Save a random tiny BERT with a vocabulary covering ``texts`` to ``folder``; returns ``folder``."""
    from transformers import BertConfig, BertModel

    folder.mkdir(parents=True, exist_ok=True)
    vocab = build_vocab(texts)
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=2 * hidden,
        max_position_embeddings=512,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(folder)
    torch.random.set_rng_state(state)
    return folder
