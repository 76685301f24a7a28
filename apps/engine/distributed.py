"""Process-group set-up for the apps: under ``deepspeed`` / ``torchrun`` use the launcher's environment; under a
plain ``uv run`` make a one-process group ourselves. gloo on CPU, nccl on GPU.

DeepSpeed on CPU: its communication backend JIT-compiles a shared-memory all-reduce op
(``deepspeed_shm_comm``, ~90 s on 2 cores on a fresh machine) every time a ``TorchBackend`` is created. That op
only serves ``inference_all_reduce`` (tensor-parallel inference); training collectives go through
``torch.distributed`` (gloo). :func:`setup_distributed` therefore tells DeepSpeed not to build it on CPU, so no
app or test ever compiles anything. The client optimizer is a torch optimizer, so DeepSpeed's fused / CPU Adam
ops are not built either.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import logging
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch loads on first use: an app imports this module before it validates its config
    import torch

_LAUNCHER_VARS = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class DistContext:
    """Where this process sits: rank, local rank, world size, its device and the collective backend."""

    rank: int
    local_rank: int
    world_size: int
    device: torch.device
    backend: str
    launched: bool  # started by torchrun / deepspeed (else: a one-process group made here)

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_by_launcher() -> bool:
    """True when ``torchrun`` / ``deepspeed`` set up this process's environment."""
    return all(v in os.environ for v in _LAUNCHER_VARS)


def env_rank() -> tuple[int, int]:
    """``(rank, world_size)`` from the launcher's environment (``(0, 1)`` for a plain process)."""
    if launched_by_launcher():
        return int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    return 0, 1


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


def setup_distributed(device: str = "auto", timeout_minutes: float = 30.0) -> DistContext:
    """Initialise ``torch.distributed`` + DeepSpeed's comm layer and return this process's :class:`DistContext`.

    Under a launcher, the environment (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``,
    ``LOCAL_RANK``) is used as is. Otherwise a one-process group is created on an in-memory store (no port, no
    environment variables). An already initialised group (a second run in the same process) is reused.
    """
    import torch

    device_type = choose_device(device)
    backend = "nccl" if device_type == "cuda" else "gloo"
    launched = launched_by_launcher()
    local_rank = int(os.environ.get("LOCAL_RANK", "0")) if launched else 0
    deepspeed = import_deepspeed(device_type)
    if device_type == "cuda":
        torch.cuda.set_device(local_rank)
        dev = torch.device("cuda", local_rank)
    else:
        dev = torch.device("cpu")
    timeout = timedelta(minutes=timeout_minutes)
    if not torch.distributed.is_initialized():
        if launched:
            torch.distributed.init_process_group(backend, timeout=timeout)
        else:
            os.environ.setdefault("LOCAL_RANK", "0")  # DeepSpeed's argument check reads it
            store = torch.distributed.HashStore()
            torch.distributed.init_process_group(backend, store=store, rank=0, world_size=1, timeout=timeout)
            atexit.register(_destroy)
    deepspeed.init_distributed(dist_backend=backend, auto_mpi_discovery=False, verbose=False, timeout=timeout)
    return DistContext(
        rank=torch.distributed.get_rank(),
        local_rank=local_rank,
        world_size=torch.distributed.get_world_size(),
        device=dev,
        backend=backend,
        launched=launched,
    )


def teardown_distributed() -> None:
    """End of an app: destroy a launcher's process group. The one-process group made here is kept for the next
    run in the same process (DeepSpeed caches its groups, so a destroyed and re-made group would not do) and is
    destroyed at exit."""
    if launched_by_launcher():
        _destroy()


def _destroy() -> None:
    import torch

    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def _world() -> int:
    """The size of the process group (1 without one)."""
    import torch

    return torch.distributed.get_world_size() if torch.distributed.is_initialized() else 1


def barrier() -> None:
    if _world() > 1:
        import torch

        torch.distributed.barrier()


def broadcast_object(obj: object, src: int = 0) -> object:
    """``obj`` of rank ``src`` on every rank (paths, small metadata)."""
    if _world() == 1:
        return obj
    import torch

    holder = [obj]
    torch.distributed.broadcast_object_list(holder, src=src)
    return holder[0]


def all_reduce_sum(values: list[float], device: torch.device) -> list[float]:
    """Element-wise sum of ``values`` over all ranks."""
    return _all_reduce(values, device, "SUM")


def all_reduce_max(value: float, device: torch.device) -> float:
    """The largest ``value`` of all ranks."""
    return _all_reduce([value], device, "MAX")[0]


def _all_reduce(values: list[float], device: torch.device, op: str) -> list[float]:
    if _world() == 1:
        return list(values)
    import torch

    t = torch.tensor(values, dtype=torch.float64, device=device)
    torch.distributed.all_reduce(t, op=getattr(torch.distributed.ReduceOp, op))
    return t.tolist()
