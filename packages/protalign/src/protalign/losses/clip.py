"""Global contrastive loss (ProtCLIP ``L_cl``, AAAI 2025; CLIP, Radford et al. 2021, eq. in Fig. 3).

With L2-normalised protein embeddings ``p_i`` and text embeddings ``t_j`` of one (global) batch of ``B`` pairs
and the scale ``s = exp(logit_scale)``::

    logits_ij = s · p_i · t_j
    L_cl = ½ [ 1/B Σ_i −log softmax_j(logits_i·)_i  +  1/B Σ_j −log softmax_i(logits_·j)_j ]

``logit_scale`` is learnable, initialised to ``log(1/0.07)`` (the seed's ``logit_scale_init 0.07``). The seed
never clamps it; open_clip clamps it to ``log(100)`` after every optimiser step. :class:`ClipLoss` clamps it in
the forward pass (``s ≤ 100``), which has the same effect on the loss and gives no gradient pushing it higher.
Under ``torch.distributed`` the embeddings of all ranks are gathered with gradients
(:func:`~protalign.distributed.all_gather_with_grad`), so every rank computes the global loss.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from protalign.distributed import all_gather_with_grad


def clip_loss(protein: Tensor, text: Tensor, scale: Tensor | float) -> Tensor:
    """Symmetric InfoNCE of ``(B, D)`` protein and text embeddings (already normalised) at ``scale`` -> scalar.

    Row ``i`` of both inputs is a positive pair; all other rows are negatives. Computed in float32.
    """
    if protein.shape != text.shape or protein.dim() != 2:
        raise ValueError(
            f"clip_loss: expected two (B, D) tensors, got {tuple(protein.shape)}, {tuple(text.shape)}"
        )
    logits = scale * protein.float() @ text.float().t()  # (B, B)
    labels = torch.arange(logits.shape[0], device=logits.device)
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels)) / 2


class ClipLoss(nn.Module):
    """:func:`clip_loss` with a learnable ``logit_scale`` and all-gather across data-parallel ranks.

    Args:
        temperature: Initial temperature τ; ``logit_scale`` starts at ``log(1/τ)`` (seed: 0.07).
        max_scale: Upper bound of ``exp(logit_scale)`` (open_clip: 100).
        gather: Gather embeddings from all ranks when ``torch.distributed`` runs with several ranks.
    """

    def __init__(self, temperature: float = 0.07, max_scale: float = 100.0, gather: bool = True) -> None:
        super().__init__()
        if not (temperature > 0 and 1 / temperature <= max_scale):
            raise ValueError(f"initial scale 1/{temperature} must lie in (0, max_scale={max_scale}]")
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / temperature)))
        self.max_log_scale = math.log(max_scale)
        self.gather = gather

    def scale(self) -> Tensor:
        """``exp(min(logit_scale, log max_scale))`` (scalar tensor)."""
        return self.logit_scale.clamp(max=self.max_log_scale).exp()

    def forward(self, protein: Tensor, text: Tensor) -> Tensor:
        if self.gather:
            protein = all_gather_with_grad(protein)  # (B_global, D)
            text = all_gather_with_grad(text)  # (B_global, D)
        return clip_loss(protein, text, self.scale())
