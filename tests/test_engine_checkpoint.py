"""apps/engine/checkpoint.py: atomic, verified DeepSpeed checkpoints; restricted unpickling; weights files."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

APPS = Path(__file__).resolve().parents[1] / "apps"
if str(APPS) not in sys.path:
    sys.path.insert(0, str(APPS))

from engine.checkpoint import (  # noqa: E402
    CheckpointManager,
    check_parameter_shapes,
    parameter_shapes,
    restricted_torch_load,
    verify_checkpoint,
)
from engine.distributed import import_deepspeed, setup_distributed  # noqa: E402
from engine.errors import CheckpointError  # noqa: E402
from engine.runs import resolve_checkpoint  # noqa: E402


def test_restricted_load_refuses_arbitrary_objects(tmp_path: Path) -> None:
    evil = tmp_path / "evil.pt"
    torch.save({"x": argparse.Namespace(a=1)}, evil)
    with (
        pytest.raises(CheckpointError, match=r"evil\.pt: cannot read checkpoint file .*argparse\.Namespace"),
        restricted_torch_load(evil),
    ):
        torch.load(evil, weights_only=False)  # what DeepSpeed asks for; we still refuse
    plain = tmp_path / "plain.pt"
    torch.save({"w": torch.ones(2), "step": 3}, plain)
    with restricted_torch_load():
        assert torch.load(plain, weights_only=False)["step"] == 3
    assert torch.load(evil, weights_only=False)["x"].a == 1  # outside the block: torch's own behaviour again


class _Tiny(nn.Module):
    def __init__(self, width: int = 8) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(4, width), nn.BatchNorm1d(width))
        self.mlp = nn.Linear(width, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.encoder(x).relu()).pow(2).mean()


def _engine(model: nn.Module, zero_stage: int = 0):
    deepspeed = import_deepspeed("cpu")
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 / (1 + s))
    engine, _, _, _ = deepspeed.initialize(
        model=model,
        optimizer=opt,
        lr_scheduler=sched,
        config={"train_micro_batch_size_per_gpu": 4, "zero_optimization": {"stage": zero_stage}},
        dist_init_required=False,
    )
    return engine


def _train(engine, steps: int, seed: int = 0) -> list[float]:
    g = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(steps):
        loss = engine(torch.randn(4, 4, generator=g))
        engine.backward(loss)
        engine.step()
        losses.append(float(loss.detach()))
    return losses


@pytest.mark.slow
def test_save_verify_load_round_trip(tmp_path: Path) -> None:
    dist = setup_distributed("cpu")
    torch.manual_seed(0)
    engine = _engine(_Tiny(), zero_stage=1)
    _train(engine, 3)
    manager = CheckpointManager(tmp_path / "checkpoints", dist, keep=2)
    state = {"step": 3, "world_size": 1, "zero_stage": 1, "parameters": parameter_shapes(engine.module)}
    for step in (1, 2, 3):
        manager.save(engine, step, {**state, "step": step})
    root = tmp_path / "checkpoints"
    assert sorted(p.name for p in root.iterdir() if p.name.startswith("step_")) == [
        "step_0000002",
        "step_0000003",
    ]
    assert not list(root.glob(".tmp-*"))
    assert (root / "latest").read_text().strip() == "step_0000003"
    step_dir = resolve_checkpoint(tmp_path)
    verified = verify_checkpoint(step_dir)
    assert verified["step"] == 3
    after = _train(engine, 4, seed=1)  # the continuation of the saved run

    torch.manual_seed(123)  # a different initialisation, overwritten by the checkpoint
    other = _engine(_Tiny(), zero_stage=1)
    check_parameter_shapes(verified, other.module, str(step_dir))
    manager.load(other, step_dir, verified)
    assert _train(other, 4, seed=1) == after  # model, optimizer and scheduler all restored exactly


def test_killed_while_saving_leaves_the_previous_checkpoint(tmp_path: Path) -> None:
    root = tmp_path / "checkpoints"
    good = root / "step_0000004"
    good.mkdir(parents=True)
    (good / "trainer_state.json").write_text(json.dumps({"step": 4, "parameters": {}}))
    (good / "manifest.json").write_text(json.dumps({"format": "protstack-checkpoint", "files": {}}))
    (root / "latest").write_text("step_0000004\n")
    partial = root / ".tmp-step_0000008"  # what a SIGKILL during save leaves behind
    partial.mkdir()
    (partial / "mp_rank_00_model_states.pt").write_bytes(b"\x00" * 10)
    assert resolve_checkpoint(tmp_path) == good
    assert verify_checkpoint(good)["step"] == 4


def _fake_checkpoint(tmp_path: Path) -> Path:
    step = tmp_path / "run" / "checkpoints" / "step_0000002"
    step.mkdir(parents=True)
    (step / "a.bin").write_bytes(b"abcdef")
    (step / "trainer_state.json").write_text(json.dumps({"step": 2, "parameters": {"w": [2, 3]}}))
    import hashlib

    files = {
        p.name: {"bytes": p.stat().st_size, "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
        for p in step.iterdir()
    }
    (step / "manifest.json").write_text(json.dumps({"format": "protstack-checkpoint", "files": files}))
    (step.parent / "latest").write_text("step_0000002\n")
    return step


def test_corrupted_truncated_missing_files_are_named(tmp_path: Path) -> None:
    step = _fake_checkpoint(tmp_path)
    assert verify_checkpoint(resolve_checkpoint(tmp_path / "run"))["step"] == 2
    (step / "a.bin").write_bytes(b"abcdeX")
    with pytest.raises(CheckpointError, match=r"a\.bin: corrupted checkpoint file \(sha256"):
        verify_checkpoint(step)
    (step / "a.bin").write_bytes(b"abc")
    with pytest.raises(
        CheckpointError, match=r"a\.bin: corrupted checkpoint file \(3 bytes, the manifest says 6\)"
    ):
        verify_checkpoint(step)
    (step / "a.bin").unlink()
    with pytest.raises(CheckpointError, match=r"a\.bin: checkpoint file is missing"):
        verify_checkpoint(step)
    (step / "manifest.json").unlink()
    with pytest.raises(CheckpointError, match="incomplete checkpoint"):
        verify_checkpoint(step)


def test_resolve_names_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no such checkpoint or run directory"):
        resolve_checkpoint(tmp_path / "nope")
    with pytest.raises(CheckpointError, match="not a checkpoint"):
        resolve_checkpoint(tmp_path)
    step = _fake_checkpoint(tmp_path)
    (step.parent / "latest").write_text("step_0000099\n")  # its directory is gone
    assert resolve_checkpoint(tmp_path / "run") == step  # the newest complete checkpoint
    (step / "manifest.json").unlink()
    with pytest.raises(CheckpointError, match=r"latest: points to 'step_0000099', which is not a complete"):
        resolve_checkpoint(tmp_path / "run")


def test_wrong_size_checkpoint_names_the_parameter() -> None:
    state = {"parameters": parameter_shapes(_Tiny(8))}
    check_parameter_shapes(state, _Tiny(8), "ck")
    with pytest.raises(
        CheckpointError, match=r"ck: wrong-size checkpoint: encoder\.0\.weight has shape \(8, 4\)"
    ):
        check_parameter_shapes(state, _Tiny(16), "ck")
