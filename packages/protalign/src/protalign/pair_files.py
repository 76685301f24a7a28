"""Protein–text pair files in, one compact :class:`PairTable` of checked pairs out.

:func:`load_pairs` reads every source of a :class:`~protalign.config.PairDataConfig`: UniProt flat files
(protdata's parser), ProtAnno JSON lines, ProtST EC–text pairs and JSON lines with named keys — the three JSON
kinds through the one reader :func:`protdata.protanno.jsonl.iter_json_lines`. Each record goes through ProtCLIP's
property-driven sampler (when configured) and protalign's pair checks (:func:`~protalign.pairs.pair_from_record`).
A bad record raises :class:`~protdata.errors.RecordError` ``"<file>, line <n>: <reason>"`` (the reason names the
key), or with ``on_error: skip`` is skipped and counted per source (:attr:`PairTable.sources`), never dropped
silently. The pairs are kept as string tables (one UTF-8 buffer + offsets, no per-pair Python objects), so
DataLoader workers do not copy them page by page.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from protalign.config import PairDataConfig, PairSource
from protalign.errors import PairFileError
from protalign.pairs import ProteinTextPair, pair_from_record
from protdata import Protein
from protdata.errors import RecordError
from protdata.protanno import PropertySampler, ProtAnnoRecord, SkipReport
from protdata.protanno.jsonl import iter_json_lines, json_object, parse_line
from protdata.textio import open_lines


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
class SourceReport:
    """What one source gave: ``records`` read, ``sampled`` (drawn by the sampler, or all), pairs ``kept``, and the
    :class:`~protdata.protanno.SkipReport` of the bad records skipped."""

    path: str
    format: str
    records: int = 0
    sampled: int = 0
    kept: int = 0
    skips: SkipReport = field(default_factory=SkipReport)

    @property
    def skipped(self) -> int:
        return self.skips.count


@dataclass
class PairTable:
    """The checked pairs: protein ids, sequences (20 letters + X) and texts, in source order."""

    ids: StringTable
    sequences: StringTable
    texts: StringTable
    lengths: np.ndarray  # (P,) residues
    sources: list[SourceReport]
    sampled: bool = False

    def __len__(self) -> int:
        return len(self.ids)

    def protein(self, i: int) -> Protein:
        return Protein.from_sequence(self.ids[i], self.sequences[i])

    def warnings(self) -> list[str]:
        """One line per source with skipped records (count, kinds, first line numbers)."""
        return [s.skips.summary() for s in self.sources if s.skipped]

    def summary(self) -> str:
        """One line: how many pairs from which files, what the sampler kept, what was skipped."""
        names = ", ".join(Path(s.path).name for s in self.sources)
        residues = int(self.lengths.sum())
        parts = [
            f"{len(self)} pairs ({len(set(self.texts))} distinct texts, {residues:,} residues) from {names}"
        ]
        if self.sampled:
            parts.append(
                f"sampler kept {sum(s.sampled for s in self.sources)} of {sum(s.records for s in self.sources)}"
            )
        skipped = sum(s.skipped for s in self.sources)
        if skipped:
            parts.append(f"skipped {skipped} bad records")
        return "; ".join(parts)


def detect_format(path: Path) -> str:
    """``uniprot`` (an ``ID   …`` line) / ``protanno`` (``seq`` + ``text``) / ``ec_text`` (``chain`` + ``sequence``
    + ``text_ec`` + ``text``) from the first non-blank line of ``path``.

    Raises:
        RecordError: an empty file, or a first line of none of these kinds (naming the file and line).
    """
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


def keyed_record(obj: dict[str, Any], source: PairSource) -> dict[str, Any]:
    """A ``{"seq", "text"[, "id"]}`` record from a JSON object with ``source``'s named keys (several text keys
    joined with a space); ``ValueError`` naming the key that is missing or not a string."""
    keys = [source.text_key] if isinstance(source.text_key, str) else list(source.text_key)
    missing = [k for k in (source.sequence_key, *keys) if k not in obj]
    if missing:
        raise ValueError(f"missing key: {', '.join(missing)}")
    wrong = [k for k in keys if not isinstance(obj[k], str)]
    if wrong:
        raise ValueError(f"{wrong[0]}: must hold a string, got {type(obj[wrong[0]]).__name__}")
    record = {"seq": obj[source.sequence_key], "text": " ".join(t for k in keys if (t := obj[k].strip()))}
    if source.id_key is not None and obj.get(source.id_key) is not None:
        record["id"] = str(obj[source.id_key])
    return record


class _Reader:
    """Reads one source: each record sampled (when configured), checked, and kept or counted as skipped."""

    def __init__(self, report: SourceReport, on_error: str, sampler: PropertySampler | None) -> None:
        self.report, self.on_error, self.sampler = report, on_error, sampler
        self.pairs: list[ProteinTextPair] = []

    def pair(self, record: ProtAnnoRecord | dict[str, Any], fallback_id: str) -> ProteinTextPair | None:
        """The checked pair of ``record``; ``None`` when the sampler leaves it out; ``ValueError`` when bad."""
        if self.sampler is not None:  # ProtCLIP samples the UniProt rows first (sampling.py), then trains
            if not isinstance(record, ProtAnnoRecord) or record.existence is None:
                raise ValueError("no protein-existence level: data.sampler needs it (1..5; UniProt PE line)")
            if not self.sampler.keep(record):
                return None
        self.report.sampled += 1
        return pair_from_record(record, fallback_id)

    def json_lines(self, path: Path, parse: Callable[[str], ProtAnnoRecord | dict[str, Any]]) -> None:
        lines = iter_json_lines(
            path,
            lambda line, n: self.pair(parse(line), f"line{n}"),
            on_error=self.on_error,
            report=self.report.skips,
        )
        self.pairs.extend(pair for _, pair in lines)

    def uniprot(self, path: Path) -> None:
        from protdata.protanno import iter_uniprot

        skips = self.report.skips
        for entry in iter_uniprot(path, on_error=self.on_error, report=skips):  # counts its own bad entries
            try:
                pair = self.pair(entry.to_record(), entry.accession)
            except ValueError as exc:
                if self.on_error == "raise":
                    raise RecordError(path, str(exc), line=entry.line) from None
                skips.add(entry.line, str(exc))
                continue
            if pair is not None:
                self.pairs.append(pair)


def _ec_record(line: str) -> dict[str, Any]:
    """A ProtST EC–text line as a ``{"seq", "text", "id"}`` record (protalign.protst_text's checks)."""
    from protalign.protst_text import parse_ec_pair

    pair = parse_ec_pair(line)
    return {"seq": pair.protein.sequence, "text": pair.text, "id": pair.chain}


def load_pairs(
    config: PairDataConfig, *, key: str = "sources", resolve: Callable[[str, str], Path] | None = None
) -> PairTable:
    """Read and check every source of ``config`` (module docstring).

    Args:
        key: How the sources are named in messages (``data.sources``: ``data.sources[0]: …``).
        resolve: ``resolve(path, key)`` → the file (e.g. expanding ``${VARIABLES}``); default ``Path(path)``.

    Raises:
        PairFileError: a missing file or a directory (naming ``key[i]`` and the path), or no pair left.
        RecordError: a bad record (``on_error: raise``), naming the file and line.
    """
    sampler = PropertySampler(config.sampler) if config.sampler is not None else None
    pairs: list[ProteinTextPair] = []
    reports: list[SourceReport] = []
    for i, source in enumerate(config.sources):
        where = f"{key}[{i}]"
        path = resolve(source.path, where) if resolve is not None else Path(source.path)
        if not path.exists():
            raise PairFileError(f"{where}: {path}: no such pair file")
        if path.is_dir():
            raise PairFileError(f"{where}: {path} is a directory (expected a pair file)")
        fmt = source.format if source.format != "auto" else detect_format(path)
        report = SourceReport(str(path), fmt, skips=SkipReport(source=str(path)))
        reader = _Reader(report, config.on_error, sampler)
        if fmt == "uniprot":
            reader.uniprot(path)
        elif fmt == "ec_text":
            reader.json_lines(path, _ec_record)
        elif fmt == "protanno":
            reader.json_lines(path, parse_line)  # protdata's ProtAnno validation (keys, empty text, letters)
        else:
            reader.json_lines(path, lambda line, s=source: keyed_record(json_object(line), s))
        report.records, report.kept = report.skips.total, len(reader.pairs)
        pairs += reader.pairs
        reports.append(report)
    if not pairs:
        read = sum(s.records for s in reports)
        why = "the sampler kept none" if sampler is not None and read else "no usable record"
        raise PairFileError(f"{key}: no protein–text pairs ({read} records read, {why})")
    sequences = [p.protein.sequence for p in pairs]
    return PairTable(
        StringTable([p.protein.id for p in pairs]),
        StringTable(sequences),
        StringTable([p.text for p in pairs]),
        np.array([len(s) for s in sequences], dtype=np.int64),
        reports,
        sampled=sampler is not None,
    )
