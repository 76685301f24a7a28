"""Labelled data for fine-tuning: proteins (sequences or structures) joined with a :class:`~engine.labels.LabelTable`,
split into train / valid / test, and served as micro-batches with targets.

Inputs: FASTA files (``data.sequences``; sequence-only proteins), structure files / directories / globs / tar archives
(``data.structures``; parsed once into the preprocessed cache of :mod:`engine.cache`, with Foldseek 3Di strings for
SaProt) and a table's own sequence column. A label id finds its protein by exact id, else by its PDB chain key
(``1ABC-A`` ↔ ``1abc_A``, the structure loader's ``<file stem>_<chain>``).

Splits: the files of ``data.splits.{train,valid,test}`` (one id per line), else the benchmark's official split, else
a seeded random split of the labelled proteins (``valid_fraction``, ``test_fraction``). Labelled proteins without an
input, and inputs without a label, are counted in the data report (never silently dropped); an empty train or
validation split is an error naming it.

Training micro-batches follow :mod:`engine.batching` (length buckets, token budget, each rank's share, exact resume)
and get the training transform (``data.transform``); the evaluation splits get its deterministic part
(:func:`inference_transform`: the truncation, prefix kept — what ``apps/predict.py`` applies too) and run in file
order, length-bucketed, each rank a share of the batches (:func:`eval_batches`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import Field

from engine.batching import MicroBatchPlan, RankBatchSampler, estimated_length
from engine.cache import PackedProteins, build_structure_cache
from engine.config import Section
from engine.data import MicroBatch, item_seed, rank_loader
from engine.errors import DataError
from engine.labels import LabelsConfig, LabelTable
from protdata import Protein, ProteinBatch
from protdata.transforms import TruncateProteinConfig, build_transform
from protdata.transforms.compose import AnyTransformConfig, ComposeConfig

SPLITS = ("train", "valid", "test")
#: Micro-batch key of evaluation items (their crops, if any, are drawn from a generator seeded with it).
EVAL_KEY = 1 << 40


class SplitConfig(Section):
    """Which proteins train, select and test (module docstring)."""

    train: str | None = None  # file of ids, one per line (None: official split, else the rest)
    valid: str | None = None
    test: str | None = None
    valid_fraction: float = Field(0.1, ge=0, lt=1)  # random split when no file / official split names valid
    test_fraction: float = Field(0.0, ge=0, lt=1)
    seed: int = Field(0, ge=0)


class FinetuneDataConfig(Section):
    """Labelled proteins in, micro-batches with targets out."""

    labels: LabelsConfig
    #: FASTA files (sequence-only proteins; ids = first word of the header).
    sequences: list[str] = Field(default_factory=list)
    #: Structure files, directories, globs or tar archives (ids = ``<file stem>_<chain>``).
    structures: list[str] = Field(default_factory=list)
    splits: SplitConfig = Field(default_factory=SplitConfig)
    #: Per-protein transform (ESM-GearNet EC/GO: TruncateProtein max_length 550, prefix kept).
    transform: AnyTransformConfig | None = Field(
        default_factory=lambda: TruncateProteinConfig(max_length=550)
    )
    min_length: int = Field(1, ge=1)
    batch_size: int = Field(2, ge=1)  # seed: 2 per GPU × 4 GPUs
    max_tokens: int | None = Field(None, ge=1)
    bucket_window: int = Field(100, ge=1)
    num_workers: int = Field(0, ge=0)
    prefetch_factor: int = Field(4, ge=1)
    parse_workers: int = Field(1, ge=1)
    cache_dir: str | None = None


# ------------------------------------------------------------------------------------------------- pool
_PDB_CHAIN = re.compile(r"^([0-9][A-Za-z0-9]{3})([A-Za-z0-9]{0,4})[-_.]([A-Za-z0-9]+)$")


def chain_key(pid: str) -> str:
    """The DeepFRI / TorchDrug chain key of a protein id: ``1abc_A`` / ``1ABC-A`` / ``1abc.A`` -> ``1ABC-A`` (PDB id
    upper case, chain as is); a file named for its chain (``1abcA.pdb`` -> structure id ``1abcA_A``) -> ``1ABC-A``.
    Other ids are returned unchanged."""
    m = _PDB_CHAIN.match(pid)
    if m is None or (m.group(2) and m.group(2) != m.group(3)):
        return pid
    return f"{m.group(1).upper()}-{m.group(3)}"


def inference_transform(config: Any) -> Any:
    """The transform evaluation and prediction apply: the deterministic part of the training transform ``config``
    — a truncation keeps its length but always the prefix (TorchDrug ``TruncateProtein``, the EC/GO seeds'
    ``max_length 550``; ESM-2's 1,022-residue window) — while random crops, noise and masking (training
    augmentation) are left out. ``None`` when nothing is left."""
    lengths = list(_truncations(config))
    return TruncateProteinConfig(max_length=min(lengths), random=False) if lengths else None


def _truncations(config: Any) -> Iterator[int]:
    if isinstance(config, ComposeConfig):
        for part in config.transforms:
            yield from _truncations(part)
    elif isinstance(config, TruncateProteinConfig):
        yield config.max_length


class ProteinPool:
    """The proteins available to the task: sequence-only ones (a list) and structures (the packed cache).
    ``ref < len(sequences)`` names a sequence, larger refs a packed structure."""

    def __init__(self, sequences: Sequence[Protein], packed: PackedProteins | None) -> None:
        self.sequences = list(sequences)
        self.packed = packed
        n = len(self.sequences)
        self.ids = [p.id for p in self.sequences] + (list(packed.ids) if packed is not None else [])
        lengths = [len(p) for p in self.sequences]
        if packed is not None:
            lengths += packed.lengths.tolist()
        self.lengths = np.array(lengths, dtype=np.int64)
        self._n = n

    def __len__(self) -> int:
        return len(self.ids)

    def protein(self, ref: int) -> Protein:
        if ref < self._n:
            return self.sequences[ref]
        assert self.packed is not None
        return self.packed.protein(ref - self._n)

    def lookup(self) -> dict[str, int]:
        """Id (and PDB chain key) -> ref; a structure wins over a sequence of the same id."""
        out: dict[str, int] = {}
        keyed: dict[str, list[int]] = {}
        for ref, pid in enumerate(self.ids):
            out[pid] = ref  # later (structures) override earlier (sequences)
            keyed.setdefault(chain_key(pid), []).append(ref)
        for key, refs in keyed.items():
            distinct = {self.ids[r] for r in refs}
            if key not in out and len(distinct) == 1:
                out[key] = refs[-1]
        return out


# --------------------------------------------------------------------------------------------- targets
def encode_targets(table: LabelTable, ids: Sequence[str]) -> np.ndarray:
    """Targets of ``ids``: ``(N, C)`` float32 k-hot, ``(N,)`` int64 class ids or ``(N,)`` float32 values.
    Labels outside the vocabulary are left out of a row (a multi-label row may end empty)."""
    if table.kind == "regression":
        return np.array([table.targets[i] for i in ids], dtype=np.float32)
    index = {label: j for j, label in enumerate(table.labels)}
    if table.kind == "single_label":
        out = np.empty(len(ids), dtype=np.int64)
        for k, pid in enumerate(ids):
            label = table.targets[pid]
            if label not in index:
                raise DataError(
                    f"{table.source}: protein {pid}: class {label!r} is not one of {table.labels[:10]}"
                )
            out[k] = index[label]
        return out
    matrix = np.zeros((len(ids), len(table.labels)), dtype=np.float32)
    for k, pid in enumerate(ids):
        for label in table.targets[pid]:
            j = index.get(label)
            if j is not None:
                matrix[k, j] = 1.0
    return matrix


# ----------------------------------------------------------------------------------------------- sets
class LabelledDataset(torch.utils.data.Dataset):
    """``dataset[(k, i)] -> (k, i, protein after the transform, target)``: item ``i`` of a split."""

    def __init__(
        self, pool: ProteinPool, refs: np.ndarray, targets: np.ndarray, transform: Any, seed: int
    ) -> None:
        self.pool = pool
        self.refs = refs
        self.targets = targets
        self.transform = transform
        self.seed = seed

    def __len__(self) -> int:
        return len(self.refs)

    def __getitem__(self, key: tuple[int, int]) -> tuple[int, int, Protein, np.ndarray]:
        k, i = key
        protein = self.pool.protein(int(self.refs[i]))
        if self.transform is not None:
            protein = self.transform(protein, item_seed(self.seed, k, i))
        return k, i, protein, self.targets[i]


def collate_labelled(items: list[tuple[int, int, Protein, np.ndarray]]) -> MicroBatch:
    targets = torch.from_numpy(np.stack([t for _, _, _, t in items]))
    return MicroBatch(items[0][0], ProteinBatch.collate([p for _, _, p, _ in items]), targets)


@dataclass
class LabelledSplit:
    """One split: protein ids, their targets, the dataset over them and its batch plan."""

    name: str
    ids: list[str]
    targets: np.ndarray
    dataset: LabelledDataset
    plan: MicroBatchPlan

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def num_residues(self) -> int:
        return int(self.dataset.pool.lengths[self.dataset.refs].sum())


@dataclass
class LabelledTrainingData:
    """The training split in the shape :class:`~engine.trainer.Trainer` expects (``plan``, ``loader``), plus the
    evaluation splits."""

    train: LabelledSplit
    evaluation: dict[str, LabelledSplit]
    table: LabelTable
    report: dict[str, Any]
    cached: bool
    num_workers: int = 0
    prefetch_factor: int = 4
    seconds: float = 0.0

    @property
    def plan(self) -> MicroBatchPlan:
        return self.train.plan

    def loader(
        self, rank: int, world_size: int, accumulation_steps: int, start_step: int, pin_memory: bool
    ) -> torch.utils.data.DataLoader:
        sampler = RankBatchSampler(self.plan, rank, world_size, accumulation_steps, start_step)
        return rank_loader(
            self.train.dataset, sampler, collate_labelled, self.num_workers, self.prefetch_factor, pin_memory
        )


def eval_batches(split: LabelledSplit, rank: int, world_size: int) -> list[tuple[np.ndarray, MicroBatch]]:
    """Rank ``rank``'s share of a split's evaluation batches (file order, length-bucketed): batches ``rank``,
    ``rank + W``, …; every rank gets the same number of batches (a rank short of one repeats its first, flagged by
    an empty index array) so that ZeRO-3's collectives stay matched."""
    batches = split.plan.epoch(0)
    per_rank = -(-len(batches) // world_size)
    out = []
    for j in range(per_rank):
        b = j * world_size + rank
        indices = batches[b] if b < len(batches) else batches[0]
        items = [split.dataset[(EVAL_KEY, int(i))] for i in indices]
        micro = collate_labelled(items)
        out.append((indices if b < len(batches) else np.zeros(0, dtype=np.int64), micro))
    return out


# ---------------------------------------------------------------------------------------------- build
def _read_id_file(path: Path, key: str) -> list[str]:
    if not path.is_file():
        raise DataError(f"{key}: {path}: no such file")
    ids = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            ids.append(line.split()[0].split(",")[0])
    if not ids:
        raise DataError(f"{key}: {path}: no ids in the file")
    return ids


def _read_sequences(paths: Sequence[Path]) -> list[Protein]:
    from protdata import read_fasta

    proteins: list[Protein] = []
    seen: dict[str, Path] = {}
    for path in paths:
        if not path.is_file():
            raise DataError(f"data.sequences: {path}: no such file")
        for p in read_fasta(path):
            if p.id in seen:
                raise DataError(f"data.sequences: protein {p.id!r} is in both {seen[p.id]} and {path}")
            seen[p.id] = path
            proteins.append(p)
    return proteins


def assign_splits(
    table: LabelTable, config: SplitConfig, available: set[str], resolve: Any
) -> tuple[dict[str, list[str]], list[str]]:
    """``{split: ids}`` (module docstring) and report lines. ``available`` = labelled ids that have an input."""
    report: list[str] = []
    explicit = {s: getattr(config, s) for s in SPLITS}
    splits: dict[str, list[str]] = {}
    for s, path in explicit.items():
        if path is not None:
            splits[s] = _read_id_file(resolve(path, f"data.splits.{s}"), f"data.splits.{s}")
    if table.splits is not None:
        for s in SPLITS:
            splits.setdefault(s, list(table.splits[s]))
    taken = {i for ids in splits.values() for i in ids}
    rest = [i for i in table.targets if i not in taken and i in available]
    missing_splits = [s for s in SPLITS if s not in splits]
    if missing_splits:
        rng = np.random.default_rng(config.seed)
        order = [rest[k] for k in rng.permutation(len(rest))]
        n = len(order)
        n_test = round(config.test_fraction * n) if "test" in missing_splits else 0
        n_valid = round(config.valid_fraction * n) if "valid" in missing_splits else 0
        if "valid" in missing_splits and config.valid_fraction > 0:
            n_valid = max(n_valid, 1)
        cut = {
            "test": order[:n_test],
            "valid": order[n_test : n_test + n_valid],
            "train": order[n_test + n_valid :],
        }
        for s in missing_splits:
            splits[s] = cut[s]
        report.append(
            f"random split (seed {config.seed}) of {n} proteins: "
            + ", ".join(f"{s} {len(splits[s])}" for s in missing_splits)
        )
    owner: dict[str, str] = {}
    for s in SPLITS:
        for pid in splits[s]:
            if pid in owner and owner[pid] != s:
                raise DataError(f"data.splits: protein {pid} is in both the {owner[pid]} and the {s} split")
            owner[pid] = s
    return splits, report


def prepare_labelled_data(
    config: FinetuneDataConfig,
    table: LabelTable,
    *,
    needs_structures: bool,
    encode_3di: bool,
    cache_dir: Path | None,
    seed: int,
    resolve: Any,
) -> LabelledTrainingData:
    """Join inputs and labels, split, plan batches (module docstring).

    Args:
        config: The ``data`` section.
        table: The labels (:func:`engine.labels.read_labels`).
        needs_structures: The encoder reads coordinates (sequence-only proteins are not usable).
        encode_3di: Compute Foldseek 3Di strings for structures (SaProt).
        cache_dir: Where the structure cache lives.
        seed: The run's seed (crops of training items).
        resolve: ``resolve(path, key) -> Path`` (expands variables, names the key on failure).

    Raises:
        DataError: missing files, an empty split, a structure encoder without structures (names what and where).
    """
    t0 = time.perf_counter()
    if needs_structures and not config.structures:
        raise DataError(
            "data.structures: the encoder reads 3D structures, but no structure files are given "
            "(sequence-only inputs suit esm2 / saprot encoders)"
        )
    sequences = _read_sequences([resolve(p, "data.sequences") for p in config.sequences])
    for pid, seq in table.sequences.items():
        sequences.append(Protein.from_sequence(pid, seq, source=table.source))
    dropped_sequences = len(sequences) if needs_structures else 0
    if needs_structures:
        sequences = []
    packed, cached, structure_report = None, False, None
    if config.structures:
        sources = [resolve(p, "data.structures") for p in config.structures]
        try:
            packed, structure_report, cached = build_structure_cache(
                sources,
                cache_dir,
                min_length=config.min_length,
                parse_workers=config.parse_workers,
                encode_3di=encode_3di,
            )
        except DataError as exc:  # the cache names the pretraining key; this app's key is data.structures
            raise DataError(re.sub(r"^data\.sources:", "data.structures:", str(exc))) from None
    short = [p.id for p in sequences if len(p) < config.min_length]
    sequences = [p for p in sequences if len(p) >= config.min_length]
    pool = ProteinPool(sequences, packed)
    if len(pool) == 0:
        raise DataError(
            "data: no protein to train on (give data.sequences, data.structures or a sequence column)"
        )
    lookup = pool.lookup()

    def ref_of(pid: str) -> int | None:
        ref = lookup.get(pid)
        return ref if ref is not None else lookup.get(chain_key(pid))

    available = {pid for pid in table.targets if ref_of(pid) is not None}
    splits, split_report = assign_splits(table, config.splits, available, resolve)
    transform = build_transform(config.transform) if config.transform is not None else None
    eval_config = inference_transform(config.transform)
    eval_transform = build_transform(eval_config) if eval_config is not None else None
    report: dict[str, Any] = {"labels": table.report + split_report}
    if short:
        report["labels"].append(
            f"{len(short)} sequences shorter than data.min_length={config.min_length} left out (e.g. {short[0]})"
        )
    if dropped_sequences:
        report["labels"].append(
            f"{dropped_sequences} sequence-only proteins left out (the encoder reads 3D structures)"
        )
    if structure_report is not None:
        report["structures"] = structure_report["summary"]
        report["skipped"] = structure_report["skipped"]
    built: dict[str, LabelledSplit] = {}
    counts = []
    for s in SPLITS:
        ids = [pid for pid in splits[s] if pid in table.targets and ref_of(pid) is not None]
        unlabelled = [pid for pid in splits[s] if pid not in table.targets]
        no_input = [pid for pid in splits[s] if pid in table.targets and ref_of(pid) is None]
        if unlabelled:
            report["labels"].append(
                f"{s}: {len(unlabelled)} ids without a label left out (e.g. {unlabelled[0]})"
            )
        if no_input:
            report["labels"].append(
                f"{s}: {len(no_input)} labelled proteins without a sequence or structure left out (e.g. {no_input[0]})"
            )
        if not ids:
            if s == "test":
                continue
            raise DataError(
                f"data: the {s} split has no protein with both a label and an input ({len(splits[s])} ids, "
                f"{len(no_input)} without a sequence or structure, {len(unlabelled)} without a label)"
            )
        refs = np.array([ref_of(pid) for pid in ids], dtype=np.int64)
        targets = encode_targets(table, ids)
        split_transform = transform if s == "train" else eval_transform
        lengths = np.array(
            [estimated_length(int(n), split_transform) for n in pool.lengths[refs]], dtype=np.int64
        )
        plan = MicroBatchPlan(
            lengths, config.batch_size, config.max_tokens, config.bucket_window, seed, shuffle=s == "train"
        )
        dataset = LabelledDataset(pool, refs, targets, split_transform, seed)
        built[s] = LabelledSplit(s, ids, targets, dataset, plan)
        counts.append(f"{s} {len(ids)}")
    used = {int(r) for split in built.values() for r in split.dataset.refs}
    unused = [pool.ids[r] for r in range(len(pool)) if r not in used]
    if unused:
        report["labels"].append(f"{len(unused)} inputs in no split or without a label (e.g. {unused[0]})")
    report["summary"] = ", ".join(counts)
    return LabelledTrainingData(
        train=built["train"],
        evaluation={s: built[s] for s in ("valid", "test") if s in built},
        table=table,
        report=report,
        cached=cached,
        num_workers=config.num_workers,
        prefetch_factor=config.prefetch_factor,
        seconds=time.perf_counter() - t0,
    )
