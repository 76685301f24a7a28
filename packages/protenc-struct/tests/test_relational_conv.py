"""GearNet's relational convolution vs dense per-relation adjacency matrices."""

from __future__ import annotations

import pytest
import torch

from protenc_struct.layers.relational_conv import GeometricRelationalGraphConv

pytestmark = pytest.mark.numerics


def test_matches_dense_adjacency():
    g = torch.Generator().manual_seed(0)
    n, r, d_in, d_out, e = 30, 7, 5, 6, 200
    x = torch.randn(n, d_in, generator=g, dtype=torch.float64)
    edge_index = torch.randint(0, n, (2, e), generator=g)
    relation = torch.randint(0, r, (e,), generator=g)
    weight = torch.rand(e, generator=g, dtype=torch.float64)
    edge_input = torch.randn(e, 4, generator=g, dtype=torch.float64)
    layer = GeometricRelationalGraphConv(d_in, d_out, r, edge_input_dim=4, batch_norm=True).double().eval()
    with torch.no_grad():
        layer.batch_norm.running_mean.uniform_(-1, 1)
        layer.batch_norm.running_var.uniform_(0.5, 2)
        out = layer(x, edge_index, relation, weight, edge_input)
        # dense: A_r[i, j] = Σ weights of edges j → i of relation r (duplicates add up)
        blocks = []
        edge_message = layer.edge_linear(edge_input)  # (E, d_in)
        for rel in range(r):
            a = torch.zeros(n, n, dtype=torch.float64)
            m = torch.zeros(n, d_in, dtype=torch.float64)
            for k in torch.nonzero(relation == rel).flatten().tolist():
                j, i = edge_index[:, k].tolist()
                a[i, j] += weight[k]
                m[i] += weight[k] * edge_message[k]
            blocks.append(a @ x + m)
        dense = layer.linear(torch.cat(blocks, dim=1)) + layer.self_loop(x)
        dense = torch.relu(layer.batch_norm(dense))
    torch.testing.assert_close(out, dense, rtol=1e-12, atol=1e-12)
