"""The preprocessed structure cache: every protein of a dataset packed into flat NumPy arrays.

:class:`PackedProteins` holds one row per residue; it is built once from the structure files
(``protdata.io.load_many``: bad files are skipped and reported) and stored on disk as safetensors + JSON under a
key that hashes the files' paths, sizes and modification times and the loading options. DataLoader workers slice
proteins out of these arrays, so no worker ever parses a structure file (TorchDrug's per-epoch re-parsing is the
complaint of torchdrug #144 / #182). Nothing is pickled: the cache is safe to read.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file

from engine.errors import DataError
from engine.files import temp_dir
from protdata import Protein
from protdata.io import LoadReport, load_many
from protdata.io.collection import expand_sources

#: Bump when the cache layout changes (old entries are then ignored).
CACHE_FORMAT = 1


@dataclass
class PackedProteins:
    """Proteins packed into flat arrays: ``offsets[i]:offsets[i + 1]`` are the residues of protein ``i``."""

    offsets: np.ndarray  # (P + 1,) int64
    sequence: np.ndarray  # (N,) uint8, ASCII letters
    coords: np.ndarray  # (N, 5, 3) float32, NaN where missing
    atom_mask: np.ndarray  # (N, 5) bool
    residue_number: np.ndarray  # (N,) int32
    insertion_code: np.ndarray  # (N,) uint8, ASCII
    chain_index: np.ndarray  # (N,) int16
    plddt: np.ndarray  # (N,) float32, NaN where unknown
    has_plddt: np.ndarray  # (P,) bool
    structure_tokens: np.ndarray  # (N,) uint8, 0 where the protein has no 3Di string
    has_tokens: np.ndarray  # (P,) bool
    ids: list[str] = field(default_factory=list)
    chain_ids: list[list[str]] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)  # (P,)

    @property
    def num_residues(self) -> int:
        return int(self.offsets[-1])

    @classmethod
    def from_proteins(cls, proteins: Sequence[Protein]) -> PackedProteins:
        """Pack structure-bearing proteins (a sequence-only protein is a :class:`DataError`)."""
        for p in proteins:
            if not p.has_structure:
                raise DataError(f"{p.source or p.id}: protein {p.id!r} has no coordinates")
        lengths = np.array([len(p) for p in proteins], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)

        def cat(get, dtype, shape=()) -> np.ndarray:
            parts = [np.asarray(get(p), dtype=dtype).reshape(len(p), *shape) for p in proteins]
            return np.concatenate(parts) if parts else np.zeros((0, *shape), dtype=dtype)

        def ascii(text: str) -> np.ndarray:
            return np.frombuffer(text.encode("ascii"), dtype=np.uint8)

        return cls(
            offsets=offsets,
            sequence=cat(lambda p: ascii(p.sequence), np.uint8),
            coords=cat(lambda p: p.coords, np.float32, (5, 3)),
            atom_mask=cat(lambda p: p.atom_mask, bool, (5,)),
            residue_number=cat(
                lambda p: p.residue_number if p.residue_number is not None else np.arange(len(p)), np.int32
            ),
            insertion_code=cat(
                lambda p: (
                    ascii("".join(p.insertion_code)) if p.insertion_code is not None else ascii(" " * len(p))
                ),
                np.uint8,
            ),
            chain_index=cat(lambda p: p.chain_index, np.int16),
            plddt=cat(lambda p: p.plddt if p.plddt is not None else np.full(len(p), np.nan), np.float32),
            has_plddt=np.array([p.plddt is not None for p in proteins], dtype=bool),
            structure_tokens=cat(
                lambda p: ascii(p.structure_tokens) if p.structure_tokens else np.zeros(len(p)), np.uint8
            ),
            has_tokens=np.array([bool(p.structure_tokens) for p in proteins], dtype=bool),
            ids=[p.id for p in proteins],
            chain_ids=[list(p.chain_ids) for p in proteins],
            sources=[p.source or "" for p in proteins],
        )

    def protein(self, i: int) -> Protein:
        """Protein ``i`` rebuilt from the arrays (views, no copies of coordinates)."""
        lo, hi = int(self.offsets[i]), int(self.offsets[i + 1])
        tokens = self.structure_tokens[lo:hi].tobytes().decode("ascii") if self.has_tokens[i] else None
        return Protein(
            id=self.ids[i],
            sequence=self.sequence[lo:hi].tobytes().decode("ascii"),
            coords=self.coords[lo:hi],
            atom_mask=self.atom_mask[lo:hi],
            residue_number=self.residue_number[lo:hi],
            insertion_code=np.array(list(self.insertion_code[lo:hi].tobytes().decode("ascii")), dtype="<U1"),
            chain_index=self.chain_index[lo:hi],
            chain_ids=tuple(self.chain_ids[i]),
            plddt=self.plddt[lo:hi] if self.has_plddt[i] else None,
            structure_tokens=tokens,
            source=self.sources[i] or None,
        )

    # ---------------------------------------------------------------- disk
    _ARRAYS = (
        "offsets",
        "sequence",
        "coords",
        "atom_mask",
        "residue_number",
        "insertion_code",
        "chain_index",
        "plddt",
        "has_plddt",
        "structure_tokens",
        "has_tokens",
    )

    def save(self, directory: Path, report: dict[str, Any]) -> None:
        """Write ``arrays.safetensors`` + ``index.json`` into ``directory`` atomically (temp dir, then rename)."""
        tmp = temp_dir(directory.parent, prefix=f".{directory.name}.")
        try:
            arrays = {name: np.ascontiguousarray(getattr(self, name)) for name in self._ARRAYS}
            arrays["atom_mask"] = arrays["atom_mask"].astype(np.uint8)
            arrays["has_plddt"] = arrays["has_plddt"].astype(np.uint8)
            arrays["has_tokens"] = arrays["has_tokens"].astype(np.uint8)
            save_file(arrays, str(tmp / "arrays.safetensors"))
            index = {
                "format": CACHE_FORMAT,
                "ids": self.ids,
                "chain_ids": self.chain_ids,
                "sources": self.sources,
                "report": report,
            }
            (tmp / "index.json").write_text(json.dumps(index))
            try:
                os.replace(tmp, directory)
            except OSError:  # another process finished the same entry first
                if not (directory / "index.json").is_file():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    @classmethod
    def load(cls, directory: Path) -> tuple[PackedProteins, dict[str, Any]]:
        """The packed proteins and the load report stored in a cache entry."""
        index = json.loads((directory / "index.json").read_text())
        arrays = load_file(str(directory / "arrays.safetensors"))
        for name in ("atom_mask", "has_plddt", "has_tokens"):
            arrays[name] = arrays[name].astype(bool)
        packed = cls(
            **{name: arrays[name] for name in cls._ARRAYS},
            ids=index["ids"],
            chain_ids=index["chain_ids"],
            sources=index["sources"],
        )
        return packed, index["report"]


def _load_chunk(files: list[str]) -> tuple[list[Protein], LoadReport]:
    result = load_many(files)
    return result.proteins, result.report


def list_structure_files(sources: Sequence[str | os.PathLike[str]]) -> tuple[list[Path], LoadReport]:
    """The structure files named by ``sources`` (files, directories, globs) in order.

    Raises:
        DataError: a source does not exist, or no structure file was found (names the sources).
    """
    report = LoadReport()
    files = expand_sources([str(s) for s in sources], report)
    missing = [s for s in report.skipped if s.error == "FileNotFoundError"]
    if missing:
        raise DataError(f"data.sources: {missing[0].source}: no such file or directory")
    if not files:
        shown = ", ".join(str(s) for s in sources)
        extra = f" ({len(report.ignored)} non-structure files ignored)" if report.ignored else ""
        raise DataError(f"data.sources: no structure files in {shown}{extra}")
    return files, report


def cache_key(files: Sequence[Path], options: dict[str, Any]) -> str:
    """A hash of the files (absolute path, size, mtime) and the loading options."""
    h = hashlib.sha256()
    h.update(json.dumps({"format": CACHE_FORMAT, **options}, sort_keys=True).encode())
    for f in files:
        st = f.stat()
        h.update(f"{f.resolve()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:24]


def build_structure_cache(
    sources: Sequence[str | os.PathLike[str]],
    cache_dir: Path | None,
    *,
    min_length: int = 1,
    parse_workers: int = 1,
    encode_3di: bool = False,
) -> tuple[PackedProteins, dict[str, Any], bool]:
    """Load (or reuse) the preprocessed cache of ``sources``: ``(packed, report, was_cached)``.

    ``report`` holds ``summary`` (protdata's one-line load summary), ``skipped`` (``[source, error, reason]``
    per bad file or, with ``encode_3di``, per protein Foldseek's encoder cannot take) and ``too_short`` (ids left
    out by ``min_length``). ``encode_3di`` stores each protein's Foldseek 3Di string (SaProt's structure tokens,
    :func:`protdata.foldseek.encode_3di`) in the cache.

    Raises:
        DataError: no structure file, or no usable protein in any of them (names the first failure).
    """
    files, listing = list_structure_files(sources)
    options = {"min_length": min_length, "protdata": _protdata_version()}
    if encode_3di:
        options["encode_3di"] = True  # (absent otherwise: earlier cache entries keep their keys)
    entry = cache_dir / cache_key(files, options) if cache_dir is not None else None
    if entry is not None and (entry / "index.json").is_file():
        try:
            packed, report = PackedProteins.load(entry)
            return packed, report, True
        except (OSError, ValueError, KeyError):
            shutil.rmtree(entry, ignore_errors=True)  # unreadable entry: rebuild it
    paths = [str(f) for f in files]
    if parse_workers > 1 and len(paths) >= 4 * parse_workers:
        chunks = [paths[i::parse_workers] for i in range(parse_workers)]
        with ProcessPoolExecutor(parse_workers) as pool:
            parts = list(pool.map(_load_chunk, chunks))
        order = {p: i for i, p in enumerate(paths)}
        proteins = sorted(
            (p for ps, _ in parts for p in ps), key=lambda p: (order.get(p.source or "", 0), p.id)
        )
        report = LoadReport()
        for _, r in parts:
            report.n_sources += r.n_sources
            report.n_loaded += r.n_loaded
            report.n_proteins += r.n_proteins
            report.skipped.extend(r.skipped)
    else:
        proteins, report = _load_chunk(paths)
    report.ignored.extend(listing.ignored)
    structured = [p for p in proteins if p.has_structure]
    if encode_3di:
        structured = _with_3di(structured, report)
    kept = [p for p in structured if len(p) >= min_length]
    too_short = [p.id for p in structured if len(p) < min_length]
    if not kept:
        first = report.skipped[0] if report.skipped else None
        why = f"; first failure: {first.source}: {first.error}: {first.reason}" if first else ""
        short = f"; {len(too_short)} shorter than data.min_length={min_length}" if too_short else ""
        raise DataError(
            f"data.sources: no usable protein in {len(files)} structure files ({report.summary()}{short}){why}"
        )
    summary = {
        "summary": report.summary(),
        "skipped": [[s.source, s.error, s.reason] for s in report.skipped],
        "too_short": too_short,
        "files": len(files),
    }
    packed = PackedProteins.from_proteins(kept)
    if entry is not None:
        packed.save(entry, summary)
    return packed, summary, False


def _with_3di(proteins: list[Protein], report: LoadReport) -> list[Protein]:
    """``proteins`` with their 3Di strings; a protein the encoder rejects (e.g. a Cα-only chain) is skipped and
    reported."""
    return with_3di_or_skip(proteins, lambda p, exc: report.add_skipped(p.source or p.id, exc, counted=False))


def with_3di_or_skip(proteins: list[Protein], skip: Callable[[Protein, Exception], None]) -> list[Protein]:
    """``proteins`` with their Foldseek 3Di strings (SaProt), in order. All proteins are encoded in one batched
    call unless one of them fails; then each is encoded alone, and one the encoder rejects (e.g. a Cα-only chain)
    is handed to ``skip(protein, error)`` and left out."""
    from protdata.errors import ProtdataError
    from protdata.foldseek import with_3di

    try:
        return with_3di(proteins)
    except ProtdataError:
        pass
    out = []
    for p in proteins:
        try:
            out.extend(with_3di([p]))
        except ProtdataError as exc:
            skip(p, exc)
    return out


def _protdata_version() -> str:
    import protdata

    return getattr(protdata, "__version__", "0")
