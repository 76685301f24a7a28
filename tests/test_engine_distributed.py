"""A real 2-process DeepSpeed run on CPU (torchrun, gloo, ZeRO-2): the same losses as one process at the same
global batch, and its checkpoint resumes in a 1-process run (DeepSpeed's universal checkpoint conversion)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APPS = ROOT / "apps"
if str(APPS) not in sys.path:
    sys.path.insert(0, str(APPS))

import pretrain  # noqa: E402

#: Tiny GearNet, 4 proteins per micro-batch, one thread per process, constant lr (so a resumed run with another
#: total keeps the schedule), no DataLoader worker.
COMMON = [
    "train.max_steps=6",
    "train.log_every=1",
    "train.checkpoint_every=3",
    "train.num_threads=1",
    "encoder.hidden_dims=[32,32,32]",
    "data.batch_size=4",
    "data.num_workers=0",
    "scheduler.type=constant",
    "deepspeed.zero_stage=2",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _losses(run_dir: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_two_processes_equal_one_and_resume_in_one(tmp_path: Path) -> None:
    two = tmp_path / "two"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "--master_addr",
            "127.0.0.1",
            "--master_port",
            str(_free_port()),
            str(APPS / "pretrain.py"),
            *COMMON,
            f"output_dir={two}",
            f"output_root={tmp_path}",
            "--no-progress",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "2 process(es) on cpu, ZeRO 2" in proc.stderr
    state = json.loads((two / "checkpoints" / "step_0000003" / "trainer_state.json").read_text())
    assert state["world_size"] == 2 and state["zero_stage"] == 2 and state["micro_batches"] == 6
    assert sorted(p.name for p in (two / "checkpoints" / "step_0000003").glob("zero_pp_rank_*")) == [
        "zero_pp_rank_0_mp_rank_00_optim_states.pt",
        "zero_pp_rank_1_mp_rank_00_optim_states.pt",
    ]  # a real ZeRO-2 partition over two ranks

    # one process accumulating two micro-batches sees the same global batch at every step
    one = tmp_path / "one"
    accumulate = "deepspeed.gradient_accumulation_steps=2"
    assert (
        pretrain.main([*COMMON, accumulate, f"output_dir={one}", f"output_root={tmp_path}", "--no-progress"])
        == 0
    )
    reference = _losses(one)
    assert len(reference) == 6
    assert _losses(two) == pytest.approx(reference, rel=2e-5, abs=2e-5)

    # the 2-process checkpoint of step 3 continues in one process exactly like the 1-process run
    resumed = tmp_path / "resumed"
    shutil.copytree(two, resumed)
    step3 = resumed / "checkpoints" / "step_0000003"
    assert (
        pretrain.main(["--resume", str(step3), accumulate, f"output_root={tmp_path}", "--no-progress"]) == 0
    )
    assert (resumed / "checkpoints" / "step_0000003.universal" / "done").is_file()
    losses = _losses(resumed)
    assert len(losses) == 6
    assert losses[:3] == _losses(two)[:3]  # kept from the 2-process run
    assert losses[3:] == pytest.approx(reference[3:], rel=2e-5, abs=2e-5)
