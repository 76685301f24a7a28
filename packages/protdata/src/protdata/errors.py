"""The exceptions protdata raises for bad input.

Every error protdata raises for a bad file or record is a :class:`ProtdataError` (a ``ValueError``), whose
message names the source (file, archive member, line) and the reason. Catch ``ProtdataError`` to handle any
bad input; catch a subclass to handle one kind.
"""

from __future__ import annotations

from os import PathLike


class ProtdataError(ValueError):
    """Bad input to protdata. ``source`` names the file (or ``archive::member``), ``reason`` says what is wrong."""

    def __init__(self, source: str | PathLike[str] | None, reason: str, *, line: int | None = None) -> None:
        self.source = None if source is None else str(source)
        self.reason = reason
        self.line = line
        where = self.source or "<input>"
        if line is not None:
            where = f"{where}, line {line}"
        super().__init__(f"{where}: {reason}")


class UnknownFormatError(ProtdataError):
    """The file's format cannot be recognised from its name or content."""


class StructureParseError(ProtdataError):
    """A structure file is empty, truncated or garbled."""


class NoProteinChainError(ProtdataError):
    """A structure (or one model of it) has no protein chain."""


class MissingAtomsError(ProtdataError):
    """A chain or residue lacks atoms that are required (e.g. a chain without any Cα atom)."""


class InvalidCoordinatesError(ProtdataError):
    """Coordinates are NaN/infinite or otherwise unusable."""


class UnsafeArchiveError(ProtdataError):
    """An archive member's path would escape the archive (absolute path, ``..``, link)."""


class SequenceError(ProtdataError):
    """A sequence (FASTA record, string) contains letters or structure that cannot be used."""


class RecordError(ProtdataError):
    """A text/annotation record (ProtAnno, UniProt entry, JSONL line) is missing fields or malformed."""


class DatasetError(ProtdataError):
    """A dataset is unusable: its sources are missing or hold no usable protein, a packed dataset on disk is
    unreadable, or there is nothing to batch."""


class WeightsError(ProtdataError):
    """A weights file is missing or unreadable, or does not hold (right-sized) weights for a module."""
