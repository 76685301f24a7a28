"""ProtCLIP's joint protein–text space for inference outside the training loop (``apps/embed.py space: joint``).

Retrieval, zero-shot annotation and semantic-similarity evaluation compare proteins and texts in the space both
towers are projected into (ProtCLIP, Zhou et al. 2025, §3: ``p = normalize(W_p · pool(f_protein(x)))``,
``t = normalize(W_t · pool(f_text(y)))``, the InfoNCE of Eq. 1 is taken over ``p · t``). The protein encoder's own
features (what ``embed.py`` writes by default) are *not* that space:

* :class:`JointProteinEncoder` wraps a trained :class:`~protalign.model.ProtCLIP` as a protstack encoder whose
  ``protein`` output is the projected, L2-normalised embedding (``ProtCLIP.encode_protein``), so every protstack
  inference path -- batching, skipping bad inputs, Parquet parts, ranks -- writes joint-space embeddings;
* :func:`read_texts` reads texts to embed (``id<TAB>text`` per line) and :func:`write_text_embeddings` embeds them
  with the text tower (``ProtCLIP.encode_text``) and writes them in the layout protalign's retrieval reads
  (:func:`protalign.export.save_embeddings`) or as Parquet rows (``id``, ``text``, ``embedding``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from protalign.errors import ProtalignError
from protdata.encoder import EncoderOutput

if TYPE_CHECKING:
    from protalign.model import ProtCLIP
    from protdata import ProteinBatch

__all__ = ["JointProteinEncoder", "read_texts", "write_text_embeddings"]


class JointProteinEncoder(nn.Module):
    """A ProtCLIP's protein tower + projection as an encoder: ``protein`` is the joint-space embedding ``(B, P)``
    (normalised), ``residue`` the protein encoder's own features ``(B, L, D)`` (there is no per-residue joint
    space: callers pool with ``readout``)."""

    def __init__(self, model: ProtCLIP) -> None:
        super().__init__()
        self.model = model
        self.output_dim = model.config.projection_dim

    def forward(self, batch: ProteinBatch) -> EncoderOutput:
        residues = self.model.encode_residues(batch)
        protein = self.model.protein_embedding(residues)  # (B, P), L2-normalised
        return EncoderOutput(residue=residues.residue, protein=protein, mask=residues.mask)


def read_texts(path: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """``(id, text)`` pairs from a file of ``id<TAB>text`` lines (blank lines skipped).

    Raises:
        ProtalignError: the file is missing, a line has no tab, an empty id or text, or an id repeats (the message
            names the file and line).
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise ProtalignError(path, "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProtalignError(path, f"not a readable UTF-8 text file ({exc})") from None
    texts: list[tuple[str, str]] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        key, tab, text = line.partition("\t")
        key, text = key.strip(), text.strip()
        if not tab or not key or not text:
            raise ProtalignError(path, "expected 'id<TAB>text' with a non-empty id and text", line=number)
        if key in seen:
            raise ProtalignError(path, f"id {key!r} repeats line {seen[key]}", line=number)
        seen[key] = number
        texts.append((key, text))
    if not texts:
        raise ProtalignError(path, "no texts (expected 'id<TAB>text' lines)")
    return texts


def write_text_embeddings(
    model: ProtCLIP,
    texts: list[tuple[str, str]],
    output: str | os.PathLike[str],
    *,
    metadata: dict[str, str] | None = None,
    batch_size: int = 64,
) -> Path:
    """Embed ``texts`` with ``model``'s text tower into the joint space and write them (atomically) to ``output``:
    ``.safetensors`` in :func:`protalign.export.save_embeddings`' layout (tensor ``text``, ``text_ids``), or
    ``.parquet`` rows ``id``, ``text``, ``embedding``.

    Raises:
        ProtalignError: ``output`` has another suffix.
    """
    from protalign.export import embed_texts, save_embeddings
    from protdata.atomic import atomic_path

    output = Path(output)
    if output.suffix not in (".safetensors", ".parquet"):
        raise ProtalignError(output, "text embeddings are written as .safetensors or .parquet")
    with torch.inference_mode():
        embeddings = embed_texts(model, [t for _, t in texts], batch_size=batch_size)  # (N, P)
    meta = {**(metadata or {}), "space": "joint"}
    with atomic_path(output) as tmp:
        if output.suffix == ".safetensors":
            save_embeddings(tmp, text=embeddings, text_ids=[k for k, _ in texts], metadata=meta)
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.table(
                {
                    "id": [k for k, _ in texts],
                    "text": [t for _, t in texts],
                    "embedding": pa.array(embeddings.numpy().tolist(), type=pa.list_(pa.float32())),
                }
            ).replace_schema_metadata(meta)
            pq.write_table(table, str(tmp))
    return output
