"""TorchDrug's ``layers.SelfAttentionBlock`` (``torchdrug/layers/common.py``), which ESM-GearNet's cross fusion uses.

    q = W_q x ,  k = W_k x ,  v = W_v x                     # three Linear(d, d) ("query", "key", "value")
    out = MultiheadAttention(q, k, v, key_padding_mask)     # nn.MultiheadAttention(d, heads, dropout): its own
                                                            # in-projections, softmax(QKᵀ/√d_h)V per head, out_proj

No residual connection, layer norm or feed-forward network (Vaswani et al. 2017, Eq. 1 only). ``dropout`` is the
attention-probability dropout of ``nn.MultiheadAttention`` (ESM-GearNet: 0.1). Module names equal TorchDrug's, so
an ESM-GearNet cross-fusion state dict loads as is.
"""

from __future__ import annotations

from torch import Tensor, nn

from protfusion.errors import FusionError


class SelfAttentionBlock(nn.Module):
    """Multi-head self-attention over padded token sets with a key-padding mask.

    Args:
        hidden_dim: ``d`` (ESM-GearNet ``cross_dim: 512``).
        num_heads: Heads (ESM-GearNet: 8).
        dropout: Dropout on the attention probabilities (ESM-GearNet: 0.1).
    """

    def __init__(self, hidden_dim: int, num_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if hidden_dim % num_heads:
            raise FusionError(f"hidden_dim {hidden_dim} is not a multiple of num_heads {num_heads}")
        self.hidden_dim = hidden_dim
        self.num_heads = num_heads
        self.query = nn.Linear(hidden_dim, hidden_dim)
        self.key = nn.Linear(hidden_dim, hidden_dim)
        self.value = nn.Linear(hidden_dim, hidden_dim)
        self.attn = nn.MultiheadAttention(hidden_dim, num_heads, dropout=dropout, batch_first=True)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """``x`` ``(B, T, d)``, ``mask`` ``(B, T)`` True on real tokens → ``(B, T, d)`` (rows at padding: undefined)."""
        out, _ = self.attn(
            self.query(x), self.key(x), self.value(x), key_padding_mask=~mask, need_weights=False
        )  # (B, T, d)
        return out
