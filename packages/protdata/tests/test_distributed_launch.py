"""Launcher environments -> rank / world size / rendezvous (protdata.distributed.launch), against the variables
each launcher documents: torchrun and the deepspeed launcher, Slurm's srun (srun(1) OUTPUT ENVIRONMENT
VARIABLES), Open MPI's mpirun (OMPI_COMM_WORLD_*), MPICH / Intel MPI Hydra (PMI_*, MPI_LOCAL*), MVAPICH2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from protdata.distributed import (
    LaunchEnv,
    LaunchError,
    cuda_index,
    detect_launch,
    first_host,
    slurm_port,
    tasks_on_first_node,
)


def test_torchrun_and_deepspeed_launcher_variables() -> None:
    torchrun = {"RANK": "3", "WORLD_SIZE": "8", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"}
    torchrun |= {"MASTER_ADDR": "n1", "MASTER_PORT": "29400"}
    assert detect_launch(torchrun) == LaunchEnv("torchrun", 3, 8, 1, 2, "n1", 29400)
    # the deepspeed launcher (deepspeed/launcher/launch.py) sets LOCAL_SIZE, not LOCAL_WORLD_SIZE
    ds = {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1", "LOCAL_SIZE": "2"}
    ds |= {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500", "CROSS_RANK": "0"}
    assert detect_launch(ds) == LaunchEnv("torchrun", 1, 2, 1, 2, "127.0.0.1", 29500)
    assert detect_launch({}) == LaunchEnv("none")


def test_srun_variables() -> None:
    # what srun sets for task 5 of `srun -N 2 --ntasks-per-node 4` in job 4242 (Slurm's srun man page, OUTPUT
    # ENVIRONMENT VARIABLES)
    env = {
        "SLURM_JOB_ID": "4242",
        "SLURM_PROCID": "5",
        "SLURM_LOCALID": "1",
        "SLURM_NTASKS": "8",
        "SLURM_STEP_NUM_TASKS": "8",
        "SLURM_STEP_NUM_NODES": "2",
        "SLURM_STEP_TASKS_PER_NODE": "4(x2)",
        "SLURM_STEP_NODELIST": "gpu[017-018]",
        "SLURM_JOB_NODELIST": "gpu[017-018]",
        "SLURM_LAUNCH_NODE_IPADDR": "10.0.0.99",  # a login node may launch: not the master
    }
    got = detect_launch(env)
    assert got == LaunchEnv("slurm", 5, 8, 1, 4, "gpu017", 15000 + 4242 % 20000)
    assert got.variables() == {
        "RANK": "5",
        "WORLD_SIZE": "8",
        "LOCAL_RANK": "1",
        "LOCAL_WORLD_SIZE": "4",
        "MASTER_ADDR": "gpu017",
        "MASTER_PORT": str(15000 + 4242),
    }
    # MASTER_ADDR / MASTER_PORT set by the user win; without a node list the launch node's address is used
    assert (
        detect_launch({**env, "MASTER_ADDR": "ib-gpu017", "MASTER_PORT": "6000"}).master_addr == "ib-gpu017"
    )
    assert detect_launch({**env, "MASTER_PORT": "6000"}).master_port == 6000
    bare = {
        "SLURM_PROCID": "1",
        "SLURM_NTASKS": "2",
        "SLURM_LOCALID": "1",
        "SLURM_LAUNCH_NODE_IPADDR": "127.0.0.1",
    }
    assert detect_launch(bare) == LaunchEnv("slurm", 1, 2, 1, 2, "127.0.0.1", 29500)


def test_slurm_batch_jobs_are_not_mistaken() -> None:
    batch = {"SLURM_JOB_ID": "77", "SLURM_PROCID": "0", "SLURM_NTASKS": "4", "SLURM_JOB_NODELIST": "n[1-4]"}
    # the batch script itself (no srun step): one plain process, not rank 0 of 4 waiting forever
    assert detect_launch(batch) == LaunchEnv("none")
    # a one-task srun step is one process too
    assert not detect_launch({**batch, "SLURM_NTASKS": "1", "SLURM_STEP_NUM_TASKS": "1"}).launched
    # torchrun inside a SLURM_NTASKS=1 job: torchrun's environment wins
    torchrun = {
        "RANK": "1",
        "WORLD_SIZE": "4",
        "LOCAL_RANK": "1",
        "MASTER_ADDR": "n1",
        "MASTER_PORT": "29500",
    }
    inside = {**batch, "SLURM_NTASKS": "1", "SLURM_STEP_NUM_TASKS": "1", "SLURM_LAUNCH_NODE_IPADDR": "n1"}
    assert detect_launch({**inside, **torchrun}) == LaunchEnv("torchrun", 1, 4, 1, 1, "n1", 29500)


def test_mpi_variables() -> None:
    # Open MPI (mpirun man page: OMPI_COMM_WORLD_*), one host: the master is this host
    ompi = {
        "OMPI_COMM_WORLD_RANK": "1",
        "OMPI_COMM_WORLD_SIZE": "2",
        "OMPI_COMM_WORLD_LOCAL_RANK": "1",
        "OMPI_COMM_WORLD_LOCAL_SIZE": "2",
    }
    assert detect_launch(ompi) == LaunchEnv("mpi", 1, 2, 1, 2, "127.0.0.1", 29500)
    # MPICH / Intel MPI (Hydra: PMI_RANK, PMI_SIZE, MPI_LOCALRANKID, MPI_LOCALNRANKS)
    hydra = {"PMI_RANK": "6", "PMI_SIZE": "8", "MPI_LOCALRANKID": "2", "MPI_LOCALNRANKS": "4"}
    assert detect_launch({**hydra, "MASTER_ADDR": "h0"}) == LaunchEnv("mpi", 6, 8, 2, 4, "h0", 29500)
    # several hosts without MASTER_ADDR: unknown (setup_distributed says what to set), inside an allocation its
    # first node; a batch job's SLURM_PROCID inherited by every rank does not make it a SLURM launch
    assert detect_launch(hydra).master_addr is None
    alloc = {"SLURM_JOB_ID": "9", "SLURM_PROCID": "0", "SLURM_NTASKS": "8", "SLURM_JOB_NODELIST": "c[3-4]"}
    assert detect_launch({**hydra, **alloc}) == LaunchEnv("mpi", 6, 8, 2, 4, "c3", 15009)
    # MVAPICH2
    mv2 = {"MV2_COMM_WORLD_RANK": "0", "MV2_COMM_WORLD_SIZE": "2", "MV2_COMM_WORLD_LOCAL_RANK": "0"}
    assert detect_launch({**mv2, "MASTER_ADDR": "m"}) == LaunchEnv("mpi", 0, 2, 0, 1, "m", 29500)
    assert not detect_launch({"OMPI_COMM_WORLD_RANK": "0", "OMPI_COMM_WORLD_SIZE": "1"}).launched
    with pytest.raises(LaunchError, match=r"OMPI_COMM_WORLD_RANK='x'"):
        detect_launch({"OMPI_COMM_WORLD_RANK": "x", "OMPI_COMM_WORLD_SIZE": "2"})


def test_slurm_host_lists_ports_and_gpus() -> None:
    # the bracket syntax of `scontrol show hostnames`
    assert first_host("node[07-09,12],gpu1") == "node07"
    assert first_host("gpu1,node[07-09]") == "gpu1"
    assert first_host("r[1-2]-n[3-4]") == "r1-n3"
    assert first_host("single") == "single"
    assert (
        tasks_on_first_node("4(x2),3") == 4
        and tasks_on_first_node("2") == 2
        and tasks_on_first_node("") is None
    )
    assert slurm_port("123456") == 15000 + 123456 % 20000 and slurm_port(None) == 29500
    assert cuda_index(3, 4, 4) == 3
    assert cuda_index(3, 4, 1) == 0  # srun --gpus-per-task=1: each task sees its own GPU as cuda:0
    with pytest.raises(LaunchError, match="local rank 3 of 4 process"):
        cuda_index(3, 4, 2)


def test_a_rank_outside_the_world_is_an_error() -> None:
    with pytest.raises(LaunchError, match=r"slurm environment: rank 4 is not in 0 … 3"):
        detect_launch({"SLURM_PROCID": "4", "SLURM_STEP_NUM_TASKS": "4"})


def test_launch_detection_does_not_import_torch() -> None:
    code = "import sys, protdata.distributed as d; d.detect_launch({}); d.env_rank(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_half_a_torchrun_environment_is_an_error() -> None:
    with pytest.raises(LaunchError, match=r"WORLD_SIZE=2 is set but MASTER_ADDR, MASTER_PORT not"):
        detect_launch({"RANK": "1", "WORLD_SIZE": "2"})
    assert detect_launch({"RANK": "0", "WORLD_SIZE": "1"}).launcher == "none"  # one process: nothing to join
