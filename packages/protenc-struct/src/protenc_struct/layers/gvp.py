"""Geometric Vector Perceptron layers (Jing et al. 2021, "Equivariant Graph Neural Networks for 3D
Macromolecular Structure", arXiv 2106.03843; gvp-pytorch as adapted in ESM-GearNet's ``gearnet/gvp_layer.py``).

Features are tuples ``(s, V)``: scalars ``(n, S)`` and vectors ``(n, V, 3)``. A GVP (Algorithm 1 with the vector
gate of the 2021 follow-up):

    V_h = W_h V ;  s' = W_m [s, ‖V_h‖] + b ;  V' = W_μ V_h ;  V' ← V' · σ(W_g s' + b_g)   (vector gate, σ_v = None)
    s' ← σ(s')

Scalars are invariant and vectors equivariant under rotations; nothing depends on translations. Module and
parameter names equal ESM-GearNet's (``wh``, ``ws``, ``wv``, ``wsv``, ``message_func``, ``ff_func``, ``norm``),
so its GVP state dicts load as is. Messages are averaged with ``torch_geometric.utils.scatter``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.utils import scatter

ScalarVector = tuple[Tensor, Tensor]
Activations = tuple[Callable[[Tensor], Tensor] | None, Callable[[Tensor], Tensor] | None]


def norm_no_nan(
    x: Tensor, dim: int = -1, keepdim: bool = False, eps: float = 1e-8, sqrt: bool = True
) -> Tensor:
    """L2 norm clamped below at ``eps`` (of the squared norm), so zero vectors have finite gradients."""
    out = torch.clamp(torch.sum(torch.square(x), dim, keepdim), min=eps)
    return torch.sqrt(out) if sqrt else out


class GVP(nn.Module):
    """Geometric vector perceptron ``(S_in, V_in) → (S_out, V_out)``.

    With ``V_in == 0`` it is a linear map of the scalars and, if ``V_out > 0``, emits zero vectors (as in
    gvp-pytorch). ``activations = (scalar, vector)``; with ``vector_gate`` the vector activation (if any) is
    applied to the scalars that feed the gate.
    """

    def __init__(
        self,
        in_dims: tuple[int, int],
        out_dims: tuple[int, int],
        h_dim: int | None = None,
        activations: Activations = (F.relu, torch.sigmoid),
        vector_gate: bool = False,
    ) -> None:
        super().__init__()
        self.si, self.vi = in_dims
        self.so, self.vo = out_dims
        self.vector_gate = vector_gate
        if self.vi:
            self.h_dim = h_dim or max(self.vi, self.vo)
            self.wh = nn.Linear(self.vi, self.h_dim, bias=False)
            self.ws = nn.Linear(self.h_dim + self.si, self.so)
            if self.vo:
                self.wv = nn.Linear(self.h_dim, self.vo, bias=False)
                if vector_gate:
                    self.wsv = nn.Linear(self.so, self.vo)
        else:
            self.ws = nn.Linear(self.si, self.so)
        self.scalar_act, self.vector_act = activations

    def forward(self, x: ScalarVector | Tensor) -> ScalarVector | Tensor:
        """``(s, V)`` (or ``s`` alone when ``V_in == 0``) → ``(s', V')`` (or ``s'`` when ``V_out == 0``)."""
        if self.vi:
            s, v = x
            v = v.transpose(-1, -2)  # (n, 3, V_in)
            vh = self.wh(v)  # (n, 3, H)
            vn = norm_no_nan(vh, dim=-2)  # (n, H)
            s = self.ws(torch.cat([s, vn], -1))  # (n, S_out)
            if self.vo:
                v = self.wv(vh).transpose(-1, -2)  # (n, V_out, 3)
                if self.vector_gate:
                    gate = self.wsv(self.vector_act(s) if self.vector_act else s)  # (n, V_out)
                    v = v * torch.sigmoid(gate).unsqueeze(-1)
                elif self.vector_act:
                    v = v * self.vector_act(norm_no_nan(v, dim=-1, keepdim=True))
        else:
            s = self.ws(x)
            if self.vo:
                v = s.new_zeros(s.shape[0], self.vo, 3)
        if self.scalar_act:
            s = self.scalar_act(s)
        return (s, v) if self.vo else s


class VectorDropout(nn.Module):
    """Dropout of whole vector channels (all 3 components together), scaled by ``1 / (1 - p)``."""

    def __init__(self, drop_rate: float) -> None:
        super().__init__()
        self.drop_rate = drop_rate

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.drop_rate == 0:
            return x
        keep = torch.bernoulli(torch.full(x.shape[:-1], 1 - self.drop_rate, device=x.device, dtype=x.dtype))
        return x * keep.unsqueeze(-1) / (1 - self.drop_rate)


class Dropout(nn.Module):
    """Dropout for ``(s, V)`` tuples: element dropout on scalars, channel dropout on vectors."""

    def __init__(self, drop_rate: float) -> None:
        super().__init__()
        self.sdropout = nn.Dropout(drop_rate)
        self.vdropout = VectorDropout(drop_rate)

    def forward(self, x: ScalarVector | Tensor) -> ScalarVector | Tensor:
        if isinstance(x, Tensor):
            return self.sdropout(x)
        s, v = x
        return self.sdropout(s), self.vdropout(v)


class GVPLayerNorm(nn.Module):
    """LayerNorm on scalars; vectors divided by the root-mean-square of their channel norms."""

    def __init__(self, dims: tuple[int, int]) -> None:
        super().__init__()
        self.s, self.v = dims
        self.scalar_norm = nn.LayerNorm(self.s)

    def forward(self, x: ScalarVector | Tensor) -> ScalarVector | Tensor:
        if not self.v:
            return self.scalar_norm(x)
        s, v = x
        vn = norm_no_nan(v, dim=-1, keepdim=True, sqrt=False)  # (n, V, 1)
        vn = torch.sqrt(torch.mean(vn, dim=-2, keepdim=True))  # (n, 1, 1)
        return self.scalar_norm(s), v / vn


def _tuple_cat(*args: ScalarVector) -> ScalarVector:
    return torch.cat([a[0] for a in args], dim=-1), torch.cat([a[1] for a in args], dim=-2)


class GVPConv(nn.Module):
    """GVP message passing: ``m_{j→i} = GVPs((s_j, V_j) ⊕ (s_e, V_e) ⊕ (s_i, V_i))``, averaged over ``j``.

    ``n_layers`` GVPs in the message function, the last without activations (gvp-pytorch ``GVPConv``).
    Targets without incoming edges receive zeros.
    """

    def __init__(
        self,
        in_dims: tuple[int, int],
        out_dims: tuple[int, int],
        edge_dims: tuple[int, int],
        n_layers: int = 3,
        aggr: str = "mean",
        activations: Activations = (F.relu, torch.sigmoid),
        vector_gate: bool = False,
    ) -> None:
        super().__init__()
        self.si, self.vi = in_dims
        self.so, self.vo = out_dims
        self.se, self.ve = edge_dims
        self.aggr = aggr
        message_in = (2 * self.si + self.se, 2 * self.vi + self.ve)
        if n_layers == 1:
            modules = [GVP(message_in, out_dims, activations=(None, None), vector_gate=vector_gate)]
        else:
            modules = [GVP(message_in, out_dims, activations=activations, vector_gate=vector_gate)]
            modules += [
                GVP(out_dims, out_dims, activations=activations, vector_gate=vector_gate)
                for _ in range(n_layers - 2)
            ]
            modules.append(GVP(out_dims, out_dims, activations=(None, None), vector_gate=vector_gate))
        self.message_func = nn.Sequential(*modules)

    def forward(self, x: ScalarVector, edge_index: Tensor, edge_attr: ScalarVector) -> ScalarVector:
        """``x`` ``((N, S), (N, V, 3))``; ``edge_index`` ``(2, E)`` (source j, target i) → aggregated messages."""
        s, v = x
        source, target = edge_index
        message = _tuple_cat((s[source], v[source]), edge_attr, (s[target], v[target]))
        ms, mv = self.message_func(message)  # (E, S_out), (E, V_out, 3)
        n = s.shape[0]
        out_s = scatter(ms, target, dim=0, dim_size=n, reduce=self.aggr)  # (N, S_out)
        out_v = scatter(mv.reshape(mv.shape[0], -1), target, dim=0, dim_size=n, reduce=self.aggr)
        return out_s, out_v.view(n, self.vo, 3)


class GVPConvLayer(nn.Module):
    """Residual GVP graph layer: ``x ← LN(x + Dropout(GVPConv(x)))``, ``x ← LN(x + Dropout(FF(x)))``.

    Feed-forward: ``n_feedforward`` GVPs through hidden dims ``(4 S, 2 V)`` (gvp-pytorch ``GVPConvLayer``).
    """

    def __init__(
        self,
        node_dims: tuple[int, int],
        edge_dims: tuple[int, int],
        n_message: int = 3,
        n_feedforward: int = 2,
        drop_rate: float = 0.1,
        activations: Activations = (F.relu, torch.sigmoid),
        vector_gate: bool = False,
    ) -> None:
        super().__init__()
        self.conv = GVPConv(
            node_dims, node_dims, edge_dims, n_message, activations=activations, vector_gate=vector_gate
        )
        self.norm = nn.ModuleList(GVPLayerNorm(node_dims) for _ in range(2))
        self.dropout = nn.ModuleList(Dropout(drop_rate) for _ in range(2))
        if n_feedforward == 1:
            ff = [GVP(node_dims, node_dims, activations=(None, None), vector_gate=vector_gate)]
        else:
            hid = (4 * node_dims[0], 2 * node_dims[1])
            ff = [GVP(node_dims, hid, activations=activations, vector_gate=vector_gate)]
            ff += [
                GVP(hid, hid, activations=activations, vector_gate=vector_gate)
                for _ in range(n_feedforward - 2)
            ]
            ff.append(GVP(hid, node_dims, activations=(None, None), vector_gate=vector_gate))
        self.ff_func = nn.Sequential(*ff)

    def forward(self, x: ScalarVector, edge_index: Tensor, edge_attr: ScalarVector) -> ScalarVector:
        dh = self.dropout[0](self.conv(x, edge_index, edge_attr))
        x = self.norm[0]((x[0] + dh[0], x[1] + dh[1]))
        dh = self.dropout[1](self.ff_func(x))
        return self.norm[1]((x[0] + dh[0], x[1] + dh[1]))
