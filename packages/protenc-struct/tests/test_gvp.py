"""GVP-GNN: seed configuration size, symmetry (invariant scalars, equivariant vectors), message averaging."""

from __future__ import annotations

import pytest
import torch

from protdata import ProteinBatch
from protdata.encoder import check_output
from protenc_struct import GVPGNN
from protenc_struct.layers.gvp import GVPConv

pytestmark = pytest.mark.numerics


def _gvp(si: int, vi: int, so: int, vo: int) -> int:
    """Parameters of one GVP with vector gate (Jing et al. 2021, Alg. 1 + gate)."""
    if not vi:
        return si * so + so
    h = max(vi, vo)
    n = vi * h + (h + si) * so + so
    if vo:
        n += h * vo + so * vo + vo
    return n


def test_seed_configuration_size():
    model = GVPGNN()
    assert model.output_dim == 256
    s, v, es, ev = 256, 16, 64, 1
    layer = (
        _gvp(2 * s + es, 2 * v + ev, s, v) + 2 * _gvp(s, v, s, v)  # 3 message GVPs
        + _gvp(s, v, 4 * s, 2 * v) + _gvp(4 * s, 2 * v, s, v)  # 2 feed-forward GVPs
        + 2 * 2 * s  # two layer norms
    )  # fmt: skip
    expected = (
        21 * 21  # residue_embdding
        + 2 * 21 + _gvp(21, 0, s, v)  # W_v
        + 2 * 16 + _gvp(16, 1, es, ev)  # W_e
        + 5 * layer
        + 2 * s + _gvp(s, v, s, 0)  # W_out
    )  # fmt: skip
    assert sum(p.numel() for p in model.parameters()) == expected


def test_invariance_and_equivariance(globins, helpers):
    torch.manual_seed(0)
    model = GVPGNN(num_layers=2).double().eval()
    batch = helpers.with_dtype(ProteinBatch.collate(globins[:2]), torch.float64)
    rotation = helpers.random_rotation(3)
    moved = helpers.transformed(batch, rotation, torch.tensor([-8.0, 25.0, 60.0]))
    a, b = model(batch), model(moved)
    check_output(a, batch, 256)
    torch.testing.assert_close(a.residue, b.residue, rtol=0, atol=1e-5)
    torch.testing.assert_close(a.protein, b.protein, rtol=0, atol=1e-5)
    va, vb = a.extras["vector"], b.extras["vector"]  # (B, L, 16, 3)
    assert va[a.mask].abs().max() > 0.1  # vectors are not trivially zero
    torch.testing.assert_close(vb, va @ rotation.T, rtol=0, atol=1e-5)  # they rotate with the input


def test_gvpconv_averages_messages_per_target():
    """Scatter-mean aggregation = explicit per-node average of the message GVP over incoming edges."""
    g = torch.Generator().manual_seed(0)
    conv = GVPConv((6, 3), (5, 2), (4, 1), n_layers=3, vector_gate=True).double()
    n, e = 12, 40
    x = (
        torch.randn(n, 6, generator=g, dtype=torch.float64),
        torch.randn(n, 3, 3, generator=g, dtype=torch.float64),
    )
    edge_attr = (
        torch.randn(e, 4, generator=g, dtype=torch.float64),
        torch.randn(e, 1, 3, generator=g, dtype=torch.float64),
    )
    edge_index = torch.randint(0, n - 2, (2, e), generator=g)  # nodes n-2, n-1 receive nothing
    s, v = conv(x, edge_index, edge_attr)
    for i in range(n):
        incoming = torch.nonzero(edge_index[1] == i).flatten().tolist()
        if not incoming:
            assert s[i].abs().max() == 0 and v[i].abs().max() == 0
            continue
        ms, mv = [], []
        for k in incoming:
            j = int(edge_index[0, k])
            inp = (
                torch.cat([x[0][j], edge_attr[0][k], x[0][i]])[None],
                torch.cat([x[1][j], edge_attr[1][k], x[1][i]])[None],
            )
            out = conv.message_func(inp)
            ms.append(out[0][0])
            mv.append(out[1][0])
        torch.testing.assert_close(s[i], torch.stack(ms).mean(0))
        torch.testing.assert_close(v[i], torch.stack(mv).mean(0))


def test_serial_fusion_input(globins):
    batch = ProteinBatch.collate(globins[:2])
    model = GVPGNN(node_in_dim=(1280, 0), num_layers=1).eval()
    out = model(batch, node_features=torch.randn(batch.num_residues, 1280))
    check_output(out, batch, 256)


@pytest.mark.parametrize("bad", [{"node_in_dim": (21, 3)}, {"edge_in_dim": (16, 2)}, {"unknown": 1}])
def test_unsupported_configs_are_rejected(bad):
    with pytest.raises(ValueError):
        GVPGNN(**bad)
