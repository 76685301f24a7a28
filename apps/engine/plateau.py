"""Reduce the learning rate when a validation metric stops improving — ``torch.optim.lr_scheduler.ReduceLROnPlateau``
on top of the engine's step schedule.

The seeds (ESM-GearNet / FusionProt ``util.build_downstream_solver`` + ``script/downstream.py``, EC and GO) build
``lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.6, patience=5)`` and call ``scheduler.step(valid f1_max)``
after every epoch. The engine's learning rate is a :class:`~torch.optim.lr_scheduler.LambdaLR` (warm-up / decay
multiplier, stepped by DeepSpeed every optimizer step); a plateau reduction here scales that schedule's base
learning rates (and the current ones) by the factor, group by group, so the two compose and the reduction is saved
with the scheduler's state in every checkpoint.

:class:`Plateau` reproduces torch's rule exactly (tested against it): with ``rel`` thresholds a value improves on
``best`` when ``a > best · (1 + threshold)`` (mode ``max``) or ``a < best · (1 − threshold)`` (``min``); ``abs``
uses ``best ± threshold``. A non-improving evaluation counts one bad epoch; after ``patience`` bad epochs the next
bad one multiplies every group's learning rate by ``factor`` (never below ``min_lr``; changes smaller than ``eps``
are skipped), then ``cooldown`` evaluations pass without counting.

Seed quirk: the seeds leave ``mode`` at torch's default ``"min"`` while stepping with ``f1_max`` (higher is
better), so their learning rate is cut after Fmax has failed to *fall* for six evaluations. The presets keep
``mode: min`` to reproduce the seeds' training; ``mode: auto`` (the default here) follows the monitored metric's
direction.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field

from engine.config import Section


class PlateauConfig(Section):
    """ReduceLROnPlateau on a validation metric (ESM-GearNet / FusionProt EC & GO: factor 0.6, patience 5)."""

    #: ``auto`` = the monitored metric's direction (max for Fmax / accuracy / Spearman); the seeds: torch's
    #: default ``min`` (module docstring).
    mode: Literal["auto", "min", "max"] = "auto"
    factor: float = Field(0.6, gt=0, lt=1)  # seed: factor 0.6
    patience: int = Field(5, ge=0)  # seed: patience 5
    threshold: float = Field(1e-4, ge=0)  # torch default
    threshold_mode: Literal["rel", "abs"] = "rel"  # torch default
    cooldown: int = Field(0, ge=0)  # torch default
    min_lr: float = Field(0.0, ge=0)  # torch default
    eps: float = Field(1e-8, ge=0)  # torch default


class Plateau:
    """The state machine of torch's ``ReduceLROnPlateau`` (module docstring), applied to the engine's scheduler.

    Args:
        config: The rule.
        mode: ``"min"`` or ``"max"`` (``config.mode`` resolved).
    """

    def __init__(self, config: PlateauConfig, mode: Literal["min", "max"]) -> None:
        self.config = config
        self.mode = mode
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0
        self.reductions = 0

    def is_better(self, a: float, best: float) -> bool:
        c = self.config
        if self.mode == "min":
            return a < best * (1.0 - c.threshold) if c.threshold_mode == "rel" else a < best - c.threshold
        return a > best * (1.0 + c.threshold) if c.threshold_mode == "rel" else a > best + c.threshold

    def step(self, value: float) -> bool:
        """Record one evaluation; True when the learning rate must be reduced now."""
        current = float(value)
        self.last_epoch += 1
        if self.is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.config.patience:
            self.cooldown_counter = self.config.cooldown
            self.num_bad_epochs = 0
            return True
        return False

    def reduce(self, optimizer: Any, scheduler: Any | None = None) -> list[float]:
        """Multiply each group's learning rate by ``factor`` (floored at ``min_lr``) in ``optimizer`` and in the
        base learning rates of ``scheduler`` (a ``LambdaLR``), so later schedule steps keep the reduction.
        Returns the new learning rates."""
        out = []
        base = getattr(scheduler, "base_lrs", None)
        for i, group in enumerate(optimizer.param_groups):
            old = float(group["lr"])
            new = max(old * self.config.factor, self.config.min_lr)
            if old - new > self.config.eps:
                group["lr"] = new
                if base is not None:
                    base[i] = base[i] * (new / old) if old > 0 else base[i]
            out.append(float(group["lr"]))
        if scheduler is not None and hasattr(scheduler, "_last_lr"):
            scheduler._last_lr = [float(g["lr"]) for g in optimizer.param_groups]
        self.reductions += 1
        return out

    # ------------------------------------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        return {
            "best": self.best,
            "num_bad_epochs": self.num_bad_epochs,
            "cooldown_counter": self.cooldown_counter,
            "last_epoch": self.last_epoch,
            "reductions": self.reductions,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = float(state["best"])
        self.num_bad_epochs = int(state["num_bad_epochs"])
        self.cooldown_counter = int(state["cooldown_counter"])
        self.last_epoch = int(state["last_epoch"])
        self.reductions = int(state.get("reductions", 0))
