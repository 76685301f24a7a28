"""Labelled data for fine-tuning: proteins (sequences or structures) joined with a
:class:`~prottasks.data.tables.LabelTable`, split into train / valid / test (:mod:`prottasks.data.splits`), and
served as micro-batches with targets.

Inputs: FASTA files (``sequences``; sequence-only proteins), structure files / directories / globs / tar archives
(``structures``; parsed once into the cache of :func:`protdata.structure_cache.build_structure_cache`, with
Foldseek 3Di strings for SaProt) or a preprocessed dataset (``dataset``: :func:`protdata.open_dataset`,
memory-mapped) and a table's own sequence column. A label id finds its protein by exact id, else
by its PDB chain key (``1ABC-A`` ↔ ``1abc_A``, the structure loader's ``<file stem>_<chain>``). Labelled proteins
without an input, and inputs without a label, are counted in the data report (never silently dropped); an empty
train or validation split is an error naming it.

Training micro-batches follow :mod:`protdata.batching` (length buckets, token budget, each rank's share, exact
resume) and get the training transform; the evaluation splits get its deterministic part
(:func:`protdata.transforms.inference_transform`: the truncation, prefix kept — what prediction applies too) and
run in file order, length-bucketed, each rank a share of the batches (:func:`eval_batches`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from protdata import Protein, ProteinBatch
from protdata.batching import MicroBatchPlan, RankBatchSampler, estimated_lengths
from protdata.errors import DatasetError
from protdata.loading import MicroBatch, ProteinStore, ProteinSubset, item_seed, rank_loader
from protdata.transforms import build_transform, inference_transform
from prottasks.data.splits import SPLITS, LabelledDataConfig, assign_splits, chain_key
from prottasks.data.tables import LabelTable

#: Micro-batch key of evaluation items (their crops, if any, are drawn from a generator seeded with it).
EVAL_KEY = 1 << 40


class ProteinPool:
    """The proteins available to the task: sequence-only ones (a list) and structures (a protein store: the
    packed cache, or a preprocessed dataset). ``ref < len(sequences)`` names a sequence, larger refs a structure."""

    def __init__(self, sequences: Sequence[Protein], packed: ProteinStore | None) -> None:
        self.sequences = list(sequences)
        self.packed = packed
        self.ids = [p.id for p in self.sequences] + (list(packed.ids) if packed is not None else [])  # type: ignore[attr-defined]
        lengths = [len(p) for p in self.sequences] + (packed.lengths.tolist() if packed is not None else [])
        self.lengths = np.array(lengths, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.ids)

    def protein(self, ref: int) -> Protein:
        """The protein of ``ref``."""
        n = len(self.sequences)
        if ref < n:
            return self.sequences[ref]
        assert self.packed is not None
        return self.packed[ref - n]

    def lookup(self) -> Callable[[str], int | None]:
        """``ref_of(id)``: the ref of an id, else of its PDB chain key (a key several ids share finds none); a
        structure wins over a sequence of the same id."""
        out: dict[str, int] = {}
        keyed: dict[str, list[int]] = {}
        for ref, pid in enumerate(self.ids):
            out[pid] = ref  # later (structures) override earlier (sequences)
            keyed.setdefault(chain_key(pid), []).append(ref)
        for key, refs in keyed.items():
            if key not in out and len({self.ids[r] for r in refs}) == 1:
                out[key] = refs[-1]
        return lambda pid: out.get(pid, out.get(chain_key(pid)))


class LabelledDataset(torch.utils.data.Dataset):
    """``dataset[(k, i)] -> (k, i, protein after the transform, target)``: item ``i`` of a split, its transform
    drawn from :func:`protdata.loading.item_seed` ``(seed, k, i)``."""

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
    """Items of one micro-batch -> ``MicroBatch(k, ProteinBatch, targets)``."""
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


@dataclass
class LabelledTrainingData:
    """The training split as a trainer takes it (``plan``, ``loader``), plus the evaluation splits."""

    train: LabelledSplit
    evaluation: dict[str, LabelledSplit]
    table: LabelTable
    report: dict[str, Any]
    cached: bool
    num_workers: int = 0
    prefetch_factor: int = 4
    seconds: float = 0.0
    #: Runs in every DataLoader worker (e.g. to leave stop signals to the main process).
    worker_init: Callable[[], None] | None = None

    @property
    def plan(self) -> MicroBatchPlan:
        return self.train.plan

    def loader(
        self, rank: int, world_size: int, accumulation_steps: int, start_step: int, pin_memory: bool
    ) -> torch.utils.data.DataLoader:
        """Rank ``rank``'s DataLoader of training micro-batches from optimizer step ``start_step`` on."""
        sampler = RankBatchSampler(self.plan, rank, world_size, accumulation_steps, start_step)
        return rank_loader(
            self.train.dataset,
            sampler,
            collate_labelled,
            self.num_workers,
            self.prefetch_factor,
            pin_memory,
            self.worker_init,
        )


def eval_batches(split: LabelledSplit, rank: int, world_size: int) -> list[tuple[np.ndarray, MicroBatch]]:
    """Rank ``rank``'s share of a split's evaluation batches (file order, length-bucketed): batches ``rank``,
    ``rank + W``, …; every rank gets the same number of batches (a rank short of one repeats its first, flagged by
    an empty index array) so that collectives (ZeRO-3) stay matched."""
    batches = split.plan.epoch(0)
    out = []
    for j in range(-(-len(batches) // world_size)):
        b = j * world_size + rank
        indices = batches[b] if b < len(batches) else batches[0]
        collate = getattr(split.dataset, "collate", collate_labelled)  # MSP pairs: prottasks.data.atom3d
        micro = collate([split.dataset[(EVAL_KEY, int(i))] for i in indices])
        out.append((indices if b < len(batches) else np.zeros(0, dtype=np.int64), micro))
    return out


def split_outputs(
    forward: Callable[[Any], Any],
    split: LabelledSplit,
    device: Any = "cpu",
    rank: int = 0,
    world_size: int = 1,
) -> np.ndarray:
    """``forward(batch).output`` over every protein of ``split`` (its evaluation batches, :func:`eval_batches`), in
    split order, float64: ``(N, C)`` logits or ``(N,)`` predictions. With ``world_size > 1`` every rank runs its
    share and all ranks get all outputs (``torch.distributed.all_gather_object``)."""
    parts: list[tuple[np.ndarray, np.ndarray]] = []
    for indices, micro in eval_batches(split, rank, world_size):
        output = forward(micro.batch.to(device)).output
        if len(indices):
            parts.append((indices, output.detach().float().cpu().numpy()))
    if world_size > 1:
        gathered: list[Any] = [None] * world_size
        torch.distributed.all_gather_object(gathered, parts)
        parts = [p for rank_parts in gathered for p in rank_parts]
    result = np.zeros((len(split), *parts[0][1].shape[1:]), dtype=np.float64)
    for indices, values in parts:
        result[indices] = values
    return result


def evaluate_splits(
    forward: Callable[[Any], Any],
    splits: dict[str, LabelledSplit],
    kind: str,
    device: Any = "cpu",
    rank: int = 0,
    world_size: int = 1,
) -> dict[str, float]:
    """:func:`prottasks.metrics.task_metrics` of each split's outputs (:func:`split_outputs`) against its targets,
    named ``<split>_<metric>`` (``valid_fmax``, ``test_loss``); the same on every rank."""
    from prottasks.metrics import task_metrics

    if kind == "contact":  # per-residue-pair outputs, scored per protein (prottasks.data.contacts)
        from prottasks.data.contacts import evaluate_contact_splits

        return evaluate_contact_splits(forward, splits, device, rank, world_size)
    metrics: dict[str, float] = {}
    for name, split in splits.items():
        output = split_outputs(forward, split, device, rank, world_size)
        groups = getattr(split, "groups", None)  # ATOM3D PSR: per-target metrics
        values = task_metrics(kind, output, split.targets, groups=groups)
        metrics.update({f"{name}_{k}": v for k, v in values.items()})
    return metrics


def _read_sequences(paths: Sequence[Path], key: str) -> list[Protein]:
    from protdata import read_fasta

    proteins: list[Protein] = []
    seen: dict[str, Path] = {}
    for path in paths:
        if not path.is_file():
            raise DatasetError(f"{key}: {path}", "no such file")
        for p in read_fasta(path):
            if p.id in seen:
                raise DatasetError(key, f"protein {p.id!r} is in both {seen[p.id]} and {path}")
            seen[p.id] = path
            proteins.append(p)
    return proteins


def _pool(
    config: LabelledDataConfig,
    table: LabelTable,
    needs_structures: bool,
    encode_3di: bool,
    cache_dir: Path | None,
    resolve: Callable[[str, str], Path],
    key: str,
) -> tuple[ProteinPool, bool, dict[str, Any] | None, list[str]]:
    """The proteins of the config's inputs, whether the structure cache was reused, its report, report lines."""
    from protdata.structure_cache import build_structure_cache

    if needs_structures and not config.structures and config.dataset is None:
        raise DatasetError(
            f"{key}.structures",
            "the encoder reads 3D structures, but no structure files are given "
            "(sequence-only inputs suit esm2 / saprot encoders)",
        )
    sequences = _read_sequences(
        [resolve(p, f"{key}.sequences") for p in config.sequences], f"{key}.sequences"
    )
    sequences += [
        Protein.from_sequence(pid, seq, source=table.source) for pid, seq in table.sequences.items()
    ]
    lines = []
    if needs_structures and sequences:
        lines.append(f"{len(sequences)} sequence-only proteins left out (the encoder reads 3D structures)")
        sequences = []
    packed: ProteinStore | None = None
    cached, structures = False, None
    if config.dataset is not None:
        packed, structures = _open_dataset(resolve(config.dataset, f"{key}.dataset"), config, encode_3di, key)
        cached = True
    elif config.structures:
        packed, structures, cached = build_structure_cache(
            [resolve(p, f"{key}.structures") for p in config.structures],
            cache_dir,
            min_length=config.min_length,
            parse_workers=config.parse_workers,
            encode_3di=encode_3di,
            key=f"{key}.structures",
        )
    short = [p.id for p in sequences if len(p) < config.min_length]
    if short:
        lines.insert(
            0,
            f"{len(short)} sequences shorter than {key}.min_length={config.min_length} left out (e.g. {short[0]})",
        )
    pool = ProteinPool([p for p in sequences if len(p) >= config.min_length], packed)
    if len(pool) == 0:
        raise DatasetError(
            key, f"no protein to train on (give {key}.sequences, {key}.structures or a sequence column)"
        )
    return pool, cached, structures, lines


def _open_dataset(
    path: Path, config: LabelledDataConfig, encode_3di: bool, key: str
) -> tuple[ProteinStore, dict[str, Any]]:
    """The proteins of the preprocessed dataset ``path`` of at least ``min_length`` residues (lengths only are
    read), and a report like the structure cache's.

    Raises:
        DatasetError: no such dataset, an unreadable one, or no 3Di strings when ``encode_3di`` (names ``key``).
    """
    from protdata.dataset import open_dataset

    if not path.exists():
        raise DatasetError(f"{key}.dataset: {path}", "no such dataset directory")
    try:
        dataset = open_dataset(path)
    except (DatasetError, OSError) as exc:
        raise DatasetError(f"{key}.dataset", str(exc)) from None
    if encode_3di and not dataset.manifest.get("options", {}).get("encode_3di"):
        raise DatasetError(
            f"{key}.dataset: {path}",
            "holds no Foldseek 3Di strings, which SaProt reads: preprocess it with --3di",
        )
    lengths = dataset.lengths
    keep = np.flatnonzero(lengths >= config.min_length)
    store: ProteinStore = dataset if keep.size == lengths.size else ProteinSubset(dataset, keep)
    summary = f"{len(store)} proteins of {len(dataset)} in dataset {path}"
    return store, {"summary": summary, "skipped": [], "too_short": int(lengths.size - keep.size)}


def prepare_labelled_data(
    config: LabelledDataConfig,
    table: LabelTable,
    *,
    needs_structures: bool,
    encode_3di: bool,
    cache_dir: Path | None,
    seed: int,
    resolve: Callable[[str, str], Path] = lambda value, key: Path(value),
    key: str = "data",
) -> LabelledTrainingData:
    """Join inputs and labels, split, plan batches (module docstring).

    Args:
        config: The data config.
        table: The labels (:func:`prottasks.data.read_labels`).
        needs_structures: The encoder reads coordinates (sequence-only proteins are not usable).
        encode_3di: Compute Foldseek 3Di strings for structures (SaProt).
        cache_dir: Where the structure cache lives (``None``: in memory).
        seed: The run's seed (crops of training items, batch order).
        resolve: ``resolve(path, key) -> Path`` for the config's paths.
        key: The config key of ``config``, named in messages (``data.structures: …``).

    Raises:
        DatasetError: missing files, an empty split, a structure encoder without structures (names what and where).
        LabelError: bad split files, a protein in two splits, a class outside the vocabulary.
    """
    t0 = time.perf_counter()
    if hasattr(table, "records"):  # ATOM3D PSR / MSP: structures came with the labels (prottasks.data.atom3d)
        from prottasks.data.atom3d import prepare_atom3d_data

        data = prepare_atom3d_data(config, table, encode_3di=encode_3di, seed=seed, key=key)  # type: ignore[arg-type]
        data.seconds = time.perf_counter() - t0
        return data
    pool, cached, structures, lines = _pool(
        config, table, needs_structures, encode_3di, cache_dir, resolve, key
    )
    # a contact task: every structure is labelled by its own contact map (prottasks.data.contacts)
    if table.kind == "contact":
        from prottasks.data.contacts import contact_table

        table = contact_table(pool, config.labels, key=key)
    ref_of = pool.lookup()
    available = {pid for pid in table.targets if ref_of(pid) is not None}
    splits, split_lines = assign_splits(table, config.splits, available, resolve=resolve, key=f"{key}.splits")
    transform = build_transform(config.transform) if config.transform is not None else None
    eval_config = inference_transform(config.transform)
    eval_transform = build_transform(eval_config) if eval_config is not None else None
    report: dict[str, Any] = {"labels": table.report + split_lines + lines}
    if structures is not None:
        report["structures"] = structures["summary"]
        report["skipped"] = structures["skipped"]
    built: dict[str, LabelledSplit] = {}
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
                f"{s}: {len(no_input)} labelled proteins without a sequence or structure left out "
                f"(e.g. {no_input[0]})"
            )
        if not ids:
            if s == "test":
                continue
            raise DatasetError(
                key,
                f"the {s} split has no protein with both a label and an input ({len(splits[s])} ids, "
                f"{len(no_input)} without a sequence or structure, {len(unlabelled)} without a label)",
            )
        refs = np.array([ref_of(pid) for pid in ids], dtype=np.int64)
        targets = table.encode(ids)
        split_transform = transform if s == "train" else eval_transform
        lengths = estimated_lengths(pool.lengths[refs], split_transform)  # (P_split,) after the crop
        plan = MicroBatchPlan(
            lengths, config.batch_size, config.max_tokens, config.bucket_window, seed, shuffle=s == "train"
        )
        built[s] = LabelledSplit(
            s, ids, targets, LabelledDataset(pool, refs, targets, split_transform, seed), plan
        )
    used = {int(r) for split in built.values() for r in split.dataset.refs}
    unused = [pool.ids[r] for r in range(len(pool)) if r not in used]
    if unused:
        report["labels"].append(f"{len(unused)} inputs in no split or without a label (e.g. {unused[0]})")
    report["summary"] = ", ".join(f"{s} {len(split)}" for s, split in built.items())
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
