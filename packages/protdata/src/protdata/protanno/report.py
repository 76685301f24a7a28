"""``SkipReport``: what a skip-and-report reader left out, and why (count + reasons, never a silent drop)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class SkipReport:
    """Items a batch reader skipped: ``skipped`` holds ``(line, reason)`` pairs; ``total`` counts items seen."""

    source: str | None = None
    total: int = 0
    skipped: list[tuple[int | None, str]] = field(default_factory=list)

    def add(self, line: int | None, reason: str) -> None:
        self.skipped.append((line, reason))

    @property
    def count(self) -> int:
        """Number of skipped items."""
        return len(self.skipped)

    @property
    def kept(self) -> int:
        return self.total - self.count

    def reasons(self) -> Counter[str]:
        """How often each kind of reason occurred (the text before the first ``:``)."""
        return Counter(reason.split(":", 1)[0] for _, reason in self.skipped)

    def summary(self, max_items: int = 5) -> str:
        """One line: how many were skipped out of how many, by kind, with the first few line numbers."""
        where = self.source or "<input>"
        if not self.skipped:
            return f"{where}: nothing skipped ({self.total} read)"
        kinds = ", ".join(f"{n}× {kind}" for kind, n in self.reasons().most_common())
        first = "; ".join(
            (f"line {line}: {reason}" if line is not None else reason)
            for line, reason in self.skipped[:max_items]
        )
        more = f"; … {self.count - max_items} more" if self.count > max_items else ""
        return f"{where}: skipped {self.count} of {self.total} ({kinds}) — {first}{more}"
