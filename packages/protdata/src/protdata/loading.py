"""Deterministic torch data loading over :class:`~protdata.packed.PackedProteins`.

* :class:`PackedDataset` — ``dataset[(k, index)]`` is protein ``index`` after the transform (e.g. a crop), drawn
  from a generator seeded by ``(seed, k, index)`` (:func:`item_seed`): the same crop in any worker, on any rank,
  after any resume.
* :class:`MicroBatch` / :func:`collate_micro_batch` — a collated micro-batch that keeps its global index ``k``.
* :func:`rank_loader` — the DataLoader of one rank's micro-batches (a :class:`~protdata.batching.RankBatchSampler`).
* :class:`TrainingData` — packed proteins, their dataset and micro-batch plan: ``loader(rank, …)`` per rank.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from protdata.batch import ProteinBatch
from protdata.batching import MicroBatchPlan, RankBatchSampler
from protdata.packed import PackedProteins
from protdata.protein import Protein

__all__ = ["MicroBatch", "PackedDataset", "TrainingData", "collate_micro_batch", "item_seed", "rank_loader"]


def item_seed(seed: int, k: int, index: int) -> np.random.Generator:
    """The generator of protein ``index`` in micro-batch ``k`` of a run seeded with ``seed``."""
    return np.random.default_rng([seed, k, index])


class PackedDataset(torch.utils.data.Dataset):
    """``dataset[(k, index)] -> (k, protein)``: packed protein ``index`` after ``transform(protein, rng)`` with
    ``rng = item_seed(seed, k, index)`` (no transform: the protein as packed)."""

    def __init__(self, packed: PackedProteins, transform: Callable[..., Protein] | None, seed: int) -> None:
        self.packed = packed
        self.transform = transform
        self.seed = seed

    def __len__(self) -> int:
        return len(self.packed)

    def __getitem__(self, key: tuple[int, int]) -> tuple[int, Protein]:
        k, index = key
        protein = self.packed[index]
        if self.transform is not None:
            protein = self.transform(protein, item_seed(self.seed, k, index))
        return k, protein


@dataclass
class MicroBatch:
    """One micro-batch: its global index ``k``, the collated batch and optional targets (e.g. ``(B, C)`` k-hot,
    ``(B,)`` class ids or values)."""

    index: int
    batch: Any
    targets: torch.Tensor | None = None

    def pin_memory(self) -> MicroBatch:
        targets = self.targets.pin_memory() if self.targets is not None else None
        return MicroBatch(self.index, self.batch.pin_memory(), targets)


def collate_micro_batch(items: list[tuple[int, Protein]]) -> MicroBatch:
    """``[(k, protein), …]`` (one micro-batch ``k``) -> ``MicroBatch(k, ProteinBatch)``."""
    return MicroBatch(items[0][0], ProteinBatch.collate([p for _, p in items]))


class _WorkerInit:
    """Each DataLoader worker computes on one torch thread, then runs ``then`` (picklable for spawn)."""

    def __init__(self, then: Callable[[], None] | None) -> None:
        self.then = then

    def __call__(self, _: int) -> None:
        torch.set_num_threads(1)
        if self.then is not None:
            self.then()


def rank_loader(
    dataset: torch.utils.data.Dataset,
    sampler: Any,
    collate_fn: Callable[[list[Any]], Any],
    num_workers: int,
    prefetch_factor: int,
    pin_memory: bool,
    worker_init: Callable[[], None] | None = None,
) -> torch.utils.data.DataLoader:
    """The DataLoader of one rank's micro-batches (``sampler`` yields each micro-batch's keys), each worker on one
    torch thread; ``worker_init()`` runs in every worker (e.g. to leave stop signals to the main process)."""
    return torch.utils.data.DataLoader(
        dataset,
        batch_sampler=sampler,
        collate_fn=collate_fn,
        num_workers=num_workers,
        prefetch_factor=prefetch_factor if num_workers else None,
        pin_memory=pin_memory,
        worker_init_fn=_WorkerInit(worker_init) if num_workers else None,
    )


@dataclass
class TrainingData:
    """What a training loop needs: the packed proteins, their dataset, the micro-batch plan, and a DataLoader per
    rank (:meth:`loader`); ``report`` / ``cached`` / ``seconds`` describe how the data was prepared."""

    packed: PackedProteins
    dataset: PackedDataset
    plan: MicroBatchPlan
    report: dict[str, Any] = field(default_factory=dict)
    cached: bool = False
    num_workers: int = 0
    prefetch_factor: int = 4
    seconds: float = 0.0
    #: Runs in every DataLoader worker (see :func:`rank_loader`).
    worker_init: Callable[[], None] | None = None

    def loader(
        self, rank: int, world_size: int, accumulation_steps: int, start_step: int, pin_memory: bool
    ) -> torch.utils.data.DataLoader:
        """Rank ``rank``'s micro-batches from optimizer step ``start_step`` on (endless)."""
        sampler = RankBatchSampler(self.plan, rank, world_size, accumulation_steps, start_step)
        return rank_loader(
            self.dataset,
            sampler,
            collate_micro_batch,
            self.num_workers,
            self.prefetch_factor,
            pin_memory,
            self.worker_init,
        )
