"""Regression head with target normalisation (PSR ``gdt_ts``, stability, fluorescence, thermostability).

The MLP predicts the *normalised* target ``z = (y − shift) / scale``; the loss is MSE in normalised units and
:attr:`HeadOutput.output` is in target units (``y = z · scale + shift``):

* ``"standard"`` — TorchDrug ``PropertyPrediction(normalization=True)`` (ESM-GearNet PSR): ``shift`` = mean and
  ``scale`` = standard deviation (``torch.std``, ``n − 1``) of the *training* targets (:meth:`fit`).
* ``"minmax"`` — SaProt ``Thermostability``: ``shift = lo``, ``scale = hi − lo`` from the config (``[40, 67]``) or
  from the training targets.
* ``"none"`` — the raw target.

The statistics are buffers (saved with the state dict). Using the head before :meth:`fit` with ``"standard"`` (or
``"minmax"`` without bounds) is an error.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from protdata import ProteinBatch
from prottasks.errors import LabelError, TaskInputError
from prottasks.heads.base import HeadOutput
from prottasks.heads.configs import RegressionHeadConfig
from prottasks.nn import seed_mlp


class RegressionHead(nn.Module):
    """``encoder → protein feature → MLP → normalised prediction``; MSE in normalised units (module docstring)."""

    def __init__(self, encoder: nn.Module, config: RegressionHeadConfig | None = None, **kwargs: Any) -> None:
        super().__init__()
        self.encoder = encoder
        self.config = config = config or RegressionHeadConfig(**kwargs)
        dim = int(encoder.output_dim)
        self.mlp = seed_mlp(dim, dim, 1, config.num_mlp_layer, config.dropout)
        self.register_buffer("shift", torch.zeros(()))
        self.register_buffer("scale", torch.ones(()))
        self.register_buffer("fitted", torch.tensor(config.normalization == "none"))
        if config.normalization == "minmax" and config.minmax_bounds is not None:
            lo, hi = config.minmax_bounds
            self.shift.fill_(lo)
            self.scale.fill_(hi - lo)
            self.fitted.fill_(True)

    @torch.no_grad()
    def fit(self, train_targets: Any) -> RegressionHead:
        """Set the normalisation statistics from the training targets (no-op for ``"none"`` / fixed bounds)."""
        y = _targets(train_targets)
        mode = self.config.normalization
        if mode == "standard":
            if y.numel() < 2 or float(y.std()) == 0.0:
                raise LabelError(
                    "train_targets", "standard normalisation needs >= 2 targets that are not all equal"
                )
            self.shift.fill_(float(y.mean()))
            self.scale.fill_(float(y.std()))
        elif mode == "minmax" and self.config.minmax_bounds is None:
            if float(y.max() - y.min()) == 0.0:
                raise LabelError(
                    "train_targets", "min-max normalisation needs targets that are not all equal"
                )
            self.shift.fill_(float(y.min()))
            self.scale.fill_(float(y.max() - y.min()))
        self.fitted.fill_(True)
        return self

    def normalize(self, y: Tensor) -> Tensor:
        return (y - self.shift) / self.scale

    def forward(self, batch: ProteinBatch, targets: Any = None) -> HeadOutput:
        if not bool(self.fitted):
            raise TaskInputError(
                "RegressionHead",
                f"call fit(train_targets) before use ({self.config.normalization} normalisation)",
            )
        z = self.mlp(self.encoder(batch).protein).squeeze(-1)  # (B,) normalised
        pred = z * self.scale + self.shift
        if targets is None:
            return HeadOutput(pred)
        y = _targets(targets).to(z.device, z.dtype)
        if y.shape != (len(batch),):
            raise LabelError("targets", f"expected ({len(batch)},) targets, got {tuple(y.shape)}")
        loss = F.mse_loss(z, self.normalize(y))
        err = pred.detach() - y
        metrics = {
            "loss": float(loss.detach()),
            "mae": float(err.abs().mean()),
            "rmse": float(err.pow(2).mean().sqrt()),
        }
        return HeadOutput(pred, loss, metrics)


def _targets(values: Any) -> Tensor:
    y = (
        torch.as_tensor(values, dtype=torch.float64 if not isinstance(values, Tensor) else None)
        .float()
        .flatten()
    )
    if not bool(torch.isfinite(y).all()):
        k = int(torch.nonzero(~torch.isfinite(y))[0])
        raise LabelError("targets", f"target {k} is {y[k].item()}; targets must be finite")
    return y
