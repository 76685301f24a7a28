"""One reader for the proteins a person hands to a tool: FASTA files, structure files, directories, globs, tars.

:func:`iter_inputs` streams, in input order (one FASTA record / archive member / file in memory at a time;
:func:`read_inputs` is ``list(iter_inputs(...))`` with its report):

* FASTA files (:data:`FASTA_SUFFIXES`, optionally ``.gz``) with :func:`protdata.fasta.read_fasta` in lenient
  mode: a bad record is skipped (the rest of its file is read) and listed as ``file, line N``;
* structure files (PDB, mmCIF, BinaryCIF, gzip) and tar archives with :func:`protdata.io.iter_structures`;
* directories (walked recursively, sorted; FASTA and structure files are read, other files listed as ignored)
  and globs, expanded by :func:`protdata.io.collection.expand_sources`.

Nothing is dropped silently: a file that cannot be read, a bad FASTA record, a protein without residues, a
repeated id, a FASTA file given to a reader that ``needs_structures``, or a chain whose Foldseek 3Di string cannot
be computed (``structure_tokens``, SaProt) is a :class:`~protdata.io.SkippedSource` in the :class:`InputReport`.
A path that does not exist, no usable protein at all, or (``strict``) anything skipped is an :class:`InputError`
whose one-line message names the file / record (:func:`iter_inputs` raises it after the last protein; a file
that fails part-way keeps the records / members read before the damage and is reported).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from protdata.errors import ProtdataError
from protdata.io.report import SkippedSource
from protdata.protein import Protein

__all__ = [
    "FASTA_SUFFIXES",
    "InputError",
    "InputReport",
    "ProteinInputs",
    "SkippedInputsError",
    "add_structure_tokens",
    "is_fasta",
    "iter_inputs",
    "read_inputs",
]

#: File names read as FASTA (a ``.gz`` after them is allowed; gzip is detected by its magic bytes).
FASTA_SUFFIXES = (".fasta", ".fa", ".faa", ".fas", ".fsa", ".seq")
_GLOB_CHARS = frozenset("*?[")
_NO_STRUCTURE = "a FASTA file has no 3D structure (the encoder reads coordinates)"
#: Proteins per batched Foldseek 3Di call while streaming (``structure_tokens``).
TOKEN_CHUNK = 256


class InputError(ProtdataError):
    """The inputs as a whole are unusable: a missing path, no usable protein, or skipped items in strict mode."""


class SkippedInputsError(InputError):
    """Strict mode and something was skipped; ``skipped`` holds every ``(source, reason)``, the message the
    first. ``option`` names the strict switch in the message (e.g. an app's ``--strict``)."""

    def __init__(
        self, skipped: Sequence[tuple[str, str]], key: str = "inputs", option: str = "strict"
    ) -> None:
        self.skipped = list(skipped)
        source, reason = self.skipped[0]
        more = f" (and {len(self.skipped) - 1} more)" if len(self.skipped) > 1 else ""
        super().__init__(
            key,
            f"{len(self.skipped)} input(s) skipped and {option} is set: {source}: {reason}{more}; fix or remove "
            f"them, or run without {option} to skip them",
        )


@dataclass
class InputReport:
    """What :func:`read_inputs` read, skipped (with where and why) and ignored."""

    #: FASTA files, structure files and archive members read.
    files: int = 0
    skipped: list[SkippedSource] = field(default_factory=list)
    #: Directory entries / archive members that are neither FASTA nor structure files (listed, never read).
    ignored: list[str] = field(default_factory=list)
    #: Remarks for the user (e.g. proteins SaProt sees without structure).
    notes: list[str] = field(default_factory=list)

    @property
    def n_skipped(self) -> int:
        return len(self.skipped)

    def skip(self, source: str, reason: str, error: str) -> None:
        self.skipped.append(SkippedSource(source, reason, error))

    def items(self) -> list[tuple[str, str]]:
        """Every skipped item as ``(source, "ErrorType: reason")``."""
        return [(s.source, f"{s.error}: {s.reason}") for s in self.skipped]

    def summary(self, n_proteins: int) -> str:
        """One line: proteins, files, skipped (with the first) and ignored."""
        text = f"{n_proteins} proteins from {self.files} files"
        if self.skipped:
            first = self.skipped[0]
            text += f"; {self.n_skipped} skipped (first: {first.source}: {first.error}: {first.reason})"
        if self.ignored:
            text += f"; {len(self.ignored)} other files ignored"
        return text


@dataclass
class ProteinInputs:
    """The proteins read, in input order, and the :class:`InputReport`."""

    proteins: list[Protein]
    report: InputReport

    def summary(self) -> str:
        return self.report.summary(len(self.proteins))


def is_fasta(path: str | os.PathLike[str]) -> bool:
    """True for a FASTA file name (:data:`FASTA_SUFFIXES`, optionally followed by ``.gz``)."""
    return Path(path).name.lower().removesuffix(".gz").endswith(FASTA_SUFFIXES)


def _accept(name: str) -> bool:
    from protdata.io.collection import _looks_like_structure

    return is_fasta(name) or _looks_like_structure(name)


def _files(sources: Sequence[str | os.PathLike[str]], key: str, report: InputReport) -> list[Path]:
    """Every file to read, in order; a path that does not exist or a glob without a match is an error."""
    from protdata.io.collection import expand_sources
    from protdata.io.report import LoadReport

    files: list[Path] = []
    for item in sources:
        text = str(item)
        if not Path(item).exists():
            if not _GLOB_CHARS & set(text):
                raise InputError(key, f"{text}: no such file or directory")
            import glob

            if not glob.glob(text, recursive=True):
                raise InputError(key, f"{text}: no file matches this pattern")
        found = LoadReport()
        files.extend(expand_sources([item], found, _accept))
        report.ignored.extend(found.ignored)
    return files


def _read_fasta(path: Path, report: InputReport) -> Iterator[Protein]:
    from protdata.fasta import FastaReport, iter_fasta

    records, name = FastaReport(), str(path)  # one source string per file (the ids seen keep it)
    try:
        for p in iter_fasta(path, strict=False, report=records):  # a bad record is skipped, not the file
            yield p if p.source else p.replace(source=name)
    except (ProtdataError, OSError, UnicodeDecodeError) as exc:
        report.skip(str(path), getattr(exc, "reason", None) or str(exc), type(exc).__name__)
    for s in records.skipped:
        report.skip(str(path) if s.line is None else f"{path}, line {s.line}", s.reason, "SequenceError")


def _read_structures(path: Path, report: InputReport) -> Iterator[Protein]:
    from protdata.io import LoadReport, iter_structures

    loaded = LoadReport()
    yield from iter_structures([path], report=loaded)  # a tar archive: member by member
    report.files += max(loaded.n_sources, 1) - 1  # an archive counts its members (an unreadable one: 1)
    report.skipped.extend(loaded.skipped)
    report.ignored.extend(loaded.ignored)


def iter_inputs(
    sources: Sequence[str | os.PathLike[str]],
    *,
    needs_structures: bool = False,
    structure_tokens: bool = False,
    strict: bool = False,
    key: str = "inputs",
    strict_option: str = "strict",
    report: InputReport | None = None,
    keep: Callable[[int, Protein], bool] | None = None,
) -> Iterator[Protein]:
    """Stream the proteins of ``sources`` in input order; skips go to ``report`` as they are met (module
    docstring). Memory: one record / member / structure file, the ids seen (duplicates are skipped) and up to
    :data:`TOKEN_CHUNK` proteins waiting for their 3Di strings.

    Args:
        sources, needs_structures, structure_tokens, strict, key, strict_option: as for :func:`read_inputs`.
        report: Filled while streaming (pass one in to read it afterwards).
        keep: ``keep(position, protein)`` selects proteins by their position among the usable ones (0, 1, …;
            input order, before 3Di) — e.g. one rank's share; the others are counted as usable but neither
            yielded nor given 3Di strings.

    Raises:
        InputError: a path that does not exist (before the first protein); no usable protein, or (``strict``)
            :class:`SkippedInputsError` after the last one.
    """
    report = InputReport() if report is None else report
    seen: dict[str, str] = {}
    pending: list[Protein] = []  # kept proteins waiting for their 3Di strings
    counts = {"usable": 0, "flat": 0}

    def tokens() -> Iterator[Protein]:
        out, flat = _with_structure_tokens(pending, report)
        counts["usable"] += len(out)
        counts["flat"] += flat
        pending.clear()
        yield from out

    position = 0
    for path in _files(sources, key, report):
        report.files += 1
        if is_fasta(path) and needs_structures:
            report.skip(str(path), _NO_STRUCTURE, "InputError")
            continue
        for p in _read_fasta(path, report) if is_fasta(path) else _read_structures(path, report):
            where = f"{p.source or path}: {p.id}"
            if len(p) == 0:
                report.skip(where, "no residues", "InputError")
                continue
            if p.id in seen:
                report.skip(where, f"duplicate id (already read from {seen[p.id]})", "InputError")
                continue
            seen[p.id] = p.source or str(path)
            position += 1
            if keep is not None and not keep(position - 1, p):
                counts["usable"] += 1
            elif structure_tokens:
                pending.append(p)
                if len(pending) >= TOKEN_CHUNK:
                    yield from tokens()
            else:
                counts["usable"] += 1
                yield p
    if pending:
        yield from tokens()
    if counts["flat"]:
        report.notes.append(
            f"{counts['flat']} protein(s) without structure: SaProt sees '#' for their 3Di tokens"
        )
    _check_end(sources, report, counts["usable"], key, strict, strict_option)


def _check_end(
    sources: Sequence[str | os.PathLike[str]],
    report: InputReport,
    usable: int,
    key: str,
    strict: bool,
    strict_option: str,
) -> None:
    """The end-of-input errors: no input file, no usable protein, (``strict``) anything skipped."""
    shown = ", ".join(str(s) for s in sources)
    if report.files == 0:
        extra = f" ({len(report.ignored)} other files ignored)" if report.ignored else ""
        raise InputError(key, f"no usable protein in {shown}: no FASTA or structure files in them{extra}")
    if not usable:
        every = f"every input was skipped ({report.n_skipped}): " if report.skipped else ""
        first = report.skipped[0] if report.skipped else None
        why = f"; first: {first.source}: {first.error}: {first.reason}" if first else ""
        raise InputError(key, f"{every}no usable protein in {report.files} files ({shown}){why}")
    if strict and report.skipped:
        raise SkippedInputsError(report.items(), key, strict_option)


def read_inputs(
    sources: Sequence[str | os.PathLike[str]],
    *,
    needs_structures: bool = False,
    structure_tokens: bool = False,
    strict: bool = False,
    key: str = "inputs",
    strict_option: str = "strict",
) -> ProteinInputs:
    """The proteins of ``sources`` in input order, with what was skipped and why (module docstring); all in
    memory (:func:`iter_inputs` streams them).

    Args:
        sources: FASTA / structure files, directories, globs or tar archives (paths already expanded).
        needs_structures: The consumer reads coordinates: FASTA files are skipped (and reported).
        structure_tokens: Add Foldseek 3Di strings to proteins with coordinates (SaProt,
            :func:`add_structure_tokens`).
        strict: Any skipped item is an error (:class:`SkippedInputsError`, naming the first).
        key: The name of the inputs in messages (a config key).
        strict_option: The name of the strict switch in messages.

    Raises:
        InputError: a path that does not exist, no FASTA or structure file at all, no usable protein; or
            (``strict``) :class:`SkippedInputsError`.
    """
    report = InputReport()
    options = {"needs_structures": needs_structures, "structure_tokens": structure_tokens, "strict": strict}
    proteins = list(iter_inputs(sources, **options, key=key, strict_option=strict_option, report=report))
    return ProteinInputs(proteins, report)


def _with_structure_tokens(proteins: Sequence[Protein], report: InputReport) -> tuple[list[Protein], int]:
    """``(proteins with 3Di strings where they have coordinates, how many have none)``; a protein whose 3Di
    string cannot be computed is skipped and reported."""
    from protdata.foldseek import with_3di_or_skip

    structured = [p for p in proteins if p.has_structure]
    rejected: set[int] = set()

    def skip(protein: Protein, exc: ProtdataError) -> None:
        report.skip(protein.source or protein.id, f"3Di: {exc.reason}", type(exc).__name__)
        rejected.add(id(protein))

    encoded = iter(with_3di_or_skip(structured, skip) if structured else [])
    out = [next(encoded) if p.has_structure else p for p in proteins if id(p) not in rejected]
    return out, sum(1 for p in out if not p.structure_tokens)


def add_structure_tokens(proteins: Sequence[Protein], report: InputReport) -> list[Protein]:
    """``proteins`` with Foldseek 3Di strings where they have coordinates (one batched call, protein by protein
    when one fails: that one is skipped and reported). Sequence-only proteins pass unchanged and are counted in
    a note (SaProt reads ``#`` for their structure)."""
    out, flat = _with_structure_tokens(proteins, report)
    if flat:
        report.notes.append(f"{flat} protein(s) without structure: SaProt sees '#' for their 3Di tokens")
    return out
