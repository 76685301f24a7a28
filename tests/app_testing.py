"""Helpers the app tests share: tiny random ESM-2 weights in fair-esm's file layout, and an app run in this
process."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch


def randomize_(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Non-trivial random parameters (LayerNorm weights around 1), so that every weight matters."""
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


def fair_esm_checkpoint(tmp_path_factory: pytest.TempPathFactory, seed: int) -> tuple[Any, Any, Path]:
    """A random fair-esm ESM2 (2 layers, 32-d), its alphabet, and the same weights as a fair-esm ``.pt`` in
    fair-esm's layout (``{"model": encoder.sentence_encoder.-prefixed state, "cfg": {"model": Namespace}}``)."""
    esm = pytest.importorskip("esm")
    alphabet = esm.data.Alphabet.from_architecture("ESM-1b")
    model = esm.model.esm2.ESM2(2, 32, 4, alphabet, token_dropout=True)
    randomize_(model, seed=seed)
    for layer in model.layers:  # released checkpoints hold fp16-rounded rotary frequencies
        inv = layer.self_attn.rot_emb.inv_freq
        inv.copy_(inv.half().float())
    model.eval()
    state = {}
    for key, value in model.state_dict().items():
        if key.startswith("contact_head."):
            continue
        prefix = "encoder." if key.startswith("lm_head.") else "encoder.sentence_encoder."
        state[prefix + key] = value.clone()
    cfg = argparse.Namespace(
        encoder_layers=2, encoder_embed_dim=32, encoder_attention_heads=4, token_dropout=True, arch="esm2"
    )
    path = tmp_path_factory.mktemp("esm") / "esm2_tiny.pt"
    torch.save({"model": state, "cfg": {"model": cfg}, "args": None}, path)
    return model, alphabet, path


def run_main(
    main: Callable[[list[str]], int], argv: list[str], capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    """An app's ``main(argv)`` in this process: ``(exit status, stdout, stderr)``."""
    try:
        status = main(argv)
    except SystemExit as exc:
        status = int(exc.code or 0)
    out = capsys.readouterr()
    return status, out.out, out.err


def corrupted_cafa(
    tmp_path: Path, bad: set[int], name: str = "cafa_bad.fasta"
) -> tuple[Path, list[tuple[str, str]]]:
    """The real CAFA-like FASTA rewritten as header + one sequence line per record, with a digit put into column 5
    of each record in ``bad``; returns the file and the (id, sequence) pairs biotite reads from the original
    (B/Z/J/U/O mapped to X, protdata's documented policy)."""
    from biotite.sequence.io.fasta import FastaFile

    from protdata.testing import shared_data

    source = shared_data("function", "cafa_like_sequences.fasta")
    to_x = str.maketrans("BZJUO", "XXXXX")
    records = [(h.split()[0], s.translate(to_x)) for h, s in FastaFile.read(str(source)).items()]
    lines = []
    for k, (pid, seq) in enumerate(records):
        lines += [f">{pid}", seq[:4] + "1" + seq[5:] if k in bad else seq]
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path, records
