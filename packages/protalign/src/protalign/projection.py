"""ProtCLIP's projection heads (diaoshaoyou/ProtCLIP): ``Linear(d → 512) → ReLU → Linear(512 → 512)``.

Both modalities get one; the seed applies them to pooled embeddings (global contrast) and to every token /
residue (fragment MLM, local contrast). Biases start at zero, as the seed's ``_init_weights`` sets them.
"""

from __future__ import annotations

from torch import Tensor, nn


class ProjectionHead(nn.Module):
    """``Linear(in_dim, out_dim) → ReLU → Linear(out_dim, out_dim)`` on the last axis of any ``(..., in_dim)``."""

    def __init__(self, in_dim: int, out_dim: int = 512) -> None:
        super().__init__()
        self.in_dim = in_dim
        self.out_dim = out_dim
        self.net = nn.Sequential(nn.Linear(in_dim, out_dim), nn.ReLU(), nn.Linear(out_dim, out_dim))
        for layer in self.net:
            if isinstance(layer, nn.Linear):
                nn.init.zeros_(layer.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)  # (..., out_dim)
