"""SIGTERM (SLURM pre-emption), Ctrl-C and SIGUSR1 in the middle of training: the real app finishes the step it is
in, writes the checkpoint of that step, says how to continue and exits with ``128 + signal``; ``--resume`` then
repeats the uninterrupted run exactly (same losses, learning rates, gradient norms and final weights).

The signal goes to the app's whole process group, as SLURM and a terminal send it, so its DataLoader worker gets
it too; under SIGTERM the run accumulates 4 micro-batches per step from a worker that prefetches one, so the step it
finishes after the signal needs the worker alive. The test waits for logged steps before signalling (no sleeps): the
run must stop after the step it was in, which is the last one logged. Under torchrun, a signal to one rank stops
every rank after the same step, so the collective checkpoint completes instead of hanging.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[1]
APPS = ROOT / "apps"
if str(APPS) not in sys.path:
    sys.path.insert(0, str(APPS))

import pretrain  # noqa: E402

STEPS = 8
COMMON = [
    f"train.max_steps={STEPS}",
    "train.log_every=1",
    "train.checkpoint_every=null",  # the only checkpoint before the end is the one the signal asks for
    "train.num_threads=1",
    "encoder.hidden_dims=[32,32,32]",
    "data.batch_size=4",
    "data.prefetch_factor=1",
    "scheduler.type=cosine",
    "scheduler.warmup_steps=3",
    "--no-progress",
]
SIGNAL_AFTER = 3  # logged steps
ACCUMULATION = {signal.SIGTERM: 4, signal.SIGINT: 1, signal.SIGUSR1: 1}


def _records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """The uninterrupted run of each accumulation (made when a test first asks for it)."""

    class Runs(dict):
        def __missing__(self, g: int) -> Path:
            root = tmp_path_factory.mktemp(f"full-{g}")
            args = [*COMMON, f"deepspeed.gradient_accumulation_steps={g}", "data.num_workers=0"]
            assert pretrain.main([*args, f"output_dir={root / 'run'}", f"output_root={root}"]) == 0
            self[g] = root / "run"
            return self[g]

    return Runs()


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGUSR1], ids=lambda s: s.name)
def test_signal_saves_a_checkpoint_and_resume_equals_uninterrupted(
    uninterrupted: dict[int, Path], sig: signal.Signals, tmp_path: Path
) -> None:
    g = ACCUMULATION[sig]
    reference_run = uninterrupted[g]
    run = tmp_path / "stopped"
    stderr = tmp_path / "stderr.txt"
    with open(stderr, "w") as err:
        proc = subprocess.Popen(
            [
                sys.executable,
                str(APPS / "pretrain.py"),
                *COMMON,
                f"deepspeed.gradient_accumulation_steps={g}",
                "data.num_workers=1",
                f"output_dir={run}",
                f"output_root={tmp_path}",
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,  # its own process group, signalled as a whole (SLURM, a terminal)
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        log = run / "metrics.jsonl"
        deadline = time.monotonic() + 300
        try:
            while not (log.is_file() and len(log.read_text().splitlines()) >= SIGNAL_AFTER):
                assert proc.poll() is None, stderr.read_text()[-3000:]
                assert time.monotonic() < deadline, "the run did not reach the signal point"
                time.sleep(0.02)
            os.killpg(proc.pid, sig)
            proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    message = stderr.read_text().strip().splitlines()
    assert proc.returncode == 128 + sig, (proc.returncode, message[-5:])

    stopped_at = len(_records(run))  # the step it was in when signalled, finished and logged
    assert SIGNAL_AFTER <= stopped_at < STEPS, "stopped too late to test anything"
    tag = f"step_{stopped_at:07d}"
    assert (run / "checkpoints" / "latest").read_text().strip() == tag
    assert (run / "checkpoints" / tag / "manifest.json").is_file()
    assert not list((run / "checkpoints").glob(".tmp-*"))
    assert not (run / "model.safetensors").exists()  # stopped, not finished
    assert message[-1] == (
        f"stopped by {sig.name} after step {stopped_at}: checkpoint {run / 'checkpoints' / tag}; "
        f"continue with: uv run apps/pretrain.py --resume {run}"
    )

    assert pretrain.main(["--resume", str(run), f"output_root={tmp_path}", "--no-progress"]) == 0
    got, expected = _records(run), _records(reference_run)
    assert [r["step"] for r in got] == list(range(1, STEPS + 1))
    for a, b in zip(got, expected):
        for key in ("loss", "accuracy", "lr", "grad_norm", "epoch"):
            assert a[key] == b[key], (a["step"], key, a[key], b[key])
    final = load_file(str(run / "model.safetensors"))
    reference = load_file(str(reference_run / "model.safetensors"))
    assert final.keys() == reference.keys()
    for k in final:
        torch.testing.assert_close(final[k], reference[k], rtol=0, atol=0)


def _children(pid: int) -> list[int]:
    """The process ids whose parent is ``pid`` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _rank_of(pid: int) -> int | None:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    ranks = [int(e[5:]) for e in environ if e.startswith(b"RANK=")]
    return ranks[0] if ranks else None


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/environ").is_file(), reason="finds the ranks through /proc")
def test_one_rank_signalled_all_ranks_stop_after_the_same_step(tmp_path: Path) -> None:
    """torchrun, 2 processes, ZeRO-2: only rank 1 gets SIGTERM; rank 0 stops after the same step (no hang in the
    collective checkpoint), and the checkpoint holds both ranks' optimizer partitions."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = tmp_path / "two"
    stderr = tmp_path / "stderr.txt"
    args = [a for a in COMMON if a != "--no-progress"]
    with open(stderr, "w") as err:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--nproc_per_node",
                "2",
                "--master_addr",
                "127.0.0.1",
                "--master_port",
                str(port),
                str(APPS / "pretrain.py"),
                *args,
                "data.num_workers=0",
                "deepspeed.zero_stage=2",
                f"output_dir={run}",
                f"output_root={tmp_path}",
                "--no-progress",
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        log = run / "metrics.jsonl"
        deadline = time.monotonic() + 400
        ranks: list[int] = []
        try:
            while not (log.is_file() and len(log.read_text().splitlines()) >= 2):
                assert proc.poll() is None, stderr.read_text()[-3000:]
                assert time.monotonic() < deadline, "the run did not reach the signal point"
                time.sleep(0.02)
            ranks = _children(proc.pid)
            (rank1,) = [p for p in ranks if _rank_of(p) == 1]
            os.kill(rank1, signal.SIGTERM)
            proc.wait(timeout=300)  # without the agreement, rank 1 waits in the checkpoint's barrier forever
        finally:
            if proc.poll() is None:
                for pid in ranks:  # torchrun starts each rank in a session of its own
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    assert proc.returncode != 0, "torchrun reports its workers' signal exit"
    stopped_at = len(_records(run))
    assert 2 <= stopped_at < STEPS, stderr.read_text()[-3000:]
    tag = f"step_{stopped_at:07d}"
    assert (run / "checkpoints" / "latest").read_text().strip() == tag
    files = json.loads((run / "checkpoints" / tag / "manifest.json").read_text())["files"]
    assert sum("zero_pp_rank_" in name for name in files) == 2  # both partitions of the optimizer state
