"""ProtCLIP's attribute prototype bank (``AttrProtoBank``, diaoshaoyou/ProtCLIP ``protclip/model/bank.py``).

A bank of ``K = 512`` learnable prototypes ``W`` ``(K, d)`` (``nn.Embedding``, initialised N(0, 1) as in the seed).
Each sub-text embedding ``x`` ``(d,)`` is replaced by a soft mixture of prototypes drawn with the
Gumbel-softmax (Jang et al. 2017, eq. 1; soft, ``τ = 0.9``)::

    z_k = x · W_k,     g_k = −log(−log U_k),  U_k ~ U(0, 1)
    y_k = exp((z_k + g_k)/τ) / Σ_j exp((z_j + g_j)/τ),     out = Σ_k y_k W_k

``proto_loss = mean |out − x|`` is returned for logging; the seed does not add it to the training loss. The
noise is drawn as :func:`torch.nn.functional.gumbel_softmax` draws it, so with the same RNG state both agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn


@dataclass
class PrototypeOutput:
    """``embeddings`` ``(..., d)`` soft prototypes; ``weights`` ``(..., K)``; ``index`` ``(...)`` argmax prototype;
    ``logits`` ``(..., K)`` = x·Wᵀ; ``loss`` = mean |embeddings − x| (logged only)."""

    embeddings: Tensor
    weights: Tensor
    index: Tensor
    logits: Tensor
    loss: Tensor


class PrototypeBank(nn.Module):
    """``K`` prototypes of width ``dim``, Gumbel-softmax assignment at temperature ``tau``."""

    def __init__(self, dim: int = 512, num_prototypes: int = 512, tau: float = 0.9) -> None:
        super().__init__()
        if tau <= 0:
            raise ValueError(f"Gumbel-softmax temperature must be > 0, got {tau}")
        self.dim = dim
        self.num_prototypes = num_prototypes
        self.tau = tau
        self.prototypes = nn.Embedding(num_prototypes, dim)

    def forward(self, x: Tensor, noise: Tensor | None = None) -> PrototypeOutput:
        """``x`` ``(..., dim)``; ``noise`` ``(..., K)`` Gumbel noise to use (default: fresh draws; zeros -> plain
        softmax at temperature τ)."""
        if x.shape[-1] != self.dim:
            raise ValueError(f"PrototypeBank: expected (..., {self.dim}), got {tuple(x.shape)}")
        weight = self.prototypes.weight  # (K, d)
        logits = x @ weight.t()  # (..., K)
        if noise is None:
            noise = -torch.empty_like(logits).exponential_().log()  # Gumbel(0, 1), as F.gumbel_softmax
        soft = torch.softmax((logits + noise) / self.tau, dim=-1)  # (..., K)
        out = soft @ weight  # (..., d)
        return PrototypeOutput(
            embeddings=out, weights=soft, index=soft.argmax(-1), logits=logits, loss=(out - x).abs().mean()
        )
