"""Multi-head self-attention over a packed batch.

``softmax(q·kᵀ / √d_head) · v`` per sequence (Vaswani et al. 2017, Eq. 1) with rotary q/k. fair-esm scales q
*before* the rotation (``multihead_attention.py``); rotation is linear, so passing ``scale=d_head**-0.5`` to the
kernel is the same map. Pad keys are excluded (fair-esm fills them with -inf).

Kernels, chosen per call (:class:`AttentionContext`):

* **varlen** -- CUDA, fp16/bf16, torch >= 2.9: ``torch.nn.attention.varlen.varlen_attn`` on the packed rows
  with ``cu_seqlens`` (Flash/cuDNN), no padding at all.
* **sdpa** -- everywhere else: sequences are split into *length groups* (sorted; a group grows while its padded
  size stays within ``pad_slack`` of its real size), each group padded to its own longest member and run through
  ``F.scaled_dot_product_attention`` (flash / memory-efficient kernels; a key mask only if lengths differ).
* **explicit** -- when attention weights are requested (contacts): probabilities are materialised in float32 as
  fair-esm does, since fused kernels do not return them.

A batch with padding rows (``PackedBatch(padded=True)``) always takes the sdpa path on its ``(B, T)`` view.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from protenc_seq.esm2.packing import PackedBatch
from protenc_seq.esm2.rotary import rotation_table

try:  # torch >= 2.9
    from torch.nn.attention.varlen import varlen_attn as _varlen_attn
except ImportError:  # pragma: no cover - older torch
    _varlen_attn = None


@dataclass(eq=False)
class _Group:
    """Sequences attended together in one padded ``(B_g, L_g)`` SDPA call."""

    start: int  # first row (groups are contiguous runs of sequences)
    end: int
    batch: int  # B_g
    length: int  # L_g
    #: ``(end - start,)`` rows in the ``(B_g * L_g)`` layout; ``None`` if the rows already are ``(B_g, L_g)``.
    pad_index: Tensor | None
    #: ``(B_g, 1, 1, L_g)`` bool, True on real keys; ``None`` if there is no padding.
    key_mask: Tensor | None


class AttentionContext:
    """Everything attention needs about a packed batch, built once per forward and shared by all layers.

    Args:
        packed: The batch.
        cos, sin: Rotary tables ``(R, 1, 1, head_dim / 2)``.
        backend: ``"auto"`` (varlen where possible, else sdpa), ``"varlen"`` or ``"sdpa"``. Attention weights
            (contacts) always use the explicit path.
        pad_slack: A length group may hold at most ``pad_slack`` × its real tokens once padded.
    """

    def __init__(
        self,
        packed: PackedBatch,
        cos: Tensor,
        sin: Tensor,
        *,
        backend: str = "auto",
        pad_slack: float = 1.25,
    ) -> None:
        self.packed = packed
        self.cos, self.sin = cos, sin
        self.backend = backend
        self.pad_slack = pad_slack
        self._groups: list[_Group] | None = None
        self._rotation: Tensor | None = None

    @property
    def rotation(self) -> Tensor:
        """``e^{iθ}`` ``(R, 1, 1, head_dim / 2)`` complex64 (interleaved rotary form, ``rotary.py``), made once."""
        if self._rotation is None:
            self._rotation = rotation_table(self.cos, self.sin)
        return self._rotation

    def use_varlen(self, q: Tensor) -> bool:
        if self.backend == "varlen":
            if _varlen_attn is None or not q.is_cuda or q.dtype not in (torch.float16, torch.bfloat16):
                raise RuntimeError("varlen attention needs torch >= 2.9, CUDA and fp16/bf16 activations")
            return True
        return (
            self.backend == "auto"
            and _varlen_attn is not None
            and q.is_cuda
            and q.dtype in (torch.float16, torch.bfloat16)
        )

    @property
    def groups(self) -> list[_Group]:
        """Runs of consecutive sequences attended together (the batch order is kept)."""
        if self._groups is None:
            self._groups = self._make_groups()
        return self._groups

    def _make_groups(self) -> list[_Group]:
        p = self.packed
        if p.uniform_slots:  # padded (or equal-length) batch: one (B, T) view, a key mask if lengths differ
            mask = None if p.real_rows is None else p.real_rows.view(len(p), 1, 1, p.slots[0])
            return [_Group(0, p.num_rows, len(p), p.slots[0], None, mask)]
        if p.is_padded:
            raise ValueError("a batch with padding must give every sequence the same slot length")
        lengths, offsets = p.lengths, p.slot_offsets
        runs: list[tuple[int, int]] = []  # [first seq, last seq + 1)
        first, longest, real = 0, 0, 0
        for i, n in enumerate(lengths):
            new_longest = max(longest, n)
            if i > first and new_longest * (i - first + 1) > self.pad_slack * (real + n):
                runs.append((first, i))
                first, new_longest, real = i, n, 0
            longest = new_longest
            real += n
        runs.append((first, len(lengths)))
        groups = []
        for a, b in runs:
            lens = lengths[a:b]
            length, batch = max(lens), b - a
            start, end = offsets[a], offsets[b]
            if all(n == length for n in lens):
                groups.append(_Group(start, end, batch, length, None, None))
                continue
            key_mask = (
                torch.arange(length, device=p.device)[None, :] < p.lengths_tensor[a:b, None]
            )  # (B_g, L_g)
            pad_index = key_mask.flatten().nonzero().squeeze(1)
            groups.append(_Group(start, end, batch, length, pad_index, key_mask[:, None, None, :]))
        return groups


def attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    ctx: AttentionContext,
    *,
    scale: float,
    dropout_p: float = 0.0,
) -> Tensor:
    """Fused attention on packed ``q, k, v`` ``(N, H, hd)`` -> ``(N, H, hd)``."""
    p = ctx.packed
    if dropout_p == 0.0 and not p.is_padded and ctx.use_varlen(q):  # the varlen kernel has no dropout
        m = p.max_len
        q, k, v = q.contiguous(), k.contiguous(), v.contiguous()
        return _varlen_attn(q, k, v, p.cu_seqlens, p.cu_seqlens, m, m, scale=scale)  # type: ignore[misc]
    heads, hd = q.shape[1], q.shape[2]
    groups = ctx.groups
    if len(groups) == 1 and groups[0].pad_index is None:  # rows are already (B, T): no copy in or out
        g = groups[0]
        qg, kg, vg = (t.view(g.batch, g.length, heads, hd).transpose(1, 2) for t in (q, k, v))
        o = F.scaled_dot_product_attention(qg, kg, vg, attn_mask=g.key_mask, dropout_p=dropout_p, scale=scale)
        return o.transpose(1, 2).reshape(g.batch * g.length, heads, hd)
    out = q.new_empty(q.shape)
    for g in groups:
        qg, kg, vg = (_pad(t[g.start : g.end], g) for t in (q, k, v))  # (B_g, H, L_g, hd)
        o = F.scaled_dot_product_attention(qg, kg, vg, attn_mask=g.key_mask, dropout_p=dropout_p, scale=scale)
        o = o.transpose(1, 2).reshape(g.batch * g.length, heads, hd)
        out[g.start : g.end] = o if g.pad_index is None else o[g.pad_index]
    return out


def _pad(x: Tensor, g: _Group) -> Tensor:
    """Rows of one group ``(n, H, hd)`` -> ``(B_g, H, L_g, hd)``."""
    if g.pad_index is not None:
        buf = x.new_zeros((g.batch * g.length, *x.shape[1:]))
        buf[g.pad_index] = x
        x = buf
    return x.view(g.batch, g.length, *x.shape[1:]).transpose(1, 2)


def attention_with_weights(
    q: Tensor, k: Tensor, v: Tensor, ctx: AttentionContext, *, scale: float
) -> tuple[Tensor, Tensor]:
    """Materialised attention: ``(N, H, hd)`` output and ``(B, H, T, T)`` float32 probabilities.

    Probabilities are zero on pad rows and columns (fair-esm zeroes them before its contact head).
    """
    p = ctx.packed
    qp, kp, vp = (p.to_padded(t, fill=None).transpose(1, 2) for t in (q, k, v))  # (B, H, T, hd)
    scores = torch.matmul(qp.float() * scale, kp.float().transpose(-1, -2))  # (B, H, T, T)
    real = torch.arange(p.max_len, device=q.device)[None, :] < p.lengths_tensor[:, None]  # (B, T)
    scores = scores.masked_fill(~real[:, None, None, :], float("-inf"))
    probs = torch.softmax(scores, dim=-1)  # (B, H, T, T) float32
    out = torch.matmul(probs.to(vp.dtype), vp)  # (B, H, T, hd)
    out = out.transpose(1, 2).reshape(len(p) * p.max_len, *q.shape[1:])  # (B·T, H, hd)
    if not (p.uniform_slots and p.slots[0] == p.max_len):
        out = out[p.padded_index]
    pair = (real[:, :, None] & real[:, None, :])[:, None]  # (B, 1, T, T)
    return out, probs * pair


def varlen_available() -> bool:
    """True when ``torch.nn.attention.varlen`` exists and CUDA is available."""
    return _varlen_attn is not None and torch.cuda.is_available()
