"""Ideal Cβ and virtual centre against their geometric definitions (spec §2.1-2.2) and real Cβ atoms.

Truths: a regular tetrahedron (for an ideal N-Cα-C angle the ideal Cβ is 1.5336 Å from Cα at 109.47° to N and
C), the Cβ atoms of real residues (position and chirality), and the definition of the virtual centre
(Cβ−Cα rotated by 270° about the normal of the Cα-Cβ-N plane, doubled in length).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from protdata import load_chains
from protdata.constants import ATOM_C, ATOM_CA, ATOM_CB, ATOM_N
from protdata.foldseek.geometry import DISTANCE_ALPHA_BETA, cross, dot, ideal_cb, norm, sqrt, virtual_center
from protdata.testing import shared_data


@pytest.fixture(scope="module")
def backbone() -> dict[str, torch.Tensor]:
    proteins = load_chains(shared_data("foldseek", "structures", "5h73.cif"))
    proteins += load_chains(shared_data("foldseek", "structures", "1igy.cif"))
    coords = np.concatenate([p.coords for p in proteins]).astype(np.float64)
    mask = np.concatenate([p.atom_mask for p in proteins])
    full = mask[:, [ATOM_N, ATOM_CA, ATOM_C, ATOM_CB]].all(axis=1)
    x = torch.from_numpy(coords[full])
    return {"n": x[:, ATOM_N], "ca": x[:, ATOM_CA], "c": x[:, ATOM_C], "cb": x[:, ATOM_CB]}


def angle(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.rad2deg(torch.acos((dot(norm(a), norm(b))).clamp(-1, 1)))


def test_ideal_cb_on_a_regular_tetrahedron() -> None:
    """With N-Cα-C at the tetrahedral angle, Cβ completes a regular tetrahedron: |Cβ−Cα| = 1.5336 Å and
    N-Cα-Cβ = C-Cα-Cβ = arccos(−1/3), with Cβ on the L-amino-acid side ((N−Cα) × (C−Cα) · (Cβ−Cα) > 0)."""
    gen = torch.Generator().manual_seed(0)
    tet = math.acos(-1 / 3)
    c = torch.tensor([[1.53, 0.0, 0.0]], dtype=torch.float64)
    n = 1.46 * torch.tensor([[math.cos(tet), math.sin(tet), 0.0]], dtype=torch.float64)
    rot, _ = torch.linalg.qr(torch.randn(3, 3, generator=gen, dtype=torch.float64))
    shift = torch.randn(1, 3, generator=gen, dtype=torch.float64) * 30
    ca, n, c = shift, n @ rot.T + shift, c @ rot.T + shift
    cb = ideal_cb(ca, n, c)
    torch.testing.assert_close(
        (cb - ca).norm(dim=1), torch.tensor([DISTANCE_ALPHA_BETA], dtype=torch.float64)
    )
    for other in (n, c):
        torch.testing.assert_close(
            angle(other - ca, cb - ca), torch.tensor([math.degrees(tet)], dtype=torch.float64)
        )


def test_ideal_cb_approximates_real_cb(backbone) -> None:
    cb = ideal_cb(backbone["ca"], backbone["n"], backbone["c"])
    err = (cb - backbone["cb"]).norm(dim=1)
    assert len(err) > 500
    assert float(err.median()) < 0.25  # the ideal Cβ sits where real Cβ atoms are
    assert float((err < 0.5).float().mean()) > 0.95
    d = (cb - backbone["ca"]).norm(dim=1)
    assert float((d - DISTANCE_ALPHA_BETA).abs().max()) < 0.1  # exact only for an ideal N-Cα-C angle
    # Chirality: the ideal Cβ is on the same side of the N-Cα-C plane as the real (L-amino-acid) Cβ.
    ca, n, c = backbone["ca"], backbone["n"], backbone["c"]
    side = torch.sign(dot(cross(n - ca, c - ca), cb - ca)) * torch.sign(
        dot(cross(n - ca, c - ca), backbone["cb"] - ca)
    )
    assert float((side > 0).float().mean()) > 0.99


def test_virtual_centre_is_the_rotated_doubled_cb(backbone) -> None:
    ca, cb, n = backbone["ca"], backbone["cb"], backbone["n"]
    vc = virtual_center(ca, cb, n)
    v, w = cb - ca, vc - ca
    torch.testing.assert_close(w.norm(dim=1), 2 * v.norm(dim=1), rtol=1e-12, atol=0)  # |V−Cα| = 2|Cβ−Cα|
    torch.testing.assert_close(angle(v, w), torch.full_like(w[:, 0], 90.0), atol=1e-6, rtol=0)  # 270° ≡ −90°
    normal = norm(cross(v, n - ca))
    torch.testing.assert_close(dot(normal, w), torch.zeros_like(w[:, 0]), atol=1e-9, rtol=0)  # in the plane
    # Sense of rotation: by +270° about k = v × (N−Cα), i.e. −90°: (k × v)·w = −|v||w|.
    sense = dot(cross(normal, norm(v)), norm(w))
    torch.testing.assert_close(sense, -torch.ones_like(sense), atol=1e-9, rtol=0)


def test_missing_atoms_propagate_nan(backbone) -> None:
    n = backbone["n"].clone()
    n[3] = float("nan")
    vc = virtual_center(backbone["ca"], backbone["cb"], n)
    assert torch.isnan(vc[3]).all() and torch.isfinite(vc[[0, 1, 2, 4]]).all()
    c = backbone["c"].clone()
    c[5] = float("nan")
    assert torch.isnan(ideal_cb(backbone["ca"], backbone["n"], c)[5]).all()


def test_sqrt_is_correctly_rounded_on_both_backends() -> None:
    """C's ``sqrt`` (IEEE-754 correctly rounded; CPython's ``math.sqrt``) for torch tensors and NumPy arrays."""
    values = np.abs(np.random.default_rng(0).standard_normal(20000) * 900.0)
    want = np.array([math.sqrt(v) for v in values])
    np.testing.assert_array_equal(sqrt(values), want)
    np.testing.assert_array_equal(sqrt(torch.from_numpy(values)).numpy(), want)


def scalar_virtual_center(ca: list[float], cb: list[float], n: list[float]) -> list[float]:
    """``calcVirtualCenter`` in plain Python floats (IEEE double, C++ operation order, no contraction)."""
    from protdata.foldseek import geometry as g

    def sub(a, b):
        return [a[0] - b[0], a[1] - b[1], a[2] - b[2]]

    def crs(a, b):
        return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]

    def unit(a):
        length = math.sqrt(a[0] * a[0] + a[1] * a[1] + a[2] * a[2])
        return [a[0] / length, a[1] / length, a[2] / length]

    v = sub(cb, ca)
    k = unit(crs(v, sub(n, ca)))
    kv, kdv = crs(k, v), (k[0] * v[0] + k[1] * v[1]) + k[2] * v[2]
    rot = [
        (v[i] * g._COS_ALPHA + kv[i] * g._SIN_ALPHA) + (k[i] * kdv) * g._ONE_MINUS_COS_ALPHA for i in range(3)
    ]
    return [ca[i] + rot[i] * g.VIRTUAL_CENTER_D for i in range(3)]


def test_virtual_centre_is_bit_identical_to_scalar_code(backbone) -> None:
    """Every bit, on torch tensors and on NumPy arrays in either memory order (the CPU path is column-major)."""
    ca, cb, n = backbone["ca"], backbone["cb"], backbone["n"]
    want = np.array([scalar_virtual_center(*rows) for rows in zip(ca.tolist(), cb.tolist(), n.tolist())])
    np.testing.assert_array_equal(virtual_center(ca, cb, n).numpy(), want)
    np.testing.assert_array_equal(virtual_center(ca.numpy(), cb.numpy(), n.numpy()), want)
    fortran = [np.asfortranarray(t.numpy()) for t in (ca, cb, n)]
    np.testing.assert_array_equal(virtual_center(*fortran), want)
