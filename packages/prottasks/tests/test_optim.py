"""prottasks.optim: schedules against Hugging Face's and SaProt's formulas; learning-rate-ratio groups;
:func:`plateau_step` (torch's ReduceLROnPlateau composed with the LambdaLR step schedule) against a trajectory
computed by hand, through a state round trip."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from prottasks.errors import ProttasksError
from prottasks.optim import (
    OptimizerConfig,
    OptimizerConfigError,
    PlateauConfig,
    SchedulerConfig,
    build_optimizer,
    build_scheduler,
    lr_multiplier,
    parameter_groups,
    plateau_step,
)


def _lrs(scheduler: torch.optim.lr_scheduler.LRScheduler, optimizer: torch.optim.Optimizer, n: int) -> list:
    """The learning rate of every group at each of ``n`` steps, flattened."""
    out = []
    for _ in range(n):
        out.extend(g["lr"] for g in optimizer.param_groups)
        optimizer.step()
        scheduler.step()
    return out


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_warmup_decay_equals_hugging_face(kind: str) -> None:
    transformers = pytest.importorskip("transformers")
    reference = {
        "linear": transformers.get_linear_schedule_with_warmup,
        "cosine": transformers.get_cosine_schedule_with_warmup,
    }[kind]
    total, warmup = 57, 9
    p1 = nn.Parameter(torch.zeros(2))
    p2 = nn.Parameter(torch.zeros(2))
    opt_ref = torch.optim.SGD([p1], lr=0.3)
    ref = reference(opt_ref, num_warmup_steps=warmup, num_training_steps=total)
    opt = torch.optim.SGD([p2], lr=0.3)
    ours = build_scheduler(opt, SchedulerConfig(type=kind, warmup_steps=warmup), total)
    expected = _lrs(ref, opt_ref, total + 1)
    got = _lrs(ours, opt, total + 6)
    assert got[: total + 1] == pytest.approx(expected, abs=1e-12)
    assert got[total:] == [0.0] * 6  # past the end we hold the floor (HF's cosine would rise again)


def test_min_lr_ratio_is_the_floor_of_the_decay() -> None:
    config = SchedulerConfig(type="cosine", warmup_steps=10, min_lr_ratio=0.1)
    assert lr_multiplier(0, config, 100) == 0.0
    assert lr_multiplier(5, config, 100) == pytest.approx(0.5)
    assert lr_multiplier(10, config, 100) == pytest.approx(1.0)
    assert lr_multiplier(55, config, 100) == pytest.approx(0.1 + 0.9 * 0.5)  # half way: cos(pi/2) = 0
    assert lr_multiplier(100, config, 100) == pytest.approx(0.1)
    assert lr_multiplier(500, config, 100) == pytest.approx(0.1)
    linear = SchedulerConfig(type="linear", warmup_steps=0, min_lr_ratio=0.2)
    assert lr_multiplier(50, linear, 100) == pytest.approx(0.2 + 0.8 * 0.5)
    constant = SchedulerConfig(type="constant", warmup_steps=4)
    assert [lr_multiplier(s, constant, 100) for s in range(6)] == [0, 0.25, 0.5, 0.75, 1, 1]


def test_esm2_schedule_is_saprots() -> None:
    """SaProt config/pretrain/saprot.yaml + utils/lr_scheduler.py Esm2LRScheduler: init_lr 0, max_lr 4e-4,
    final_lr 4e-5, warmup 2,000, decay from 150,000 to 1,500,000 (values worked out by hand from get_lr)."""
    config = SchedulerConfig(
        type="esm2", warmup_steps=2000, decay_start_step=150_000, decay_steps=1_500_000, min_lr_ratio=0.1
    )
    max_lr = 4e-4
    expected = {
        0: 0.0,
        1000: 2e-4,
        2000: 4e-4,
        2001: 4e-4,
        150_000: 4e-4,
        825_000: 4e-4 - 0.5 * (4e-4 - 4e-5),  # half way through the decay
        1_500_000: 4e-5,
        2_000_000: 4e-5,
    }
    for step, lr in expected.items():
        assert max_lr * lr_multiplier(step, config, 10**9) == pytest.approx(lr, rel=1e-12), step


def test_scheduler_keeps_the_ratio_between_groups() -> None:
    a, b = nn.Parameter(torch.zeros(1)), nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([{"params": [a], "lr": 1e-3}, {"params": [b], "lr": 1e-4}], lr=1e-3)
    sched = build_scheduler(opt, SchedulerConfig(type="cosine", warmup_steps=3), 20)
    lrs = _lrs(sched, opt, 20)
    for first, second in zip(lrs[2::2], lrs[3::2]):
        assert second / first == pytest.approx(0.1)


class _Fusion(nn.Module):
    def __init__(self, sequence: nn.Module) -> None:
        super().__init__()
        self.sequence = sequence
        self.structure = nn.Linear(4, 4)
        self.head = nn.Linear(4, 2)


def test_prefix_ratio_groups_and_freezing() -> None:
    model = _Fusion(nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4)))
    groups = parameter_groups(model, OptimizerConfig(lr=1e-3, lr_ratios={"sequence": 0.1}))
    by_param = {id(p): g["lr"] for g in groups for p in g["params"]}
    for name, p in model.named_parameters():
        assert by_param[id(p)] == pytest.approx(1e-4 if name.startswith("sequence.") else 1e-3), name
    frozen = _Fusion(nn.Linear(4, 4))
    opt = build_optimizer(frozen, OptimizerConfig(lr=1e-3, lr_ratios={"sequence": 0.0}))
    in_opt = {id(p) for g in opt.param_groups for p in g["params"]}
    assert all(not p.requires_grad and id(p) not in in_opt for p in frozen.sequence.parameters())
    assert all(id(p) in in_opt for p in frozen.head.parameters())
    # a second build (preflight, then the trainer) finds the prefix already frozen: same groups, no error
    again = build_optimizer(frozen, OptimizerConfig(lr=1e-3, lr_ratios={"sequence": 0.0}))
    assert {id(p) for g in again.param_groups for p in g["params"]} == in_opt


def test_no_decay_for_norms_and_biases() -> None:
    model = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4))
    groups = parameter_groups(model, OptimizerConfig(weight_decay=0.01, no_decay_norm_and_bias=True))
    wd = {id(p): g["weight_decay"] for g in groups for p in g["params"]}
    assert wd[id(model[0].weight)] == 0.01
    assert wd[id(model[0].bias)] == wd[id(model[1].weight)] == wd[id(model[1].bias)] == 0.0


def test_module_parameter_groups_helper_is_used() -> None:
    """A protenc-seq encoder at the prefix builds its own groups (lr × ratio, layer-wise decay)."""
    protenc_seq = pytest.importorskip("protenc_seq")
    encoder = protenc_seq.ESM2Encoder(protenc_seq.ESM2Config(num_layers=2, embed_dim=16, attention_heads=2))
    model = _Fusion(encoder)
    groups = parameter_groups(
        model, OptimizerConfig(lr=1e-3, weight_decay=0.01, lr_ratios={"sequence": 0.08})
    )
    own = encoder.parameter_groups(1e-3, lr_ratio=0.08, weight_decay=0.01)
    seq_groups = [g for g in groups if str(g["name"]).startswith("sequence:")]
    assert [(g["lr"], g["weight_decay"], [id(p) for p in g["params"]]) for g in seq_groups] == [
        (g["lr"], g["weight_decay"], [id(p) for p in g["params"]]) for g in own
    ]
    assert seq_groups and all(g["lr"] == pytest.approx(8e-5) for g in seq_groups)


def test_unknown_prefix_is_a_config_error() -> None:
    with pytest.raises(
        OptimizerConfigError, match=r"optimizer\.lr_ratios: no trainable parameter is named 'seq'"
    ):
        parameter_groups(_Fusion(nn.Linear(4, 4)), OptimizerConfig(lr_ratios={"seq": 0.1}))


def test_esm2_decay_start_after_the_decay_end_is_an_error_naming_the_key() -> None:
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
    config = SchedulerConfig(type="esm2", decay_start_step=50, decay_steps=40)
    with pytest.raises(
        ProttasksError, match=r"^scheduler\.decay_start_step: 50 is after the end of the decay \(40\)"
    ):
        build_scheduler(optimizer, config, 100)


def test_importing_the_configs_imports_no_torch() -> None:
    import subprocess
    import sys

    code = "import sys, prottasks.optim; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


# ------------------------------------------------------------------ ReduceLROnPlateau with the step schedule
def _optimizer(lr: float = 1e-3) -> torch.optim.Optimizer:
    return torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=lr)


def _torch_plateau(optimizer: torch.optim.Optimizer, config: PlateauConfig, mode: str):
    return torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode=mode, **config.model_dump(exclude={"mode"})
    )


def test_seed_configuration_reduces_after_six_non_improving_evaluations() -> None:
    """ESM-GearNet / FusionProt: factor 0.6, patience 5 — the 6th evaluation without improvement cuts the rate."""
    opt = _optimizer(1e-4)
    plateau = _torch_plateau(opt, PlateauConfig(), "max")
    cuts = [
        k for k, v in enumerate([0.5, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4]) if plateau_step(plateau, v, None)
    ]
    assert cuts == [6] and opt.param_groups[0]["lr"] == pytest.approx(0.6e-4)  # 1 best + 6 bad evaluations


def test_reduction_composes_with_the_step_schedule_and_round_trips() -> None:
    """The engine's LambdaLR keeps multiplying the reduced base rate; the scheduler's, optimizer's and plateau's
    states restore the same trajectory (what a checkpoint holds)."""
    warm = lambda step: min(1.0, (step + 1) / 4)  # noqa: E731
    values = [0.1, 0.2, 0.2, 0.2, 0.2, 0.3, 0.3, 0.3, 0.3, 0.3]
    config = PlateauConfig(mode="max", patience=1)

    def run(resume_at: int | None) -> list[float]:
        opt = _optimizer()
        sched, plateau = torch.optim.lr_scheduler.LambdaLR(opt, warm), _torch_plateau(opt, config, "max")
        lrs = []
        for step, value in enumerate(values):
            if resume_at is not None and step == resume_at:
                saved = (sched.state_dict(), opt.state_dict(), plateau.state_dict())
                opt = _optimizer()
                sched, plateau = (
                    torch.optim.lr_scheduler.LambdaLR(opt, warm),
                    _torch_plateau(opt, config, "max"),
                )
                sched.load_state_dict(saved[0])
                opt.load_state_dict(saved[1])
                plateau.load_state_dict(saved[2])
            opt.step()
            sched.step()
            plateau_step(plateau, value, sched)
            lrs.append(opt.param_groups[0]["lr"])
        return lrs

    straight = run(None)
    # by hand: warm-up multiplier min(1, (s + 1) / 4) after s + 1 scheduler steps, x0.6 after each 2nd bad evaluation
    expected, base, best, bad = [], 1e-3, -np.inf, 0
    for step, value in enumerate(values):
        lr = base * warm(step + 1)
        if value > best * (1 + 1e-4):
            best, bad = value, 0
        else:
            bad += 1
        if bad > 1:
            base, lr, bad = base * 0.6, lr * 0.6, 0
        expected.append(lr)
    assert (
        straight == pytest.approx(expected, rel=1e-12)
        and len(set(np.round(np.array(expected) / 1e-3, 6))) > 4
    )
    assert run(resume_at=4) == pytest.approx(straight, rel=1e-12)
    assert run(resume_at=7) == pytest.approx(straight, rel=1e-12)
