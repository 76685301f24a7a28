"""Validation during pretraining (apps/pretrain.py ``validation.*``), end to end on the shipped demo chains.

Truths: the held-out set recomputed with protdata.holdout from the chains' ids (and the training set is the rest:
the app's data line counts it); the best step and value recomputed from the logged validation records; the best
export's weights equal the checkpoint of that step; TensorBoard's own reader; an uninterrupted run for
``--resume``; the PNG decoded."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

APPS = Path(__file__).resolve().parents[1] / "apps"
if str(APPS) not in sys.path:
    sys.path.insert(0, str(APPS))

import pretrain  # noqa: E402
from app_testing import run_main  # noqa: E402
from engine.checkpoint import restricted_torch_load  # noqa: E402

TINY = [
    "train.max_steps=6",
    "train.log_every=1",
    "train.checkpoint_every=2",
    "train.keep_checkpoints=5",
    "train.num_threads=1",
    "encoder.hidden_dims=[32,32,32]",
    "data.batch_size=4",
    "validation.fraction=0.25",
    "validation.min_count=2",
    "validation.every_steps=2",
    "--no-progress",
]


def _records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def val_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    run_dir = tmp_path_factory.mktemp("pretrain") / "run"
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert pretrain.main([*TINY, f"output_dir={run_dir}"]) == 0
    return run_dir, err.getvalue()


@pytest.mark.slow
def test_validation_records_curves_and_best(val_run: tuple[Path, str]) -> None:
    run_dir, stderr = val_run
    from protdata import load_chains
    from protdata.holdout import split_ids

    files = sorted((APPS / "data" / "demo_structures").iterdir())
    ids = [p.id for f in files for p in load_chains(f)]
    split = split_ids(ids, fraction=0.25, min_count=2)
    assert f"validation: {len(split.held_out)} proteins held out" in stderr
    assert f"data: {len(ids) - len(split.held_out)} proteins" in stderr

    records = _records(run_dir)
    train = [r for r in records if "loss" in r]
    val = [r for r in records if "val_loss" in r]
    assert [r["step"] for r in train] == [1, 2, 3, 4, 5, 6]
    assert [r["step"] for r in val] == [2, 4, 6]
    for r in val:
        assert 0 < r["val_loss"] < 10 and 0 <= r["val_accuracy"] <= 1
    best = min(val, key=lambda r: r["val_loss"])
    assert val[-1]["best_val_loss"] == best["val_loss"] and val[-1]["best_step"] == best["step"]

    # best/ is the encoder of the best step's checkpoint, marked with what selected it
    selected = json.loads((run_dir / "best" / "config.json").read_text())["selected"]
    assert selected == {"metric": "val_loss", "value": best["val_loss"], "step": best["step"], "mode": "min"}
    exported = load_file(str(run_dir / "best" / "model.safetensors"))
    with restricted_torch_load():
        states = torch.load(
            run_dir / "checkpoints" / f"step_{best['step']:07d}" / "mp_rank_00_model_states.pt"
        )
    for k, v in exported.items():
        torch.testing.assert_close(v, states["module"]["encoder." + k], rtol=0, atol=0)

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / "tensorboard"))
    events.Reload()
    tb = events.Scalars("val/loss")
    assert [e.step for e in tb] == [r["step"] for r in val]
    assert [e.value for e in tb] == pytest.approx([r["val_loss"] for r in val], rel=1e-6)
    import matplotlib.image

    image = matplotlib.image.imread(run_dir / "curves.png")
    assert image.ndim == 3 and image.shape[0] > 200


@pytest.mark.slow
def test_resume_repeats_validation(val_run: tuple[Path, str], tmp_path: Path, capsys) -> None:
    """Cut back to the step-2 checkpoint and resume: the same validation values and best selection."""
    run_dir, _ = val_run
    resumed = tmp_path / "resumed"
    shutil.copytree(run_dir, resumed)
    for step in (4, 6):
        shutil.rmtree(resumed / "checkpoints" / f"step_{step:07d}", ignore_errors=True)
    (resumed / "checkpoints" / "latest").write_text("step_0000002\n")
    status, _, err = run_main(pretrain.main, ["--resume", str(resumed), "--no-progress"], capsys)
    assert status == 0, err[-2000:]
    got = [r for r in _records(resumed) if "val_loss" in r]
    expected = [r for r in _records(run_dir) if "val_loss" in r]
    assert [{k: v for k, v in r.items() if k != "eval_seconds"} for r in got] == [
        {k: v for k, v in r.items() if k != "eval_seconds"} for r in expected
    ]
    # another held-out set is refused, before any step
    step2 = str(resumed / "checkpoints" / "step_0000002")
    status, _, err = run_main(pretrain.main, ["--resume", step2, "validation.fraction=0.3"], capsys)
    assert status == 2 and "validation: the held-out proteins differ" in err, err[-2000:]


@pytest.mark.slow
def test_two_processes_validate_as_one(tmp_path: Path) -> None:
    """torchrun, 2 CPU processes (gloo, ZeRO-2): each evaluates its share of the held-out batches (3 batches: one
    rank also repeats a batch that does not count) and the sums over ranks give the values of one process that
    accumulates two micro-batches per step (the same training)."""
    import os
    import socket
    import subprocess

    common = [
        *[a for a in TINY if a != "--no-progress"],
        "data.num_workers=0",
        "scheduler.type=constant",
        "deepspeed.zero_stage=2",
        # BatchNorm: the trainer averages the ranks' running statistics (protdata.distributed.average_buffers), but
        # one process updates them micro-batch after micro-batch (momentum twice), so 2 ranks and 1 process differ
        "encoder.batch_norm=false",
        "--no-progress",
    ]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    two = tmp_path / "two"
    launcher = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
    ]
    proc = subprocess.run(
        [*launcher, "--master_port", str(port), str(APPS / "pretrain.py"), *common, f"output_dir={two}"],
        cwd=APPS.parent,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    one = tmp_path / "one"
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        args = [*common, "deepspeed.gradient_accumulation_steps=2", f"output_dir={one}"]
        assert pretrain.main(args) == 0
    got = [r for r in _records(two) if "val_loss" in r]
    expected = [r for r in _records(one) if "val_loss" in r]
    assert [r["step"] for r in got] == [r["step"] for r in expected] == [2, 4, 6]
    for a, b in zip(got, expected):
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=2e-5)
        assert a["val_accuracy"] == pytest.approx(b["val_accuracy"], abs=0.01)  # a flipped argmax at most
