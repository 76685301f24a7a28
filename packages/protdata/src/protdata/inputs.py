"""One reader for the proteins a person hands to a tool: FASTA files, structure files, directories, globs, tars.

:func:`read_inputs` reads, in input order:

* FASTA files (:data:`FASTA_SUFFIXES`, optionally ``.gz``) with :func:`protdata.fasta.read_fasta` in lenient
  mode: a bad record is skipped (the rest of its file is read) and listed as ``file, line N``;
* structure files (PDB, mmCIF, BinaryCIF, gzip) and tar archives with :func:`protdata.io.iter_structures`;
* directories (walked recursively, sorted; FASTA and structure files are read, other files listed as ignored)
  and globs, expanded by :func:`protdata.io.collection.expand_sources`.

Nothing is dropped silently: a file that cannot be read, a bad FASTA record, a protein without residues, a
repeated id, a FASTA file given to a reader that ``needs_structures``, or a chain whose Foldseek 3Di string cannot
be computed (``structure_tokens``, SaProt) is a :class:`~protdata.io.SkippedSource` in the :class:`InputReport`.
A path that does not exist, no usable protein at all, or (``strict``) anything skipped is an :class:`InputError`
whose one-line message names the file / record.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
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
    "read_inputs",
]

#: File names read as FASTA (a ``.gz`` after them is allowed; gzip is detected by its magic bytes).
FASTA_SUFFIXES = (".fasta", ".fa", ".faa", ".fas", ".fsa", ".seq")
_GLOB_CHARS = frozenset("*?[")
_NO_STRUCTURE = "a FASTA file has no 3D structure (the encoder reads coordinates)"


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


def _read_fasta(path: Path, report: InputReport) -> list[Protein]:
    from protdata.fasta import FastaReport, read_fasta

    records = FastaReport()
    try:
        found = read_fasta(path, strict=False, report=records)  # a bad record is skipped, not the file
    except (ProtdataError, OSError, UnicodeDecodeError) as exc:
        report.skip(str(path), getattr(exc, "reason", None) or str(exc), type(exc).__name__)
        return []
    for s in records.skipped:
        report.skip(str(path) if s.line is None else f"{path}, line {s.line}", s.reason, "SequenceError")
    return [p if p.source else p.replace(source=str(path)) for p in found]


def _read_structures(path: Path, report: InputReport) -> list[Protein]:
    from protdata.io import LoadReport, iter_structures

    loaded = LoadReport()
    found = list(iter_structures([path], report=loaded))
    report.files += max(loaded.n_sources, 1) - 1  # an archive counts its members (an unreadable one: 1)
    report.skipped.extend(loaded.skipped)
    report.ignored.extend(loaded.ignored)
    return found


def read_inputs(
    sources: Sequence[str | os.PathLike[str]],
    *,
    needs_structures: bool = False,
    structure_tokens: bool = False,
    strict: bool = False,
    key: str = "inputs",
    strict_option: str = "strict",
) -> ProteinInputs:
    """The proteins of ``sources`` in input order, with what was skipped and why (module docstring).

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
    proteins: list[Protein] = []
    seen: dict[str, str] = {}
    for path in _files(sources, key, report):
        report.files += 1
        if is_fasta(path) and needs_structures:
            report.skip(str(path), _NO_STRUCTURE, "InputError")
            continue
        found = _read_fasta(path, report) if is_fasta(path) else _read_structures(path, report)
        for p in found:
            where = f"{p.source or path}: {p.id}"
            if len(p) == 0:
                report.skip(where, "no residues", "InputError")
            elif p.id in seen:
                report.skip(where, f"duplicate id (already read from {seen[p.id]})", "InputError")
            else:
                seen[p.id] = p.source or str(path)
                proteins.append(p)
    shown = ", ".join(str(s) for s in sources)
    if report.files == 0:
        extra = f" ({len(report.ignored)} other files ignored)" if report.ignored else ""
        raise InputError(key, f"no usable protein in {shown}: no FASTA or structure files in them{extra}")
    if structure_tokens:
        proteins = add_structure_tokens(proteins, report)
    if not proteins:
        every = f"every input was skipped ({report.n_skipped}): " if report.skipped else ""
        first = report.skipped[0] if report.skipped else None
        why = f"; first: {first.source}: {first.error}: {first.reason}" if first else ""
        raise InputError(key, f"{every}no usable protein in {report.files} files ({shown}){why}")
    if strict and report.skipped:
        raise SkippedInputsError(report.items(), key, strict_option)
    return ProteinInputs(proteins, report)


def add_structure_tokens(proteins: Sequence[Protein], report: InputReport) -> list[Protein]:
    """``proteins`` with Foldseek 3Di strings where they have coordinates (one batched call, protein by protein
    when one fails: that one is skipped and reported). Sequence-only proteins pass unchanged and are counted in
    a note (SaProt reads ``#`` for their structure)."""
    from protdata.foldseek import with_3di_or_skip

    structured = [p for p in proteins if p.has_structure]
    rejected: set[int] = set()

    def skip(protein: Protein, exc: ProtdataError) -> None:
        report.skip(protein.source or protein.id, f"3Di: {exc.reason}", type(exc).__name__)
        rejected.add(id(protein))

    encoded = iter(with_3di_or_skip(structured, skip) if structured else [])
    out = [next(encoded) if p.has_structure else p for p in proteins if id(p) not in rejected]
    flat = sum(1 for p in out if not p.structure_tokens)
    if flat:
        report.notes.append(f"{flat} protein(s) without structure: SaProt sees '#' for their 3Di tokens")
    return out
