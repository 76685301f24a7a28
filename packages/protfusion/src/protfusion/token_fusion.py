"""FusionProt's iterative token fusion (Kalifa et al., "FusionProt"; ``model/model.py`` ``FusionNetwork``).

One learnable token ``τ ∈ R^{D_seq}`` (init N(0, 0.01²), shared by all proteins) sits in the sequence stream just
before ``<eos>`` (:mod:`protfusion.token_stream`) and is an extra node of each protein's structure graph linked to
every residue (:mod:`protfusion.token_graph`). The structure nodes start from ``BN(Linear(21 → D_seq)(one-hot))``
(``structure_embed_linear`` + ``embedding_batch_norm``), not from sequence features. With ESM layers run one at a
time, after sequence layer ``(k + 1) · step`` (:mod:`protfusion.schedule`; 5, 10, …, 30 for 33 and 6 layers)::

    u = h_τ                              if k = 0      # the token's hidden state, raw (D_seq = GearNet input)
    u = seq_linears[k](h_τ)              if k ≥ 1      # Linear(D_seq → d_k)
    g = GearNet layer k on [residues ‖ tokens]          # relational conv, short-cut, batch norm (+ edge path)
    h_τ ← structure_linears[k](g_τ)                     # Linear(d_{k+1} → D_seq), replaces the token
                                                          before sequence layer (k + 1) · step + 1

Outputs (kalifadan/FusionProt ``model/model.py``): sequence residues after ESM's final layer norm (token, BOS,
EOS dropped), mean readout; structure nodes = concat of the GearNet hidden states (token rows dropped),
GearNet's readout (sum); ``[sequence ‖ structure]`` → 1280 + 3072 = 4352-d for ESM-2-650M + GearNet 6 × 512.
``extras["token"]``: the token's final sequence-stream state ``(B, D_seq)`` (after the final layer norm);
``extras["sequence.covered"]`` as in the other fusions when a sequence was cropped to the encoder's window.

Supported encoders: any ``protenc_seq`` ESM-2 or SaProt encoder (its ``embed`` / ``attention_context`` /
``run_layer`` pieces) with a ``protenc_struct`` GearNet or GearNet-Edge (``layer_forward`` runs one layer).
GVP-GNN and CDConv have no per-layer interface with a node set that can take an extra node (CDConv pools
residue pairs between stages), so they raise :class:`~protfusion.errors.FusionError`.

Differences from the seed, on purpose: the token sits before each protein's own ``<eos>`` (batch-independent);
the token edges have their own relation unless ``seed_token_relation``; the schedule is derived from the depths;
``seq_linears[0]`` (unused by the seed) is an identity without parameters; when the last structure layer runs
after the last sequence layer (e.g. 31 and 6 layers) its ``structure_linears`` entry would reach no output, so it
is not created (the seed keeps an unused one; 33 and 6 layers use all six); GearNet's edge message passing
(GearNet-Edge) runs over residue edges only (the token has no position, hence no edge geometry).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from protdata import NUM_RESIDUE_TYPES, EncoderOutput, ProteinBatch, masked_mean
from protenc_seq import ESM2Encoder
from protenc_struct import GearNet, ResidueGraph, gearnet_edge_features, spatial_line_graph
from protenc_struct.layers.relational_conv import relational_adjacency
from protenc_struct.models.gearnet import GearNetOperators
from protenc_struct.models.inputs import node_input
from protfusion.base import FUSIONPROT_LR_RATIO, TOKEN_INIT_STD, FusionEncoder
from protfusion.config import TokenFusionConfig
from protfusion.errors import FusionError
from protfusion.schedule import injection_layers
from protfusion.token_graph import token_relation, with_token_edges
from protfusion.token_stream import TokenLayout, embed_with_token, residue_features, token_layout


def check_token_encoders(sequence: nn.Module, structure: nn.Module) -> None:
    """Raise :class:`FusionError` unless TokenFusion can interleave these two encoders layer by layer."""
    if not isinstance(sequence, ESM2Encoder):
        raise FusionError(
            f"TokenFusion inserts its token between transformer layers and needs a protenc_seq ESM-2 or SaProt "
            f"encoder (ESM2Encoder / SaProtEncoder), got {type(sequence).__name__}"
        )
    if not isinstance(structure, GearNet):
        raise FusionError(
            f"TokenFusion runs the structure encoder one layer at a time on a graph with an extra token node; it "
            f"supports GearNet and GearNet-Edge, not {type(structure).__name__} (use serial, parallel or cross "
            "fusion for GVP-GNN and CDConv)"
        )


class TokenFusion(FusionEncoder):
    """FusionProt: a learnable token carried between ESM-2 / SaProt layers and GearNet layers (module docstring).

    Args:
        sequence: ``protenc_seq`` ESM-2 or SaProt encoder (``D_seq`` = its width).
        structure: ``protenc_struct`` GearNet / GearNet-Edge with ``input_dim = D_seq`` and ``R + 1`` relations
            (``R`` = its graph's relations; ``R`` with ``seed_token_relation``). :func:`protfusion.token_gearnet`
            builds one from a GearNet config.
        inject_every: Sequence layers per structure layer; default ``⌊(n_seq − 1) / n_struct⌋`` (5 for 33 / 6).
        seed_token_relation: Token edges share relation 1 with the sequential −1 edges, as FusionProt's code does.
        token_init_std: Standard deviation of the token's initial values (FusionProt: 0.01).
        sequence_lr_ratio: Default ratio of :meth:`parameter_groups` (FusionProt: 0.08).
    """

    model_type = "token"
    config_class = TokenFusionConfig

    def __init__(
        self,
        sequence: ESM2Encoder,
        structure: GearNet,
        *,
        inject_every: int | None = None,
        seed_token_relation: bool = False,
        token_init_std: float = TOKEN_INIT_STD,
        sequence_lr_ratio: float = FUSIONPROT_LR_RATIO,
    ) -> None:
        check_token_encoders(sequence, structure)
        super().__init__(sequence, structure, sequence_lr_ratio=sequence_lr_ratio)
        d_seq = sequence.output_dim
        dims = structure.dims  # [input_dim, hidden_1, …, hidden_S]
        if dims[0] != d_seq:
            raise FusionError(
                f"the token enters GearNet's first layer as the raw {d_seq}-d sequence state, but GearNet was built "
                f"with input_dim={dims[0]}: build it with input_dim={d_seq} (protfusion.token_gearnet does)"
            )
        graph_relations = structure.config.graph.num_relation
        self.seed_token_relation = seed_token_relation
        self.inject_every = inject_every
        self.token_init_std = token_init_std
        self.token_relation = token_relation(graph_relations, seed_token_relation)
        needed = graph_relations if seed_token_relation else graph_relations + 1
        if structure.num_relation != needed:
            how = "with the seed's relation 1" if seed_token_relation else "with a relation of their own"
            raise FusionError(
                f"token edges {how} need a GearNet with {needed} relations ({graph_relations} graph relations"
                f"{'' if seed_token_relation else ' + the token'}), got num_relation={structure.num_relation}; "
                "build it with protfusion.token_gearnet(config, sequence_dim, seed_token_relation)"
            )
        num_struct = len(structure.layers)
        self.inject_after = injection_layers(sequence.model.num_layers, num_struct, inject_every)
        self.output_dim = d_seq + structure.output_dim
        # FusionProt's parameters, under FusionProt's names.
        self.structure_embed_linear = nn.Linear(NUM_RESIDUE_TYPES, d_seq)  # raw_input_dim = 21
        self.embedding_batch_norm = nn.BatchNorm1d(d_seq)
        self.structure_token = nn.Parameter(torch.randn(d_seq) * token_init_std)  # (D_seq,)
        self.seq_linears = nn.ModuleList(
            [nn.Identity()] + [nn.Linear(d_seq, dims[k]) for k in range(1, num_struct)]
        )
        # A token update after the last sequence layer would reach no output: no linear map for it.
        returns = num_struct - int(self.inject_after[-1] == sequence.model.num_layers - 1)
        self.structure_linears = nn.ModuleList(nn.Linear(dims[k + 1], d_seq) for k in range(returns))

    # ------------------------------------------------------------------ parts
    def layout(self, batch: ProteinBatch) -> TokenLayout:
        """Where each protein's residues and token sit in the packed sequence stream."""
        return token_layout(self.sequence, batch, self.sequence.model.alphabet.unk_id)

    def embed(self, batch: ProteinBatch, layout: TokenLayout | None = None) -> Tensor:
        """Packed rows ``(R, D_seq)`` entering the first sequence layer (ESM embedding + token dropout + token)."""
        return embed_with_token(self.sequence, layout or self.layout(batch), self.structure_token)

    def structure_operators(
        self, batch: ProteinBatch, graph: ResidueGraph
    ) -> tuple[GearNetOperators, Tensor | None]:
        """GearNet's operators on residues + tokens, and GearNet-Edge's edge input over the residue edges."""
        gearnet: GearNet = self.structure
        if graph.num_relation != gearnet.config.graph.num_relation:
            raise FusionError(
                f"the graph has {graph.num_relation} relations but GearNet's graph config has "
                f"{gearnet.config.graph.num_relation}"
            )
        dtype = gearnet.layers[0].linear.weight.dtype
        n, b = graph.num_nodes, len(batch)
        line_graph = edge_input = None
        if gearnet.num_angle_bin:
            pos = graph.nodes.pos.to(dtype)
            edge_input = gearnet_edge_features(
                graph.edge_index,
                graph.relation,
                graph.num_relation,
                batch.residue_type,
                pos,
                batch.residue_masked,
            )  # (E, 59): residue edges only
            line_graph = spatial_line_graph(graph.edge_index, pos, gearnet.num_angle_bin)
        ops = gearnet.operators(n + b, graph.edge_index, graph.relation, line_graph=line_graph, dtype=dtype)
        edge_index, relation = with_token_edges(
            graph.edge_index, graph.relation, graph.nodes.batch, n, self.token_relation
        )  # (2, E + 2N)
        ops.edge_index, ops.relation = edge_index, relation
        ops.adjacency = relational_adjacency(edge_index, relation, n + b, gearnet.num_relation, dtype=dtype)
        return ops, edge_input

    # ---------------------------------------------------------------- forward
    def forward(self, batch: ProteinBatch, graph: ResidueGraph | None = None) -> EncoderOutput:
        """Encode ``batch``; ``graph``: GearNet's residue graph (from :meth:`build_graph`, possibly edited)."""
        return self._run(batch, graph, with_structure=True)

    def sequence_stream(self, batch: ProteinBatch) -> EncoderOutput:
        """The structure path switched off: the sequence encoder with the (never updated) token as one extra
        token before ``<eos>``. ``D_seq``-wide output; ``extras["token"]`` as in :meth:`forward`."""
        return self._run(batch, None, with_structure=False)

    def _run(self, batch: ProteinBatch, graph: ResidueGraph | None, *, with_structure: bool) -> EncoderOutput:
        seq: ESM2Encoder = self.sequence
        model = seq.model
        layout = self.layout(batch)
        struct_state = self._structure_start(batch, graph) if with_structure else None
        with seq.autocast():
            x = self.embed(batch, layout)  # (R, D_seq)
            ctx = model.attention_context(layout.packed)
            k = 0
            for i in range(model.num_layers):
                x = model.run_layer(i, x, ctx)
                if struct_state is not None and k < len(self.inject_after) and i == self.inject_after[k]:
                    x = self._inject(k, x, layout.token_rows, struct_state)
                    k += 1
            x = model.emb_layer_norm_after(x)
        residue, covered = residue_features(batch, layout, x)  # (B, L, D_seq), (B, L)
        mask = batch.mask.to(residue.device)
        extras: dict[str, Tensor] = {"token": x[layout.token_rows]}  # (B, D_seq)
        if not torch.equal(covered, mask):
            extras["covered"] = covered
        out = EncoderOutput(residue=residue, protein=masked_mean(residue, covered), mask=mask, extras=extras)
        if struct_state is None:
            return out
        return self._concat(batch, out, struct_state)

    # ------------------------------------------------------- structure path
    def _structure_start(self, batch: ProteinBatch, graph: ResidueGraph | None) -> dict[str, Any]:
        gearnet: GearNet = self.structure
        graph = graph if graph is not None else gearnet.build_graph(batch)
        ops, edge_input = self.structure_operators(batch, graph)
        dtype = self.structure_embed_linear.weight.dtype
        one_hot = node_input(batch, NUM_RESIDUE_TYPES, None, dtype)  # (N, 21), zero rows for masked residues
        nodes = self.embedding_batch_norm(self.structure_embed_linear(one_hot))  # (N, D_seq)
        return {"graph": graph, "ops": ops, "edge": edge_input, "nodes": nodes, "hiddens": []}

    def _inject(self, k: int, x: Tensor, token_rows: Tensor, state: dict[str, Any]) -> Tensor:
        """Structure layer ``k``: token sequence → structure, one GearNet layer, token structure → sequence."""
        gearnet: GearNet = self.structure
        dtype, n = state["nodes"].dtype, state["nodes"].shape[0]
        with torch.autocast(x.device.type, enabled=False):  # the structure side runs in its own dtype
            token = self.seq_linears[k](x[token_rows].to(dtype))  # (B, d_k); raw at k = 0
            layer_input = torch.cat([state["nodes"], token], dim=0)  # (N + B, d_k)
            hidden, state["edge"] = gearnet.layer_forward(k, layer_input, state["ops"], state["edge"])
        state["hiddens"].append(hidden[:n])
        state["nodes"] = hidden[:n]  # (N, d_{k+1})
        if k >= len(self.structure_linears):  # after the last sequence layer: nothing left to carry it
            return x
        with torch.autocast(x.device.type, enabled=False):
            new_token = self.structure_linears[k](hidden[n:])  # (B, D_seq)
        return x.index_copy(0, token_rows, new_token.to(x.dtype))

    def _concat(self, batch: ProteinBatch, seq_out: EncoderOutput, state: dict[str, Any]) -> EncoderOutput:
        gearnet: GearNet = self.structure
        hiddens = state["hiddens"]
        node = torch.cat(hiddens, dim=-1) if gearnet.config.concat_hidden else hiddens[-1]  # (N, D_struct)
        node2graph = state["graph"].nodes.batch
        protein = node.new_zeros((len(batch), node.shape[1])).index_add(0, node2graph, node)  # (B, D_struct)
        if gearnet.config.readout == "mean":
            protein = protein / batch.lengths.to(protein.device, protein.dtype).clamp_min(1).unsqueeze(1)
        dtype = torch.promote_types(seq_out.residue.dtype, node.dtype)
        residue = torch.cat([seq_out.residue.to(dtype), batch.to_padded(node).to(dtype)], dim=-1)  # (B, L, D)
        protein = torch.cat([seq_out.protein.to(dtype), protein.to(dtype)], dim=-1)  # (B, D)
        extras = {k if k == "token" else f"sequence.{k}": v for k, v in seq_out.extras.items()}
        return EncoderOutput(residue=residue, protein=protein, mask=seq_out.mask, extras=extras)
