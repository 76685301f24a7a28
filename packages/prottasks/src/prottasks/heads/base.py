"""What every task head returns, and target checks shared by the heads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from prottasks.errors import LabelError


@dataclass
class HeadOutput:
    """Predictions of a head and, when targets were given, its loss and batch metrics.

    Attributes:
        output: ``(B, C)`` logits (classification) or ``(B,)`` predictions in target units (regression).
        loss: Scalar loss (``None`` without targets).
        metrics: Detached batch metrics by name.
    """

    output: Tensor
    loss: Tensor | None = None
    metrics: dict[str, float] = field(default_factory=dict)


def multilabel_targets(targets: Any, batch_size: int, num_labels: int) -> Tensor:
    """``(B, C)`` float 0/1 targets; wrong shape or values outside {0, 1} are :class:`LabelError` s."""
    t = torch.as_tensor(targets)
    if t.shape != (batch_size, num_labels):
        raise LabelError(
            "targets", f"expected ({batch_size}, {num_labels}) k-hot targets, got {tuple(t.shape)}"
        )
    bad = (t != 0) & (t != 1)
    if bool(bad.any()):
        b, c = (int(v) for v in torch.nonzero(bad)[0])
        raise LabelError("targets", f"protein {b}, label {c}: value {t[b, c].item()} is not 0/1")
    return t.float()


def class_targets(targets: Any, batch_size: int, num_classes: int) -> Tensor:
    """``(B,)`` int64 class ids in ``[0, num_classes)``; anything else is a :class:`LabelError` naming the protein."""
    t = torch.as_tensor(targets)
    if t.shape != (batch_size,):
        raise LabelError("targets", f"expected ({batch_size},) class ids, got {tuple(t.shape)}")
    if t.is_floating_point() and bool((t != t.round()).any()):
        raise LabelError("targets", "class ids must be integers")
    t = t.long()
    bad = (t < 0) | (t >= num_classes)
    if bool(bad.any()):
        b = int(torch.nonzero(bad)[0])
        raise LabelError("targets", f"protein {b}: class {int(t[b])} is outside 0..{num_classes - 1}")
    return t
