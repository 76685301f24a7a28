"""Proteins longer than a sequence encoder's window: overlapping windows, features averaged (``on_long="window"``).

ESM-2, SaProt and ESM C were trained on at most 1,022 residues (1,024 tokens with ``<cls>`` / ``<eos>``). For a
longer protein the usual practice for per-residue features (the sliding-window extraction discussed for ESM-2 long
sequences in facebookresearch/esm and used by ProteinGym for its long proteins) is to run overlapping windows of
the model's length and, for every residue, average its features over the windows that cover it:

* :func:`window_starts` -- windows ``[s, s + W)`` every ``stride`` residues from 0, the last one aligned to the
  end of the protein (so every residue is covered and no window is shorter than ``W``);
* :func:`split_into_windows` -- a :class:`~protdata.ProteinBatch` whose long proteins are replaced by their
  windows (every per-residue field sliced: residue types, coordinates, masks, the sequence and SaProt's 3Di
  string), short proteins unchanged;
* :func:`merge_windows` -- the encoder's output on those windows folded back: per-residue features (and logits)
  averaged over the covering windows, the protein feature the masked mean of the averaged residues, ``<cls>`` the
  mean of the windows' ``<cls>``;
* :func:`centered_window` -- ProteinGym's rule for scoring one mutated position of a long protein (its ESM
  scoring's ``get_optimal_window``): the window of length ``W`` centred on the position, moved inside the protein
  at either end.

:func:`windowed_forward` runs any sequence encoder's forward through the first three.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

import torch
from torch import Tensor

from protdata import ProteinBatch
from protdata.encoder import EncoderOutput, masked_mean

__all__ = [
    "WindowPlan",
    "centered_window",
    "merge_windows",
    "split_into_windows",
    "window_starts",
    "windowed_forward",
]


def window_starts(length: int, window: int, stride: int) -> list[int]:
    """Starts of the windows ``[s, s + window)`` covering ``length`` residues: ``0, stride, 2·stride, …`` and a
    last window ending at ``length`` (one window ``[0, length)`` when the protein fits).

    Raises:
        ValueError: ``window`` or ``stride`` < 1, or ``stride`` > ``window`` (residues would be skipped).
    """
    if window < 1 or stride < 1 or stride > window:
        raise ValueError(f"need 1 <= stride <= window, got window {window} and stride {stride}")
    if length <= window:
        return [0]
    starts = list(range(0, length - window + 1, stride))
    if starts[-1] + window < length:
        starts.append(length - window)
    return starts


def centered_window(position: int, length: int, window: int) -> tuple[int, int]:
    """``[start, end)`` of the window of ``window`` residues used to score 0-based ``position`` of a protein of
    ``length`` residues: the whole protein when it fits, else centred on ``position`` (``position ± window // 2``)
    and shifted to ``[0, window)`` / ``[length - window, length)`` near the ends (ProteinGym's
    ``get_optimal_window`` for ESM-1v / ESM-2 scoring of long proteins)."""
    half = window // 2
    if length <= window:
        return 0, length
    if position < half:
        return 0, window
    if position >= length - half:
        return length - window, length
    return max(0, position - half), min(length, position + half)


@dataclass(frozen=True)
class WindowPlan:
    """Where each window of :func:`split_into_windows` came from.

    Attributes:
        owner: ``(W,)`` index of the window's protein in the original batch.
        start: ``(W,)`` first residue of the window within that protein.
    """

    owner: list[int]
    start: list[int]

    @property
    def windowed(self) -> bool:
        """Whether any protein was split (else the batch is unchanged)."""
        return len(self.owner) != len(set(self.owner))


def split_into_windows(batch: ProteinBatch, window: int, stride: int) -> tuple[ProteinBatch, WindowPlan]:
    """``batch`` with every protein longer than ``window`` replaced by its windows (:func:`window_starts`), in
    batch order; the plan maps each window back to its protein and start."""
    lengths = batch.lengths.tolist()
    offsets = batch.offsets.tolist()
    owner, start, rows = [], [], []
    for i, length in enumerate(lengths):
        for s in window_starts(length, window, stride):
            owner.append(i)
            start.append(s)
            rows.append(torch.arange(offsets[i] + s, offsets[i] + min(s + window, length)))
    index = (
        torch.cat(rows).to(batch.device) if rows else torch.zeros(0, dtype=torch.long, device=batch.device)
    )
    sizes = [len(r) for r in rows]
    values = {}
    for f in fields(batch):
        v = getattr(batch, f.name)
        if f.name == "lengths":
            values[f.name] = torch.tensor(sizes, dtype=v.dtype, device=v.device)
        elif f.name == "max_length":
            values[f.name] = 0
        elif isinstance(v, Tensor):
            values[f.name] = v[index]
        elif v is None:
            values[f.name] = None
        elif f.name in ("sequences", "structure_tokens"):  # per protein, sliced like the residues
            values[f.name] = [
                None if v[i] is None else v[i][s : s + n] for i, s, n in zip(owner, start, sizes, strict=True)
            ]
        else:  # ids and any other per-protein list
            values[f.name] = [v[i] for i in owner]
    return type(batch)(**values), WindowPlan(owner, start)


def merge_windows(out: EncoderOutput, plan: WindowPlan, batch: ProteinBatch) -> EncoderOutput:
    """Fold an encoder's output on the windows of ``batch`` back onto ``batch`` (module docstring): residue
    features ``(B, L, D)`` and ``extras["logits"]`` averaged over covering windows, ``extras["cls"]`` averaged
    over a protein's windows, ``protein`` the masked mean of the averaged residues."""
    b, length = len(batch), batch.max_length
    dim = out.residue.shape[-1]
    total = out.residue.new_zeros((b, length, dim))
    count = out.residue.new_zeros((b, length, 1))
    logits = out.extras.get("logits")
    logit_total = logits.new_zeros((b, length, logits.shape[-1])) if logits is not None else None
    covered = out.extras.get("covered", out.mask)  # (W, Lw): residues each window's encoder saw
    for w, (i, s) in enumerate(zip(plan.owner, plan.start, strict=True)):
        seen = covered[w]
        n = int(seen.sum())
        total[i, s : s + n] += out.residue[w, :n]
        count[i, s : s + n] += 1
        if logit_total is not None and logits is not None:
            logit_total[i, s : s + n] += logits[w, :n]
    residue = total / count.clamp_min(1)  # (B, L, D)
    mask = batch.mask.to(residue.device)
    seen_all = count[..., 0] > 0
    extras: dict[str, Tensor] = {}
    if logit_total is not None:
        extras["logits"] = logit_total / count.clamp_min(1)
    if "cls" in out.extras:
        owners = torch.tensor(plan.owner, device=residue.device)
        cls = (
            out.extras["cls"]
            .new_zeros((b, out.extras["cls"].shape[-1]))
            .index_add_(0, owners, out.extras["cls"])
        )
        windows = torch.bincount(owners, minlength=b).clamp_min(1).to(cls.dtype)
        extras["cls"] = cls / windows[:, None]
    if not torch.equal(seen_all, mask):
        extras["covered"] = seen_all
    return EncoderOutput(residue=residue, protein=masked_mean(residue, seen_all), mask=mask, extras=extras)


def windowed_forward(
    forward: Callable[[ProteinBatch], EncoderOutput], batch: ProteinBatch, window: int, stride: int
) -> EncoderOutput:
    """``forward`` (an encoder's forward on batches that fit its window) on ``batch`` with long proteins run as
    overlapping windows and merged (:func:`split_into_windows`, :func:`merge_windows`)."""
    windows, plan = split_into_windows(batch, window, stride)
    if not plan.windowed:
        return forward(batch)
    return merge_windows(forward(windows), plan, batch)
