"""The loss and scalar metrics of a training step's model output, whatever its form: a scalar tensor, a mapping
with ``loss``, an :class:`~prottasks.objectives.base.ObjectiveOutput` (``loss`` + ``metrics``) or a contrastive
output with ``loss``, ``losses`` and ``logit_scale`` (protalign's ``ProtCLIPOutput``, duck-typed)."""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["unpack_output"]


def unpack_output(output: Any) -> tuple[torch.Tensor, dict[str, float]]:
    """``(loss, metrics)`` of a model output (module docstring); metrics are the scalar entries other than
    ``loss``, as Python floats (non-scalar entries are left out)."""
    if isinstance(output, torch.Tensor):
        return output, {}
    if isinstance(output, dict):
        loss = output["loss"]
        metrics = {k: float(v) for k, v in output.items() if k != "loss" and _is_scalar(v)}
        return loss, metrics
    loss = output.loss
    parts = (
        getattr(output, "metrics", None) or getattr(output, "losses", None) or {}
    )  # ProtCLIPOutput: losses
    metrics = {k: _float(v) for k, v in parts.items() if k != "loss" and _is_scalar(v)}
    scale = getattr(output, "logit_scale", None)
    if isinstance(scale, torch.Tensor) and _is_scalar(scale):
        metrics["logit_scale"] = _float(scale)
    return loss, metrics


def _float(v: Any) -> float:
    return float(v.detach()) if isinstance(v, torch.Tensor) else float(v)


def _is_scalar(v: Any) -> bool:
    return isinstance(v, int | float) or (isinstance(v, torch.Tensor) and v.numel() == 1)
