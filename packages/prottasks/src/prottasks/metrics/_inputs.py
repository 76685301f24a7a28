"""Input checks shared by the metrics: arrays in, clear :class:`MetricInputError` s out."""

from __future__ import annotations

from typing import Any

import numpy as np

from prottasks.errors import MetricInputError


def as_array(
    x: Any, name: str, *, ndim: int | tuple[int, ...] | None = None, dtype: Any = np.float64
) -> np.ndarray:
    """``x`` (array-like or torch tensor) as a NumPy array of ``dtype``, with its dimensionality checked."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    a = np.asarray(x, dtype=dtype)
    dims = (ndim,) if isinstance(ndim, int) else ndim
    if dims is not None and a.ndim not in dims:
        raise MetricInputError(name, f"expected {' or '.join(map(str, dims))}-d array, got shape {a.shape}")
    return a


def scores_array(x: Any, name: str = "scores", *, ndim: int | tuple[int, ...] | None = None) -> np.ndarray:
    """Finite float64 scores."""
    a = as_array(x, name, ndim=ndim)
    bad = ~np.isfinite(a)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise MetricInputError(name, f"non-finite value {a[where]} at index {where}")
    return a


def binary_array(x: Any, name: str = "labels", *, ndim: int | tuple[int, ...] | None = None) -> np.ndarray:
    """A bool array from 0/1 (or bool) values; anything else is an error naming the first bad entry."""
    raw = as_array(x, name, ndim=ndim, dtype=np.float64)
    bad = (raw != 0) & (raw != 1)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise MetricInputError(name, f"labels must be 0/1, found {raw[where]} at index {where}")
    return raw.astype(bool)


def same_shape(a: np.ndarray, b: np.ndarray, names: str) -> None:
    if a.shape != b.shape:
        raise MetricInputError(names, f"shapes differ: {a.shape} vs {b.shape}")


def average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks with ties averaged (``scipy.stats.rankdata(method="average")``)."""
    order = np.argsort(x, kind="stable")
    xs = x[order]
    starts = np.r_[0, np.flatnonzero(xs[1:] != xs[:-1]) + 1]
    ends = np.r_[starts[1:], len(xs)]
    avg = (starts + ends + 1) / 2.0  # mean of 1-based positions start+1 … end
    ranks = np.empty(len(x))
    ranks[order] = np.repeat(avg, ends - starts)
    return ranks
