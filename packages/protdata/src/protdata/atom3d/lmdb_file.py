"""Read an ATOM3D LMDB dataset directory (``data.mdb`` / ``lock.mdb``) without the ``atom3d`` package.

Layout (drorlab/atom3d ``atom3d/datasets/datasets.py``: ``make_lmdb_dataset`` writes, ``LMDBDataset`` reads):

* key ``num_examples`` — the entry count as decimal text; entries are keys ``"0"`` … ``"n-1"``;
* key ``serialization_format`` — ``json``, ``msgpack`` or ``pkl``;
* key ``id_to_idx`` — the serialised ``{entry id: index}`` map (not gzip'd);
* each entry — gzip'd serialised dict; pandas DataFrames are stored as their ``orient="split"`` dict
  (``columns``, ``index``, ``data`` rows) and named in the entry's ``types`` dict as
  ``"<class 'pandas.core.frame.DataFrame'>"``.

``pkl`` datasets are refused: unpickling a file can run arbitrary code. The readers need the optional
dependencies of ``protstack-protdata[atom3d]`` (lmdb, msgpack).
"""

from __future__ import annotations

import gzip
import json
from os import PathLike
from pathlib import Path
from typing import Any

from protdata.errors import DatasetError

#: ``types`` value of a DataFrame column in an ATOM3D entry (``str(pandas.DataFrame)``).
DATAFRAME_TYPE = "<class 'pandas.core.frame.DataFrame'>"
FORMATS = ("json", "msgpack")


class Atom3DEntryError(DatasetError):
    """An ATOM3D LMDB entry is unreadable or lacks what its task needs (names the LMDB, the index and why)."""


def _lmdb() -> Any:
    try:
        import lmdb
    except ImportError:  # pragma: no cover - the optional dependency
        raise DatasetError(
            "protdata.atom3d",
            "reading ATOM3D LMDB datasets needs lmdb: pip install 'protstack-protdata[atom3d]'",
        ) from None
    return lmdb


def deserialize(data: bytes, fmt: str, where: str) -> Any:
    """``data`` decoded as ``fmt`` (``json`` / ``msgpack``); ``pkl`` is refused (module docstring)."""
    if fmt == "json":
        return json.loads(data)
    if fmt == "msgpack":
        try:
            import msgpack
        except ImportError:  # pragma: no cover
            raise DatasetError(
                where, "a msgpack ATOM3D dataset needs the msgpack package: pip install msgpack"
            ) from None
        return msgpack.unpackb(data, raw=False, strict_map_key=False)
    raise DatasetError(
        where, f"unsupported serialization_format {fmt!r} (expected one of {', '.join(FORMATS)})"
    )


def table_columns(frame: Any, where: str) -> dict[str, list[Any]]:
    """An ``orient="split"`` DataFrame dict as ``{column: values}``."""
    if not isinstance(frame, dict) or "columns" not in frame or "data" not in frame:
        raise Atom3DEntryError(where, "not a DataFrame stored as {columns, index, data}")
    columns, rows = list(frame["columns"]), frame["data"]
    if any(len(row) != len(columns) for row in rows):
        raise Atom3DEntryError(where, f"a row does not have the {len(columns)} columns {columns}")
    return {c: [row[j] for row in rows] for j, c in enumerate(columns)}


#: Environments this process opened, by resolved path (LMDB allows one environment per file and process).
_ENVS: dict[str, Any] = {}


def _open_env(path: Path) -> Any:
    key = str(path.resolve())
    if key not in _ENVS:
        lmdb = _lmdb()
        try:
            _ENVS[key] = lmdb.open(
                key, readonly=True, lock=False, readahead=False, meminit=False, max_readers=64
            )
        except lmdb.Error as exc:
            raise DatasetError(str(path), f"unreadable LMDB: {exc}") from None
    return _ENVS[key]


class Atom3DLmdb:
    """One ATOM3D LMDB directory: ``len()``, ``ids``, ``entry(i)`` (the deserialised dict, DataFrames as column
    dicts; module docstring).

    Raises:
        DatasetError: not an LMDB directory, missing header keys, a ``pkl`` or unknown serialisation.
    """

    def __init__(self, path: str | PathLike[str]) -> None:
        self.path = Path(path)
        where = str(self.path)
        if not (self.path / "data.mdb").is_file():
            raise DatasetError(where, "not an ATOM3D LMDB dataset (no data.mdb in this directory)")
        self._env = _open_env(self.path)
        with self._env.begin(write=False) as txn:
            count, fmt, ids = (txn.get(k) for k in (b"num_examples", b"serialization_format", b"id_to_idx"))
        if count is None or fmt is None:
            raise DatasetError(where, "missing num_examples / serialization_format: not written by ATOM3D")
        self.format = fmt.decode()
        if self.format == "pkl":
            raise DatasetError(
                where,
                "serialization_format 'pkl' refused: unpickling can run arbitrary code; rewrite the dataset as "
                "json or msgpack (atom3d make_lmdb_dataset(..., serialization_format='json'))",
            )
        if self.format not in FORMATS:
            raise DatasetError(where, f"unsupported serialization_format {self.format!r}")
        self.num_examples = int(count)
        mapping = deserialize(ids, self.format, f"{where}: id_to_idx") if ids is not None else {}
        self.ids = [""] * self.num_examples
        for key, idx in dict(mapping).items():
            if 0 <= int(idx) < self.num_examples:
                self.ids[int(idx)] = str(key)

    def __len__(self) -> int:
        return self.num_examples

    def __getstate__(self) -> dict[str, Any]:  # DataLoader workers reopen the environment
        return {"path": self.path}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"])  # type: ignore[misc]

    def where(self, index: int) -> str:
        return f"{self.path} [entry {index}]"

    def entry(self, index: int) -> dict[str, Any]:
        """Entry ``index`` as a dict; DataFrame values become ``orient="split"`` dicts (see :func:`table_columns`).

        Raises:
            Atom3DEntryError: out of range, missing, not gzip / not decodable, not a dict.
        """
        where = self.where(index)
        if not 0 <= index < self.num_examples:
            raise Atom3DEntryError(where, f"index out of range (the dataset has {self.num_examples} entries)")
        with self._env.begin(write=False) as txn:
            blob = txn.get(str(index).encode())
        if blob is None:
            raise Atom3DEntryError(where, "missing entry")
        try:
            item = deserialize(gzip.decompress(blob), self.format, where)
        except (OSError, EOFError, ValueError) as exc:
            if isinstance(exc, DatasetError):
                raise
            raise Atom3DEntryError(where, f"corrupt entry (not gzip'd {self.format}): {exc}") from None
        except Exception as exc:  # msgpack's own exception types
            raise Atom3DEntryError(where, f"corrupt entry (not {self.format}): {exc}") from None
        if not isinstance(item, dict):
            raise Atom3DEntryError(where, f"entry is a {type(item).__name__}, not a dict")
        return item
