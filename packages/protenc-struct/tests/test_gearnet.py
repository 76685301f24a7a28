"""GearNet / GearNet-Edge: TorchDrug parity, seed configuration, invariance, encoder contract."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from protdata import ProteinBatch
from protdata.encoder import check_output
from protenc_struct import GearNet, GearNetEdgeConfig, StructureInputError, gearnet_edge_features

pytestmark = pytest.mark.numerics


def _torchdrug_gearnet(golden) -> GearNet:
    """Our GearNet with TorchDrug's parameters from the fixture (width 32, 6 layers), eval mode."""
    model = GearNet(hidden_dims=[32] * 6)
    model.load_state_dict({k.removeprefix("param."): v for k, v in golden.items() if k.startswith("param.")})
    return model.eval()


def test_reproduces_torchdrug_on_its_own_graph(golden):
    """TorchDrug's edge list, inputs and parameters → its node and graph outputs (≤ 1e-5)."""
    model = _torchdrug_gearnet(golden)
    edges = golden["edge_list"]
    node2graph = torch.repeat_interleave(torch.arange(3), golden["num_nodes"])
    with torch.no_grad():
        node, graph = model.forward_graph(golden["node_input"], edges[:, :2].t(), edges[:, 2], node2graph, 3)
    torch.testing.assert_close(node, golden["out_node_feature"], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(graph, golden["out_graph_feature"], rtol=1e-5, atol=1e-5)


def test_reproduces_torchdrug_from_structure_files(golden, golden_proteins):
    """Structure files → our loader, our graph, our encoder (TorchDrug's one-hot input) → TorchDrug's outputs.

    d1b0ba_'s first residue is non-standard: protdata keeps it as X (id 20), TorchDrug reads it as glycine, so
    the fixture's own one-hot input is passed as ``node_features``.
    """
    batch = ProteinBatch.collate(golden_proteins)
    assert int((batch.residue_type != golden["residue_type"]).sum()) == 1
    out = _torchdrug_gearnet(golden)(batch, node_features=golden["node_input"])
    torch.testing.assert_close(out.flat_residue(), golden["out_node_feature"], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out.protein, golden["out_graph_feature"], rtol=1e-5, atol=1e-5)


def test_state_dict_layout_is_torchdrugs(golden):
    ours = {k: tuple(v.shape) for k, v in GearNet(hidden_dims=[32] * 6).state_dict().items()}
    theirs = {k.removeprefix("param."): tuple(v.shape) for k, v in golden.items() if k.startswith("param.")}
    assert ours == theirs


def _gearnet_parameters(dims: list[int], relations: int) -> int:
    """Weights + biases of relational linear and self loop, BN inside the layer, outer BN (GearNet Eq. 1)."""
    return sum(relations * a * b + b + a * b + b + 2 * b + 2 * b for a, b in itertools.pairwise(dims))


def test_seed_configuration_size():
    """ESM-GearNet's GearNet: 6 × 512, 7 relations, concat hidden → 3072-d; 21-d or 1280-d input."""
    model = GearNet()
    assert model.output_dim == 3072
    n = sum(p.numel() for p in model.parameters())
    assert n == _gearnet_parameters([21] + [512] * 6, 7) == 10_590_208
    serial = GearNet(input_dim=1280)
    assert sum(p.numel() for p in serial.parameters()) == _gearnet_parameters([1280] + [512] * 6, 7)
    edge = GearNet(GearNetEdgeConfig())
    edge_layers = _gearnet_parameters([59, 21] + [512] * 5, 8) - sum(
        2 * d for d in [21] + [512] * 5
    )  # no outer BN
    assert sum(p.numel() for p in edge.parameters()) == n + edge_layers


def test_encoder_contract_and_masking(globins):
    batch = ProteinBatch.collate(globins[:3])
    model = GearNet(hidden_dims=[16] * 3).eval()
    out = model(batch)
    check_output(out, batch, 48)
    assert torch.equal(out.residue[~out.mask], torch.zeros_like(out.residue[~out.mask]))
    # masked residues see an all-zero input, exactly as if the caller had zeroed their one-hot rows
    masked = np.zeros(len(globins[0]), dtype=bool)
    masked[[0, 7, 30]] = True
    masked_batch = ProteinBatch.collate([globins[0].replace(residue_masked=masked), *globins[1:3]])
    one_hot = torch.nn.functional.one_hot(batch.residue_type, 21).float()
    one_hot[torch.tensor([0, 7, 30])] = 0
    torch.testing.assert_close(model(masked_batch).residue, model(batch, node_features=one_hot).residue)


def test_node_features_flat_or_padded(globins):
    batch = ProteinBatch.collate(globins[:2])
    model = GearNet(input_dim=1280, hidden_dims=[8] * 2).eval()
    flat = torch.randn(batch.num_residues, 1280)
    a = model(batch, node_features=flat)
    b = model(batch, node_features=batch.to_padded(flat))
    torch.testing.assert_close(a.residue, b.residue)
    with pytest.raises(StructureInputError, match="1280"):
        model(batch)
    with pytest.raises(StructureInputError, match=r"\(\d+, 1280\)"):
        model(batch, node_features=flat[:, :100])


def test_batch_composition_does_not_change_outputs(globins):
    """In eval mode a protein's features do not depend on its batch-mates (GearNet issue #7)."""
    model = GearNet(hidden_dims=[16] * 3).eval()
    alone = model(ProteinBatch.collate([globins[5]]))
    together = model(ProteinBatch.collate([globins[2], globins[5], globins[9]]))
    length = len(globins[5])
    torch.testing.assert_close(together.residue[1, :length], alone.residue[0, :length], rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(together.protein[1], alone.protein[0], rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("edge", [False, True])
def test_rotation_translation_invariance(globins, helpers, edge):
    config = GearNetEdgeConfig(hidden_dims=[16] * 3) if edge else None
    model = (GearNet(config) if edge else GearNet(hidden_dims=[16] * 3)).double().eval()
    batch = helpers.with_dtype(ProteinBatch.collate(globins[:3]), torch.float64)
    moved = helpers.transformed(batch, helpers.random_rotation(7), torch.tensor([12.0, -40.0, 3.5]))
    a, b = model(batch), model(moved)
    torch.testing.assert_close(a.residue, b.residue, rtol=0, atol=1e-5)
    torch.testing.assert_close(a.protein, b.protein, rtol=0, atol=1e-5)


def _dense_gearnet_edge(model: GearNet, batch: ProteinBatch, graph) -> tuple[torch.Tensor, torch.Tensor]:
    """TorchDrug's GearNet-Edge forward transcribed with dense per-relation matrices and edge-pair loops."""
    source, target = graph.edge_index.tolist()
    relation = graph.relation.tolist()
    n, e, rel = batch.num_residues, len(source), model.num_relation
    ca = graph.nodes.pos.double().numpy()
    node_adj = torch.zeros(rel, n, n, dtype=torch.float64)  # [r, i, j]: edges j → i
    edge_to_node = torch.zeros(rel, n, e, dtype=torch.float64)  # [r, i, a]: edge a enters i with relation r
    for a, (j, i, r) in enumerate(zip(source, target, relation)):
        node_adj[r, i, j] += 1
        edge_to_node[r, i, a] = 1
    line_adj = torch.zeros(8, e, e, dtype=torch.float64)  # [bin, b, a]: line edge a → b
    for a in range(e):
        for b in range(e):
            if source[b] != target[a]:
                continue
            k, j, i = source[a], target[a], target[b]
            v1, v2 = ca[i] - ca[j], ca[k] - ca[j]
            n1, n2 = np.linalg.norm(v1), np.linalg.norm(v2)
            angle = 0.0 if n1 == 0 or n2 == 0 else math.acos(np.clip(v1 @ v2 / (n1 * n2), -1, 1))
            line_adj[min(int(angle / math.pi * 8), 7), b, a] += 1
    x = torch.nn.functional.one_hot(batch.residue_type, 21).double()
    m = gearnet_edge_features(
        graph.edge_index, graph.relation, rel, batch.residue_type, graph.nodes.pos.double()
    )
    hiddens = []
    for i, (layer, edge_layer) in enumerate(zip(model.layers, model.edge_layers)):
        update = torch.cat([node_adj[r] @ x for r in range(rel)], dim=1)
        h = torch.relu(layer.batch_norm(layer.linear(update) + layer.self_loop(x)))
        if h.shape == x.shape:
            h = h + x
        edge_update = torch.cat([line_adj[r] @ m for r in range(8)], dim=1)
        m = torch.relu(edge_layer.batch_norm(edge_layer.linear(edge_update) + edge_layer.self_loop(m)))
        h = h + torch.relu(layer.linear(torch.cat([edge_to_node[r] @ m for r in range(rel)], dim=1)))
        x = model.batch_norms[i](h)
        hiddens.append(x)
    node = torch.cat(hiddens, dim=1)
    return node, node.sum(0, keepdim=True)


def test_gearnet_edge_matches_dense_transcription(globins):
    torch.manual_seed(0)
    model = GearNet(GearNetEdgeConfig(hidden_dims=[8] * 3)).double().eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm1d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    batch = ProteinBatch.collate([globins[3].select(slice(0, 24))])
    graph = model.build_graph(batch)
    out = model(batch, graph=graph)
    with torch.no_grad():
        node, protein = _dense_gearnet_edge(model, batch, graph)
    torch.testing.assert_close(out.flat_residue(), node, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(out.protein, protein, rtol=1e-10, atol=1e-10)


def test_trains_on_a_batch(globins):
    """Forward + backward in training mode: finite gradients for every parameter."""
    model = GearNet(GearNetEdgeConfig(hidden_dims=[16] * 2)).train()
    out = model(ProteinBatch.collate(globins[:2]))
    out.protein.pow(2).mean().backward()
    assert all(p.grad is not None and p.grad.isfinite().all() for p in model.parameters())


def test_sparse_and_scatter_paths_agree(golden):
    """Edge weights that need gradients take the scatter path; it gives the sparse path's outputs."""
    model = _torchdrug_gearnet(golden).double()
    edges = golden["edge_list"]
    node2graph = torch.repeat_interleave(torch.arange(3), golden["num_nodes"])
    x = golden["node_input"].double()
    weight = torch.ones(edges.shape[0], dtype=torch.float64, requires_grad=True)
    node_sparse, _ = model.forward_graph(x, edges[:, :2].t(), edges[:, 2], node2graph, 3)
    node_scatter, graph = model.forward_graph(
        x, edges[:, :2].t(), edges[:, 2], node2graph, 3, edge_weight=weight
    )
    torch.testing.assert_close(node_scatter, node_sparse, rtol=1e-12, atol=1e-9)
    graph.sum().backward()
    assert weight.grad is not None and weight.grad.abs().sum() > 0
