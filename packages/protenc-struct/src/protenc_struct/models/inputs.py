"""Node inputs of the structure encoders: the 21-d residue-type one-hot, or features a caller provides.

``node_input(batch, input_dim, node_features)``: without ``node_features`` the input is the one-hot of
``batch.residue_type`` over 21 classes (20 residues + unknown, TorchDrug's ``residue2id`` order) with an
all-zero row for residues flagged ``residue_masked`` (ESM-GearNet's residue-type prediction zeroes the masked
residues' features). With ``node_features`` — e.g. ESM-2 residue features ``(N, 1280)`` or ``(B, L, 1280)`` in
serial fusion — they are used as they are (masking is then the sequence encoder's business).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from protdata import NUM_RESIDUE_TYPES, ProteinBatch
from protenc_struct.errors import StructureInputError


def node_input(
    batch: ProteinBatch, input_dim: int, node_features: Tensor | None, dtype: torch.dtype
) -> Tensor:
    """``(N, input_dim)`` node input in ``dtype`` (see the module docstring)."""
    if node_features is None:
        if input_dim != NUM_RESIDUE_TYPES:
            raise StructureInputError(
                f"this encoder takes {input_dim}-d node features (built with input_dim={input_dim}); pass "
                f"node_features of shape ({batch.num_residues}, {input_dim}) or build it with input_dim=21 "
                f"to use the residue-type one-hot"
            )
        x = F.one_hot(batch.residue_type, NUM_RESIDUE_TYPES).to(dtype)  # (N, 21)
        return x * (~batch.residue_masked).unsqueeze(-1).to(dtype)
    if node_features.dim() == 3:  # padded (B, L, D)
        node_features = batch.to_flat(node_features)
    if node_features.dim() != 2 or node_features.shape != (batch.num_residues, input_dim):
        raise StructureInputError(
            f"node_features must be ({batch.num_residues}, {input_dim}) flat or "
            f"({len(batch)}, >={batch.max_length}, {input_dim}) padded for this batch, got "
            f"{tuple(node_features.shape)}"
        )
    return node_features.to(dtype)
