"""``y = x Wᵀ + b`` with optional fused GELU or residual add: the measured-faster CPU GEMM for inference.

float32 CPU inference (no autograd) runs each GEMM on the backend :func:`protdata.kernels.cpu_linear_backend`
measured faster on this machine for that GEMM and its epilogue (``LinearChoice.inference``): oneDNN
(``torch.ops.mkldnn._linear_pointwise``, the kernel ``torch.compile`` uses on CPU, with the GELU or residual
add fused into the GEMM) or torch's default BLAS (MKL sgemm on the x86 wheels: ``F.linear`` then GELU in place,
or ``residual + b`` into which the GEMM accumulates; :func:`protdata.kernels.blas_linear_gelu` /
:func:`~protdata.kernels.blas_linear_add`: fc1 + GELU 12 % and fc2 + add 4 % faster than separate out-of-place
passes on an AMX Xeon, 1-5 % of ESM-2 8M / 35M tokens/s). The fused epilogues are timed whole, against
``F.linear`` plus the pass, because neither the plain GEMM rates nor the vendor predict them: on the 2-core
Intel Xeon a separate GELU pass cost 20-34 % of fc1's GEMM and the fused kernel won; on an AMD EPYC (Zen 3)
oneDNN's fused erf-GELU ran fc1 at 105 GFLOP/s against 154 for ``F.linear`` + ``F.gelu``. Both backends give
the same results to fp32 rounding (≤ 1e-5).
Training (autograd) and GPUs use ``F.linear`` + ops. :func:`set_onednn` overrides the choice (tests,
benchmarks); ``PROTSTACK_CPU_LINEAR=onednn|mkl`` forces the measured choice; ``PROTENC_SEQ_ONEDNN=0`` disables
oneDNN; a oneDNN error disables it for that dtype for the process and falls back.

bf16 on the CPU (``precision="bf16"``: ``torch.autocast("cpu", dtype=torch.bfloat16)``, or a model cast to
bf16) uses oneDNN on CPUs with native bf16 (AMX / AVX512-BF16, from the CPU flags) unless disabled; elsewhere
(oneDNN builds no bf16 inner product on AVX2-only CPUs) ``F.linear`` runs torch's emulated bf16. CPU autocast
does not reach ``mkldnn::_linear_pointwise``, so this module does the cast itself -- the input is rounded to bf16 and the GEMM runs on bf16 weights, which oneDNN
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

from protdata.device import native_bf16 as _native_bf16
from protdata.kernels import blas_linear_add, blas_linear_gelu, cpu_linear_backend

_OPS = getattr(torch.ops, "mkldnn", None)
_AVAILABLE = bool(
    torch.backends.mkldnn.is_available() and _OPS is not None and hasattr(_OPS, "_linear_pointwise")
)
#: ``override``: ``None`` = follow the measured choice; ``True`` / ``False`` = oneDNN everywhere / nowhere.
_state: dict[str, bool | None] = {
    "override": False if os.environ.get("PROTENC_SEQ_ONEDNN", "1") == "0" else None,
}
#: dtypes whose oneDNN linear raised in this process (then ``F.linear`` for that dtype only: a bf16 primitive
#: this CPU cannot build must not take the float32 kernels down with it).
_broken: set[torch.dtype] = set()
Epilogue = Literal["none", "gelu", "add"]


def _onednn_for(epilogue: Epilogue) -> bool:
    """Whether a float32 CPU inference GEMM with this epilogue runs on oneDNN: the :func:`set_onednn` override,
    else the backend measured faster for this GEMM with this epilogue (``LinearChoice.inference``)."""
    if not _AVAILABLE or torch.float32 in _broken:
        return False
    override = _state["override"]
    if override is not None:
        return bool(override)
    return cpu_linear_backend().inference(epilogue) == "onednn"


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
    bf16 = "oneDNN bf16" if _bf16_onednn() else "F.linear"
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


def _bf16_onednn() -> bool:
    """Whether bf16 CPU linears run on oneDNN: the CPU has native bf16 (AMX / AVX512-BF16; oneDNN builds no bf16
    inner product on AVX2-only CPUs, so there ``F.linear`` runs torch's emulated bf16), not disabled, not failed."""
    return _AVAILABLE and _state["override"] is not False and torch.bfloat16 not in _broken and _native_bf16()


def _needs_autograd(x: Tensor, layer: nn.Linear, residual: Tensor | None = None) -> bool:
    """Whether gradients must flow through this call: grad mode on and any of input, weight, bias or residual
    requiring them (a frozen weight with a trainable bias included). The oneDNN kernels and the in-place BLAS
    epilogues have no autograd, so such calls take ``F.linear`` + out-of-place ops."""
    return torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (x, layer.weight, layer.bias, residual)
    )


def _fusable(
    x: Tensor, layer: nn.Linear, epilogue: Epilogue, residual: Tensor | None = None
) -> torch.dtype | None:
    """The dtype the oneDNN path runs ``layer(x)`` in (float32 or bfloat16), or ``None`` for ``F.linear``."""
    if not (
        _AVAILABLE
        and _state["override"] is not False
        and x.device.type == "cpu"
        and x.ndim == 2
        and x.dtype in (torch.float32, torch.bfloat16)
        and layer.weight.dtype in (torch.float32, torch.bfloat16)
        and not _needs_autograd(x, layer, residual)
    ):
        return None
    if cpu_bf16_active(x) or layer.weight.dtype == torch.bfloat16:
        return torch.bfloat16 if _bf16_onednn() else None
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
    dtype = _fusable(x, layer, epilogue, residual)
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
            _broken.add(dtype)
            warnings.warn(f"oneDNN linear unavailable ({err}); using F.linear", stacklevel=2)
    if (
        not _needs_autograd(x, layer, residual)
        and x.ndim == 2
        and not torch.is_autocast_enabled(x.device.type)
        and x.dtype == layer.weight.dtype == (x.dtype if residual is None else residual.dtype)
    ):  # inference on the default BLAS: the epilogue passes that protdata.kernels measured
        if residual is not None:
            return blas_linear_add(x, layer.weight, layer.bias, residual)  # (N, out)
        if gelu:
            return blas_linear_gelu(x, layer.weight, layer.bias)  # (N, out)
    y = F.linear(x, layer.weight, layer.bias)
    if gelu:
        y = F.gelu(y)
    if residual is not None:
        if y.requires_grad or residual.requires_grad or y.dtype != residual.dtype:
            return residual + y
        y = y.add_(residual)  # inference: no extra (N, out) buffer
    return y
