"""Micro-batches: length-bucketed, token-budget batches planned per epoch, and each rank's share of them.

:class:`MicroBatchPlan` makes every epoch's micro-batches as a pure function of ``(seed, epoch)``: shuffle, sort by
length within windows of ``bucket_window`` proteins, cut batches of at most ``batch_size`` proteins and
``max_tokens`` padded residues, shuffle the batches. Micro-batches are numbered globally (``k = 0, 1, …`` across
epochs); at optimizer step ``s`` rank ``r`` of ``W`` takes ``k = (s · G + i) · W + r`` for its accumulation steps
``i < G`` (:class:`RankBatchSampler`). So the proteins of a global batch do not depend on how it is split over
ranks and accumulation steps, and a resumed run continues at exactly the next micro-batch.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from typing import Any

import numpy as np

from protdata.errors import DatasetError
from protdata.transforms import SubsequenceCrop, TruncateProtein

__all__ = ["MicroBatchPlan", "RankBatchSampler", "estimated_length", "estimated_lengths", "micro_batch_index"]


def _crop_limit(transform: Any) -> int | None:
    """The most residues ``transform`` leaves (its crops' smallest ``max_length``), or None (no crop)."""
    crops = [transform] if not hasattr(transform, "transforms") else list(transform.transforms)
    limits = [t.config.max_length for t in crops if isinstance(t, TruncateProtein | SubsequenceCrop)]
    return min(limits) if limits else None


def estimated_length(length: int, transform: Any) -> int:
    """Residues a protein of ``length`` has after ``transform`` (crops shorten it; other transforms keep it)."""
    limit = _crop_limit(transform)
    return length if limit is None else min(length, limit)


def estimated_lengths(lengths: np.ndarray, transform: Any) -> np.ndarray:
    """``(P,)`` int64 :func:`estimated_length` of every length at once (a store's ``lengths``: nothing decoded)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    limit = _crop_limit(transform)
    return lengths.copy() if limit is None else np.minimum(lengths, limit)


class MicroBatchPlan:
    """Every epoch's micro-batches as a pure function of ``(seed, epoch)`` (module docstring).

    Args:
        lengths: ``(P,)`` residues per protein (after cropping, for the token budget).
        batch_size: Most proteins per micro-batch.
        max_tokens: Most padded residues (``count × longest``) per micro-batch; a protein longer than the budget
            forms a micro-batch on its own.
        bucket_window: Proteins sorted together by length (at least ``batch_size``; 1 = no bucketing).
        seed: The run's seed.
        shuffle: Shuffle proteins and batches every epoch (False: file order, for prediction).
    """

    def __init__(
        self,
        lengths: np.ndarray,
        batch_size: int,
        max_tokens: int | None = None,
        bucket_window: int = 100,
        seed: int = 0,
        shuffle: bool = True,
    ) -> None:
        self.lengths = np.asarray(lengths, dtype=np.int64)
        if self.lengths.size == 0:
            raise DatasetError("lengths", "no proteins to batch")
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        self.bucket_window = bucket_window
        self.seed = seed
        self.shuffle = shuffle
        self._cache: dict[int, list[np.ndarray]] = {}
        self._starts: list[int] = [0]  # _starts[e] = global index of epoch e's first micro-batch

    def epoch(self, e: int) -> list[np.ndarray]:
        """The micro-batches of epoch ``e`` (arrays of protein indices)."""
        if e not in self._cache:
            if len(self._cache) > 4:
                self._cache.pop(min(self._cache))
            self._cache[e] = self._make(e)
        return self._cache[e]

    def _make(self, e: int) -> list[np.ndarray]:
        rng = np.random.default_rng([self.seed, e, 0x5EED])
        n = self.lengths.size
        order = rng.permutation(n) if self.shuffle else np.arange(n)
        batches: list[np.ndarray] = []
        if self.bucket_window <= 1:  # no bucketing: cut the shuffled order as it is
            batches = self._cut(order)
        else:
            size = max(self.bucket_window, self.batch_size)
            for lo in range(0, n, size):
                window = order[lo : lo + size]
                batches.extend(self._cut(window[np.argsort(self.lengths[window], kind="stable")]))
        if self.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return batches

    def _cut(self, window: np.ndarray) -> list[np.ndarray]:
        out, current, longest = [], [], 0
        for idx in window.tolist():
            length = int(self.lengths[idx])
            new_longest = max(longest, length)
            fits_count = len(current) < self.batch_size
            fits_tokens = self.max_tokens is None or (len(current) + 1) * new_longest <= self.max_tokens
            if current and not (fits_count and fits_tokens):
                out.append(np.array(current, dtype=np.int64))
                current, new_longest = [], length
            current.append(idx)
            longest = new_longest
        if current:
            out.append(np.array(current, dtype=np.int64))
        return out

    def locate(self, k: int) -> tuple[int, np.ndarray]:
        """``(epoch, protein indices)`` of global micro-batch ``k``."""
        while self._starts[-1] <= k:
            last = len(self._starts) - 1
            self._starts.append(self._starts[last] + len(self.epoch(last)))
        e = bisect.bisect_right(self._starts, k) - 1
        return e, self.epoch(e)[k - self._starts[e]]

    def micro_batches_per_epoch(self) -> int:
        """Micro-batches in epoch 0 (other epochs may differ by a few: batches are cut after shuffling)."""
        return len(self.epoch(0))


def micro_batch_index(
    step: int, accumulation: int, rank: int, world_size: int, accumulation_steps: int
) -> int:
    """Global index ``k`` of the micro-batch that ``rank`` uses at optimizer ``step``, accumulation step
    ``accumulation``: ``(step · G + accumulation) · W + rank``."""
    return (step * accumulation_steps + accumulation) * world_size + rank


class RankBatchSampler:
    """Batch sampler of one rank from optimizer step ``start_step`` on, endless: yields ``[(k, index), …]``
    (a ``batch_sampler`` for :class:`torch.utils.data.DataLoader`)."""

    def __init__(
        self, plan: MicroBatchPlan, rank: int, world_size: int, accumulation_steps: int, start_step: int = 0
    ) -> None:
        self.plan = plan
        self.rank = rank
        self.world_size = world_size
        self.accumulation_steps = accumulation_steps
        self.start_step = start_step

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        step = self.start_step
        while True:
            for i in range(self.accumulation_steps):
                k = micro_batch_index(step, i, self.rank, self.world_size, self.accumulation_steps)
                _, indices = self.plan.locate(k)
                yield [(k, int(j)) for j in indices]
            step += 1
