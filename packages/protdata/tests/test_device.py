"""protdata.device: the device asked for, or a one-line error naming the caller's own setting; which precision runs
(``auto`` stays fp32 on the CPU, ``bf16`` is bf16 autocast on the CPU too) and native bf16 read from the CPU flags."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

from protdata import device as device_module
from protdata.device import (
    Bf16Support,
    DeviceError,
    autocast_for,
    bf16_gemm_speedup,
    choose_device,
    cpu_bf16_support,
    resolve_precision,
)

#: ``flags`` lines as Linux prints them (trimmed): Sapphire Rapids, Zen 3 (no bf16), Zen 4 (AVX512-BF16, no AMX).
SAPPHIRE_RAPIDS = (
    "fpu vme avx2 avx512f avx512bw avx512_bf16 avx512_vnni amx_bf16 avx512_fp16 amx_tile amx_int8"
)
ZEN3 = "fpu vme sse4_2 avx avx2 fma bmi2 sha_ni vaes vpclmulqdq"
ZEN4 = "fpu avx2 avx512f avx512bw avx512vl avx512_bf16 avx512_vnni avx512vbmi"
GRAVITON3 = "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp sve svebf16 i8mm bf16 dgh rng"


def cpuinfo(tmp_path: Path, key: str, flags: str) -> Path:
    path = tmp_path / "cpuinfo"
    path.write_text(
        f"processor\t: 0\nmodel name\t: test\n{key}\t\t: {flags}\n\nprocessor\t: 1\n{key}\t: {flags}\n"
    )
    return path


def test_device_errors_name_the_callers_setting(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert choose_device("auto") == torch.device("cpu")
    with pytest.raises(DeviceError) as info:
        choose_device("cuda", name="--device")
    assert str(info.value).startswith("--device cuda: CUDA is not available") and "--device cpu" in str(
        info.value
    )
    with pytest.raises(DeviceError, match="precision: 'fp16' is not one of auto, fp32, bf16"):
        autocast_for(torch.device("cpu"), "fp16")
    with pytest.raises(DeviceError, match="precision: 'bf16' runs on CUDA or the CPU, not on 'meta'"):
        autocast_for(torch.device("meta"), "bf16")


@pytest.mark.parametrize(
    ("key", "flags", "native", "isa"),
    [
        ("flags", SAPPHIRE_RAPIDS, True, ("amx_bf16", "avx512_bf16")),
        ("flags", ZEN4, True, ("avx512_bf16",)),
        ("flags", ZEN3, False, ()),
        ("Features", GRAVITON3, True, ("bf16",)),
    ],
)
def test_native_bf16_read_from_cpu_flags(
    tmp_path: Path, key: str, flags: str, native: bool, isa: tuple
) -> None:
    support = cpu_bf16_support(cpuinfo(tmp_path, key, flags))
    assert support == Bf16Support(native, isa, "/proc/cpuinfo")
    assert support.describe().startswith("native bf16" if native else "no native bf16")


def test_this_cpu_agrees_with_torchs_cpuid_probes() -> None:
    if not Path("/proc/cpuinfo").is_file() or torch.backends.cpu.get_cpu_capability() in ("ZVECTOR", "VSX"):
        pytest.skip("needs Linux /proc/cpuinfo on x86 or Arm")
    from_flags = cpu_bf16_support()
    assert device_module.native_bf16() == from_flags.native  # the once-per-process reading agrees
    from_torch = cpu_bf16_support(None)  # torch's own CPUID probes (torch is imported here)
    assert from_torch.source == "torch"
    if from_flags.isa and from_flags.isa[-1] == "bf16":  # Arm: torch has no probe
        return
    assert from_flags.isa == from_torch.isa


def test_auto_stays_fp32_on_the_cpu_and_bf16_is_cpu_autocast(monkeypatch) -> None:
    cpu = torch.device("cpu")
    assert resolve_precision(cpu, "auto") == "fp32" and resolve_precision("cuda:0", "auto") == "bf16"
    assert resolve_precision(cpu, "fp32") == "fp32" and resolve_precision("cuda", "fp32") == "fp32"
    with autocast_for(cpu, "auto"):
        assert not torch.is_autocast_enabled("cpu")
    monkeypatch.setattr(device_module, "_native", lambda: Bf16Support(True, ("amx_bf16",), "test"))
    monkeypatch.setattr(device_module, "_measured_speedup", lambda: 5.6)  # AMX: bf16 GEMMs faster
    monkeypatch.setattr(device_module, "_warned", set())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # native bf16, measured faster: no warning
        with autocast_for(cpu, "bf16"):
            assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
            y = torch.nn.functional.linear(torch.randn(4, 8), torch.randn(3, 8))
    assert y.dtype == torch.bfloat16
    assert not torch.is_autocast_enabled("cpu")


def test_bf16_without_native_support_warns_once(monkeypatch) -> None:
    monkeypatch.setattr(device_module, "_native", lambda: Bf16Support(False, (), "test"))
    monkeypatch.setattr(device_module, "_warned", set())
    with pytest.warns(RuntimeWarning, match="without native bf16.*slower than fp32"):
        assert resolve_precision("cpu", "bf16") == "bf16"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with autocast_for(torch.device("cpu"), "bf16"):  # still works, no second warning
            assert torch.is_autocast_enabled("cpu")


def test_native_bf16_measured_slower_than_fp32_warns_once(monkeypatch) -> None:
    """AVX512-BF16 flags without AMX tiles: bf16 GEMMs measured at 0.6x fp32 on such a Xeon (bench_esm) -- the
    flags say native, the measurement decides the warning."""
    monkeypatch.setattr(device_module, "_native", lambda: Bf16Support(True, ("avx512_bf16",), "test"))
    monkeypatch.setattr(device_module, "_measured_speedup", lambda: 0.6)
    monkeypatch.setattr(device_module, "_warned", set())
    with pytest.warns(RuntimeWarning, match=r"measured 0\.60x the speed of fp32"):
        assert resolve_precision("cpu", "bf16") == "bf16"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert resolve_precision("cpu", "bf16") == "bf16"  # once


def test_gemm_micro_benchmark_is_measured_once() -> None:
    speedup = bf16_gemm_speedup(256, 2)
    assert speedup > 0 and bf16_gemm_speedup(256, 2) == speedup
