"""A vectorised sanity check of PDB coordinate fields, which gemmi's fixed-column reader does not validate.

gemmi (0.5.1 and 0.7.5 alike) reads columns 31-54 of ATOM/HETATM records with a lenient number parser: a garbled
field becomes 0 or a truncated number without an error. This check finds the first record whose three 8-column
coordinate fields are not plain numbers (digits, '.', '+', '-', blanks, at least one digit each), in NumPy over the
whole file (about as long as gemmi's parse).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

_ATOM = int(np.frombuffer(b"ATOM", dtype=np.uint32)[0])
_HETA = int(np.frombuffer(b"HETA", dtype=np.uint32)[0])


def garbled_coordinate_line(data: bytes) -> int | None:
    """1-based line number of the first ATOM/HETATM record with non-numeric coordinates, or ``None``."""
    buf = np.frombuffer(data, dtype=np.uint8)
    n = len(buf)
    if n < 54:
        return None
    starts = np.flatnonzero(buf == 10)
    starts += 1
    starts = np.concatenate(([0], starts[starts + 54 <= n]))
    record = sliding_window_view(buf, 4)[starts].view(np.uint32).ravel()
    rows = starts[(record == _ATOM) | (record == _HETA)]
    if rows.size == 0:
        return None
    fields = sliding_window_view(buf, 24)[rows + 30]  # (n_atoms, 24): columns 31-54
    digit = (fields - 48) <= 9  # uint8 arithmetic wraps below '0'
    ok = (digit | (fields == 32) | (fields == 46) | (fields == 45) | (fields == 43)).all(axis=1)
    ok &= digit.reshape(-1, 3, 8).any(axis=2).all(axis=1)
    if ok.all():
        return None
    first = int(rows[int(np.argmin(ok))])
    return int(np.count_nonzero(buf[:first] == 10)) + 1
