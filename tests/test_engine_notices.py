"""apps/engine/notices.py: skipped inputs listed, and the one error of --strict."""

from __future__ import annotations

import io
import sys
from pathlib import Path

APPS = Path(__file__).resolve().parents[1] / "apps"
if str(APPS) not in sys.path:
    sys.path.insert(0, str(APPS))

from engine.notices import report_skipped  # noqa: E402

from protdata.inputs import SkippedInputsError  # noqa: E402


def test_skipped_inputs_listing_and_strict_error() -> None:
    skipped = [(f"a.fasta, line {2 * i}", f"record 'p{i}': digit '1'") for i in range(23)]
    stream = io.StringIO()
    report_skipped(skipped, stream)
    lines = stream.getvalue().splitlines()
    assert (
        lines[0] == "skipped a.fasta, line 0: record 'p0': digit '1'" and lines[-1] == "… and 3 more skipped"
    )
    assert len(lines) == 21
    error = SkippedInputsError(skipped, option="--strict")
    assert str(error).startswith(
        "inputs: 23 input(s) skipped and --strict is set: a.fasta, line 0: record 'p0'"
    )
