"""The encoder contract: every encoder maps a ``ProteinBatch`` to an ``EncoderOutput``.

Sequence encoders (protenc-seq), structure encoders (protenc-struct) and fused encoders (protfusion) all honour
it, so any task head can sit on any encoder and any sequence encoder can be fused with any structure encoder.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from protdata.batch import ProteinBatch


@dataclass
class EncoderOutput:
    """What an encoder returns.

    Attributes:
        residue: ``(B, L_max, D)`` per-residue features in the batch's padded view (no BOS/EOS or other special
            tokens; padding rows are zero).
        protein: ``(B, D)`` one feature per protein (the encoder's readout).
        mask: ``(B, L_max)`` bool, True on real residues.
        extras: Optional encoder-specific outputs (e.g. ``"logits"``, ``"hidden_states"``).
    """

    residue: Tensor
    protein: Tensor
    mask: Tensor
    extras: dict[str, Tensor] = field(default_factory=dict)

    def flat_residue(self) -> Tensor:
        """Residue features in the flat (graph) view ``(N, D)``, proteins in batch order."""
        return self.residue[self.mask]


class ProteinEncoder(nn.Module):
    """Base class of protstack encoders: ``forward(batch) -> EncoderOutput`` and an ``output_dim``.

    Subclasses set ``output_dim`` (the width ``D`` of both ``residue`` and ``protein``).
    """

    output_dim: int

    def forward(self, batch: ProteinBatch) -> EncoderOutput:  # pragma: no cover - abstract
        raise NotImplementedError


def masked_mean(x: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``x`` ``(B, L, D)`` over the positions where ``mask`` ``(B, L)`` is True -> ``(B, D)``.

    Proteins with no valid position get zeros (never NaN).
    """
    weights = mask.to(x.dtype).unsqueeze(-1)  # (B, L, 1)
    total = (x * weights).sum(dim=1)  # (B, D)
    count = weights.sum(dim=1).clamp_min(1.0)  # (B, 1)
    return total / count


def flat_to_output(batch: ProteinBatch, residue_flat: Tensor, protein: Tensor) -> EncoderOutput:
    """Wrap flat ``(N, D)`` residue features (graph encoders) and ``(B, D)`` readouts as an ``EncoderOutput``."""
    return EncoderOutput(residue=batch.to_padded(residue_flat), protein=protein, mask=batch.mask)


def check_output(output: EncoderOutput, batch: ProteinBatch, dim: int) -> None:
    """Assert that ``output`` honours the contract for ``batch`` (used by every encoder's tests)."""
    b, length = len(batch), batch.max_length
    assert output.residue.shape == (b, length, dim), (tuple(output.residue.shape), (b, length, dim))
    assert output.protein.shape == (b, dim), (tuple(output.protein.shape), (b, dim))
    assert output.mask.shape == (b, length) and output.mask.dtype == torch.bool
    assert torch.equal(output.mask.cpu(), batch.mask.cpu())
