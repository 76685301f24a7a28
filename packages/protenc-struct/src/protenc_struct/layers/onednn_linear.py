"""``y = x Wᵀ + b`` for float32 CPU training and inference through oneDNN, with its own backward.

PyTorch's CPU ``F.linear`` / ``torch.mm`` call MKL's sgemm, which on AMD processors does not take its AVX-512
code path; oneDNN (``torch.ops.mkldnn._linear_pointwise``, the kernel ``torch.compile`` emits on CPU) dispatches
on the instruction set. Measured on the shared AMD EPYC (2 cores) for GearNet's three training GEMMs
(forward ``(N, 7·512) × (512, 7·512)ᵀ``, input gradient, weight gradient): ~220 GFLOP/s against ~90 for MKL.

The op is an autograd function: forward ``x Wᵀ + b``; backward ``∂x = g W`` and ``∂W = gᵀ x``, both oneDNN
GEMMs on transposed views (no copies: oneDNN reads the strides), ``∂b = Σ_n g``. Results agree with
``F.linear``'s to float32 rounding (tests: ≤ 1e-5 relative).

Used only where it applies: a CPU float32 2-D input and weight, oneDNN built into torch, not under autocast;
everything else (GPU, bf16, autocast, N-D inputs) is ``F.linear``. ``PROTENC_ONEDNN=0`` disables it; a oneDNN
error disables it for the process with a warning and falls back.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

_OPS = getattr(torch.ops, "mkldnn", None)
_AVAILABLE = bool(
    torch.backends.mkldnn.is_available() and _OPS is not None and hasattr(_OPS, "_linear_pointwise")
)
_state = {"enabled": _AVAILABLE and os.environ.get("PROTENC_ONEDNN", "1") != "0"}


def onednn_enabled() -> bool:
    """Whether CPU float32 linears go through oneDNN."""
    return bool(_state["enabled"])


def set_onednn(enabled: bool) -> bool:
    """Turn the oneDNN path on or off (e.g. to compare with ``F.linear``); returns the previous setting."""
    previous = bool(_state["enabled"])
    _state["enabled"] = bool(enabled) and _AVAILABLE
    return previous


def _mm_nt(a: Tensor, b: Tensor, bias: Tensor | None = None) -> Tensor:
    """``a bᵀ (+ bias)`` for ``a`` ``(M, K)`` and ``b`` ``(N, K)`` → ``(M, N)`` (oneDNN). Transposed views are
    taken as they are: oneDNN reads strided operands (faster than making them contiguous first)."""
    assert _OPS is not None
    return _OPS._linear_pointwise(a, b, bias, "none", [], "")


class _OneDNNLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return _mm_nt(x, weight, bias)  # (N, out)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
        x, weight = ctx.saved_tensors  # (N, in), (out, in)
        grad = grad.contiguous()  # (N, out)
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = _mm_nt(grad, weight.t())  # (N, out) · (out, in) → (N, in)
        if ctx.needs_input_grad[1]:
            grad_w = _mm_nt(grad.t(), x.t())  # (out, N) · (N, in) → (out, in)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad.sum(0)  # (out,)
        return grad_x, grad_w, grad_b


def _applies(x: Tensor, weight: Tensor) -> bool:
    return (
        _state["enabled"]
        and x.device.type == "cpu"
        and x.dtype == torch.float32
        and weight.dtype == torch.float32
        and x.ndim == 2
        and weight.ndim == 2
        and x.shape[0] > 0
        and not torch.is_autocast_enabled("cpu")
    )


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``F.linear(x, weight, bias)``; through oneDNN (with autograd) for 2-D float32 CPU tensors (module doc)."""
    if _applies(x, weight):
        try:
            return _OneDNNLinear.apply(x.contiguous(), weight.contiguous(), bias)
        except RuntimeError as exc:  # pragma: no cover - depends on the oneDNN build
            _state["enabled"] = False
            warnings.warn(f"oneDNN linear failed ({exc}); using F.linear from now on", stacklevel=2)
    return F.linear(x, weight, bias)


class Linear(nn.Linear):
    """``nn.Linear`` (same parameters and state-dict names) whose forward is :func:`linear`. A module rather than
    a bare function call so that hooks on the layer — DeepSpeed ZeRO-3 gathers a module's parameters in its
    pre-forward hook — see every use of its weights."""

    def forward(self, x: Tensor) -> Tensor:
        return linear(x, self.weight, self.bias)
