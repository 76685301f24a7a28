"""Shared fixtures: real sequences, and tiny random reference models (fair-esm ESM2, transformers Esm*).

Reference implementations are optional dev dependencies: fixtures that need one skip cleanly when it is absent.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from protdata.testing import shared_data

#: The torch.load allow-list fair-esm's own loader needs under torch >= 2.6 (checkpoint-formats.md §1).
SAFE = [argparse.Namespace]


def read_fasta(path: Path) -> list[tuple[str, str]]:
    records, name, seq = [], None, []
    for line in path.read_text().splitlines():
        if line.startswith(">"):
            if name is not None:
                records.append((name, "".join(seq)))
            name, seq = line[1:].split()[0], []
        elif line.strip():
            seq.append(line.strip())
    if name is not None:
        records.append((name, "".join(seq)))
    return records


@pytest.fixture(scope="session")
def cafa_records() -> list[tuple[str, str]]:
    """All 147 real Swiss-Prot sequences of the CAFA-style sample (a few contain Z/O, one is 3,148 long)."""
    return read_fasta(shared_data("function", "cafa_like_sequences.fasta"))


@pytest.fixture(scope="session")
def real_sequences(cafa_records: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Six real sequences of clearly different lengths (35 … ~420 residues), standard letters only."""
    clean = [(n, s) for n, s in cafa_records if set(s) <= set("ACDEFGHIKLMNPQRSTVWY") and len(s) <= 450]
    clean.sort(key=lambda r: len(r[1]))
    picks = [
        clean[0],
        clean[len(clean) // 5],
        clean[len(clean) // 2],
        clean[-1],
        clean[3],
        clean[len(clean) // 3],
    ]
    assert len({len(s) for _, s in picks}) >= 5
    return picks


@pytest.fixture(scope="session")
def blat() -> tuple[str, list[str], int]:
    """BLAT_ECOLX (TEM-1) wild type, its 4,996 single mutants, numbering offset 24 (fair-esm examples)."""
    import csv

    wt_file = shared_data("dms", "BLAT_ECOLX_wildtype.txt")
    lines = [ln.strip() for ln in wt_file.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    with open(
        shared_data("dms", "BLAT_ECOLX_Ranganathan2015.csv"), newline="", encoding="utf-8-sig"
    ) as handle:
        mutants = [row["mutant"] for row in csv.DictReader(handle)]
    return lines[0], mutants, 24


def randomize_(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Overwrite every floating parameter with non-trivial random values (LayerNorm weights around 1)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if "norm" in name.lower() and name.endswith("weight"):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=gen))
            elif p.ndim >= 2:
                p.copy_(torch.randn(p.shape, generator=gen) / p.shape[-1] ** 0.5)
            else:
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
    return module


@pytest.fixture(scope="session")
def esm() -> Any:
    return pytest.importorskip("esm")


@pytest.fixture(scope="session")
def transformers() -> Any:
    return pytest.importorskip("transformers")


@pytest.fixture(scope="session")
def make_fair_esm(esm: Any) -> Callable[..., Any]:
    """``make(num_layers, dim, heads, seed)`` -> a random fair-esm ``ESM2`` in eval mode whose rotary
    ``inv_freq`` holds fp16-rounded values, like the released checkpoints."""

    def make(num_layers: int, dim: int, heads: int, seed: int = 0, token_dropout: bool = True) -> Any:
        alphabet = esm.data.Alphabet.from_architecture("ESM-1b")
        model = esm.model.esm2.ESM2(num_layers, dim, heads, alphabet, token_dropout)
        randomize_(model, seed)
        for layer in model.layers:
            inv = layer.self_attn.rot_emb.inv_freq
            inv.copy_(inv.half().float())
        return model.eval()

    return make


@pytest.fixture(scope="session")
def save_fair_esm_file() -> Callable[..., Path]:
    """``save(model, path, regression=True)``: fair-esm's distributed file layout (checkpoint-formats.md §1):
    ``{"model": encoder.sentence_encoder./encoder.-prefixed state, "cfg": {"model": Namespace}, "args": None}``
    plus ``<stem>-contact-regression.pt``."""

    def save(model: Any, path: Path, regression: bool = True, dtype: torch.dtype | None = None) -> Path:
        state = {}
        contact = {}
        for key, value in model.state_dict().items():
            value = value.clone() if dtype is None else value.to(dtype).clone()
            if key.startswith("contact_head."):
                contact[key] = value
            elif key.startswith("lm_head."):
                state["encoder." + key] = value
            else:
                state["encoder.sentence_encoder." + key] = value
        cfg = argparse.Namespace(
            encoder_layers=model.num_layers,
            encoder_embed_dim=model.embed_dim,
            encoder_attention_heads=model.attention_heads,
            token_dropout=model.token_dropout,
            arch="esm2",
        )
        torch.save({"model": state, "cfg": {"model": cfg}, "args": None}, path)
        if regression:
            torch.save({"model": contact}, Path(str(path.with_suffix("")) + "-contact-regression.pt"))
        return path

    return save


@pytest.fixture(scope="session")
def fair_esm_batch(esm: Any) -> Callable[[list[tuple[str, str]]], torch.Tensor]:
    """fair-esm's ``BatchConverter`` tokens ``(B, T)`` for ``(name, sequence)`` records."""
    converter = esm.data.Alphabet.from_architecture("ESM-1b").get_batch_converter()

    def batch(records: list[tuple[str, str]]) -> torch.Tensor:
        return converter(records)[2]

    return batch


@pytest.fixture(scope="session")
def make_hf_mlm(transformers: Any) -> Callable[..., Any]:
    """``make(num_layers, dim, heads, vocab_size=33, seed=0)`` -> a random transformers ``EsmForMaskedLM``
    (SDPA attention); vocabulary 446 with mask id 4 is SaProt's layout (checkpoint-formats.md §3)."""

    def make(num_layers: int, dim: int, heads: int, vocab_size: int = 33, seed: int = 0) -> Any:
        config = transformers.EsmConfig(
            vocab_size=vocab_size,
            hidden_size=dim,
            num_hidden_layers=num_layers,
            num_attention_heads=heads,
            intermediate_size=4 * dim,
            position_embedding_type="rotary",
            token_dropout=True,
            mask_token_id=32 if vocab_size == 33 else 4,
            pad_token_id=1,
            emb_layer_norm_before=False,
            layer_norm_eps=1e-5,
            hidden_dropout_prob=0.0,
            attention_probs_dropout_prob=0.0,
            attn_implementation="sdpa",
        )
        model = transformers.EsmForMaskedLM(config)
        randomize_(model, seed)
        inv = model.esm.rotary_embeddings.inv_freq
        inv.copy_(inv.half().float())
        return model.eval()

    return make
