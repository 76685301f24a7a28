"""Optimizer, parameter groups (layer-wise learning-rate ratio for pretrained encoders) and learning-rate schedules.

The optimizer is a plain torch optimizer handed to DeepSpeed as its client optimizer, so DeepSpeed builds no
fused / CPU-Adam op. The schedule is a :class:`torch.optim.lr_scheduler.LambdaLR` whose multiplier is one of
:func:`lr_multiplier`'s shapes; DeepSpeed steps it at every optimizer step and saves its state in checkpoints.

Learning-rate ratios (ESM-GearNet ``util.build_downstream_solver``: the sequence model gets ``lr ×
sequence_model_lr_ratio`` — 0.1; FusionProt 0.08; ratio 0 = frozen): ``lr_ratios`` maps a parameter-name prefix to
a ratio. When the module at that prefix has a ``parameter_groups(lr, *, lr_ratio, weight_decay)`` method (the
protenc-seq encoders: it adds layer-wise decay and no-decay for norms and biases), its groups are used as they
are; otherwise its parameters form one group at ``lr × ratio``. Every other parameter gets ``lr``.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import torch
from torch import nn

from engine.config import OptimizerConfig, SchedulerConfig, TrainConfig
from engine.errors import ConfigError


# ------------------------------------------------------------------------------------------ param groups
def _module_at(model: nn.Module, prefix: str) -> nn.Module | None:
    try:
        return model.get_submodule(prefix)
    except AttributeError:
        return None


def parameter_groups(model: nn.Module, config: OptimizerConfig) -> list[dict[str, Any]]:
    """Optimizer parameter groups of the trainable parameters of ``model`` (module docstring).

    Raises:
        ConfigError: a prefix in ``lr_ratios`` matches no parameter.
    """
    lr, wd = config.lr, config.weight_decay
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    claimed: set[int] = set()
    groups: list[dict[str, Any]] = []
    # longest prefix first, so a nested prefix wins over its parent
    for prefix in sorted(config.lr_ratios, key=len, reverse=True):
        ratio = config.lr_ratios[prefix]
        members = [
            (n, p) for n, p in named if (n == prefix or n.startswith(prefix + ".")) and id(p) not in claimed
        ]
        if not members:
            if ratio == 0 and any(
                n == prefix or n.startswith(prefix + ".") for n, _ in model.named_parameters()
            ):
                continue  # frozen already (a second call, e.g. preflight and then the trainer)
            raise ConfigError(
                f"optimizer.lr_ratios: no trainable parameter is named {prefix!r} or starts with {prefix + '.'!r}"
            )
        claimed.update(id(p) for _, p in members)
        if ratio == 0:
            for _, p in members:
                p.requires_grad_(False)  # ESM-GearNet *_freeze.yaml: ratio 0 = frozen
            continue
        module = _module_at(model, prefix)
        helper = getattr(module, "parameter_groups", None) if module is not None else None
        if callable(helper):
            own = helper(lr, lr_ratio=ratio, weight_decay=wd)
            inside = {id(p) for g in own for p in g["params"]}
            if inside != {id(p) for _, p in members}:
                raise ConfigError(
                    f"optimizer.lr_ratios[{prefix!r}]: {type(module).__name__}.parameter_groups() does not cover "
                    "exactly the trainable parameters under that prefix"
                )
            groups.extend({**g, "name": f"{prefix}:{i}"} for i, g in enumerate(own))
        else:
            groups.extend(_split_decay(members, lr * ratio, wd, config.no_decay_norm_and_bias, prefix))
    rest = [(n, p) for n, p in named if id(p) not in claimed]
    if rest:
        groups[:0] = _split_decay(rest, lr, wd, config.no_decay_norm_and_bias, "default")
    groups = [g for g in groups if g["params"]]
    if not groups:
        raise ConfigError("optimizer: the model has no trainable parameter")
    return groups


def _split_decay(
    members: list[tuple[str, nn.Parameter]], lr: float, wd: float, no_decay_small: bool, name: str
) -> list[dict[str, Any]]:
    if not no_decay_small or wd == 0:
        return [{"params": [p for _, p in members], "lr": lr, "weight_decay": wd, "name": name}]
    decay = [p for _, p in members if p.ndim >= 2]
    keep = [p for _, p in members if p.ndim < 2]
    return [
        {"params": decay, "lr": lr, "weight_decay": wd, "name": name},
        {"params": keep, "lr": lr, "weight_decay": 0.0, "name": f"{name}:no_decay"},
    ]


def build_optimizer(model: nn.Module, config: OptimizerConfig) -> torch.optim.Optimizer:
    """The torch optimizer over :func:`parameter_groups` (``foreach`` kernels, no compiled DeepSpeed op)."""
    groups = parameter_groups(model, config)
    for g in groups:
        g.pop("name", None)
    if config.type == "adamw":
        return torch.optim.AdamW(groups, lr=config.lr, betas=config.betas, eps=config.eps)
    if config.type == "adam":
        return torch.optim.Adam(groups, lr=config.lr, betas=config.betas, eps=config.eps)
    return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum)


# ------------------------------------------------------------------------------------------- schedules
def lr_multiplier(step: int, config: SchedulerConfig, total_steps: int) -> float:
    """Multiplier of the base learning rate at optimizer step ``step`` (0-based; the first step uses ``step=0``).

    Shapes (``w`` = warm-up steps, ``T`` = ``decay_steps`` or ``total_steps``, ``m`` = ``min_lr_ratio``):

    * warm-up (all but esm2): ``step / w`` for ``step < w`` (Hugging Face ``get_*_schedule_with_warmup``).
    * ``linear``: ``m + (1 - m) · max(0, (T - step) / (T - w))``.
    * ``cosine``: ``m + (1 - m) · ½ (1 + cos(π · min(1, (step - w) / (T - w))))``.
    * ``esm2`` (SaProt ``Esm2LRScheduler.get_lr``): ``i + step / w · (1 - i)`` while ``step <= w``; 1 until
      ``decay_start_step``; ``1 - (step - s) / (T - s) · (1 - m)`` until ``T``; then ``m``.
    """
    w = config.warmup_steps
    total = config.decay_steps or total_steps
    m = config.min_lr_ratio
    if config.type == "esm2":
        i, s = config.init_lr_ratio, config.decay_start_step
        if step <= w:
            return i + (step / w if w else 1.0) * (1.0 - i)
        if step <= s:
            return 1.0
        if step <= total:
            return 1.0 - (step - s) / max(1, total - s) * (1.0 - m)
        return m
    if step < w:
        return step / max(1, w)
    if config.type == "constant":
        return 1.0
    progress = (step - w) / max(1, total - w)
    if config.type == "linear":
        return m + (1.0 - m) * max(0.0, 1.0 - progress)
    return m + (1.0 - m) * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def build_scheduler(
    optimizer: torch.optim.Optimizer, config: SchedulerConfig, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """A ``LambdaLR`` applying :func:`lr_multiplier` to every group (lr ratios between groups are kept)."""
    if config.type == "esm2" and config.decay_start_step > (config.decay_steps or total_steps):
        raise ConfigError(
            f"scheduler.decay_start_step ({config.decay_start_step}) is after the end of the decay "
            f"({config.decay_steps or total_steps})"
        )
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, partial(lr_multiplier, config=config, total_steps=total_steps)
    )


# ------------------------------------------------------------------------------------ schedule identity
def schedule_settings(
    optimizer: OptimizerConfig, scheduler: SchedulerConfig, train: TrainConfig, plateau: Any = None
) -> dict[str, Any]:
    """The config values that define a run's learning rate at every step, as dotted key -> JSON value.

    A checkpoint stores them and ``--resume`` refuses a config that changes one (:mod:`engine.app`): the
    restored optimizer keeps its saved base learning rates while the schedule's multiplier is rebuilt from the
    config, so a changed value would silently bend the schedule of the run being continued. ``plateau`` is
    the fine-tuning app's ReduceLROnPlateau section (a pydantic model) or ``None``. The number of micro-batches
    per optimizer step (processes × accumulation) is checked separately: it is not a config value alone.
    """
    settings: dict[str, Any] = {
        "train.max_steps": train.max_steps,
        "train.epochs": train.epochs,
        "optimizer.lr": optimizer.lr,
        "optimizer.lr_ratios": dict(sorted(optimizer.lr_ratios.items())),
    }
    settings.update({f"scheduler.{k}": v for k, v in scheduler.model_dump(mode="json").items()})
    if plateau is not None:
        settings.update({f"plateau.{k}": v for k, v in plateau.model_dump(mode="json").items()})
    else:
        settings["plateau"] = None
    return settings
