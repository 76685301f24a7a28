"""GearNet's residue graph for a whole ``ProteinBatch`` at once (TorchDrug's ``GraphConstruction``).

``gearnet_graph(batch)`` = ``AlphaCarbonNode`` + ``SequentialEdge(max_distance=2)`` (relations 0–4) +
``SpatialEdge(radius=10, min_distance=5)`` (relation 5) + ``KNNEdge(k=10, min_distance=5)`` (relation 6), the
graph of every ESM-GearNet / FusionProt GearNet config. Radius and KNN edges come from one blocked pass over
the within-protein pairs (:mod:`protenc_struct.graph.neighbors`); nothing loops over residues.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from protdata import ProteinBatch
from protenc_struct.config import GearNetGraphConfig
from protenc_struct.graph.knn import block_knn_edges
from protenc_struct.graph.neighbors import DEFAULT_BLOCK_ELEMENTS, pair_blocks
from protenc_struct.graph.nodes import GraphNodes
from protenc_struct.graph.radius import block_radius_edges
from protenc_struct.graph.sequential import sequential_edges


@dataclass(eq=False)
class ResidueGraph:
    """Relational residue graphs of a batch over its flat residue index.

    Attributes:
        nodes: The Cα nodes (positions, per-protein lengths).
        edge_index: ``(2, E)`` int64 (source, target); messages flow source → target.
        relation: ``(E,)`` int64 relation id of each edge.
        num_relation: Number of relations.
    Edges are sorted by (target, relation, source), so each protein's edges are contiguous.
    """

    nodes: GraphNodes
    edge_index: Tensor
    relation: Tensor
    num_relation: int

    @property
    def num_nodes(self) -> int:
        return self.nodes.num_nodes

    @property
    def num_edges(self) -> int:
        return int(self.edge_index.shape[1])

    def to_pyg(self, batch: ProteinBatch | None = None):  # -> torch_geometric.data.Batch
        """The graphs as a torch-geometric ``Batch`` of ``Data`` (one per protein).

        Each ``Data`` has ``pos`` (Cα), ``edge_index`` (local indices), ``edge_relation``, ``num_nodes`` and, when
        ``batch`` is given, ``residue_type``, ``chain_index`` and ``residue_masked``.
        """
        from torch_geometric.data import Batch, Data

        nodes = self.nodes
        offsets = nodes.offsets.tolist()
        edge_graph = nodes.batch[self.edge_index[1]]  # (E,)
        edge_counts = torch.bincount(edge_graph, minlength=nodes.num_graphs).tolist()
        edge_starts = [0]
        for c in edge_counts:
            edge_starts.append(edge_starts[-1] + c)
        data = []
        for b in range(nodes.num_graphs):
            lo, hi = offsets[b], offsets[b + 1]
            es, ee = edge_starts[b], edge_starts[b + 1]
            item = Data(
                pos=nodes.pos[lo:hi],
                edge_index=self.edge_index[:, es:ee] - lo,
                edge_relation=self.relation[es:ee],
                num_nodes=hi - lo,
            )
            if batch is not None:
                item.residue_type = batch.residue_type[lo:hi]
                item.chain_index = batch.chain_index[lo:hi]
                item.residue_masked = batch.residue_masked[lo:hi]
            data.append(item)
        return Batch.from_data_list(data)


def sort_edges(
    edge_index: Tensor, relation: Tensor, num_nodes: int, num_relation: int
) -> tuple[Tensor, Tensor]:
    """Sort edges by (target, relation, source) — a deterministic order, grouped by protein and target."""
    source, target = edge_index
    key = (target * num_relation + relation) * max(num_nodes, 1) + source  # int64, unique per edge
    order = torch.argsort(key)
    return edge_index[:, order], relation[order]


def build_gearnet_graph(
    batch: ProteinBatch | GraphNodes,
    config: GearNetGraphConfig | None = None,
    *,
    chain_index: Tensor | None = None,
    block_elements: int = DEFAULT_BLOCK_ELEMENTS,
) -> ResidueGraph:
    """GearNet's 7-relation residue graph of every protein of ``batch``.

    Args:
        batch: The proteins (or ready :class:`GraphNodes`, then ``chain_index`` is required).
        config: Graph hyper-parameters (defaults: the seeds').
        chain_index: ``(N,)`` chain of each residue, when ``batch`` is ``GraphNodes``.
        block_elements: Pairs per distance block (memory bound of the neighbour search).

    Raises:
        protdata.errors.InvalidCoordinatesError: NaN/infinite or duplicated Cα coordinates (names the residue).
        protdata.errors.MissingAtomsError: an empty or sequence-only protein.
    """
    config = config or GearNetGraphConfig()
    if isinstance(batch, ProteinBatch):
        nodes = GraphNodes.from_batch(batch)
        chain_index = batch.chain_index
    else:
        nodes = batch
        if chain_index is None:
            raise TypeError("build_gearnet_graph(GraphNodes, ...) needs chain_index")
    d = config.sequential_max_distance
    num_sequential = 2 * d + 1
    seq_index, seq_relation = sequential_edges(nodes, chain_index, d, gap_cutoff=config.sequential_gap_cutoff)
    radius_parts, knn_parts = [], []
    for block in pair_blocks(nodes, block_elements=block_elements, check_duplicates=True):
        radius_parts.append(
            block_radius_edges(
                block,
                config.radius,
                config.radius_min_distance,
                config.radius_max_neighbors,
                config.radius_cap_before_filter,
            )
        )
        knn_parts.append(block_knn_edges(block, config.knn_k, config.knn_min_distance))
    radius_index = torch.cat(radius_parts, dim=1)
    knn_index = torch.cat(knn_parts, dim=1)
    edge_index = torch.cat([seq_index, radius_index, knn_index], dim=1)
    relation = torch.cat(
        [
            seq_relation,
            torch.full((radius_index.shape[1],), num_sequential, dtype=torch.long, device=nodes.device),
            torch.full((knn_index.shape[1],), num_sequential + 1, dtype=torch.long, device=nodes.device),
        ]
    )
    num_relation = config.num_relation
    edge_index, relation = sort_edges(edge_index, relation, nodes.num_nodes, num_relation)
    return ResidueGraph(nodes=nodes, edge_index=edge_index, relation=relation, num_relation=num_relation)


def gearnet_graph(batch: ProteinBatch, config: GearNetGraphConfig | None = None) -> tuple[Tensor, Tensor]:
    """GearNet's residue graph of ``batch``: ``(edge_index (2, E), relation (E,))`` over the flat residue index.

    ``edge_index`` rows are (source, target); ``relation`` 0–4 are the sequential offsets −2…+2 (target = source
    + offset, same chain), 5 radius (10 Å, ``|i - j| >= 5``, ≤ 32 nearest), 6 KNN (10 nearest, then
    ``|i - j| >= 5``). See :func:`build_gearnet_graph`.
    """
    graph = build_gearnet_graph(batch, config)
    return graph.edge_index, graph.relation


def build_radius_graph(
    batch: ProteinBatch | GraphNodes,
    radius: float,
    *,
    max_num_neighbors: int | None = 32,
    min_distance: int = 0,
    self_loops: bool = False,
    check_duplicates: bool = True,
    block_elements: int = DEFAULT_BLOCK_ELEMENTS,
) -> ResidueGraph:
    """A one-relation radius graph (GVP-GNN: 10 Å, ≤ 32 neighbours; CDConv: per-stage cutoff + self loops).

    Args:
        batch: The proteins or their nodes.
        radius: Cutoff (Å), ``d² < r²``.
        max_num_neighbors: Nearest neighbours kept per centre (``None``: all; CDConv's 9999 means all).
        min_distance: Drop pairs with ``|i - j| < min_distance`` (after the cap, as TorchDrug).
        self_loops: Add an ``i → i`` edge per node (CDConv's receptive field).
        check_duplicates: Raise on duplicated Cα coordinates.
        block_elements: Pairs per distance block.
    """
    nodes = GraphNodes.from_batch(batch) if isinstance(batch, ProteinBatch) else batch
    parts = [
        block_radius_edges(block, radius, min_distance, max_num_neighbors, True)
        for block in pair_blocks(nodes, block_elements=block_elements, check_duplicates=check_duplicates)
    ]
    if self_loops:
        loop = torch.arange(nodes.num_nodes, device=nodes.device)
        parts.append(torch.stack([loop, loop]))
    edge_index = (
        torch.cat(parts, dim=1) if parts else torch.zeros(2, 0, dtype=torch.long, device=nodes.device)
    )
    relation = torch.zeros(edge_index.shape[1], dtype=torch.long, device=nodes.device)
    edge_index, relation = sort_edges(edge_index, relation, nodes.num_nodes, 1)
    return ResidueGraph(nodes=nodes, edge_index=edge_index, relation=relation, num_relation=1)
