"""``y = x Wᵀ + b`` with optional fused GELU or residual add: oneDNN on CPU inference, ``F.linear`` otherwise.

PyTorch's CPU ``F.linear`` calls MKL's sgemm, which on AMD processors does not use its fastest (AVX-512) code
path; oneDNN (``torch.ops.mkldnn._linear_pointwise``, the kernel ``torch.compile`` uses on CPU) dispatches on the
instruction set and fuses the epilogue (GELU, or the residual add) into the GEMM. Measured here on the shared
AMD EPYC: ~2.5x the throughput of ``F.linear`` for ESM-2 35M's FFN, identical results to fp32 rounding (≤ 1e-5).
Used only for CPU tensors without autograd (inference); training and GPUs use ``F.linear`` + ops.
``PROTENC_SEQ_ONEDNN=0`` disables it; any oneDNN error disables it for the process and falls back.

bf16 on the CPU (``precision="bf16"``: ``torch.autocast("cpu", dtype=torch.bfloat16)``, or a model cast to
bf16): CPU autocast does not reach ``mkldnn::_linear_pointwise``, so this module does the cast itself -- the
input is rounded to bf16 and the GEMM runs on bf16 weights, which oneDNN executes on AMX tiles or AVX512-BF16
where the CPU has them (measured here on a Sapphire Rapids Xeon: ~2,300 GFLOP/s for ESM-2 35M's FFN vs ~250 in
fp32). fp32 weights are rounded to bf16 once and kept beside the module (:func:`bf16_weights`; re-made when the
weights change, e.g. after an optimizer step), instead of autocast's cast on every call. With an fp32 ``residual``
(autocast keeps ESM-2's residual stream in fp32, as on CUDA) the output is ``residual + y`` in fp32; with a bf16
one (a model cast to bf16) the add is fused into the GEMM.
"""

from __future__ import annotations

import os
import warnings

import torch
import torch.nn.functional as F
from torch import Tensor, nn

_OPS = getattr(torch.ops, "mkldnn", None)
_state = {
    "enabled": os.environ.get("PROTENC_SEQ_ONEDNN", "1") != "0"
    and torch.backends.mkldnn.is_available()
    and _OPS is not None
    and hasattr(_OPS, "_linear_pointwise")
}


def onednn_enabled() -> bool:
    return bool(_state["enabled"])


def set_onednn(enabled: bool) -> None:
    """Turn the oneDNN CPU path on or off (e.g. to compare against ``F.linear``)."""
    _state["enabled"] = enabled and _OPS is not None and hasattr(_OPS, "_linear_pointwise")


def cpu_bf16_active(x: Tensor) -> bool:
    """True when a CPU op on ``x`` should run in bf16: ``x`` is bf16, or bf16 autocast is on for the CPU."""
    if x.device.type != "cpu":
        return False
    if x.dtype == torch.bfloat16:
        return True
    return torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16


def _fusable(x: Tensor, layer: nn.Linear) -> torch.dtype | None:
    """The dtype the oneDNN path runs ``layer(x)`` in (float32 or bfloat16), or ``None`` for ``F.linear``."""
    if not (
        _state["enabled"]
        and x.device.type == "cpu"
        and x.ndim == 2
        and x.dtype in (torch.float32, torch.bfloat16)
        and layer.weight.dtype in (torch.float32, torch.bfloat16)
        and not (torch.is_grad_enabled() and (x.requires_grad or layer.weight.requires_grad))
    ):
        return None
    if cpu_bf16_active(x) or layer.weight.dtype == torch.bfloat16:
        return torch.bfloat16
    return torch.float32


def bf16_weights(layer: nn.Linear) -> tuple[Tensor, Tensor | None]:
    """``layer``'s weight ``(out, in)`` and bias ``(out,)`` in bf16: the parameters themselves when already bf16,
    else a copy rounded once and cached on the module (keyed by storage and version: redone after any change)."""
    w, b = layer.weight, layer.bias
    if w.dtype == torch.bfloat16 and (b is None or b.dtype == torch.bfloat16):
        return w, b
    key = (w.data_ptr(), w._version, None if b is None else (b.data_ptr(), b._version))
    cached = layer.__dict__.get("_bf16_cache")
    if cached is None or cached[0] != key:
        with torch.no_grad():
            cached = (
                key,
                w.detach().to(torch.bfloat16),
                None if b is None else b.detach().to(torch.bfloat16),
            )
        layer.__dict__["_bf16_cache"] = cached  # a plain attribute: not in state_dict, not a buffer
    return cached[1], cached[2]


def linear(x: Tensor, layer: nn.Linear, *, gelu: bool = False, residual: Tensor | None = None) -> Tensor:
    """``layer(x)``, then exact (erf) GELU if ``gelu``, then ``+ residual`` if given (not both)."""
    dtype = _fusable(x, layer)
    if dtype is not None:
        try:
            if dtype == torch.bfloat16:
                weight, bias = bf16_weights(layer)
                x = x.to(torch.bfloat16)
            else:
                weight, bias = layer.weight, layer.bias
            x = x.contiguous()
            if residual is not None:
                if residual.dtype != x.dtype:  # fp32 residual stream under bf16 autocast: add in fp32
                    return residual + _OPS._linear_pointwise(x, weight, bias, "none", [], "")
                return _OPS._linear_pointwise.binary(x, residual.contiguous(), weight, bias, "add")
            if gelu:
                return _OPS._linear_pointwise(x, weight, bias, "gelu", [], "none")
            return _OPS._linear_pointwise(x, weight, bias, "none", [], "")
        except (RuntimeError, NotImplementedError) as err:  # pragma: no cover - depends on the torch build
            _state["enabled"] = False
            warnings.warn(f"oneDNN linear unavailable ({err}); using F.linear", stacklevel=2)
    y = F.linear(x, layer.weight, layer.bias)
    if gelu:
        y = F.gelu(y)
    if residual is not None:
        y = residual + y
    return y
