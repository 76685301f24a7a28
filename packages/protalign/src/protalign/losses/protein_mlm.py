"""Protein masked-language modelling (ProtCLIP ``L_p2p``, weight 0.3; Zhou et al., AAAI 2025).

The seed masks 15 % of the non-special tokens (independent Bernoulli draws, all replaced by ``<mask>``, no
80/10/10; :func:`protalign.masking.bernoulli_mask`), runs the protein encoder on the masked sequence and
predicts the hidden residues with ``mlm_head = Linear(D → 512) → GELU → LayerNorm(512) → Linear(512 → V)``;
the loss is the cross-entropy averaged over every masked position of the batch.

The encoder contract hides a residue by its ``residue_masked`` flag, so the targets here are protdata's residue
types (V = 21: 20 amino acids + X), not the seed's 33 ESM tokens.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class MLMHead(nn.Module):
    """``Linear(in_dim, hidden) → GELU → LayerNorm(hidden) → Linear(hidden, vocab_size)`` (the seed's heads)."""

    def __init__(self, in_dim: int, hidden_dim: int = 512, vocab_size: int = 21) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden_dim),
            nn.GELU(),
            nn.LayerNorm(hidden_dim),
            nn.Linear(hidden_dim, vocab_size),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)  # (..., vocab_size)


def mlm_loss(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean cross-entropy of the masked positions' ``logits`` ``(M, V)`` against their residue types ``(M,)``.

    With no masked position (``M = 0``) the loss is a zero that is still part of the graph (the seed's
    ``cross_entropy`` over all-``-100`` labels returns NaN there).
    """
    if logits.dim() != 2 or targets.shape != logits.shape[:1]:
        raise ValueError(
            f"mlm_loss: expected logits (M, V) and targets (M,), got {tuple(logits.shape)}, {tuple(targets.shape)}"
        )
    if logits.shape[0] == 0:
        return logits.sum() * 0.0
    return F.cross_entropy(logits.float(), targets)
