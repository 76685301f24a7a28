"""Pairwise contact head on an encoder's residue features (contact prediction; TAPE ``PairwiseContactPredictionHead``,
songlab-cal/tape ``tape/models/modeling_utils.py``; SaProt's ``Contact`` task).

Each residue feature is projected, ``z = W · LN(h)`` (``(B, L, P)``); every pair ``(i, j)`` gets TAPE's features
``z_i ⊙ z_j ‖ z_i − z_j`` and an MLP maps them to one logit; the logit map is symmetrised, ``(S + Sᵀ) / 2``. The
encoder is frozen by default (no gradient, kept in eval mode). Labels come from the batch's own structure
(:func:`contact_targets`: Cβ, Cα for Gly, < 8 Å, as :func:`prottasks.metrics.contact_labels`); the loss is binary
cross-entropy over the pairs with both residues valid and ``|i − j| ≥ 6``; the batch metrics are the precisions
of :func:`prottasks.metrics.contact_precisions` (P@L, P@L/2, P@L/5 by short / medium / long range). With targets
the output (:class:`ContactOutput`) also carries the labels it was scored against, so that an evaluation scores
exactly the head's labels (:func:`prottasks.data.contacts.evaluate_contact_splits`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from protdata import ProteinBatch
from protdata.constants import ATOM_CA, ATOM_CB, RESIDUE_LETTERS
from prottasks.errors import TaskInputError
from prottasks.heads.base import HeadOutput
from prottasks.heads.configs import ContactHeadConfig
from prottasks.nn import seed_mlp

GLYCINE_ID = RESIDUE_LETTERS.index("G")


class ContactTargets(NamedTuple):
    """Contact labels of a batch (padded view).

    Attributes:
        contacts: ``(B, L, L)`` float 0/1, Cβ (Cα for Gly) closer than the threshold; 0 where a residue is invalid.
        pairs: ``(B, L, L)`` bool, the pairs trained on: both residues valid, ``|i − j| ≥ min_separation``.
        valid: ``(B, L)`` bool, real residues with the contact atom.
    """

    contacts: Tensor
    pairs: Tensor
    valid: Tensor


Targets = ContactTargets | Literal["structure"] | None


@dataclass
class ContactOutput(HeadOutput):
    """:class:`~prottasks.heads.base.HeadOutput` with ``output`` the ``(B, L, L)`` symmetric logits, and with
    targets given, the :class:`ContactTargets` the loss was computed on."""

    targets: ContactTargets | None = None


def contact_targets(batch: ProteinBatch, threshold: float = 8.0, min_separation: int = 6) -> ContactTargets:
    """Contact labels of the batch's own structures (:class:`ContactTargets`); the same labels as
    :func:`prottasks.metrics.contact_labels` and :func:`prottasks.metrics.contact_pair_mask`."""
    gly = batch.residue_type == GLYCINE_ID  # (N,)
    rep = torch.where(gly[:, None], batch.coords[:, ATOM_CA], batch.coords[:, ATOM_CB])  # (N, 3)
    present = torch.where(gly, batch.atom_mask[:, ATOM_CA], batch.atom_mask[:, ATOM_CB])
    valid = present & torch.isfinite(rep).all(-1)  # (N,)
    x = batch.to_padded(torch.where(valid[:, None], rep, 0.0).double())  # (B, L, 3)
    ok = batch.to_padded(valid, fill=False) & batch.mask  # (B, L)
    dist = (x[:, :, None] - x[:, None, :]).pow(2).sum(-1).sqrt()  # (B, L, L), float64 as the NumPy labels
    both = ok[:, :, None] & ok[:, None, :]
    contacts = ((dist < threshold) & both).float()
    pos = torch.arange(batch.max_length, device=x.device)
    pairs = both & ((pos[:, None] - pos[None, :]).abs() >= min_separation)
    empty = ~pairs.flatten(1).any(1)
    if bool(empty.any()):
        b = int(torch.nonzero(empty)[0])
        raise TaskInputError(
            batch.ids[b],
            f"no residue pair with coordinates {min_separation} or more apart: no contact labels",
        )
    return ContactTargets(contacts, pairs, ok)


class ContactHead(nn.Module):
    """Residue features → symmetric ``(B, L, L)`` contact logits (module docstring)."""

    def __init__(self, encoder: nn.Module, config: ContactHeadConfig | None = None, **kwargs: Any) -> None:
        super().__init__()
        self.encoder = encoder
        self.config = config = config or ContactHeadConfig(**kwargs)
        dim = int(encoder.output_dim)
        self.norm = nn.LayerNorm(dim)
        self.project = nn.Linear(dim, config.projection_dim)
        width = 2 * config.projection_dim
        self.mlp = seed_mlp(width, width, 1, config.num_mlp_layer, config.dropout)
        if config.freeze_encoder:
            self.encoder.requires_grad_(False)
            self.encoder.eval()

    def train(self, mode: bool = True) -> ContactHead:
        super().train(mode)
        if self.config.freeze_encoder:
            self.encoder.eval()  # frozen features: batch-norm statistics and dropout stay as loaded
        return self

    def residue_features(self, batch: ProteinBatch) -> Tensor:
        """The encoder's ``(B, L, D)`` residue features (without gradient when the encoder is frozen)."""
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.config.freeze_encoder):
            return self.encoder(batch).residue

    def pair_logits(self, residue: Tensor) -> Tensor:
        """``(B, L, D)`` residue features → ``(B, L, L)`` symmetric contact logits."""
        z = self.project(self.norm(residue))  # (B, L, P)
        pairs = torch.cat(
            [z[:, :, None] * z[:, None, :], z[:, :, None] - z[:, None, :]], dim=-1
        )  # (B, L, L, 2P)
        logits = self.mlp(pairs).squeeze(-1)  # (B, L, L)
        return (logits + logits.transpose(1, 2)) / 2

    def contact_logits(self, batch: ProteinBatch) -> Tensor:
        """``(B, L, L)`` symmetric contact logits of a batch."""
        return self.pair_logits(self.residue_features(batch))

    def loss(self, logits: Tensor, targets: ContactTargets) -> Tensor:
        """Mean binary cross-entropy over the training pairs ``targets.pairs``."""
        contacts, pairs = targets.contacts, targets.pairs
        if contacts.shape != logits.shape or pairs.shape != logits.shape:
            raise TaskInputError(
                "ContactHead",
                f"targets of shape {tuple(contacts.shape)} / {tuple(pairs.shape)} for logits {tuple(logits.shape)}",
            )
        pairs = pairs.to(logits.device)
        return F.binary_cross_entropy_with_logits(logits[pairs], contacts.to(logits)[pairs])

    def forward(self, batch: ProteinBatch, targets: Targets = None) -> ContactOutput:
        """Contact logits ``(B, L, L)``; with ``targets`` (:class:`ContactTargets`, or ``"structure"``: from the
        batch's coordinates by :func:`contact_targets`) also the loss and the batch's range precisions."""
        logits = self.contact_logits(batch)
        if targets is None:
            return ContactOutput(logits)
        if isinstance(targets, str):
            if targets != "structure":
                raise TaskInputError(
                    "ContactHead", f"targets must be ContactTargets or 'structure', not {targets!r}"
                )
            targets = contact_targets(batch, self.config.threshold, self.config.min_separation)
        elif not isinstance(targets, ContactTargets):
            if len(targets) != 3:
                raise TaskInputError("ContactHead", "targets must be (contacts, pairs, valid) or 'structure'")
            targets = ContactTargets(*targets)
        loss = self.loss(logits, targets)
        metrics = {"loss": float(loss.detach()), **batch_precisions(logits, targets, batch.lengths)}
        return ContactOutput(logits, loss, metrics, targets)


def batch_precisions(logits: Tensor, targets: ContactTargets, lengths: Tensor) -> dict[str, float]:
    """:func:`prottasks.metrics.contact_precisions` (per-protein mean, valid residues only) of ``(B, L, L)``
    logits; ``lengths`` ``(B,)``."""
    from prottasks.metrics import contact_precisions

    probs = torch.sigmoid(logits.detach().double()).cpu()
    truth, valid = targets.contacts.detach().cpu() > 0.5, targets.valid.detach().cpu()
    items = [(probs[b, :n, :n], truth[b, :n, :n], valid[b, :n]) for b, n in enumerate(lengths.tolist())]
    return contact_precisions(items)
