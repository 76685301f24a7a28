"""Continuous-discrete convolution (Fan et al., "Continuous-Discrete Convolution for Geometry-Sequence Modeling
in Proteins", ICLR 2023; ESM-GearNet ``gearnet/cdconv.py``).

For an edge ``j → i`` (receptive field: Cα within the stage cutoff ``r``, plus ``i → i``):

    t = O_i (x_j − x_i) / (‖x_j − x_i‖ + 1e-9)        relative direction in i's frame (3)
    ρ = (b_i·b_j, n_i·n_j, o_i·o_j)                   frame agreement (3)
    Δ = clamp(num_j − num_i, −l, l),  l = ⌊seq_cutoff / 2⌋   (author residue numbers, as the seed)
    w = WeightNet_Δ([t, ρ, ‖x_j − x_i‖])             K kernel weights, one MLP per sequence offset
    s = 0.5 − 0.5 tanh(16 · (d / r) · (|Δ| / l) − 14)   smooth cut-off
    u_i = W^T Σ_j vec((s · w) ⊗ h_j)                  (K · C) → C_out

Sums go through ``torch_geometric.utils.scatter``. Module and parameter names equal the seed's (``WeightNet.Ws``,
``W``, ``identity``/``input``/``conv``/``output``, ``module``) so its state dicts load as is; initialisation
follows its ``reset_parameters``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch_geometric.utils import scatter


def kaiming_uniform_(tensor: Tensor, size: list) -> Tensor:
    """The seed's ``kaiming_uniform``: U(−b, b) with ``b = 1 / sqrt(prod(size[1:]))`` (gain √(1/3))."""
    fan = 1
    for s in size[1:]:
        fan *= s
    gain = math.sqrt(2.0 / (1 + math.sqrt(5) ** 2))
    bound = math.sqrt(3.0) * gain / math.sqrt(fan)
    with torch.no_grad():
        return tensor.uniform_(-bound, bound)


class BNLinear(nn.Module):
    """The seed's ``Linear``: BN(momentum 0.2) → LeakyReLU(0.1) → Dropout → Linear (pre-activation)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        batch_norm: bool = True,
        dropout: float = 0.0,
        bias: bool = False,
        leakyrelu_negative_slope: float = 0.1,
        momentum: float = 0.2,
    ) -> None:
        super().__init__()
        modules: list[nn.Module] = []
        if batch_norm:
            modules.append(nn.BatchNorm1d(in_channels, momentum=momentum))
        modules += [
            nn.LeakyReLU(leakyrelu_negative_slope),
            nn.Dropout(dropout),
            nn.Linear(in_channels, out_channels, bias=bias),
        ]
        self.module = nn.Sequential(*modules)

    def forward(self, x: Tensor) -> Tensor:
        return self.module(x)


class BNMLP(nn.Module):
    """The seed's ``MLP`` with ``mid_channels=None``: BN → LeakyReLU → Dropout → Linear → BN → LeakyReLU → Dropout."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        batch_norm: bool = True,
        dropout: float = 0.0,
        bias: bool = True,
        leakyrelu_negative_slope: float = 0.2,
        momentum: float = 0.2,
    ) -> None:
        super().__init__()
        first = BNLinear(
            in_channels, out_channels, batch_norm, dropout, bias, leakyrelu_negative_slope, momentum
        )
        modules = list(first.module)
        if batch_norm:
            modules.append(nn.BatchNorm1d(out_channels, momentum=momentum))
        modules += [nn.LeakyReLU(leakyrelu_negative_slope), nn.Dropout(dropout)]
        self.module = nn.Sequential(*modules)  # same layout (and state-dict names) as the seed's

    def forward(self, x: Tensor) -> Tensor:
        return self.module(x)


class WeightNet(nn.Module):
    """Per-sequence-offset MLP ``7 → kernel_dims`` (LeakyReLU 0.2): one weight matrix per offset bin."""

    def __init__(self, num_offsets: int, kernel_channels: list[int]) -> None:
        super().__init__()
        self.l = num_offsets
        self.kernel_channels = list(kernel_channels)
        self.Ws = nn.ParameterList()
        self.bs = nn.ParameterList()
        previous = 3 + 3 + 1
        for channels in self.kernel_channels:
            self.Ws.append(nn.Parameter(torch.empty(num_offsets, previous, channels)))
            self.bs.append(nn.Parameter(torch.empty(num_offsets, channels)))
            previous = channels
        self.relu = nn.LeakyReLU(0.2)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        previous = 3 + 3 + 1
        for i, channels in enumerate(self.kernel_channels):
            kaiming_uniform_(self.Ws[i].data, [self.l, previous, channels])
            self.bs[i].data.fill_(0.0)
            previous = channels

    def forward(self, delta: Tensor, offset_index: Tensor) -> Tensor:
        """``delta`` ``(E, 7)``, ``offset_index`` ``(E,)`` in ``[0, l)`` → kernel weights ``(E, K)``."""
        weight = delta
        for w, b in zip(self.Ws, self.bs):
            weight = self.relu(torch.einsum("ei,eio->eo", weight, w[offset_index]) + b[offset_index])
        return weight


class CDConv(nn.Module):
    """One continuous-discrete convolution ``(N, C) → (N, C_out)`` over a receptive-field graph."""

    def __init__(
        self, input_dim: int, output_dim: int, kernel_dims: list[int], seq_cutoff: int, spatial_cutoff: float
    ) -> None:
        super().__init__()
        self.input_dim = input_dim
        self.output_dim = output_dim
        self.kernel_dims = list(kernel_dims)
        self.seq_cutoff = seq_cutoff
        self.spatial_cutoff = spatial_cutoff
        self.WeightNet = WeightNet(seq_cutoff, self.kernel_dims)
        self.W = nn.Parameter(torch.empty(self.kernel_dims[-1] * input_dim, output_dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.WeightNet.reset_parameters()
        kaiming_uniform_(self.W.data, [self.kernel_dims[-1] * self.input_dim, self.output_dim])

    def forward(
        self, x: Tensor, edge_index: Tensor, pos: Tensor, frames: Tensor, residue_number: Tensor
    ) -> Tensor:
        """``x`` ``(N, C)``; ``edge_index`` ``(2, E)`` (source j, target i); ``pos`` ``(N, 3)``; ``frames``
        ``(N, 3, 3)``; ``residue_number`` ``(N,)`` → ``(N, C_out)``."""
        source, target = edge_index
        t = pos[source] - pos[target]  # (E, 3)
        dist = t.norm(dim=-1, keepdim=True)  # (E, 1)
        t = t / (dist + 1e-9)
        t = torch.einsum("eij,ej->ei", frames[target], t)  # (E, 3) in the target's frame
        rho = (frames[target] * frames[source]).sum(dim=-1)  # (E, 3)
        half = self.seq_cutoff // 2
        offset = (residue_number[source] - residue_number[target]).clamp(-half, half)  # (E,)
        normed_length = offset.abs().unsqueeze(-1).to(x.dtype) / half  # (E, 1)
        kernel = self.WeightNet(torch.cat([t, rho, dist], dim=-1), offset + half)  # (E, K)
        smooth = 0.5 - torch.tanh(dist / self.spatial_cutoff * normed_length * 16.0 - 14.0) * 0.5  # (E, 1)
        message = (kernel * smooth).unsqueeze(2) * x[source].unsqueeze(1)  # (E, K, C)
        update = scatter(message.flatten(1), target, dim=0, dim_size=x.shape[0], reduce="sum")  # (N, K * C)
        return update @ self.W


class CDBlock(nn.Module):
    """Residual bottleneck: ``output(conv(input(x))) + identity(x)``, width ``out · base_width / 64``."""

    def __init__(
        self,
        seq_cutoff: int,
        spatial_cutoff: float,
        kernel_dims: list[int],
        input_dim: int,
        output_dim: int,
        base_width: float = 16.0,
        batch_norm: bool = True,
        dropout: float = 0.0,
        bias: bool = False,
        leakyrelu_negative_slope: float = 0.1,
    ) -> None:
        super().__init__()
        if input_dim != output_dim:
            self.identity: nn.Module = BNLinear(
                input_dim, output_dim, batch_norm, dropout, bias, leakyrelu_negative_slope
            )
        else:
            self.identity = nn.Sequential()
        width = int(output_dim * (base_width / 64.0))
        self.input = BNMLP(input_dim, width, batch_norm, dropout, bias, leakyrelu_negative_slope)
        self.conv = CDConv(width, width, kernel_dims, seq_cutoff, spatial_cutoff)
        self.output = BNLinear(width, output_dim, batch_norm, dropout, bias, leakyrelu_negative_slope)

    def forward(
        self, x: Tensor, edge_index: Tensor, pos: Tensor, frames: Tensor, residue_number: Tensor
    ) -> Tensor:
        identity = self.identity(x)
        h = self.conv(self.input(x), edge_index, pos, frames, residue_number)
        return self.output(h) + identity
