"""Validation inside the training loop (ESM-GearNet / FusionProt ``train_and_validate``: after every epoch
``solver.evaluate("valid")``, keep the best ``f1_max``, ``scheduler.step(result)`` of ``ReduceLROnPlateau``):
:class:`Validation` evaluates through the DeepSpeed engine (e.g. :func:`prottasks.data.evaluate_splits`), exports the
best model to ``best/`` and steps torch's ``ReduceLROnPlateau`` (:func:`plateau_step`); its state (best value and
step, the plateau's ``state_dict``) travels in every checkpoint, so ``--resume`` continues exactly."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import torch

from engine.checkpoint import consolidated_state_dict, export_model

#: Sub-directory of the run holding the best model on the validation set.
BEST_DIR = "best"
#: Evaluation time of a validation record (seconds).
SECONDS_KEY = "eval_seconds"

Forward = Callable[..., Any]


def plateau_step(
    plateau: torch.optim.lr_scheduler.ReduceLROnPlateau, value: float, scheduler: Any
) -> list | None:
    """``plateau.step(value)``; when it cuts a group's learning rate, the engine's step schedule (a ``LambdaLR``
    stepped every optimizer step) gets its base rate scaled alike, so the reduction persists (and is saved with
    the schedule's state). Returns the new learning rates after a reduction, else ``None``."""
    groups = plateau.optimizer.param_groups
    before = [float(g["lr"]) for g in groups]
    plateau.step(value)
    after = [float(g["lr"]) for g in groups]
    if after == before:
        return None
    base = getattr(scheduler, "base_lrs", None)
    for i, (old, new) in enumerate(zip(before, after)):
        if base is not None and old > 0:
            base[i] *= new / old
    if scheduler is not None:
        scheduler._last_lr = after
    return after


class Validation:
    """Periodic evaluation with model selection and ReduceLROnPlateau (module docstring).

    ``evaluate(forward) -> {metric: value}`` runs on every rank and returns the same metrics there; ``monitor``
    (e.g. ``valid_fmax``, ``mode`` max / min) selects the best model and drives ``plateau``
    (:class:`~engine.finetuning.PlateauConfig`, ``None``: off); ``every_steps`` overrides ``every_epochs``.
    """

    def __init__(
        self,
        evaluate: Callable[[Forward], dict[str, float]],
        *,
        monitor: str,
        mode: Literal["max", "min"] = "max",
        every_epochs: float = 1.0,
        every_steps: int | None = None,
        plateau: Any | None = None,
        export_best: bool = True,
    ) -> None:
        self.evaluate, self.monitor, self.mode = evaluate, monitor, mode
        self.every_epochs, self.every_steps, self.export_best = every_epochs, every_steps, export_best
        self.plateau_config = plateau
        #: torch's ReduceLROnPlateau over the engine's optimizer, built at the first evaluation.
        self.plateau: torch.optim.lr_scheduler.ReduceLROnPlateau | None = None
        self._plateau_state: dict[str, Any] | None = None
        self.best: float | None = None
        self.best_step: int | None = None
        self.reductions = 0
        self.every = every_steps or 1

    def resolve(self, steps_per_epoch: int) -> int:
        """Fix the evaluation interval in optimizer steps (``every_steps``, else ``every_epochs`` epochs)."""
        self.every = self.every_steps or max(1, round(self.every_epochs * steps_per_epoch))
        return self.every

    def due(self, step: int, total: int) -> bool:
        return step % self.every == 0 or step == total

    def _plateau(self, optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.ReduceLROnPlateau:
        if self.plateau is None:
            c = self.plateau_config
            options = c.model_dump(exclude={"mode"})
            mode = self.mode if c.mode == "auto" else c.mode
            self.plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode=mode, **options)
            if self._plateau_state is not None:
                self.plateau.load_state_dict(self._plateau_state)
        return self.plateau

    def run(
        self, engine: Any, step: int, *, run_dir: Path, export_config: dict[str, Any], is_main: bool
    ) -> dict[str, Any]:
        """Evaluate at optimizer ``step``; update the best model and the plateau; return the log record."""
        t0 = time.perf_counter()
        engine.eval()

        def forward(batch: Any, **kwargs: Any) -> Any:
            with torch.no_grad():
                return engine(batch, **kwargs)

        try:
            metrics = self.evaluate(forward)
        finally:
            engine.train()
        if self.monitor not in metrics:
            raise KeyError(f"validation returned no {self.monitor!r} (got {sorted(metrics)})")
        value = float(metrics[self.monitor])
        record: dict[str, Any] = {"step": step, **{k: float(v) for k, v in metrics.items()}}
        better = self.best is None or (value > self.best if self.mode == "max" else value < self.best)
        if math.isfinite(value) and better:
            self.best, self.best_step = value, step
            # every rank takes part (ZeRO-3 gathers)
            state = consolidated_state_dict(engine) if self.export_best else None
            if is_main and state is not None:
                selected = {"metric": self.monitor, "value": value, "step": step, "mode": self.mode}
                export_model(
                    engine.module, state, Path(run_dir) / BEST_DIR, {**export_config, "selected": selected}
                )
        if self.plateau_config is not None:
            scheduler = engine.lr_scheduler  # the LambdaLR over the torch optimizer DeepSpeed steps
            lrs = plateau_step(self._plateau(scheduler.optimizer), value, scheduler)
            if lrs is not None:
                self.reductions += 1
                record["plateau_lr"] = lrs[0]
        record["best_" + self.monitor] = self.best if self.best is not None else float("nan")
        record[SECONDS_KEY] = time.perf_counter() - t0
        return record

    def state_dict(self) -> dict[str, Any]:
        plateau = self.plateau.state_dict() if self.plateau is not None else self._plateau_state
        return {
            **{k: getattr(self, k) for k in ("monitor", "mode", "best", "best_step", "every", "reductions")},
            "plateau": plateau,
        }

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        """Restore the best value / step and the plateau's ``state_dict`` (applied when the plateau is built)."""
        if not state:
            return
        self.best = None if state.get("best") is None else float(state["best"])
        self.best_step, self.reductions = state.get("best_step"), int(state.get("reductions", 0))
        self._plateau_state = state.get("plateau") if self.plateau_config is not None else None
        if self.plateau is not None and self._plateau_state:
            self.plateau.load_state_dict(self._plateau_state)
