"""The ``torch.distributed`` process group of a job, however its processes were started (:mod:`.launch`).

:func:`init_process_group` exports the launcher's variables as ``RANK`` / ``WORLD_SIZE`` / ``LOCAL_RANK`` /
``LOCAL_WORLD_SIZE`` / ``MASTER_ADDR`` / ``MASTER_PORT`` (so torch and DeepSpeed see one launcher's variables),
meets the other ranks on torch's ``env://`` rendezvous store, runs the start-up handshake there, then calls
``torch.distributed.init_process_group`` on the same store. A plain process (or a 1-task SLURM / MPI job) gets a
one-process group on an in-memory store.

Start-up handshake: every rank says on the store whether its start-up checks failed (a rank whose input check
failed before the process group existed joins with its error through :func:`report_startup_failure`), so a
missing dataset on one rank is a one-line error on every rank instead of a collective timeout. The rendezvous +
handshake wait at most ``startup``; later collectives ``timeout``.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING

from protdata.distributed.launch import (
    LaunchEnv,
    LaunchError,
    cuda_index,
    detect_launch,
    launched_by_launcher,
)

if TYPE_CHECKING:
    import torch

__all__ = [
    "destroy_process_group",
    "export_launch_environment",
    "init_process_group",
    "process_device",
    "rendezvous",
    "report_startup_failure",
    "startup_handshake",
    "teardown_process_group",
]

_PREFIX = "protstack/startup/"
_answered = False  # this process has answered the start-up handshake (report_startup_failure: nothing to do)


def _one_line(message: str) -> str:
    return " ".join(part.strip() for part in str(message).splitlines() if part.strip())


def export_launch_environment(launch: LaunchEnv, environ: dict[str, str] | None = None) -> None:
    """Put ``launch``'s ``torchrun``-style variables into ``environ`` (default ``os.environ``: torch's ``env://``
    and DeepSpeed read them); a ``torchrun`` launcher's own variables are kept.

    Raises:
        LaunchError: the master address cannot be known (``mpirun`` over several nodes without ``MASTER_ADDR``).
    """
    environ = os.environ if environ is None else environ  # type: ignore[assignment]
    if launch.master_addr is None:
        raise LaunchError(
            f"{launch.launcher} started {launch.world_size} processes over several hosts and the environment does "
            "not say which host runs rank 0: set MASTER_ADDR (and MASTER_PORT) for every rank, e.g. "
            "mpirun -x MASTER_ADDR=$(hostname) -x MASTER_PORT=29500 …"
        )
    for name, value in launch.variables().items():
        if launch.launcher != "torchrun" or name not in environ:
            environ[name] = value


def rendezvous(launch: LaunchEnv, startup: timedelta) -> torch.distributed.Store:
    """The store of torch's ``env://`` rendezvous (torchrun's agent store under torchrun) within ``startup``.

    Raises:
        LaunchError: the rendezvous does not complete (one line naming the address and port).
    """
    import torch

    try:
        store, _, _ = next(torch.distributed.rendezvous("env://", timeout=startup))
    except (torch.distributed.DistError, RuntimeError, ValueError) as exc:
        raise LaunchError(
            f"rank {launch.rank} of {launch.world_size}: the processes did not all meet at "
            f"{os.environ.get('MASTER_ADDR')}:{os.environ.get('MASTER_PORT')} within "
            f"{startup.total_seconds() / 60:g} min (did another rank fail before start-up, or is the address / "
            f"port wrong?): {_one_line(str(exc))[:300]}"
        ) from None
    store.set_timeout(startup)
    return store


def startup_handshake(store: torch.distributed.Store, launch: LaunchEnv, failure: str | None) -> None:
    """Every rank says on the rendezvous ``store`` whether its start-up failed (``failure``: its one-line error)
    and reads the others'; returns when none did. Runs on the store, not a collective: a rank that failed before
    it knew its device (hence the backend) still takes part.

    Raises:
        LaunchError: on every rank, naming the first rank that failed and its error (a failing rank gets its own
            error back); or when a rank does not answer within the store's timeout.
    """
    import torch

    global _answered
    keys = [f"{_PREFIX}{r}" for r in range(launch.world_size)]
    _answered = True
    try:
        store.set(keys[launch.rank], "" if failure is None else "!" + failure)
        store.wait(keys)
        answers = [store.get(k).decode() for k in keys]
        store.add(f"{_PREFIX}read", 1)
        if launch.rank == 0 and any(answers):  # the store lives in this process: keep it until all have read
            deadline = time.monotonic() + 30
            while store.add(f"{_PREFIX}read", 0) < launch.world_size and time.monotonic() < deadline:
                time.sleep(0.05)
    except (torch.distributed.DistError, RuntimeError) as exc:
        raise LaunchError(
            f"rank {launch.rank} of {launch.world_size}: not every rank reached start-up in time (did one fail or "
            f"hang before it?): {_one_line(str(exc))[:300]}"
        ) from None
    for rank, answer in enumerate(answers):
        if answer:
            message = answer[1:]
            raise LaunchError(
                message if failure is not None else f"rank {rank} failed at start-up: {message}"
            )


def process_device(device_type: str, launch: LaunchEnv) -> torch.device:
    """This process's device: ``cpu``, or ``cuda:LOCAL_RANK`` made current (``cuda:0`` when each process sees
    one GPU, e.g. ``srun --gpus-per-task=1``).

    Raises:
        LaunchError: fewer visible GPUs than processes on the node.
    """
    import torch

    if device_type != "cuda":
        return torch.device("cpu")
    local_rank = launch.local_rank if launch.launched else 0
    index = cuda_index(local_rank, launch.local_world_size, torch.cuda.device_count())
    torch.cuda.set_device(index)
    return torch.device("cuda", index)


def init_process_group(launch: LaunchEnv, backend: str, *, timeout: timedelta, startup: timedelta) -> None:
    """Initialise ``torch.distributed`` for ``launch`` (module docstring); an initialised group is kept.

    Launched: rendezvous and start-up handshake within ``startup``, then the group on the same store (what
    ``env://`` does) with collectives timing out after ``timeout``; call :func:`export_launch_environment` first.
    Otherwise a one-process group on an in-memory store (no port), destroyed at exit.

    Raises:
        LaunchError: a rendezvous that does not complete, or another rank that failed its start-up checks.
    """
    import torch

    if torch.distributed.is_initialized():
        return
    if not launch.launched:
        store = torch.distributed.HashStore()
        torch.distributed.init_process_group(backend, store=store, rank=0, world_size=1, timeout=timeout)
        atexit.register(destroy_process_group)
        return
    store = rendezvous(launch, startup)
    startup_handshake(store, launch, None)
    store.set_timeout(timeout)
    torch.distributed.init_process_group(
        backend,
        store=torch.distributed.PrefixStore("default_pg", store),
        rank=launch.rank,
        world_size=launch.world_size,
        timeout=timeout,
    )


def report_startup_failure(
    message: str, startup: timedelta = timedelta(minutes=10), env: Mapping[str, str] | None = None
) -> None:
    """Tell the other ranks of a launched job that this rank's start-up checks failed with ``message`` (they wait
    in :func:`init_process_group`'s handshake): rendezvous and answer the handshake with it. A plain process, a
    process group already past start-up, or a rendezvous that does not complete within ``startup`` do nothing
    (the caller reports ``message`` either way)."""
    launch = detect_launch(os.environ if env is None else env)
    if not launch.launched or launch.world_size <= 1:
        return
    import torch

    if _answered or torch.distributed.is_initialized():
        return  # past the handshake: the other ranks hear of it through their next collective
    with contextlib.suppress(LaunchError):
        export_launch_environment(launch)
        startup_handshake(rendezvous(launch, startup), launch, message)


def destroy_process_group() -> None:
    """Destroy the process group, if there is one."""
    import torch

    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def teardown_process_group() -> None:
    """End of a job: destroy a launcher's process group. The one-process group of a plain process is kept for the
    next run in the same process (DeepSpeed caches its groups, so a destroyed and re-made group would not do) and
    is destroyed at exit."""
    if launched_by_launcher():
        destroy_process_group()
