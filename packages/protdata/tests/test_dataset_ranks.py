"""Rank / world size (the training apps' detection, protdata.distributed) from the launchers' environments (torchrun + DeepSpeed, SLURM srun, Open MPI, MPICH/PMI), and
3Di tokens stored by preprocessing (truth: ``foldseek createdb`` strings in shared/data/foldseek)."""

from __future__ import annotations

from pathlib import Path

import pytest

from protdata.dataset import open_dataset, preprocess, rank_from_env
from protdata.dataset.ranks import run_id_from_env
from protdata.distributed import LaunchError, env_rank
from protdata.errors import ProtdataError
from protdata.testing import shared_data

_PORTS = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"}


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, (0, 1)),
        ({"RANK": "3", "WORLD_SIZE": "8", "LOCAL_RANK": "1", **_PORTS}, (3, 8)),
        ({"SLURM_PROCID": "5", "SLURM_NTASKS": "16", "SLURM_STEP_NUM_TASKS": "16"}, (5, 16)),
        ({"OMPI_COMM_WORLD_RANK": "1", "OMPI_COMM_WORLD_SIZE": "2"}, (1, 2)),
        ({"PMI_RANK": "0", "PMI_SIZE": "4"}, (0, 4)),
        (
            {"RANK": "1", "WORLD_SIZE": "2", **_PORTS, "SLURM_PROCID": "7", "SLURM_NTASKS": "9"},
            (1, 2),
        ),  # torchrun under srun
        ({"SLURM_PROCID": "1"}, (0, 1)),  # a rank without a size is not a launch
        ({"SLURM_PROCID": "0", "SLURM_NTASKS": "4"}, (0, 1)),  # an sbatch script outside srun: one process
    ],
)
def test_rank_from_env(env: dict[str, str], expected: tuple[int, int]) -> None:
    # the training apps' detection (protdata.distributed.detect_launch): preprocessing ranks agree with them
    assert rank_from_env(env) == expected
    assert rank_from_env(env) == env_rank(env)


def test_bad_rank_variables() -> None:
    with pytest.raises(LaunchError, match=r"rank 2 is not in 0 … 1"):
        rank_from_env({"RANK": "2", "WORLD_SIZE": "2", **_PORTS})
    with pytest.raises(ProtdataError, match="PMI_RANK='a' in the environment is not an integer"):
        rank_from_env({"PMI_RANK": "a", "PMI_SIZE": "2"})
    assert run_id_from_env({"SLURM_JOB_ID": "42"}) == "SLURM_JOB_ID=42"
    assert run_id_from_env({}) is None


def test_3di_tokens_match_foldseek(tmp_path: Path) -> None:
    from protdata import read_fasta

    expected = {r.id: r.sequence for r in read_fasta(shared_data("foldseek", "foldseek_3di.fasta"))}
    files = [shared_data("foldseek", "structures", f) for f in ("1aki.cif", "1f2n.cif")]
    preprocess(files, tmp_path / "ds", encode_3di=True)
    ds = open_dataset(tmp_path / "ds")
    assert ds.manifest["options"]["encode_3di"] is True
    assert [p.id for p in ds] == ["1aki_A", "1f2n_A", "1f2n_B", "1f2n_C"]
    for p in ds:
        assert p.structure_tokens == expected[p.id]
