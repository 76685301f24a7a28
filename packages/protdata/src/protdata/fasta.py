"""FASTA reading: protein sequences in, sequence-only :class:`Protein` objects out.

Letter policy (every rejection is a :class:`~protdata.errors.SequenceError` naming the file, the line and the
record; nothing is dropped silently):

* Line ends (``\\n``, ``\\r\\n``) and whitespace at either end of a sequence line are ignored; blank lines are
  skipped. Whitespace *inside* a sequence line and digits are errors (they mean a GenBank/EMBL-style or
  numbered layout, not FASTA).
* Lower-case letters are accepted and upper-cased (``FastaPolicy.uppercase``; set it False to reject them).
* One trailing stop ``*`` is accepted and stripped; a ``*`` anywhere else is an error.
* Gaps ``-`` and ``.`` (aligned FASTA) are errors unless ``FastaPolicy.remove_gaps`` removes them.
* The IUPAC letters B (D/N), Z (E/Q), J (I/L), U (selenocysteine) and O (pyrrolysine) become ``X``, the one
  unknown letter of the ``Protein`` contract (``FastaPolicy.ambiguous_to_x``; False rejects them). ``X`` stays.
* Any other character is an error.
* A record without sequence lines is an error (``FastaPolicy.allow_empty`` keeps it as a length-0 protein).
* Two records with the same id are an error (``FastaPolicy.allow_duplicate_ids`` keeps both).
* Sequence lines before the first ``>`` header, a header without an id, and a file without records are errors.

The id is the header's first whitespace-separated word; the rest is the description
(:class:`FastaRecord`). Gzip-compressed input is recognised by its magic bytes, whatever the file name.

Strict and lenient reading: by default (``strict=True``) the first bad record raises. With ``strict=False`` a bad
record (bad letters, no sequence, a repeated id, a header without an id) is *skipped* — the reader yields the
good records and appends a :class:`FastaSkip` (file, line, record id, reason) to the :class:`FastaReport` it is
given; the file stays usable. Problems of the whole file (cannot be opened or decoded, sequence data before the
first header, no records at all) raise in both modes.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict

from protdata.errors import SequenceError
from protdata.protein import Protein
from protdata.textio import PathOrFile, open_lines, source_name

#: IUPAC protein letters outside the 20 standard ones that are mapped to ``X``.
AMBIGUOUS_LETTERS: str = "BZJUO"
_STANDARD = "ACDEFGHIKLMNPQRSTVWY"


class FastaPolicy(BaseModel):
    """How :func:`read_fasta` treats unusual letters and records (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Accept lower-case letters and upper-case them (False: lower case is an error).
    uppercase: bool = True
    #: Remove alignment gaps ``-`` and ``.`` (False: they are an error).
    remove_gaps: bool = False
    #: Map B, Z, J, U, O to ``X`` (False: they are an error).
    ambiguous_to_x: bool = True
    #: Keep records without sequence as length-0 proteins (False: an error).
    allow_empty: bool = False
    #: Keep records whose id repeats an earlier one (False: an error).
    allow_duplicate_ids: bool = False


@dataclass(frozen=True)
class FastaRecord:
    """One FASTA record: ``id`` (first word of the header), ``description`` (the rest), cleaned ``sequence``.

    ``line`` is the 1-based line number of its header in ``source``.
    """

    id: str
    description: str
    sequence: str
    source: str
    line: int

    def to_protein(self) -> Protein:
        """The sequence-only :class:`Protein` of this record."""
        return Protein.from_sequence(self.id, self.sequence, source=self.source)


@dataclass(frozen=True)
class FastaSkip:
    """A record the lenient reader skipped: ``source`` file, ``line`` of the problem, ``record`` id (``None`` for a
    header without one) and ``reason``."""

    source: str
    line: int | None
    record: str | None
    reason: str

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}, line {self.line}"
        return f"{where}: {self.reason}"


@dataclass
class FastaReport:
    """What a lenient read (``strict=False``) kept and skipped; one report may collect several files."""

    #: Records yielded.
    n_records: int = 0
    #: Records skipped, in file order, each with where and why.
    skipped: list[FastaSkip] = field(default_factory=list)

    @property
    def n_skipped(self) -> int:
        return len(self.skipped)

    def summary(self) -> str:
        """One line: records kept and skipped (with the first reason)."""
        line = f"read {self.n_records} FASTA records"
        if self.skipped:
            line += f"; skipped {self.n_skipped} bad records (first: {self.skipped[0]})"
        return line


def read_fasta(
    path_or_file: PathOrFile,
    policy: FastaPolicy | None = None,
    *,
    strict: bool = True,
    report: FastaReport | None = None,
) -> list[Protein]:
    """All records of a FASTA file (plain or gzip) as sequence-only :class:`Protein` objects, in file order.

    ``strict=False`` skips bad records and lists them in ``report`` (module docstring)."""
    return list(iter_fasta(path_or_file, policy, strict=strict, report=report))


def iter_fasta(
    path_or_file: PathOrFile,
    policy: FastaPolicy | None = None,
    *,
    strict: bool = True,
    report: FastaReport | None = None,
) -> Iterator[Protein]:
    """Stream the records of a FASTA file as :class:`Protein` objects (one record in memory at a time)."""
    for record in iter_fasta_records(path_or_file, policy, strict=strict, report=report):
        yield record.to_protein()


def read_fasta_records(
    path_or_file: PathOrFile,
    policy: FastaPolicy | None = None,
    *,
    strict: bool = True,
    report: FastaReport | None = None,
) -> list[FastaRecord]:
    """All records of a FASTA file as :class:`FastaRecord` (id, description, cleaned sequence, line)."""
    return list(iter_fasta_records(path_or_file, policy, strict=strict, report=report))


def iter_fasta_records(
    path_or_file: PathOrFile,
    policy: FastaPolicy | None = None,
    *,
    strict: bool = True,
    report: FastaReport | None = None,
) -> Iterator[FastaRecord]:
    """Stream the records of a FASTA file as :class:`FastaRecord` objects, applying ``policy``.

    ``strict=False`` skips bad records and lists them in ``report`` (required then: nothing is dropped silently).
    """
    if not strict and report is None:
        raise TypeError("iter_fasta_records(strict=False) needs a FastaReport to list the skipped records in")
    policy = policy or FastaPolicy()
    with open_lines(path_or_file, SequenceError) as lines:
        for record in _parse(lines, source_name(path_or_file), policy, None if strict else report):
            if report is not None:
                report.n_records += 1
            yield record


# ---------------------------------------------------------------------------------------------------- parser
def _parse(
    lines: Iterable[str], source: str, policy: FastaPolicy, skips: FastaReport | None
) -> Iterator[FastaRecord]:
    """Records of ``lines``; a bad record raises, or (``skips`` given) is listed there and skipped."""
    seen: dict[str, int] = {}
    header: tuple[str, str, int] | None = None  # (id, description, line)
    chunks: list[tuple[int, str]] = []  # (line number, stripped sequence line)
    n_records = 0
    lineno = 0
    bad_header = False  # inside a skipped record whose header has no id: its sequence lines go with it

    def finish() -> Iterator[FastaRecord]:
        nonlocal n_records
        n_records += 1
        try:
            record = _finish(header, chunks, source, policy, seen)  # type: ignore[arg-type]
        except SequenceError as exc:
            if skips is None:
                raise
            skips.skipped.append(FastaSkip(source, exc.line, header[0], exc.reason))  # type: ignore[index]
            return
        yield record

    for lineno, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith(">"):
            if header is not None:
                yield from finish()
            header, chunks, bad_header = None, [], False
            try:
                header = _parse_header(line, source, lineno)
            except SequenceError as exc:
                if skips is None:
                    raise
                skips.skipped.append(FastaSkip(source, lineno, None, exc.reason))
                n_records += 1
                bad_header = True
        elif bad_header:
            continue
        elif header is None:
            raise SequenceError(
                source,
                f"sequence data before the first '>' header: {line[:30]!r} (not a FASTA file?)",
                line=lineno,
            )
        else:
            chunks.append((lineno, line))
    if header is not None:
        yield from finish()
    if n_records == 0:
        what = "empty file" if lineno == 0 else "only blank lines"
        raise SequenceError(source, f"no FASTA records ({what})")


def _parse_header(line: str, source: str, lineno: int) -> tuple[str, str, int]:
    parts = line[1:].strip().split(maxsplit=1)
    if not parts:
        raise SequenceError(source, "header '>' without an id", line=lineno)
    return parts[0], parts[1] if len(parts) > 1 else "", lineno


def _finish(
    header: tuple[str, str, int],
    chunks: list[tuple[int, str]],
    source: str,
    policy: FastaPolicy,
    seen: dict[str, int],
) -> FastaRecord:
    pid, description, hline = header
    if pid in seen and not policy.allow_duplicate_ids:
        raise SequenceError(source, f"duplicate id {pid!r} (first seen at line {seen[pid]})", line=hline)
    sequence = clean_sequence(chunks, policy, source=source, record=pid)
    if not sequence and not policy.allow_empty:
        raise SequenceError(source, f"record {pid!r} has no sequence", line=hline)
    seen.setdefault(pid, hline)  # only records that are kept: a skipped record's id may come again
    return FastaRecord(id=pid, description=description, sequence=sequence, source=source, line=hline)


def clean_sequence(
    chunks: list[tuple[int, str]] | str,
    policy: FastaPolicy | None = None,
    *,
    source: str | None = None,
    record: str = "<sequence>",
) -> str:
    """Apply the letter policy to a sequence given as ``[(line number, text), ...]`` (or one string).

    Returns the sequence in the ``Protein`` alphabet (20 letters + ``X``); raises :class:`SequenceError`
    naming ``source``, the line and ``record`` for the first offending character.
    """
    policy = policy or FastaPolicy()
    if isinstance(chunks, str):
        chunks = [(None, chunks)]  # type: ignore[list-item]
    text = "".join(part for _, part in chunks)
    table = _translation(policy.uppercase, policy.ambiguous_to_x, policy.remove_gaps)
    cleaned = text.translate(table)
    if cleaned.endswith("*"):
        cleaned = cleaned[:-1]
    bad = _INVALID.search(cleaned)
    if bad is None:
        return cleaned
    # Locate the offending character of the original text (translation removes gaps only).
    offset = _original_offset(text, bad.start(), policy)
    char = text[offset]
    lineno, column = _locate(chunks, offset)
    raise SequenceError(source, f"record {record!r}: {_reason(char, policy)} at column {column}", line=lineno)


_INVALID = re.compile(f"[^{_STANDARD}X]")


@functools.lru_cache(maxsize=8)
def _translation(uppercase: bool, ambiguous_to_x: bool, remove_gaps: bool) -> dict[int, int | None]:
    table: dict[int, int | None] = {}
    if uppercase:
        table.update({ord(c.lower()): ord(c) for c in _STANDARD + "X"})
        if ambiguous_to_x:
            table.update({ord(c.lower()): ord("X") for c in AMBIGUOUS_LETTERS})
    if ambiguous_to_x:
        table.update({ord(c): ord("X") for c in AMBIGUOUS_LETTERS})
    if remove_gaps:
        table.update({ord("-"): None, ord("."): None})
    return table


def _original_offset(text: str, cleaned_index: int, policy: FastaPolicy) -> int:
    if not policy.remove_gaps:
        return cleaned_index
    kept = -1
    for i, c in enumerate(text):
        if c not in "-.":
            kept += 1
            if kept == cleaned_index:
                return i
    raise AssertionError("unreachable")


def _locate(chunks: list[tuple[int, str]], offset: int) -> tuple[int | None, int]:
    for lineno, part in chunks:
        if offset < len(part):
            return lineno, offset + 1
        offset -= len(part)
    raise AssertionError("unreachable")


def _reason(char: str, policy: FastaPolicy) -> str:
    if char == "*":
        return "stop '*' inside the sequence (only one trailing '*' is allowed)"
    if char in "-.":
        return f"gap {char!r} (use FastaPolicy(remove_gaps=True) for aligned FASTA)"
    if char.isdigit():
        return f"digit {char!r} in a sequence line"
    if char.isspace():
        return "whitespace inside a sequence line"
    if char.upper() in AMBIGUOUS_LETTERS and not policy.ambiguous_to_x:
        return f"ambiguous letter {char!r} (FastaPolicy(ambiguous_to_x=True) maps it to X)"
    if char.islower() and not policy.uppercase:
        return f"lower-case letter {char!r} (FastaPolicy(uppercase=True) accepts it)"
    return f"invalid character {char!r}"
