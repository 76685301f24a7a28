"""One shard of a sharded dataset: a safetensors file whose arrays are read through one memory map.

A shard holds the arrays of :class:`~protdata.packed.PackedProteins` for a run of proteins, plus the strings
(ids, chain ids, sources) as byte arrays with offsets, and a SHA-256 content digest per protein. It is a valid
safetensors file (huggingface/safetensors format: an 8-byte little-endian header length, a JSON header with each
tensor's dtype, shape and ``data_offsets``, then the data), written with ``safetensors.numpy.save_file``; it is read
by mapping the file once (``mmap``) and taking zero-copy ``np.frombuffer`` views at the header's offsets, so opening
a shard reads only its header and touching a protein pages in only that protein's rows. Nothing is pickled.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import mmap
import os
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from protdata.errors import DatasetError
from protdata.packed import PackedProteins
from protdata.protein import Protein

#: safetensors dtype names -> NumPy dtypes (the ones shards use)
_DTYPES: dict[str, Any] = {
    "U8": np.uint8,
    "BOOL": np.bool_,
    "I16": np.int16,
    "I32": np.int32,
    "I64": np.int64,
    "F32": np.float32,
}
#: per-residue arrays (name -> trailing shape) and per-protein flags of PackedProteins
RESIDUE_ARRAYS: dict[str, tuple[int, ...]] = {
    "sequence": (),
    "coords": (5, 3),
    "atom_mask": (5,),
    "residue_number": (),
    "insertion_code": (),
    "chain_index": (),
    "plddt": (),
    "structure_tokens": (),
}
PROTEIN_FLAGS = ("has_plddt", "has_tokens")
STRING_COLUMNS = ("ids", "chain_ids", "sources")
DIGEST_SIZE = 32
_CHAIN_SEP = "\x1f"  # unit separator between a protein's chain ids


def protein_digests(packed: PackedProteins) -> np.ndarray:
    """``(P, 32)`` uint8 SHA-256 of each protein's content: id, chain ids and every per-residue array (the source
    path is left out, so moving the input files does not change the digest)."""
    out = np.zeros((len(packed), DIGEST_SIZE), dtype=np.uint8)
    for i in range(len(packed)):
        lo, hi = int(packed.offsets[i]), int(packed.offsets[i + 1])
        h = hashlib.sha256()
        h.update(packed.ids[i].encode() + b"\0" + _CHAIN_SEP.join(packed.chain_ids[i]).encode() + b"\0")
        h.update(bytes([bool(packed.has_plddt[i]), bool(packed.has_tokens[i])]))
        for name in RESIDUE_ARRAYS:
            h.update(np.ascontiguousarray(getattr(packed, name)[lo:hi]).tobytes())
        out[i] = np.frombuffer(h.digest(), dtype=np.uint8)
    return out


def _strings(values: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """``values`` as one UTF-8 byte array + ``(len + 1,)`` int64 offsets."""
    encoded = [v.encode("utf-8") for v in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    return np.frombuffer(b"".join(encoded), dtype=np.uint8).copy(), offsets


def shard_arrays(packed: PackedProteins, digests: np.ndarray) -> dict[str, np.ndarray]:
    """The arrays a shard stores for ``packed`` (booleans viewed as uint8, strings as bytes + offsets)."""
    arrays = {"offsets": np.ascontiguousarray(packed.offsets, dtype=np.int64)}
    for name in (*RESIDUE_ARRAYS, *PROTEIN_FLAGS):
        value = np.ascontiguousarray(getattr(packed, name))
        arrays[name] = value.view(np.uint8) if value.dtype == np.bool_ else value
    arrays["digest"] = np.ascontiguousarray(digests, dtype=np.uint8)
    columns = {
        "ids": packed.ids,
        "chain_ids": [_CHAIN_SEP.join(c) for c in packed.chain_ids],
        "sources": packed.sources,
    }
    for name, values in columns.items():
        arrays[f"{name}_bytes"], arrays[f"{name}_offsets"] = _strings(values)
    return arrays


def _joined_offsets(parts: list[np.ndarray]) -> np.ndarray:
    """Offsets ``0, …`` of the concatenation of the parts whose offsets are ``parts``."""
    lengths = np.concatenate([np.diff(p) for p in parts]) if parts else np.zeros(0, dtype=np.int64)
    return np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)


def write_shard(path: Path, parts: Sequence[PackedProteins], digests: Sequence[np.ndarray]) -> dict[str, Any]:
    """Write the proteins of ``parts`` (in order) as one shard at ``path``; the manifest entry ``{name, proteins,
    residues, bytes, digest}`` (``digest``: SHA-256 of the file).

    The safetensors layout (header, then the arrays back to back, largest items first so every array is aligned)
    is written part by part, so the parts are never concatenated in memory; the file goes to a temporary sibling
    renamed into place (atomic).
    """
    per_part = [shard_arrays(p, d) for p, d in zip(parts, digests, strict=True)]
    names = list(per_part[0])
    joined = {n: _joined_offsets([a[n] for a in per_part]) for n in names if n.endswith("offsets")}
    layout: dict[str, Any] = {}
    end = 0
    for name in sorted(names, key=lambda n: (-per_part[0][n].dtype.itemsize, n)):
        first = per_part[0][name]
        rows = len(joined[name]) if name in joined else sum(len(a[name]) for a in per_part)
        shape = [rows, *first.shape[1:]]
        size = int(np.prod(shape, dtype=np.int64)) * first.dtype.itemsize
        dtype = {np.dtype(v): k for k, v in _DTYPES.items() if k != "BOOL"}[first.dtype]
        layout[name] = {"dtype": dtype, "shape": shape, "data_offsets": [end, end + size]}
        end += size
    header = json.dumps(
        {"__metadata__": {"format": "protdata-shard"}, **layout}, separators=(",", ":")
    ).encode()
    header += b" " * (-len(header) % 8)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header)
        for name in layout:
            for array in [joined[name]] if name in joined else [a[name] for a in per_part]:
                f.write(np.ascontiguousarray(array).data)
    os.replace(tmp, path)
    return {
        "name": path.name,
        "proteins": sum(len(p) for p in parts),
        "residues": sum(p.num_residues for p in parts),
        "bytes": path.stat().st_size,
        "digest": file_digest(path),
    }


def file_digest(path: Path) -> str:
    """``sha256:<hex>`` of a file's bytes."""
    with open(path, "rb") as f:
        return "sha256:" + hashlib.file_digest(f, "sha256").hexdigest()


class Shard:
    """A shard file mapped read-only; arrays are zero-copy views into the map (see the module docstring).

    Raises:
        DatasetError: the file is missing, not a safetensors file, or lacks an array (names the shard).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                (n,) = struct.unpack("<Q", f.read(8))
                if n > size - 8:
                    raise ValueError("header longer than the file")
                header = json.loads(f.read(n))
                self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else None
        except (OSError, ValueError, struct.error) as exc:
            raise DatasetError(path, f"shard is not a readable safetensors file ({exc})") from None
        self.arrays: dict[str, np.ndarray] = {}
        start = 8 + n
        for name, info in header.items():
            if name == "__metadata__":
                continue
            try:
                begin, end = (int(v) for v in info["data_offsets"])
                dtype = np.dtype(_DTYPES[info["dtype"]])
                shape = [int(v) for v in info["shape"]]
            except (KeyError, TypeError, ValueError):
                raise DatasetError(path, f"array {name!r} has a malformed header entry") from None
            count = int(np.prod(shape, dtype=np.int64))
            if start + end > size or end - begin != count * dtype.itemsize:
                raise DatasetError(path, f"array {name!r} does not fit in the file (truncated shard?)")
            flat = np.frombuffer(self._map, dtype=dtype, count=count, offset=start + begin) if count else None
            self.arrays[name] = flat.reshape(shape) if flat is not None else np.zeros(shape, dtype=dtype)
        want = ["offsets", *RESIDUE_ARRAYS, *PROTEIN_FLAGS, "digest"]
        want += [f"{c}_{part}" for c in STRING_COLUMNS for part in ("bytes", "offsets")]
        missing = [a for a in want if a not in self.arrays]
        if missing:
            raise DatasetError(path, f"array {missing[0]!r} is missing")
        self.offsets = self.arrays["offsets"]

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        """``(P,)`` int64 residues per protein (reads only the offsets)."""
        return np.diff(self.offsets)

    def string(self, column: str, i: int) -> str:
        """Entry ``i`` of a string column (``ids``, ``chain_ids``, ``sources``)."""
        off = self.arrays[f"{column}_offsets"]
        return bytes(self.arrays[f"{column}_bytes"][off[i] : off[i + 1]]).decode("utf-8")

    def protein(self, i: int) -> Protein:
        """Protein ``i`` of the shard; arrays are read-only views into the map (``coords`` float32)."""
        a = self.arrays
        lo, hi = int(self.offsets[i]), int(self.offsets[i + 1])
        chains = self.string("chain_ids", i)
        return Protein(
            id=self.string("ids", i),
            sequence=a["sequence"][lo:hi].tobytes().decode("ascii"),
            coords=a["coords"][lo:hi],
            atom_mask=a["atom_mask"][lo:hi].view(np.bool_),
            residue_number=a["residue_number"][lo:hi],
            insertion_code=np.array(list(a["insertion_code"][lo:hi].tobytes().decode("ascii")), dtype="<U1"),
            chain_index=a["chain_index"][lo:hi],
            chain_ids=tuple(chains.split(_CHAIN_SEP)) if chains else (),
            plddt=a["plddt"][lo:hi] if a["has_plddt"][i] else None,
            structure_tokens=a["structure_tokens"][lo:hi].tobytes().decode("ascii")
            if a["has_tokens"][i]
            else None,
            source=self.string("sources", i) or None,
        )

    def close(self) -> None:
        self.arrays.clear()
        if self._map is not None:
            with contextlib.suppress(BufferError):  # views still alive: the map closes when they go
                self._map.close()
