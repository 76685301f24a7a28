"""The shipped weights, the kerasify decoder, the float32 network and the centroid discretisation.

Truths: the byte-identical weight files inside the installed biotite and mini3di wheels, biotite's own kerasify
parser and centroid table, a scalar float32 emulation of Foldseek's ``KerasLayerDense::Apply`` loop
(``numpy.float32`` arithmetic, one operation at a time), and a plain-Python nearest-centroid loop.
"""

from __future__ import annotations

import hashlib
import struct
from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest
import torch

from protdata.errors import ProtdataError
from protdata.foldseek import CENTROIDS, INVALID_STATE, default_network, parse_kerasify
from protdata.foldseek import network as network_module
from protdata.foldseek.network import WEIGHTS_FILE, discretize

pytestmark = pytest.mark.numerics

SHIPPED = files("protdata.foldseek").joinpath(WEIGHTS_FILE)


def installed_copy(package: str) -> Path:
    module = pytest.importorskip(package)
    folder = Path(module.__file__).parent
    if package == "biotite":
        folder = folder / "structure" / "alphabet"
    return folder / WEIGHTS_FILE


def test_shipped_weights_are_package_data_and_match_foldseek_size() -> None:
    data = SHIPPED.read_bytes()
    assert len(data) == 1032  # spec §2.7
    notice = files("protdata.foldseek").joinpath("NOTICE").read_text()
    assert "GPL" in notice and "biotite" in notice and "mini3di" in notice


@pytest.mark.parametrize("package", ["biotite", "mini3di"])
def test_shipped_weights_are_byte_identical_to_wheels(package: str) -> None:
    other = installed_copy(package)
    assert hashlib.sha256(other.read_bytes()).digest() == hashlib.sha256(SHIPPED.read_bytes()).digest()


def test_decoder_matches_biotite_parser() -> None:
    unkerasify = pytest.importorskip("biotite.structure.alphabet.unkerasify")
    theirs = unkerasify.load_kerasify(installed_copy("biotite"))
    ours = parse_kerasify(SHIPPED.read_bytes())
    assert [tuple(layer.weight.shape) for layer in ours] == [(10, 10), (10, 10), (10, 2)]
    assert [layer.relu for layer in ours] == [True, True, False]
    assert len(theirs) == len(ours)
    for mine, ref in zip(ours, theirs):
        np.testing.assert_array_equal(mine.weight.numpy(), ref.weights)
        np.testing.assert_array_equal(mine.bias.numpy(), ref.biases)
        assert mine.relu == ref.activation


def test_centroids_match_biotite_and_mini3di() -> None:
    encoder = pytest.importorskip("biotite.structure.alphabet.encoder")
    np.testing.assert_array_equal(np.array(CENTROIDS), encoder.Encoder._CENTROIDS)
    mini3di = pytest.importorskip("mini3di")
    np.testing.assert_array_equal(np.array(CENTROIDS), mini3di.Encoder._CENTROIDS)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b[:-3], "truncated"),
        (lambda b: b + b"\0\0\0\0", "trailing"),
        (lambda b: struct.pack("<I", 1) + struct.pack("<I", 7) + b[8:], "layer type"),
        (lambda b: b[:-4] + struct.pack("<I", 9), "activation"),
    ],
)
def test_bad_kerasify_is_a_clear_error(mutate, message: str) -> None:
    with pytest.raises(ProtdataError, match=message):
        parse_kerasify(mutate(SHIPPED.read_bytes()), "weights.kerasify")


def emulate_keras_dense(x: np.ndarray) -> np.ndarray:
    """Foldseek ``KerasLayerDense::Apply`` on one input, in numpy.float32 scalars: tmp(j) = 0; for i, j:
    tmp(j) += in(i) * w(i, j); tmp(j) += b(j); ReLU ``if (x < 0) x = 0``."""
    out = [np.float32(v) for v in x]
    for layer in parse_kerasify(SHIPPED.read_bytes()):
        w, b = layer.weight.numpy(), layer.bias.numpy()
        tmp = [np.float32(0.0)] * w.shape[1]
        for i in range(w.shape[0]):
            for j in range(w.shape[1]):
                tmp[j] = np.float32(tmp[j] + np.float32(out[i] * w[i, j]))
        tmp = [np.float32(t + b[j]) for j, t in enumerate(tmp)]
        out = [np.float32(0.0) if (layer.relu and t < 0) else t for t in tmp]
    return np.array(out, dtype=np.float32)


def test_network_is_bit_identical_to_scalar_float32_emulation() -> None:
    gen = torch.Generator().manual_seed(0)
    x = (torch.randn(200, 10, generator=gen) * torch.tensor([1, 1, 1, 1, 1, 1, 1, 8, 3, 2])).float()
    got = default_network()(x).numpy()
    want = np.stack([emulate_keras_dense(row) for row in x.numpy()])
    np.testing.assert_array_equal(got, want)


def test_numpy_network_is_bit_identical_to_scalar_float32_emulation() -> None:
    """The NumPy path (feature-major outer-product updates) against the same per-element emulation."""
    gen = np.random.default_rng(3)
    x = (gen.standard_normal((300, 10)) * [1, 1, 1, 1, 1, 1, 1, 8, 3, 2]).astype(np.float32)
    x[5, 2] = np.nan  # NaN propagates, as in Foldseek's loop
    got = default_network()(x)
    assert isinstance(got, np.ndarray) and got.dtype == np.float32 and got.shape == (300, 2)
    want = np.stack([emulate_keras_dense(row) for row in x])
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got, default_network()(torch.from_numpy(x)).numpy())


def test_network_matches_biotite_model() -> None:
    encoder = pytest.importorskip("biotite.structure.alphabet.encoder")
    model = encoder.Encoder().vae_encoder
    x = torch.randn(500, 10, generator=torch.Generator().manual_seed(1)).float()
    hidden = x.numpy()
    for layer in model.layers[:-1]:  # biotite's Dense layers (matmul order differs: tolerance)
        hidden = layer(hidden)
    np.testing.assert_allclose(default_network()(x).numpy(), hidden, rtol=1e-5, atol=1e-5)


def nearest_centroid(e: tuple[float, float]) -> int:
    """``discretizeEmbeddings`` for one residue in plain Python floats."""
    state, best = INVALID_STATE, float("inf")
    for k, (c0, c1) in enumerate(CENTROIDS):
        total = 0.0
        total += (e[0] - c0) ** 2
        total += (e[1] - c1) ** 2
        if total < best:
            state, best = k, total
    return state


def test_discretize_matches_loop_including_ties_and_nan() -> None:
    gen = torch.Generator().manual_seed(2)
    e = (torch.rand(2000, 2, generator=gen) * 8 - 4).float()
    # exact midpoints between centroid pairs (ties -> lower index) and non-finite embeddings (-> invalid)
    c = torch.tensor(CENTROIDS, dtype=torch.float64)
    mid = ((c[:, None] + c[None]) / 2).view(-1, 2).float()
    e = torch.cat([e, mid, torch.tensor([[float("nan"), 0.0], [float("inf"), 1.0]])])
    got = discretize(e).tolist()
    want = [nearest_centroid((float(a), float(b))) for a, b in e.double().tolist()]
    assert got == want
    assert got[-2:] == [INVALID_STATE, INVALID_STATE]
    # NumPy: the (M, 20) matrix (small inputs) and the centroid loop (large inputs) give the same states
    for name in ("_discretize_matrix", "_discretize_loop", "_discretize_grid", "_discretize_numpy"):
        assert getattr(network_module, name)(e.numpy()).tolist() == want, name
    assert discretize(e.numpy()).tolist() == want
