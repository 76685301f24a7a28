"""Rotary position embeddings (RoFormer, Su et al. 2021) exactly as ESM-2 uses them.

For position ``t`` and frequency ``inv_freq[j]`` the angle is ``t * inv_freq[j]``; the rotation is the
half-split ("GPT-NeoX") form: with ``x = [x1, x2]`` (two halves of the head dimension)
``rot(x) = [x1·cos - x2·sin, x2·cos + x1·sin]`` -- fair-esm's ``x·cos + rotate_half(x)·sin`` with
``cos = cat(cos θ, cos θ)`` (``rotary_embedding.py``). Positions count from 0 at ``<cls>``.

``inv_freq`` is kept *exactly as stored in the checkpoint*: ESM-2 was trained with an fp16 ``inv_freq``
(values 1.0, 0.75, 0.5625, 0.42163…), and recomputing it in fp32 gives "significant discrepancies"
(fair-esm ``esm/rotary_embedding.py``). The buffer therefore stays float32 holding those values even when the
module is cast to another dtype; cos/sin are computed in float32.

Fast CPU inference form (:func:`apply_rotary_interleaved`): the same rotation is the complex product
``(x1 + i·x2) · e^{iθ}``. With the q/k channels of each head reordered from ``[x1, x2]`` to interleaved pairs
``(x1_j, x2_j)`` (:func:`interleave_index`, applied once to ``qkv_proj``'s rows) it is one complex multiply over
contiguous pairs. Because q and k get the same reordering, every ``q·k`` -- hence attention -- is unchanged
(v is not reordered). Measured on the 2-core Xeon for ESM-2 35M's q/k (4,096 rows, 20 heads × 24): 2.3 ms vs
23.6 ms for the half-split form, whose 12-element inner runs defeat vectorisation.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn


class RotaryEmbedding(nn.Module):
    """Holds ``inv_freq`` ``(head_dim / 2,)`` and produces cos/sin tables for packed positions."""

    inv_freq: Tensor

    def __init__(self, head_dim: int, theta: float = 10000.0) -> None:
        super().__init__()
        inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
        self.register_buffer("inv_freq", inv_freq, persistent=True)

    def _apply(self, fn: Callable[[Tensor], Tensor], recurse: bool = True) -> RotaryEmbedding:
        exact = self.inv_freq
        super()._apply(fn, recurse)
        if (
            self.inv_freq.dtype != torch.float32
        ):  # a dtype cast (model.half(), .to(bfloat16)): keep exact values
            self.inv_freq = exact.to(device=self.inv_freq.device, dtype=torch.float32)
        return self

    def forward(self, positions: Tensor) -> tuple[Tensor, Tensor]:
        """``positions`` ``(R,)`` -> ``cos, sin`` each ``(R, 1, 1, head_dim / 2)`` float32.

        The two singleton axes broadcast over the stacked q/k axis and the heads of ``(R, 2, H, hd)``.
        """
        freqs = positions.to(torch.float32)[:, None] * self.inv_freq.to(torch.float32)[None, :]  # (R, hd/2)
        return freqs.cos()[:, None, None, :], freqs.sin()[:, None, None, :]


def apply_rotary(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate ``x`` ``(R, 2, H, head_dim)`` (stacked q and k) by the angles behind ``cos``/``sin``.

    Computed in float32 and returned in ``x``'s dtype (bf16 under autocast). Without autograd the result is
    written into one float32 buffer by four fused multiply-adds (no temporaries) and, for a bf16 ``x``, rounded
    once at the end (measured on the CPU: 2.7x faster than the generic path for ESM-2 35M's q/k).
    """
    half = x.shape[-1] // 2
    if not (torch.is_grad_enabled() and x.requires_grad):
        xf = x if x.dtype == torch.float32 else x.float()  # (R, 2, H, hd)
        x1, x2 = xf[..., :half], xf[..., half:]
        out = torch.empty(x.shape, dtype=torch.float32, device=x.device)
        o1, o2 = out[..., :half], out[..., half:]
        torch.mul(x1, cos, out=o1)
        o1.addcmul_(x2, sin, value=-1.0)
        torch.mul(x2, cos, out=o2)
        o2.addcmul_(x1, sin)
        return out if x.dtype == torch.float32 else out.to(x.dtype)
    dtype = x.dtype
    x = x.float()
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1).to(dtype)


def rotation_table(cos: Tensor, sin: Tensor) -> Tensor:
    """``cos``/``sin`` ``(R, 1, 1, head_dim / 2)`` -> ``e^{iθ}`` ``(R, 1, 1, head_dim / 2)`` complex64."""
    return torch.complex(cos.float(), sin.float())


def interleave_index(embed_dim: int, heads: int, device: torch.device | str | None = None) -> Tensor:
    """``(3·D,)`` row order of ``qkv_proj`` that makes each q and k head ``[x1_0, x2_0, x1_1, x2_1, …]``.

    Row ``j`` and row ``j + head_dim / 2`` of every q and k head become neighbours; v rows keep their order.
    """
    hd = embed_dim // heads
    half = hd // 2
    within = torch.stack(
        (torch.arange(half), torch.arange(half) + half), 1
    ).flatten()  # (hd,) 0, h, 1, h+1, …
    qk = (torch.arange(2 * heads)[:, None] * hd + within[None, :]).flatten()  # (2·D,)
    return torch.cat((qk, torch.arange(2 * embed_dim, 3 * embed_dim))).to(device)


def apply_rotary_interleaved(x: Tensor, rotation: Tensor) -> Tensor:
    """Rotate stacked q/k ``(R, 2, H, head_dim)`` in the interleaved channel order (:func:`interleave_index`).

    Args:
        x: Any float dtype; computed in float32 and returned in ``x``'s dtype.
        rotation: ``e^{iθ}`` ``(R, 1, 1, head_dim / 2)`` complex64 (:func:`rotation_table`).

    Returns:
        ``(R, 2, H, head_dim)``, still interleaved (q·k is the same as for the half-split rotation).
    """
    r, s, h, hd = x.shape
    xf = x if x.dtype == torch.float32 else x.float()  # (R, 2, H, hd)
    pairs = torch.view_as_complex(xf.reshape(r, s, h, hd // 2, 2))  # (R, 2, H, hd/2) complex64
    out = torch.view_as_real(pairs * rotation).view(r, s, h, hd)  # (R, 2, H, hd)
    return out if x.dtype == torch.float32 else out.to(x.dtype)
