"""FusionProt's structure-side token: one extra graph node per protein, linked to every residue of its protein.

FusionProt's ``build_protein_graph_with_3d_token`` appends ``B`` token nodes after the ``N`` residue nodes of a
batch (token of protein ``b`` = node ``N + b``) and adds, for every residue ``i`` of protein ``b``, the directed
edges ``token → i`` and ``i → token``. Their relation id is ``graph.bond_type.max() + 1``; TorchDrug's protein
graphs carry all-zero ``bond_type``, so this is **1** -- the token edges share GearNet's relation 1 (sequential
offset −1) and ``num_relation`` stays 7 (kalifadan/FusionProt). By default the token edges get a relation of
their own (id ``R`` = the graph's relation count, so GearNet needs ``R + 1`` relations);
``seed_token_relation=True`` reproduces the seed's relation 1.
"""

from __future__ import annotations

import torch
from torch import Tensor

#: The relation FusionProt's token edges end up with (``bond_type.max() + 1`` over all-zero bond types).
SEED_TOKEN_RELATION = 1


def token_relation(num_graph_relations: int, seed_token_relation: bool) -> int:
    """Relation id of the token edges: ``num_graph_relations`` (a new one) or the seed's 1."""
    return SEED_TOKEN_RELATION if seed_token_relation else num_graph_relations


def token_edges(node2graph: Tensor, num_nodes: int, relation: int) -> tuple[Tensor, Tensor]:
    """Edges between each residue and its protein's token node.

    Args:
        node2graph: ``(N,)`` protein of each residue node.
        num_nodes: ``N``; the token of protein ``b`` is node ``N + b``.
        relation: Relation id given to every token edge.

    Returns:
        ``edge_index`` ``(2, 2N)`` (first ``token → residue``, then ``residue → token``) and ``relation`` ``(2N,)``.
    """
    residues = torch.arange(num_nodes, device=node2graph.device)  # (N,)
    tokens = num_nodes + node2graph  # (N,)
    edge_index = torch.cat(
        [torch.stack([tokens, residues]), torch.stack([residues, tokens])], dim=1
    )  # (2, 2N)
    relation_ids = torch.full((2 * num_nodes,), relation, dtype=torch.long, device=node2graph.device)
    return edge_index, relation_ids


def with_token_edges(
    edge_index: Tensor, relation: Tensor, node2graph: Tensor, num_nodes: int, token_relation_id: int
) -> tuple[Tensor, Tensor]:
    """The residue graph's edges followed by the token edges (:func:`token_edges`)."""
    extra_index, extra_relation = token_edges(node2graph, num_nodes, token_relation_id)
    return torch.cat([edge_index, extra_index], dim=1), torch.cat([relation, extra_relation])
