"""Validation inside the training loop: evaluate every epoch (or every N steps), keep the best model, reduce the
learning rate on a plateau.

ESM-GearNet / FusionProt ``train_and_validate``: after every epoch ``solver.evaluate("valid")``, remember the best
``cfg.metric`` (``f1_max``) and ``scheduler.step(result)`` for ``ReduceLROnPlateau``. :class:`Validation` does this
for :class:`~engine.trainer.Trainer`: ``evaluate(forward)`` runs the app's validation set through the DeepSpeed
engine (every rank its share; it returns the same metrics on every rank), the record is logged (metrics log,
TensorBoard, curves), the monitored metric updates the best model — exported as
``best/model.safetensors`` + ``best/config.json`` when it improves — and the :class:`~engine.plateau.Plateau`.
Metric names carry their split (``valid_fmax``, ``test_fmax``); TensorBoard shows them as ``valid/fmax``.
Its state (best value, step, plateau counters) travels in every checkpoint, so ``--resume`` continues exactly.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import torch

from engine.checkpoint import consolidated_state_dict, export_model
from engine.plateau import Plateau, PlateauConfig

#: Sub-directory of the run holding the best model on the validation set.
BEST_DIR = "best"
#: Evaluation time of a validation record (seconds).
SECONDS_KEY = "eval_seconds"

Forward = Callable[..., Any]


class Validation:
    """Periodic evaluation with model selection and ReduceLROnPlateau (module docstring).

    Args:
        evaluate: ``evaluate(forward) -> {metric: value}`` (names carry the split: ``valid_fmax``);
            ``forward(batch, **kwargs)`` runs the model in eval mode without gradients. Called on every rank; must
            return the same metrics on every rank.
        monitor: The metric that selects the best model (and drives the plateau), e.g. ``"valid_fmax"``.
        mode: ``"max"`` (higher is better) or ``"min"``.
        every_epochs: Evaluate after this many epochs' worth of optimizer steps (seed: 1).
        every_steps: Evaluate every N optimizer steps instead (overrides ``every_epochs``).
        plateau: ReduceLROnPlateau on ``monitor`` (``None``: off).
        export_best: Export the best model to ``<run>/best/``.
    """

    def __init__(
        self,
        evaluate: Callable[[Forward], dict[str, float]],
        *,
        monitor: str,
        mode: Literal["max", "min"] = "max",
        every_epochs: float = 1.0,
        every_steps: int | None = None,
        plateau: PlateauConfig | None = None,
        export_best: bool = True,
    ) -> None:
        self.evaluate = evaluate
        self.monitor = monitor
        self.mode = mode
        self.every_epochs = every_epochs
        self.every_steps = every_steps
        self.export_best = export_best
        self.plateau = None
        if plateau is not None:
            self.plateau = Plateau(plateau, mode if plateau.mode == "auto" else plateau.mode)
        self.best: float | None = None
        self.best_step: int | None = None
        self.every = every_steps or 1

    # ------------------------------------------------------------------------------------------ set-up
    def resolve(self, steps_per_epoch: int) -> int:
        """Fix the evaluation interval in optimizer steps (``every_steps``, else ``every_epochs`` epochs)."""
        if self.every_steps is not None:
            self.every = self.every_steps
        else:
            self.every = max(1, round(self.every_epochs * steps_per_epoch))
        return self.every

    def due(self, step: int, total: int) -> bool:
        return step % self.every == 0 or step == total

    def improved(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.best is None:
            return True
        return value > self.best if self.mode == "max" else value < self.best

    # ------------------------------------------------------------------------------------------- running
    def run(
        self,
        engine: Any,
        step: int,
        *,
        run_dir: Path,
        export_config: dict[str, Any],
        is_main: bool,
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
        record: dict[str, Any] = {"step": step}
        record.update({k: float(v) for k, v in metrics.items()})
        if self.improved(value):
            self.best, self.best_step = value, step
            if self.export_best:
                state = consolidated_state_dict(engine)  # every rank takes part (ZeRO-3 gathers)
                if is_main and state is not None:
                    selected = {"metric": self.monitor, "value": value, "step": step, "mode": self.mode}
                    export_model(
                        engine.module,
                        state,
                        Path(run_dir) / BEST_DIR,
                        {**export_config, "selected": selected},
                    )
        if self.plateau is not None and self.plateau.step(value):
            scheduler = engine.lr_scheduler  # the LambdaLR over the torch optimizer DeepSpeed steps
            lrs = self.plateau.reduce(scheduler.optimizer, scheduler)
            record["plateau_lr"] = lrs[0] if lrs else 0.0
        record["best_" + self.monitor] = self.best if self.best is not None else float("nan")
        record[SECONDS_KEY] = time.perf_counter() - t0
        return record

    # --------------------------------------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        return {
            "monitor": self.monitor,
            "mode": self.mode,
            "best": self.best,
            "best_step": self.best_step,
            "every": self.every,
            "plateau": self.plateau.state_dict() if self.plateau is not None else None,
        }

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        if not state:
            return
        self.best = None if state.get("best") is None else float(state["best"])
        self.best_step = state.get("best_step")
        if self.plateau is not None and state.get("plateau"):
            self.plateau.load_state_dict(state["plateau"])
