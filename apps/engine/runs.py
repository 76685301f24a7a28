"""Run directories: ``<output_root>/<name>-<YYYYmmdd-HHMMSS>/``, created by rank 0 and shared with every rank;
the latest run of a name and the checkpoint a ``--resume`` argument names (without importing torch)."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

from engine.errors import CheckpointError

if TYPE_CHECKING:
    from engine.distributed import DistContext

#: A run's ``checkpoints/``: ``latest`` names the newest complete ``step_…`` directory, each with its manifest and
#: trainer state (:mod:`engine.checkpoint`).
LATEST, MANIFEST, TRAINER_STATE = "latest", "manifest.json", "trainer_state.json"
STEP_DIR = re.compile(r"step_\d+")


def new_run_dir(output_root: Path, name: str, dist: DistContext, exact: Path | None = None) -> Path:
    """Create the run directory on rank 0 (``exact`` if given, else a fresh timestamped one) and return it on
    every rank."""
    from protdata.distributed import broadcast_object

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


def resolve_checkpoint(path: str | os.PathLike[str]) -> Path:
    """The checkpoint directory that ``path`` names: a checkpoint directory itself, a ``checkpoints/`` folder or a
    run directory. For the latter two, the one ``latest`` names — or, if that directory is gone (a run killed
    while it swapped a re-saved checkpoint into place), the newest complete one."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint or run directory")
    if (path / MANIFEST).is_file() or (path / TRAINER_STATE).is_file():
        return path
    for root in (path, path / "checkpoints"):
        latest = root / LATEST
        if not latest.is_file():
            continue
        name = latest.read_text().strip()
        if name and (root / name).is_dir():
            return root / name  # verify_checkpoint says if it is incomplete or corrupted
        complete = sorted(
            (p for p in root.glob("step_*") if STEP_DIR.fullmatch(p.name) and (p / MANIFEST).is_file()),
            reverse=True,
        )
        if complete:
            return complete[0]
        raise CheckpointError(f"{latest}: points to {name!r}, which is not a complete checkpoint")
    raise CheckpointError(
        f"{path}: not a checkpoint (expected a run directory with checkpoints/{LATEST}, or a checkpoint "
        f"directory with {MANIFEST})"
    )
