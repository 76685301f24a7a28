"""Serial fusion: ESM-GearNet's ``series`` branch -- sequence residues are the structure encoder's node input,
output ``[sequence ‖ structure]`` -- and graph pass-through for graph objectives."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from protenc_seq import ESM2Config, ESM2Encoder
from protenc_struct import GVPGNN, CDConvEncoder, GearNet
from protfusion import FusionError, SerialFusion

pytestmark = pytest.mark.numerics

SEQ = ESM2Config(num_layers=2, embed_dim=32, attention_heads=4)


def make(helpers, structure) -> SerialFusion:
    torch.manual_seed(0)
    return helpers.randomize_(SerialFusion(ESM2Encoder(SEQ), structure), 0).eval()


@pytest.mark.parametrize("kind", ["gearnet", "gvp"])
def test_is_sequence_then_structure_concatenated(helpers, batch, kind):
    """``FusionNetwork.forward``: ``output1 = sequence_model(graph)``, ``structure_model(graph, output1 node
    features)``, node and graph features concatenated (sequence first)."""
    if kind == "gearnet":
        structure = GearNet(input_dim=32, hidden_dims=[16, 16])
    else:
        structure = GVPGNN(node_in_dim=(32, 0), node_h_dim=(16, 4), edge_h_dim=(8, 1), num_layers=2)
    fusion = make(helpers, structure)
    with torch.no_grad():
        out = fusion(batch)
        seq = fusion.sequence(batch)
        struct = fusion.structure(batch, node_features=seq.residue)
    assert torch.equal(out.residue, torch.cat([seq.residue, struct.residue], dim=-1))
    assert torch.equal(out.protein, torch.cat([seq.protein, struct.protein], dim=-1))
    assert fusion.output_dim == 32 + structure.output_dim
    if kind == "gvp":
        assert torch.equal(out.extras["structure.vector"], struct.extras["vector"])


def test_graph_reaches_the_structure_encoder(helpers, batch):
    """What distance / angle / dihedral prediction do: build the graph, remove edges, encode on the edited graph."""
    fusion = make(helpers, GearNet(input_dim=32, hidden_dims=[16, 16]))
    graph = fusion.build_graph(batch)
    keep = torch.arange(graph.num_edges) % 3 != 0
    edited = replace(graph, edge_index=graph.edge_index[:, keep], relation=graph.relation[keep])
    with torch.no_grad():
        out = fusion(batch, graph=edited)
        seq = fusion.sequence(batch)
        want = fusion.structure(batch, node_features=seq.residue, graph=edited)
        default = fusion(batch)
    assert torch.equal(out.residue[..., 32:], want.residue)
    assert not torch.allclose(out.residue[..., 32:], default.residue[..., 32:])
    assert torch.equal(
        out.residue[..., :32], default.residue[..., :32]
    )  # the sequence half does not see graphs


def test_cdconv_builds_its_own_graphs(helpers, batch):
    fusion = make(helpers, CDConvEncoder(input_dim=32, hidden_dims=[8, 8, 8, 8]))
    assert getattr(fusion, "build_graph", None) is None  # graph objectives fall back to their graph-free path
    with pytest.raises(FusionError, match="CDConvEncoder builds its own graphs"):
        fusion(batch, graph=object())


def test_width_mismatch_is_a_clear_error():
    with pytest.raises(FusionError, match=r"32-d residue features .* takes 21-d .* input_dim=32"):
        SerialFusion(ESM2Encoder(SEQ), GearNet(hidden_dims=[8]))
    with pytest.raises(FusionError, match=r"node_in_dim=\[32, 0\]"):
        SerialFusion(ESM2Encoder(SEQ), GVPGNN())
