"""Validation inside the training loop (ESM-GearNet / FusionProt ``train_and_validate``: after every epoch
``solver.evaluate("valid")``, keep the best ``f1_max``, ``scheduler.step(result)`` of ``ReduceLROnPlateau``):
:class:`Validation` evaluates through the DeepSpeed engine (e.g. :func:`prottasks.data.evaluate_splits`), exports the
best model to ``best/`` and steps torch's ``ReduceLROnPlateau`` (:func:`prottasks.optim.plateau_step`); its state (best value and
step, the plateau's ``state_dict``, the held-out set's digest) travels in every checkpoint, so ``--resume`` continues
exactly. Pretraining and alignment hold out proteins by id (:class:`ValidationConfig`, :func:`held_out`), evaluated
by :class:`prottasks.objectives.validation.ObjectiveValidation` / :class:`protalign.validation.PairValidation`, the
lowest ``val_loss`` selected. Torch is imported on first use (configs answer without it)."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from engine.config import Section
from engine.errors import ConfigError
from prottasks.optim import build_plateau, plateau_step

if TYPE_CHECKING:
    import torch

#: Sub-directory of the run holding the best model on the validation set.
BEST_DIR = "best"
#: Evaluation time of a validation record (seconds).
SECONDS_KEY = "eval_seconds"

Forward = Callable[..., Any]


class ValidationConfig(Section):
    """Validation of pretraining / alignment on held-out proteins (pairs: by protein id), never trained on
    (:mod:`protdata.holdout`): the loss and the objective's metric (``val_*``) every ``every_steps`` optimizer steps
    (else every ``every_epochs``) and at the end; the lowest ``val_loss`` model is exported to ``best/``."""

    #: Held out by a hash of each id (stable when the data grow, whatever the order or sharding); 0: off.
    fraction: float = Field(0.01, ge=0, lt=1)
    #: A file listing the held-out ids (one per line), or a list of ids: instead of ``fraction``.
    ids: str | list[str] | None = None
    #: Fewer held out than this: validation is off (a notice), e.g. on small data.
    min_count: int = Field(32, ge=1)
    every_steps: int | None = Field(None, ge=1)
    every_epochs: float = Field(1.0, gt=0)
    export_best: bool = True  # the best model to <run>/best/


def held_out(config: ValidationConfig, ids: Sequence[str], dist: Any, what: str = "proteins") -> Any:
    """:func:`protdata.holdout.split_ids` of ``ids`` by ``config`` (a :class:`~protdata.holdout.HoldOut`), or
    ``None`` — validation off — with a notice on rank 0; its notes on rank 0."""
    from engine.builders import resolve_path
    from engine.errors import DataError
    from protdata.errors import ProtdataError
    from protdata.holdout import read_id_list, split_ids

    listed = config.ids if not isinstance(config.ids, str) else resolve_path(config.ids, "validation.ids")
    try:
        listed = read_id_list(listed) if isinstance(listed, Path) else listed
        fraction = config.fraction if listed is None else None
        split = split_ids(ids, fraction=fraction, listed=listed, min_count=config.min_count)
    except ProtdataError as exc:
        raise DataError(str(exc)) from None
    off = isinstance(split, str)
    notes = [split] if off else [*split.notes, f"validation: {len(split.held_out)} {what} held out"]
    for note in notes if dist.is_main else ():
        print(note, file=sys.stderr, flush=True)
    return None if off else split


def pretraining_validation(config: Any, data: Any, dist: Any, select: Callable | None) -> tuple[Any, Any]:
    """``(training data without the held-out proteins, Validation or None)`` of a pretraining run."""
    from prottasks.objectives.validation import hold_out_proteins

    split = held_out(config.validation, data.store.ids, dist)
    if split is None:
        return data, None
    data, evaluate = hold_out_proteins(data, split.held_out, split.train, config.seed)
    return data, selecting(config.validation, evaluate, dist, split.digest, select)


def alignment_validation(config: Any, pairs: Any, tokenizer: Any, dist: Any) -> tuple[Any, Any]:
    """``(the training pairs, Validation or None)`` of an alignment run (pairs held out by protein id)."""
    from protalign.validation import hold_out_pairs

    split = held_out(config.validation, pairs.ids, dist, "pairs")
    if split is None:
        return pairs, None
    batching = {"batch_size": config.data.batch_size, "max_tokens": config.data.max_tokens}
    pairs, evaluate = hold_out_pairs(
        pairs, split.held_out, split.train, config.model, tokenizer, config.seed, **batching
    )
    return pairs, selecting(config.validation, evaluate, dist, split.digest)


def selecting(
    config: ValidationConfig, evaluate: Callable, dist: Any, digest: str, select: Callable | None = None
) -> Validation:
    """A :class:`Validation` of ``evaluate(forward, device, rank, world_size)`` keeping the lowest ``val_loss``."""
    validation = Validation(
        lambda forward: evaluate(forward, dist.device, dist.rank, dist.world_size),
        monitor="val_loss", mode="min", every_epochs=config.every_epochs, every_steps=config.every_steps,
        export_best=config.export_best, export_select=select,
    )  # fmt: skip
    validation.split = digest
    return validation


class Validation:
    """Periodic evaluation with model selection and ReduceLROnPlateau (module docstring).

    ``evaluate(forward) -> {metric: value}`` runs on every rank and returns the same metrics there; ``monitor``
    (e.g. ``valid_fmax``, ``mode`` max / min) selects the best model and drives ``plateau``
    (:class:`prottasks.optim.PlateauConfig`, ``None``: off); ``every_steps`` overrides ``every_epochs``.
    ``patience``: early stopping -- training stops after this many evaluations in a row without the monitored
    metric improving by more than ``min_delta`` (transformers' ``EarlyStoppingCallback``:
    ``early_stopping_patience`` / ``early_stopping_threshold``); ``None``: never.
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
        export_select: Callable[[Any], Any] | None = None,
        patience: int | None = None,
        min_delta: float = 0.0,
    ) -> None:
        self.evaluate, self.monitor, self.mode = evaluate, monitor, mode
        self.patience, self.min_delta = patience, min_delta
        #: Evaluations since the last improvement by more than ``min_delta`` (early stopping's counter).
        self.waiting = 0
        #: Every metric of the evaluation that selected the best model (``valid_*``, ``test_*``, ...).
        self.best_record: dict[str, float] = {}
        self.every_epochs, self.every_steps, self.export_best = every_epochs, every_steps, export_best
        self.export_select = export_select  # the part exported (engine.checkpoint.export_model's select)
        self.split: str | None = None  # digest of the held-out ids (protdata.holdout.HoldOut.digest)
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

    @property
    def should_stop(self) -> bool:
        """Early stopping: ``patience`` evaluations in a row without an improvement above ``min_delta``."""
        return self.patience is not None and self.waiting >= self.patience

    def best_table(self) -> str:
        """The metrics at the best step, one row per metric and a column per split
        (:func:`prottasks.reporting.split_table`)."""
        from prottasks.reporting import split_table

        return split_table(self.best_record)

    def _plateau(self, optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.ReduceLROnPlateau:
        if self.plateau is None:
            self.plateau = build_plateau(optimizer, self.plateau_config, self.mode)
            if self._plateau_state is not None:
                self.plateau.load_state_dict(self._plateau_state)
        return self.plateau

    def run(
        self,
        engine: Any,
        step: int,
        *,
        run_dir: Path,
        export_config: dict[str, Any],
        is_main: bool,
        autocast: Callable[[], AbstractContextManager[Any]] = nullcontext,
    ) -> dict[str, Any]:
        """Evaluate at optimizer ``step``; update the best model and the plateau; return the log record.
        ``autocast``: the training forward's context (bf16 autocast on the CPU; ``engine.trainer.cpu_autocast``)."""
        import torch

        from engine.checkpoint import consolidated_state_dict
        from prottasks.export import export_model

        t0 = time.perf_counter()
        engine.eval()

        def forward(batch: Any, **kwargs: Any) -> Any:
            with torch.no_grad(), autocast():
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
        gain = (
            math.inf
            if self.best is None
            else (value - self.best if self.mode == "max" else self.best - value)
        )
        self.waiting = 0 if math.isfinite(value) and gain > self.min_delta else self.waiting + 1
        if math.isfinite(value) and better:
            self.best, self.best_step = value, step
            self.best_record = {k: float(v) for k, v in metrics.items()}
            # every rank takes part (ZeRO-3 gathers)
            state = consolidated_state_dict(engine) if self.export_best else None
            if is_main and state is not None:
                selected = {"metric": self.monitor, "value": value, "step": step, "mode": self.mode}
                best = {**export_config, "selected": selected}
                export_model(engine.module, state, Path(run_dir) / BEST_DIR, best, self.export_select)
        if self.plateau_config is not None:
            scheduler = engine.lr_scheduler  # the LambdaLR over the torch optimizer DeepSpeed steps
            lrs = plateau_step(self._plateau(scheduler.optimizer), value, scheduler)
            if lrs is not None:
                self.reductions += 1
                record["plateau_lr"] = lrs[0]
        record["best_" + self.monitor] = self.best if self.best is not None else float("nan")
        record["best_step"] = self.best_step
        record[SECONDS_KEY] = time.perf_counter() - t0
        return record

    def state_dict(self) -> dict[str, Any]:
        plateau = self.plateau.state_dict() if self.plateau is not None else self._plateau_state
        return {
            **{
                k: getattr(self, k)
                for k in (
                    "monitor",
                    "mode",
                    "best",
                    "best_step",
                    "every",
                    "reductions",
                    "split",
                    "waiting",
                    "best_record",
                )
            },
            "plateau": plateau,
        }

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        """Restore the best value / step and the plateau's ``state_dict`` (applied when the plateau is built)."""
        if self.split is not None and (not state or state.get("split") != self.split):
            before = "trained on all of them" if not state or not state.get("split") else "held out others"
            raise ConfigError(
                f"validation: the held-out proteins differ from the checkpoint's (its run {before}), so this run "
                "would train on other data; resume with the checkpoint's validation settings or start a new run"
            )
        if not state:
            return
        self.best = None if state.get("best") is None else float(state["best"])
        self.best_step, self.reductions = state.get("best_step"), int(state.get("reductions", 0))
        self.waiting = int(state.get("waiting", 0))
        self.best_record = {str(k): float(v) for k, v in dict(state.get("best_record") or {}).items()}
        self._plateau_state = state.get("plateau") if self.plateau_config is not None else None
        if self.plateau is not None and self._plateau_state:
            self.plateau.load_state_dict(self._plateau_state)
