"""The CPU linear (oneDNN fused epilogues or F.linear, chosen by measurement) against plain ``F.linear`` + ops."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from protdata.kernels import ROLES, LinearChoice
from protenc_seq.esm2 import linear as linear_module
from protenc_seq.esm2.linear import (
    EPILOGUE_PASS,
    describe_kernels,
    linear,
    onednn_enabled,
    onednn_override,
    set_onednn,
)


@pytest.mark.parametrize("enabled", [True, False, None])
def test_fused_epilogues_match_plain_ops(enabled: bool | None) -> None:
    torch.manual_seed(0)
    layer = nn.Linear(48, 96)
    x, residual = torch.randn(37, 48), torch.randn(37, 96)
    with torch.no_grad():
        want = F.linear(x.double(), layer.weight.double(), layer.bias.double())
        previous = onednn_override()
        set_onednn(enabled)
        try:
            assert (linear(x, layer).double() - want).abs().max() < 1e-5
            assert (linear(x, layer, gelu=True).double() - F.gelu(want)).abs().max() < 1e-5
            kept = residual.clone()
            got = linear(x, layer, residual=residual).double()
            assert (got - (residual.double() + want)).abs().max() < 1e-5
            assert torch.equal(residual, kept)  # the in-place add never writes into the residual stream
        finally:
            set_onednn(previous)


def test_autograd_path_keeps_gradients() -> None:
    layer = nn.Linear(8, 4)
    x = torch.randn(5, 8, requires_grad=True)
    r = torch.randn(5, 4, requires_grad=True)
    (linear(x, layer, gelu=True).sum() + linear(x, layer, residual=r).sum()).backward()
    assert x.grad is not None and layer.weight.grad is not None and r.grad is not None


def _choice(forward: str, mkl: float, onednn: float) -> LinearChoice:
    backends = dict.fromkeys(ROLES, "mkl")
    backends["forward"] = forward  # type: ignore[assignment]
    return LinearChoice(backends, "measured", {"forward": {"mkl": mkl, "onednn": onednn}}, 2)  # type: ignore[arg-type]


@pytest.mark.skipif(not linear_module._AVAILABLE, reason="this torch has no oneDNN linear")
def test_backend_follows_measurement(monkeypatch: pytest.MonkeyPatch) -> None:
    previous = onednn_override()
    set_onednn(None)
    try:
        # oneDNN measured faster: every epilogue on oneDNN
        monkeypatch.setattr(linear_module, "cpu_linear_backend", lambda: _choice("onednn", 100.0, 150.0))
        assert onednn_enabled() and linear_module._onednn_for("add") and linear_module._onednn_for("gelu")
        # MKL a little faster: plain GEMMs on MKL, fused epilogues stay on oneDNN (a separate pass costs more)
        monkeypatch.setattr(linear_module, "cpu_linear_backend", lambda: _choice("mkl", 105.0, 100.0))
        assert not onednn_enabled() and linear_module._onednn_for("add") and linear_module._onednn_for("gelu")
        # MKL faster than the add pass costs but not the GELU pass
        between = 100.0 * (1 + (EPILOGUE_PASS["add"] + EPILOGUE_PASS["gelu"]) / 2)
        monkeypatch.setattr(linear_module, "cpu_linear_backend", lambda: _choice("mkl", between, 100.0))
        assert not linear_module._onednn_for("add") and linear_module._onednn_for("gelu")
        # MKL faster by more than the GELU pass: MKL everywhere
        fast = 100.0 * (1 + EPILOGUE_PASS["gelu"]) * 1.01
        monkeypatch.setattr(linear_module, "cpu_linear_backend", lambda: _choice("mkl", fast, 100.0))
        assert not linear_module._onednn_for("gelu")
        assert "+GELU F.linear" in describe_kernels()
        # a manual override wins over the measurement
        set_onednn(True)
        assert onednn_enabled() and "plain oneDNN" in describe_kernels()
    finally:
        set_onednn(previous)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_eval_after_data_writes_uses_the_new_weights(precision: str) -> None:
    """Weights written through ``.data`` (DeepSpeed ZeRO copying partitions back, torch's fused CPU Adam) bump no
    version counter, so the CPU inference caches (rotary-interleaved q/k/v, bf16 weight copies) cannot see them;
    the next ``eval()`` -- what validation does -- drops the caches: the model then computes exactly what a fresh
    copy with the same weights computes."""
    from protenc_seq import ESM2, ESM2Config

    config = ESM2Config(num_layers=2, embed_dim=32, attention_heads=4)
    torch.manual_seed(0)
    model = ESM2(config).eval()
    tokens = torch.randint(4, 24, (3, 20))
    bf16 = torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")
    with torch.no_grad(), bf16:
        model(tokens)  # fills the caches
    with torch.no_grad():
        for p in model.parameters():
            p.data.add_(0.1 * torch.randn_like(p))  # no version bump
    model.train()
    model.eval()
    fresh = ESM2(config)
    fresh.load_state_dict(model.state_dict())
    fresh.eval()
    with torch.no_grad(), bf16:
        assert torch.equal(model(tokens).logits, fresh(tokens).logits)
