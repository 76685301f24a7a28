"""Kill -9 in the middle of training, then ``--resume``: the continued run repeats an uninterrupted run exactly
(same losses, metrics, gradient norms and final weights), although it used a DataLoader worker process.

``--resume`` keeps the run's learning-rate schedule: a change to anything that defines it (run length, learning
rate, scheduler, micro-batches per step) is one ``error:`` line naming the key and both values, and writes nothing.
"""

from __future__ import annotations

import json
import os
import shutil
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
from engine.app import check_same_data, check_same_schedule  # noqa: E402
from engine.config import DataConfig, schedule_settings  # noqa: E402
from engine.data import data_facts  # noqa: E402
from engine.errors import ConfigError  # noqa: E402
from engine.pretraining import PretrainConfig  # noqa: E402
from engine.trainer import _check_resumed_total  # noqa: E402

from protdata.configfile import load_config  # noqa: E402

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


# ------------------------------------------------------------------------------- the schedule is kept
HALF = [
    "train.max_steps=4",
    "train.log_every=1",
    "train.checkpoint_every=2",
    "train.keep_checkpoints=3",
    "train.num_threads=1",
    "encoder.hidden_dims=[16,16]",
    "data.batch_size=4",
    "data.num_workers=0",
    "optimizer.lr=0.0005",
    "scheduler.type=cosine",
    "scheduler.warmup_steps=1",
    "--no-progress",
]


@pytest.fixture(scope="module")
def half_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    """A 4-step run cut back to its checkpoint of step 2 (as if it had stopped there), and the records of the
    uninterrupted run."""
    root = tmp_path_factory.mktemp("half")
    run = root / "run"
    assert pretrain.main([*HALF, f"output_dir={run}", f"output_root={root}"]) == 0
    full = _records(run)
    for name in ("step_0000004", "step_0000003"):
        if (run / "checkpoints" / name).exists():
            shutil.rmtree(run / "checkpoints" / name)
    (run / "checkpoints" / "latest").write_text("step_0000002\n")
    return run, full


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("override", "key", "change"),
    [
        ("train.max_steps=8", "train.max_steps", "(4 → 8)"),
        ("optimizer.lr=0.001", "optimizer.lr", "(0.0005 → 0.001)"),
        ("scheduler.type=linear", "scheduler.type", '("cosine" → "linear")'),
        ("scheduler.warmup_steps=3", "scheduler.warmup_steps", "(1 → 3)"),
        ("scheduler.decay_steps=100", "scheduler.decay_steps", "(unset → 100)"),
        (
            "deepspeed.gradient_accumulation_steps=2",
            "deepspeed.gradient_accumulation_steps",
            "(1 → 2 per step)",
        ),
    ],
)
def test_resume_refuses_a_changed_schedule(
    half_run: tuple[Path, list[dict]],
    override: str,
    key: str,
    change: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run, _ = half_run
    before = _tree(run)
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        pretrain.main(["--resume", str(run), override, f"output_root={tmp_path}", "--no-progress"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {key}: {run / 'checkpoints' / 'step_0000002'} "), err
    assert change in err[0] and "start a new run" in err[0], err[0]
    assert _tree(run) == before, "a refused resume must write nothing"


@pytest.mark.slow
def test_resume_with_other_settings_keeps_the_schedule(
    half_run: tuple[Path, list[dict]], tmp_path: Path
) -> None:
    """Settings outside the schedule may change; the continued run's learning rates are the original run's."""
    run, full = half_run
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    assert pretrain.main(["--resume", str(copy), "train.keep_checkpoints=4", "--no-progress"]) == 0
    got = _records(copy)
    assert [r["step"] for r in got] == [1, 2, 3, 4]
    for a, b in zip(got, full):
        assert (a["lr"], a["loss"]) == (b["lr"], b["loss"]), a["step"]


def test_changed_micro_batches_per_step_are_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Processes × accumulation is what a step means: 2 × 1 continues as 1 × 2, not as 1 × 1."""
    config = load_config(PretrainConfig, None, ["train.max_steps=10"])
    schedule = schedule_settings(config.optimizer, config.scheduler, config.train)
    state = {"schedule": schedule, "world_size": 2, "gradient_accumulation_steps": 1, "total_steps": 10}
    for var in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(var, raising=False)  # one plain process
    with pytest.raises(
        ConfigError, match=r"^deepspeed\.gradient_accumulation_steps: .* 2 process\(es\) × 1 .* 1 × 1"
    ):
        check_same_schedule(config, state, tmp_path)
    two = load_config(PretrainConfig, None, ["train.max_steps=10", "deepspeed.gradient_accumulation_steps=2"])
    check_same_schedule(two, state, tmp_path)
    # a checkpoint written before the schedule was stored is still checked for its length
    old = {"world_size": 1, "gradient_accumulation_steps": 2, "total_steps": 10}
    with pytest.raises(ConfigError, match=r"^train\.max_steps: .*\(10 → 12\)"):
        check_same_schedule(
            load_config(
                PretrainConfig, None, ["train.max_steps=12", "deepspeed.gradient_accumulation_steps=2"]
            ),
            old,
            tmp_path,
        )


def test_resumed_epoch_run_must_keep_its_length() -> None:
    """A run of train.epochs whose data now gives another number of steps is refused, naming both."""
    from engine.config import TrainConfig

    epochs = TrainConfig(epochs=2)
    with pytest.raises(ConfigError, match=r"^train\.epochs: /ck belongs to a run of 10 .* \(10 → 12\)"):
        _check_resumed_total({"step": 4, "total_steps": 10, "path": "/ck"}, 12, 1, epochs)
    with pytest.raises(ConfigError, match=r"^train\.epochs: /ck is at step 10 .* finished"):
        _check_resumed_total({"step": 10, "total_steps": 10, "path": "/ck"}, 10, 1, epochs)
    _check_resumed_total({"step": 4, "total_steps": 10, "path": "/ck"}, 10, 1, epochs)


def test_resume_on_other_data_is_refused(tmp_path: Path) -> None:
    """A checkpoint records its data's fingerprint and micro-batch plan (engine.data.data_facts); another dataset,
    or another plan, is one line saying what changed and how to go on; a checkpoint without them is not checked."""
    config = DataConfig(batch_size=8, max_tokens=4000)
    state = {"data": data_facts(config, "sha256:aaa")}
    check_same_data(data_facts(config, "sha256:aaa"), state, tmp_path)
    check_same_data(data_facts(config, "sha256:bbb"), {}, tmp_path)
    with pytest.raises(
        ConfigError,
        match=r"^data: .* fingerprint sha256:aaa, this run's data has sha256:bbb .*start a new run \(init_from=",
    ):
        check_same_data(data_facts(config, "sha256:bbb"), state, tmp_path)
    for key, value, change in [
        ("batch_size", 4, "(8 → 4)"),
        ("max_tokens", None, "(4000 → unset)"),
        ("bucket_window", 1, "(100 → 1)"),
        ("min_length", 30, "(1 → 30)"),
    ]:
        changed = data_facts(config.model_copy(update={key: value}), "sha256:aaa")
        with pytest.raises(
            ConfigError, match=rf"^data\.{key}: {tmp_path} was trained with .*start a new run"
        ) as info:
            check_same_data(changed, state, tmp_path)
        assert change in str(info.value)
