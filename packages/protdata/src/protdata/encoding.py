"""Run any encoder (the protdata contract: ``forward(batch) -> EncoderOutput``) over many proteins.

:func:`length_batches` cuts proteins into length-sorted batches (fair-esm ``extract.py``: sort by length, cut at
``--toks_per_batch`` padded tokens); :func:`encode_proteins` runs them in eval mode without autograd (bf16
autocast on CUDA, fp32 on the CPU: :func:`protdata.device.autocast_for`) and pools one vector per protein. A batch
that fails on bad input (a :class:`~protdata.errors.ProtdataError`) is retried protein by protein, so one bad
protein is skipped and reported in the :class:`EncodeReport` instead of ending the run. :func:`encode_stream` does
the same over a stream of proteins with the length sorting inside windows of a bounded size (memory: one window).
:func:`embed_inputs` streams input files (:func:`protdata.inputs.iter_inputs`, one rank's share) through it into an
embedding writer (:mod:`protdata.embedding_io`).
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from protdata.batch import ProteinBatch
from protdata.batching import MicroBatchPlan
from protdata.device import autocast_for
from protdata.errors import DatasetError, ProtdataError
from protdata.protein import Protein

__all__ = [
    "Embedded",
    "EncodeReport",
    "Pooling",
    "PoolingError",
    "embed_inputs",
    "encode_proteins",
    "encode_stream",
    "length_batches",
]

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


def encode_stream(
    encoder: nn.Module,
    proteins: Iterable[Protein],
    *,
    batch_size: int,
    max_tokens: int,
    window: int = 2048,
    device: torch.device,
    precision: str = "auto",
    pooling: Pooling = "mean",
    per_residue: bool = False,
    report: EncodeReport | None = None,
) -> Iterator[tuple[Protein, Embedded]]:
    """:func:`encode_proteins` over a stream: ``proteins`` are taken ``window`` at a time, cut with
    :func:`length_batches` inside the window (length sorting as fair-esm ``extract.py``, within a bounded window
    so memory stays bounded) and yielded as ``(protein, output)`` in batch order; ``output.index`` is the
    protein's position in the stream. Proteins the encoder rejects are skipped and reported in ``report``."""
    stream, offset = iter(proteins), 0
    while chunk := list(itertools.islice(stream, window)):
        batches = length_batches([len(p) for p in chunk], batch_size, max_tokens)
        options = {"precision": precision, "pooling": pooling, "per_residue": per_residue, "report": report}
        for item in encode_proteins(encoder, chunk, batches, device=device, **options):
            yield chunk[item.index], dataclasses.replace(item, index=offset + item.index)
        offset += len(chunk)


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


def embed_inputs(
    encoder: nn.Module,
    sources: Sequence[str | os.PathLike[str]],
    writer: Any,
    *,
    meta: Mapping[str, str],
    rank: int = 0,
    world_size: int = 1,
    reading: Mapping[str, Any] | None = None,
    strict: bool = False,
    strict_option: str = "strict",
    **encoding: Any,
) -> tuple[Any, EncodeReport]:
    """Embed the proteins of ``sources`` into ``writer`` (an :class:`~protdata.embedding_io.EmbeddingFileWriter` or
    ``EmbeddingPartWriter``: ``start(meta)``, ``add``, ``finish``; ``writer.done``: ids already written, skipped):
    rank ``rank`` of ``world_size`` takes the usable proteins ``i`` with ``i % world_size == rank`` (input order).
    ``reading``: :func:`protdata.inputs.iter_inputs` options; ``encoding``: :func:`encode_stream` options.
    Returns ``(InputReport, EncodeReport)`` (the files' and the encoder's skips).

    Raises:
        DatasetError: the encoder rejected every protein (``inputs: …`` naming the first).
        SkippedInputsError: ``strict`` and anything was skipped (``strict_option`` names the switch).
    """
    from protdata.inputs import InputReport, SkippedInputsError, iter_inputs

    writer.start(meta)
    inputs, report, keep = InputReport(), EncodeReport(), None
    if world_size > 1 or writer.done:
        keep = lambda i, p: i % world_size == rank and p.id not in writer.done  # noqa: E731
    reading = {**(reading or {}), "strict": strict, "strict_option": strict_option}
    stream = iter_inputs(sources, **reading, report=inputs, keep=keep)
    for protein, item in encode_stream(encoder, stream, report=report, **encoding):
        writer.add(protein, item)
    if not writer.rows and report.skipped:
        first = report.skipped[0]
        raise DatasetError("inputs", f"every protein failed in the encoder; first: {first[0]}: {first[1]}")
    if strict and report.skipped:
        raise SkippedInputsError(report.skipped, "inputs", strict_option)
    writer.finish({"skipped": len(inputs.skipped) + len(report.skipped)})
    return inputs, report
