"""ProtCLIP training data: a :class:`~protalign.pair_files.PairTable` cut into deterministic micro-batches.

* :class:`PairDataset` — ``dataset[(k, i)] -> (k, protein, text)``.
* :class:`PairCollate` — ``[(k, protein, text), …] -> MicroBatch(k, ProtCLIPBatch)`` through
  :class:`~protalign.data.ProtCLIPCollator`, its masks (protein MLM, fragment MLM) drawn from a generator seeded
  by ``(seed, k)`` — not by the DataLoader worker — so a resumed run and any number of workers see the same masks.
* :class:`PairTrainingData` / :func:`prepare_pair_data` — the micro-batch plan (:class:`protdata.batching.
  MicroBatchPlan`: fixed or token-budget batches over lengths cut to ``max_protein_length``) and each rank's
  DataLoader (``plan``, ``num_workers``, ``loader(rank, world, accumulation, start_step, pin_memory)``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from protalign.config import ProtCLIPConfig
from protalign.data import ProtCLIPCollator
from protalign.pair_files import PairTable
from protdata import Protein
from protdata.batching import MicroBatchPlan, RankBatchSampler
from protdata.loading import MicroBatch, rank_loader

#: Third word of the masks' seed ``(seed, k, MASK_STREAM)`` (keeps them apart from other per-batch draws).
MASK_STREAM = 0xC11


class PairDataset(torch.utils.data.Dataset):
    """``dataset[(k, i)] -> (k, protein, text)``: pair ``i`` of ``pairs`` for micro-batch ``k``."""

    def __init__(self, pairs: PairTable) -> None:
        self.pairs = pairs

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, key: tuple[int, int]) -> tuple[int, Protein, str]:
        k, i = key
        return k, self.pairs.protein(i), self.pairs.texts[i]


class PairCollate:
    """``[(k, protein, text), …] -> MicroBatch(k, ProtCLIPBatch)`` (module docstring): the collator of ``config``
    (cut to ``max_protein_length``, texts and the four property sub-texts tokenised, the masks its objectives
    need), masks drawn from ``numpy.random.default_rng([seed, k, MASK_STREAM])``."""

    def __init__(self, config: ProtCLIPConfig, tokenizer: Any, seed: int) -> None:
        self.seed = seed
        self.collator = ProtCLIPCollator.from_config(config, tokenizer)

    def __call__(self, items: list[tuple[int, Protein, str]]) -> MicroBatch:
        k = items[0][0]
        rng = np.random.default_rng([self.seed, k, MASK_STREAM])
        return MicroBatch(k, self.collator([(protein, text) for _, protein, text in items], rng=rng))


@dataclass
class PairTrainingData:
    """The pairs as micro-batches: the ``plan`` and, for each rank, its DataLoader (:meth:`loader`)."""

    pairs: PairTable
    dataset: PairDataset
    collate: PairCollate
    plan: MicroBatchPlan
    num_workers: int = 1
    prefetch_factor: int = 4
    seconds: float = 0.0
    #: Run in every DataLoader worker (e.g. to leave stop signals to the main process).
    worker_init: Callable[[], None] | None = None

    def loader(
        self, rank: int, world_size: int, accumulation_steps: int, start_step: int, pin_memory: bool
    ) -> torch.utils.data.DataLoader:
        """The micro-batches of ``rank`` from optimizer step ``start_step`` on."""
        sampler = RankBatchSampler(self.plan, rank, world_size, accumulation_steps, start_step)
        return rank_loader(
            self.dataset,
            sampler,
            self.collate,
            self.num_workers,
            self.prefetch_factor,
            pin_memory,
            self.worker_init,
        )


def prepare_pair_data(
    pairs: PairTable,
    model: ProtCLIPConfig,
    tokenizer: Any,
    seed: int,
    *,
    batch_size: int,
    max_tokens: int | None = None,
    bucket_window: int = 1,
    num_workers: int = 1,
    prefetch_factor: int = 4,
    worker_init: Callable[[], None] | None = None,
) -> PairTrainingData:
    """Plan the micro-batches of ``pairs``: at most ``batch_size`` pairs and, when set, ``max_tokens`` padded
    residues (lengths after the cut to ``model.max_protein_length``), sorted by length within windows of
    ``bucket_window`` pairs (1: random batches, as the seed's sampler), shuffled by ``seed``."""
    t0 = time.perf_counter()
    lengths = np.minimum(pairs.lengths, model.max_protein_length)
    plan = MicroBatchPlan(lengths, batch_size, max_tokens, bucket_window, seed)
    return PairTrainingData(
        pairs=pairs,
        dataset=PairDataset(pairs),
        collate=PairCollate(model, tokenizer, seed),
        plan=plan,
        num_workers=num_workers,
        prefetch_factor=prefetch_factor,
        seconds=time.perf_counter() - t0,
        worker_init=worker_init,
    )
