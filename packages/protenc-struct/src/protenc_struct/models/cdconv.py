"""CDConv structure encoder (ESM-GearNet ``models.CDConv`` = ``ContinuousDiscreteConvolutionalNetwork``).

    h = embedding(x)                                   # bias-free Linear(d_in, 16)
    for stage s = 1 … 4 (hidden 256, 512, 1024, 2048; cutoffs 8, 12, 16, 20 Å):
        graph = Cα pairs within cutoff_s (no neighbour cap) + self loops
        h = CDBlock(d_{s-1} → d_s)(h) ;  h = CDBlock(d_s → d_s)(h)
        if not the last stage: average-pool consecutive residue pairs (positions averaged, residue numbers
            ⌊num / 2⌋ of the pair's first residue, frames averaged then re-normalised)
    protein = mean over the last stage's nodes ;  residue = protein broadcast to every residue

Output 2048-d. Per-residue resolution is lost after pooling, as in the seed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.utils import scatter

from protdata import ProteinBatch
from protdata.encoder import EncoderOutput, ProteinEncoder, flat_to_output
from protdata.pretrained import Pretrained
from protenc_struct.config import CDConvConfig
from protenc_struct.errors import StructureInputError
from protenc_struct.graph.construction import build_radius_graph
from protenc_struct.graph.nodes import GraphNodes
from protenc_struct.graph.orientation import local_frames
from protenc_struct.layers.cdconv import CDBlock
from protenc_struct.models.inputs import node_input


def pool_pairs(
    nodes: GraphNodes, x: Tensor, frames: Tensor, residue_number: Tensor
) -> tuple[GraphNodes, Tensor, Tensor, Tensor]:
    """Average consecutive residue pairs ``(2k, 2k+1)`` of each protein (the seed's ``pooling``).

    Returns the pooled nodes (``⌈L / 2⌉`` per protein), features, frames and residue numbers.
    """
    new_lengths = torch.div(nodes.lengths + 1, 2, rounding_mode="floor")  # (B,)
    new_offsets = F.pad(torch.cumsum(new_lengths, 0), (1, 0))
    old2new = torch.div(nodes.position, 2, rounding_mode="floor") + new_offsets[nodes.batch]  # (N,)
    size = int(new_offsets[-1])
    x = scatter(x, old2new, dim=0, dim_size=size, reduce="mean")
    pos = scatter(nodes.pos, old2new, dim=0, dim_size=size, reduce="mean")
    frames = F.normalize(scatter(frames, old2new, dim=0, dim_size=size, reduce="mean"), dim=-1)
    pooled = GraphNodes(pos=pos, lengths=new_lengths, ids=nodes.ids)
    new2old = nodes.offsets[pooled.batch] + 2 * pooled.position  # first residue of each pair
    residue_number = torch.div(residue_number[new2old], 2, rounding_mode="floor")
    pooled.residue_number = residue_number
    return pooled, x, frames, residue_number


class CDConvEncoder(ProteinEncoder, Pretrained):
    """CDConv encoder (output 2048-d, mean readout; residue features = the protein feature broadcast)."""

    model_type = "cdconv"
    config_class = CDConvConfig

    def __init__(self, config: CDConvConfig | None = None, **kwargs: object) -> None:
        super().__init__()
        if config is not None and kwargs:
            raise TypeError("pass either a config or keyword arguments, not both")
        self.config = config = config if config is not None else CDConvConfig(**kwargs)
        self.output_dim = config.output_dim
        self.cutoffs = list(config.cutoffs)
        dims = [config.embedding_dim, *config.hidden_dims]
        self.embedding = nn.Linear(config.input_dim, config.embedding_dim, bias=False)
        self.layers = nn.ModuleList()
        for i in range(len(dims) - 1):
            for d_in in (dims[i], dims[i + 1]):
                self.layers.append(
                    CDBlock(
                        config.seq_cutoff,
                        config.cutoffs[i],
                        config.kernel_dims,
                        d_in,
                        dims[i + 1],
                        base_width=config.base_width,
                        batch_norm=config.batch_norm,
                        dropout=config.dropout,
                        bias=config.bias,
                    )
                )

    def forward(self, batch: ProteinBatch, node_features: Tensor | None = None) -> EncoderOutput:
        """Encode ``batch``; ``node_features`` ``(N, d)`` / ``(B, L, d)`` replaces the 21-d one-hot input."""
        dtype = self.embedding.weight.dtype
        nodes = GraphNodes.from_batch(batch, dtype=dtype)
        x = node_input(batch, self.config.input_dim, node_features, dtype)  # (N, d_in)
        protein = self.forward_nodes(nodes, x, batch.residue_number)  # (B, D)
        return flat_to_output(batch, protein[nodes.batch], protein)

    def forward_nodes(self, nodes: GraphNodes, x: Tensor, residue_number: Tensor) -> Tensor:
        """Run the four stages on Cα ``nodes``; returns the mean-readout protein features ``(B, D)``."""
        frames = local_frames(nodes)  # (N, 3, 3)
        h = self.embedding(x)
        num_stages = len(self.layers) // 2
        for i in range(num_stages):
            if self.training and self.config.batch_norm and nodes.num_nodes < 2:
                raise StructureInputError(
                    f"CDConv stage {i + 1} has {nodes.num_nodes} node(s) after pooling by 2 at each stage; batch "
                    f"norm in training mode needs at least 2 (proteins: {', '.join(nodes.ids)}): batch more or "
                    f"longer proteins, or use eval mode"
                )
            graph = build_radius_graph(
                nodes, self.cutoffs[i], max_num_neighbors=None, self_loops=True, check_duplicates=(i == 0)
            )
            for block in (self.layers[2 * i], self.layers[2 * i + 1]):
                h = block(h, graph.edge_index, nodes.pos, frames, residue_number)
            if i != num_stages - 1:
                nodes, h, frames, residue_number = pool_pairs(nodes, h, frames, residue_number)
        return scatter(h, nodes.batch, dim=0, dim_size=nodes.num_graphs, reduce="mean")
