"""GearNet's batched graph vs TorchDrug's own edge list and vs the brute-force NumPy reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from protdata import ProteinBatch
from protenc_struct import GearNetGraphConfig, build_gearnet_graph, gearnet_graph
from protenc_struct.graph.reference import pairwise_dist2, reference_gearnet_edges


def _triples(edge_index: torch.Tensor, relation: torch.Tensor) -> np.ndarray:
    return torch.cat([edge_index.t(), relation[:, None]], dim=1).numpy()


def _per_protein(batch: ProteinBatch, triples: np.ndarray) -> list[np.ndarray]:
    """Split global (source, target, relation) rows by protein, as local indices."""
    offsets = batch.offsets.tolist()
    graph_of_target = np.searchsorted(offsets, triples[:, 1], side="right") - 1
    out = []
    for b in range(len(batch)):
        rows = triples[graph_of_target == b].copy()
        assert (rows[:, 0] >= offsets[b]).all() and (rows[:, 0] < offsets[b + 1]).all(), (
            "edge leaves its protein"
        )
        rows[:, :2] -= offsets[b]
        out.append(rows)
    return out


def _keys(rows: np.ndarray) -> np.ndarray:
    """Sorted int64 codes of (source, target, relation) rows."""
    return np.sort((rows[:, 0] * 1_000_003 + rows[:, 1]) * 64 + rows[:, 2])


def _assert_same_edges(ours: np.ndarray, reference: np.ndarray, what: str) -> None:
    a, b = _keys(ours), _keys(reference)
    assert len(np.unique(a)) == len(a), f"{what}: duplicated edges"
    if not np.array_equal(a, b):
        missing = set(map(tuple, reference.tolist())) - set(map(tuple, ours.tolist()))
        extra = set(map(tuple, ours.tolist())) - set(map(tuple, reference.tolist()))
        raise AssertionError(
            f"{what}: {len(missing)} missing, {len(extra)} extra, e.g. {list(missing | extra)[:5]}"
        )


def test_matches_torchdrug_edge_list_on_golden_domains(golden, golden_proteins):
    """Our loader + batched graph give TorchDrug 0.2.1's edge list exactly, relation by relation."""
    batch = ProteinBatch.collate(golden_proteins)
    assert batch.lengths.tolist() == golden["num_nodes"].tolist()
    torch.testing.assert_close(batch.ca, golden["ca_position"], rtol=0, atol=0)
    ours = _triples(*gearnet_graph(batch))
    theirs = golden["edge_list"].numpy()
    for r in range(7):
        _assert_same_edges(ours[ours[:, 2] == r], theirs[theirs[:, 2] == r], f"relation {r}")
    # TorchDrug's radius cap (an arbitrary 32 of the in-range residues) never bites on these domains, so its
    # choice is not arbitrary here: every residue has at most 32 others within 10 Å.
    for p in golden_proteins:
        assert ((pairwise_dist2(p.ca) < 100.0).sum(1) - 1).max() <= 32


def test_matches_torchdrug_on_fixture_positions(golden):
    """Built from the fixture's own Cα positions (TorchDrug's RDKit reader), the edge list is the same."""
    from protenc_struct import GraphNodes

    nodes = GraphNodes(pos=golden["ca_position"], lengths=golden["num_nodes"], ids=["a", "b", "c"])
    graph = build_gearnet_graph(nodes, chain_index=torch.zeros(nodes.num_nodes, dtype=torch.long))
    _assert_same_edges(_triples(graph.edge_index, graph.relation), golden["edge_list"].numpy(), "fixture")


def test_matches_brute_force_on_every_real_structure(real_proteins):
    """One batch of all 116 real chains (20k residues) vs the per-protein NumPy reference, edge for edge."""
    batch = ProteinBatch.collate(real_proteins)
    per_protein = _per_protein(batch, _triples(*gearnet_graph(batch)))
    capped = 0
    for p, ours in zip(real_proteins, per_protein):
        reference = reference_gearnet_edges(p.ca, p.chain_index)
        _assert_same_edges(ours, reference, p.id)
        capped += int((((pairwise_dist2(p.ca) < 100.0).sum(1) - 1) > 32).sum())
    assert capped > 0, "no residue has more than 32 neighbours within 10 Å: the radius cap went untested"


@pytest.mark.parametrize("cap_before_filter", [True, False])
def test_radius_cap_order_option(real_proteins, cap_before_filter):
    """Both cap orders equal the reference on the proteins where the cap bites."""
    dense = [p for p in real_proteins if ((pairwise_dist2(p.ca) < 100.0).sum(1) - 1).max() > 32]
    assert dense
    config = GearNetGraphConfig(radius_cap_before_filter=cap_before_filter)
    batch = ProteinBatch.collate(dense)
    per_protein = _per_protein(batch, _triples(*gearnet_graph(batch, config)))
    for p, ours in zip(dense, per_protein):
        reference = reference_gearnet_edges(p.ca, p.chain_index, cap_before_filter=cap_before_filter)
        _assert_same_edges(ours, reference, p.id)


def test_block_size_does_not_change_the_graph(globins, real_proteins):
    """Tiny blocks (long proteins split into row blocks) give the same sorted edge list as the default."""
    proteins = [*globins[:5], max(real_proteins, key=len)]
    batch = ProteinBatch.collate(proteins)
    default = build_gearnet_graph(batch)
    small = build_gearnet_graph(batch, block_elements=20_000)
    assert torch.equal(default.edge_index, small.edge_index)
    assert torch.equal(default.relation, small.relation)


def test_multichain_sequential_edges_stay_within_chains(real_proteins, helpers):
    """A 4-chain antibody complex (1igy) as one protein: no sequential edge crosses a chain boundary."""
    chains = [p for p in real_proteins if p.id.startswith("1igy_")]
    assert len(chains) == 4
    complex_ = helpers.make_complex(chains, "1igy")
    batch = ProteinBatch.collate([chains[0], complex_])
    ours = _per_protein(batch, _triples(*gearnet_graph(batch)))[1]
    _assert_same_edges(ours, reference_gearnet_edges(complex_.ca, complex_.chain_index), "1igy complex")
    sequential = ours[ours[:, 2] < 5]
    chain = complex_.chain_index
    assert (chain[sequential[:, 0]] == chain[sequential[:, 1]]).all()
    assert len(sequential) == sum(5 * len(c) - 6 for c in chains)  # 5 offsets minus 2·(1 + 2) at the ends


def test_sorted_by_target_relation_source(globins):
    batch = ProteinBatch.collate(globins[:4])
    graph = build_gearnet_graph(batch)
    source, target = graph.edge_index
    key = (target * 7 + graph.relation) * batch.num_residues + source
    assert bool((key[1:] > key[:-1]).all())


def test_to_pyg_batch(globins):
    """The torch-geometric export holds the same graph (PyG re-offsets the per-protein edge indices)."""
    batch = ProteinBatch.collate(globins[:3])
    graph = build_gearnet_graph(batch)
    pyg = graph.to_pyg(batch)
    assert pyg.num_graphs == 3
    assert torch.equal(pyg.edge_index, graph.edge_index)
    assert torch.equal(pyg.edge_relation, graph.relation)
    assert torch.equal(pyg.batch, batch.batch)
    assert torch.equal(pyg.residue_type, batch.residue_type)
    second = pyg.get_example(1)
    assert second.num_nodes == int(batch.lengths[1])
    assert int(second.edge_index.max()) < second.num_nodes
