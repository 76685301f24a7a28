"""The ten 3Di descriptors of a residue pair and Foldseek's six-residue gate.

Foldseek ``StructureTo3Di::calcFeatures`` and ``calcConformationDescriptors`` (structureto3di.cpp:168-215).
Geometry is float64, evaluated in the C++ operation order (see :mod:`protdata.foldseek.geometry`). Every
function takes torch tensors or NumPy arrays (the CPU path runs on NumPy) and gives the same bits.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from protdata.foldseek.geometry import Array, distance, dot, norm, stack

#: Number of descriptors per residue (``Alphabet3Di::FEATURE_CNT``).
NUM_FEATURES: int = 10

_LOG_TABLES: dict[str, Tensor | np.ndarray] = {}


def take_rows(x: Array, index: Array) -> Array:
    """``x[index]`` along the first axis (``index_select`` for torch; a column-major NumPy array stays so)."""
    if isinstance(x, Tensor):
        return x.index_select(0, index)
    if x.ndim == 2 and x.flags.f_contiguous:
        return np.take(x.T, index, axis=1).T
    return np.take(x, index, axis=0)  # ``np.take`` releases the GIL (fancy indexing mostly does not)


def _log1p_abs(sep: Array) -> Array:
    """``log(|sep| + 1)`` in float64 exactly as C's ``log`` (glibc, via CPython's ``math.log``) gives it.

    The argument is a small integer, so a table built with ``math.log`` (cached per device, grown on demand)
    avoids depending on the last-ulp accuracy of torch's vectorised or CUDA ``log``.
    """
    is_torch = isinstance(sep, Tensor)
    k = sep.abs() if is_torch else np.abs(sep)
    need = int(k.max()) + 1 if k.shape[0] else 1
    key = str(sep.device) if is_torch else "numpy"
    table = _LOG_TABLES.get(key)
    if table is None or table.shape[0] < need:
        size = max(need, 2 * (0 if table is None else table.shape[0]), 1024)
        values = np.array([math.log(float(m) + 1) for m in range(size)], dtype=np.float64)
        table = torch.tensor(values, device=sep.device) if is_torch else values
        _LOG_TABLES[key] = table
    return take_rows(table, k)


def pair_features(ca: Array, i: Array, j: Array) -> Array:
    """Descriptors of residue ``i`` with partner ``j`` (``calcFeatures``). ``(N, 3), (M,), (M,) -> (M, 10)``

    With u1 = unit(CAᵢ−CAᵢ₋₁), u2 = unit(CAᵢ₊₁−CAᵢ), u3 = unit(CAⱼ−CAⱼ₋₁), u4 = unit(CAⱼ₊₁−CAⱼ),
    u5 = unit(CAⱼ−CAᵢ): u1·u2, u3·u4, u1·u5, u3·u5, u1·u4, u2·u3, u1·u3, |CAᵢ−CAⱼ|,
    sign(j−i)·min(|j−i|, 4), sign(j−i)·ln(|j−i|+1). ``i`` and ``j`` are flat indices into ``ca`` of residues of
    the same protein, so ``j − i`` is the sequence separation; ``i ± 1`` and ``j ± 1`` must exist.
    """
    ca_i, ca_j = take_rows(ca, i), take_rows(ca, j)  # (M, 3)
    bond = norm(ca[1:] - ca[:-1])  # (N-1, 3) bond[r-1] = unit(CAᵣ−CAᵣ₋₁), once per residue, not per use
    u1, u2 = take_rows(bond, i - 1), take_rows(bond, i)
    u3, u4 = take_rows(bond, j - 1), take_rows(bond, j)
    u5 = norm(ca_j - ca_i)
    sep = j - i  # (M,) never 0
    if isinstance(sep, Tensor):
        sign = torch.sign(sep).to(torch.float64)
        clipped = sep.abs().clamp(max=4).to(torch.float64) * sign
    else:
        sign = np.sign(sep).astype(np.float64)
        clipped = np.minimum(np.abs(sep), 4).astype(np.float64) * sign
    log_sep = _log1p_abs(sep) * sign
    return stack(
        (
            dot(u1, u2),
            dot(u3, u4),
            dot(u1, u5),
            dot(u3, u5),
            dot(u1, u4),
            dot(u2, u3),
            dot(u1, u3),
            distance(ca_i, ca_j),
            clipped,
            log_sep,
        )
    )


def gate(valid: Array, i: Array, j: Array) -> Array:
    """Foldseek's six-residue gate: residue i is encoded only if i−1, i, i+1, j−1, j, j+1 are all valid.

    ``valid`` is the mask after the partner search (residues without a partner are invalid); ``i`` and ``j``
    are interior positions (``i ± 1`` and ``j ± 1`` exist). ``(N,), (M,), (M,) -> (M,)`` bool.
    """
    triple = valid[:-2] & valid[1:-1] & valid[2:]  # (N-2,) triple[r-1]: r-1, r and r+1 all valid
    return take_rows(triple, i - 1) & take_rows(triple, j - 1)
