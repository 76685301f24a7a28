"""Text-to-protein fragment MLM (ProtCLIP ``t2p_mlm``, ``L_t2p``, weight 0.7; Zhou et al., AAAI 2025).

Spans of the protein are hidden (:func:`protalign.masking.fragment_mask`); the masked protein goes through the
protein encoder and ``protein_projection`` (``(B, L, 512)``), the full text through the text encoder and
``text_projection`` (``(B, T, 512)``), and the :class:`FragmentDecoder` lets every residue read the text::

    q_l = W_q r_l,  k_t = W_k u_t,  v_t = W_v u_t,   a_lt = softmax_l( q_l·k_t / √d ),   f_l = Σ_t a_lt v_t

The seed's softmax runs over **dim=1, the protein positions** (``attention="protein"``, default), so each text
token distributes one unit of attention over the residues. ``attention="text"`` gives ordinary cross-attention
(softmax over text tokens). Padding is excluded on both axes (the seed passes no masks). The fused residues go
through ``t2p_mlm_head`` (the MLM head shape, from 512) and the loss is the cross-entropy over hidden residues.

The seed computes the projections and the decoder under ``torch.no_grad()``, so only ``t2p_mlm_head`` learns
from this loss; :class:`~protalign.model.ProtCLIP` lets gradients flow unless ``seed_no_grad=True``.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor, nn


class FragmentDecoder(nn.Module):
    """Single-head cross-attention from protein positions (queries) to text tokens (keys / values)."""

    def __init__(self, dim: int, attention: Literal["protein", "text"] = "protein") -> None:
        super().__init__()
        if attention not in ("protein", "text"):
            raise ValueError(f"attention must be 'protein' (the seed's) or 'text', got {attention!r}")
        self.dim = dim
        self.attention = attention
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)

    def attention_weights(
        self, protein: Tensor, text: Tensor, protein_mask: Tensor, text_mask: Tensor
    ) -> tuple[Tensor, Tensor]:
        """The ``(B, L, T)`` attention weights and the ``(B, T, d)`` values (padding rows / columns are 0)."""
        q = self.query(protein)  # (B, L, d)
        k = self.key(text)  # (B, T, d)
        v = self.value(text)  # (B, T, d)
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.dim)  # (B, L, T)
        pm = protein_mask.bool()[:, :, None]  # (B, L, 1)
        tm = text_mask.bool()[:, None, :]  # (B, 1, T)
        valid = pm & tm  # (B, L, T)
        axis = 1 if self.attention == "protein" else 2
        scores = scores.masked_fill(~valid, float("-inf"))
        weights = torch.softmax(scores, dim=axis)
        weights = torch.nan_to_num(weights, nan=0.0).masked_fill(~valid, 0.0)  # all-padding rows / columns
        return weights, v

    def forward(self, protein: Tensor, text: Tensor, protein_mask: Tensor, text_mask: Tensor) -> Tensor:
        """``protein`` ``(B, L, d)``, ``text`` ``(B, T, d)``, masks ``(B, L)`` / ``(B, T)`` -> fused ``(B, L, d)``."""
        weights, v = self.attention_weights(protein, text, protein_mask, text_mask)
        return weights @ v  # (B, L, d)
