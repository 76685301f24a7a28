"""Protein–text pairs from protdata's ProtAnno records, with the checks a protein encoder needs.

Records come from :mod:`protdata.protanno` (JSONL lines parsed by its ``parse_line``, the Swiss-Prot flat-file
parser, the property-driven sampler). :class:`~protdata.protanno.ProtAnnoRecord` rejects missing keys, empty
texts and non-letter sequences; :func:`check_protein` also rejects a sequence made only of nucleotide letters
(A, C, G, T, U, N; at least 20 of them) — a DNA/RNA sequence, not a protein — and a sequence with more than half
unknown residues (``X`` and the ambiguity codes B, Z, J, U, O that protdata maps to ``X``). A bad record raises
:class:`~protdata.errors.RecordError` naming the file and line (or record number), or is skipped and counted
in a :class:`~protdata.protanno.SkipReport` (count, reasons, line numbers) — never dropped silently.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
from pydantic import ValidationError

from protdata import Protein
from protdata.errors import RecordError
from protdata.protanno import ProtAnnoRecord, SkipReport
from protdata.protanno.jsonl import OnError, check_on_error, iter_json_lines, parse_line
from protdata.textio import PathOrFile

T = TypeVar("T")
_NUCLEOTIDES = frozenset("ACGTUN")
#: A sequence of at least this many letters, all nucleotide letters, is rejected as DNA/RNA.
MIN_NUCLEOTIDE_RUN = 20
#: Reject sequences whose fraction of unknown residues exceeds this.
MAX_UNKNOWN_FRACTION = 0.5


@dataclass(frozen=True)
class ProteinTextPair:
    """One protein with its text."""

    protein: Protein
    text: str


def check_protein(protein: Protein, raw_sequence: str | None = None) -> None:
    """Raise ``ValueError`` (one-line reason, ``kind: detail``) for sequences no protein encoder should see."""
    seq = raw_sequence if raw_sequence is not None else protein.sequence
    if len(seq) >= MIN_NUCLEOTIDE_RUN and set(seq) <= _NUCLEOTIDES:
        raise ValueError(
            f"non-protein sequence: {protein.id} has only nucleotide letters (A, C, G, T, U, N) over {len(seq)} "
            "positions — a DNA/RNA sequence, not a protein"
        )
    unknown = protein.sequence.count("X") / max(len(protein), 1)
    if unknown > MAX_UNKNOWN_FRACTION:
        raise ValueError(f"unknown residues: {unknown:.0%} of the residues of {protein.id} are unknown (X)")


class ProteinTextPairs(torch.utils.data.Dataset):
    """A list of :class:`ProteinTextPair`, with the :class:`~protdata.protanno.SkipReport` of what was left out."""

    def __init__(self, pairs: Sequence[ProteinTextPair], report: SkipReport | None = None) -> None:
        self.pairs = list(pairs)
        self.report = report or SkipReport(total=len(self.pairs))

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> ProteinTextPair:
        return self.pairs[index]

    @property
    def texts(self) -> list[str]:
        return [pair.text for pair in self.pairs]

    @property
    def proteins(self) -> list[Protein]:
        return [pair.protein for pair in self.pairs]

    @classmethod
    def from_records(
        cls,
        records: Iterable[ProtAnnoRecord | Mapping[str, Any]],
        *,
        on_error: OnError = "raise",
        source: str | None = None,
        report: SkipReport | None = None,
    ) -> ProteinTextPairs:
        """Pairs from ProtAnno records (or ``{"seq": ..., "text": ...}`` mappings, validated here).

        A bad record raises :class:`~protdata.errors.RecordError` naming ``source`` and the record number, or
        with ``on_error="skip"`` is counted in ``report`` with its reason.
        """
        return cls._collect(enumerate(records, start=1), on_error, source, report)

    @classmethod
    def from_jsonl(
        cls, path: PathOrFile, *, on_error: OnError = "raise", report: SkipReport | None = None
    ) -> ProteinTextPairs:
        """Pairs from a ProtAnno JSONL file (plain or gzip), read by :func:`iter_json_lines`, each line parsed by
        protdata's :func:`~protdata.protanno.jsonl.parse_line`; a bad line raises
        :class:`~protdata.errors.RecordError` naming the file and line, or is skipped into ``report``."""
        report = report if report is not None else SkipReport()
        lines = iter_json_lines(
            path,
            lambda line, n: pair_from_record(parse_line(line), f"line{n}"),
            on_error=on_error,
            report=report,
        )
        return cls([pair for _, pair in lines], report)

    @classmethod
    def _collect(
        cls,
        numbered: Iterable[tuple[int, ProtAnnoRecord | Mapping[str, Any]]],
        on_error: OnError,
        source: str | None,
        report: SkipReport | None,
    ) -> ProteinTextPairs:
        check_on_error(on_error)
        report = report if report is not None else SkipReport(source=source)
        report.source = report.source or source
        where = report.source or "<records>"
        pairs: list[ProteinTextPair] = []
        for number, item in numbered:
            report.total += 1
            try:
                pairs.append(pair_from_record(item, f"record{number}"))
            except ValueError as exc:
                if on_error == "raise":
                    raise RecordError(where, f"record {number}: {exc}") from exc
                kind, _, detail = str(exc).partition(": ")
                report.add(None, f"{kind}: record {number}: {detail}")
        return cls(pairs, report)


def pair_from_record(record: ProtAnnoRecord | Mapping[str, Any], fallback_id: str) -> ProteinTextPair:
    """A checked pair from a record or mapping (protein id: the record's ``id``, else ``fallback_id``);
    ``ValueError("kind: detail")`` when it is unusable."""
    if not isinstance(record, ProtAnnoRecord):
        if not isinstance(record, Mapping):
            raise ValueError(f"not a record: {type(record).__name__}")
        try:
            record = ProtAnnoRecord.model_validate(dict(record))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'record'}: {e['msg'].removeprefix('Value error, ')}"
                if e["type"] != "missing"
                else f"missing key {'.'.join(str(p) for p in e['loc'])!r}"
                for e in exc.errors()
            )
            raise ValueError(f"invalid record: {problems}") from None
    protein = record.to_protein(record.id or fallback_id)
    check_protein(protein, record.seq)
    return ProteinTextPair(protein, record.text)
