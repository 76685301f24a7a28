"""``y = x Wᵀ + b`` for float32 CPU training and inference, each GEMM on the backend measured fastest here.

A linear layer's training step runs three GEMMs: forward ``x Wᵀ``, backward ``∂x = g W`` and ``∂W = gᵀ x``.
PyTorch's CPU ``F.linear`` runs all three on torch's BLAS (MKL sgemm on the x86 wheels); oneDNN
(``torch.ops.mkldnn._linear_pointwise``) is the other float32 GEMM torch ships. Which is faster depends on the
processor and on the role, not on the vendor: on an AMD EPYC oneDNN ran GearNet's GEMMs at ~220 GFLOP/s against
~90 for MKL; on an Intel Xeon (AVX-512 + AMX) MKL ran 185 against oneDNN's 124. :func:`protdata.kernels.
cpu_linear_backend` measures the three roles once per machine (cached) and this module follows its choice:

* every role on MKL: plain ``F.linear`` with torch's own autograd;
* any role on oneDNN: an autograd function whose forward and backward GEMMs each go to their role's backend, the
  backward ones on transposed views (no copies: both backends read strides), ``∂b = Σ_n g``.

Results agree with ``F.linear``'s to float32 rounding whatever the choice (tests: ≤ 1e-5 relative against
float64). Applies to a CPU float32 2-D input and weight outside autocast; everything else (GPU, bf16, autocast, N-D
inputs) is ``F.linear``. :func:`set_backends` overrides the choice (benchmarks, tests); a oneDNN error switches the
process to MKL with a warning.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from protdata.kernels import ROLES, cpu_linear_backend, onednn_linear_available

_AVAILABLE = onednn_linear_available()
#: ``None``: follow protdata.kernels; else ``{role: backend}`` set by :func:`set_backends`.
_override: dict[str, dict[str, str] | None] = {"backends": None}


def backends() -> dict[str, str]:
    """``{role: "onednn" | "mkl"}`` in use for CPU float32 linears (measured choice unless overridden)."""
    if _override["backends"] is not None:
        return dict(_override["backends"])
    if not _AVAILABLE:
        return dict.fromkeys(ROLES, "mkl")
    return dict(cpu_linear_backend().backends)


def set_backends(choice: str | dict[str, str] | None) -> dict[str, str] | None:
    """Override the backends: ``"onednn"`` / ``"mkl"`` for every role, a ``{role: backend}`` dict, or ``None`` to
    follow the measured choice again. Returns the previous override (for restoring)."""
    previous = _override["backends"]
    if choice is None:
        _override["backends"] = None
    else:
        chosen = (
            dict.fromkeys(ROLES, choice)
            if isinstance(choice, str)
            else {**dict.fromkeys(ROLES, "mkl"), **choice}
        )
        if any(v not in ("onednn", "mkl") for v in chosen.values()) or set(chosen) != set(ROLES):
            raise ValueError(f"backends must map {', '.join(ROLES)} to 'onednn' or 'mkl', got {choice!r}")
        if not _AVAILABLE:
            chosen = dict.fromkeys(ROLES, "mkl")
        _override["backends"] = chosen
    return previous


def _mm_nt(a: Tensor, b: Tensor, backend: str, bias: Tensor | None = None) -> Tensor:
    """``a bᵀ (+ bias)`` for ``a`` ``(M, K)`` and ``b`` ``(N, K)`` → ``(M, N)`` on ``backend``. Transposed views
    are taken as they are: both backends read strided operands (faster than making them contiguous first)."""
    if backend == "onednn":
        return torch.ops.mkldnn._linear_pointwise(a, b, bias, "none", [], "")
    return F.linear(a, b, bias)


class _RoleLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, weight: Tensor, bias: Tensor | None, roles: dict[str, str]) -> Tensor:
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        ctx.roles = roles
        return _mm_nt(x, weight, roles["forward"], bias)  # (N, out)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        x, weight = ctx.saved_tensors  # (N, in), (out, in)
        grad = grad.contiguous()  # (N, out)
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = _mm_nt(grad, weight.t(), ctx.roles["grad_input"])  # (N, out) · (out, in) → (N, in)
        if ctx.needs_input_grad[1]:
            grad_w = _mm_nt(grad.t(), x.t(), ctx.roles["grad_weight"])  # (out, N) · (N, in) → (out, in)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad.sum(0)  # (out,)
        return grad_x, grad_w, grad_b, None


def _applies(x: Tensor, weight: Tensor) -> bool:
    return (
        x.device.type == "cpu"
        and x.dtype == torch.float32
        and weight.dtype == torch.float32
        and x.ndim == 2
        and weight.ndim == 2
        and x.shape[0] > 0
        and not torch.is_autocast_enabled("cpu")
    )


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``F.linear(x, weight, bias)``, each GEMM of a CPU float32 2-D step on its measured backend (module doc)."""
    if _applies(x, weight):
        roles = backends()
        if "onednn" in roles.values():
            try:
                return _RoleLinear.apply(x.contiguous(), weight.contiguous(), bias, roles)
            except RuntimeError as exc:  # pragma: no cover - depends on the oneDNN build
                set_backends("mkl")
                warnings.warn(f"oneDNN linear failed ({exc}); using F.linear from now on", stacklevel=2)
    return F.linear(x, weight, bias)


class Linear(nn.Linear):
    """``nn.Linear`` (same parameters and state-dict names) whose forward is :func:`linear`. A module rather than
    a bare function call so that hooks on the layer — DeepSpeed ZeRO-3 gathers a module's parameters in its
    pre-forward hook — see every use of its weights."""

    def forward(self, x: Tensor) -> Tensor:
        return linear(x, self.weight, self.bias)
