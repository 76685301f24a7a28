"""Embedding files: one vector per protein (and optionally per residue), as safetensors or Parquet.

* ``.safetensors`` — the layout of :mod:`protalign.export` (``format: protalign.embeddings/1``; readable with
  ``protalign.export.load_embeddings``): tensor ``protein`` ``(N, D)`` float32 and metadata ``protein_ids`` (JSON
  list, row order), plus ``lengths`` ``(N,)`` int64 and metadata ``sources``; with residue rows also ``residue``
  ``(R, D)`` float32 — every protein's rows stacked in row order — and ``residue_offsets`` ``(N + 1,)`` int64
  (protein ``i`` is ``residue[offsets[i]:offsets[i + 1]]``).
* ``.parquet`` — one row per protein: ``id`` (string), ``source`` (string), ``length`` (int32), ``embedding``
  (fixed_size_list<float32, D>); with residue rows also ``residue_embedding``
  (list<fixed_size_list<float32, D>>, one inner list per residue).

Both are written atomically (:func:`protdata.atomic.atomic_path`); ``meta`` goes into the file's metadata.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from protdata.atomic import atomic_path
from protdata.encoding import Embedded
from protdata.protein import Protein

__all__ = ["PARQUET_FORMAT", "SAFETENSORS_FORMAT", "write_embeddings"]

#: The safetensors layout of protalign.export (embeddings + row ids), extended with lengths and residue rows.
SAFETENSORS_FORMAT = "protalign.embeddings/1"
PARQUET_FORMAT = "protstack.embeddings.parquet/1"


def write_embeddings(
    path: str | os.PathLike[str],
    rows: Sequence[tuple[Protein, Embedded]],
    meta: Mapping[str, str],
    format: str = "safetensors",
) -> Path:
    """Write ``rows`` (protein, its :class:`~protdata.encoding.Embedded`) as ``format`` (``safetensors`` or
    ``parquet``; module docstring); residue rows are written when the first row has them. Returns the path."""
    path = Path(path)
    protein = torch.stack([e.protein for _, e in rows]).float()  # (N, D)
    residues = [e.residue.float() for _, e in rows] if rows[0][1].residue is not None else None
    with atomic_path(path) as tmp:
        (_safetensors if format == "safetensors" else _parquet)(tmp, rows, protein, residues, dict(meta))
    return path


def _safetensors(
    path: Path,
    rows: Sequence[tuple[Protein, Embedded]],
    protein: torch.Tensor,
    residues: list | None,
    meta: dict,
) -> None:
    from safetensors.torch import save_file

    tensors = {"protein": protein.contiguous(), "lengths": torch.tensor([len(p) for p, _ in rows])}
    meta.update(format=SAFETENSORS_FORMAT, protein_ids=json.dumps([p.id for p, _ in rows]))
    meta["sources"] = json.dumps([p.source or "" for p, _ in rows])
    if residues is not None:
        tensors["residue"] = torch.cat(residues).contiguous()  # (R, D)
        tensors["residue_offsets"] = torch.cumsum(
            torch.tensor([0] + [len(x) for x in residues]), 0
        )  # (N + 1,)
    save_file(tensors, str(path), metadata=meta)


def _parquet(
    path: Path,
    rows: Sequence[tuple[Protein, Embedded]],
    protein: torch.Tensor,
    residues: list | None,
    meta: dict,
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    dim = protein.shape[1]
    columns = {
        "id": pa.array([p.id for p, _ in rows], type=pa.string()),
        "source": pa.array([p.source or "" for p, _ in rows], type=pa.string()),
        "length": pa.array([len(p) for p, _ in rows], type=pa.int32()),
        "embedding": pa.FixedSizeListArray.from_arrays(pa.array(protein.numpy().reshape(-1)), dim),
    }
    if residues is not None:
        offsets = np.concatenate([[0], np.cumsum([len(x) for x in residues])]).astype(np.int32)
        flat = pa.FixedSizeListArray.from_arrays(pa.array(torch.cat(residues).numpy().reshape(-1)), dim)
        columns["residue_embedding"] = pa.ListArray.from_arrays(pa.array(offsets), flat)
    pq.write_table(pa.table(columns).replace_schema_metadata({**meta, "format": PARQUET_FORMAT}), str(path))
