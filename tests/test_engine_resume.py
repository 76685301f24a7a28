"""Kill -9 in the middle of training, then ``--resume``: the continued run repeats an uninterrupted run exactly
(same losses, metrics, gradient norms and final weights), although it used a DataLoader worker process."""

from __future__ import annotations

import json
import os
import signal
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

COMMON = [
    "train.max_steps=16",
    "train.log_every=1",
    "train.checkpoint_every=4",
    "train.num_threads=1",
    "encoder.hidden_dims=[32,32,32]",
    "data.batch_size=4",
    "scheduler.type=cosine",
    "scheduler.warmup_steps=3",
    "--no-progress",
]
KILL_AFTER = 6  # logged steps


def _records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_sigkill_then_resume_equals_uninterrupted(tmp_path: Path) -> None:
    full = tmp_path / "full"
    assert (
        pretrain.main([*COMMON, "data.num_workers=0", f"output_dir={full}", f"output_root={tmp_path}"]) == 0
    )

    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [
            sys.executable,
            str(APPS / "pretrain.py"),
            *COMMON,
            "data.num_workers=1",
            f"output_dir={killed}",
            f"output_root={tmp_path}",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: the kill reaches the DataLoader worker too
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    log = killed / "metrics.jsonl"
    deadline = time.monotonic() + 300
    try:
        while not (log.is_file() and len(log.read_text().splitlines()) >= KILL_AFTER):
            assert proc.poll() is None, proc.stderr.read().decode()[-3000:] if proc.stderr else ""
            assert time.monotonic() < deadline, "the run did not reach the kill point"
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    logged = len(_records(killed))
    assert KILL_AFTER <= logged < 16, "killed too late to test anything"
    latest = (killed / "checkpoints" / "latest").read_text().strip()
    assert latest in {"step_0000004", "step_0000008", "step_0000012"}
    resume_from = int(latest.split("_")[1])

    assert pretrain.main(["--resume", str(killed), f"output_root={tmp_path}", "--no-progress"]) == 0
    got, expected = _records(killed), _records(full)
    assert [r["step"] for r in got] == list(range(1, 17))
    for a, b in zip(got, expected):
        for key in ("loss", "accuracy", "lr", "grad_norm", "epoch"):
            assert a[key] == b[key], (a["step"], key, a[key], b[key])
    assert resume_from < logged  # steps after the checkpoint were really trained twice
    final, reference = (
        load_file(str(killed / "model.safetensors")),
        load_file(str(full / "model.safetensors")),
    )
    assert final.keys() == reference.keys()
    for k in final:
        torch.testing.assert_close(final[k], reference[k], rtol=0, atol=0)
    assert not list((killed / "checkpoints").glob(".tmp-*"))
