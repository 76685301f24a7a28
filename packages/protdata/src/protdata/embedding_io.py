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

A directory of Parquet parts (:class:`EmbeddingPartWriter`, for inputs of any size): the same Parquet layout, rows
in encoding order, ``part-r{rank}-{k:05d}.parquet`` each written row group by row group to a temporary file and
renamed when it holds ``part_rows`` proteins or ``part_bytes`` of embeddings (memory: one row group; a killed run
loses only the part being filled); ``resume`` skips the ids of every committed part. A rank that finishes writes
``_rank-r{rank}.json`` (its parts and row counts); the rank that finds every rank's file written writes
``_manifest.json`` (every part and its rows). The ``_`` prefix keeps them out of
``pyarrow.parquet.read_table(directory)``, which reads the whole directory as one table.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from protdata.atomic import _umask, atomic_path, write_json_atomic
from protdata.encoding import Embedded
from protdata.errors import ProtdataError
from protdata.protein import Protein

__all__ = [
    "MANIFEST",
    "PARQUET_FORMAT",
    "SAFETENSORS_FORMAT",
    "EmbeddingFileWriter",
    "EmbeddingOutputError",
    "EmbeddingPartWriter",
    "embedding_parts",
    "write_embeddings",
]

#: The safetensors layout of protalign.export (embeddings + row ids), extended with lengths and residue rows.
SAFETENSORS_FORMAT = "protalign.embeddings/1"
PARQUET_FORMAT = "protstack.embeddings.parquet/1"
#: The directory's manifest (every part and its rows), written when every rank has finished.
MANIFEST = "_manifest.json"
_PART = re.compile(r"part-r(\d+)-(\d+)\.parquet")
#: Metadata keys that must match between a resumed run and the parts already written.
_RESUME_KEYS = ("encoder", "pooling", "per_residue", "format")


class EmbeddingOutputError(ProtdataError):
    """An embedding output directory that cannot be written or resumed (names the directory / part)."""


def write_embeddings(
    path: str | os.PathLike[str],
    rows: Sequence[tuple[Protein, Embedded]],
    meta: Mapping[str, str],
    format: str = "safetensors",
) -> Path:
    """Write ``rows`` (protein, its :class:`~protdata.encoding.Embedded`) as ``format`` (``safetensors`` or
    ``parquet``; module docstring); residue rows are written when the first row has them. Returns the path."""
    path = Path(path)
    if format == "parquet":
        import pyarrow.parquet as pq

        table = _parquet_table(rows, meta)
        with atomic_path(path) as tmp:
            pq.write_table(table, str(tmp))
        return path
    protein = torch.stack([e.protein for _, e in rows]).float()  # (N, D)
    residues = [e.residue.float() for _, e in rows] if rows[0][1].residue is not None else None
    with atomic_path(path) as tmp:
        _safetensors(tmp, rows, protein, residues, dict(meta))
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


def _parquet_table(rows: Sequence[tuple[Protein, Embedded]], meta: Mapping[str, str]) -> Any:
    """The Parquet layout of ``rows`` as a ``pyarrow.Table`` with ``meta`` (and the format) in its metadata."""
    import pyarrow as pa

    protein = torch.stack([e.protein for _, e in rows]).float()  # (N, D)
    dim = protein.shape[1]
    columns = {
        "id": pa.array([p.id for p, _ in rows], type=pa.string()),
        "source": pa.array([p.source or "" for p, _ in rows], type=pa.string()),
        "length": pa.array([len(p) for p, _ in rows], type=pa.int32()),
        "embedding": pa.FixedSizeListArray.from_arrays(pa.array(protein.numpy().reshape(-1)), dim),
    }
    if rows[0][1].residue is not None:
        residues = [e.residue.float() for _, e in rows]  # (n_i, D) each
        offsets = np.concatenate([[0], np.cumsum([len(x) for x in residues])]).astype(np.int32)
        flat = pa.FixedSizeListArray.from_arrays(pa.array(torch.cat(residues).numpy().reshape(-1)), dim)
        columns["residue_embedding"] = pa.ListArray.from_arrays(pa.array(offsets), flat)
    return pa.table(columns).replace_schema_metadata({**meta, "format": PARQUET_FORMAT})


def embedding_parts(directory: str | os.PathLike[str]) -> dict[Path, tuple[int, int]]:
    """The committed parts of an embedding directory: ``{path: (rank, k)}``, sorted by rank then ``k``."""
    found = [(path, _PART.fullmatch(path.name)) for path in Path(directory).glob("part-r*-*.parquet")]
    parts = {path: (int(m[1]), int(m[2])) for path, m in found if m}
    return dict(sorted(parts.items(), key=lambda item: item[1]))


@dataclass
class _Row:
    """What a part keeps of a protein: its id, source and length (not its coordinates)."""

    id: str
    source: str
    length: int

    def __len__(self) -> int:
        return self.length


class EmbeddingPartWriter:
    """Write one rank's embeddings as Parquet parts of a directory as they come (module docstring).

    Args:
        directory: The output directory (created).
        rank, world_size: This process's rank and the number of ranks (each writes its own parts).
        resume: Continue an earlier run into the same directory: :attr:`done` holds the ids of every committed
            part (any rank: a new world size still writes each protein once); its left-over temporary files are
            removed. Without it, parts of this rank (or of ranks ``>= world_size``) are an error.
        part_rows, part_bytes: A part is committed at this many proteins or bytes of embeddings.
        group_bytes: Rows are written to the open part (a temporary file) as a Parquet row group at this many
            bytes, so memory holds one row group, not one part.

    Raises:
        EmbeddingOutputError: parts of an earlier run without ``resume``; a part that cannot be read.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        rank: int = 0,
        world_size: int = 1,
        resume: bool = False,
        part_rows: int = 10_000,
        part_bytes: int = 256 << 20,
        group_bytes: int = 16 << 20,
    ) -> None:
        self.directory, self.rank, self.world_size = Path(directory), rank, world_size
        self.part_rows, self.part_bytes, self.group_bytes = part_rows, part_bytes, group_bytes
        if self.directory.exists() and not self.directory.is_dir():
            raise EmbeddingOutputError(self.directory, "is a file; an output directory was asked for (DIR/)")
        self.directory.mkdir(parents=True, exist_ok=True)
        parts = embedding_parts(self.directory)
        mine = [p for p, (r, _) in parts.items() if r == rank or r >= world_size]
        if mine and not resume:
            raise EmbeddingOutputError(
                mine[0], "a part of an earlier run: resume it (--resume) or write to a new directory"
            )
        for stale in [*self.directory.glob(f".part-r{rank}-*.tmp"), self._rank_file(rank)]:
            stale.unlink(missing_ok=True)  # a killed run's unfinished part; this rank's old summary
        (self.directory / MANIFEST).unlink(missing_ok=True)
        self.previous: dict[str, str] = {}
        self.done: set[str] = set()
        for path in parts if resume else ():
            self.done.update(self._read_ids(path))
        self._next = 1 + max((k for r, k in parts.values() if r == rank), default=-1)
        self.meta: dict[str, str] | None = None
        #: Proteins and residue rows added; the embedding width (0 before the first).
        self.rows = self.residue_rows = self.dim = 0
        self._group: list[tuple[_Row, Embedded]] = []  # rows not yet in the open part
        self._group_bytes = self._part_rows = self._part_bytes = 0  # ... and in it (with the group)
        self._open: tuple[Any, Path] | None = None  # (pyarrow ParquetWriter, temporary file) of the open part

    def _read_ids(self, path: Path) -> list[str]:
        import pyarrow.parquet as pq

        try:
            file = pq.ParquetFile(path)
            self.previous = self.previous or {
                k.decode(): v.decode() for k, v in (file.schema_arrow.metadata or {}).items()
            }
            return file.read(columns=["id"]).column("id").to_pylist()
        except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
            raise EmbeddingOutputError(path, f"cannot read this part to resume ({exc})") from None

    def _rank_file(self, rank: int) -> Path:
        return self.directory / f"_rank-r{rank}.json"

    def start(self, meta: Mapping[str, str]) -> None:
        """Set the parts' metadata; on resume it must match the parts written (same encoder, pooling, …)."""
        self.meta = {**meta, "format": PARQUET_FORMAT}
        for key in _RESUME_KEYS:
            if key in self.previous and self.previous[key] != self.meta.get(key):
                raise EmbeddingOutputError(
                    self.directory,
                    f"cannot resume: the parts were written with {key}={self.previous[key]!r}, this run has "
                    f"{key}={self.meta.get(key)!r}",
                )

    def add(self, protein: Protein, embedded: Embedded) -> None:
        """Buffer one protein's embedding; writes a row group / commits a part when one is full."""
        self._group.append((_Row(protein.id, protein.source or "", len(protein)), embedded))
        self.rows, self.dim = self.rows + 1, embedded.protein.shape[0]
        self.residue_rows += 0 if embedded.residue is None else len(embedded.residue)
        size = 4 * (embedded.protein.numel() + (0 if embedded.residue is None else embedded.residue.numel()))
        self._group_bytes += size
        self._part_bytes += size
        self._part_rows += 1
        if self._part_rows >= self.part_rows or self._part_bytes >= self.part_bytes:
            self.flush()
        elif self._group_bytes >= self.group_bytes:
            self._write_group()

    def _write_group(self) -> None:
        import pyarrow.parquet as pq

        if not self._group:
            return
        if self.meta is None:
            raise RuntimeError("EmbeddingPartWriter.start(meta) must be called before the first part")
        table = _parquet_table(self._group, self.meta)  # type: ignore[arg-type]
        if self._open is None:
            final = self._part_path()
            fd, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=self.directory)
            os.close(fd)
            self._open = (pq.ParquetWriter(name, table.schema), Path(name))
        self._open[0].write_table(table)
        self._group, self._group_bytes = [], 0

    def _part_path(self) -> Path:
        return self.directory / f"part-r{self.rank}-{self._next:05d}.parquet"

    def flush(self) -> Path | None:
        """Commit the open part (its last row group, then a rename: atomic); returns its path (None: empty)."""
        self._write_group()
        if self._open is None:
            return None
        writer, tmp = self._open
        writer.close()
        os.chmod(tmp, 0o666 & ~_umask())
        path = self._part_path()
        os.replace(tmp, path)
        self._open, self._part_rows, self._part_bytes, self._next = None, 0, 0, self._next + 1
        return path

    def finish(self, summary: Mapping[str, object] | None = None) -> Path | None:
        """Commit the last part and this rank's ``_rank-r{rank}.json`` (its parts, rows and ``summary``); when
        every rank's file is there, write :data:`MANIFEST` and return its path (else None)."""
        import pyarrow.parquet as pq

        self.flush()
        parts = {p.name: pq.ParquetFile(p).metadata.num_rows for p in embedding_parts(self.directory)}
        mine = {name: n for name, n in parts.items() if name.startswith(f"part-r{self.rank}-")}
        record = {"rank": self.rank, "world_size": self.world_size, "parts": mine, "rows": sum(mine.values())}
        write_json_atomic(self._rank_file(self.rank), {**record, **(summary or {})})
        ranks = [self._rank_file(r) for r in range(self.world_size)]
        if not all(r.exists() and json.loads(r.read_text())["world_size"] == self.world_size for r in ranks):
            return None
        parts = {p.name: pq.ParquetFile(p).metadata.num_rows for p in embedding_parts(self.directory)}
        manifest = {
            "format": PARQUET_FORMAT,
            "world_size": self.world_size,
            "rows": sum(parts.values()),
            "parts": parts,
            "meta": self.meta or {},
        }
        write_json_atomic(self.directory / MANIFEST, manifest)
        return self.directory / MANIFEST


class EmbeddingFileWriter:
    """The one-file outputs with :class:`EmbeddingPartWriter`'s interface: every row is held in memory until
    :meth:`finish` writes the file (rows in input order: ``Embedded.index``)."""

    def __init__(self, path: str | os.PathLike[str], format: str = "safetensors") -> None:
        self.path, self.format = Path(path), format
        self.done: set[str] = set()
        self.meta: dict[str, str] = {}
        self.rows = self.residue_rows = self.dim = 0
        self._rows: list[tuple[Protein, Embedded]] = []

    def start(self, meta: Mapping[str, str]) -> None:
        self.meta = dict(meta)

    def add(self, protein: Protein, embedded: Embedded) -> None:
        self._rows.append((protein, embedded))
        self.rows, self.dim = self.rows + 1, embedded.protein.shape[0]
        self.residue_rows += 0 if embedded.residue is None else len(embedded.residue)

    def finish(self, summary: Mapping[str, object] | None = None) -> Path:
        """Write the file (atomically); ``summary`` is not stored."""
        self._rows.sort(key=lambda row: row[1].index)
        return write_embeddings(self.path, self._rows, self.meta, self.format)
