"""Run directories: ``<output_root>/<name>-<YYYYmmdd-HHMMSS>/``, created by rank 0 and shared with every rank,
and finding the latest run of a name for ``--resume`` without a directory."""

from __future__ import annotations

import time
from pathlib import Path

from engine.checkpoint import LATEST
from engine.distributed import DistContext, broadcast_object
from engine.errors import CheckpointError


def new_run_dir(output_root: Path, name: str, dist: DistContext, exact: Path | None = None) -> Path:
    """Create the run directory on rank 0 (``exact`` if given, else a fresh timestamped one) and return it on
    every rank."""
    path: Path | None = None
    if dist.is_main:
        if exact is not None:
            path = exact
        else:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            path = output_root / f"{name}-{stamp}"
            n = 2
            while path.exists():
                path = output_root / f"{name}-{stamp}-{n}"
                n += 1
        path.mkdir(parents=True, exist_ok=True)
    shared = broadcast_object(str(path) if path is not None else None)
    return Path(str(shared))


def latest_run(output_root: Path, name: str) -> Path:
    """The most recent run named ``name`` under ``output_root`` that has a checkpoint (for ``--resume``)."""
    candidates = [
        p for p in output_root.glob(f"{name}-*") if p.is_dir() and (p / "checkpoints" / LATEST).is_file()
    ]
    if not candidates:
        raise CheckpointError(
            f"--resume: no run named {name!r} with a checkpoint under {output_root}/ (give the run directory)"
        )
    return max(candidates, key=lambda p: (p / "checkpoints" / LATEST).stat().st_mtime)
