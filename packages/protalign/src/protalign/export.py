"""Embeddings of both modalities: batched inference and a safetensors file format.

:func:`embed_proteins` / :func:`embed_texts` run a :class:`~protalign.model.ProtCLIP` in eval mode without
autograd and return normalised ``(N, P)`` embeddings in input order. :func:`save_embeddings` writes them to one
safetensors file (tensors ``"protein"`` and / or ``"text"``, float32) whose metadata holds the ids of each row
(``"protein_ids"``, ``"text_ids"``: JSON lists), ``"format": "protalign.embeddings/1"`` and any user metadata;
:func:`load_embeddings` reads it back and checks that ids and rows agree. No pickle anywhere.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from protalign.errors import EmbeddingFileError
from protalign.text_encoder import tokenize
from protdata import Protein, ProteinBatch

if TYPE_CHECKING:
    from protalign.model import ProtCLIP

FORMAT = "protalign.embeddings/1"


def _device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def embed_proteins(
    model: ProtCLIP, proteins: Sequence[Protein], *, batch_size: int = 32, max_length: int | None = None
) -> Tensor:
    """Normalised protein embeddings ``(N, P)`` on the CPU (proteins cut to ``max_length`` residues, default
    the model's ``max_protein_length``)."""
    limit = max_length or model.config.max_protein_length
    was_training = model.training
    model.eval()
    out = []
    try:
        for start in range(0, len(proteins), batch_size):
            chunk = [
                p if len(p) <= limit else p.select(slice(0, limit))
                for p in proteins[start : start + batch_size]
            ]
            batch = ProteinBatch.collate(chunk).to(_device(model))
            out.append(model.encode_protein(batch).float().cpu())
    finally:
        model.train(was_training)
    return torch.cat(out) if out else torch.zeros(0, model.config.projection_dim)


@torch.no_grad()
def embed_texts(
    model: ProtCLIP, texts: Sequence[str], *, batch_size: int = 64, max_length: int | None = None
) -> Tensor:
    """Normalised text embeddings ``(N, P)`` on the CPU (``max_length`` tokens, default the model's)."""
    limit = max_length or model.config.max_text_length
    was_training = model.training
    model.eval()
    out = []
    try:
        for start in range(0, len(texts), batch_size):
            tokens = tokenize(model.text_encoder.tokenizer, texts[start : start + batch_size], limit)
            out.append(model.encode_text(tokens.to(_device(model))).float().cpu())
    finally:
        model.train(was_training)
    return torch.cat(out) if out else torch.zeros(0, model.config.projection_dim)


@dataclass
class Embeddings:
    """What an embedding file holds; a modality absent from the file is ``None``."""

    protein: Tensor | None = None
    protein_ids: list[str] | None = None
    text: Tensor | None = None
    text_ids: list[str] | None = None
    metadata: dict[str, str] = field(default_factory=dict)


def save_embeddings(
    path: str | PathLike[str],
    *,
    protein: Tensor | None = None,
    protein_ids: Sequence[str] | None = None,
    text: Tensor | None = None,
    text_ids: Sequence[str] | None = None,
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """Write embeddings (and the id of every row) to a safetensors file."""
    from safetensors.torch import save_file

    tensors: dict[str, Tensor] = {}
    meta: dict[str, str] = {str(k): str(v) for k, v in (metadata or {}).items()}
    for name, values, ids in (("protein", protein, protein_ids), ("text", text, text_ids)):
        if values is None:
            if ids is not None:
                raise EmbeddingFileError(f"{name}_ids given without {name} embeddings")
            continue
        if values.dim() != 2:
            raise EmbeddingFileError(f"{name} embeddings must be (N, D), got {tuple(values.shape)}")
        ids = [str(i) for i in (ids if ids is not None else range(values.shape[0]))]
        if len(ids) != values.shape[0]:
            raise EmbeddingFileError(f"{len(ids)} {name} ids for {values.shape[0]} {name} embeddings")
        tensors[name] = values.detach().float().cpu().contiguous()
        meta[f"{name}_ids"] = json.dumps(ids)
    if not tensors:
        raise EmbeddingFileError("nothing to save: give protein and/or text embeddings")
    meta["format"] = FORMAT
    path = Path(path)
    save_file(tensors, str(path), metadata=meta)
    return path


def load_embeddings(path: str | PathLike[str]) -> Embeddings:
    """Read a file written by :func:`save_embeddings`."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as handle:
            meta = dict(handle.metadata() or {})
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    except (OSError, SafetensorError) as exc:
        raise EmbeddingFileError(f"{path}: not a readable safetensors file: {exc}") from exc
    if meta.get("format") != FORMAT:
        raise EmbeddingFileError(f"{path}: not a protalign embedding file (format {meta.get('format')!r})")
    out = Embeddings(
        metadata={k: v for k, v in meta.items() if k not in ("format", "protein_ids", "text_ids")}
    )
    for name in ("protein", "text"):
        if name not in tensors:
            continue
        try:
            ids = json.loads(meta[f"{name}_ids"])
        except (KeyError, json.JSONDecodeError) as exc:
            raise EmbeddingFileError(f"{path}: missing or malformed {name}_ids metadata") from exc
        if len(ids) != tensors[name].shape[0]:
            raise EmbeddingFileError(f"{path}: {len(ids)} {name} ids for {tensors[name].shape[0]} rows")
        setattr(out, name, tensors[name])
        setattr(out, f"{name}_ids", ids)
    return out
