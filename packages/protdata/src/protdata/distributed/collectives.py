"""Small collectives over the default ``torch.distributed`` group that also work without one (one process):
barriers, Python objects (paths, metadata, error lines), float reductions for metrics, and a preparation run
on rank 0 before the others whose errors reach every rank."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from protdata.distributed.launch import LaunchError
from protdata.errors import ProtdataError

if TYPE_CHECKING:
    import torch

T = TypeVar("T")

__all__ = [
    "all_reduce_max",
    "all_reduce_sum",
    "average_buffers",
    "barrier",
    "broadcast_object",
    "gather_objects",
    "main_rank_first",
    "rank",
    "world_size",
]


def world_size() -> int:
    """The size of the process group (1 without one)."""
    import torch

    return torch.distributed.get_world_size() if torch.distributed.is_initialized() else 1


def rank() -> int:
    """This process's rank in the process group (0 without one)."""
    import torch

    return torch.distributed.get_rank() if torch.distributed.is_initialized() else 0


def barrier() -> None:
    """Wait for every rank (nothing to do for one process)."""
    if world_size() > 1:
        import torch

        torch.distributed.barrier()


def broadcast_object(obj: object, src: int = 0) -> object:
    """``obj`` of rank ``src`` on every rank (paths, small metadata)."""
    if world_size() == 1:
        return obj
    import torch

    holder = [obj]
    torch.distributed.broadcast_object_list(holder, src=src)
    return holder[0]


def gather_objects(obj: object) -> list[object]:
    """``[obj of rank 0, obj of rank 1, …]`` on every rank (small metadata, error lines)."""
    if world_size() == 1:
        return [obj]
    import torch

    out: list[object] = [None] * world_size()
    torch.distributed.all_gather_object(out, obj)
    return out


def all_reduce_sum(values: list[float], device: torch.device) -> list[float]:
    """Element-wise sum of ``values`` over all ranks (float64 on ``device``: the backend's device)."""
    return _all_reduce(values, device, "SUM")


def all_reduce_max(value: float, device: torch.device) -> float:
    """The largest ``value`` of all ranks."""
    return _all_reduce([value], device, "MAX")[0]


def _all_reduce(values: list[float], device: torch.device, op: str) -> list[float]:
    if world_size() == 1:
        return list(values)
    import torch

    t = torch.tensor(values, dtype=torch.float64, device=device)  # (len(values),)
    torch.distributed.all_reduce(t, op=getattr(torch.distributed.ReduceOp, op))
    return t.tolist()


def average_buffers(module: torch.nn.Module) -> int:
    """Average the running statistics of every BatchNorm-like submodule of ``module`` over all ranks, in place:
    its floating-point buffers (``running_mean`` / ``running_var``) become the mean of the ranks' values; integer
    buffers (``num_batches_tracked``: the same on every rank) are kept. A collective (each rank calls it with the
    same module structure); nothing to do for one process. Returns the number of buffers averaged.

    DeepSpeed does not synchronise buffers (DDP broadcasts rank 0's, ``broadcast_buffers=True``), so without this
    each rank evaluates and saves its own statistics; averaging is what SyncBatchNorm's statistics approximate
    (Ioffe & Szegedy 2015, arXiv:1502.03167; torch ``nn.SyncBatchNorm``).
    """
    if world_size() == 1:
        return 0
    import torch

    norms = (torch.nn.modules.batchnorm._NormBase,)
    buffers = [
        b
        for m in module.modules()
        if isinstance(m, norms)
        for b in m.buffers(recurse=False)
        if b is not None and b.is_floating_point()
    ]
    if not buffers:
        return 0
    # one flat float64 reduction: (sum of the buffers' sizes,)
    flat = torch.cat([b.detach().reshape(-1).to(torch.float64) for b in buffers])
    torch.distributed.all_reduce(flat, op=torch.distributed.ReduceOp.SUM)
    flat /= world_size()
    offset = 0
    with torch.no_grad():
        for b in buffers:
            n = b.numel()
            b.copy_(flat[offset : offset + n].view_as(b).to(b.dtype))
            offset += n
    return len(buffers)


def main_rank_first(
    prepare: Callable[[], T],
    *,
    input_errors: tuple[type[BaseException], ...] = (ProtdataError,),
    error: Callable[[str], Exception] = LaunchError,
) -> T:
    """``prepare()`` on rank 0 first (e.g. it builds or reuses a cache), then on the other ranks (they read it).
    A bad-input error (``input_errors``) on rank 0, or any error on another rank, is raised on every rank as
    ``error(one line naming the rank)``, so no rank waits forever in the next collective; a bug on rank 0 (any other
    exception) keeps its traceback there while the other ranks stop with one line. A collective."""
    me = rank()
    data, failure, bug = None, None, None
    if me == 0:
        try:
            data = prepare()
        except input_errors as exc:
            failure = _one_line(str(exc))
        except Exception as exc:  # a bug: the other ranks stop with one line, this one with the traceback
            failure, bug = f"rank 0: {type(exc).__name__}: {_one_line(str(exc))}", exc
    failure = broadcast_object(failure)
    if bug is not None:
        raise bug
    if failure is not None:
        raise error(str(failure))
    if me != 0:
        try:
            data = prepare()
        except Exception as exc:  # tell rank 0 and the others, then stop with this rank's own error
            gather_objects(f"rank {me}: {_one_line(str(exc)) or type(exc).__name__}")
            raise
    failures = [f for f in gather_objects(None) if f is not None]
    if failures:
        raise error(str(failures[0]))
    return data  # type: ignore[return-value]


def _one_line(message: str) -> str:
    return " ".join(part.strip() for part in str(message).splitlines() if part.strip())
