"""Which device to run on, and the autocast that goes with it."""

from __future__ import annotations

import contextlib
from typing import Any

import torch

from protdata.errors import ProtdataError

__all__ = ["DeviceError", "autocast_for", "choose_device"]


class DeviceError(ProtdataError):
    """A device or precision this machine cannot give (e.g. CUDA without a GPU)."""


def choose_device(device: str | torch.device = "auto", *, name: str = "device") -> torch.device:
    """``cuda`` or ``cpu`` (``auto``: CUDA when available).

    Args:
        device: ``auto``, ``cpu``, ``cuda`` (or ``cuda:N``).
        name: How the caller's setting is named in the message (an app's ``--device``, a config key).

    Raises:
        DeviceError: CUDA asked for on a machine without it (the message starts ``<name> cuda``).
    """
    device = str(device)
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise DeviceError(
            f"{name} {device}",
            f"CUDA is not available on this machine (no GPU, or a CPU-only torch build); use {name} cpu or "
            f"{name} auto",
        )
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(device)


def autocast_for(device: torch.device, precision: str = "auto") -> contextlib.AbstractContextManager[Any]:
    """bf16 autocast on CUDA unless ``precision`` is ``fp32``; fp32 on the CPU (``bf16`` there is an error)."""
    if device.type != "cuda":
        if precision == "bf16":
            raise DeviceError("precision", "'bf16' needs a CUDA device (the CPU runs fp32)")
        return contextlib.nullcontext()
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast("cuda", dtype=torch.bfloat16)
