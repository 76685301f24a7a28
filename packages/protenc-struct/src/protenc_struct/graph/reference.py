"""Brute-force NumPy reference graphs: one protein at a time, the full ``L × L`` distance matrix, full sorts.

A second, deliberately plain implementation of the TorchDrug semantics documented in
:mod:`protenc_struct.graph.sequential`, :mod:`~protenc_struct.graph.radius` and :mod:`~protenc_struct.graph.knn`
— the oracle of the tests and the "straightforward per-protein implementation" the graph benchmark compares
against. It shares no code with the batched torch implementation. Memory is ``O(L²)`` per protein; do not use
it for production.
"""

from __future__ import annotations

import numpy as np


def pairwise_dist2(ca: np.ndarray) -> np.ndarray:
    """``(L, L)`` squared Cα distances, ``dx² + dy² + dz²`` in the input dtype (torch-cluster's formula)."""
    diff = ca[:, None, :] - ca[None, :, :]
    return diff[..., 0] * diff[..., 0] + diff[..., 1] * diff[..., 1] + diff[..., 2] * diff[..., 2]


def reference_sequential(
    ca: np.ndarray, chain: np.ndarray, max_distance: int = 2, gap_cutoff: float | None = None
) -> np.ndarray:
    """``(E, 3)`` rows ``(source k, target k + o, relation o + max_distance)``, same chain only.

    With ``gap_cutoff``, also every consecutive Cα step between ``k`` and ``k + o`` must be ``<= gap_cutoff``.
    """
    n = len(ca)
    step = ca[1:] - ca[:-1]
    long_step = (
        (step * step).sum(-1) > np.float64(gap_cutoff) ** 2 if gap_cutoff is not None else np.zeros(n - 1)
    )
    steps_before = np.concatenate([[0], np.cumsum(long_step)])  # long steps between residue 0 and k
    rows = []
    for offset in range(-max_distance, max_distance + 1):
        k = np.arange(max(0, -offset), n - max(0, offset))
        t = k + offset
        ok = (chain[k] == chain[t]) & (steps_before[k] == steps_before[t])
        rows.append(np.column_stack([k[ok], t[ok], np.full(ok.sum(), offset + max_distance)]))
    return np.concatenate(rows).astype(np.int64).reshape(-1, 3)


def reference_radius(
    ca: np.ndarray,
    radius: float,
    min_distance: int = 0,
    max_num_neighbors: int | None = 32,
    cap_before_filter: bool = True,
) -> np.ndarray:
    """``(E, 2)`` rows ``(source j, target i)``: ``j != i``, ``d² < r²``, the nearest ``max_num_neighbors`` by
    (distance, index) — before or after dropping ``|i - j| < min_distance``."""
    d2 = pairwise_dist2(ca)
    n = len(ca)
    r2 = d2.dtype.type(float(radius) ** 2)  # r² rounded to the coordinates' dtype, as torch compares
    separation = np.abs(np.arange(n)[:, None] - np.arange(n)[None, :])
    candidate = (d2 < r2) & (separation > 0)  # (L, L), row i = centre
    far = separation >= min_distance
    if not cap_before_filter:
        candidate &= far
    if max_num_neighbors is not None:
        for i in np.flatnonzero(candidate.sum(1) > max_num_neighbors):
            key = np.where(candidate[i], d2[i].astype(np.float64), np.inf)
            order = np.argsort(key, kind="stable")  # by distance, ties → lower index
            candidate[i] = False
            candidate[i, order[:max_num_neighbors]] = True
    target, source = np.nonzero(candidate & far)
    return np.column_stack([source, target]).astype(np.int64).reshape(-1, 2)


def reference_knn(ca: np.ndarray, k: int, min_distance: int = 0) -> np.ndarray:
    """``(E, 2)`` rows ``(source j, target i)``: the ``k`` nearest ``j != i`` by (distance, index), then
    ``|i - j| >= min_distance``."""
    n = len(ca)
    d2 = pairwise_dist2(ca).astype(np.float64)
    np.fill_diagonal(d2, np.inf)
    nearest = np.argsort(d2, axis=1, kind="stable")[:, : min(k, n - 1)]  # (L, k)
    target = np.repeat(np.arange(n), nearest.shape[1])
    source = nearest.reshape(-1)
    far = np.abs(source - target) >= min_distance
    return np.column_stack([source[far], target[far]]).astype(np.int64).reshape(-1, 2)


def reference_gearnet_edges(
    ca: np.ndarray,
    chain: np.ndarray,
    *,
    max_distance: int = 2,
    gap_cutoff: float | None = None,
    radius: float = 10.0,
    radius_min_distance: int = 5,
    max_num_neighbors: int | None = 32,
    cap_before_filter: bool = True,
    k: int = 10,
    knn_min_distance: int = 5,
) -> np.ndarray:
    """``(E, 3)`` rows ``(source, target, relation)`` of GearNet's graph of one protein (local indices)."""
    sequential = reference_sequential(ca, chain, max_distance, gap_cutoff)
    spatial = reference_radius(ca, radius, radius_min_distance, max_num_neighbors, cap_before_filter)
    knn = reference_knn(ca, k, knn_min_distance)
    num_sequential = 2 * max_distance + 1
    return np.concatenate(
        [
            sequential,
            np.column_stack([spatial, np.full(len(spatial), num_sequential)]),
            np.column_stack([knn, np.full(len(knn), num_sequential + 1)]),
        ]
    ).astype(np.int64)
