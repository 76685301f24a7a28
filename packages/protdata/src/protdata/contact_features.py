"""Contact features of attention maps, shared by protenc-seq's ESM-2 contact head and prottasks' attention-contact
head (Rao et al. 2021, "Transformer protein language models are unsupervised structure learners"; fair-esm
``esm/modules.py`` ``symmetrize`` and ``apc``).

Both act on the last two dimensions of a ``(..., L, L)`` tensor, so a batch of per-channel maps
``(B, C, L, L)`` is corrected channel by channel. Zero rows and columns (padding) add nothing to APC's sums.
"""

from __future__ import annotations

from torch import Tensor


def symmetrize(x: Tensor) -> Tensor:
    """``A + Aᵀ`` over the last two dimensions, ``(..., L, L)`` -> ``(..., L, L)``."""
    return x + x.transpose(-1, -2)


def apc(x: Tensor) -> Tensor:
    """Average product correction (Dunn et al. 2008), ``F − F 1 1ᵀ F / 1ᵀ F 1`` per ``(L, L)`` map."""
    a1 = x.sum(-1, keepdim=True)  # (..., L, 1) row sums
    a2 = x.sum(-2, keepdim=True)  # (..., 1, L) column sums
    a12 = x.sum((-1, -2), keepdim=True)  # (..., 1, 1) total
    return x - a1 * a2 / a12
