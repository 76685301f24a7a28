"""Output heads of ESM-2: the masked-LM head (tied to the embeddings) and the contact head.

LM head (fair-esm ``RobertaLMHead``): ``logits = LN(GELU(W x + b)) · Eᵀ + bias`` with ``E`` the token
embedding matrix. Contact head (fair-esm ``ContactPredictionHead``; Rao et al. 2020): attention maps of every
layer and head, ``<eos>``/``<cls>`` rows and columns removed, symmetrised (``A + Aᵀ``) and average-product
corrected (``APC(A) = A - A·1 1ᵀA / 1ᵀA1``), then a logistic regression over the ``layers × heads`` channels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from protdata.contact_features import apc, symmetrize


class LMHead(nn.Module):
    """Masked-language-model head; the output projection is the (tied) embedding matrix passed to forward."""

    def __init__(self, embed_dim: int, vocab_size: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.dense = nn.Linear(embed_dim, embed_dim)
        self.layer_norm = nn.LayerNorm(embed_dim, eps=eps)
        self.bias = nn.Parameter(torch.zeros(vocab_size))

    def forward(self, x: Tensor, embedding: Tensor) -> Tensor:
        """``x`` ``(..., D)``, ``embedding`` ``(V, D)`` -> logits ``(..., V)``.

        Under bf16 autocast on the CPU the head runs in fp32 (it only sees the rows whose logits are asked for,
        e.g. the masked sites when scoring): bf16 logits would round log-probabilities by up to ~0.06 at
        |logit| ~ 16, the size of many masked-marginal score differences."""
        if (
            x.device.type == "cpu"
            and torch.is_autocast_enabled("cpu")
            and self.dense.weight.dtype == torch.float32
        ):
            with torch.autocast("cpu", enabled=False):
                return self.forward(x.float(), embedding.float())
        return F.linear(self.layer_norm(F.gelu(self.dense(x))), embedding) + self.bias


class ContactHead(nn.Module):
    """Logistic regression over symmetrised, APC-corrected attention maps."""

    def __init__(self, in_features: int) -> None:
        super().__init__()
        self.regression = nn.Linear(in_features, 1)

    def forward(self, tokens: Tensor, attentions: Tensor, eos_id: int) -> Tensor:
        """``tokens`` ``(B, T)`` (right-padded), ``attentions`` ``(B, layers, H, T, T)`` with zero pad rows/columns
        -> contact probabilities ``(B, T - 2, T - 2)`` (residue pairs; entries beyond a protein's length are
        padding)."""
        eos = tokens.ne(eos_id).to(attentions)  # (B, T)
        attentions = attentions * (eos[:, :, None] * eos[:, None, :])[:, None, None]
        attentions = attentions[..., 1:-1, 1:-1]  # drop <cls> (first) and the last column
        b, layers, heads, t, _ = attentions.shape
        features = apc(symmetrize(attentions.reshape(b, layers * heads, t, t)))  # (B, C, T', T')
        features = features.to(self.regression.weight.dtype).permute(0, 2, 3, 1)  # (B, T', T', C)
        return torch.sigmoid(self.regression(features).squeeze(-1))
