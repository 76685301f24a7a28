"""Deterministic torch data loading over any protein store.

A *protein store* (:class:`ProteinStore`) is anything with ``len(store)``, ``store[i] -> Protein`` and
``store.lengths`` (``(P,)`` residues per protein, read without decoding a protein): the in-memory
:class:`~protdata.packed.PackedProteins` of a structure cache, or the memory-mapped dataset of
``protdata.open_dataset``. Nothing here reads more of a store than ``lengths`` to plan, and one protein per item.

* :class:`ProteinDataset` — ``dataset[(k, index)]`` is protein ``index`` after the transform (e.g. a crop), drawn
  from a generator seeded by ``(seed, k, index)`` (:func:`item_seed`): the same crop in any worker, on any rank,
  after any resume.
* :class:`ProteinSubset` — a store restricted to some of its proteins (e.g. those of at least ``min_length``).
* :class:`MicroBatch` / :func:`collate_micro_batch` — a collated micro-batch that keeps its global index ``k``.
* :func:`rank_loader` — the DataLoader of one rank's micro-batches (a :class:`~protdata.batching.RankBatchSampler`).
* :class:`TrainingData` — a protein store, its dataset and micro-batch plan: ``loader(rank, …)`` per rank.
* :func:`prepare_training_data` — the :class:`TrainingData` of a preprocessed dataset (:func:`open_training_dataset`)
  or of structure files parsed once into the structure cache (:mod:`protdata.structure_cache`);
  :func:`training_data_fingerprint` identifies either without reading a protein.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

from protdata.batch import ProteinBatch
from protdata.batching import MicroBatchPlan, RankBatchSampler, estimated_lengths
from protdata.errors import DatasetError
from protdata.protein import Protein

__all__ = [
    "MicroBatch",
    "PackedDataset",
    "ProteinDataset",
    "ProteinStore",
    "ProteinSubset",
    "TrainingData",
    "collate_micro_batch",
    "item_seed",
    "open_training_dataset",
    "prepare_training_data",
    "rank_loader",
    "training_data_fingerprint",
]


@runtime_checkable
class ProteinStore(Protocol):
    """What training reads of a dataset: its size, one protein at a time, and every protein's length without
    decoding any (:class:`~protdata.packed.PackedProteins`, ``protdata.open_dataset``'s dataset)."""

    def __len__(self) -> int: ...

    def __getitem__(self, i: int) -> Protein: ...

    @property
    def lengths(self) -> np.ndarray: ...


class ProteinSubset:
    """``store`` restricted to the proteins ``indices`` (in that order): ``subset[j]`` is ``store[indices[j]]``.

    Picklable as cheaply as ``store`` (plus the ``(P',)`` int64 indices).
    """

    def __init__(self, store: ProteinStore, indices: np.ndarray) -> None:
        self.store = store
        self.indices = np.asarray(indices, dtype=np.int64)

    def __len__(self) -> int:
        return int(self.indices.size)

    def __getitem__(self, i: int) -> Protein:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"protein index {i} out of range for {n} proteins")
        return self.store[int(self.indices[i])]

    @property
    def lengths(self) -> np.ndarray:
        """``(P',)`` residues per protein of the subset."""
        return np.asarray(self.store.lengths, dtype=np.int64)[self.indices]

    @property
    def ids(self) -> list[str]:
        """The subset's protein ids (needs ``store.ids``)."""
        ids: Sequence[str] = self.store.ids  # type: ignore[attr-defined]
        return [ids[int(i)] for i in self.indices]


def item_seed(seed: int, k: int, index: int) -> np.random.Generator:
    """The generator of protein ``index`` in micro-batch ``k`` of a run seeded with ``seed``."""
    return np.random.default_rng([seed, k, index])


class ProteinDataset(torch.utils.data.Dataset):
    """``dataset[(k, index)] -> (k, protein)``: protein ``index`` of ``store`` after ``transform(protein, rng)``
    with ``rng = item_seed(seed, k, index)`` (no transform: the protein as stored).

    Pickled to DataLoader workers with its store: a memory-mapped store pickles its path, not its arrays.
    """

    def __init__(self, store: ProteinStore, transform: Callable[..., Protein] | None, seed: int) -> None:
        self.store = store
        self.transform = transform
        self.seed = seed

    @property
    def packed(self) -> ProteinStore:
        """The store (its name when only :class:`~protdata.packed.PackedProteins` could be one)."""
        return self.store

    def __len__(self) -> int:
        return len(self.store)

    def __getitem__(self, key: tuple[int, int]) -> tuple[int, Protein]:
        k, index = key
        protein = self.store[index]
        if self.transform is not None:
            protein = self.transform(protein, item_seed(self.seed, k, index))
        return k, protein


#: The name of :class:`ProteinDataset` when it read :class:`~protdata.packed.PackedProteins` only.
PackedDataset = ProteinDataset


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
    """What a training loop needs: a protein store, its dataset, the micro-batch plan, and a DataLoader per rank
    (:meth:`loader`); ``report`` / ``cached`` / ``seconds`` describe how the data was prepared, ``facts`` what a
    checkpoint records so that a resumed run can be refused on other data (e.g. the dataset's fingerprint and the
    plan's parameters)."""

    store: ProteinStore
    dataset: ProteinDataset
    plan: MicroBatchPlan
    report: dict[str, Any] = field(default_factory=dict)
    cached: bool = False
    num_workers: int = 0
    prefetch_factor: int = 4
    seconds: float = 0.0
    #: Runs in every DataLoader worker (see :func:`rank_loader`).
    worker_init: Callable[[], None] | None = None
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def packed(self) -> ProteinStore:
        """The store (its name when only :class:`~protdata.packed.PackedProteins` could be one)."""
        return self.store

    @property
    def num_residues(self) -> int:
        """Residues of every protein in the store (from ``lengths``: nothing is decoded)."""
        return int(np.asarray(self.store.lengths, dtype=np.int64).sum())

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


def open_training_dataset(path: str | os.PathLike[str], *, encode_3di: bool = False) -> Any:
    """``protdata.open_dataset(path)`` (the manifest is read, the shards are mapped lazily): a rank reads the
    proteins of its micro-batches only, its memory does not grow with the dataset.

    Raises:
        DatasetError: ``path`` is missing or not a readable dataset, or ``encode_3di`` and it holds no Foldseek 3Di
            strings (SaProt reads them).
    """
    from protdata.dataset import open_dataset

    path = Path(path)
    if not path.exists():
        raise DatasetError(path, "no such dataset directory")
    try:
        dataset = open_dataset(path)
    except OSError as exc:
        raise DatasetError(path, str(exc)) from None
    manifest = getattr(dataset, "manifest", None) or {}
    options = manifest.get("options", manifest) if isinstance(manifest, dict) else {}
    if encode_3di and not any(options.get(k) for k in ("3di", "encode_3di", "structure_tokens")):
        raise DatasetError(
            path, "no Foldseek 3Di strings, which this encoder reads (SaProt): preprocess it with --3di"
        )
    return dataset


def training_data_fingerprint(
    *,
    dataset: str | os.PathLike[str] | None = None,
    sources: Sequence[str | os.PathLike[str]] = (),
    min_length: int = 1,
    encode_3di: bool = False,
    key: str = "sources",
) -> str:
    """What identifies the training data, without reading a protein: ``dataset``'s content fingerprint, or else
    the structure cache key of ``sources`` (their paths, sizes, modification times and the loading options).

    Raises:
        DatasetError: a missing / unreadable input (:func:`open_training_dataset`, ``structure_cache_key``).
    """
    from protdata.structure_cache import structure_cache_key

    if dataset is not None:
        return str(open_training_dataset(dataset, encode_3di=encode_3di).fingerprint)
    return structure_cache_key(sources, min_length=min_length, encode_3di=encode_3di, key=key)


def prepare_training_data(
    *,
    seed: int,
    dataset: str | os.PathLike[str] | None = None,
    sources: Sequence[str | os.PathLike[str]] = (),
    cache_dir: str | os.PathLike[str] | None = None,
    min_length: int = 1,
    batch_size: int = 8,
    max_tokens: int | None = None,
    bucket_window: int = 64,
    transform: Any = None,
    parse_workers: int = 1,
    num_workers: int = 0,
    prefetch_factor: int = 4,
    encode_3di: bool = False,
    worker_init: Callable[[], None] | None = None,
    key: str = "sources",
) -> TrainingData:
    """The protein store of ``dataset`` (proteins shorter than ``min_length`` left out) or of ``sources`` (cached,
    or reused, under ``cache_dir``; ``key`` names them in errors), its seeded dataset (``transform``: a
    :func:`protdata.transforms.build_transform` config) and its micro-batch plan (:mod:`protdata.batching`).
    ``facts`` holds the data's fingerprint and the plan's parameters (what a resumed run must keep).

    Raises:
        DatasetError: the input is missing or holds no usable protein.
    """
    from protdata.structure_cache import build_structure_cache, structure_cache_key
    from protdata.transforms import build_transform

    t0 = time.perf_counter()
    if dataset is not None:
        store: Any = open_training_dataset(dataset, encode_3di=encode_3di)
        fingerprint = str(store.fingerprint)
        lengths = np.asarray(store.lengths, dtype=np.int64)  # (P,)
        keep = np.flatnonzero(lengths >= min_length)
        report: dict[str, Any] = {
            "summary": f"{len(store)} proteins in {dataset}",
            "too_short": int(lengths.size - keep.size),
        }
        if keep.size < lengths.size:
            report["summary"] += f", {lengths.size - keep.size} shorter than min_length={min_length}"
            if keep.size == 0:
                raise DatasetError(dataset, f"no protein of at least min_length={min_length}")
            store = ProteinSubset(store, keep)
        cached = True
    else:
        fingerprint = structure_cache_key(sources, min_length=min_length, encode_3di=encode_3di, key=key)
        store, report, cached = build_structure_cache(
            sources,
            cache_dir,
            min_length=min_length,
            parse_workers=parse_workers,
            encode_3di=encode_3di,
            key=key,
        )
    fn = build_transform(transform) if transform is not None else None
    plan = MicroBatchPlan(estimated_lengths(store.lengths, fn), batch_size, max_tokens, bucket_window, seed)
    facts = {"fingerprint": fingerprint, "min_length": min_length, "batch_size": batch_size}
    return TrainingData(
        store=store,
        dataset=ProteinDataset(store, fn, seed),
        plan=plan,
        report=report,
        cached=cached,
        num_workers=num_workers,
        prefetch_factor=prefetch_factor,
        seconds=time.perf_counter() - t0,
        worker_init=worker_init,
        facts=facts | {"max_tokens": max_tokens, "bucket_window": bucket_window},
    )
