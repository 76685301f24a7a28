"""Run any encoder (the protdata contract: ``forward(batch) -> EncoderOutput``) over many proteins.

:func:`length_batches` cuts proteins into length-sorted batches (fair-esm ``extract.py``: sort by length, cut at
``--toks_per_batch`` padded tokens); :func:`encode_proteins` runs them in eval mode without autograd (bf16
autocast on CUDA, fp32 on the CPU: :func:`protdata.device.autocast_for`) and pools one vector per protein. A batch
that fails on bad input (a :class:`~protdata.errors.ProtdataError`) is retried protein by protein, so one bad
protein is skipped and reported in the :class:`EncodeReport` instead of ending the run.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn

from protdata.batch import ProteinBatch
from protdata.batching import MicroBatchPlan
from protdata.device import autocast_for
from protdata.errors import ProtdataError
from protdata.protein import Protein

__all__ = ["Embedded", "EncodeReport", "Pooling", "PoolingError", "encode_proteins", "length_batches"]

Pooling = Literal["mean", "cls", "readout"]


class PoolingError(ProtdataError):
    """The pooling asked for is not one the encoder can give (e.g. ``cls`` without a ``<cls>`` token)."""


def length_batches(lengths: Sequence[int], batch_size: int, max_tokens: int) -> list[np.ndarray]:
    """Indices of proteins cut into batches after sorting by length (at most ``batch_size`` proteins and
    ``max_tokens`` padded residues each; a longer protein is a batch of its own). Deterministic."""
    plan = MicroBatchPlan(
        np.asarray(lengths), batch_size, max_tokens, bucket_window=max(1, len(lengths)), shuffle=False
    )
    return plan.epoch(0)


@dataclass
class Embedded:
    """One protein's output: ``protein`` ``(D,)`` and, when asked for, ``residue`` ``(n, D)`` float32 on the CPU
    (``n`` = residues the encoder saw: fewer than the protein's length when a sequence encoder crops it)."""

    index: int
    protein: Tensor
    residue: Tensor | None


@dataclass
class EncodeReport:
    """Proteins the encoder rejected (``(protein, reason)``) and how many it cropped."""

    skipped: list[tuple[str, str]] = field(default_factory=list)
    cropped: int = 0


def encode_proteins(
    encoder: nn.Module,
    proteins: Sequence[Protein],
    batches: Sequence[np.ndarray],
    *,
    device: torch.device,
    precision: str = "auto",
    pooling: Pooling = "mean",
    per_residue: bool = False,
    report: EncodeReport | None = None,
) -> Iterator[Embedded]:
    """Run ``encoder`` over ``proteins`` batch by batch (module docstring); yields in batch order.

    ``pooling``: ``mean`` = mean of the residue features over the residues the encoder saw (fair-esm
    ``extract.py --include mean``; SaProt ``get_hidden_states(reduction="mean")``); ``cls`` = the final-layer
    ``<cls>`` embedding (``extras["cls"]``, the encoder's ``cls_output``); ``readout`` = the encoder's own
    protein feature (GearNet: sum readout; fusions: their concatenation).

    Raises:
        PoolingError: ``cls`` pooling on an encoder without a ``<cls>`` output.
    """
    report = report if report is not None else EncodeReport()
    for idx in batches:
        chunk = [int(i) for i in idx]
        try:
            yield from _encode_batch(
                encoder, proteins, chunk, device, precision, pooling, per_residue, report
            )
        except PoolingError:
            raise
        except ProtdataError as exc:
            if len(chunk) == 1:
                p = proteins[chunk[0]]
                reason = " ".join(str(exc).split())
                report.skipped.append((f"{p.source or ''}:{p.id}".lstrip(":"), reason))
                continue
            for i in chunk:  # find the bad protein(s); the others are encoded on their own
                yield from encode_proteins(
                    encoder,
                    proteins,
                    [np.array([i])],
                    device=device,
                    precision=precision,
                    pooling=pooling,
                    per_residue=per_residue,
                    report=report,
                )


def _encode_batch(
    encoder: nn.Module,
    proteins: Sequence[Protein],
    chunk: list[int],
    device: torch.device,
    precision: str,
    pooling: str,
    per_residue: bool,
    report: EncodeReport,
) -> list[Embedded]:
    batch = ProteinBatch.collate([proteins[i] for i in chunk]).to(device)
    with torch.inference_mode(), autocast_for(device, precision):
        out = encoder(batch)
    covered = out.extras.get("covered", out.mask)  # (B, L) residues the encoder saw
    seen = covered.sum(1).tolist()
    if pooling == "cls":
        if "cls" not in out.extras:
            raise PoolingError("pooling", "'cls' needs an ESM-2 / SaProt encoder (it has a <cls> token)")
        pooled = out.extras["cls"].float()  # (B, D)
    elif pooling == "readout":
        pooled = out.protein.float()  # (B, D)
    else:
        weights = covered.to(out.residue.dtype).unsqueeze(-1)  # (B, L, 1)
        pooled = (out.residue.float() * weights.float()).sum(1) / covered.sum(1, keepdim=True).clamp(min=1)
    pooled = pooled.cpu()
    residue = out.residue.float().cpu() if per_residue else None  # (B, L, D)
    results = []
    for j, i in enumerate(chunk):
        n = int(seen[j])
        if n < len(proteins[i]):
            report.cropped += 1
        results.append(
            Embedded(i, pooled[j].clone(), residue[j, :n].clone() if residue is not None else None)
        )
    return results
