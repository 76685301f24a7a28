"""A held-out validation split of a protein store (or of protein–text pairs) decided by each protein's id alone.

A protein is held out when the hash of its id, read as a number in ``[0, 1)``, is below ``fraction``
(:func:`id_unit`: BLAKE2b of the UTF-8 id, the first 8 bytes big-endian over 2⁶⁴) — the scheme of TensorFlow
Datasets' ``split`` by key and of Git-style content hashing: a protein's side never depends on the order of the
data, on how it is sharded, on the number of workers or processes, or on which other proteins exist, so a dataset
that grows keeps every old protein on its side. Or the held-out proteins are listed (``ids``: a list, or a file
with one id per line; ``#`` comments and blank lines ignored). Every protein (or pair) with a held-out id is
held out, so proteins that share an id never straddle the split.

:func:`split_ids` returns the ``(train, held_out)`` index arrays, or ``None`` with a one-line notice when the
data are too few to hold out ``min_count`` proteins (validation is then off, never an error).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from protdata.errors import DatasetError

__all__ = ["HoldOut", "id_unit", "read_id_list", "split_ids"]

_PERSON = b"protstack-val"  # BLAKE2b personalisation: these hashes are apart from any other use


def id_unit(protein_id: str) -> float:
    """``protein_id``'s place in ``[0, 1)``: BLAKE2b-64 of the UTF-8 id (personalised) over 2⁶⁴."""
    digest = hashlib.blake2b(protein_id.encode("utf-8"), digest_size=8, person=_PERSON).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def read_id_list(path: str | Path, *, key: str = "validation.ids") -> list[str]:
    """The ids of a file, one per line (first whitespace-separated word; blank lines and ``#`` comments skipped).

    Raises:
        DatasetError: the file is missing, unreadable or lists no id (naming ``key`` and the file).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(
            f"{key}: {path}", f"cannot read the id list ({exc.__class__.__name__}: {exc})"
        ) from None
    ids = [
        line.split()[0] for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]
    if not ids:
        raise DatasetError(f"{key}: {path}", "lists no id")
    return ids


@dataclass(frozen=True)
class HoldOut:
    """``train`` and ``held_out``: sorted int64 index arrays into the data (disjoint, together every index);
    ``digest``: SHA-256 of the sorted held-out ids (a resumed run checks it is validating on the same proteins);
    ``notes``: one-line remarks (e.g. listed ids absent from the data)."""

    train: np.ndarray
    held_out: np.ndarray
    digest: str
    notes: tuple[str, ...] = ()


def split_ids(
    ids: Sequence[str],
    *,
    fraction: float | None = None,
    listed: Sequence[str] | None = None,
    min_count: int = 1,
    key: str = "validation",
) -> HoldOut | str:
    """Split the items with ``ids`` (module docstring): by ``fraction`` of the id hash, or the ``listed`` ids.

    Returns:
        The :class:`HoldOut`, or a one-line notice (a ``str``) saying why nothing is held out: fewer than
        ``min_count`` held out, or nothing left to train on.

    Raises:
        DatasetError: ``listed`` ids of which none is in the data (naming ``<key>.ids``).
    """
    n = len(ids)
    if listed is not None:
        wanted = set(listed)
        mask = np.fromiter((i in wanted for i in ids), dtype=bool, count=n)
        found = len(wanted.intersection(ids))
        if found == 0:
            raise DatasetError(
                f"{key}.ids", f"none of the {len(wanted)} listed ids is in the data ({n} items)"
            )
        notes = (f"{key}.ids: {len(wanted) - found} of the {len(wanted)} listed ids are not in the data",)
        notes = notes if found < len(wanted) else ()
        how = f"{found} listed ids"
    else:
        mask = np.fromiter((id_unit(i) < (fraction or 0.0) for i in ids), dtype=bool, count=n)
        notes, how = (), f"{key}.fraction={fraction}"
    count = int(mask.sum())
    if count < min_count or count == n:
        why = "nothing would be left to train on" if count == n else f"fewer than {key}.min_count={min_count}"
        return (
            f"{key}: off — {how} hold out {count} of {n} items, {why} (more data, a larger {key}.fraction, "
            f"or {key}.ids)"
        )
    held = np.flatnonzero(mask).astype(np.int64)
    names = sorted({ids[int(i)] for i in held})
    digest = hashlib.sha256("\n".join(names).encode("utf-8")).hexdigest()
    return HoldOut(np.flatnonzero(~mask).astype(np.int64), held, digest, notes)
