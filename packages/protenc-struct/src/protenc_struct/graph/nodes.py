"""The node set of a batch of residue graphs: one Cα per residue, proteins concatenated.

``GraphNodes`` is what the neighbour searches work on. It is built from a :class:`protdata.ProteinBatch`
(checking that every Cα is finite, as TorchDrug's ``AlphaCarbonNode`` assumes) or directly from positions and
per-protein lengths (CDConv's pooled graphs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import torch
from torch import Tensor

from protdata import ProteinBatch
from protdata.errors import InvalidCoordinatesError, MissingAtomsError


@dataclass(eq=False)
class GraphNodes:
    """Cα nodes of ``B`` proteins, ``N`` in total, protein after protein.

    Attributes:
        pos: ``(N, 3)`` node positions (Å).
        lengths: ``(B,)`` int64 nodes per protein.
        ids: Protein ids, used in error messages.
        residue_number: ``(N,)`` author residue numbers (error messages; CDConv's sequence offsets), or ``None``.
    """

    pos: Tensor
    lengths: Tensor
    ids: list[str] = field(default_factory=list)
    residue_number: Tensor | None = None

    @classmethod
    def from_batch(cls, batch: ProteinBatch, dtype: torch.dtype | None = None) -> GraphNodes:
        """Cα nodes of ``batch``; raises a protdata error naming the protein and residue for unusable input.

        Raises:
            MissingAtomsError: a protein has no residues or no coordinates (sequence-only).
            InvalidCoordinatesError: a Cα coordinate is NaN or infinite.
        """
        ids = list(batch.ids)
        lengths = batch.lengths
        if lengths.numel() and int(lengths.min()) == 0:
            b = int(torch.nonzero(lengths == 0)[0])
            raise MissingAtomsError(ids[b], "protein has no residues; a residue graph needs at least one Cα")
        ca = batch.ca  # (N, 3)
        if dtype is not None:
            ca = ca.to(dtype)
        finite = torch.isfinite(ca).all(dim=-1)  # (N,)
        if not bool(finite.all()):
            _raise_non_finite(batch, finite)
        return cls(pos=ca, lengths=lengths, ids=ids, residue_number=batch.residue_number)

    @property
    def num_nodes(self) -> int:
        return int(self.pos.shape[0])

    @property
    def num_graphs(self) -> int:
        return int(self.lengths.shape[0])

    @property
    def device(self) -> torch.device:
        return self.pos.device

    @cached_property
    def offsets(self) -> Tensor:
        """``(B + 1,)`` first node of each protein (``offsets[-1] == N``)."""
        return torch.nn.functional.pad(torch.cumsum(self.lengths, 0), (1, 0))

    @cached_property
    def batch(self) -> Tensor:
        """``(N,)`` protein index of each node."""
        return torch.repeat_interleave(
            torch.arange(self.num_graphs, device=self.device), self.lengths, output_size=self.num_nodes
        )

    @cached_property
    def position(self) -> Tensor:
        """``(N,)`` index of each node within its protein (TorchDrug's residue index ``i`` in ``|i - j|``)."""
        return torch.arange(self.num_nodes, device=self.device) - self.offsets[self.batch]

    def describe(self, node: int) -> str:
        """``"residue 12 (author number 15)"`` for flat node index ``node``, for error messages."""
        pos = int(self.position[node])
        text = f"residue {pos}"
        if self.residue_number is not None:
            text += f" (author number {int(self.residue_number[node])})"
        return text

    def protein_id(self, node: int) -> str:
        b = int(self.batch[node])
        return self.ids[b] if b < len(self.ids) else f"protein {b}"


def _raise_non_finite(batch: ProteinBatch, finite: Tensor) -> None:
    node = int(torch.nonzero(~finite)[0])
    b = int(batch.batch[node])
    start, end = int(batch.offsets[b]), int(batch.offsets[b + 1])
    if not bool(finite[start:end].any()):
        raise MissingAtomsError(
            batch.ids[b],
            "protein has no Cα coordinates (sequence-only?); structure encoders need a structure",
        )
    pos = node - start
    number = int(batch.residue_number[node])
    letter = batch.sequences[b][pos] if pos < len(batch.sequences[b]) else "?"
    value = batch.ca[node].tolist()
    raise InvalidCoordinatesError(
        batch.ids[b],
        f"residue {pos} ({letter}, author number {number}) has a non-finite Cα coordinate {value}",
    )
