"""ATOM3D PSR and MSP as fine-tuning data (ESM-GearNet's structure benchmarks; DeepGraphLearning/ESM-GearNet
``gearnet/dataset.py``: ``PSRDataset``, ``MSPDataset``, ``TruncateProteinPair``): the label source
``{type: atom3d, task: psr | msp, root: <split root>}`` (:class:`~prottasks.data.sources.Atom3DLabels`) reads the
LMDB split folders once (:mod:`protdata.atom3d`: structures and labels together; unreadable entries skipped and
counted) into an :class:`Atom3DTable`, and :func:`prepare_atom3d_data` serves its official splits
(``train`` / ``val`` / ``test``; ``data.splits`` files are not used):

* PSR — one decoy per item, target = its ``score`` (seed: ``gdt_ts``), regression; the evaluation splits carry each
  decoy's target id (``groups``) for ATOM3D's per-target correlations (:func:`prottasks.metrics.psr_metrics`).
* MSP — one (wild type, mutant) pair per item as a :class:`PairBatch` (the MSP head's two batches), label 0 / 1; a
  pair longer than ``data.transform.max_length`` keeps the window of that length around its first mutated residue
  (seed: ``TruncateProteinPair(max_length=1000)``, ``start = min(i − L/2, n − L)`` clipped at 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from protdata import Protein, ProteinBatch
from protdata.batching import MicroBatchPlan, RankBatchSampler, estimated_lengths
from protdata.errors import DatasetError
from protdata.loading import MicroBatch, rank_loader
from protdata.transforms import build_transform, inference_transform
from prottasks.data.labelled import (
    LabelledDataset,
    LabelledSplit,
    LabelledTrainingData,
    ProteinPool,
    collate_labelled,
)
from prottasks.data.tables import LabelTable
from prottasks.errors import LabelError

#: ATOM3D split names -> ours (``val`` is the validation split).
SPLITS = ("train", "valid", "test")


@dataclass
class Atom3DTable(LabelTable):
    """A :class:`LabelTable` that also holds the records read (``records[split]``: PSR / MSP records)."""

    task: str = "psr"
    records: dict[str, list[Any]] = field(default_factory=dict)


def atom3d_table(config: Any, root: Path, key: str = "labels") -> Atom3DTable:
    """Read the ATOM3D split under ``root`` (config: :class:`~prottasks.data.sources.Atom3DLabels`).

    Raises:
        DatasetError: no split folders, unreadable LMDBs (:func:`protdata.atom3d.split_dirs`).
        LabelError: an id in two splits, an empty train / valid split.
    """
    from protdata.atom3d import Atom3DDataset, split_dirs

    dirs = split_dirs(root, config.split)
    targets: dict[str, Any] = {}
    splits: dict[str, list[str]] = {}
    records: dict[str, list[Any]] = {}
    report: list[str] = []
    for split, path in dirs.items():
        read, skipped = Atom3DDataset(path, config.task).records()
        kept = []
        for rec in read:
            if config.task == "psr":
                if config.score not in rec.scores:
                    skipped.append(
                        f"{rec.protein.source}: no score {config.score!r} (has {', '.join(rec.scores)})"
                    )
                    continue
                pid, value = rec.protein.id, rec.scores[config.score]
            else:
                pid, value = rec.id, rec.label
            if pid in targets:
                raise LabelError(f"{key}.root: {path}", f"entry {pid!r} is in two splits (or twice)")
            targets[pid] = value
            kept.append(rec)
        if skipped:
            report.append(f"{split}: {len(skipped)} ATOM3D entries left out (first: {skipped[0]})")
        splits[split] = [r.protein.id if config.task == "psr" else r.id for r in kept]
        records[split] = kept
    for split in ("train", "valid"):
        if not splits.get(split):
            raise LabelError(f"{key}.root: {root}", f"the ATOM3D {split} split has no usable entry")
    what = f"ATOM3D {config.task.upper()} {root}" + (f" ({config.score})" if config.task == "psr" else "")
    return Atom3DTable(
        kind="regression" if config.task == "psr" else "msp",  # type: ignore[arg-type]
        labels=[],
        targets=targets,
        splits=splits,
        source=what,
        report=report,
        task=config.task,
        records=records,
    )


@dataclass
class PairBatch:
    """A wild-type batch and its mutant batch (the MSP head's two inputs; :meth:`prottasks.TaskModel.forward`
    unpacks ``pair``); behaves as a batch for the trainer (``to``, ``ids``, ``len``, ``num_residues``)."""

    pair: tuple[ProteinBatch, ProteinBatch]

    def to(self, device: Any, non_blocking: bool = False) -> PairBatch:
        return PairBatch(tuple(b.to(device, non_blocking=non_blocking) for b in self.pair))  # type: ignore[arg-type]

    def pin_memory(self) -> PairBatch:
        return PairBatch(tuple(b.pin_memory() for b in self.pair))  # type: ignore[arg-type]

    @property
    def ids(self) -> list[str]:
        return list(self.pair[0].ids)

    @property
    def num_residues(self) -> int:
        return int(sum(b.num_residues for b in self.pair))

    def __len__(self) -> int:
        return len(self.pair[0])


def truncate_pair(
    wild_type: Protein, mutant: Protein, position: int, max_length: int | None
) -> tuple[Protein, Protein]:
    """Both proteins cut to the ``max_length`` window around ``position`` (module docstring; seed
    ``TruncateProteinPair``, ``random=False``)."""
    n = len(wild_type)
    if max_length is None or n <= max_length:
        return wild_type, mutant
    start = max(min(position - max_length // 2, n - max_length), 0)
    window = slice(start, start + max_length)
    return wild_type.select(window), mutant.select(window)


class PairDataset(torch.utils.data.Dataset):
    """``dataset[(k, i)] -> (k, i, (wild type, mutant), label)`` of MSP pairs, truncated (:func:`truncate_pair`)."""

    def __init__(self, records: list[Any], targets: np.ndarray, max_length: int | None) -> None:
        self.records = records
        self.targets = targets
        self.max_length = max_length

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, key: tuple[int, int]) -> tuple[int, int, tuple[Protein, Protein], np.ndarray]:
        k, i = key
        rec = self.records[i]
        pair = truncate_pair(rec.wild_type, rec.mutant, int(rec.positions[0]), self.max_length)
        return k, i, pair, self.targets[i]

    @staticmethod
    def collate(items: list[tuple[int, int, tuple[Protein, Protein], np.ndarray]]) -> MicroBatch:
        """Items of one micro-batch -> ``MicroBatch(k, PairBatch, targets)``."""
        targets = torch.from_numpy(np.stack([t for *_, t in items]))
        wt = ProteinBatch.collate([p[0] for _, _, p, _ in items])
        mt = ProteinBatch.collate([p[1] for _, _, p, _ in items])
        return MicroBatch(items[0][0], PairBatch((wt, mt)), targets)


@dataclass
class Atom3DSplit(LabelledSplit):
    """A split of ATOM3D items; ``groups`` = each PSR decoy's target (the per-target metrics), else ``None``."""

    groups: np.ndarray | None = None


@dataclass
class Atom3DTrainingData(LabelledTrainingData):
    """:class:`LabelledTrainingData` whose loader collates with the dataset's own ``collate`` (MSP pairs)."""

    def loader(
        self, rank: int, world_size: int, accumulation_steps: int, start_step: int, pin_memory: bool
    ) -> torch.utils.data.DataLoader:
        sampler = RankBatchSampler(self.plan, rank, world_size, accumulation_steps, start_step)
        collate = getattr(self.train.dataset, "collate", collate_labelled)
        return rank_loader(
            self.train.dataset,
            sampler,
            collate,
            self.num_workers,
            self.prefetch_factor,
            pin_memory,
            self.worker_init,
        )


def _max_length(transform: Any, key: str) -> int | None:
    if transform is None:
        return None
    if getattr(transform, "type", None) != "truncate":
        raise DatasetError(f"{key}.transform", "MSP pairs take only a truncate transform (or null)")
    return transform.max_length


def prepare_atom3d_data(
    config: Any, table: Atom3DTable, *, encode_3di: bool, seed: int, key: str = "data"
) -> Atom3DTrainingData:
    """The official ATOM3D splits of ``table`` as training data (module docstring).

    Raises:
        DatasetError: SaProt's 3Di input (not computed for ATOM3D), ``data.splits`` files given, a non-truncate
            transform for MSP.
    """
    if encode_3di:
        raise DatasetError(key, "ATOM3D data has no Foldseek 3Di strings (SaProt encoders are not supported)")
    if any(getattr(config.splits, s) for s in ("train", "valid", "test")):
        raise DatasetError(
            f"{key}.splits", "ATOM3D data uses its own split folders: leave the split files unset"
        )
    transform = build_transform(config.transform) if config.transform is not None else None
    eval_config = inference_transform(config.transform)
    eval_transform = build_transform(eval_config) if eval_config is not None else None
    built: dict[str, Atom3DSplit] = {}
    for s in SPLITS:
        records = table.records.get(s, [])
        if not records:
            continue
        ids = table.splits[s] if table.splits else []
        targets = table.encode(ids)
        if table.task == "psr":
            pool = ProteinPool([r.protein for r in records], None)
            split_transform = transform if s == "train" else eval_transform
            lengths = estimated_lengths(pool.lengths, split_transform)
            dataset: Any = LabelledDataset(pool, np.arange(len(records)), targets, split_transform, seed)
            groups = np.array([r.target for r in records])
        else:
            limit = _max_length(config.transform, key)
            lengths = np.array([len(r.wild_type) for r in records], dtype=np.int64)
            lengths = lengths if limit is None else np.minimum(lengths, limit)
            dataset, groups = PairDataset(records, targets, limit), None
        plan = MicroBatchPlan(
            lengths, config.batch_size, config.max_tokens, config.bucket_window, seed, shuffle=s == "train"
        )
        built[s] = Atom3DSplit(s, list(ids), targets, dataset, plan, groups)
    report = {"labels": list(table.report), "summary": ", ".join(f"{s} {len(v)}" for s, v in built.items())}
    return Atom3DTrainingData(
        train=built["train"],
        evaluation={s: built[s] for s in ("valid", "test") if s in built},
        table=table,
        report=report,
        cached=False,
        num_workers=config.num_workers,
        prefetch_factor=config.prefetch_factor,
    )
