"""apps/engine/trainer.py: DeepSpeed config from the sections, run length, per-micro-batch seeding, bf16 on GPU."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import torch

APPS = Path(__file__).resolve().parents[1] / "apps"
if str(APPS) not in sys.path:
    sys.path.insert(0, str(APPS))

import pretrain  # noqa: E402
from engine.config import DataConfig, DeepSpeedConfig, TrainConfig  # noqa: E402
from engine.data import prepare_training_data  # noqa: E402
from engine.distributed import DistContext  # noqa: E402
from engine.trainer import Trainer  # noqa: E402

from prottasks.optim import OptimizerConfig, SchedulerConfig  # noqa: E402

DEMO = APPS / "data" / "demo_structures"


def _trainer(tmp_path: Path, world_size: int = 2, **sections: object) -> Trainer:
    data = prepare_training_data(
        DataConfig(num_workers=0, batch_size=4), None, 1, sorted(DEMO.glob("*.gz"))[:10]
    )
    dist = DistContext(0, 0, world_size, torch.device("cpu"), "gloo", launched=world_size > 1)
    return Trainer(
        torch.nn.Linear(2, 2),
        data,
        optimizer=OptimizerConfig(),
        scheduler=SchedulerConfig(),
        deepspeed=sections.get("deepspeed", DeepSpeedConfig()),
        train=sections.get("train", TrainConfig(max_steps=5)),
        seed=1,
        run_dir=tmp_path,
        dist=dist,
        export_config={},
    )


def test_deepspeed_config_follows_the_section(tmp_path: Path) -> None:
    section = DeepSpeedConfig(
        zero_stage=2,
        gradient_accumulation_steps=3,
        gradient_clipping=0.5,
        extra={"zero_optimization": {"overlap_comm": False}, "steps_per_print": 7},
    )
    config = _trainer(tmp_path, deepspeed=section).deepspeed_config()
    assert config["zero_optimization"] == {"stage": 2, "overlap_comm": False}
    assert config["gradient_accumulation_steps"] == 3 and config["gradient_clipping"] == 0.5
    assert config["train_batch_size"] == 4 * 3 * 2  # micro-batch × accumulation × processes
    assert config["bf16"] == {"enabled": False}  # fp32 on CPU
    assert config["steps_per_print"] == 7
    assert "optimizer" not in config and "scheduler" not in config  # torch client optimizer: nothing compiled
    assert _trainer(tmp_path).deepspeed_config(universal=True)["checkpoint"] == {"load_universal": True}


def test_epochs_become_steps(tmp_path: Path) -> None:
    trainer = _trainer(
        tmp_path, train=TrainConfig(epochs=2.0), deepspeed=DeepSpeedConfig(gradient_accumulation_steps=1)
    )
    per_epoch = trainer.data.plan.micro_batches_per_epoch()
    assert per_epoch == 3  # 10 proteins, 4 per micro-batch
    assert trainer.total_steps() == 3  # 2 epochs = 6 micro-batches = 3 steps of 2 processes


@pytest.mark.slow
def test_resume_latest_run_continues_in_place(tmp_path: Path) -> None:
    """``--resume`` without a directory continues the latest run of the config's name, in its directory; a longer
    ``train.max_steps`` would change its learning-rate schedule and is refused (tests/test_engine_resume.py)."""
    args = [
        "train.max_steps=5",
        "train.log_every=1",
        "train.checkpoint_every=3",
        "train.num_threads=1",
        "encoder.hidden_dims=[16,16]",
        "data.batch_size=4",
        "data.num_workers=0",
        f"output_root={tmp_path}",
        "--no-progress",
    ]
    assert pretrain.main(args) == 0
    (run,) = tmp_path.glob("pretrain-demo-*")
    shutil.rmtree(run / "checkpoints" / "step_0000005")  # as if it had stopped after its checkpoint of step 3
    (run / "checkpoints" / "latest").write_text("step_0000003\n")
    assert (
        pretrain.main(
            ["--resume", *args[:-2], "train.log_every=3", f"output_root={tmp_path}", "--no-progress"]
        )
        == 0
    )
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 5]  # kept up to the checkpoint, then the resumed run's log_every
    assert (run / "checkpoints" / "latest").read_text().strip() == "step_0000005"
    assert "log_every: 3" in (run / "config.yaml").read_text()
    assert len(list(tmp_path.glob("pretrain-demo-*"))) == 1  # continued in place


@pytest.mark.skipif(not torch.cuda.is_available(), reason="bf16 training needs a CUDA device")
def test_bf16_on_gpu(tmp_path: Path) -> None:
    args = ["train.max_steps=4", "train.log_every=1", "deepspeed.precision=bf16", f"output_root={tmp_path}"]
    assert pretrain.main([*args, "--no-progress"]) == 0
    (run,) = tmp_path.glob("pretrain-demo-*")
    losses = [json.loads(line)["loss"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(losses) == 4 and all(0 < v < 10 for v in losses)
