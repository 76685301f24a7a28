"""Where this process sits in a multi-process job, read from the launcher's environment (no torch import).

- ``torchrun`` and the ``deepspeed`` launcher set ``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT`` and
  ``LOCAL_RANK`` (the ``deepspeed`` launcher ``LOCAL_SIZE`` instead of ``LOCAL_WORLD_SIZE``); that environment
  wins over anything else (a SLURM batch job that runs torchrun inside is torchrun's);
- ``srun`` (SLURM, ``srun(1)`` OUTPUT ENVIRONMENT VARIABLES): ``SLURM_PROCID`` / ``SLURM_STEP_NUM_TASKS`` (or
  ``SLURM_NTASKS``) / ``SLURM_LOCALID``; the master is the first host of the step's node list
  (``SLURM_STEP_NODELIST`` / ``SLURM_JOB_NODELIST``; else ``SLURM_LAUNCH_NODE_IPADDR``), the port is derived from
  ``SLURM_JOB_ID`` (as Lightning's ``SLURMEnvironment`` does);
- ``mpirun`` / ``mpiexec``: Open MPI (``OMPI_COMM_WORLD_RANK`` / ``_SIZE`` / ``_LOCAL_RANK``), MPICH and Intel
  MPI (``PMI_RANK`` / ``PMI_SIZE`` / ``MPI_LOCALRANKID``), MVAPICH2 (``MV2_COMM_WORLD_*``); the master is
  ``MASTER_ADDR`` if set, else this host when every rank is local, else the first node of a SLURM allocation.

:func:`detect_launch` is a pure function of an environment mapping; :meth:`LaunchEnv.variables` gives the
``torchrun``-style variables torch's ``env://`` rendezvous reads.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from os import PathLike

from protdata.errors import ProtdataError

__all__ = [
    "DEFAULT_PORT",
    "LaunchEnv",
    "LaunchError",
    "cuda_index",
    "detect_launch",
    "env_rank",
    "first_host",
    "launched_by_launcher",
    "slurm_port",
    "tasks_on_first_node",
]

_LAUNCHER_VARS = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
#: torch's default rendezvous port (``torchrun``, the ``deepspeed`` launcher).
DEFAULT_PORT = 29500
#: Ports derived from a SLURM job id fall in ``[SLURM_PORT_BASE, SLURM_PORT_BASE + SLURM_PORT_SPAN)``.
SLURM_PORT_BASE, SLURM_PORT_SPAN = 15000, 20000
#: (rank, size, local rank, local size) variables of the MPI launchers, in the order they are tried.
_MPI_VARS = (
    (
        "OMPI_COMM_WORLD_RANK",
        "OMPI_COMM_WORLD_SIZE",
        "OMPI_COMM_WORLD_LOCAL_RANK",
        "OMPI_COMM_WORLD_LOCAL_SIZE",
    ),
    ("MV2_COMM_WORLD_RANK", "MV2_COMM_WORLD_SIZE", "MV2_COMM_WORLD_LOCAL_RANK", "MV2_COMM_WORLD_LOCAL_SIZE"),
    ("PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID", "MPI_LOCALNRANKS"),
)


class LaunchError(ProtdataError, RuntimeError):
    """The processes of a job cannot work together (bad launch environment, a rank that failed at start-up, a
    run directory that not every rank sees); ``str(error)`` is one line naming the rank(s) and what to do.

    Raised as ``LaunchError(message)`` (``source`` is ``None``, ``reason`` the message)."""

    def __init__(self, message: str | PathLike[str] | None, reason: str | None = None) -> None:
        if reason is not None:
            super().__init__(message, reason)
            return
        RuntimeError.__init__(self, str(message))
        self.source, self.reason, self.line = None, str(message), None


@dataclass(frozen=True)
class LaunchEnv:
    """What a launcher told this process (:func:`detect_launch`).

    ``launcher`` is ``"torchrun"`` (also the ``deepspeed`` launcher), ``"slurm"``, ``"mpi"`` or ``"none"`` (a
    plain process, or a SLURM / MPI job of one task). ``master_addr`` is ``None`` when it cannot be known from the
    environment (``mpirun`` over several nodes without ``MASTER_ADDR``).
    """

    launcher: str
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    master_addr: str | None = "127.0.0.1"
    master_port: int = DEFAULT_PORT

    @property
    def launched(self) -> bool:
        return self.launcher != "none"

    def variables(self) -> dict[str, str]:
        """The ``torchrun``-style variables of this launch (``env://`` initialisation reads them)."""
        out = {
            "RANK": str(self.rank),
            "WORLD_SIZE": str(self.world_size),
            "LOCAL_RANK": str(self.local_rank),
            "LOCAL_WORLD_SIZE": str(self.local_world_size),
            "MASTER_PORT": str(self.master_port),
        }
        if self.master_addr is not None:
            out["MASTER_ADDR"] = self.master_addr
        return out


def _int(env: Mapping[str, str], *names: str) -> int | None:
    """The first of ``names`` set in ``env`` as an int (``None`` if none is set)."""
    for name in names:
        value = env.get(name, "").strip()
        if value:
            try:
                return int(value)
            except ValueError:
                raise LaunchError(f"{name}={value!r} in the environment is not an integer") from None
    return None


def first_host(nodelist: str) -> str:
    """The first host of a SLURM host list: ``node[07-09,12],gpu1`` -> ``node07``; ``r[1-2]-n[3-4]`` -> ``r1-n3``
    (the bracket syntax of ``scontrol show hostnames``)."""
    depth, end = 0, len(nodelist)
    for i, ch in enumerate(nodelist):
        depth += (ch == "[") - (ch == "]")
        if ch == "," and depth == 0:
            end = i
            break
    item = nodelist[:end].strip()
    return re.sub(r"\[([^\]]*)\]", lambda m: m.group(1).split(",")[0].split("-")[0], item)


def tasks_on_first_node(spec: str) -> int | None:
    """The task count of the first node in a SLURM ``*_TASKS_PER_NODE`` value (``4(x2),3`` -> 4)."""
    found = re.match(r"\s*(\d+)", spec)
    return int(found[1]) if found else None


def slurm_port(job_id: str | None) -> int:
    """A rendezvous port derived from ``SLURM_JOB_ID`` (every task of the job computes the same one)."""
    if job_id and job_id.strip().isdigit():
        return SLURM_PORT_BASE + int(job_id) % SLURM_PORT_SPAN
    return DEFAULT_PORT


def detect_launch(env: Mapping[str, str]) -> LaunchEnv:
    """Where this process sits according to ``env`` (module docstring); pure, no side effects.

    Precedence: ``torchrun`` / ``deepspeed`` variables, then MPI (per-process variables of the MPI launcher; a
    batch job's ``SLURM_PROCID`` is inherited by every rank of an ``mpirun`` inside it), then ``srun`` (marked by
    ``SLURM_STEP_NUM_TASKS`` or ``SLURM_LAUNCH_NODE_IPADDR``, which ``sbatch`` alone does not set). One task is a
    plain process.

    Raises:
        LaunchError: a launcher variable that is not an integer, or a rank outside ``0 … world size - 1``.
    """
    launch = _detect(env)
    if not 0 <= launch.rank < launch.world_size:
        raise LaunchError(
            f"{launch.launcher} environment: rank {launch.rank} is not in 0 … {launch.world_size - 1} "
            f"(world size {launch.world_size})"
        )
    return launch


def _detect(env: Mapping[str, str]) -> LaunchEnv:
    port = _int(env, "MASTER_PORT")
    if all(env.get(v) for v in _LAUNCHER_VARS):
        return LaunchEnv(
            "torchrun",
            rank=_int(env, "RANK") or 0,
            world_size=_int(env, "WORLD_SIZE") or 1,
            local_rank=_int(env, "LOCAL_RANK") or 0,
            local_world_size=_int(env, "LOCAL_WORLD_SIZE", "LOCAL_SIZE") or 1,
            master_addr=env["MASTER_ADDR"],
            master_port=port or DEFAULT_PORT,
        )
    for rank_var, size_var, local_var, local_size_var in _MPI_VARS:
        rank, world = _int(env, rank_var), _int(env, size_var)
        if rank is None or world is None:
            continue
        if world <= 1:
            return LaunchEnv("none")
        local_world = _int(env, local_size_var)
        local_rank = _int(env, local_var)
        if local_rank is None:
            local_rank = rank if local_world == world else 0
        addr = env.get("MASTER_ADDR") or None
        if addr is None and local_world == world:
            addr = "127.0.0.1"  # every rank on this host
        if addr is None and env.get(
            "SLURM_JOB_NODELIST"
        ):  # mpirun inside an allocation: rank 0 on its 1st node
            addr = first_host(env["SLURM_JOB_NODELIST"])
        return LaunchEnv(
            "mpi",
            rank=rank,
            world_size=world,
            local_rank=local_rank,
            local_world_size=local_world or 1,
            master_addr=addr,
            master_port=port or slurm_port(env.get("SLURM_JOB_ID")),
        )
    srun = "SLURM_STEP_NUM_TASKS" in env or "SLURM_LAUNCH_NODE_IPADDR" in env
    rank = _int(env, "SLURM_PROCID")
    if srun and rank is not None:
        world = _int(env, "SLURM_STEP_NUM_TASKS", "SLURM_NTASKS") or 1
        if world <= 1:
            return LaunchEnv("none")
        nodes = _int(env, "SLURM_STEP_NUM_NODES", "SLURM_NNODES") or 1
        per_node = tasks_on_first_node(
            env.get("SLURM_STEP_TASKS_PER_NODE", env.get("SLURM_TASKS_PER_NODE", ""))
        )
        nodelist = (
            env.get("SLURM_STEP_NODELIST") or env.get("SLURM_JOB_NODELIST") or env.get("SLURM_NODELIST")
        )
        addr = env.get("MASTER_ADDR") or None
        if addr is None:
            addr = first_host(nodelist) if nodelist else env.get("SLURM_LAUNCH_NODE_IPADDR") or "127.0.0.1"
        return LaunchEnv(
            "slurm",
            rank=rank,
            world_size=world,
            local_rank=_int(env, "SLURM_LOCALID") or 0,
            local_world_size=per_node or (world if nodes == 1 else 1),
            master_addr=addr,
            master_port=port or slurm_port(env.get("SLURM_JOB_ID")),
        )
    if (_int(env, "WORLD_SIZE") or 1) > 1:  # half a torchrun environment: never run as one silent process
        missing = [v for v in _LAUNCHER_VARS if not env.get(v)]
        raise LaunchError(
            f"WORLD_SIZE={env['WORLD_SIZE']} is set but {', '.join(missing)} not: set all of "
            f"{', '.join(_LAUNCHER_VARS)} (torchrun and the deepspeed launcher do), or unset WORLD_SIZE"
        )
    return LaunchEnv("none")


def launched_by_launcher(env: Mapping[str, str] | None = None) -> bool:
    """True when a launcher (torchrun, deepspeed, srun, mpirun) started this process as one of several (or as a
    torchrun process); ``env`` defaults to ``os.environ``."""
    return detect_launch(os.environ if env is None else env).launched


def env_rank(env: Mapping[str, str] | None = None) -> tuple[int, int]:
    """``(rank, world_size)`` from the launcher's environment (``(0, 1)`` for a plain process); ``env`` defaults
    to ``os.environ``."""
    launch = detect_launch(os.environ if env is None else env)
    return launch.rank, launch.world_size


def cuda_index(local_rank: int, local_world_size: int, visible: int) -> int:
    """The GPU of a process: ``local_rank``; ``0`` when each process sees a single GPU (``srun --gpus-per-task``,
    ``CUDA_VISIBLE_DEVICES`` set per rank).

    Raises:
        LaunchError: fewer visible GPUs than processes on the node.
    """
    if visible == 1:
        return 0
    if 0 <= local_rank < visible:
        return local_rank
    raise LaunchError(
        f"local rank {local_rank} of {local_world_size} process(es) on {socket.gethostname()} but only {visible} "
        "GPU(s) visible: start one process per GPU"
    )
