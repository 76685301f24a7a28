"""Evaluation on held-out data shared by every rank: each rank's share of the batches, and metrics reduced as sums.

* :func:`rank_share` — the evaluation batches ``rank, rank + W, …`` of ``W`` processes; every rank gets the same
  number (a rank short of one repeats batch 0, flagged not to count), so collectives inside the model (ZeRO-3
  parameter gathers, a global contrastive loss) stay matched.
* :class:`MetricSums` — ``name -> (numerator, denominator)`` in float64, summed over batches and then over ranks
  (:meth:`MetricSums.reduced`): a mean over all the data, not a mean of per-batch or per-rank means.
* :func:`gather_objects` — every rank's Python object on every rank (``torch.distributed.all_gather_object``).
* :data:`EVAL_K` — the micro-batch index offset of evaluation batches: their crops and masks are drawn from
  ``(seed, EVAL_K + b)`` for batch ``b``, the same at every evaluation and for any number of processes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["EVAL_K", "MetricSums", "gather_objects", "rank_share"]

#: First micro-batch index of evaluation batches (far past any training micro-batch index).
EVAL_K = 1 << 48


def rank_share(
    batches: Sequence[np.ndarray], rank: int, world_size: int
) -> Iterator[tuple[int, np.ndarray, bool]]:
    """``(b, indices, counts)`` of rank ``rank``'s evaluation batches: ``b = j·W + rank``; a rank past the last
    batch gets batch 0 again with ``counts`` False (module docstring)."""
    for j in range(-(-len(batches) // world_size)):
        b = j * world_size + rank
        yield (b, batches[b], True) if b < len(batches) else (0, batches[0], False)


def gather_objects(obj: Any, world_size: int) -> list[Any]:
    """``[obj of rank 0, obj of rank 1, …]`` on every rank (``[obj]`` for one process)."""
    if world_size <= 1:
        return [obj]
    import torch.distributed as dist

    out: list[Any] = [None] * world_size
    dist.all_gather_object(out, obj)
    return out


class MetricSums:
    """Float64 ``(numerator, denominator)`` sums per metric name (module docstring)."""

    def __init__(self) -> None:
        self.sums: dict[str, list[float]] = {}

    def add(self, parts: Mapping[str, tuple[float, float]]) -> None:
        """Add ``name -> (numerator, denominator)`` of one batch."""
        for name, (num, den) in parts.items():
            acc = self.sums.setdefault(name, [0.0, 0.0])
            acc[0] += float(num)
            acc[1] += float(den)

    def reduced(self, world_size: int = 1) -> MetricSums:
        """The sums over every rank (the same on each): names a rank lacks count as ``(0, 0)`` there."""
        total = MetricSums()
        for sums in gather_objects(self.sums, world_size):
            total.add({k: (v[0], v[1]) for k, v in sums.items()})
        return total

    def means(self, prefix: str = "") -> dict[str, float]:
        """``prefix + name -> numerator / denominator`` (NaN for a zero denominator), names sorted."""
        return {prefix + k: (v[0] / v[1] if v[1] else float("nan")) for k, v in sorted(self.sums.items())}
