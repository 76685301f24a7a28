"""Notices of a run over many batches, counted while it runs and reported once at its end.

The encoders warn once per *call* -- e.g. the tokenizer's ``cropped 1 sequence(s) to their first 1022 residues``
for each batch that holds a long protein -- so a run of many batches would repeat the same notice many times.
:meth:`Notices.capture` takes the ``UserWarning`` s raised inside it (crops and long sequences -- the
:class:`~protenc_seq.errors.LengthWarning` s -- counted by their window, every one of them; any other message once,
with how often the warning filters in force let it through), :meth:`Notices.cropped` counts crops the caller does
itself, and :meth:`Notices.lines` gives one line per kind, e.g. ``cropped 37 proteins longer than 1022 residues
to 1022``. Warnings that are not ``UserWarning`` s (deprecations, library internals) go on to Python's normal
handling.
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from collections import Counter
from collections.abc import Iterator
from typing import Any, TextIO

from protenc_seq.errors import CroppedSequencesWarning, LengthWarning, LongSequencesWarning


class Notices:
    """Counts of crops / long sequences by window and distinct other notes, reported once (module docstring)."""

    def __init__(self) -> None:
        self.crops: Counter[int] = Counter()  # window -> proteins cropped to it
        self.long: Counter[int] = Counter()  # window -> proteins run in full although longer
        self.notes: Counter[str] = Counter()  # other notes, by text, in first-seen order

    # ------------------------------------------------------------------------------------------ counting
    def cropped(self, count: int, window: int) -> None:
        """``count`` proteins longer than ``window`` residues were cut to ``window``."""
        if count:
            self.crops[window] += count

    def note(self, message: str) -> None:
        """A note shown once however often it comes (with the count when more than once)."""
        self.notes[message] += 1

    @contextlib.contextmanager
    def capture(self) -> Iterator[Notices]:
        """Route the ``UserWarning`` s raised inside the block into these counts (module docstring)."""
        with warnings.catch_warnings():
            # every crop counts, not only the first per location; other warnings keep the filters in force
            warnings.simplefilter("always", LengthWarning)
            shown = warnings.showwarning

            def show(message: Any, category: type[Warning], *args: Any, **kwargs: Any) -> None:
                if issubclass(category, UserWarning):
                    self._add(message)
                else:
                    shown(message, category, *args, **kwargs)

            warnings.showwarning = show
            yield self

    def _add(self, warning: Warning | str) -> None:
        if isinstance(warning, CroppedSequencesWarning):
            self.cropped(warning.count, warning.max_residues)
        elif isinstance(warning, LongSequencesWarning):
            self.long[warning.max_residues] += warning.count
        else:
            self.note(str(warning))

    # ------------------------------------------------------------------------------------------ reporting
    @property
    def n_cropped(self) -> int:
        """Proteins cropped in this run (all windows)."""
        return sum(self.crops.values())

    def lines(self) -> list[str]:
        """One line per kind of notice: crops and long sequences with their totals, then the other notes."""
        out = [
            f"cropped {n} protein{'s' if n != 1 else ''} longer than {w} residues to {w}"
            for w, n in sorted(self.crops.items())
        ]
        out += [
            f"{n} protein{'s' if n != 1 else ''} longer than the {w}-residue window ran in full"
            for w, n in sorted(self.long.items())
        ]
        out += [text if n == 1 else f"{text} (x{n})" for text, n in self.notes.items()]
        return out

    def report(self, stream: TextIO | None = None) -> None:
        """Print every line of :meth:`lines` as ``note: …`` (stderr by default)."""
        stream = stream if stream is not None else sys.stderr
        for line in self.lines():
            print(f"note: {line}", file=stream, flush=True)
