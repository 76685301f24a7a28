"""protdata.kernels: the per-role CPU GEMM backend is chosen by measurement (margin rule), forced by the
environment, cached per machine and re-read from the cache."""

from __future__ import annotations

import json

import pytest

from protdata import kernels
from protdata.device import DeviceError
from protdata.kernels import EPILOGUES, ROLES, LinearChoice, cpu_linear_backend, decide

MEASURE_EPILOGUES = (
    kernels.measure_epilogues
)  # the real one (the autouse fixture below swaps in fake timings)


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch, tmp_path):
    """An empty cache directory, no environment override, no memoised choice."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    for name in (kernels.ENV, *kernels.LEGACY_ENV):
        monkeypatch.delenv(name, raising=False)
    kernels._choice_for.cache_clear()
    yield tmp_path
    kernels._choice_for.cache_clear()


def _fake_measure(calls: list[int], onednn_faster: set[str]):
    """Timings where oneDNN takes half the time of MKL for the roles in ``onednn_faster`` and 1.05x otherwise."""

    def measure(*_args, **_kwargs):
        calls.append(1)
        return {
            role: {"mkl": (1.0, 2e9), "onednn": (0.5 if role in onednn_faster else 1.05, 2e9)}
            for role in ROLES
        }

    return measure


def _fake_epilogues(onednn_faster: set[str]):
    """Fused-epilogue timings: oneDNN fused twice as fast for the epilogues in ``onednn_faster``, else 1.5x slower."""

    def measure(*_args, **_kwargs):
        return {
            e: {"mkl": (1.0, 2e9), "onednn": (0.5 if e in onednn_faster else 1.5, 2e9)} for e in EPILOGUES
        }

    return measure


@pytest.fixture(autouse=True)
def no_epilogue_timing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests of the decision logic use fake timings; the epilogues default to "oneDNN fused is faster"."""
    monkeypatch.setattr(kernels, "measure_epilogues", _fake_epilogues(set(EPILOGUES)))


def test_margin_rule() -> None:
    assert decide({"mkl": 1.0, "onednn": 0.5}) == "onednn"
    assert decide({"mkl": 1.0, "onednn": 0.95}) == "mkl"  # within the 10 % margin: torch's own path stays
    assert decide({"mkl": 1.0}) == "mkl"  # no oneDNN in this build
    assert decide({"mkl": 1.0, "onednn": 0.95}, margin=1.0) == "onednn"


@pytest.mark.skipif(not kernels.onednn_linear_available(), reason="torch built without oneDNN")
def test_measured_per_role_then_cached(fresh, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(kernels, "measure_linear_backends", _fake_measure(calls, {"grad_weight"}))
    choice = cpu_linear_backend()
    assert choice.source == "measured" and calls == [1]
    assert choice.backends == {"forward": "mkl", "grad_input": "mkl", "grad_weight": "onednn"}
    assert choice.gflops["grad_weight"] == pytest.approx({"mkl": 2.0, "onednn": 4.0})
    assert "grad_weight oneDNN 4 vs MKL 2" in choice.describe()
    assert choice.epilogues == dict.fromkeys(EPILOGUES, "onednn") and choice.inference("gelu") == "onednn"
    assert choice.inference("none") == "mkl"  # the plain GEMM follows the forward role
    assert "forward+gelu oneDNN 4 vs MKL 2" in choice.describe()
    # a new process (memo cleared) reads the cache and does not measure again
    kernels._choice_for.cache_clear()
    again = cpu_linear_backend()
    assert again.source == "cache" and calls == [1] and again.backends == choice.backends
    assert again.epilogues == choice.epilogues
    entry = next(iter(json.loads(kernels.cache_path().read_text()).values()))
    assert entry["backends"] == choice.backends


@pytest.mark.skipif(not kernels.onednn_linear_available(), reason="torch built without oneDNN")
def test_corrupt_cache_is_measured_again(fresh, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(kernels, "measure_linear_backends", _fake_measure(calls, set(ROLES)))
    kernels.cache_path().parent.mkdir(parents=True)
    kernels.cache_path().write_text("{not json")
    assert cpu_linear_backend().backends == dict.fromkeys(ROLES, "onednn") and calls == [1]


@pytest.mark.skipif(not kernels.onednn_linear_available(), reason="torch built without oneDNN")
def test_fused_epilogue_chosen_on_its_own_timing(fresh, monkeypatch: pytest.MonkeyPatch) -> None:
    """oneDNN's plain GEMM measured faster does not carry its fused GELU along (AMD EPYC: fused erf-GELU at 105
    GFLOP/s vs 154 for F.linear + F.gelu), and the reverse."""
    monkeypatch.setattr(kernels, "measure_linear_backends", _fake_measure([], set(ROLES)))
    monkeypatch.setattr(kernels, "measure_epilogues", _fake_epilogues({"add"}))
    choice = cpu_linear_backend()
    assert choice.inference("none") == "onednn"
    assert choice.inference("gelu") == "mkl" and choice.inference("add") == "onednn"
    kernels._choice_for.cache_clear()
    monkeypatch.setattr(kernels, "measure_linear_backends", _fake_measure([], set()))
    kernels.cache_path().unlink()
    monkeypatch.setattr(kernels, "measure_epilogues", _fake_epilogues({"gelu"}))
    choice = cpu_linear_backend()
    assert choice.inference("none") == "mkl" and choice.inference("gelu") == "onednn"


def test_cache_without_epilogues_is_measured_again(fresh, monkeypatch: pytest.MonkeyPatch) -> None:
    """An entry written before the epilogues were measured is not trusted for them."""
    calls: list[int] = []
    monkeypatch.setattr(kernels, "measure_linear_backends", _fake_measure(calls, set()))
    key = kernels._cache_key(cpu_linear_backend().threads)
    kernels._choice_for.cache_clear()
    entry = {"backends": dict.fromkeys(ROLES, "mkl"), "gflops": {}, "threads": 2}
    kernels.cache_path().write_text(json.dumps({key: entry}))
    assert cpu_linear_backend().source == ("measured" if kernels.onednn_linear_available() else "unavailable")


def test_environment_forces_a_backend(fresh, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kernels, "measure_linear_backends", lambda *a, **k: pytest.fail("measured"))
    monkeypatch.setenv(kernels.ENV, "mkl")
    assert cpu_linear_backend() == LinearChoice(
        dict.fromkeys(ROLES, "mkl"), "env", {}, cpu_linear_backend().threads, dict.fromkeys(EPILOGUES, "mkl")
    )
    monkeypatch.setenv(kernels.ENV, "auto")
    monkeypatch.setenv("PROTENC_ONEDNN", "0")  # the older per-package switch still means "not oneDNN"
    assert cpu_linear_backend().backends == dict.fromkeys(ROLES, "mkl")
    monkeypatch.setenv(kernels.ENV, "blas")
    with pytest.raises(DeviceError, match=r"PROTSTACK_CPU_LINEAR.*'blas'"):
        cpu_linear_backend()


def test_real_measurement_reports_both_backends() -> None:
    measured = kernels.measure_linear_backends(shapes=((64, 48, 32),), repeats=1)
    assert set(measured) == set(ROLES)
    for rates in measured.values():
        assert "mkl" in rates
        assert set(rates) == ({"mkl", "onednn"} if kernels.onednn_linear_available() else {"mkl"})
        for seconds, flop in rates.values():
            assert seconds > 0 and flop == 2 * 64 * 48 * 32


def test_real_epilogue_measurement(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kernels, "EPILOGUE_SHAPES", {"gelu": (16, 8, 32), "add": (16, 32, 8)})
    measured = MEASURE_EPILOGUES(repeats=1)
    assert set(measured) == set(EPILOGUES)
    for epilogue, rates in measured.items():
        assert set(rates) == ({"mkl", "onednn"} if kernels.onednn_linear_available() else {"mkl"})
        rows, fan_in, fan_out = kernels.EPILOGUE_SHAPES[epilogue]
        assert all(s > 0 and f == 2 * rows * fan_in * fan_out for s, f in rates.values())


@pytest.mark.parametrize("bias", [True, False])
def test_blas_epilogues_match_the_formula(bias: bool) -> None:
    """The default-BLAS inference epilogues (what ``measure_epilogues`` times against oneDNN): ``GELU(xWᵀ + b)``
    with the erf GELU and ``r + xWᵀ + b``, against float64; the residual is never written."""
    import torch

    gen = torch.Generator().manual_seed(0)
    x, w = torch.randn(37, 48, generator=gen), torch.randn(96, 48, generator=gen)  # (N, in), (out, in)
    b = torch.randn(96, generator=gen) if bias else None
    r = torch.randn(37, 96, generator=gen)  # (N, out)
    kept = r.clone()
    pre = x.double() @ w.double().t() + (b.double() if bias else 0.0)  # (N, out)
    gelu = 0.5 * pre * (1.0 + torch.erf(pre / 2.0**0.5))
    with torch.no_grad():
        torch.testing.assert_close(kernels.blas_linear_gelu(x, w, b).double(), gelu, rtol=0, atol=1e-5)
        torch.testing.assert_close(
            kernels.blas_linear_add(x, w, b, r).double(), r.double() + pre, rtol=0, atol=1e-5
        )
    assert torch.equal(r, kept)
