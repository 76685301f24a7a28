"""The errors the apps report to a person, and the boundary that turns them into one line and an exit code.

Every bad input an app can meet — a missing file, an unknown config key, an empty data directory, a corrupted or
wrong-size checkpoint — is an :class:`AppError` whose message names *what* is wrong and *where* (file, key,
parameter). :func:`error_boundary` prints it as a single ``error: …`` line on stderr and exits with
:data:`EXIT_BAD_INPUT`; the apps run these checks before they write anything, so a failed start leaves no
half-written run directory.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

#: Exit status of an app stopped by bad input (argparse uses 2 for usage errors as well).
EXIT_BAD_INPUT = 2


class AppError(Exception):
    """Bad input to an app; ``str(error)`` is the one line shown to the user (what and where)."""


class ConfigError(AppError, ValueError):
    """A config file or ``key=value`` override is unreadable, names an unknown key or has a wrong type."""


class DataError(AppError, ValueError):
    """Training / prediction data is missing, empty, or every file in it failed to load."""


class CheckpointError(AppError, ValueError):
    """A checkpoint is missing, corrupted, or does not fit the model (names the file and the parameter)."""


class TrainingError(AppError, RuntimeError):
    """Training cannot go on (e.g. a non-finite loss); names the step and the proteins of the micro-batch."""


def one_line(message: str) -> str:
    """``message`` folded onto one line (pydantic and OS errors span several)."""
    return " ".join(part.strip() for part in str(message).splitlines() if part.strip())


def input_error_types() -> tuple[type[BaseException], ...]:
    """Exception types that mean *bad input* (reported in one line) rather than a bug (reported with a
    traceback): ours, and the packages' (every package's errors subclass :class:`protdata.errors.ProtdataError`)."""
    from protdata.errors import ProtdataError

    return (AppError, ProtdataError)


@contextmanager
def error_boundary(rank: int = 0, world_size: int = 1) -> Iterator[None]:
    """Turn bad-input exceptions (:func:`input_error_types`) into ``error: …`` on stderr and exit status 2.

    Unexpected exceptions propagate with their traceback: they are bugs, not bad input.
    """
    types = input_error_types()
    try:
        yield
    except types as exc:
        prefix = f"[rank {rank}] " if world_size > 1 else ""
        print(f"{prefix}error: {one_line(str(exc))}", file=sys.stderr, flush=True)
        raise SystemExit(EXIT_BAD_INPUT) from None
