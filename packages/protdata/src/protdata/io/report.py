"""What a batch load read, loaded and skipped (and why): :class:`LoadReport`."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import NamedTuple

from protdata.protein import Protein

logger = logging.getLogger("protdata.io")


@dataclass(frozen=True)
class SkippedSource:
    """A file or archive member that gave no proteins: where, why, and the exception type."""

    source: str
    reason: str
    error: str


@dataclass
class LoadReport:
    """Counts of a batch load plus every skipped source with its reason. Nothing is dropped silently.

    Attributes:
        n_sources: Files or archive members that were read as structures.
        n_loaded: Of those, how many gave at least one protein.
        n_proteins: Proteins produced.
        skipped: Sources that failed, each with the reason (the exception message names the file).
        ignored: Directory entries / archive members not taken for structure files because of their extension
            (e.g. ``.json``, ``.md``); listed, never read.
    """

    n_sources: int = 0
    n_loaded: int = 0
    n_proteins: int = 0
    skipped: list[SkippedSource] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)

    @property
    def n_skipped(self) -> int:
        return len(self.skipped)

    def add_loaded(self, n_proteins: int) -> None:
        self.n_sources += 1
        self.n_loaded += 1
        self.n_proteins += n_proteins

    def add_skipped(self, source: str, exc: BaseException, *, counted: bool = True) -> None:
        """Record a failed source (``counted=False`` for whole archives, whose members are counted instead)."""
        if counted:
            self.n_sources += 1
        reason = getattr(exc, "reason", None) or str(exc)
        self.skipped.append(SkippedSource(source, reason, type(exc).__name__))
        logger.debug("skipped %s: %s", source, reason)

    def summary(self) -> str:
        """One line: proteins, files, skipped by error type."""
        line = f"loaded {self.n_proteins} proteins from {self.n_loaded} of {self.n_sources} structure files"
        if self.skipped:
            kinds = Counter(s.error for s in self.skipped)
            line += (
                f"; skipped {self.n_skipped} (" + ", ".join(f"{k}: {v}" for k, v in kinds.most_common()) + ")"
            )
        if self.ignored:
            line += f"; ignored {len(self.ignored)} non-structure files"
        return line

    def __str__(self) -> str:
        return "\n".join([self.summary(), *(f"  {s.source}: {s.error}: {s.reason}" for s in self.skipped)])

    def log(self) -> None:
        (logger.warning if self.skipped else logger.info)(self.summary())


class LoadResult(NamedTuple):
    """``proteins, report = load_many(...)``."""

    proteins: list[Protein]
    report: LoadReport
