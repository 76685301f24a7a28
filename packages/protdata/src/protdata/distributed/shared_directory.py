"""Check that every rank of a job sees the same directory (a run directory on a shared filesystem)."""

from __future__ import annotations

import contextlib
import secrets
import socket
import time
from pathlib import Path

from protdata.distributed.collectives import barrier, broadcast_object, gather_objects, rank, world_size
from protdata.distributed.launch import LaunchError

__all__ = ["SHARED_DIR_WAIT_S", "check_shared_directory"]

#: Seconds a non-main rank waits for rank 0's token to appear in the directory (NFS attribute caching).
SHARED_DIR_WAIT_S = 20.0


def check_shared_directory(path: Path, wait_s: float = SHARED_DIR_WAIT_S) -> None:
    """Check that every rank sees the directory ``path`` that rank 0 sees (a run directory: checkpoints, the
    export and the data cache are written by one rank and read by the others). Rank 0 writes a token file with
    a random value into it; every other rank must read that value there (waiting up to ``wait_s`` for a network
    filesystem to show it); rank 0 removes it. A collective: every rank calls it.

    Raises:
        LaunchError: on every rank, naming each rank that does not see the token, its host and the path.
    """
    if world_size() == 1:
        return
    me, host = rank(), socket.gethostname()
    token = path / f".rank-check-{secrets.token_hex(8)}" if me == 0 else None
    value, failure = secrets.token_hex(16), None
    if token is not None:
        try:
            token.write_text(value)
        except OSError as exc:
            failure = f"rank 0 ({host}) cannot write into {path}: {exc.strerror or exc}"
    shared = broadcast_object((token.name if token is not None else None, value, host, failure))
    token_name, value, host0, failure0 = shared  # type: ignore[misc]
    if failure0 is not None:
        raise LaunchError(str(failure0))
    seen = path / str(token_name)  # this rank's own view of the directory
    if me != 0:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                if seen.read_text() == value:
                    break
            except OSError:
                pass
            if time.monotonic() >= deadline:
                failure = (
                    f"rank {me} ({host}) does not see the run directory {path} that rank 0 ({host0}) "
                    f"created (no {seen.name} after {wait_s:g} s): every rank needs the same directory on a "
                    "shared filesystem (set output_dir / output_root to a path all nodes mount)"
                )
                break
            time.sleep(0.2)
    failures = [f for f in gather_objects(failure) if f is not None]
    if me == 0:
        with contextlib.suppress(OSError):
            seen.unlink()
    barrier()  # no rank goes on to use the directory while the token is still there
    if failures:
        more = f" (and {len(failures) - 1} more rank(s))" if len(failures) > 1 else ""
        raise LaunchError(f"{failures[0]}{more}")
