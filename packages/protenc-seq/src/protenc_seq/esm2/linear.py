"""``y = x Wᵀ + b`` with optional fused GELU or residual add: the measured-faster CPU GEMM for inference.

float32 CPU inference (no autograd) runs the GEMM on the backend :func:`protdata.kernels.cpu_linear_backend`
measured faster on this machine for the forward role: oneDNN (``torch.ops.mkldnn._linear_pointwise``, the
kernel ``torch.compile`` uses on CPU, with the GELU or residual add fused into the GEMM) or torch's default BLAS
(``F.linear``: MKL sgemm on the x86 wheels; GELU and the residual add are then separate passes, the add in
place). Measured: oneDNN ~2.5x ``F.linear`` for ESM-2 35M's FFN on an AMD EPYC; on the 2-core Intel Xeon
(AVX-512 + AMX) the forward GEMMs are within a few percent, and a separate GELU pass costs 20-34 % of fc1's
GEMM, so a layer whose epilogue oneDNN fuses keeps oneDNN unless the default BLAS is measured faster by more
than that pass costs (:data:`EPILOGUE_PASS`). Both backends give the same results to fp32 rounding (≤ 1e-5).
Training (autograd) and GPUs use ``F.linear`` + ops. :func:`set_onednn` overrides the choice (tests,
benchmarks); ``PROTSTACK_CPU_LINEAR=onednn|mkl`` forces the measured choice; ``PROTENC_SEQ_ONEDNN=0`` disables
oneDNN; any oneDNN error disables it for the process and falls back.

bf16 on the CPU (``precision="bf16"``: ``torch.autocast("cpu", dtype=torch.bfloat16)``, or a model cast to
bf16) always uses oneDNN unless disabled: CPU autocast does not reach ``mkldnn::_linear_pointwise``, so this
module does the cast itself -- the input is rounded to bf16 and the GEMM runs on bf16 weights, which oneDNN
executes on AMX tiles or AVX512-BF16 where the CPU has them (measured here on a Sapphire Rapids Xeon: ~2,300
GFLOP/s for ESM-2 35M's FFN vs ~250 in fp32). fp32 weights are rounded to bf16 once and kept beside the module
(:func:`bf16_weights`; re-made when the weights change, e.g. after an optimizer step), instead of autocast's
cast on every call. With an fp32 ``residual`` (autocast keeps ESM-2's residual stream in fp32, as on CUDA) the
output is ``residual + y`` in fp32; with a bf16 one (a model cast to bf16) the add is fused into the GEMM.
"""

from __future__ import annotations

import os
import warnings
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from protdata.kernels import cpu_linear_backend

_OPS = getattr(torch.ops, "mkldnn", None)
_AVAILABLE = bool(
    torch.backends.mkldnn.is_available() and _OPS is not None and hasattr(_OPS, "_linear_pointwise")
)
#: ``override``: ``None`` = follow the measured choice; ``True`` / ``False`` = oneDNN everywhere / nowhere.
_state: dict[str, bool | None] = {
    "override": False if os.environ.get("PROTENC_SEQ_ONEDNN", "1") == "0" else None,
    "broken": False,
}
#: Cost of the separate epilogue pass F.linear needs (exact GELU over fc1's ``(N, 4·D)`` output; the residual add
#: over out_proj's / fc2's ``(N, D)``) as a fraction of the GEMM it follows; measured for ESM-2 35M at 4,096 rows
#: on the 2-core Xeon: GELU 20-34 % of fc1's GEMM, the add 1-7 %. oneDNN's fused epilogue is kept while the
#: default BLAS' measured forward rate is below ``(1 + pass)`` × oneDNN's.
EPILOGUE_PASS = {"none": 0.0, "add": 0.1, "gelu": 0.25}

Epilogue = Literal["none", "gelu", "add"]


def _onednn_for(epilogue: Epilogue) -> bool:
    """Whether a float32 CPU inference GEMM with this epilogue runs on oneDNN: the :func:`set_onednn` override,
    else oneDNN when it is the measured forward backend, or when its fused epilogue saves more than the default
    BLAS' measured speed advantage (:data:`EPILOGUE_PASS`)."""
    if not _AVAILABLE or _state["broken"]:
        return False
    override = _state["override"]
    if override is not None:
        return bool(override)
    choice = cpu_linear_backend()
    if choice.forward == "onednn":
        return True
    rates = choice.gflops.get("forward", {})
    if epilogue == "none" or "onednn" not in rates:
        return False
    return rates.get("mkl", 0.0) < (1 + EPILOGUE_PASS[epilogue]) * rates["onednn"]


def onednn_enabled() -> bool:
    """Whether plain float32 CPU inference GEMMs (no epilogue) run on oneDNN."""
    return _onednn_for("none")


def set_onednn(enabled: bool | None) -> None:
    """Force the oneDNN CPU path on (``True``) or off (``False``, also for bf16), or follow the measured
    choice again (``None``) -- e.g. to compare against ``F.linear``."""
    _state["override"] = enabled


def onednn_override() -> bool | None:
    """The value last given to :func:`set_onednn` (``None``: the measured choice)."""
    return _state["override"]


def describe_kernels() -> str:
    """One line naming the GEMM of each CPU inference role, e.g. for benchmark headers."""
    name = {True: "oneDNN", False: "F.linear (BLAS)"}
    bf16 = (
        "oneDNN bf16"
        if _AVAILABLE and _state["override"] is not False and not _state["broken"]
        else "F.linear"
    )
    return (
        f"fp32 plain {name[_onednn_for('none')]}, +residual {name[_onednn_for('add')]}, "
        f"+GELU {name[_onednn_for('gelu')]}; bf16 {bf16}"
    )


def cpu_bf16_active(x: Tensor) -> bool:
    """True when a CPU op on ``x`` should run in bf16: ``x`` is bf16, or bf16 autocast is on for the CPU."""
    if x.device.type != "cpu":
        return False
    if x.dtype == torch.bfloat16:
        return True
    return torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16


def _fusable(x: Tensor, layer: nn.Linear, epilogue: Epilogue) -> torch.dtype | None:
    """The dtype the oneDNN path runs ``layer(x)`` in (float32 or bfloat16), or ``None`` for ``F.linear``."""
    if not (
        _AVAILABLE
        and not _state["broken"]
        and _state["override"] is not False
        and x.device.type == "cpu"
        and x.ndim == 2
        and x.dtype in (torch.float32, torch.bfloat16)
        and layer.weight.dtype in (torch.float32, torch.bfloat16)
        and not (torch.is_grad_enabled() and (x.requires_grad or layer.weight.requires_grad))
    ):
        return None
    if cpu_bf16_active(x) or layer.weight.dtype == torch.bfloat16:
        return torch.bfloat16
    return torch.float32 if _onednn_for(epilogue) else None


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


#: Module attributes holding weights derived from parameters (bf16 copies here, the rotary-interleaved q/k/v
#: projection in :mod:`protenc_seq.esm2.layer`).
WEIGHT_CACHES = ("_bf16_cache", "_interleaved_cache")


def clear_weight_caches(module: nn.Module) -> None:
    """Drop every derived-weight cache of ``module`` and its sub-modules.

    The caches are keyed by each parameter's storage and version counter, which catches in-place updates made
    through the parameter; a write through ``param.data`` (DeepSpeed ZeRO copying updated partitions back, torch's
    fused CPU Adam, user code) changes neither, so a model whose weights changed that way must drop its caches.
    :meth:`protenc_seq.esm2.model.ESM2.train` does (every ``train()`` / ``eval()`` switch, as around validation).
    """
    for m in module.modules():
        for name in WEIGHT_CACHES:
            m.__dict__.pop(name, None)


def linear(x: Tensor, layer: nn.Linear, *, gelu: bool = False, residual: Tensor | None = None) -> Tensor:
    """``layer(x)``, then exact (erf) GELU if ``gelu``, then ``+ residual`` if given (not both)."""
    if not isinstance(layer, nn.Linear):  # a wrapped projection (a PEFT LoRA layer): its own forward
        y = layer(x)
        y = F.gelu(y) if gelu else y
        return y if residual is None else residual + y
    epilogue: Epilogue = "add" if residual is not None else "gelu" if gelu else "none"
    dtype = _fusable(x, layer, epilogue)
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
            _state["broken"] = True
            warnings.warn(f"oneDNN linear unavailable ({err}); using F.linear", stacklevel=2)
    y = F.linear(x, layer.weight, layer.bias)
    if gelu:
        y = F.gelu(y)
    if residual is not None:
        if y.requires_grad or residual.requires_grad or y.dtype != residual.dtype:
            return residual + y
        y = y.add_(residual)  # inference: no extra (N, out) buffer
    return y
