"""Launch like clusters do (issue 13): the ``deepspeed`` launcher, ``srun`` (SLURM) and ``mpirun`` (Open MPI)
start the same training app on CPU (gloo) with the losses of one process accumulating the same global batch (the
mapping of launcher environments to torch's variables: packages/protdata/tests/test_distributed_launch.py);
a rank that fails at start-up stops every rank with one line, and every rank must see the run directory."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APPS = ROOT / "apps"
if str(APPS) not in sys.path:
    sys.path.insert(0, str(APPS))


#: Tiny GearNet, 4 proteins per micro-batch, one thread per process, no DataLoader worker (as
#: tests/test_engine_distributed.py).
COMMON = [
    "train.max_steps=3",
    "train.log_every=1",
    "train.checkpoint_every=3",
    "train.num_threads=1",
    "encoder.hidden_dims=[32,32,32]",
    "data.batch_size=4",
    "data.num_workers=0",
    "scheduler.type=constant",
    "deepspeed.zero_stage=2",
    "--no-progress",
]
#: Launcher variables removed from the environment of the processes these tests start.
_LAUNCH_PREFIXES = ("SLURM_", "OMPI_", "PMI_", "PMIX_", "MV2_", "MPI_LOCAL")
_LAUNCH_NAMES = {
    "RANK",
    "WORLD_SIZE",
    "LOCAL_RANK",
    "LOCAL_WORLD_SIZE",
    "MASTER_ADDR",
    "MASTER_PORT",
    "LOCAL_SIZE",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in _LAUNCH_NAMES and not k.startswith(_LAUNCH_PREFIXES)
    }
    return {**env, "PYTHONWARNINGS": "ignore", **extra}


def _losses(run_dir: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


# ------------------------------------------------------------------------------------------ argument parsing
def test_parsers_accept_the_deepspeed_launchers_local_rank() -> None:
    import align
    import embed
    import finetune
    import pretrain

    for app in (pretrain, finetune, align, embed):
        parser = app.build_parser()
        args = parser.parse_intermixed_args(["--local_rank=1", "seed=3"])
        assert args.overrides == ["seed=3"] and args.local_rank == 1
        args = parser.parse_intermixed_args(["--local-rank", "0"])
        assert args.overrides == [] and args.local_rank == 0
        assert "local_rank" not in parser.format_help()


# ------------------------------------------------------------------------------------ real 2-rank runs
@pytest.fixture(scope="module")
def one_process_losses(tmp_path_factory: pytest.TempPathFactory) -> list[float]:
    """One process accumulating two micro-batches: the global batch of every 2-rank run below."""
    import pretrain

    out = tmp_path_factory.mktemp("one")
    args = [
        *COMMON,
        "deepspeed.gradient_accumulation_steps=2",
        f"output_dir={out / 'run'}",
        f"output_root={out}",
    ]
    assert pretrain.main(args) == 0
    losses = _losses(out / "run")
    assert len(losses) == 3
    return losses


def _two_tasks(env_of_rank: list[dict[str, str]], args_of_rank: list[list[str]], timeout: float = 600):
    """``apps/pretrain.py`` in two processes, rank ``r`` with ``env_of_rank[r]`` and ``args_of_rank[r]``."""
    procs = [
        subprocess.Popen(
            [sys.executable, str(APPS / "pretrain.py"), *args],
            cwd=ROOT,
            env=_clean_env(**env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for env, args in zip(env_of_rank, args_of_rank, strict=True)
    ]
    results = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=timeout)
            results.append((p.returncode, out, err))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    return results


def _slurm_env(rank: int, port: int) -> dict[str, str]:
    return {
        "SLURM_JOB_ID": "1234",
        "SLURM_PROCID": str(rank),
        "SLURM_NTASKS": "2",
        "SLURM_LOCALID": str(rank),
        "SLURM_LAUNCH_NODE_IPADDR": "127.0.0.1",
        "MASTER_PORT": str(port),
    }


def _ompi_env(rank: int, port: int) -> dict[str, str]:
    return {
        "OMPI_COMM_WORLD_RANK": str(rank),
        "OMPI_COMM_WORLD_SIZE": "2",
        "OMPI_COMM_WORLD_LOCAL_RANK": str(rank),
        "OMPI_COMM_WORLD_LOCAL_SIZE": "2",
        "MASTER_PORT": str(port),
    }


@pytest.mark.slow
def test_deepspeed_launcher_runs_two_ranks_on_cpu(tmp_path: Path, one_process_losses: list[float]) -> None:
    # the CPU accelerator counts NUMA nodes as devices (1 here): --num_gpus 2 asks for two processes; the
    # launcher passes --local_rank=N to each
    run = tmp_path / "run"
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "deepspeed"),
            "--num_gpus",
            "2",
            "--master_port",
            str(_free_port()),
            str(APPS / "pretrain.py"),
            *COMMON,
            f"output_dir={run}",
            f"output_root={tmp_path}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=_clean_env(),
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "--local_rank=1" in proc.stderr + proc.stdout  # the launcher's command line, as logged
    assert "2 process(es) on cpu, ZeRO 2" in proc.stderr + proc.stdout
    assert _losses(run) == pytest.approx(one_process_losses, rel=2e-5, abs=2e-5)


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["slurm", "ompi"])
def test_srun_and_mpirun_environments_run_two_ranks(
    launcher: str, tmp_path: Path, one_process_losses: list[float]
) -> None:
    make_env = _slurm_env if launcher == "slurm" else _ompi_env
    port = _free_port()
    run = tmp_path / "run"
    args = [*COMMON, f"output_dir={run}", f"output_root={tmp_path}"]
    results = _two_tasks([make_env(0, port), make_env(1, port)], [args, args])
    for status, _, err in results:
        assert status == 0, err[-4000:]
    assert "2 process(es) on cpu, ZeRO 2" in results[0][2]
    state = json.loads((run / "checkpoints" / "step_0000003" / "trainer_state.json").read_text())
    assert state["world_size"] == 2
    assert _losses(run) == pytest.approx(one_process_losses, rel=2e-5, abs=2e-5)


@pytest.mark.slow
def test_a_rank_without_its_data_stops_every_rank_with_one_line(tmp_path: Path) -> None:
    # srun without torchrun: nobody kills the other rank, yet it stops at once (start-up handshake), not after a
    # collective timeout
    port = _free_port()
    missing = tmp_path / "not_mounted_here"
    good = [*COMMON, f"output_root={tmp_path}"]
    bad = [*good, f"data.sources=[{missing}]"]
    results = _two_tasks([_slurm_env(0, port), _slurm_env(1, port)], [good, bad], timeout=300)
    for rank, (status, _, err) in enumerate(results):
        lines = [line for line in err.splitlines() if "error:" in line]
        assert status == 2, err[-3000:]
        assert len(lines) == 1, err[-3000:]
        assert lines[0].startswith(f"[rank {rank}] error: ") and str(missing) in lines[0]
        assert "Traceback" not in err
    assert "rank 1 failed at start-up" in results[0][2]
    assert not list(tmp_path.glob("pretrain-demo-*"))  # nothing written


_SNIPPET = """
import sys
from pathlib import Path
sys.path.insert(0, {apps!r})
from engine.app import distributed, main_rank_first
from protdata.distributed import check_shared_directory
from engine.errors import DataError, input_error_types

mode, path = sys.argv[1], Path(sys.argv[2])
try:
    with distributed("cpu") as dist:  # as the apps do: the group is torn down before the error line and the exit
        if mode == "dir":
            check_shared_directory(path, wait_s=1.0)
            print("ok", sorted(p.name for p in path.iterdir()))
        else:
            def prepare():
                if dist.rank == 1:
                    raise DataError(f"{{path}}: no such dataset")
                return "data"
            main_rank_first(prepare, dist)
            print("ok")
except input_error_types() as exc:
    print(f"[rank {{dist.rank}}] error: {{exc}}", file=sys.stderr)
    sys.exit(2)
"""


def _snippet_pair(tmp_path: Path, mode: str, paths: list[Path]) -> list[tuple[int, str, str]]:
    script = tmp_path / "snippet.py"
    script.write_text(textwrap.dedent(_SNIPPET.format(apps=str(APPS))))
    port = _free_port()
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), mode, str(paths[r])],
            env=_clean_env(**_slurm_env(r, port)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for r in range(2)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    return [(p.returncode, out, err) for p, (out, err) in zip(procs, outputs, strict=True)]


@pytest.mark.slow
def test_every_rank_must_see_the_run_directory(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    results = _snippet_pair(tmp_path, "dir", [shared, shared])
    assert [r[0] for r in results] == [0, 0], results
    assert all(r[1].strip() == "ok []" for r in results)  # the token is gone afterwards
    # rank 1 on a node that does not mount rank 0's run directory: the same error line on both ranks
    own = [tmp_path / "node0", tmp_path / "node1"]
    for p in own:
        p.mkdir()
    results = _snippet_pair(tmp_path, "dir", own)
    for rank, (status, _, err) in enumerate(results):
        assert status == 2, err[-3000:]
        line = err.strip().splitlines()[-1]
        assert line.startswith(f"[rank {rank}] error: rank 1 (") and "does not see the run directory" in line
        assert str(own[1]) in line
    assert list(own[0].iterdir()) == []


@pytest.mark.slow
def test_a_data_error_on_another_rank_reaches_rank_0(tmp_path: Path) -> None:
    results = _snippet_pair(tmp_path, "prepare", [tmp_path / "ds", tmp_path / "ds"])
    for rank, (status, _, err) in enumerate(results):
        assert status == 2, err[-3000:]
        line = err.strip().splitlines()[-1]
        assert line.startswith(f"[rank {rank}] error: ") and f"{tmp_path / 'ds'}: no such dataset" in line
    assert "rank 1:" in results[0][2].splitlines()[-1]
