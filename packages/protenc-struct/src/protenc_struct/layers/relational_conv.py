"""GearNet's relational graph convolution (TorchDrug ``GeometricRelationalGraphConv``).

GearNet paper (Zhang et al. 2023, arXiv 2203.06125), Eq. 1:

    u_i = σ( BN( Σ_r W_r Σ_{j ∈ N_r(i)} h_j ) ),

implemented as in TorchDrug: the per-relation neighbour sums (no degree normalisation, edge weights 1 unless
given) are laid out relation-major per node, ``(N, R · d_in)``, and one ``linear: R · d_in → d_out`` plus a
``self_loop: d_in → d_out`` map them; then batch norm and the activation. The sums are a sparse–dense product
``torch.sparse.mm(A, x)`` with the relational adjacency ``A`` (``(N · R) × N``, built once per graph) — the
operation TorchDrug itself uses (``torch.sparse.mm(adjacency.t(), input)``), without materialising an ``(E, d)``
message tensor — or, without ``A`` (or with edge weights that need gradients), a gather and
``torch_geometric.utils.scatter`` (torch-scatter when installed). Parameter names match TorchDrug's so its
state dicts load unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.utils import scatter

from protenc_struct.layers.cpu_linear import Linear


def relational_adjacency(
    edge_index: Tensor,
    relation: Tensor,
    num_nodes: int,
    num_relation: int,
    *,
    num_sources: int | None = None,
    edge_weight: Tensor | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Sparse ``(N · R) × N_src`` matrix (coalesced COO), ``A[i · R + r, j] = Σ`` weights of the edges ``j → i``
    of relation ``r`` (1 per edge by default): ``A @ x`` viewed as ``(N, R · D)`` is :func:`relational_sum`.

    COO rather than CSR: on CPU ``torch.sparse.mm`` with a coalesced COO matrix (forward and backward) is the
    fastest of the available kernels for these shapes (≈ 2× CSR, ≈ 6× gather + scatter at 512 channels).
    """
    source, target = edge_index
    num_sources = num_nodes if num_sources is None else num_sources
    row = target * num_relation + relation  # (E,)
    values = torch.ones(row.shape[0], dtype=dtype, device=row.device) if edge_weight is None else edge_weight
    key = row * max(num_sources, 1) + source
    size = (num_nodes * num_relation, num_sources)
    indices = torch.stack([row, source])
    if bool((key[1:] > key[:-1]).all()):  # ResidueGraph edges come sorted and unique: already coalesced
        return torch.sparse_coo_tensor(
            indices, values.to(dtype), size, is_coalesced=True, check_invariants=False
        )
    return torch.sparse_coo_tensor(indices, values.to(dtype), size, check_invariants=False).coalesce()


def relational_sum(
    x: Tensor,
    edge_index: Tensor,
    relation: Tensor,
    num_nodes: int,
    num_relation: int,
    edge_weight: Tensor | None = None,
    adjacency: Tensor | None = None,
) -> Tensor:
    """Per-relation neighbour sums ``(N, R · D)``: block ``r`` of node ``i`` is ``Σ_{j→i, rel r} w_ji x_j``.

    Args:
        x: ``(N_src, D)`` source features (``N_src`` may differ from ``num_nodes`` for bipartite use).
        edge_index: ``(2, E)`` (source, target).
        relation: ``(E,)`` relation ids in ``[0, R)``.
        num_nodes: Number of targets ``N``.
        num_relation: ``R``.
        edge_weight: ``(E,)`` optional weights.
        adjacency: The graph's :func:`relational_adjacency` (then ``edge_index``/``edge_weight`` are unused).
    """
    if adjacency is not None:
        # sparse kernels run in the adjacency's dtype (no bf16 sparse kernels): autocast stays off for this product
        with torch.autocast(x.device.type, enabled=False):
            update = torch.sparse.mm(adjacency, x.to(adjacency.dtype))  # (N * R, D)
        return update.view(num_nodes, num_relation * x.shape[-1])  # (N, R * D)
    source, target = edge_index
    message = x[source]  # (E, D)
    if edge_weight is not None:
        message = message * edge_weight.unsqueeze(-1)
    index = target * num_relation + relation  # (E,)
    update = scatter(message, index, dim=0, dim_size=num_nodes * num_relation, reduce="sum")  # (N * R, D)
    return update.view(num_nodes, num_relation * x.shape[-1])


class GeometricRelationalGraphConv(nn.Module):
    """One GearNet layer: relational sum → ``linear`` + ``self_loop`` → batch norm → activation.

    Args:
        input_dim: ``d_in``.
        output_dim: ``d_out``.
        num_relation: ``R`` (7 for GearNet's graph, 8 angle bins for the line graph).
        edge_input_dim: Optional edge features added to every message through ``edge_linear: d_e → d_in``.
        batch_norm: Batch norm on the output (seed: True).
        activation: ``torch.nn.functional`` name (TorchDrug default ``"relu"``).
    """

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        num_relation: int,
        edge_input_dim: int | None = None,
        batch_norm: bool = False,
        activation: str | None = "relu",
    ) -> None:
        super().__init__()
        self.input_dim = input_dim
        self.output_dim = output_dim
        self.num_relation = num_relation
        # nn.Linear whose CPU float32 GEMMs run on the backend measured fastest (layers.cpu_linear)
        self.self_loop = Linear(input_dim, output_dim)
        self.linear = Linear(num_relation * input_dim, output_dim)
        self.edge_linear = nn.Linear(edge_input_dim, input_dim) if edge_input_dim else None
        self.batch_norm = nn.BatchNorm1d(output_dim) if batch_norm else None
        self.activation = getattr(F, activation) if activation else None

    def aggregate(
        self,
        x: Tensor,
        edge_index: Tensor,
        relation: Tensor,
        edge_weight: Tensor | None = None,
        edge_input: Tensor | None = None,
        adjacency: Tensor | None = None,
    ) -> Tensor:
        """``(N, R · d_in)`` relational neighbour sums (plus edge-feature messages when configured)."""
        num_nodes = x.shape[0]
        update = relational_sum(x, edge_index, relation, num_nodes, self.num_relation, edge_weight, adjacency)
        if self.edge_linear is not None:
            if edge_input is None:
                raise ValueError("this layer was built with edge_input_dim; pass edge_input (E, d_e)")
            edge_message = self.edge_linear(edge_input.to(x.dtype))  # (E, d_in)
            if edge_weight is not None:
                edge_message = edge_message * edge_weight.unsqueeze(-1)
            index = edge_index[1] * self.num_relation + relation
            edge_update = scatter(edge_message, index, dim=0, dim_size=num_nodes * self.num_relation)
            update = update + edge_update.view(num_nodes, -1)
        return update

    def combine(self, x: Tensor, update: Tensor) -> Tensor:
        """``linear(update) + self_loop(x)`` → batch norm → activation, ``(N, d_out)``."""
        out = self.linear(update) + self.self_loop(x)  # (N, d_out)
        if self.batch_norm is not None:
            out = self.batch_norm(out)
        if self.activation is not None:
            out = self.activation(out)
        return out

    def forward(
        self,
        x: Tensor,
        edge_index: Tensor,
        relation: Tensor,
        edge_weight: Tensor | None = None,
        edge_input: Tensor | None = None,
        adjacency: Tensor | None = None,
    ) -> Tensor:
        """``x`` ``(N, d_in)`` → ``(N, d_out)``; ``adjacency``: the graph's :func:`relational_adjacency`."""
        return self.combine(x, self.aggregate(x, edge_index, relation, edge_weight, edge_input, adjacency))
