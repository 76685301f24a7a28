"""Stopping a training run on a signal without losing steps: Ctrl-C (SIGINT), ``kill`` / SLURM pre-emption and
time limits (SIGTERM), and SLURM's early warning (``sbatch --signal=USR1@120``: SIGUSR1).

While the training loop runs, :class:`StopRequest` replaces the handlers of these signals by one that only notes
the signal. The loop finishes the optimizer step it is in, all processes agree to stop after the same step (one
tiny all-reduce of the flag per step, so the collective checkpoint cannot hang), the checkpoint of that step is
written atomically, and :class:`Interrupted` carries the step, the checkpoint and the signal to the app, which
prints how to continue and exits with ``128 + signal number`` (130 for Ctrl-C, 143 for SIGTERM, 138 for SIGUSR1).
A second Ctrl-C stops at once (``KeyboardInterrupt``; the last complete checkpoint is still intact).

DataLoader worker processes ignore these signals (:func:`ignore_stop_signals`, their ``worker_init_fn``): SLURM
signals every process of a job and a terminal every process of its foreground group, and a worker that died of
the signal would make the main process fail in the middle of the step it is finishing. The main process shuts
its workers down when it exits; a worker whose main process is gone exits by itself (torch's watchdog).
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

#: The signals that ask a run to stop after the current step (those this platform has).
STOP_SIGNALS: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGUSR1") if hasattr(signal, name)
)


class Interrupted(Exception):
    """A run stopped by a signal after ``step``, with its checkpoint written (``checkpoint``)."""

    def __init__(self, signum: int, step: int, checkpoint: Path | None) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name} after step {step}")
        self.signum = signum
        self.step = step
        self.checkpoint = checkpoint

    @property
    def exit_status(self) -> int:
        """The shell's convention for a process ended by a signal: ``128 + signal number``."""
        return 128 + self.signum


class StopRequest:
    """Notes the first stop signal between :meth:`install` and :meth:`restore` (outside the main thread, where
    Python cannot install handlers, it notes nothing). ``signum`` is 0 until a signal arrives."""

    def __init__(self) -> None:
        self.signum = 0
        self._previous: dict[signal.Signals, Any] = {}

    def install(self) -> StopRequest:
        """Replace the stop signals' handlers; returns ``self``."""
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def restore(self) -> None:
        """Put the previous handlers back."""
        for sig, handler in self._previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now
        self.signum = self.signum or signum


def ignore_stop_signals() -> None:
    """In a DataLoader worker: leave the stop signals to the main process (module docstring)."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
