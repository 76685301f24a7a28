"""Skipped inputs of the one-shot apps: :func:`report_skipped` lists them (``skipped FILE, line N: reason``);
:class:`protdata.inputs.SkippedInputsError` is the one error of ``--strict`` when anything was skipped.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO


def report_skipped(skipped: Sequence[tuple[str, str]], stream: TextIO | None = None, limit: int = 20) -> None:
    """``skipped SOURCE: REASON`` for the first ``limit`` skipped inputs (file / record / protein), then a count."""
    stream = stream if stream is not None else sys.stderr
    for source, reason in skipped[:limit]:
        print(f"skipped {source}: {reason}", file=stream)
    if len(skipped) > limit:
        print(f"… and {len(skipped) - limit} more skipped", file=stream)
    stream.flush()
