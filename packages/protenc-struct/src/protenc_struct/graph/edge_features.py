"""GearNet-Edge's 59-d edge features (TorchDrug ``GraphConstruction(edge_feature="gearnet")``).

For an edge ``j → i`` (source ``j`` = TorchDrug's ``node_in``) of relation ``r``:

    one-hot(type_j, 20) ⊕ one-hot(type_i, 20) ⊕ one-hot(r, R) ⊕ one-hot(min(|i - j|, 10), 11) ⊕ ‖x_i − x_j‖

= 20 + 20 + 7 + 11 + 1 = 59 dimensions with GearNet's 7 relations. TorchDrug reads unknown residues as glycine;
protdata keeps them as id 20 (``X``), which gets an all-zero residue-type block here, and so do residues flagged
``residue_masked`` (their identity must not leak through the edges).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from protenc_struct.config import EDGE_RESIDUE_TYPES, EDGE_SEQ_DIST_CLASSES


def residue_type_one_hot(residue_type: Tensor, residue_masked: Tensor | None, num_classes: int) -> Tensor:
    """``(N, num_classes)`` one-hot; ids ``>= num_classes`` (unknown) and masked residues give zero rows."""
    known = residue_type < num_classes
    if residue_masked is not None:
        known = known & ~residue_masked
    one_hot = F.one_hot(residue_type.clamp(max=num_classes - 1), num_classes)
    return one_hot * known.unsqueeze(-1)


def gearnet_edge_features(
    edge_index: Tensor,
    relation: Tensor,
    num_relation: int,
    residue_type: Tensor,
    pos: Tensor,
    residue_masked: Tensor | None = None,
) -> Tensor:
    """``(E, 40 + R + 12)`` GearNet-Edge edge features in ``pos.dtype``.

    Args:
        edge_index: ``(2, E)`` (source, target) over the flat residue index (edges never leave a protein, so the
            flat index difference is the sequence separation ``|i - j|``).
        relation: ``(E,)`` relation ids.
        num_relation: ``R``.
        residue_type: ``(N,)`` residue ids (TorchDrug order, 20 = unknown).
        pos: ``(N, 3)`` Cα positions.
        residue_masked: ``(N,)`` bool, residues whose identity is hidden.
    """
    source, target = edge_index
    types = residue_type_one_hot(residue_type, residue_masked, EDGE_RESIDUE_TYPES).to(pos.dtype)  # (N, 20)
    separation = (target - source).abs().clamp(max=EDGE_SEQ_DIST_CLASSES - 1)  # (E,)
    distance = (pos[target] - pos[source]).norm(dim=-1, keepdim=True)  # (E, 1)
    return torch.cat(
        [
            types[source],
            types[target],
            F.one_hot(relation, num_relation).to(pos.dtype),
            F.one_hot(separation, EDGE_SEQ_DIST_CLASSES).to(pos.dtype),
            distance,
        ],
        dim=-1,
    )
