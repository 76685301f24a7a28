"""Test helpers shared by every protstack package's tests (like ``numpy.testing``).

The real data used by tests lives outside the repository, in ``../shared/data`` beside the project root (its
README says where each file came from). ``shared_data()`` finds it; a test that needs it skips with a clear
reason when it is absent, except under CI (``CI=true``), where a missing folder is a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "PROTSTACK_SHARED_DATA"


def find_shared_data() -> Path | None:
    """The ``shared/data`` folder: ``$PROTSTACK_SHARED_DATA``, else ``../shared/data`` of an ancestor of the cwd
    or of this file (the checkout's root sits next to ``shared/``)."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env) if Path(env).is_dir() else None
    for start in (Path.cwd().resolve(), Path(__file__).resolve()):
        for parent in (start, *start.parents):
            candidate = parent / "shared" / "data"
            if (candidate / "README.md").is_file():
                return candidate
    return None


def shared_data(*parts: str) -> Path:
    """Path to ``shared/data/<parts>``; skips the calling test if absent (fails under ``CI=true``)."""
    import pytest

    root = find_shared_data()
    path = None if root is None else root.joinpath(*parts)
    if path is None or not path.exists():
        reason = f"shared test data not found: {'/'.join(('shared', 'data', *parts))} (set ${ENV_VAR})"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def fasta_by_hand(path: Path) -> dict[str, str]:
    """``{first word of the header: sequence}`` read by a few plain lines, independent of protdata's own FASTA
    reader: tests compare against files produced by other tools, so the truth must not pass through the code
    under test."""
    out: dict[str, str] = {}
    name = None
    for line in Path(path).read_text().splitlines():
        if line.startswith(">"):
            name = line[1:].split()[0]
            out[name] = ""
        elif name is not None:
            out[name] += line.strip()
    return out
