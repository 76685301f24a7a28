"""Training data: the dataset over the structure cache, its DataLoader, and :func:`prepare_training_data`.

* :mod:`engine.cache` — the preprocessed structure cache (:class:`~engine.cache.PackedProteins`).
* :mod:`engine.batching` — length-bucketed / token-budget micro-batches and each rank's share.
* :class:`ProteinDataset` — ``dataset[(k, index)]`` is protein ``index`` after the transform (crop), drawn from a
  generator seeded by ``(seed, k, index)``: the same crop in any worker, on any rank, after any resume.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.batching import MicroBatchPlan, RankBatchSampler, estimated_length, micro_batch_index
from engine.cache import PackedProteins, build_structure_cache, list_structure_files
from engine.stopping import ignore_stop_signals
from protdata import Protein, ProteinBatch
from protdata.transforms import build_transform

__all__ = [
    "MicroBatch",
    "MicroBatchPlan",
    "PackedProteins",
    "ProteinDataset",
    "RankBatchSampler",
    "TrainingData",
    "build_structure_cache",
    "collate_micro_batch",
    "estimated_length",
    "item_seed",
    "list_structure_files",
    "micro_batch_index",
    "prepare_training_data",
    "rank_loader",
]


def item_seed(seed: int, k: int, index: int) -> np.random.Generator:
    """The generator of protein ``index`` in micro-batch ``k``."""
    return np.random.default_rng([seed, k, index])


class ProteinDataset(torch.utils.data.Dataset):
    """``dataset[(k, index)] -> (k, protein)``: protein ``index`` after the transform (module docstring)."""

    def __init__(self, packed: PackedProteins, transform: Any | None, seed: int) -> None:
        self.packed = packed
        self.transform = transform
        self.seed = seed

    def __len__(self) -> int:
        return len(self.packed)

    def __getitem__(self, key: tuple[int, int]) -> tuple[int, Protein]:
        k, index = key
        protein = self.packed.protein(index)
        if self.transform is not None:
            protein = self.transform(protein, item_seed(self.seed, k, index))
        return k, protein


@dataclass
class MicroBatch:
    """One micro-batch: its global index ``k``, the collated proteins and, for labelled data, their targets
    (``(B, C)`` k-hot, ``(B,)`` class ids or ``(B,)`` values; see :mod:`engine.labelled`)."""

    index: int
    batch: ProteinBatch
    targets: torch.Tensor | None = None

    def pin_memory(self) -> MicroBatch:
        targets = self.targets.pin_memory() if self.targets is not None else None
        return MicroBatch(self.index, self.batch.pin_memory(), targets)


def collate_micro_batch(items: list[tuple[int, Protein]]) -> MicroBatch:
    return MicroBatch(items[0][0], ProteinBatch.collate([p for _, p in items]))


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)
    ignore_stop_signals()  # the main process finishes its step and checkpoints (engine.stopping)


def rank_loader(
    dataset: torch.utils.data.Dataset,
    sampler: RankBatchSampler,
    collate_fn: Any,
    num_workers: int,
    prefetch_factor: int,
    pin_memory: bool,
) -> torch.utils.data.DataLoader:
    """The DataLoader of one rank's micro-batches (``sampler``), each worker on one torch thread."""
    return torch.utils.data.DataLoader(
        dataset,
        batch_sampler=sampler,
        collate_fn=collate_fn,
        num_workers=num_workers,
        prefetch_factor=prefetch_factor if num_workers else None,
        pin_memory=pin_memory,
        worker_init_fn=_worker_init if num_workers else None,
    )


@dataclass
class TrainingData:
    """What the trainer needs: the dataset, the micro-batch plan and how to make a rank's loader."""

    packed: PackedProteins
    dataset: ProteinDataset
    plan: MicroBatchPlan
    report: dict[str, Any]
    cached: bool
    num_workers: int = 0
    prefetch_factor: int = 4
    seconds: float = 0.0

    def loader(
        self, rank: int, world_size: int, accumulation_steps: int, start_step: int, pin_memory: bool
    ) -> torch.utils.data.DataLoader:
        sampler = RankBatchSampler(self.plan, rank, world_size, accumulation_steps, start_step)
        return rank_loader(
            self.dataset, sampler, collate_micro_batch, self.num_workers, self.prefetch_factor, pin_memory
        )


def prepare_training_data(
    config: Any, cache_dir: Path | None, seed: int, sources: Sequence[Path], *, encode_3di: bool = False
) -> TrainingData:
    """Cache (or reuse) the structures of ``config`` (a :class:`~engine.config.DataConfig`) and plan batches
    (``encode_3di``: store Foldseek 3Di strings, for SaProt encoders)."""
    t0 = time.perf_counter()
    packed, report, cached = build_structure_cache(
        sources,
        cache_dir,
        min_length=config.min_length,
        parse_workers=config.parse_workers,
        encode_3di=encode_3di,
    )
    transform = build_transform(config.transform) if config.transform is not None else None
    lengths = np.array([estimated_length(int(n), transform) for n in packed.lengths], dtype=np.int64)
    plan = MicroBatchPlan(lengths, config.batch_size, config.max_tokens, config.bucket_window, seed)
    return TrainingData(
        packed=packed,
        dataset=ProteinDataset(packed, transform, seed),
        plan=plan,
        report=report,
        cached=cached,
        num_workers=config.num_workers,
        prefetch_factor=config.prefetch_factor,
        seconds=time.perf_counter() - t0,
    )
