"""Double-precision residue geometry of Foldseek's 3Di encoder: ideal Cβ and the virtual centre.

Foldseek ``lib/3di/structureto3di.cpp`` (commit d5b1d3d4) works on ``struct Vec3 { double x, y, z; }`` with
hand-written ``add``/``sub``/``scale``/``dot``/``cross``/``norm``. The functions here evaluate the same
expressions in the same order with one IEEE-754 operation per torch kernel (no fused multiply-add, no
reductions whose order torch may choose), so on CPU and GPU they give the bit pattern of Foldseek's code as
written (compiled without floating-point contraction); square roots go through :func:`sqrt` (correctly rounded
on every backend).

All tensors are ``(N, 3)`` float64; missing atoms are NaN and propagate (a NaN virtual centre is never a
partner, exactly as NaN distances never win Foldseek's strict ``<`` comparison). Every function takes torch
tensors or NumPy arrays (the CPU path of :mod:`.encoder` runs on NumPy): the same IEEE operations, the same bits.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

Array = Tensor | np.ndarray

#: Ideal Cα-Cβ distance in Å (``Alphabet3Di::DISTANCE_ALPHA_BETA``, structureto3di.h).
DISTANCE_ALPHA_BETA: float = 1.5336
#: Foldseek's value of π (``Alphabet3Di::PI``); not math.pi, and it matters in the last bits of cos(α).
FOLDSEEK_PI: float = 3.14159265359
#: Virtual-centre parameters ``VIRTUAL_CENTER = {alpha 270°, beta 0°, d 2}`` (structureto3di.h).
VIRTUAL_CENTER_ALPHA: float = 270.0
VIRTUAL_CENTER_BETA: float = 0.0
VIRTUAL_CENTER_D: float = 2.0

# Constants exactly as the C++ evaluates them (``degreeToRadians``: (deg / 180) * PI; libm cos/sin/sqrt, which
# CPython's math module calls too).
_ALPHA = (VIRTUAL_CENTER_ALPHA / 180) * FOLDSEEK_PI
_COS_ALPHA = math.cos(_ALPHA)
_SIN_ALPHA = math.sin(_ALPHA)
_ONE_MINUS_COS_ALPHA = 1 - _COS_ALPHA
_THIRD = 1 / 3.0
_MINUS_THIRD = -1 / 3.0
_SQRT3_HALF = math.sqrt(3) / 2.0
_SQRT8_THIRD = math.sqrt(8) / 3.0


def sqrt(x: Array) -> Array:
    """Correctly rounded square root (IEEE-754, as C's ``sqrt``) of a torch tensor or a NumPy array.

    torch's vectorised CPU ``sqrt`` is not always correctly rounded (measured with torch 2.15 on an AVX-512
    CPU: 1 ulp off for ~0.8 % of float64 inputs), so CPU tensors go through NumPy's ``sqrt``; CUDA's is exact.
    """
    if not isinstance(x, Tensor):
        return np.sqrt(x)
    if x.device.type == "cpu":
        return torch.from_numpy(np.sqrt(x.detach().numpy()))
    return x.sqrt()


def stack(parts: tuple[Array, ...]) -> Array:
    """``(N,)`` columns -> ``(N, k)`` for torch tensors or NumPy arrays. NumPy results are column-major
    (Fortran order), so that the column views ``a[:, 0]`` the functions here work on are contiguous."""
    return torch.stack(parts, dim=1) if isinstance(parts[0], Tensor) else np.stack(parts).T


def dot(a: Array, b: Array) -> Array:
    """``a.x*b.x + a.y*b.y + a.z*b.z`` evaluated left to right. ``(N, 3), (N, 3) -> (N,)``"""
    return (a[:, 0] * b[:, 0] + a[:, 1] * b[:, 1]) + a[:, 2] * b[:, 2]


def cross(a: Array, b: Array) -> Array:
    """Cross product, component formulas as in ``StructureTo3DiBase::cross``. ``(N, 3) -> (N, 3)``"""
    x = a[:, 1] * b[:, 2] - a[:, 2] * b[:, 1]
    y = a[:, 2] * b[:, 0] - a[:, 0] * b[:, 2]
    z = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]
    return stack((x, y, z))


def norm(a: Array) -> Array:
    """``a / sqrt(a.x² + a.y² + a.z²)`` (division, not multiplication by a reciprocal; 0/0 -> NaN as in C)."""
    length = sqrt(a[:, 0] * a[:, 0] + a[:, 1] * a[:, 1] + a[:, 2] * a[:, 2])  # (N,)
    return a / length[:, None]


def distance(a: Array, b: Array) -> Array:
    """``calcDistanceBetween``: ``sqrt(dx*dx + dy*dy + dz*dz)`` with ``d = a - b``. ``(N, 3) -> (N,)``"""
    d = a - b
    return sqrt(d[:, 0] * d[:, 0] + d[:, 1] * d[:, 1] + d[:, 2] * d[:, 2])


def ideal_cb(ca: Array, n: Array, c: Array) -> Array:
    """Cβ from ideal tetrahedral geometry (``approxCBetaPosition``, structureto3di.cpp:49-67).

    v1 = unit(C−Cα), v2 = unit(N−Cα), b1 = v2 + v1/3, b2 = v1 × b1, u1 = unit(b1), u2 = unit(b2);
    Cβ = Cα + 1.5336 · (−v1/3 + (√8/3)(−u1/2 − (√3/2) u2)).  ``(N, 3) x 3 -> (N, 3)``
    """
    v1 = norm(c - ca)
    v2 = norm(n - ca)
    b1 = v2 + v1 * _THIRD
    b2 = cross(v1, b1)
    u1 = norm(b1)
    u2 = norm(b2)
    v4 = v1 * _MINUS_THIRD + (u1 * -0.5 - u2 * _SQRT3_HALF) * _SQRT8_THIRD
    return ca + v4 * DISTANCE_ALPHA_BETA


def virtual_center(ca: Array, cb: Array, n: Array) -> Array:
    """Foldseek's virtual centre (``calcVirtualCenter``, structureto3di.cpp:73-98).

    Rodrigues' rotation of v = Cβ−Cα by α = 270° about k = unit((Cβ−Cα) × (N−Cα)):
    v' = v cos α + (k × v) sin α + k (k·v)(1 − cos α); the second rotation (β = 0° about N−Cα) is the
    identity in IEEE arithmetic for finite input and is skipped. Returns Cα + 2 v'.  ``(N, 3) -> (N, 3)``
    """
    v = cb - ca
    k = norm(cross(v, n - ca))
    v = (v * _COS_ALPHA + cross(k, v) * _SIN_ALPHA) + (k * dot(k, v)[:, None]) * _ONE_MINUS_COS_ALPHA
    return ca + v * VIRTUAL_CENTER_D
