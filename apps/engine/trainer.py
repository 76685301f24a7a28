"""The one training loop every app hands its model to: DeepSpeed everywhere (ZeRO 0–3, bf16 on GPU, gradient
accumulation, clipping), exact resume, progress / metrics / TensorBoard / curves, and the final export.

The model is any ``nn.Module`` whose ``forward(batch, generator=None)`` returns the loss — a prottasks
``ObjectiveOutput`` (``.loss``, ``.metrics``), a dict with ``"loss"``, or a scalar tensor.

Determinism: before every micro-batch the generators are seeded from ``(seed, its global index)``
(:func:`protdata.seeding.seed_micro_batch`), so a resumed run repeats an uninterrupted one step for step and ``W``
processes give the losses of one process accumulating ``W`` micro-batches.

Signals: Ctrl-C, SIGTERM (SLURM pre-emption) and SIGUSR1 stop the run after the current optimizer step with a
checkpoint of that step (:mod:`engine.stopping`), so ``--resume`` loses nothing.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.checkpoint import (
    FORMAT,
    CheckpointManager,
    consolidated_state_dict,
    needs_universal,
    parameter_shapes,
)
from engine.config import DeepSpeedConfig, TrainConfig, schedule_settings
from engine.distributed import DistContext, import_deepspeed
from engine.errors import ConfigError, TrainingError
from engine.stopping import Interrupted, StopRequest
from engine.validation import Validation
from protdata.configfile import merge_configs
from protdata.device import resolve_precision
from protdata.distributed import all_reduce_max, all_reduce_sum, average_buffers
from protdata.loading import MicroBatch, TrainingData
from protdata.seeding import seed_micro_batch
from prottasks.export import export_model
from prottasks.optim import OptimizerConfig, SchedulerConfig, build_optimizer, build_scheduler
from prottasks.outputs import unpack_output
from prottasks.reporting import PLOT_FILE, MetricsWindow, Reporter, format_seconds, plot_curves


@dataclass
class TrainResult:
    """What a finished :meth:`Trainer.fit` reports (losses and timings are global, over all ranks)."""

    run_dir: Path
    start_step: int
    steps: int
    history: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    residues_per_s: float = 0.0
    data_wait: float = 0.0
    checkpoint: Path | None = None
    weights: Path | None = None
    config_json: Path | None = None
    plot: Path | None = None
    #: The step early stopping ended the run at (``engine.validation.Validation.patience``), else None.
    stopped_early: int | None = None

    def summary(self) -> str:
        """``done: 300 steps in 2m05s, loss 3.01 -> 2.60, 1,950 residues/s, data wait 0.8 % -> runs/x/ (…)``
        (``done: steps 101-300 of 300 …`` for a resumed run)."""
        written = [p.name for p in (self.weights, self.config_json) if p is not None]
        written += ["metrics.jsonl", "tensorboard/"]
        written += [self.plot.name] if self.plot is not None else []
        written += [f"checkpoints/{self.checkpoint.name}"] if self.checkpoint is not None else []
        losses = [r["loss"] for r in self.history if "loss" in r]
        steps, start = self.steps, self.start_step
        what = f"steps {start + 1}-{steps} of {steps}" if start else f"{steps} steps"
        if self.stopped_early is not None:
            what = f"{self.stopped_early - start} of {steps} steps (stopped early: no improvement)"
        loss = f", loss {losses[0]:.4f} -> {losses[-1]:.4f}" if losses else ""
        return (
            f"done: {what} in {format_seconds(self.seconds)}{loss}, {self.residues_per_s:,.0f} residues/s, "
            f"data wait {100 * self.data_wait:.1f} % -> {self.run_dir}/ ({', '.join(written)})"
        )


def preflight(
    model: nn.Module,
    optimizer: OptimizerConfig,
    scheduler: SchedulerConfig,
    deepspeed: DeepSpeedConfig,
    train: TrainConfig,
    device_type: str,
) -> None:
    """The config checks that need the model or the device, run by the apps before they write anything:
    learning-rate-ratio prefixes, the schedule, the precision.

    Raises:
        ConfigError, prottasks.OptimizerConfigError: naming the key.
    """
    from prottasks.optim import check_schedule, parameter_groups

    parameter_groups(model, optimizer)
    check_schedule(scheduler, train.max_steps or scheduler.decay_steps or 1)
    precision(deepspeed, device_type)


def precision(deepspeed: DeepSpeedConfig, device_type: str) -> str:
    """``bf16`` or ``fp32`` on ``device_type``: ``auto`` is bf16 on a GPU that supports it and fp32 on the CPU (exact
    by default); ``bf16`` on the CPU trains with bf16 autocast (:func:`cpu_autocast`), warning once on a CPU
    without native bf16 arithmetic (``protdata.device.resolve_precision``)."""
    if deepspeed.precision == "auto":
        return "bf16" if device_type == "cuda" and torch.cuda.is_bf16_supported() else "fp32"
    if deepspeed.precision == "bf16" and device_type == "cpu":
        resolve_precision("cpu", "bf16")
    return deepspeed.precision


def cpu_autocast(
    deepspeed: DeepSpeedConfig, device_type: str
) -> Callable[[], contextlib.AbstractContextManager]:
    """The context every forward of the run enters: bf16 autocast for ``bf16`` on the CPU, else nothing.

    On a GPU, DeepSpeed's bf16 mode holds a bf16 copy of the model and fp32 master weights in the optimizer. On the
    CPU the same precision is automatic mixed precision instead: DeepSpeed runs fp32 (parameters, gradients,
    optimizer, all-reduce) and ``torch.autocast("cpu", dtype=torch.bfloat16)`` runs the GEMMs in bf16 -- on AMX /
    AVX512-BF16 tiles where the CPU has them -- while reductions, batch norm, losses and sparse aggregation stay
    fp32 (autocast's CPU op lists; the structure encoders keep their sparse products out of autocast). A pure bf16
    model would also round batch-norm statistics and scatter sums to bf16.
    """
    if device_type == "cpu" and precision(deepspeed, device_type) == "bf16":
        return lambda: torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext


def reduction_dtypes(bf16: bool, zero_stage: int) -> dict[str, Any]:
    """The DeepSpeed config keys that keep gradients in fp32 under bf16 (DeepSpeed's default reduces and
    accumulates them in the model's bf16): ``communication_data_type: fp32`` (all-reduce / reduce-scatter in
    fp32; ``DeepSpeedEngine.communication_data_type``, ZeRO 0-3) and, with ZeRO >= 1,
    ``data_types.grad_accum_dtype: fp32`` (accumulation over micro-batches in fp32: ZeRO-1 takes DeepSpeed's
    ``BF16_Optimizer``, ZeRO-2/3 their fp32 gradient partitions). Without ZeRO, DeepSpeed 0.19 refuses fp32
    accumulation of bf16 parameters (``unsupported mix of model_dtype and grad_accum_dtype``): gradients are
    summed over micro-batches in bf16 there, and reduced in fp32. The optimizer always steps fp32 master weights.
    """
    if not bf16:
        return {}
    keys: dict[str, Any] = {"communication_data_type": "fp32"}
    if zero_stage >= 1:
        keys["data_types"] = {"grad_accum_dtype": "fp32"}
    return keys


def default_threads(dist: DistContext, num_workers: int) -> int:
    """torch intra-op threads when the config sets none: on CPU, the cores this process may use divided among the
    processes of the node, less one per DataLoader worker (small graph ops lose more to oversubscription than
    they gain from threads); on GPU, torch's default."""
    if dist.device.type != "cpu":
        return torch.get_num_threads()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    return max(1, cores // max(1, local_world) - num_workers)


class Trainer:
    """Train ``model`` on ``data`` with DeepSpeed (module docstring).

    Args:
        model: The module to train (e.g. a prottasks objective around an encoder).
        data: The prepared training data.
        optimizer, scheduler, deepspeed, train: The config sections.
        seed: The run's seed.
        run_dir: Output directory (metrics, TensorBoard, checkpoints, export).
        dist: This process's place in the process group.
        export_config: The metadata ``config.json`` holds beside the exported model's config (the app, its run
            config, ...; :func:`engine.checkpoint.export_model`).
        export_select: The part of ``model`` that is exported as a protstack model (default: ``model`` itself,
            which must then be a ``protdata.pretrained.Pretrained``; e.g. the encoder of a pretraining objective).
        progress: Show the progress bar (rank 0).
        validation: Periodic evaluation with model selection and ReduceLROnPlateau (:mod:`engine.validation`;
            the fine-tuning app), or ``None``.

    A model whose ``forward`` takes ``targets`` receives the micro-batch's targets (labelled data, e.g.
    :mod:`prottasks.data.labelled`).
    """

    def __init__(
        self,
        model: nn.Module,
        data: TrainingData,
        *,
        optimizer: OptimizerConfig,
        scheduler: SchedulerConfig,
        deepspeed: DeepSpeedConfig,
        train: TrainConfig,
        seed: int,
        run_dir: Path,
        dist: DistContext,
        export_config: dict[str, Any],
        progress: bool = True,
        validation: Validation | None = None,
        export_select: Callable[[nn.Module], nn.Module] | None = None,
    ) -> None:
        self.model = model
        self.data = data
        self.optimizer_config = optimizer
        self.scheduler_config = scheduler
        self.ds = deepspeed
        self.train = train
        self.seed = seed
        self.run_dir = Path(run_dir)
        self.dist = dist
        self.export_config = export_config
        self.export_select = export_select
        self.progress = progress
        self.validation = validation
        self.shapes = parameter_shapes(model)

    # ---------------------------------------------------------------------------------------- set-up
    def total_steps(self) -> int:
        """``train.max_steps``, or ``train.epochs`` converted with the first epoch's micro-batch count."""
        if self.train.max_steps is not None:
            return self.train.max_steps
        per_step = self.dist.world_size * self.ds.gradient_accumulation_steps
        assert self.train.epochs is not None
        return max(1, math.ceil(self.train.epochs * self.data.plan.micro_batches_per_epoch() / per_step))

    def deepspeed_config(self, universal: bool = False) -> dict[str, Any]:
        """The DeepSpeed config dict built from the ``deepspeed`` section (raw ``extra`` keys merged last)."""
        g = self.ds.gradient_accumulation_steps
        micro = self.data.plan.batch_size
        config: dict[str, Any] = {
            "train_micro_batch_size_per_gpu": micro,
            "gradient_accumulation_steps": g,
            "train_batch_size": micro * g * self.dist.world_size,
            "gradient_clipping": self.ds.gradient_clipping,
            "zero_optimization": {"stage": self.ds.zero_stage},
            # bf16 on the CPU is autocast around fp32 DeepSpeed (cpu_autocast), on a GPU DeepSpeed's bf16 mode
            "bf16": {"enabled": self.dist.device.type == "cuda" and precision(self.ds, "cuda") == "bf16"},
            "steps_per_print": 10**9,
            "wall_clock_breakdown": False,
            "zero_allow_untested_optimizer": True,
        }
        config.update(reduction_dtypes(config["bf16"]["enabled"], self.ds.zero_stage))
        if universal:
            config["checkpoint"] = {"load_universal": True}
        return merge_configs(config, self.ds.extra)

    # ------------------------------------------------------------------------------------------- fit
    def fit(self, resume: dict[str, Any] | None = None) -> TrainResult:
        """Train from scratch or from the verified checkpoint state ``resume`` to the last step."""
        threads = torch.get_num_threads()
        torch.set_num_threads(self.train.num_threads or default_threads(self.dist, self.data.num_workers))
        try:
            return self._fit(resume)
        finally:
            torch.set_num_threads(threads)  # in-process callers (tests, notebooks) get theirs back

    def _fit(self, resume: dict[str, Any] | None) -> TrainResult:
        dist, g, w = self.dist, self.ds.gradient_accumulation_steps, self.dist.world_size
        total = self.total_steps()
        autocast = cpu_autocast(self.ds, dist.device.type)
        model = self.model.to(dist.device)
        optimizer = build_optimizer(model, self.optimizer_config)
        scheduler = build_scheduler(optimizer, self.scheduler_config, total)
        universal = resume is not None and needs_universal(resume, w)
        deepspeed = import_deepspeed(dist.device.type)
        with contextlib.redirect_stdout(io.StringIO()):
            engine, _, _, _ = deepspeed.initialize(
                model=model,
                optimizer=optimizer,
                lr_scheduler=scheduler,
                config=self.deepspeed_config(universal),
                dist_init_required=False,
            )
        manager = CheckpointManager(self.run_dir / "checkpoints", dist, keep=self.train.keep_checkpoints)
        start = 0
        counters = {"residues": 0.0, "proteins": 0.0, "seconds": 0.0}
        if resume is not None:
            manager.load(engine, Path(resume["path"]), resume)
            start = int(resume["step"])
            counters.update(resume.get("counters", {}))
        if self.validation is not None:
            per_step = w * g
            self.validation.resolve(max(1, math.ceil(self.data.plan.micro_batches_per_epoch() / per_step)))
            if resume is not None:
                self.validation.load_state_dict(resume.get("validation"))
        if resume is not None:
            _check_resumed_total(resume, total, w, self.train)
        reporter = Reporter(self.run_dir, total, start, enabled=dist.is_main, progress=self.progress)
        result = TrainResult(run_dir=self.run_dir, start_step=start, steps=total)
        parameters = inspect.signature(model.forward).parameters
        takes_generator = "generator" in parameters
        takes_targets = "targets" in parameters
        export = dict(self.export_config)
        loader = self.data.loader(dist.rank, w, g, start, pin_memory=dist.device.type == "cuda")
        batches = iter(loader)
        run_t0 = time.perf_counter()
        window = MetricsWindow()
        totals = MetricsWindow()
        seen = [0, 0]  # residues, proteins of this rank since the start of this process
        checkpoint: Path | None = None
        engine.train()
        stop = StopRequest().install()
        try:
            for step in range(start, total):
                lr = float(engine.get_lr()[0])
                log_now = (step + 1) % self.train.log_every == 0 or step + 1 == total
                grad_norm = None
                for _ in range(g):
                    t0 = time.perf_counter()
                    micro: MicroBatch = next(batches)
                    window.wait += time.perf_counter() - t0
                    batch = micro.batch.to(dist.device, non_blocking=True)
                    generator = seed_micro_batch(self.seed, micro.index, dist.device)
                    kwargs: dict[str, Any] = {"generator": generator} if takes_generator else {}
                    if takes_targets and micro.targets is not None:
                        kwargs["targets"] = micro.targets.to(dist.device, non_blocking=True)
                    with autocast():
                        output = engine(batch, **kwargs)
                    loss, metrics = unpack_output(output)
                    value = float(loss.detach())
                    if self.train.stop_on_nonfinite and not math.isfinite(value):
                        raise TrainingError(
                            f"loss is {value} at step {step + 1} (micro-batch {micro.index}: "
                            f"{', '.join(batch.ids[:8])}{'…' if len(batch) > 8 else ''}); lower optimizer.lr or "
                            "check these structures"
                        )
                    engine.backward(loss)
                    if log_now and engine.is_gradient_accumulation_boundary() and self.ds.zero_stage == 0:
                        grads = [
                            p.grad for p in model.parameters() if p.grad is not None
                        ]  # DeepSpeed: ZeRO >= 1 only
                        grad_norm = float(torch.nn.utils.get_total_norm(grads)) if grads else 0.0
                    engine.step()
                    window.add(value, metrics, batch.num_residues, len(batch))
                    seen[0] += batch.num_residues
                    seen[1] += len(batch)
                    window.epoch = self.data.plan.locate(micro.index)[0]
                done = step + 1
                reporter.step()
                last = done == total
                # every rank stops after the same step, whichever got the signal (module docstring)
                signum = int(all_reduce_max(float(stop.signum), dist.device))
                if done % self.train.log_every == 0 or last or signum:
                    norm = grad_norm if grad_norm is not None else engine.get_global_grad_norm()
                    record = window.reduce(done, lr, norm, dist.device)
                    totals.merge(window)
                    reporter.log(record)
                    window = MetricsWindow()
                if self.validation is not None and self.validation.due(done, total):
                    t_v = time.perf_counter()
                    average_buffers(engine.module)  # eval mode reads the ranks' mean BatchNorm statistics
                    reporter.log(
                        self.validation.run(
                            engine,
                            done,
                            run_dir=self.run_dir,
                            export_config={**export, "step": done},
                            is_main=dist.is_main,
                            autocast=autocast,
                        )
                    )
                    window.t0 += time.perf_counter() - t_v  # evaluating is not training time
                    if self.validation.should_stop and not last:  # the same metrics on every rank
                        result.stopped_early, last = done, True
                if (
                    (self.train.checkpoint_every and done % self.train.checkpoint_every == 0)
                    or last
                    or signum
                ):
                    t_ck = time.perf_counter()
                    average_buffers(engine.module)  # DeepSpeed saves rank 0's buffers: the ranks' mean
                    residues, proteins = all_reduce_sum([float(seen[0]), float(seen[1])], dist.device)
                    counters_now = {
                        "residues": counters["residues"] + residues,
                        "proteins": counters["proteins"] + proteins,
                        "seconds": counters["seconds"] + (time.perf_counter() - run_t0),
                    }
                    checkpoint = manager.save(engine, done, self._trainer_state(done, total, counters_now))
                    window.t0 += time.perf_counter() - t_ck  # saving is not training time
                if signum and not last:
                    raise Interrupted(signum, done, checkpoint)
                if result.stopped_early:
                    break
        finally:
            stop.restore()
            del batches, loader
            reporter.close()
        result.checkpoint = checkpoint
        result.seconds = time.perf_counter() - run_t0
        result.residues_per_s = totals.residues_global / max(totals.seconds, 1e-9)
        result.data_wait = totals.wait_max / max(totals.seconds, 1e-9)
        average_buffers(engine.module)  # the export holds the ranks' mean BatchNorm statistics
        state = consolidated_state_dict(engine)
        if dist.is_main:
            assert state is not None
            result.weights, result.config_json = export_model(
                engine.module,
                state,
                self.run_dir,
                {**export, "step": result.stopped_early or total},
                self.export_select,
            )
            result.history = reporter.history
            result.plot = plot_curves(result.history, self.run_dir / PLOT_FILE, title=self.run_dir.name)
        return result

    def _trainer_state(self, step: int, total: int, counters: dict[str, float]) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "step": step,
            "total_steps": total,
            "micro_batches": step * self.dist.world_size * self.ds.gradient_accumulation_steps,
            "world_size": self.dist.world_size,
            "gradient_accumulation_steps": self.ds.gradient_accumulation_steps,
            "zero_stage": self.ds.zero_stage,
            "seed": self.seed,
            "schedule": schedule_settings(
                self.optimizer_config,
                self.scheduler_config,
                self.train,
                self.validation.plateau_config if self.validation is not None else None,
            ),
            "counters": counters,
            "parameters": self.shapes,
            # the data's fingerprint and plan parameters (engine.data.data_facts; engine.app.check_same_data)
            **({"data": facts} if (facts := getattr(self.data, "facts", None)) else {}),
            **({"validation": self.validation.state_dict()} if self.validation is not None else {}),
        }


def _check_resumed_total(resume: dict[str, Any], total: int, world_size: int, train: TrainConfig) -> None:
    """The resumed run must keep the checkpoint's number of steps (its schedule) and have steps left.

    ``--resume`` already refused changed schedule settings (:func:`engine.app.check_resume_state`); a run of
    ``train.epochs`` can still come out longer or shorter when the data changed.

    Raises:
        ConfigError: naming the key, both step counts and what to do instead.
    """
    start, planned = int(resume["step"]), int(resume.get("total_steps", total))
    key = "train.max_steps" if train.max_steps is not None else "train.epochs"
    if planned != total:
        raise ConfigError(
            f"{key}: {resume['path']} belongs to a run of {planned} optimizer steps, but with this data and "
            f"{world_size} process(es) this run would have {total} ({planned} → {total}); --resume keeps a run's "
            "learning-rate schedule: resume with the original data, or start a new run"
        )
    if start >= total:
        raise ConfigError(
            f"{key}: {resume['path']} is at step {start} and the run ends at step {total}: it is finished; to "
            "train further start a new run from its weights (init_from=<run>/model.safetensors)"
        )
