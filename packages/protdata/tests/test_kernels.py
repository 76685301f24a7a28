"""protdata.kernels: the per-role CPU GEMM backend is chosen by measurement (margin rule), forced by the
environment, cached per machine and re-read from the cache."""

from __future__ import annotations

import json

import pytest

from protdata import kernels
from protdata.device import DeviceError
from protdata.kernels import ROLES, LinearChoice, cpu_linear_backend, decide


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
    # a new process (memo cleared) reads the cache and does not measure again
    kernels._choice_for.cache_clear()
    again = cpu_linear_backend()
    assert again.source == "cache" and calls == [1] and again.backends == choice.backends
    entry = next(iter(json.loads(kernels.cache_path().read_text()).values()))
    assert entry["backends"] == choice.backends


@pytest.mark.skipif(not kernels.onednn_linear_available(), reason="torch built without oneDNN")
def test_corrupt_cache_is_measured_again(fresh, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(kernels, "measure_linear_backends", _fake_measure(calls, set(ROLES)))
    kernels.cache_path().parent.mkdir(parents=True)
    kernels.cache_path().write_text("{not json")
    assert cpu_linear_backend().backends == dict.fromkeys(ROLES, "onednn") and calls == [1]


def test_environment_forces_a_backend(fresh, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kernels, "measure_linear_backends", lambda *a, **k: pytest.fail("measured"))
    monkeypatch.setenv(kernels.ENV, "mkl")
    assert cpu_linear_backend() == LinearChoice(
        dict.fromkeys(ROLES, "mkl"), "env", {}, cpu_linear_backend().threads
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
