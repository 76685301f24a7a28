"""GearNet and GearNet-Edge (TorchDrug ``models.GearNet``, Zhang et al. 2023, arXiv 2203.06125).

Per layer ``l`` (GearNet paper Eq. 1–2 and 5; TorchDrug's ``forward``):

    h = GeometricRelationalGraphConv_l(graph, h_{l-1})            # relational sum → linear + self loop → BN → ReLU
    h = h + h_{l-1}                                               # short-cut, when shapes match
    GearNet-Edge:  m = EdgeConv_l(line graph, m_{l-1})            # same layer type over the line graph (angle bins)
                   h = h + ReLU(linear_l(relational sum of m))    # edge messages reuse the node layer's linear
    h_l = BN_l(h)                                                 # outer batch norm
    node = concat(h_1 … h_L)  (concat_hidden) ;  protein = Σ_i node_i  (sum readout)

Defaults (ESM-GearNet): 6 × 512, 7 relations, batch norm, short-cut, concat hidden → 3072-d, sum readout.
Module and parameter names equal TorchDrug's, so a TorchDrug / ESM-GearNet GearNet state dict loads as is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch_geometric.utils import scatter

from protdata import ProteinBatch
from protdata.encoder import EncoderOutput, ProteinEncoder, flat_to_output
from protdata.pretrained import Pretrained
from protenc_struct.config import GearNetConfig, GearNetEdgeConfig
from protenc_struct.errors import StructureInputError
from protenc_struct.graph.construction import ResidueGraph, build_gearnet_graph
from protenc_struct.graph.edge_features import gearnet_edge_features
from protenc_struct.graph.line_graph import spatial_line_graph
from protenc_struct.layers.relational_conv import (
    GeometricRelationalGraphConv,
    relational_adjacency,
    relational_sum,
)
from protenc_struct.models.inputs import node_input


class GearNet(ProteinEncoder, Pretrained):
    """GearNet / GearNet-Edge structure encoder honouring the protstack encoder contract.

    A saved-model type (``gearnet``; ``save_pretrained`` / ``from_pretrained``). ``GearNet(GearNetEdgeConfig())``
    returns a :class:`GearNetEdge` (type ``gearnet_edge``), so the saved type always follows the config's.

    Args:
        config: Hyper-parameters (:class:`GearNetConfig` or :class:`GearNetEdgeConfig`); keyword arguments build
            a :class:`GearNetConfig` instead (``GearNet(hidden_dims=[32] * 6)``).
    """

    model_type = "gearnet"
    config_class: type[GearNetConfig] = GearNetConfig

    def __new__(cls, config: GearNetConfig | None = None, **kwargs: object) -> GearNet:
        if cls is GearNet and isinstance(config, GearNetEdgeConfig):
            cls = GearNetEdge
        return super().__new__(cls)

    def __init__(self, config: GearNetConfig | None = None, **kwargs: object) -> None:
        super().__init__()
        if config is not None and kwargs:
            raise TypeError("pass either a config or keyword arguments, not both")
        self.config = config = config if config is not None else self.config_class(**kwargs)
        dims = [config.input_dim, *config.hidden_dims]
        self.dims = dims
        self.num_relation = config.num_relation
        self.output_dim = config.output_dim
        self.layers = nn.ModuleList(
            GeometricRelationalGraphConv(
                dims[i], dims[i + 1], config.num_relation, None, config.batch_norm, config.activation
            )
            for i in range(len(dims) - 1)
        )
        self.num_angle_bin = config.num_angle_bin
        if config.num_angle_bin:
            edge_dims = [config.edge_input_dim, *dims[:-1]]  # TorchDrug: edge layer i maps to dims[i]
            self.edge_layers = nn.ModuleList(
                GeometricRelationalGraphConv(
                    edge_dims[i],
                    edge_dims[i + 1],
                    config.num_angle_bin,
                    None,
                    config.batch_norm,
                    config.activation,
                )
                for i in range(len(edge_dims) - 1)
            )
        if config.batch_norm:
            self.batch_norms = nn.ModuleList(nn.BatchNorm1d(d) for d in dims[1:])

    @classmethod
    def parse_config(cls, config: Any) -> GearNetConfig:
        """``config`` as a :class:`GearNetConfig` (a mapping with ``type: gearnet_edge``: a
        :class:`GearNetEdgeConfig`); validation errors name the key."""
        if isinstance(config, GearNetConfig):
            return config
        edge = isinstance(config, Mapping) and config.get("type") == "gearnet_edge"
        return (GearNetEdgeConfig if edge else cls.config_class).model_validate(config)

    # ------------------------------------------------------------------ graph
    def build_graph(self, batch: ProteinBatch) -> ResidueGraph:
        """GearNet's 7-relation residue graph of ``batch`` (see :func:`protenc_struct.build_gearnet_graph`)."""
        return build_gearnet_graph(batch, self.config.graph)

    # ---------------------------------------------------------------- forward
    def forward(
        self,
        batch: ProteinBatch,
        node_features: Tensor | None = None,
        graph: ResidueGraph | None = None,
    ) -> EncoderOutput:
        """Encode ``batch``.

        Args:
            batch: The proteins (Cα coordinates required).
            node_features: ``(N, input_dim)`` or padded ``(B, L, input_dim)`` node input (serial fusion: ESM
                residue features); default: 21-d residue-type one-hot, zero for masked residues.
            graph: A graph already built by :meth:`build_graph` (reuse across calls).

        Returns:
            ``EncoderOutput`` with ``residue`` ``(B, L, output_dim)`` and ``protein`` ``(B, output_dim)``.
        """
        dtype = self.layers[0].linear.weight.dtype
        if self.training and self.config.batch_norm and batch.num_residues < 2:
            raise StructureInputError(
                f"batch norm in training mode needs at least 2 residues in the batch, got {batch.num_residues} "
                f"({', '.join(batch.ids)}); batch it with other proteins or use eval mode"
            )
        graph = graph if graph is not None else self.build_graph(batch)
        x = node_input(batch, self.config.input_dim, node_features, dtype)  # (N, d_in)
        line_graph = edge_input = None
        if self.num_angle_bin:
            pos = graph.nodes.pos.to(dtype)
            edge_input = gearnet_edge_features(
                graph.edge_index,
                graph.relation,
                self.num_relation,
                batch.residue_type,
                pos,
                batch.residue_masked,
            )  # (E, 59)
            line_graph = spatial_line_graph(graph.edge_index, pos, self.num_angle_bin)
        node, protein = self.forward_graph(
            x, graph.edge_index, graph.relation, graph.nodes.batch, len(batch), line_graph=line_graph,
            edge_input=edge_input,
        )  # fmt: skip
        return flat_to_output(batch, node, protein)

    def forward_graph(
        self,
        x: Tensor,
        edge_index: Tensor,
        relation: Tensor,
        node2graph: Tensor,
        num_graphs: int,
        *,
        edge_weight: Tensor | None = None,
        line_graph: tuple[Tensor, Tensor] | None = None,
        edge_input: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """TorchDrug-style forward on an explicit graph: ``(node (N, D), protein (B, D))``.

        Args:
            x: ``(N, input_dim)`` node input.
            edge_index: ``(2, E)`` (source, target); relation: ``(E,)``.
            node2graph: ``(N,)`` protein of each node; num_graphs: ``B``.
            edge_weight: ``(E,)`` optional edge weights (TorchDrug: ones).
            line_graph: GearNet-Edge's ``(line_edge_index, line_relation)``; edge_input: ``(E, 59)``.
        """
        ops = self.operators(x.shape[0], edge_index, relation, edge_weight, line_graph, x.dtype)
        hiddens = []
        layer_input = x
        edge_hidden = edge_input
        for i in range(len(self.layers)):
            hidden, edge_hidden = self.layer_forward(i, layer_input, ops, edge_hidden)
            hiddens.append(hidden)
            layer_input = hidden
        node = torch.cat(hiddens, dim=-1) if self.config.concat_hidden else hiddens[-1]  # (N, D)
        protein = scatter(node, node2graph, dim=0, dim_size=num_graphs, reduce=self.config.readout)  # (B, D)
        return node, protein

    def operators(
        self,
        num_nodes: int,
        edge_index: Tensor,
        relation: Tensor,
        edge_weight: Tensor | None = None,
        line_graph: tuple[Tensor, Tensor] | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> GearNetOperators:
        """The sparse operators of one graph, built once and shared by all layers (see :meth:`layer_forward`)."""
        sparse = (
            edge_weight is None or not edge_weight.requires_grad
        )  # weights needing gradients: scatter path
        ops = GearNetOperators(num_nodes, edge_index, relation, edge_weight)
        if sparse:
            ops.adjacency = relational_adjacency(
                edge_index, relation, num_nodes, self.num_relation, edge_weight=edge_weight, dtype=dtype
            )
        if self.num_angle_bin:
            if line_graph is None:
                raise ValueError("GearNet-Edge needs the spatial line graph (line_edge_index, line_relation)")
            num_edges = edge_index.shape[1]
            ops.line_graph = line_graph
            ops.edges_into_nodes = torch.stack(
                [torch.arange(num_edges, device=edge_index.device), edge_index[1]]
            )
            if sparse:
                ops.line_adjacency = relational_adjacency(
                    *line_graph, num_edges, self.num_angle_bin, dtype=dtype
                )
                ops.edge_adjacency = relational_adjacency(
                    ops.edges_into_nodes, relation, num_nodes, self.num_relation, num_sources=num_edges,
                    edge_weight=edge_weight, dtype=dtype,
                )  # fmt: skip
        return ops

    def layer_forward(
        self, i: int, layer_input: Tensor, ops: GearNetOperators, edge_hidden: Tensor | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """Layer ``i`` alone (for fusion models that interleave other modules): ``(h_i, edge hidden_i)``.

        ``ops`` comes from :meth:`operators`; ``edge_hidden`` is GearNet-Edge's edge state (``(E, 59)`` input).
        """
        layer = self.layers[i]
        hidden = layer(layer_input, ops.edge_index, ops.relation, ops.edge_weight, adjacency=ops.adjacency)
        if self.config.short_cut and hidden.shape == layer_input.shape:
            hidden = hidden + layer_input
        if self.num_angle_bin:
            if ops.line_graph is None or edge_hidden is None:
                raise ValueError("GearNet-Edge needs the line graph operators and the edge features")
            line_index, line_relation = ops.line_graph
            edge_hidden = self.edge_layers[i](
                edge_hidden, line_index, line_relation, adjacency=ops.line_adjacency
            )  # (E, d_i)
            update = relational_sum(
                edge_hidden, ops.edges_into_nodes, ops.relation, hidden.shape[0], self.num_relation,
                ops.edge_weight, ops.edge_adjacency,
            )  # (N, R * d_i): Σ over the edges entering each node of their hidden state  # fmt: skip
            update = layer.linear(update)
            if layer.activation is not None:
                update = layer.activation(update)
            hidden = hidden + update
        if self.config.batch_norm:
            hidden = self.batch_norms[i](hidden)
        return hidden, edge_hidden


class GearNetEdge(GearNet):
    """GearNet-Edge (:class:`GearNet` with edge message passing on the spatial line graph); saved-model type
    ``gearnet_edge``. Keyword arguments build a :class:`GearNetEdgeConfig` (59-d edges, 8 angle bins)."""

    model_type = "gearnet_edge"
    config_class = GearNetEdgeConfig


@dataclass(eq=False)
class GearNetOperators:
    """A graph's message-passing operators for :meth:`GearNet.layer_forward` (built by :meth:`GearNet.operators`).

    Sparse matrices (:func:`~protenc_struct.layers.relational_conv.relational_adjacency`): ``adjacency``
    ``(N·R) × N``; ``line_adjacency`` ``(E·n_bins) × E`` over the line graph; ``edge_adjacency`` ``(N·R) × E``
    summing each edge's state into its target. ``None`` → gather + scatter path.
    """

    num_nodes: int
    edge_index: Tensor
    relation: Tensor
    edge_weight: Tensor | None = None
    adjacency: Tensor | None = None
    line_graph: tuple[Tensor, Tensor] | None = None
    edges_into_nodes: Tensor | None = None
    line_adjacency: Tensor | None = None
    edge_adjacency: Tensor | None = None
