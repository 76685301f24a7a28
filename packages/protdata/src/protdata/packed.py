"""Proteins packed into flat NumPy arrays, one row per residue, stored as safetensors + JSON.

:class:`PackedProteins` is the in-memory and on-disk form of a structure dataset: ``packed[i]`` rebuilds protein
``i`` as a :class:`~protdata.Protein` from views into the arrays, so DataLoader workers slice proteins instead of
parsing structure files. On disk a packed set is a directory with ``arrays.safetensors`` (the arrays) and
``index.json`` (ids, chain ids, sources, free-form metadata). Nothing is pickled: a packed set is safe to read.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from protdata.errors import DatasetError
from protdata.protein import Protein

#: Version of the on-disk layout (``index.json`` ``"format"``); :meth:`PackedProteins.load` refuses others.
PACKED_FORMAT = 2

ARRAYS_FILE = "arrays.safetensors"
INDEX_FILE = "index.json"

# array name -> (dtype in memory, per-residue trailing shape or None for per-protein arrays)
_ARRAYS: dict[str, tuple[Any, tuple[int, ...] | None]] = {
    "sequence": (np.uint8, ()),
    "coords": (np.float32, (5, 3)),
    "atom_mask": (np.bool_, (5,)),
    "residue_number": (np.int32, ()),
    "insertion_code": (np.uint8, ()),
    "chain_index": (np.int16, ()),
    "plddt": (np.float32, ()),
    "structure_tokens": (np.uint8, ()),
    "has_plddt": (np.bool_, None),
    "has_tokens": (np.bool_, None),
}


def _ascii(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("ascii"), dtype=np.uint8)


@dataclass
class PackedProteins:
    """Proteins packed into flat arrays: rows ``offsets[i]:offsets[i + 1]`` are the residues of protein ``i``.

    Attributes:
        offsets: ``(P + 1,)`` int64, ``offsets[0] == 0``, non-decreasing.
        sequence: ``(N,)`` uint8 ASCII residue letters.
        coords: ``(N, 5, 3)`` float32 backbone + Cβ coordinates, NaN where missing.
        atom_mask: ``(N, 5)`` bool.
        residue_number: ``(N,)`` int32 author residue numbers.
        insertion_code: ``(N,)`` uint8 ASCII insertion codes (space when none).
        chain_index: ``(N,)`` int16 index into the protein's ``chain_ids``.
        plddt: ``(N,)`` float32, NaN where the protein has no pLDDT.
        has_plddt: ``(P,)`` bool.
        structure_tokens: ``(N,)`` uint8 ASCII Foldseek 3Di letters, 0 where the protein has none.
        has_tokens: ``(P,)`` bool.
        ids: ``P`` protein ids.
        chain_ids: ``P`` lists of chain ids.
        sources: ``P`` source files (``""`` when unknown).
        metadata: JSON-serialisable information stored with the set (e.g. the load report).
    """

    offsets: np.ndarray
    sequence: np.ndarray
    coords: np.ndarray
    atom_mask: np.ndarray
    residue_number: np.ndarray
    insertion_code: np.ndarray
    chain_index: np.ndarray
    plddt: np.ndarray
    has_plddt: np.ndarray
    structure_tokens: np.ndarray
    has_tokens: np.ndarray
    ids: list[str] = field(default_factory=list)
    chain_ids: list[list[str]] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> Protein:
        """Protein ``i`` rebuilt from the arrays (views, no copies of coordinates); negative ``i`` counts back."""
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"protein index {i} out of range for {n} packed proteins")
        i = int(i) % n
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

    def protein(self, i: int) -> Protein:
        """Same as ``packed[i]``."""
        return self[i]

    @property
    def lengths(self) -> np.ndarray:
        """``(P,)`` residues per protein."""
        return np.diff(self.offsets)

    @property
    def num_residues(self) -> int:
        return int(self.offsets[-1])

    @classmethod
    def from_proteins(
        cls, proteins: Sequence[Protein], metadata: dict[str, Any] | None = None
    ) -> PackedProteins:
        """Pack structure-bearing proteins.

        Raises:
            DatasetError: a protein has no coordinates (names its source and id).
        """
        for p in proteins:
            if not p.has_structure:
                raise DatasetError(p.source or p.id, f"protein {p.id!r} has no coordinates")
        lengths = np.array([len(p) for p in proteins], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)

        def cat(get: Any, dtype: Any, shape: tuple[int, ...] = ()) -> np.ndarray:
            parts = [np.asarray(get(p), dtype=dtype).reshape(len(p), *shape) for p in proteins]
            return np.concatenate(parts) if parts else np.zeros((0, *shape), dtype=dtype)

        return cls(
            offsets=offsets,
            sequence=cat(lambda p: _ascii(p.sequence), np.uint8),
            coords=cat(lambda p: p.coords, np.float32, (5, 3)),
            atom_mask=cat(lambda p: p.atom_mask, bool, (5,)),
            residue_number=cat(
                lambda p: p.residue_number if p.residue_number is not None else np.arange(len(p)), np.int32
            ),
            insertion_code=cat(
                lambda p: _ascii("".join(p.insertion_code) if p.insertion_code is not None else " " * len(p)),
                np.uint8,
            ),
            chain_index=cat(lambda p: p.chain_index, np.int16),
            plddt=cat(lambda p: p.plddt if p.plddt is not None else np.full(len(p), np.nan), np.float32),
            has_plddt=np.array([p.plddt is not None for p in proteins], dtype=bool),
            structure_tokens=cat(
                lambda p: _ascii(p.structure_tokens) if p.structure_tokens else np.zeros(len(p)), np.uint8
            ),
            has_tokens=np.array([bool(p.structure_tokens) for p in proteins], dtype=bool),
            ids=[p.id for p in proteins],
            chain_ids=[list(p.chain_ids) for p in proteins],
            sources=[p.source or "" for p in proteins],
            metadata=dict(metadata or {}),
        )

    # ---------------------------------------------------------------- disk
    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write ``arrays.safetensors`` + ``index.json`` into ``directory`` atomically (a temporary sibling
        directory renamed into place). If another process completed the same directory first, that one is kept."""
        from safetensors.numpy import save_file

        directory = Path(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
        try:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o777 & ~umask)
            arrays = {"offsets": np.ascontiguousarray(self.offsets, dtype=np.int64)}
            for name, (dtype, _) in _ARRAYS.items():
                store = np.uint8 if dtype is np.bool_ else dtype
                arrays[name] = np.ascontiguousarray(getattr(self, name), dtype=store)
            save_file(arrays, str(tmp / ARRAYS_FILE))
            index = {
                "format": PACKED_FORMAT,
                "ids": self.ids,
                "chain_ids": self.chain_ids,
                "sources": self.sources,
                "metadata": self.metadata,
            }
            (tmp / INDEX_FILE).write_text(json.dumps(index))
            try:
                os.replace(tmp, directory)
            except OSError:  # another process finished the same directory first
                if not (directory / INDEX_FILE).is_file():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return directory

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> PackedProteins:
        """The packed proteins saved in ``directory`` by :meth:`save`.

        Raises:
            DatasetError: a file is missing or unreadable, the format is another version, or the arrays do not
                fit together (names the file and what is wrong).
        """
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        directory = Path(directory)
        index_path, arrays_path = directory / INDEX_FILE, directory / ARRAYS_FILE
        try:
            index = json.loads(index_path.read_text())
        except (OSError, ValueError) as exc:
            raise DatasetError(
                index_path, f"cannot read the packed-proteins index ({type(exc).__name__})"
            ) from None
        if not isinstance(index, dict) or index.get("format") != PACKED_FORMAT:
            found = index.get("format") if isinstance(index, dict) else None
            raise DatasetError(index_path, f"format {found!r} is not packed-proteins format {PACKED_FORMAT}")
        try:
            arrays = load_file(str(arrays_path))
        except (OSError, SafetensorError) as exc:
            raise DatasetError(arrays_path, f"cannot read the arrays ({type(exc).__name__})") from None
        for key in ("ids", "chain_ids", "sources", "metadata"):
            if key not in index:
                raise DatasetError(index_path, f"key {key!r} is missing")
        missing = [name for name in ("offsets", *_ARRAYS) if name not in arrays]
        if missing:
            raise DatasetError(arrays_path, f"array {missing[0]!r} is missing")
        fields = {"offsets": arrays["offsets"].astype(np.int64)}
        for name, (dtype, _) in _ARRAYS.items():
            fields[name] = arrays[name].astype(dtype, copy=False)
        packed = cls(**fields, ids=index["ids"], chain_ids=index["chain_ids"], sources=index["sources"])
        packed.metadata = index["metadata"]
        packed._check(arrays_path)
        return packed

    def _check(self, where: Path) -> None:
        """Raise :class:`DatasetError` naming ``where`` unless the arrays and lists fit together."""
        n_proteins, offsets = len(self.ids), self.offsets
        if (
            offsets.ndim != 1
            or offsets.size != n_proteins + 1
            or offsets[0] != 0
            or np.any(np.diff(offsets) < 0)
        ):
            raise DatasetError(where, f"'offsets' is not 0, …, N for {n_proteins} proteins")
        n = int(offsets[-1])
        if len(self.chain_ids) != n_proteins or len(self.sources) != n_proteins:
            raise DatasetError(where, f"'chain_ids' / 'sources' do not list {n_proteins} proteins")
        for name, (_, shape) in _ARRAYS.items():
            want = (n_proteins,) if shape is None else (n, *shape)
            got = getattr(self, name).shape
            if got != want:
                raise DatasetError(where, f"array {name!r} has shape {got}, expected {want}")
