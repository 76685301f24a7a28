"""This process's rank and the world size for preprocessing, as the launchers set them (no ``torch.distributed``
needed): :func:`protdata.distributed.detect_launch` (torchrun / DeepSpeed, SLURM ``srun``, Open MPI, MPICH /
Intel MPI, MVAPICH2), the same detection the training apps use."""

from __future__ import annotations

import os
from collections.abc import Mapping

from protdata.distributed.launch import detect_launch

RUN_ID_VARIABLES = ("TORCHELASTIC_RUN_ID", "SLURM_JOB_ID", "OMPI_MCA_ess_base_jobid", "PMI_JOBID")


def rank_from_env(env: Mapping[str, str] | None = None) -> tuple[int, int]:
    """``(rank, world_size)`` from the launcher's environment (``env``, default ``os.environ``), ``(0, 1)`` for a
    plain process (also a SLURM batch script outside ``srun``, a one-task job).

    Raises:
        protdata.distributed.LaunchError: a variable is not an integer, or the rank is outside
            ``0 … world_size - 1`` (names them).
    """
    launch = detect_launch(os.environ if env is None else env)
    return launch.rank, launch.world_size


def run_id_from_env(env: Mapping[str, str] | None = None) -> str | None:
    """The launcher's id of this job (same on every rank), or ``None``."""
    env = os.environ if env is None else env
    for var in RUN_ID_VARIABLES:
        if env.get(var):
            return f"{var}={env[var]}"
    return None
