"""The apps' process group: :func:`protdata.distributed.init_process_group` (torchrun, the ``deepspeed``
launcher, ``srun``, ``mpirun``; a one-process group under a plain ``uv run``; the start-up handshake) plus
DeepSpeed's comm layer. gloo on CPU, nccl on GPU (``cuda:LOCAL_RANK``). The ``deepspeed`` launcher also passes
``--local_rank=N``, which the apps' parsers accept and ignore.

DeepSpeed on CPU: its communication backend JIT-compiles a shared-memory all-reduce op
(``deepspeed_shm_comm``, ~90 s on 2 cores on a fresh machine) every time a ``TorchBackend`` is created. That op
only serves ``inference_all_reduce`` (tensor-parallel inference); training collectives go through
``torch.distributed`` (gloo). :func:`setup_distributed` therefore tells DeepSpeed not to build it on CPU, so no
app or test ever compiles anything. The client optimizer is a torch optimizer, so DeepSpeed's fused / CPU Adam
ops are not built either.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from protdata.distributed import teardown_process_group

teardown_distributed = teardown_process_group  # end of an app: a launcher's group is destroyed

if TYPE_CHECKING:  # torch loads on first use: an app imports this module before it validates its config
    import torch


@dataclass(frozen=True)
class DistContext:
    """Where this process sits: rank, local rank, world size, its device and the collective backend."""

    rank: int
    local_rank: int
    world_size: int
    device: torch.device
    backend: str
    launched: bool  # started by a launcher (else: a one-process group made here)

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def choose_device(device: str = "auto") -> str:
    """``"cuda"`` or ``"cpu"`` for a config's ``train.device`` (:func:`protdata.device.choose_device`)."""
    from protdata.device import choose_device as choose

    return choose(device, name="train.device").type


@contextlib.contextmanager
def environment(name: str, value: str) -> Iterator[None]:
    """``os.environ[name] = value`` inside the block only (the previous value, or none, restored after it)."""
    previous = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


def import_deepspeed(device_type: str):
    """Import DeepSpeed for ``device_type``, quietly, without its CPU shared-memory op (see module docstring)."""
    if device_type == "cpu" and "deepspeed.accelerator" not in sys.modules:
        # Fix DeepSpeed's accelerator to the CPU (also on a machine with a GPU when train.device is cpu; and no
        # "unable to detect an accelerator" warning), without leaking the variable to child processes.
        with environment("DS_ACCELERATOR", "cpu"):
            from deepspeed.accelerator import get_accelerator

            get_accelerator()
    import deepspeed

    logger = logging.getLogger("DeepSpeed")
    logger.setLevel(logging.WARNING)
    if not any(isinstance(f, _KnownOutputTypes) for f in logger.filters):
        logger.addFilter(_KnownOutputTypes())
    if device_type == "cpu":
        comm_torch = importlib.import_module("deepspeed.comm.torch")
        comm_torch.build_shm_op = _no_shm_op
    return deepspeed


class _KnownOutputTypes(logging.Filter):
    """Drop ZeRO-3's warning that it cannot see the tensors inside our output dataclasses (``EncoderOutput``,
    ``ObjectiveOutput``): its parameter hooks still gather what backward needs — a 2-process ZeRO-3 run gives the
    losses of ZeRO-2 (tests/test_engine_distributed.py)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "has unknown inputs or outputs type" not in record.getMessage()


def _no_shm_op() -> None:
    """Replacement for DeepSpeed's ``build_shm_op`` on CPU: no JIT compile; collectives fall back to gloo."""
    return None


def setup_distributed(
    device: str = "auto", timeout_minutes: float = 30.0, startup_minutes: float = 10.0
) -> DistContext:
    """Initialise ``torch.distributed`` + DeepSpeed's comm layer and return this process's :class:`DistContext`.

    Under a launcher the environment's rank, world size and rendezvous are used; the start-up handshake follows
    within ``startup_minutes``, then collectives time out after ``timeout_minutes``. Otherwise a one-process group
    on an in-memory store. An already initialised group (a second run in the same process) is reused.

    Raises:
        LaunchError: a bad launch environment, a rendezvous that does not complete, or another rank that failed
            its start-up checks (naming it and its error).
    """
    import torch

    from protdata.distributed import (
        detect_launch,
        export_launch_environment,
        init_process_group,
        process_device,
    )

    device_type = choose_device(device)
    backend = "nccl" if device_type == "cuda" else "gloo"
    launch = detect_launch(os.environ)
    if launch.launched:
        export_launch_environment(launch)
    deepspeed = import_deepspeed(device_type)
    dev = process_device(device_type, launch)
    timeout = timedelta(minutes=timeout_minutes)
    if not launch.launched:
        os.environ.setdefault("LOCAL_RANK", "0")  # DeepSpeed's argument check reads it
    init_process_group(launch, backend, timeout=timeout, startup=timedelta(minutes=startup_minutes))
    deepspeed.init_distributed(dist_backend=backend, auto_mpi_discovery=False, verbose=False, timeout=timeout)
    return DistContext(
        rank=torch.distributed.get_rank(),
        local_rank=launch.local_rank if launch.launched else 0,
        world_size=torch.distributed.get_world_size(),
        device=dev,
        backend=backend,
        launched=launch.launched,
    )


def report_startup_failure(message: str, startup_minutes: float = 10.0) -> None:
    """:func:`protdata.distributed.report_startup_failure` (the other ranks wait in the start-up handshake)."""
    from protdata.distributed import report_startup_failure as report

    report(message, timedelta(minutes=startup_minutes))
