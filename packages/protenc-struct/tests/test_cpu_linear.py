"""protenc_struct.layers.cpu_linear against float64 ``F.linear`` and its autograd (the independent truth), for every
assignment of backends to the three GEMM roles."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from protdata.kernels import ROLES
from protenc_struct.layers import cpu_linear
from protenc_struct.layers.cpu_linear import backends, linear, set_backends

pytestmark = pytest.mark.numerics

needs_onednn = pytest.mark.skipif(not cpu_linear._AVAILABLE, reason="torch built without oneDNN")
#: all 8 assignments of {onednn, mkl} to (forward, grad_input, grad_weight)
ASSIGNMENTS = [
    dict(zip(ROLES, combo, strict=True)) for combo in itertools.product(("onednn", "mkl"), repeat=3)
]


def _reference(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None, g: torch.Tensor):
    x64 = x.detach().double().requires_grad_()
    w64 = w.detach().double().requires_grad_()
    b64 = b.detach().double().requires_grad_() if b is not None else None
    y = F.linear(x64, w64, b64)
    y.backward(g.double())
    return y, x64.grad, w64.grad, (b64.grad if b64 is not None else None)


@needs_onednn
@pytest.mark.parametrize("roles", ASSIGNMENTS, ids=lambda r: "-".join(r.values()))
@pytest.mark.parametrize(
    ("n", "d_in", "d_out", "bias"), [(37, 21, 16, True), (300, 7 * 64, 64, True), (5, 8, 3, False)]
)
def test_forward_and_gradients_match_float64(roles: dict, n: int, d_in: int, d_out: int, bias: bool) -> None:
    gen = torch.Generator().manual_seed(n)
    x = torch.randn(n, d_in, generator=gen).requires_grad_()
    w = (torch.randn(d_out, d_in, generator=gen) / d_in**0.5).requires_grad_()
    b = torch.randn(d_out, generator=gen).requires_grad_() if bias else None
    g = torch.randn(n, d_out, generator=gen)
    previous = set_backends(roles)
    try:
        y = linear(x, w, b)
    finally:
        set_backends(previous)
    custom = y.grad_fn is not None and "RoleLinear" in type(y.grad_fn).__name__
    assert custom == ("onednn" in roles.values())  # plain F.linear autograd when every role is MKL
    y.backward(g)
    y_ref, gx, gw, gb = _reference(x, w, b, g)
    torch.testing.assert_close(y.double(), y_ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(x.grad.double(), gx, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(w.grad.double(), gw, rtol=1e-5, atol=1e-4)
    if bias:
        torch.testing.assert_close(b.grad.double(), gb, rtol=1e-5, atol=1e-4)


@needs_onednn
def test_non_contiguous_input_and_frozen_weight() -> None:
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(24, 40, generator=gen)[:, ::2].requires_grad_()  # (24, 20), strided
    w = torch.randn(6, 20, generator=gen)  # no gradient wanted
    previous = set_backends("onednn")
    try:
        y = linear(x, w)
    finally:
        set_backends(previous)
    y.sum().backward()
    torch.testing.assert_close(y, F.linear(x.detach(), w), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(x.grad, w.sum(0).expand(24, 20), rtol=1e-5, atol=1e-5)


def test_falls_back_to_f_linear_where_it_does_not_apply() -> None:
    gen = torch.Generator().manual_seed(2)
    w = torch.randn(4, 8, generator=gen)
    cases = [torch.randn(2, 3, 8, generator=gen), torch.randn(5, 8, generator=gen).double()]
    previous = set_backends("onednn")
    try:
        for x in cases:
            y = linear(x.requires_grad_(), w.to(x.dtype))
            assert y.grad_fn is None or "RoleLinear" not in type(y.grad_fn).__name__
            torch.testing.assert_close(y, F.linear(x, w.to(x.dtype)))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = linear(torch.randn(5, 8, generator=gen), w)
        assert y.dtype == torch.bfloat16  # autocast's F.linear, not the float32 path
    finally:
        set_backends(previous)


def test_override_and_back_to_the_measured_choice() -> None:
    previous = set_backends({"forward": "onednn"})
    try:
        expected = "onednn" if cpu_linear._AVAILABLE else "mkl"
        assert backends() == {"forward": expected, "grad_input": "mkl", "grad_weight": "mkl"}
        with pytest.raises(ValueError, match="grad_input"):
            set_backends({"forward": "blas"})
        set_backends(None)
        from protdata.kernels import cpu_linear_backend

        assert backends() == (
            cpu_linear_backend().backends if cpu_linear._AVAILABLE else dict.fromkeys(ROLES, "mkl")
        )
    finally:
        set_backends(previous)


@needs_onednn
def test_linear_module_is_a_drop_in_nn_linear() -> None:
    torch.manual_seed(3)
    ours = cpu_linear.Linear(12, 5)
    plain = torch.nn.Linear(12, 5)
    plain.load_state_dict(ours.state_dict())  # same names and shapes
    x = torch.randn(9, 12)
    previous = set_backends("onednn")
    try:
        y = ours(x)
    finally:
        set_backends(previous)
    assert "RoleLinear" in type(y.grad_fn).__name__
    torch.testing.assert_close(y, plain(x), rtol=1e-5, atol=1e-5)
