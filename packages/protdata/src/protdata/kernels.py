"""Which CPU kernel runs float32 linear layers: oneDNN or torch's default BLAS (MKL sgemm), chosen by measurement.

PyTorch's CPU ``F.linear`` / ``torch.mm`` call the BLAS torch was built with (MKL on the x86 PyPI wheels). MKL takes
its fastest AVX-512 paths only on some processors, so on others oneDNN (``torch.ops.mkldnn._linear_pointwise``, the
kernel ``torch.compile`` emits on the CPU, dispatching on the ISA it finds) is the faster float32 GEMM: measured
~2.5× on an AMD EPYC for ESM-2's FFN, while on an Intel Xeon with AVX-512 + AMX MKL ran 185 GFLOP/s vs oneDNN's
124 for GearNet's shapes. Neither the vendor string nor the ISA flags predict this, so the choice is measured:

1. ``PROTSTACK_CPU_LINEAR`` = ``onednn`` | ``mkl`` forces a backend (``auto``, the default, measures). The older
   per-package switches ``PROTENC_ONEDNN=0`` / ``PROTENC_SEQ_ONEDNN=0`` still mean ``mkl``.
2. Otherwise a one-time micro-benchmark (:func:`measure_linear_backends`, 1-2 s) times the three GEMMs of a
   training step (``x Wᵀ``, ``g W``, ``gᵀ x`` -- the last two on transposed views, as backward runs them) for
   the shapes of ESM-2's FFN and GearNet's relational linear, with both backends, at the current thread count.
   oneDNN is chosen only when it is at least :data:`MARGIN` faster in total (the default BLAS needs no custom
   autograd and is torch's own path, so a tie keeps it).
3. Inference also fuses an epilogue into the GEMM on oneDNN (ESM-2's exact GELU after fc1, the residual add
   after out_proj / fc2), so those two are measured as whole operations too (:func:`measure_epilogues`: oneDNN's
   fused kernel vs ``F.linear`` followed by the separate pass) -- whether a fused epilogue pays off is not implied
   by the plain GEMM rates: on an AMD EPYC (Zen 3, AVX2) MKL ran ESM-2 35M's fc1 at 176 GFLOP/s and oneDNN at
   157, yet oneDNN's fused erf-GELU dropped it to 105 while ``F.linear`` + ``F.gelu`` kept 154; on the 2-core
   Xeon the separate GELU pass cost 20-34 % of the GEMM and the fused kernel won.
4. The result is cached in ``$XDG_CACHE_HOME/protstack/cpu_linear.json`` (``~/.cache`` by default), keyed by the
   CPU model, its flags, the torch version and the thread count, so every later process on the machine runs the
   same kernels (and gets the same bits) without measuring again. An unwritable cache is ignored.

Both backends compute the same product to float32 rounding (tests: ≤ 1e-5 relative against a float64 reference).
Benchmarks print :func:`cpu_linear_backend` ``.describe()`` so every number says which kernel ran.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from protdata.device import DeviceError

if TYPE_CHECKING:
    from torch import Tensor

__all__ = [
    "EPILOGUES",
    "MARGIN",
    "ROLES",
    "LinearChoice",
    "blas_linear_add",
    "blas_linear_gelu",
    "cpu_linear_backend",
    "decide",
    "measure_epilogues",
    "measure_linear_backends",
    "onednn_linear_available",
    "remeasure",
]

Backend = Literal["onednn", "mkl"]
#: The three GEMMs of a linear layer's training step: forward ``x Wᵀ``, backward ``∂x = g W``, ``∂W = gᵀ x``.
ROLES = ("forward", "grad_input", "grad_weight")
ENV = "PROTSTACK_CPU_LINEAR"
LEGACY_ENV = ("PROTENC_ONEDNN", "PROTENC_SEQ_ONEDNN")
#: oneDNN must beat the default BLAS by this factor (total time of a role's measured GEMMs) to be chosen.
MARGIN = 1.10
#: (rows, in, out) of the measured layers: ESM-2 35M's FFN up / down projections and GearNet's 7-relation linear
#: (7 × 512 → 512) and self-loop (512 → 512); rows = tokens or residues of a typical CPU batch.
SHAPES = ((768, 480, 1920), (768, 1920, 480), (768, 3584, 512), (768, 512, 512))
#: Inference epilogues fused into the GEMM on oneDNN, and the (rows, in, out) each is measured on: ESM-2 35M's
#: fc1 + exact GELU and fc2 + residual add.
EPILOGUES = ("gelu", "add")
EPILOGUE_SHAPES = {"gelu": (768, 480, 1920), "add": (768, 1920, 480)}
CACHE_VERSION = 4


@dataclass(frozen=True)
class LinearChoice:
    """The float32 CPU backend of each GEMM role of a linear layer, and why.

    Attributes:
        backends: ``{role: backend}`` for the roles in :data:`ROLES`; a backend is ``"onednn"``
            (``torch.ops.mkldnn._linear_pointwise``) or ``"mkl"`` (torch's BLAS: MKL sgemm on the x86 wheels).
        source: ``"env"``, ``"measured"``, ``"cache"`` or ``"unavailable"`` (this torch has no oneDNN linear).
        gflops: Measured GFLOP/s, ``{role: {backend: rate}}`` (empty when not measured).
        threads: torch intra-op threads of the measurement.
        epilogues: ``{epilogue: backend}`` of the inference GEMMs with a fused epilogue (:data:`EPILOGUES`);
            their rates are in ``gflops`` under ``"forward+gelu"`` / ``"forward+add"``. Missing: as ``forward``.
    """

    backends: dict[str, Backend]
    source: str
    gflops: dict[str, dict[str, float]] = field(default_factory=dict)
    threads: int = 0
    epilogues: dict[str, Backend] = field(default_factory=dict)

    @property
    def forward(self) -> Backend:
        """The backend of the forward GEMM (what inference runs)."""
        return self.backends["forward"]

    def inference(self, epilogue: str = "none") -> Backend:
        """The backend of a no-autograd forward GEMM followed by ``epilogue`` (``"none"``, ``"gelu"``, ``"add"``):
        oneDNN runs it fused, the default BLAS as ``F.linear`` and a separate pass."""
        if epilogue == "none":
            return self.forward
        return self.epilogues.get(epilogue, self.forward)

    @property
    def any_onednn(self) -> bool:
        """Whether any role runs on oneDNN (else plain ``F.linear`` with torch's autograd is the whole path)."""
        return "onednn" in self.backends.values()

    def describe(self) -> str:
        """One line for logs and benchmarks, e.g. ``CPU fp32 linear (measured, 2 threads): forward oneDNN 121 vs
        MKL 115 GFLOP/s; grad_input MKL 104 vs oneDNN 89; grad_weight MKL 103 vs oneDNN 82``."""
        name = {"onednn": "oneDNN", "mkl": "MKL"}
        parts = []
        chosen_by = {**self.backends, **{f"forward+{e}": b for e, b in self.epilogues.items()}}
        for role in (*ROLES, *(f"forward+{e}" for e in EPILOGUES if e in self.epilogues)):
            chosen = chosen_by[role]
            rates = self.gflops.get(role, {})
            text = f"{role} {name[chosen]}"
            if rates:
                other = next((b for b in rates if b != chosen), None)
                text += f" {rates.get(chosen, 0):.0f}" + (
                    f" vs {name[other]} {rates[other]:.0f}" if other else ""
                )
            parts.append(text)
        unit = " GFLOP/s" if self.gflops else ""
        return f"CPU fp32 linear ({self.source}, {self.threads} threads): {'; '.join(parts)}{unit}"


def onednn_linear_available() -> bool:
    """Whether this torch build has oneDNN's fused linear op (``torch.ops.mkldnn._linear_pointwise``)."""
    import torch

    ops = getattr(torch.ops, "mkldnn", None)
    return bool(
        torch.backends.mkldnn.is_available() and ops is not None and hasattr(ops, "_linear_pointwise")
    )


def decide(seconds: dict[str, float], margin: float = MARGIN) -> Backend:
    """``"onednn"`` when its total time is at least ``margin`` times faster than the default BLAS', else ``"mkl"``.

    Args:
        seconds: Total time of the same GEMMs per backend (keys ``"onednn"``, ``"mkl"``).
    """
    if "onednn" not in seconds:
        return "mkl"
    return "onednn" if seconds["mkl"] >= margin * seconds["onednn"] else "mkl"


def _env_choice() -> Backend | None:
    value = os.environ.get(ENV, "auto").strip().lower()
    if value not in ("auto", "onednn", "mkl", ""):
        raise DeviceError(ENV, f"{value!r} is not one of auto, onednn, mkl")
    if value in ("onednn", "mkl"):
        return value  # type: ignore[return-value]
    if any(os.environ.get(name) == "0" for name in LEGACY_ENV):
        return "mkl"
    return None


def _best_times(kernels: dict[str, Callable[..., object]], args: tuple, repeats: int) -> dict[str, float]:
    """Best wall time of each kernel on ``args`` over ``repeats`` after one warm-up call each (kernel selection,
    oneDNN primitive creation); the kernels alternate call by call, so load on a shared machine hits all alike."""
    best = dict.fromkeys(kernels, float("inf"))
    for run in kernels.values():
        run(*args)
    for _ in range(repeats):
        for name, run in kernels.items():
            start = time.perf_counter()
            run(*args)
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def measure_linear_backends(
    shapes: tuple[tuple[int, int, int], ...] = SHAPES, repeats: int = 4
) -> dict[str, dict[str, tuple[float, float]]]:
    """Time each GEMM role over ``shapes`` with each backend: best of ``repeats`` after a warm-up, the backends
    alternating call by call so that load on a shared machine hits both alike.

    Returns:
        ``{role: {backend: (seconds, gflop)}}``: summed best times over the shapes and the FLOPs they computed.
    """
    import torch
    import torch.nn.functional as F

    gen = torch.Generator().manual_seed(0)
    ops = torch.ops.mkldnn if onednn_linear_available() else None

    def onednn(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return ops._linear_pointwise(a, b, None, "none", [], "")  # type: ignore[union-attr]

    kernels: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {"mkl": F.linear}
    if ops is not None:
        kernels["onednn"] = onednn
    result = {role: {name: (0.0, 0.0) for name in kernels} for role in ROLES}
    for rows, fan_in, fan_out in shapes:
        x = torch.randn(rows, fan_in, generator=gen)  # (N, in)
        w = torch.randn(fan_out, fan_in, generator=gen)  # (out, in)
        g = torch.randn(rows, fan_out, generator=gen)  # (N, out)
        # a bᵀ per role, the backward ones on transposed views as autograd hands them over
        products = {"forward": (x, w), "grad_input": (g, w.t()), "grad_weight": (g.t(), x.t())}
        for role, (a, b) in products.items():
            best = _best_times(kernels, (a, b), repeats)
            flop = 2.0 * a.shape[0] * a.shape[1] * b.shape[0]
            for name in kernels:
                seconds, total = result[role][name]
                result[role][name] = (seconds + best[name], total + flop)
    return result


def blas_linear_gelu(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """Inference ``GELU(x Wᵀ + b)`` on the default BLAS: ``F.linear``, then exact (erf) GELU in place (no second
    ``(N, out)`` buffer). ``x`` ``(N, in)``, ``weight`` ``(out, in)`` -> ``(N, out)``; no autograd."""
    import torch

    return torch._C._nn.gelu_(torch.nn.functional.linear(x, weight, bias))


def blas_linear_add(x: Tensor, weight: Tensor, bias: Tensor | None, residual: Tensor) -> Tensor:
    """Inference ``residual + x Wᵀ + b`` on the default BLAS: ``residual + b`` in one pass, then the GEMM
    accumulates into it in place (``addmm_``, beta = 1), which saves the bias fill of ``F.linear`` and a separate
    residual pass over ``(N, out)``. ``residual`` is not modified; no autograd."""

    start = residual + bias if bias is not None else residual.clone()  # (N, out)
    return start.addmm_(x, weight.t())


def _epilogue_kernels(epilogue: str, ops: object | None) -> dict[str, Callable[..., object]]:
    """``{backend: f(x, w, b, residual)}`` running one inference GEMM with ``epilogue`` as each backend does."""
    if epilogue == "gelu":
        kernels: dict[str, Callable[..., object]] = {"mkl": lambda x, w, b, r: blas_linear_gelu(x, w, b)}
        if ops is not None:
            kernels["onednn"] = lambda x, w, b, r: ops._linear_pointwise(x, w, b, "gelu", [], "none")  # type: ignore[attr-defined]
        return kernels
    kernels = {"mkl": blas_linear_add}
    if ops is not None:
        kernels["onednn"] = lambda x, w, b, r: ops._linear_pointwise.binary(x, r, w, b, "add")  # type: ignore[attr-defined]
    return kernels


def measure_epilogues(repeats: int = 4) -> dict[str, dict[str, tuple[float, float]]]:
    """Time each inference epilogue of :data:`EPILOGUES` on its :data:`EPILOGUE_SHAPES` shape, whole: oneDNN's
    fused ``_linear_pointwise`` vs :func:`blas_linear_gelu` / :func:`blas_linear_add` (what
    ``protenc_seq.esm2.linear`` runs on each backend); best of ``repeats``, the two alternating.

    Returns:
        ``{epilogue: {backend: (seconds, gflop)}}`` (GEMM FLOPs only, so the rates compare with the plain ones).
    """
    import torch

    gen = torch.Generator().manual_seed(1)
    ops = torch.ops.mkldnn if onednn_linear_available() else None
    result: dict[str, dict[str, tuple[float, float]]] = {}
    for epilogue in EPILOGUES:
        rows, fan_in, fan_out = EPILOGUE_SHAPES[epilogue]
        x = torch.randn(rows, fan_in, generator=gen)  # (N, in)
        w = torch.randn(fan_out, fan_in, generator=gen)  # (out, in)
        b = torch.randn(fan_out, generator=gen)  # (out,)
        r = torch.randn(rows, fan_out, generator=gen)  # (N, out) residual
        args = (x, w, b, r)
        best = _best_times(_epilogue_kernels(epilogue, ops), args, repeats)
        flop = 2.0 * rows * fan_in * fan_out
        result[epilogue] = {name: (seconds, flop) for name, seconds in best.items()}
    return result


def _cpu_identity() -> str:
    """CPU model + a hash of its flags (``/proc/cpuinfo``; ``platform.processor()`` elsewhere)."""
    model, flags = platform.processor() or platform.machine(), ""
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            key = key.strip().lower()
            if key == "model name" and model in ("", platform.processor() or platform.machine()):
                model = value.strip()
            elif key in ("flags", "features") and not flags:
                flags = value.strip()
    except OSError:
        pass
    return f"{model} / flags {hashlib.sha1(flags.encode()).hexdigest()[:12]}"


def cache_path() -> Path:
    """``$XDG_CACHE_HOME/protstack/cpu_linear.json`` (``~/.cache/protstack/cpu_linear.json``)."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "protstack" / "cpu_linear.json"


def _cache_key(threads: int) -> str:
    import torch

    return f"v{CACHE_VERSION} | {_cpu_identity()} | torch {torch.__version__} | {threads} threads"


def _read_cache(key: str) -> LinearChoice | None:
    try:
        entry = json.loads(cache_path().read_text()).get(key)
    except (OSError, ValueError, AttributeError):
        return None
    backends = entry.get("backends") if isinstance(entry, dict) else None
    if not isinstance(backends, dict) or any(backends.get(r) not in ("onednn", "mkl") for r in ROLES):
        return None
    gflops = {
        str(r): {str(k): float(v) for k, v in dict(rates).items()} for r, rates in entry["gflops"].items()
    }
    epilogues = entry.get("epilogues")
    if not isinstance(epilogues, dict) or any(epilogues.get(e) not in ("onednn", "mkl") for e in EPILOGUES):
        return None
    return LinearChoice(
        dict(entry["backends"]), "cache", gflops, int(entry.get("threads", 0)), dict(epilogues)
    )


def _write_cache(key: str, choice: LinearChoice) -> None:
    path = cache_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            data = json.loads(path.read_text())
            data = data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            data = {}
        data[key] = {
            "backends": choice.backends,
            "epilogues": choice.epilogues,
            "gflops": choice.gflops,
            "threads": choice.threads,
        }
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        tmp.replace(path)
    except OSError:  # read-only home, full disk: measure again next time
        pass


@functools.cache
def _choice_for(threads: int, env: Backend | None) -> LinearChoice:
    if not onednn_linear_available():
        return LinearChoice(
            dict.fromkeys(ROLES, "mkl"), "unavailable", {}, threads, dict.fromkeys(EPILOGUES, "mkl")
        )
    if env is not None:
        return LinearChoice(dict.fromkeys(ROLES, env), "env", {}, threads, dict.fromkeys(EPILOGUES, env))
    key = _cache_key(threads)
    cached = _read_cache(key)
    if cached is not None:
        return cached
    measured = measure_linear_backends()
    fused = measure_epilogues()
    backends = {role: decide({name: s for name, (s, _) in rates.items()}) for role, rates in measured.items()}
    epilogues = {e: decide({name: s for name, (s, _) in rates.items()}) for e, rates in fused.items()}
    gflops = {
        role: {name: f / s / 1e9 for name, (s, f) in rates.items()}
        for role, rates in (*measured.items(), *((f"forward+{e}", r) for e, r in fused.items()))
    }
    choice = LinearChoice(backends, "measured", gflops, threads, epilogues)
    _write_cache(key, choice)
    return choice


def cpu_linear_backend() -> LinearChoice:
    """The float32 CPU linear backend for the current thread count (module docstring: env, cache, measurement).

    Raises:
        DeviceError: ``PROTSTACK_CPU_LINEAR`` is set to something other than ``auto``, ``onednn``, ``mkl``.
    """
    import torch

    return _choice_for(torch.get_num_threads(), _env_choice())


def remeasure() -> LinearChoice:
    """Measure again now (ignoring the cache) and store the result: ``python -m protdata.kernels``."""
    import torch

    _choice_for.cache_clear()
    threads = torch.get_num_threads()
    key = _cache_key(threads)
    with contextlib.suppress(OSError):
        data = json.loads(cache_path().read_text())
        data.pop(key, None)
        cache_path().write_text(json.dumps(data, indent=1, sort_keys=True))
    return cpu_linear_backend()


if __name__ == "__main__":
    print(remeasure().describe())
    print(f"cached in {cache_path()}")
