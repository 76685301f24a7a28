"""Protein–text pairs for the alignment app (ProtCLIP pretraining): pair files in, ProtCLIP micro-batches out.

* :class:`AlignDataConfig` — pair files (UniProt flat files, ProtAnno JSON lines, ProtST EC–text pairs, or any JSON
  lines with named sequence / text keys), ProtCLIP's property-driven sampler (seed-systems.md §3.4), bad-record
  policy, fixed or token-budget batches.
* :func:`load_pairs` — every source read with protdata's / protalign's parsers and checks (a bad record raises a
  :class:`~protdata.errors.RecordError` naming the file and line, or is skipped and counted); the pairs are kept
  as compact string tables (no per-pair Python objects, so DataLoader workers do not copy them page by page).
* :class:`AlignBatch` — protalign's :class:`~protalign.data.ProtCLIPBatch` with what the engine's loop reads of a
  batch (``ids``, ``num_residues``, ``to``, ``pin_memory``).
* :class:`PairTrainingData` — what :class:`engine.trainer.Trainer` expects of its data (``plan``, ``num_workers``,
  ``loader(rank, world, accumulation, start_step, pin_memory)``), over :class:`~engine.batching.MicroBatchPlan`.

Determinism: the masks of micro-batch ``k`` (protein MLM, fragment MLM) are drawn from a generator seeded by
``(seed, k)`` — not by the DataLoader worker — so a resumed run and any number of workers see the same masks.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field, field_validator

from engine.batching import MicroBatchPlan, RankBatchSampler
from engine.builders import resolve_path
from engine.config import Section
from engine.data import MicroBatch, rank_loader
from engine.errors import DataError
from protalign.config import ProtCLIPConfig
from protalign.data import ProtCLIPBatch, ProtCLIPCollator
from protalign.pairs import pair_from_record
from protdata import Protein
from protdata.errors import RecordError
from protdata.protanno import PropertySampler, PropertySamplerConfig, ProtAnnoRecord, SkipReport
from protdata.protanno.jsonl import parse_line
from protdata.textio import open_lines

PairFormat = Literal["auto", "uniprot", "protanno", "ec_text", "jsonl"]
OnError = Literal["raise", "skip"]


# ------------------------------------------------------------------------------------------------ config
class PairSourceConfig(Section):
    """One pair file (plain or gzip). ``format: auto`` reads the first line: ``ID   …`` = UniProt flat file; a JSON
    object with ``seq`` + ``text`` = ProtAnno; with ``chain`` + ``text_ec`` + ``text`` = ProtST EC–text pairs."""

    path: str
    format: PairFormat = "auto"
    #: ``jsonl`` only: the key of the amino-acid sequence.
    sequence_key: str = "sequence"
    #: ``jsonl`` only: the key(s) of the text; several are joined with a space (e.g. ``[description, function]``).
    text_key: str | list[str] = "text"
    #: ``jsonl`` only: the key of the protein id (None: ``line<N>``).
    id_key: str | None = None


class AlignDataConfig(Section):
    """Protein–text pairs and how they are batched (defaults: ProtCLIP's ``train_pai.sh``, seed-systems.md §3.3)."""

    #: Pair files: paths (format detected) or ``{path, format, sequence_key, text_key, id_key}`` mappings.
    sources: list[PairSourceConfig] = Field(min_length=1)
    #: ProtCLIP's property-driven sampler (keep p = sqrt(o/4) / e^3, hard filter o >= 3, e <= 3), applied to every
    #: record; records need a protein-existence level (UniProt flat files have it). None: keep every pair.
    sampler: PropertySamplerConfig | None = None
    #: A bad record: ``raise`` (one error naming the file and line) or ``skip`` (counted and reported).
    on_error: OnError = "raise"
    #: Most pairs in one micro-batch (seed: 64 per GPU).
    batch_size: int = Field(64, ge=1)
    #: Most padded residues (``pairs × longest``) in one micro-batch; None: fixed batches of ``batch_size``.
    max_tokens: int | None = Field(None, ge=1)
    #: Pairs sorted together by length before cutting batches (1: random batches, as the seed's sampler).
    bucket_window: int = Field(1, ge=1)
    #: DataLoader worker processes (tokenisation and masking).
    num_workers: int = Field(1, ge=0)
    prefetch_factor: int = Field(4, ge=1)

    @field_validator("sources", mode="before")
    @classmethod
    def _paths(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"path": v} if isinstance(v, str) else v for v in value]
        return value


# ------------------------------------------------------------------------------------------- the pairs
class StringTable:
    """Many strings in one UTF-8 buffer + offsets (``table[i]``), cheap to share with forked workers."""

    def __init__(self, strings: Sequence[str]) -> None:
        encoded = [s.encode("utf-8") for s in strings]
        self.offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(b) for b in encoded], out=self.offsets[1:])
        self.buffer = np.frombuffer(b"".join(encoded), dtype=np.uint8) if encoded else np.zeros(0, np.uint8)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> str:
        return self.buffer[self.offsets[i] : self.offsets[i + 1]].tobytes().decode("utf-8")

    def __iter__(self) -> Iterator[str]:
        return (self[i] for i in range(len(self)))


@dataclass
class PairTable:
    """The checked pairs: protein ids, sequences (20 letters + X) and texts, in source order."""

    ids: StringTable
    sequences: StringTable
    texts: StringTable
    lengths: np.ndarray  # (P,) residues
    report: dict[str, Any]

    def __len__(self) -> int:
        return len(self.ids)

    def protein(self, i: int) -> Protein:
        return Protein.from_sequence(self.ids[i], self.sequences[i])

    def summary(self) -> str:
        """One line: how many pairs from which files, what the sampler kept, what was skipped."""
        n_texts = len(set(self.texts))
        names = ", ".join(Path(s["path"]).name for s in self.report["sources"])
        parts = [
            f"{len(self)} pairs ({n_texts} distinct texts, {int(self.lengths.sum()):,} residues) from {names}"
        ]
        read = sum(s["records"] for s in self.report["sources"])
        if self.report["sampled"]:
            kept = sum(s["sampled"] for s in self.report["sources"])
            parts.append(f"sampler kept {kept} of {read}")
        skipped = sum(s["skipped"] for s in self.report["sources"])
        if skipped:
            parts.append(f"skipped {skipped} bad records")
        return "; ".join(parts)


def detect_format(path: Path) -> str:
    """``uniprot`` / ``protanno`` / ``ec_text`` from the first non-blank line of ``path`` (module docstring)."""
    with open_lines(path, RecordError) as lines:
        for lineno, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            if line.startswith("ID   "):
                return "uniprot"
            try:
                obj = json.loads(line)
            except ValueError:
                raise RecordError(
                    path, "not a pair file: neither a UniProt flat file (ID line) nor JSON lines", line=lineno
                ) from None
            keys = set(obj) if isinstance(obj, dict) else set()
            if {"seq", "text"} <= keys:
                return "protanno"
            if {"chain", "sequence", "text_ec", "text"} <= keys:
                return "ec_text"
            raise RecordError(
                path,
                f"cannot tell the pair format from the keys {sorted(keys)}; set format: jsonl with sequence_key "
                "and text_key (or format: protanno / ec_text)",
                line=lineno,
            )
    raise RecordError(path, "empty pair file")


class _Collector:
    """Accumulates checked pairs of one source; applies the sampler and the bad-record policy."""

    def __init__(self, path: Path, on_error: OnError, sampler: PropertySampler | None) -> None:
        self.path = path
        self.on_error = on_error
        self.sampler = sampler
        self.report = SkipReport(source=str(path))
        self.ids: list[str] = []
        self.sequences: list[str] = []
        self.texts: list[str] = []
        self.records = 0
        self.sampled = 0

    def bad(self, line: int | None, reason: str) -> None:
        if self.on_error == "raise":
            raise RecordError(self.path, reason, line=line)
        self.report.add(line, reason)

    def add(self, record: ProtAnnoRecord | dict[str, Any], line: int | None, fallback_id: str) -> None:
        """Check one record (protalign's checks), sample it, keep it."""
        self.records += 1
        self.report.total += 1
        if self.sampler is not None:  # ProtCLIP samples the UniProt rows first (sampling.py), then trains
            if not isinstance(record, ProtAnnoRecord) or record.existence is None:
                self.bad(line, "no protein-existence level: data.sampler needs it (1..5; UniProt PE line)")
                return
            if not self.sampler.keep(record):
                return
        self.sampled += 1
        try:
            pair = pair_from_record(record, fallback_id)
        except ValueError as exc:
            self.bad(line, str(exc))
            return
        self.ids.append(pair.protein.id)
        self.sequences.append(pair.protein.sequence)
        self.texts.append(pair.text)


def _read_uniprot(c: _Collector) -> None:
    from protdata.protanno import iter_uniprot

    skip = SkipReport(source=str(c.path))
    entries = iter_uniprot(c.path, on_error=c.on_error, report=skip)
    for entry in entries:
        c.add(entry.to_record(), entry.line, entry.accession)
    c.records += skip.count
    c.report.total += skip.count
    c.report.skipped.extend(skip.skipped)


def _read_ec_text(c: _Collector) -> None:
    """ProtST EC–text pairs (chain, sequence, EC numbers, the reaction text of ``text_ec``): protalign's reader."""
    from protalign.protst_text import read_ec_text_pairs

    skip = SkipReport(source=str(c.path))
    for pair in read_ec_text_pairs(c.path, on_error=c.on_error, report=skip):
        c.add({"seq": pair.protein.sequence, "text": pair.text, "id": pair.chain}, None, pair.chain)
    c.records += skip.count
    c.report.total += skip.count
    c.report.skipped.extend(skip.skipped)


def _read_json_lines(c: _Collector, source: PairSourceConfig, fmt: str) -> None:
    with open_lines(c.path, RecordError) as lines:
        for lineno, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = _json_record(line, source, fmt)
            except ValueError as exc:
                c.records += 1
                c.report.total += 1
                c.bad(lineno, str(exc))
                continue
            c.add(record, lineno, f"line{lineno}")


def _json_record(line: str, source: PairSourceConfig, fmt: str) -> ProtAnnoRecord | dict[str, Any]:
    if fmt == "protanno":
        return parse_line(line)  # protdata's ProtAnno validation (missing keys, empty text, bad letters)
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(obj, dict):
        raise ValueError(f"not a JSON object: {type(obj).__name__}")
    keys = [source.text_key] if isinstance(source.text_key, str) else list(source.text_key)
    missing = [k for k in (source.sequence_key, *keys) if k not in obj]
    if missing:
        raise ValueError(f"missing key: {', '.join(missing)}")
    parts = [obj[k] for k in keys]
    if not all(isinstance(p, str) for p in parts):
        raise ValueError(f"text keys {keys} must hold strings")
    record = {"seq": obj[source.sequence_key], "text": " ".join(p.strip() for p in parts if p.strip())}
    if source.id_key is not None and obj.get(source.id_key) is not None:
        record["id"] = str(obj[source.id_key])
    return record


def load_pairs(config: AlignDataConfig) -> PairTable:
    """Read and check every source of ``config`` (module docstring).

    Raises:
        DataError: a missing file, or no pair left.
        RecordError: a bad record (``on_error: raise``), naming the file and line.
    """
    sampler = PropertySampler(config.sampler) if config.sampler is not None else None
    ids: list[str] = []
    sequences: list[str] = []
    texts: list[str] = []
    sources: list[dict[str, Any]] = []
    skipped_lines: list[str] = []
    for i, source in enumerate(config.sources):
        key = f"data.sources[{i}]"
        path = resolve_path(source.path, key)
        if not path.exists():
            raise DataError(f"{key}: {path}: no such pair file")
        if path.is_dir():
            raise DataError(f"{key}: {path} is a directory (expected a pair file)")
        fmt = source.format if source.format != "auto" else detect_format(path)
        collector = _Collector(path, config.on_error, sampler)
        if fmt == "uniprot":
            _read_uniprot(collector)
        elif fmt == "ec_text":
            _read_ec_text(collector)
        else:
            _read_json_lines(collector, source, fmt)
        ids += collector.ids
        sequences += collector.sequences
        texts += collector.texts
        sources.append(
            {
                "path": str(path),
                "format": fmt,
                "records": collector.records,
                "sampled": collector.sampled,
                "kept": len(collector.ids),
                "skipped": collector.report.count,
            }
        )
        if collector.report.count:
            skipped_lines.append(collector.report.summary())
    if not ids:
        read = sum(s["records"] for s in sources)
        why = "the sampler kept none" if sampler is not None and read else "no usable record"
        raise DataError(f"data.sources: no protein–text pairs ({read} records read, {why})")
    report = {"sources": sources, "sampled": sampler is not None, "skipped": skipped_lines}
    lengths = np.array([len(s) for s in sequences], dtype=np.int64)
    return PairTable(StringTable(ids), StringTable(sequences), StringTable(texts), lengths, report)


# ------------------------------------------------------------------------------------------ batches
@dataclass
class AlignBatch(ProtCLIPBatch):
    """A :class:`~protalign.data.ProtCLIPBatch` with what the engine's loop reads of a batch."""

    @classmethod
    def of(cls, batch: ProtCLIPBatch) -> AlignBatch:
        return cls(**{f.name: getattr(batch, f.name) for f in dataclasses.fields(ProtCLIPBatch)})

    @property
    def ids(self) -> list[str]:
        return self.proteins.ids

    @property
    def num_residues(self) -> int:
        return self.proteins.num_residues

    def to(self, device: torch.device | str, non_blocking: bool = False) -> AlignBatch:
        return AlignBatch.of(super().to(device, non_blocking=non_blocking))

    def pin_memory(self) -> AlignBatch:
        return AlignBatch.of(super().pin_memory())


class PairDataset(torch.utils.data.Dataset):
    """``dataset[(k, i)] -> (k, protein, text)``: pair ``i`` for micro-batch ``k``."""

    def __init__(self, pairs: PairTable) -> None:
        self.pairs = pairs

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, key: tuple[int, int]) -> tuple[int, Protein, str]:
        k, i = key
        return k, self.pairs.protein(i), self.pairs.texts[i]


class PairCollate:
    """``[(k, protein, text), …] -> MicroBatch(k, AlignBatch)``: protalign's
    :class:`~protalign.data.ProtCLIPCollator` (cut to ``max_protein_length``, texts and the four property sub-texts
    tokenised, protein-MLM and fragment masks) with its masks drawn from a generator seeded by ``(seed, k)``
    (module docstring).
    """

    def __init__(self, config: ProtCLIPConfig, tokenizer: Any, seed: int) -> None:
        self.seed = seed
        self.collator = ProtCLIPCollator.from_config(config, tokenizer)

    def __call__(self, items: list[tuple[int, Protein, str]]) -> MicroBatch:
        k = items[0][0]
        rng = np.random.default_rng([self.seed, k, 0xC11])
        batch = self.collator([(protein, text) for _, protein, text in items], rng=rng)
        return MicroBatch(k, AlignBatch.of(batch))


@dataclass
class PairTrainingData:
    """The pairs in the shape :class:`~engine.trainer.Trainer` expects (``plan``, ``num_workers``, ``loader``)."""

    pairs: PairTable
    dataset: PairDataset
    collate: PairCollate
    plan: MicroBatchPlan
    num_workers: int = 1
    prefetch_factor: int = 4
    seconds: float = 0.0

    def loader(
        self, rank: int, world_size: int, accumulation_steps: int, start_step: int, pin_memory: bool
    ) -> torch.utils.data.DataLoader:
        sampler = RankBatchSampler(self.plan, rank, world_size, accumulation_steps, start_step)
        return rank_loader(
            self.dataset, sampler, self.collate, self.num_workers, self.prefetch_factor, pin_memory
        )


def prepare_pair_data(
    pairs: PairTable, config: AlignDataConfig, model: ProtCLIPConfig, tokenizer: Any, seed: int
) -> PairTrainingData:
    """Plan the micro-batches of ``pairs`` (lengths after the cut to ``max_protein_length``)."""
    t0 = time.perf_counter()
    lengths = np.minimum(pairs.lengths, model.max_protein_length)
    plan = MicroBatchPlan(lengths, config.batch_size, config.max_tokens, config.bucket_window, seed)
    return PairTrainingData(
        pairs=pairs,
        dataset=PairDataset(pairs),
        collate=PairCollate(model, tokenizer, seed),
        plan=plan,
        num_workers=config.num_workers,
        prefetch_factor=config.prefetch_factor,
        seconds=time.perf_counter() - t0,
    )
