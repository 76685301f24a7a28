"""Foldseek's 3Di encoder network (10 → 10 → 10 → 2) and the nearest-centroid discretisation.

Weights: ``encoder_weights_3di.kerasify`` next to this module (Foldseek ``data/``, shipped byte-identical in
the biotite and mini3di wheels; see ``NOTICE``). The kerasify format (Foldseek ``lib/kerasify/keras_model.cpp``,
little-endian): ``uint32`` layer count; per layer ``uint32`` type (1 = Dense), then for a Dense layer
``uint32`` rows, columns and bias length, ``rows × columns`` float32 weights in ``[input][output]`` order, the
float32 biases, and a ``uint32`` activation (1 = linear, 2 = ReLU).

``KerasLayerDense::Apply`` computes, in float32, ``tmp[j] = 0; for i: tmp[j] += in[i] * w[i][j]; tmp[j] += b[j]``;
:meth:`EncoderNetwork.forward` accumulates in the same order, one IEEE operation per torch kernel, so the result
does not depend on BLAS blocking (CPU) or on cuBLAS (GPU). The network and :func:`discretize` also take NumPy
arrays (the CPU path of :mod:`.encoder`): the same operations in the same order, the same bits.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from protdata.errors import ProtdataError
from protdata.foldseek.alphabet import CENTROIDS, INVALID_STATE

#: File name of the shipped weights (inside the ``protdata.foldseek`` package).
WEIGHTS_FILE: str = "encoder_weights_3di.kerasify"

_DENSE = 1
_LINEAR, _RELU = 1, 2


@dataclass(frozen=True)
class DenseLayer:
    """One kerasify Dense layer: ``weight`` ``(in, out)`` float32, ``bias`` ``(out,)`` float32, ReLU or linear."""

    weight: Tensor
    bias: Tensor
    relu: bool


def parse_kerasify(data: bytes, source: str = "<kerasify>") -> list[DenseLayer]:
    """Decode a kerasify file made only of Dense layers (the 3Di encoder's format); bad bytes raise
    :class:`~protdata.errors.ProtdataError` naming the offset."""
    pos = 0

    def take(fmt: str) -> tuple:
        nonlocal pos
        size = struct.calcsize(fmt)
        if pos + size > len(data):
            raise ProtdataError(source, f"truncated kerasify file: need {size} bytes at offset {pos}")
        out = struct.unpack_from(fmt, data, pos)
        pos += size
        return out

    (num_layers,) = take("<I")
    layers = []
    for index in range(num_layers):
        (kind,) = take("<I")
        if kind != _DENSE:
            raise ProtdataError(
                source, f"layer {index}: unsupported kerasify layer type {kind} (only Dense = 1)"
            )
        rows, cols, nbias = take("<III")
        if rows == 0 or cols == 0 or nbias != cols:
            raise ProtdataError(source, f"layer {index}: bad Dense shape {rows}x{cols}, bias {nbias}")
        weight = torch.tensor(take(f"<{rows * cols}f"), dtype=torch.float32).view(rows, cols)
        bias = torch.tensor(take(f"<{nbias}f"), dtype=torch.float32)
        (activation,) = take("<I")
        if activation not in (_LINEAR, _RELU):
            raise ProtdataError(
                source, f"layer {index}: unsupported activation {activation} (linear/ReLU only)"
            )
        if layers and layers[-1].weight.shape[1] != rows:
            raise ProtdataError(source, f"layer {index}: input size {rows} != previous output size")
        layers.append(DenseLayer(weight, bias, activation == _RELU))
    if pos != len(data):
        raise ProtdataError(source, f"{len(data) - pos} trailing bytes after {num_layers} layers")
    return layers


class EncoderNetwork:
    """The 3Di VQ-VAE encoder: float32 features ``(M, 10)`` -> embeddings ``(M, 2)``, Foldseek's arithmetic."""

    def __init__(self, layers: list[DenseLayer]) -> None:
        self.layers = layers
        self._device_layers: dict[str, list[DenseLayer]] = {}
        self._numpy_layers = [
            (layer.weight.numpy().copy(), layer.bias.numpy().copy(), layer.relu) for layer in layers
        ]

    @classmethod
    def from_file(cls, path: str | Path) -> EncoderNetwork:
        path = Path(path)
        return cls(parse_kerasify(path.read_bytes(), str(path)))

    def on(self, device: torch.device) -> list[DenseLayer]:
        key = str(device)
        if key not in self._device_layers:
            self._device_layers[key] = [
                DenseLayer(layer.weight.to(device), layer.bias.to(device), layer.relu)
                for layer in self.layers
            ]
        return self._device_layers[key]

    def forward(self, x: Tensor | np.ndarray) -> Tensor | np.ndarray:
        """``(M, 10)`` float32 -> ``(M, 2)`` float32 (a torch tensor or a NumPy array, as given)."""
        if isinstance(x, np.ndarray):
            return self._forward_numpy(x)
        for layer in self.on(x.device):
            acc = x[:, 0:1] * layer.weight[0]  # (M, out); 0 + p is p
            for k in range(1, layer.weight.shape[0]):
                acc += x[:, k : k + 1] * layer.weight[k]
            acc += layer.bias
            x = torch.relu(acc) if layer.relu else acc  # ``if (x < 0) x = 0``
        return x

    def _forward_numpy(self, x: np.ndarray) -> np.ndarray:
        """:meth:`forward` in NumPy, feature-major: each step is one contiguous ``(out, M)`` outer-product update,
        ``acc[j] += x[k] * w[k][j]`` for k in order (the same operations as above, SIMD-friendly)."""
        h = np.ascontiguousarray(np.asarray(x, dtype=np.float32).T)  # (10, M)
        for weight, bias, relu in self._numpy_layers:
            acc = np.multiply(h[0], weight[0][:, None])  # (out, M)
            tmp = np.empty_like(acc)
            for k in range(1, weight.shape[0]):
                acc += np.multiply(h[k], weight[k][:, None], out=tmp)
            acc += bias[:, None]
            if relu:
                np.maximum(acc, np.float32(0.0), out=acc)  # ``if (x < 0) x = 0``; NaN stays NaN
            h = acc
        return h.T  # (M, out)

    __call__ = forward


@lru_cache(maxsize=1)
def default_network() -> EncoderNetwork:
    """The network with the shipped Foldseek weights (loaded once)."""
    resource = files("protdata.foldseek").joinpath(WEIGHTS_FILE)
    return EncoderNetwork(parse_kerasify(resource.read_bytes(), f"protdata/foldseek/{WEIGHTS_FILE}"))


def discretize(embedding: Tensor | np.ndarray) -> Tensor | np.ndarray:
    """Nearest centroid (``discretizeEmbeddings``, structureto3di.cpp:233-255). ``(M, 2)`` -> ``(M,)`` int64.

    Squared distances in float64, ``(e₀−c₀)² + (e₁−c₁)²``; the first (lowest-index) minimum wins; a non-finite
    embedding never passes Foldseek's ``sum < minDistance`` and keeps ``INVALID_STATE``.
    """
    if isinstance(embedding, np.ndarray):
        return _discretize_numpy(embedding)
    e = embedding.to(torch.float64)
    centroids = _centroids(e.device)  # (2, 20)
    d0 = e[:, 0:1] - centroids[0]  # (M, 20); in-place below: fewer large allocations
    d1 = e[:, 1:2] - centroids[1]
    state = (
        d0.mul_(d0).add_(d1.mul_(d1)).argmin(dim=1)
    )  # first minimum; squares of finite floats never overflow
    return state.masked_fill_(~torch.isfinite(embedding).all(dim=1), INVALID_STATE)


_CENTROIDS_NUMPY = np.array(CENTROIDS, dtype=np.float64).T.copy()  # (2, 20)


#: Below this many embeddings the NumPy discretisation uses one ``(M, 20)`` matrix (fewer calls), above it the
#: centroid loop (contiguous work, no ``(M, 20)`` temporaries). Both are exact.
_DISCRETIZE_MATRIX_MAX = 2048


def _discretize_numpy(embedding: np.ndarray) -> np.ndarray:
    """:func:`discretize` in NumPy (see :func:`_discretize_matrix` and :func:`_discretize_grid`)."""
    if embedding.shape[0] <= _DISCRETIZE_MATRIX_MAX:
        return _discretize_matrix(embedding)
    return _discretize_grid(embedding)


_GRID_CELLS = 256  # per axis


@lru_cache(maxsize=1)
def _centroid_grid() -> tuple[float, float, float, float, np.ndarray]:
    """A ``G x G`` grid over the centroids' neighbourhood: per cell, the centroid that is the strict nearest of
    every point of the cell (widened by a rounding margin), or −1 where that is not certain.

    Cell test: with dmin_k, dmax_k the least and greatest distance from the (widened) cell to centroid k, k is
    certain when every other centroid has dmin² > (min over centroids of dmax²) · (1 + 1e-9) + 1e-12: then k
    is closer than every other centroid by far more than the rounding of Foldseek's float64 sums, so its
    strict-``<`` loop picks k. Returns (x0, y0, 1 / cell width x, 1 / cell width y, (G * G,) int64).
    """
    c = _CENTROIDS_NUMPY  # (2, 20)
    lo, hi = c.min(axis=1), c.max(axis=1)
    pad = (hi - lo) * 0.5
    lo, hi = lo - pad, hi + pad
    width = (hi - lo) / _GRID_CELLS
    g = np.arange(_GRID_CELLS, dtype=np.float64)
    slack = width * 1e-6  # rounding of the cell assignment of points near a cell edge
    out = []
    for axis in range(2):
        a = (lo[axis] + g * width[axis] - slack[axis])[:, None]  # (G, 1) widened cell bounds
        b = (lo[axis] + (g + 1) * width[axis] + slack[axis])[:, None]
        ck = c[axis][None, :]  # (1, 20)
        near = np.maximum(np.maximum(a - ck, ck - b), 0.0)  # (G, 20) distance to the interval
        far = np.maximum(np.abs(a - ck), np.abs(b - ck))
        out.append((near * near, far * far))
    (nx, fx), (ny, fy) = out
    dmin2 = nx[:, None, :] + ny[None, :, :]  # (G, G, 20)
    dmax2 = fx[:, None, :] + fy[None, :, :]
    bound = dmax2.min(axis=2, keepdims=True) * (1 + 1e-9) + 1e-12
    possible = dmin2 <= bound  # (G, G, 20)
    unique = np.where(possible.sum(axis=2) == 1, possible.argmax(axis=2), -1).astype(np.int64)
    return float(lo[0]), float(lo[1]), float(1 / width[0]), float(1 / width[1]), unique.ravel()


def _discretize_grid(embedding: np.ndarray) -> np.ndarray:
    """:func:`discretize` in NumPy through :func:`_centroid_grid`: a table lookup for points whose cell has a
    certain nearest centroid; the others (near a Voronoi edge, outside the grid, non-finite) go through
    :func:`_discretize_matrix`. ``(M, 2)`` float32 -> ``(M,)`` int64."""
    x0, y0, sx, sy, table = _centroid_grid()
    e = embedding.astype(np.float64)
    ix = np.floor((e[:, 0] - x0) * sx)  # (M,) NaN stays NaN (fails the range test)
    iy = np.floor((e[:, 1] - y0) * sy)
    inside = (ix >= 0) & (ix < _GRID_CELLS) & (iy >= 0) & (iy < _GRID_CELLS)
    cell = np.where(inside, ix * _GRID_CELLS + iy, 0.0).astype(np.int64)
    state = np.take(table, cell)
    state[~inside] = -1
    rest = np.flatnonzero(state < 0)
    if rest.size:
        state[rest] = _discretize_matrix(np.take(embedding, rest, axis=0))
    return state


def _discretize_matrix(embedding: np.ndarray) -> np.ndarray:
    """All ``(M, 20)`` squared distances, first minimum per row; non-finite embeddings -> ``INVALID_STATE``."""
    e = embedding.astype(np.float64)
    d0 = e[:, 0:1] - _CENTROIDS_NUMPY[0]  # (M, 20)
    d1 = e[:, 1:2] - _CENTROIDS_NUMPY[1]
    d0 *= d0
    d1 *= d1
    d0 += d1  # (e0 - c0)² + (e1 - c1)²
    state = d0.argmin(axis=1)
    state[~np.isfinite(embedding).all(axis=1)] = INVALID_STATE
    return state.astype(np.int64, copy=False)


def _discretize_loop(embedding: np.ndarray) -> np.ndarray:
    """:func:`discretize` in NumPy, as Foldseek's loop over the centroids: a running minimum replaced on a strict
    ``<`` (first minimum wins; NaN or infinite distances never do). ``(M, 2)`` float32 -> ``(M,)`` int64."""
    e0 = embedding[:, 0].astype(np.float64)
    e1 = embedding[:, 1].astype(np.float64)
    best = np.full(e0.shape[0], np.inf)
    state = np.full(e0.shape[0], INVALID_STATE, dtype=np.int64)
    d = np.empty_like(best)
    t = np.empty_like(best)
    better = np.empty(best.shape, dtype=bool)
    for k in range(_CENTROIDS_NUMPY.shape[1]):
        np.subtract(e0, _CENTROIDS_NUMPY[0, k], out=d)
        d *= d
        np.subtract(e1, _CENTROIDS_NUMPY[1, k], out=t)
        t *= t
        d += t  # (e0 - c0)² + (e1 - c1)²
        np.less(d, best, out=better)
        np.copyto(best, d, where=better)
        np.copyto(state, k, where=better)
    return state


_CENTROID_CACHE: dict[str, Tensor] = {}


def _centroids(device: torch.device) -> Tensor:
    key = str(device)
    if key not in _CENTROID_CACHE:
        _CENTROID_CACHE[key] = torch.tensor(CENTROIDS, dtype=torch.float64).T.contiguous().to(device)
    return _CENTROID_CACHE[key]
