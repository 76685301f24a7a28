"""GVP-GNN structure encoder as ESM-GearNet uses it (``gearnet/gvp.py``, ``GVPGNN``).

    h = residue_embdding(x)                           # bias-free Linear(d, d)
    (s, V) = GVP(LN(h)) : (d, 0) → (256, 16)          # V starts at zero (no node vector input)
    edges j → i (radius 10 Å, ≤ 32 neighbours, self excluded):
        e = GVP(LN((RBF_16(‖x_i − x_j‖; 0–20 Å), x_i − x_j))) : (16, 1) → (64, 1)
    5 × GVPConvLayer (3 message GVPs, 2 feed-forward GVPs, mean aggregation, dropout 0.1, vector gate)
    node = GVP(LN((s, V))) : (256, 16) → (256, 0) with ReLU ;  protein = mean over residues

RBF: ``exp(−((d − μ_k) / σ)²)``, μ = linspace(0, 20, 16), σ = 20 / 16. The edge vector is the raw Cα→Cα
difference (the layer norm that follows makes it a unit vector). Names match ESM-GearNet (including its
``residue_embdding`` spelling), so its state dicts load as is.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.utils import scatter

from protdata import ProteinBatch
from protdata.encoder import EncoderOutput, ProteinEncoder, flat_to_output
from protdata.pretrained import Pretrained
from protenc_struct.config import GVPConfig
from protenc_struct.graph.construction import ResidueGraph, build_radius_graph
from protenc_struct.layers.gvp import GVP, GVPConvLayer, GVPLayerNorm
from protenc_struct.models.inputs import node_input


def gaussian_rbf(distance: Tensor, num: int, d_min: float = 0.0, d_max: float = 20.0) -> Tensor:
    """``(..., num)`` Gaussian radial basis of ``distance``: centres linspace(d_min, d_max, num), σ = range / num."""
    mu = torch.linspace(d_min, d_max, num, device=distance.device, dtype=distance.dtype)  # (num,)
    sigma = (d_max - d_min) / num
    return torch.exp(-(((distance.unsqueeze(-1) - mu) / sigma) ** 2))


class GVPGNN(ProteinEncoder, Pretrained):
    """GVP-GNN encoder (output 256-d, mean readout) honouring the protstack encoder contract.

    ``EncoderOutput.extras["vector"]`` holds the last layer's equivariant vector features ``(B, L, 16, 3)``.
    """

    model_type = "gvp"
    config_class = GVPConfig

    def __init__(self, config: GVPConfig | None = None, **kwargs: object) -> None:
        super().__init__()
        if config is not None and kwargs:
            raise TypeError("pass either a config or keyword arguments, not both")
        self.config = config = config if config is not None else GVPConfig(**kwargs)
        node_in, node_h = tuple(config.node_in_dim), tuple(config.node_h_dim)
        edge_in, edge_h = tuple(config.edge_in_dim), tuple(config.edge_h_dim)
        self.output_dim = config.output_dim
        activations = (F.relu, None)
        self.residue_embdding = nn.Linear(node_in[0], node_in[0], bias=False)  # sic, ESM-GearNet's name
        self.W_v = nn.Sequential(
            GVPLayerNorm(node_in),
            GVP(node_in, node_h, activations=(None, None), vector_gate=config.vector_gate),
        )
        self.W_e = nn.Sequential(
            GVPLayerNorm(edge_in),
            GVP(edge_in, edge_h, activations=(None, None), vector_gate=config.vector_gate),
        )
        self.layers = nn.ModuleList(
            GVPConvLayer(
                node_h,
                edge_h,
                n_message=config.n_message,
                n_feedforward=config.n_feedforward,
                drop_rate=config.drop_rate,
                activations=activations,
                vector_gate=config.vector_gate,
            )
            for _ in range(config.num_layers)
        )
        self.W_out = nn.Sequential(
            GVPLayerNorm(node_h),
            GVP(node_h, (node_h[0], 0), activations=activations, vector_gate=config.vector_gate),
        )

    def build_graph(self, batch: ProteinBatch) -> ResidueGraph:
        """ESM-GearNet's GVP graph: ``SpatialEdge(radius=10, min_distance=0)``, ≤ 32 nearest, no self loops."""
        return build_radius_graph(
            batch, self.config.radius, max_num_neighbors=self.config.max_num_neighbors, min_distance=0
        )

    def forward(
        self,
        batch: ProteinBatch,
        node_features: Tensor | None = None,
        graph: ResidueGraph | None = None,
    ) -> EncoderOutput:
        """Encode ``batch``; ``node_features`` ``(N, d)`` / ``(B, L, d)`` replaces the 21-d one-hot input."""
        dtype = self.residue_embdding.weight.dtype
        graph = graph if graph is not None else self.build_graph(batch)
        x = node_input(batch, self.config.node_in_dim[0], node_features, dtype)  # (N, d)
        pos = graph.nodes.pos.to(dtype)
        node, vector = self.forward_graph(x, pos, graph.edge_index)
        protein = scatter(node, graph.nodes.batch, dim=0, dim_size=len(batch), reduce=self.config.readout)
        out = flat_to_output(batch, node, protein)
        out.extras["vector"] = batch.to_padded(vector)  # (B, L, V, 3)
        return out

    def forward_graph(self, x: Tensor, pos: Tensor, edge_index: Tensor) -> tuple[Tensor, Tensor]:
        """``x`` ``(N, d)``, ``pos`` ``(N, 3)``, ``edge_index`` ``(2, E)`` → node scalars ``(N, 256)`` and the last
        layer's vectors ``(N, 16, 3)``."""
        source, target = edge_index
        h = self.residue_embdding(x)
        vec = pos[target] - pos[source]  # (E, 3) x_i − x_j
        edge = (
            gaussian_rbf(vec.norm(dim=-1), self.config.edge_in_dim[0], 0.0, self.config.rbf_max),
            vec[:, None],
        )
        h = self.W_v(h)
        edge = self.W_e(edge)
        for layer in self.layers:
            h = layer(h, edge_index, edge)
        return self.W_out(h), h[1]
