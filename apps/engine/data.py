"""Training data of the pretraining app: the structure cache of ``data.sources`` and its micro-batch plan
(:class:`protdata.loading.TrainingData`).

The library parts live in protdata: :mod:`protdata.structure_cache` (structures parsed once, safetensors on
disk), :mod:`protdata.batching` (length-bucketed / token-budget micro-batches, each rank's share) and
:mod:`protdata.loading` (the seeded dataset over the cache, its DataLoader).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import DataError
from engine.stopping import ignore_stop_signals
from protdata.batching import MicroBatchPlan, estimated_length
from protdata.errors import ProtdataError
from protdata.loading import PackedDataset, TrainingData
from protdata.structure_cache import build_structure_cache
from protdata.transforms import build_transform


def prepare_training_data(
    config: Any, cache_dir: Path | None, seed: int, sources: Sequence[Path], *, encode_3di: bool = False
) -> TrainingData:
    """Cache (or reuse) the structures of ``config`` (a :class:`~engine.config.DataConfig`) and plan batches
    (``encode_3di``: store Foldseek 3Di strings, for SaProt encoders).

    Raises:
        DataError: the sources are missing or hold no usable protein (the message names ``data.sources``).
    """
    t0 = time.perf_counter()
    try:
        packed, report, cached = build_structure_cache(
            sources,
            cache_dir,
            min_length=config.min_length,
            parse_workers=config.parse_workers,
            encode_3di=encode_3di,
            key="data.sources",
        )
    except ProtdataError as exc:  # rank 0's DataError reaches every rank (engine.app.main_rank_first)
        raise DataError(str(exc)) from None
    transform = build_transform(config.transform) if config.transform is not None else None
    lengths = np.array([estimated_length(int(n), transform) for n in packed.lengths], dtype=np.int64)
    plan = MicroBatchPlan(lengths, config.batch_size, config.max_tokens, config.bucket_window, seed)
    return TrainingData(
        packed=packed,
        dataset=PackedDataset(packed, transform, seed),
        plan=plan,
        report=report,
        cached=cached,
        num_workers=config.num_workers,
        prefetch_factor=config.prefetch_factor,
        seconds=time.perf_counter() - t0,
        worker_init=ignore_stop_signals,  # the main process finishes its step and checkpoints (engine.stopping)
    )
