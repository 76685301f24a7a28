"""``open_dataset(DIR)``: a sharded dataset on disk as a lazy, memory-mapped ``Sequence[Protein]``.

Opening reads ``manifest.json`` and checks every shard's size (``verify="full"`` also checks each shard's SHA-256;
:meth:`ShardedDataset.verify` does it later); a shard is mapped the first time one of its proteins is touched, and
``ds[i]`` decodes protein ``i`` from zero-copy views into the map. Only the pages of touched proteins are read, and
they are page cache, shared between the processes of a node, not anonymous memory: a process's memory does not
grow with the dataset. Pickling carries the directory only (DataLoader workers reopen the maps lazily).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, overload

import numpy as np

from protdata.dataset.manifest import ShardError, read_manifest
from protdata.dataset.shard import Shard, file_digest
from protdata.protein import Protein

Verify = Literal["size", "full", "none"]


class ShardedDataset(Sequence[Protein]):
    """The proteins of a sharded dataset in manifest order (see the module docstring).

    Attributes:
        path: The dataset directory.
        manifest: The parsed ``manifest.json``.
    """

    def __init__(self, path: str | os.PathLike[str], *, verify: Verify = "size") -> None:
        if verify not in ("size", "full", "none"):
            raise ValueError(f"verify must be 'size', 'full' or 'none', got {verify!r}")
        self.path = Path(path)
        self._verify_mode: Verify = verify
        self.manifest: dict[str, Any] = read_manifest(self.path)
        if verify != "none":
            self.verify(digests=verify == "full")
        runs = np.asarray(self.manifest["order"], dtype=np.int64).reshape(-1, 3)  # (R, 3): shard, lo, hi
        self._runs = runs
        self._starts = np.concatenate([[0], np.cumsum(runs[:, 2] - runs[:, 1])]).astype(np.int64)  # (R + 1,)
        self._shards: dict[int, Shard] = {}
        self._lengths: np.ndarray | None = None

    # ------------------------------------------------------------------ checks
    def verify(self, *, digests: bool = True) -> None:
        """Check that every shard exists with the manifest's size (and, with ``digests``, SHA-256).

        Raises:
            ShardError: names the first shard that is missing or differs.
        """
        for entry in self.manifest["shards"]:
            shard = self.path / entry["name"]
            try:
                size = shard.stat().st_size
            except OSError:
                raise ShardError(shard, "shard listed in the manifest is missing") from None
            if size != entry["bytes"]:
                raise ShardError(
                    shard, f"shard has {size} bytes, the manifest says {entry['bytes']} (truncated?)"
                )
            if digests and file_digest(shard) != entry["digest"]:
                raise ShardError(
                    shard, f"shard content does not match its digest {entry['digest']} (corrupted)"
                )

    # ------------------------------------------------------------------ sequence
    def __len__(self) -> int:
        return int(self._starts[-1])

    @overload
    def __getitem__(self, i: int) -> Protein: ...
    @overload
    def __getitem__(self, i: slice) -> list[Protein]: ...
    def __getitem__(self, i: int | slice) -> Protein | list[Protein]:
        """Protein ``i`` (negative counts back); a slice gives a list."""
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        shard, row = self._locate(i)
        return self._shard(shard).protein(row)

    def __iter__(self) -> Iterator[Protein]:
        for i in range(len(self)):
            yield self[i]

    def _locate(self, i: int) -> tuple[int, int]:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"protein index {i} out of range for a dataset of {n} proteins")
        i = int(i) % n
        r = int(np.searchsorted(self._starts, i, side="right")) - 1
        return int(self._runs[r, 0]), int(self._runs[r, 1] + i - self._starts[r])

    def _shard(self, s: int) -> Shard:
        shard = self._shards.get(s)
        if shard is None:
            shard = Shard(self.path / self.manifest["shards"][s]["name"])
            if len(shard) != self.manifest["shards"][s]["proteins"]:
                raise ShardError(
                    shard.path,
                    f"shard holds {len(shard)} proteins, the manifest says "
                    f"{self.manifest['shards'][s]['proteins']}",
                )
            self._shards[s] = shard
        return shard

    # ------------------------------------------------------------------ columns
    @property
    def lengths(self) -> np.ndarray:
        """``(P,)`` int64 residues per protein, read from the shards' offsets (no protein is decoded)."""
        if self._lengths is None:
            parts = [self._shard(int(s)).lengths[lo:hi] for s, lo, hi in self._runs]
            self._lengths = np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)
        return self._lengths

    @property
    def ids(self) -> Sequence[str]:
        """Protein ids in dataset order (decoded on access)."""
        return _Column(self, "ids")

    @property
    def sources(self) -> Sequence[str]:
        """Source of each protein (``file``, ``archive::member`` or ``database::entry``), decoded on access."""
        return _Column(self, "sources")

    def digest(self, i: int) -> str:
        """SHA-256 (hex) of protein ``i``'s content (see :func:`protdata.dataset.shard.protein_digests`)."""
        shard, row = self._locate(i)
        return bytes(self._shard(shard).arrays["digest"][row]).hex()

    @property
    def fingerprint(self) -> str:
        """The content fingerprint of the whole dataset (manifest ``fingerprint``)."""
        return str(self.manifest["fingerprint"])

    @property
    def num_residues(self) -> int:
        return int(self.manifest["residues"])

    def __repr__(self) -> str:
        return (
            f"ShardedDataset({str(self.path)!r}: {len(self)} proteins, {len(self.manifest['shards'])} shards)"
        )

    # ------------------------------------------------------------------ pickling
    def __getstate__(self) -> dict[str, Any]:
        return {"path": str(self.path), "verify": self._verify_mode}

    def __setstate__(self, state: dict[str, Any]) -> None:
        # the shards were checked when the dataset was opened: only the manifest is re-read here
        self.__init__(state["path"], verify="none")  # type: ignore[misc]
        self._verify_mode = state["verify"]

    def close(self) -> None:
        """Unmap every shard (they reopen on the next access)."""
        for shard in self._shards.values():
            shard.close()
        self._shards.clear()
        self._lengths = None


class _Column(Sequence[str]):
    """A string column of a :class:`ShardedDataset`, decoded entry by entry."""

    def __init__(self, ds: ShardedDataset, column: str) -> None:
        self._ds, self._column = ds, column

    def __len__(self) -> int:
        return len(self._ds)

    def __getitem__(self, i: int) -> str:  # type: ignore[override]
        shard, row = self._ds._locate(i)
        return self._ds._shard(shard).string(self._column, row)

    def __iter__(self) -> Iterator[str]:
        ds = self._ds
        for s, lo, hi in ds._runs:
            shard = ds._shard(int(s))
            for row in range(int(lo), int(hi)):
                yield shard.string(self._column, row)


def open_dataset(path: str | os.PathLike[str], *, verify: Verify = "size") -> ShardedDataset:
    """Open the sharded dataset in directory ``path`` (built by :func:`protdata.dataset.preprocess` /
    ``apps/preprocess.py``) as a lazy ``Sequence[Protein]``.

    Args:
        verify: ``"size"`` (default: every shard exists with the manifest's size), ``"full"`` (also each shard's
            SHA-256: reads every byte once) or ``"none"``.

    Raises:
        ManifestError: no such directory or manifest, or a manifest of another format version.
        ShardError: a shard is missing, truncated, or (``verify="full"``) corrupted; names the shard.
    """
    return ShardedDataset(path, verify=verify)
