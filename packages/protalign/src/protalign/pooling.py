"""Mean pooling of token / residue features into one vector per sequence.

ProtCLIP (diaoshaoyou/ProtCLIP) pools with ``last_hidden_state.mean(dim=1)``: the mean over *all* positions of
the padded batch, padding included, so a sequence's embedding depends on how long the other sequences in its
batch are. protalign pools over real positions only; ``include_padding=True`` reproduces the seed.
"""

from __future__ import annotations

from torch import Tensor

from protdata import masked_mean


def mean_pool(x: Tensor, mask: Tensor, *, include_padding: bool = False) -> Tensor:
    """``(B, L, D)`` features, ``(B, L)`` mask (True / 1 on real positions) -> ``(B, D)``.

    ``include_padding=False`` (default): ``Σ_l m_l x_l / Σ_l m_l`` (zeros for a sequence without any real
    position). ``include_padding=True``: ``Σ_l x_l / L`` over every padded position, as the seed does.
    """
    if x.dim() != 3 or mask.shape != x.shape[:2]:
        raise ValueError(
            f"mean_pool: expected x (B, L, D) and mask (B, L), got {tuple(x.shape)}, {tuple(mask.shape)}"
        )
    if include_padding:
        return x.mean(dim=1)  # (B, D)
    return masked_mean(x, mask.bool())  # (B, D)
