"""Which device to run on, which precision, and the autocast that goes with it.

Precision keys (``precision`` in every encoder and app):

* ``"auto"``: bf16 autocast on CUDA, **fp32 on the CPU** -- the CPU default stays exact (fp32 results are
  bit-for-bit comparable with fair-esm / transformers / TorchDrug references), whatever the silicon offers.
* ``"fp32"``: fp32 everywhere.
* ``"bf16"``: bf16 autocast (``torch.autocast(device_type, dtype=torch.bfloat16)``) on CUDA *and* on the CPU.
  On a CPU with native bf16 arithmetic (Intel AMX ``amx_bf16``, ``avx512_bf16`` on Cooper Lake / Sapphire
  Rapids / AMD Zen 4+, Arm ``bf16``) the bf16 GEMMs run on that hardware (oneDNN dispatches on the ISA). On a
  CPU without it bf16 still *works* -- same accuracy, the kernels convert through fp32 -- but is usually slower
  than fp32, so :func:`autocast_for` / :func:`resolve_precision` warn once (rather than refuse: a config written
  on an AMX machine must still run, say, in CI on an older CPU).

Native support is detected, not guessed: :func:`cpu_bf16_support` reads the kernel's CPU flags
(``/proc/cpuinfo``; torch-free) and falls back to torch's own CPUID probes where there is no ``/proc``;
:func:`bf16_gemm_speedup` measures a bf16 vs fp32 GEMM once per process for callers that want to decide by
measurement.
"""

from __future__ import annotations

import contextlib
import functools
import platform
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from protdata.errors import ProtdataError

if TYPE_CHECKING:
    import torch

__all__ = [
    "Bf16Support",
    "DeviceError",
    "autocast_for",
    "bf16_gemm_speedup",
    "choose_device",
    "cpu_bf16_support",
    "native_bf16",
    "resolve_precision",
]

#: CPU flags (``/proc/cpuinfo``) that mean native bf16 arithmetic: x86 AMX tiles / AVX-512 BF16 dot products,
#: Arm ``BFDOT``/``BFMMLA`` (``Features: ... bf16``). Listed fastest first.
NATIVE_BF16_FLAGS = ("amx_bf16", "avx512_bf16", "bf16")
PRECISIONS = ("auto", "fp32", "bf16")


class DeviceError(ProtdataError):
    """A device or precision this machine cannot give (e.g. CUDA without a GPU)."""


@dataclass(frozen=True)
class Bf16Support:
    """What this CPU offers for bf16.

    Attributes:
        native: True when the CPU has bf16 arithmetic instructions (any of :data:`NATIVE_BF16_FLAGS`).
        isa: The bf16 flags found, fastest first (``("amx_bf16", "avx512_bf16")`` on Sapphire Rapids).
        source: Where that was read: ``"/proc/cpuinfo"``, ``"torch"`` (torch's CPUID probes) or ``"unknown"``.
    """

    native: bool
    isa: tuple[str, ...]
    source: str

    def describe(self) -> str:
        """One line for logs and benchmarks, e.g. ``native bf16 (amx_bf16, avx512_bf16; /proc/cpuinfo)``."""
        if self.native:
            return f"native bf16 ({', '.join(self.isa)}; {self.source})"
        return f"no native bf16 ({self.source}): bf16 is emulated through fp32"


def _cpuinfo_flags(text: str) -> set[str]:
    """Flags of the first CPU in ``/proc/cpuinfo`` text (x86 ``flags``, Arm ``Features``)."""
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() in ("flags", "features"):
            return set(value.split())
    return set()


def _torch_bf16_isa() -> tuple[str, ...] | None:
    """torch's CPUID probes (``torch.cpu._is_amx_tile_supported`` …), only if torch is already imported; ``None``
    when torch or the probes are unavailable."""
    torch = sys.modules.get("torch")
    probes = [getattr(torch, "cpu", None), getattr(getattr(torch, "_C", None), "_cpu", None)]
    found, any_probe = [], False
    for flag, name in (("amx_bf16", "_is_amx_tile_supported"), ("avx512_bf16", "_is_avx512_bf16_supported")):
        check = next((getattr(p, name) for p in probes if hasattr(p, name)), None)
        if check is not None:
            any_probe = True
            if check():
                found.append(flag)
    return tuple(found) if any_probe else None


def cpu_bf16_support(cpuinfo: str | Path | None = "/proc/cpuinfo") -> Bf16Support:
    """Detect native bf16 on this CPU from the CPU flags the kernel reports (no torch import needed).

    Args:
        cpuinfo: Path of ``/proc/cpuinfo`` (tests pass a copy), or ``None`` to skip it and ask torch.

    Returns:
        :class:`Bf16Support`. Without a readable ``/proc/cpuinfo`` (macOS, Windows) torch's CPUID probes are used
        when torch is already imported; Apple M2+ cores have bf16 but torch does not report it there, so they
        read as not native.
    """
    text = None
    if cpuinfo is not None:
        with contextlib.suppress(OSError):
            text = Path(cpuinfo).read_text(errors="replace")
    flags = _cpuinfo_flags(text) if text is not None else set()
    if flags:
        isa = tuple(f for f in NATIVE_BF16_FLAGS if f in flags)
        return Bf16Support(bool(isa), isa, "/proc/cpuinfo")
    isa = _torch_bf16_isa()
    if isa is not None:
        return Bf16Support(bool(isa), isa, "torch")
    return Bf16Support(False, (), "unknown")


@functools.cache
def _native() -> Bf16Support:
    return cpu_bf16_support()


def native_bf16() -> bool:
    """Whether this CPU has native bf16 (:func:`cpu_bf16_support` ``.native``), read once per process."""
    return _native().native


@functools.cache
def bf16_gemm_speedup(size: int = 1024, repeats: int = 5) -> float:
    """Measured once per process: the time of an fp32 ``size × size`` GEMM over that of the same GEMM in bf16
    on the CPU (best of ``repeats``; > 1 means bf16 is faster). A few tens of milliseconds on AMX (about 10×
    there), longer on CPUs without native bf16 (where it is typically < 1)."""
    import time

    import torch

    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(size, size, generator=gen), torch.randn(size, size, generator=gen)
    best = {}
    for dtype in (torch.float32, torch.bfloat16):
        x, y = a.to(dtype), b.to(dtype)
        torch.mm(x, y)  # warm-up (oneDNN / MKL kernel selection)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            torch.mm(x, y)
            times.append(time.perf_counter() - start)
        best[dtype] = min(times)
    return best[torch.float32] / best[torch.bfloat16]


_warned: set[str] = set()


def _warn_once(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        warnings.warn(message, RuntimeWarning, stacklevel=3)


def resolve_precision(device: torch.device | str, precision: str = "auto") -> Literal["fp32", "bf16"]:
    """The precision that runs: ``auto`` -> bf16 on CUDA, fp32 on the CPU (exact by default); ``bf16`` on a CPU
    without native bf16 (:func:`cpu_bf16_support`), or whose bf16 GEMM measures slower than fp32
    (:func:`bf16_gemm_speedup`, once per process), runs bf16 and warns once that it will be slow.

    Raises:
        DeviceError: ``precision`` is not one of ``auto``, ``fp32``, ``bf16``, or ``bf16`` on a device other than
            CUDA or the CPU.
    """
    if precision not in PRECISIONS:
        raise DeviceError("precision", f"{precision!r} is not one of {', '.join(PRECISIONS)}")
    device_type = device if isinstance(device, str) else device.type
    device_type = device_type.split(":")[0]
    if precision == "auto":
        return "bf16" if device_type == "cuda" else "fp32"
    if precision == "bf16" and device_type not in ("cuda", "cpu"):
        raise DeviceError("precision", f"'bf16' runs on CUDA or the CPU, not on {device_type!r}")
    if precision == "bf16" and device_type == "cpu":
        support = _native()
        if not support.native:
            _warn_once(
                "cpu-bf16",
                f"precision 'bf16' on a CPU without native bf16 ({platform.machine()}; {support.describe()}): "
                "results keep bf16 accuracy but usually run slower than fp32; use precision 'fp32' or 'auto'",
            )
        elif "cpu-bf16" not in _warned and (speedup := _measured_speedup()) < 1.0:
            # native flags are not speed: AVX512-BF16 without AMX tiles (or AMX not enabled for this process)
            # can run bf16 GEMMs slower than MKL's fp32 -- measured, not assumed
            _warn_once(
                "cpu-bf16",
                f"precision 'bf16': this CPU has native bf16 ({support.describe()}) but a bf16 GEMM measured "
                f"{speedup:.2f}x the speed of fp32 here (no AMX tiles in use?): bf16 will run slower than fp32; "
                "use precision 'fp32' or 'auto'",
            )
    return precision  # type: ignore[return-value]


def _measured_speedup() -> float:
    """:func:`bf16_gemm_speedup` at its default size (once per process)."""
    return bf16_gemm_speedup()


def choose_device(device: str | torch.device = "auto", *, name: str = "device") -> torch.device:
    """``cuda`` or ``cpu`` (``auto``: CUDA when available).

    Args:
        device: ``auto``, ``cpu``, ``cuda`` (or ``cuda:N``).
        name: How the caller's setting is named in the message (an app's ``--device``, a config key).

    Raises:
        DeviceError: CUDA asked for on a machine without it (the message starts ``<name> cuda``).
    """
    import torch

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
    """bf16 autocast on ``device`` when :func:`resolve_precision` says bf16 (``auto``: CUDA only, the CPU stays
    fp32; ``bf16``: CUDA or CPU, warning once on a CPU without native bf16), else a no-op."""
    import torch

    if resolve_precision(device, precision) == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)
