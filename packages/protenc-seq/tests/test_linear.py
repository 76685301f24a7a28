"""The CPU linear (oneDNN fused epilogues or F.linear, chosen by measurement) against plain ``F.linear`` + ops."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from protdata.kernels import EPILOGUES, ROLES, LinearChoice
from protenc_seq.esm2 import linear as linear_module
from protenc_seq.esm2.linear import (
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


@pytest.mark.parametrize("enabled", [True, False])
def test_gradients_of_bias_or_residual_alone_are_kept(enabled: bool) -> None:
    """A frozen weight with a trainable bias (or only the residual requiring gradients) must not take the
    autograd-free paths (oneDNN kernels, in-place BLAS epilogues): the gradients equal F.linear's."""
    previous = onednn_override()
    set_onednn(enabled)
    try:
        torch.manual_seed(0)
        layer = nn.Linear(8, 4)
        layer.weight.requires_grad_(False)
        x, r = torch.randn(5, 8), torch.randn(5, 4, requires_grad=True)
        (linear(x, layer, gelu=True).sum() + linear(x, layer, residual=r).sum()).backward()
        y = F.linear(x, layer.weight, layer.bias.detach().requires_grad_())
        want = torch.autograd.grad((F.gelu(y) + y).sum(), y)[0].sum(0)  # d/d bias of both terms
        torch.testing.assert_close(layer.bias.grad, want)
        torch.testing.assert_close(r.grad, torch.ones(5, 4))
    finally:
        set_onednn(previous)


def _choice(forward: str, gelu: str, add: str) -> LinearChoice:
    backends = dict.fromkeys(ROLES, "mkl")
    backends["forward"] = forward  # type: ignore[assignment]
    return LinearChoice(backends, "measured", {}, 2, {"gelu": gelu, "add": add})  # type: ignore[arg-type]


@pytest.mark.skipif(not linear_module._AVAILABLE, reason="this torch has no oneDNN linear")
def test_backend_follows_measurement(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each inference GEMM runs where it was measured faster with its epilogue, independently of the others."""
    previous = onednn_override()
    set_onednn(None)
    try:
        for forward in ("mkl", "onednn"):
            for gelu in ("mkl", "onednn"):
                for add in ("mkl", "onednn"):
                    choice = _choice(forward, gelu, add)
                    monkeypatch.setattr(linear_module, "cpu_linear_backend", lambda c=choice: c)
                    assert onednn_enabled() == (forward == "onednn")
                    assert linear_module._onednn_for("gelu") == (gelu == "onednn")
                    assert linear_module._onednn_for("add") == (add == "onednn")
        # the AMD EPYC case: oneDNN's plain GEMM close, its fused GELU slower than F.linear + F.gelu
        monkeypatch.setattr(linear_module, "cpu_linear_backend", lambda: _choice("mkl", "mkl", "mkl"))
        assert "+GELU F.linear" in describe_kernels()
        # a choice without epilogue entries (older cache layout) follows the forward backend
        bare = LinearChoice(dict.fromkeys(ROLES, "onednn"), "measured", {}, 2)  # type: ignore[arg-type]
        assert all(bare.inference(e) == "onednn" for e in ("none", *EPILOGUES))
        # a manual override wins over the measurement
        set_onednn(True)
        assert onednn_enabled() and "plain oneDNN" in describe_kernels()
    finally:
        set_onednn(previous)


@pytest.mark.skipif(not linear_module._AVAILABLE, reason="this torch has no oneDNN linear")
def test_bf16_only_on_native_cpus_and_its_failure_keeps_fp32(monkeypatch: pytest.MonkeyPatch) -> None:
    """An AVX2-only CPU (AMD EPYC Zen 3) has no oneDNN bf16 inner product: bf16 takes F.linear there, and a bf16
    primitive that fails to build leaves the float32 oneDNN kernels in use."""
    torch.manual_seed(0)
    layer = nn.Linear(32, 48)
    x = torch.randn(5, 32)
    previous = onednn_override()
    set_onednn(True)
    try:
        monkeypatch.setattr(linear_module, "_native_bf16", lambda: False)
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            assert linear_module._fusable(x, layer, "none") is None  # F.linear: torch's emulated bf16
            y = linear(x, layer)
        want = F.linear(x.double(), layer.weight.double(), layer.bias.double())
        assert y.dtype == torch.bfloat16 and (y.double() - want).abs().max() < 0.05
        assert "bf16 F.linear" in describe_kernels()
        monkeypatch.setattr(linear_module, "_native_bf16", lambda: True)
        monkeypatch.setattr(linear_module, "_broken", {torch.bfloat16})  # bf16 failed once in this process
        with torch.no_grad():
            assert linear_module._fusable(x, layer, "none") == torch.float32
            with torch.autocast("cpu", dtype=torch.bfloat16):
                assert linear_module._fusable(x, layer, "none") is None
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
