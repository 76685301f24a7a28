"""Foldseek's 3Di encoder network (10 → 10 → 10 → 2) and the nearest-centroid discretisation.

Weights: ``encoder_weights_3di.kerasify`` next to this module (Foldseek ``data/``, shipped byte-identical in
the biotite and mini3di wheels; see ``NOTICE``). The kerasify format (Foldseek ``lib/kerasify/keras_model.cpp``,
little-endian): ``uint32`` layer count; per layer ``uint32`` type (1 = Dense), then for a Dense layer
``uint32`` rows, columns and bias length, ``rows × columns`` float32 weights in ``[input][output]`` order, the
float32 biases, and a ``uint32`` activation (1 = linear, 2 = ReLU).

``KerasLayerDense::Apply`` computes, in float32, ``tmp[j] = 0; for i: tmp[j] += in[i] * w[i][j]; tmp[j] += b[j]``;
:meth:`EncoderNetwork.forward` accumulates in the same order, one IEEE operation per torch kernel, so the result
does not depend on BLAS blocking (CPU) or on cuBLAS (GPU).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

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

    def forward(self, x: Tensor) -> Tensor:
        """``(M, 10)`` float32 -> ``(M, 2)`` float32."""
        for layer in self.on(x.device):
            acc = x[:, 0:1] * layer.weight[0]  # (M, out); 0 + p is p
            for k in range(1, layer.weight.shape[0]):
                acc += x[:, k : k + 1] * layer.weight[k]
            acc += layer.bias
            x = torch.relu(acc) if layer.relu else acc  # ``if (x < 0) x = 0``
        return x

    __call__ = forward


@lru_cache(maxsize=1)
def default_network() -> EncoderNetwork:
    """The network with the shipped Foldseek weights (loaded once)."""
    resource = files("protdata.foldseek").joinpath(WEIGHTS_FILE)
    return EncoderNetwork(parse_kerasify(resource.read_bytes(), f"protdata/foldseek/{WEIGHTS_FILE}"))


def discretize(embedding: Tensor) -> Tensor:
    """Nearest centroid (``discretizeEmbeddings``, structureto3di.cpp:233-255). ``(M, 2)`` -> ``(M,)`` int64.

    Squared distances in float64, ``(e₀−c₀)² + (e₁−c₁)²``; the first (lowest-index) minimum wins; a non-finite
    embedding never passes Foldseek's ``sum < minDistance`` and keeps ``INVALID_STATE``.
    """
    e = embedding.to(torch.float64)
    centroids = _centroids(e.device)  # (2, 20)
    d0 = e[:, 0:1] - centroids[0]  # (M, 20); in-place below: fewer large allocations
    d1 = e[:, 1:2] - centroids[1]
    state = (
        d0.mul_(d0).add_(d1.mul_(d1)).argmin(dim=1)
    )  # first minimum; squares of finite floats never overflow
    return state.masked_fill_(~torch.isfinite(embedding).all(dim=1), INVALID_STATE)


_CENTROID_CACHE: dict[str, Tensor] = {}


def _centroids(device: torch.device) -> Tensor:
    key = str(device)
    if key not in _CENTROID_CACHE:
        _CENTROID_CACHE[key] = torch.tensor(CENTROIDS, dtype=torch.float64).T.contiguous().to(device)
    return _CENTROID_CACHE[key]
