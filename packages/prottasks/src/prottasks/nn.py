"""The multi-layer perceptron every seed head uses (TorchDrug ``layers.MLP``).

``MLP(input_dim, hidden_dims)``: ``Linear → ReLU (→ dropout)`` for every layer but the last, which is a plain
``Linear`` (no activation, batch norm or dropout after it). TorchDrug's heads are written
``MLP(d_in, [d] * (num_mlp_layer - 1) + [d_out])`` — :func:`seed_mlp` builds exactly that.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn


class MLP(nn.Module):
    """``Linear`` layers with ReLU (and optional dropout) between them, none after the last."""

    def __init__(self, input_dim: int, hidden_dims: Sequence[int], dropout: float = 0.0) -> None:
        super().__init__()
        if not hidden_dims:
            raise ValueError("MLP needs at least one layer (hidden_dims is empty)")
        dims = [input_dim, *hidden_dims]
        self.layers = nn.ModuleList(nn.Linear(dims[i], dims[i + 1]) for i in range(len(dims) - 1))
        self.dropout = nn.Dropout(dropout) if dropout else None
        self.output_dim = dims[-1]

    def forward(self, x: Tensor) -> Tensor:  # (..., input_dim) -> (..., output_dim)
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = x.relu()
                if self.dropout is not None:
                    x = self.dropout(x)
        return x


def seed_mlp(
    input_dim: int, hidden_dim: int, output_dim: int, num_mlp_layer: int, dropout: float = 0.0
) -> MLP:
    """TorchDrug's ``MLP(input_dim, [hidden_dim] * (num_mlp_layer - 1) + [output_dim])``."""
    if num_mlp_layer < 1:
        raise ValueError(f"num_mlp_layer must be >= 1, got {num_mlp_layer}")
    return MLP(input_dim, [hidden_dim] * (num_mlp_layer - 1) + [output_dim], dropout=dropout)
