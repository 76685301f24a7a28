"""Prototype-guided local contrast (ProtCLIP ``local_contrast``, ``L_local``, weight 1.0; AAAI 2025).

For protein ``b`` with residue embeddings ``r_l = protein_projection(h_l)`` and the prototype embeddings ``s_t``
of its four property sub-texts (:class:`~protalign.prototype_bank.PrototypeBank`)::

    c_tl  = s_t · r_l
    ĉ_tl  = (c_tl − min_l c_tl) / (max_l c_tl − min_l c_tl)          min–max over the protein's residues
    ĉ_tl  = 0  where ĉ_tl < 0.3                                       the seed's threshold
    w_tl  = ĉ_tl / Σ_l ĉ_tl,      a_t = Σ_l w_tl r_l                  property-specific protein summary
    logits_tu = exp(local_logit_scale) · â_t · ŝ_u                    (â, ŝ: L2-normalised), 4 × 4
    L_b   = 1/4 Σ_t −log softmax_u(logits_t·)_t
    L_local = 1/B Σ_b L_b

``local_logit_scale`` starts at ``log(1/0.1)``. The seed averages "two directions" that are the same call
twice (a → s), so its loss is the one direction above; ``symmetric=True`` adds the s → a direction instead.
The seed min–maxes over every padded position (BOS/EOS/padding included); here only real residues count.
When all of a protein's similarities to a sub-text are equal (``max = min``, where the seed divides by zero and
returns NaN) every residue gets the same weight.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def local_contrastive_loss(
    subtexts: Tensor,
    residues: Tensor,
    mask: Tensor,
    scale: Tensor | float,
    *,
    threshold: float = 0.3,
    symmetric: bool = False,
    eps: float = 1e-12,
) -> Tensor:
    """``subtexts`` ``(B, T, d)`` prototypes, ``residues`` ``(B, L, d)``, ``mask`` ``(B, L)`` -> scalar loss."""
    if subtexts.dim() != 3 or residues.dim() != 3 or subtexts.shape[0] != residues.shape[0]:
        raise ValueError(
            f"local_contrastive_loss: expected (B, T, d) and (B, L, d), got {tuple(subtexts.shape)}, "
            f"{tuple(residues.shape)}"
        )
    valid = mask.bool()[:, None, :]  # (B, 1, L)
    sim = torch.einsum("btd,bld->btl", subtexts, residues)  # (B, T, L)
    big = torch.finfo(sim.dtype).max
    low = sim.masked_fill(~valid, big).amin(dim=-1, keepdim=True)  # (B, T, 1)
    high = sim.masked_fill(~valid, -big).amax(dim=-1, keepdim=True)  # (B, T, 1)
    span = high - low
    flat = span <= eps  # (B, T, 1): all similarities equal
    norm = (sim - low) / torch.where(flat, torch.ones_like(span), span)
    norm = torch.where(flat, torch.ones_like(norm), norm)
    norm = torch.where(norm < threshold, torch.zeros_like(norm), norm).masked_fill(~valid, 0.0)
    weights = norm / norm.sum(dim=-1, keepdim=True)  # (B, T, L); the max residue always keeps weight > 0
    summary = torch.einsum("btl,bld->btd", weights, residues)  # (B, T, d)
    a = F.normalize(summary.float(), dim=-1)
    s = F.normalize(subtexts.float(), dim=-1)
    logits = scale * a @ s.transpose(-1, -2)  # (B, T, T)
    b, t = logits.shape[:2]
    labels = torch.arange(t, device=logits.device).repeat(b)
    loss = F.cross_entropy(logits.reshape(b * t, t), labels)
    if symmetric:
        loss = (loss + F.cross_entropy(logits.transpose(-1, -2).reshape(b * t, t), labels)) / 2
    return loss
