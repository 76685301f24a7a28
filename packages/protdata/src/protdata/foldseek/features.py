"""The ten 3Di descriptors of a residue pair and Foldseek's six-residue gate.

Foldseek ``StructureTo3Di::calcFeatures`` and ``calcConformationDescriptors`` (structureto3di.cpp:168-215).
Geometry is float64, evaluated in the C++ operation order (see :mod:`protdata.foldseek.geometry`).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from protdata.foldseek.geometry import distance, dot, norm

#: Number of descriptors per residue (``Alphabet3Di::FEATURE_CNT``).
NUM_FEATURES: int = 10

_LOG_TABLES: dict[str, Tensor] = {}


def _log1p_abs(sep: Tensor) -> Tensor:
    """``log(|sep| + 1)`` in float64 exactly as C's ``log`` (glibc, via CPython's ``math.log``) gives it.

    The argument is a small integer, so a table built with ``math.log`` (cached per device, grown on demand)
    avoids depending on the last-ulp accuracy of torch's vectorised or CUDA ``log``.
    """
    k = sep.abs()
    need = int(k.max()) + 1 if k.numel() else 1
    key = str(sep.device)
    table = _LOG_TABLES.get(key)
    if table is None or table.numel() < need:
        size = max(need, 2 * (0 if table is None else table.numel()), 1024)
        values = [math.log(float(m) + 1) for m in range(size)]
        table = torch.tensor(values, dtype=torch.float64, device=sep.device)
        _LOG_TABLES[key] = table
    return table[k]


def pair_features(ca: Tensor, i: Tensor, j: Tensor) -> Tensor:
    """Descriptors of residue ``i`` with partner ``j`` (``calcFeatures``). ``(N, 3), (M,), (M,) -> (M, 10)``

    With u1 = unit(CAᵢ−CAᵢ₋₁), u2 = unit(CAᵢ₊₁−CAᵢ), u3 = unit(CAⱼ−CAⱼ₋₁), u4 = unit(CAⱼ₊₁−CAⱼ),
    u5 = unit(CAⱼ−CAᵢ): u1·u2, u3·u4, u1·u5, u3·u5, u1·u4, u2·u3, u1·u3, |CAᵢ−CAⱼ|,
    sign(j−i)·min(|j−i|, 4), sign(j−i)·ln(|j−i|+1). ``i`` and ``j`` are flat indices into ``ca`` of residues of
    the same protein, so ``j − i`` is the sequence separation; ``i ± 1`` and ``j ± 1`` must exist.
    """
    ca_i, ca_j = ca.index_select(0, i), ca.index_select(0, j)  # (M, 3)
    u1 = norm(ca_i - ca.index_select(0, i - 1))
    u2 = norm(ca.index_select(0, i + 1) - ca_i)
    u3 = norm(ca_j - ca.index_select(0, j - 1))
    u4 = norm(ca.index_select(0, j + 1) - ca_j)
    u5 = norm(ca_j - ca_i)
    sep = j - i  # (M,) never 0
    sign = torch.sign(sep).to(torch.float64)
    clipped = sep.abs().clamp(max=4).to(torch.float64) * sign
    log_sep = _log1p_abs(sep) * sign
    return torch.stack(
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
        ),
        dim=1,
    )


def gate(valid: Tensor, i: Tensor, j: Tensor) -> Tensor:
    """Foldseek's six-residue gate: residue i is encoded only if i−1, i, i+1, j−1, j, j+1 are all valid.

    ``valid`` is the mask after the partner search (residues without a partner are invalid).
    ``(N,), (M,), (M,) -> (M,)`` bool.
    """
    ok = valid.index_select(0, i - 1) & valid.index_select(0, i) & valid.index_select(0, i + 1)
    return ok & valid.index_select(0, j - 1) & valid.index_select(0, j) & valid.index_select(0, j + 1)
