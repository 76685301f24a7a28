"""What every pretraining objective returns, and the generator plumbing they share.

An objective is an ``nn.Module`` built from an encoder and a pydantic config; ``objective(batch)`` returns an
:class:`ObjectiveOutput`: the scalar loss to minimise, a flat dict of metrics (floats, for logging) and
``details`` — the sampled positions and targets, so callers and tests can check them against a direct computation.
Randomness comes from ``generator`` (a ``torch.Generator`` on the batch's device) when given, else from torch's
global generator.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor


@dataclass
class ObjectiveOutput:
    """Loss, metrics and the sampled details of one objective step.

    Attributes:
        loss: Scalar tensor (with grad) to minimise.
        metrics: Detached scalar metrics by name (``"loss"`` is always present).
        details: Sampled indices / targets / predictions of this step (tensors, detached).
    """

    loss: Tensor
    metrics: dict[str, float] = field(default_factory=dict)
    details: dict[str, Tensor] = field(default_factory=dict)


def uniform(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device) -> Tensor:
    """``U[0, 1)`` samples on ``device`` drawn from ``generator`` (or the global generator)."""
    return torch.rand(shape, generator=generator, device=device)


def metric(value: Tensor | float) -> float:
    """A detached Python float for the metrics dict."""
    return float(value.detach()) if isinstance(value, Tensor) else float(value)
