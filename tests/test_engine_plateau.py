"""apps/engine/plateau.py against torch.optim.lr_scheduler.ReduceLROnPlateau (the seeds' scheduler): fed the same
metric values, the learning rates are equal at every evaluation, for every mode / threshold rule / cooldown /
floor; the reduction composes with the engine's LambdaLR schedule and survives a state round trip."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

APPS = Path(__file__).resolve().parents[1] / "apps"
if str(APPS) not in sys.path:
    sys.path.insert(0, str(APPS))

from engine.plateau import Plateau, PlateauConfig  # noqa: E402


def _optimizer(lrs: tuple[float, ...] = (1e-3, 1e-4)) -> torch.optim.Optimizer:
    groups = [{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": lr} for lr in lrs]
    return torch.optim.Adam(groups)


def _values(seed: int, n: int = 60) -> list[float]:
    """A noisy metric that improves, stalls and drifts (plateaus of several lengths, exact repeats)."""
    rng = np.random.default_rng(seed)
    base = np.concatenate(
        [np.linspace(0.2, 0.5, n // 3), np.full(n // 3, 0.5), np.linspace(0.5, 0.45, n - 2 * (n // 3))]
    )
    noise = rng.normal(0, 0.01, n) * (rng.random(n) < 0.6)
    return [round(float(v), 3) for v in base + noise]


CASES = [
    {"mode": "max"},
    {"mode": "min"},  # the seeds: mode min stepped with f1_max
    {"mode": "max", "threshold_mode": "abs", "threshold": 0.005},
    {"mode": "min", "threshold_mode": "abs", "threshold": 0.01, "cooldown": 2},
    {"mode": "max", "factor": 0.5, "patience": 2, "cooldown": 1, "min_lr": 2e-5},
    {"mode": "max", "patience": 0, "eps": 1e-4},
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
@pytest.mark.parametrize("seed", [0, 1])
def test_learning_rates_equal_torch(case: dict, seed: int) -> None:
    config = PlateauConfig(**{k: v for k, v in case.items()})
    ours_opt, ref_opt = _optimizer(), _optimizer()
    ref = torch.optim.lr_scheduler.ReduceLROnPlateau(
        ref_opt,
        mode=case["mode"],
        factor=config.factor,
        patience=config.patience,
        threshold=config.threshold,
        threshold_mode=config.threshold_mode,
        cooldown=config.cooldown,
        min_lr=config.min_lr,
        eps=config.eps,
    )
    plateau = Plateau(config, case["mode"])
    reductions = 0
    for value in _values(seed):
        if plateau.step(value):
            plateau.reduce(ours_opt)
            reductions += 1
        ref.step(value)
        assert [g["lr"] for g in ours_opt.param_groups] == pytest.approx(
            [g["lr"] for g in ref_opt.param_groups], rel=1e-12
        )
        assert plateau.num_bad_epochs == ref.num_bad_epochs and plateau.best == ref.best
    assert reductions >= 1, "the case never reduced: it tests nothing"


def test_seed_configuration_reduces_after_six_non_improving_evaluations() -> None:
    """ESM-GearNet / FusionProt: factor 0.6, patience 5 — the 6th evaluation without improvement cuts the rate."""
    opt = _optimizer((1e-4,))
    plateau = Plateau(PlateauConfig(), "max")
    assert (plateau.config.factor, plateau.config.patience) == (0.6, 5)
    for k, value in enumerate([0.5, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4]):
        if plateau.step(value):
            plateau.reduce(opt)
            assert k == 6  # 1 best + 6 bad evaluations
    assert opt.param_groups[0]["lr"] == pytest.approx(0.6e-4)


def test_reduction_composes_with_the_step_schedule_and_round_trips() -> None:
    """The engine's LambdaLR keeps multiplying the reduced base rate; the scheduler's and the plateau's states
    restore the same trajectory (what a checkpoint holds)."""
    warm = lambda step: min(1.0, (step + 1) / 4)  # noqa: E731

    def run(resume_at: int | None) -> list[float]:
        opt = _optimizer((1e-3,))
        sched = torch.optim.lr_scheduler.LambdaLR(opt, warm)
        plateau = Plateau(PlateauConfig(mode="max", patience=1), "max")
        lrs = []
        for step, value in enumerate([0.1, 0.2, 0.2, 0.2, 0.2, 0.3, 0.3, 0.3, 0.3, 0.3]):
            if resume_at is not None and step == resume_at:
                saved = (sched.state_dict(), opt.state_dict(), plateau.state_dict())
                opt = _optimizer((1e-3,))
                sched = torch.optim.lr_scheduler.LambdaLR(opt, warm)
                plateau = Plateau(PlateauConfig(mode="max", patience=1), "max")
                sched.load_state_dict(saved[0])
                opt.load_state_dict(saved[1])
                plateau.load_state_dict(saved[2])
            opt.step()
            sched.step()
            if plateau.step(value):
                plateau.reduce(opt, sched)
            lrs.append(opt.param_groups[0]["lr"])
        return lrs

    straight = run(None)
    # by hand: warm-up multiplier min(1, (s + 1) / 4) after s + 1 scheduler steps, x0.6 after each 2nd bad evaluation
    expected, base, best, bad = [], 1e-3, -np.inf, 0
    for step, value in enumerate([0.1, 0.2, 0.2, 0.2, 0.2, 0.3, 0.3, 0.3, 0.3, 0.3]):
        lr = base * warm(step + 1)
        if value > best * (1 + 1e-4):
            best, bad = value, 0
        else:
            bad += 1
        if bad > 1:
            base, lr, bad = base * 0.6, lr * 0.6, 0
        expected.append(lr)
    assert straight == pytest.approx(expected, rel=1e-12)
    assert run(resume_at=4) == pytest.approx(straight, rel=1e-12)
    assert run(resume_at=7) == pytest.approx(straight, rel=1e-12)
