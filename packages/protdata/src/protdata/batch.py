"""``ProteinBatch``: what every encoder and task receives.

Residue data is stored once, in the *flat* (graph) view: ``N`` residues of all proteins concatenated, protein
after protein, residue after residue. The *padded* (transformer) view ``(B, L_max, ...)`` and the ``batch`` index
are derived from ``lengths`` on demand, so the two views can never disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from functools import cached_property

import numpy as np
import torch
from torch import Tensor

from protdata.constants import ATOM_CA, NUM_ATOMS, sequence_to_ids
from protdata.protein import Protein

_TENSOR_FIELDS = (
    "residue_type",
    "coords",
    "atom_mask",
    "residue_number",
    "chain_index",
    "plddt",
    "residue_masked",
    "lengths",
)


@dataclass(eq=False)
class ProteinBatch:
    """A batch of ``B`` proteins with ``N`` residues in total.

    Flat, per-residue tensors (``N`` rows, proteins in batch order, residues in chain order):
        residue_type: ``(N,)`` int64 ids in TorchDrug order (20 = unknown).
        coords: ``(N, 5, 3)`` float32 N, CA, C, O, CB; NaN where missing (or sequence-only).
        atom_mask: ``(N, 5)`` bool.
        residue_number: ``(N,)`` int64 author residue numbers (0-based positions for sequence-only proteins).
        chain_index: ``(N,)`` int64 chain index *within* each protein.
        plddt: ``(N,)`` float32, NaN where unknown; ``None`` when no protein in the batch has pLDDT.
        residue_masked: ``(N,)`` bool, residues whose identity encoders must not see.
    Per protein:
        lengths: ``(B,)`` int64 residue counts.
        ids, sequences, structure_tokens: Python lists of length ``B``.
    """

    residue_type: Tensor
    coords: Tensor
    atom_mask: Tensor
    residue_number: Tensor
    chain_index: Tensor
    plddt: Tensor | None
    residue_masked: Tensor
    lengths: Tensor
    ids: list[str]
    sequences: list[str]
    structure_tokens: list[str | None]
    max_length: int = field(default=0)

    def __post_init__(self) -> None:
        if not self.max_length:
            self.max_length = int(self.lengths.max()) if self.lengths.numel() else 0

    # ------------------------------------------------------------ building
    @classmethod
    def collate(cls, proteins: Sequence[Protein]) -> ProteinBatch:
        """Concatenate proteins into one batch; the flat index runs through proteins in order, residues in order."""
        if len(proteins) == 0:
            raise ValueError("ProteinBatch.collate: no proteins given")
        lengths = np.array([len(p) for p in proteins], dtype=np.int64)
        n = int(lengths.sum())
        coords = np.full((n, NUM_ATOMS, 3), np.nan, dtype=np.float32)
        atom_mask = np.zeros((n, NUM_ATOMS), dtype=bool)
        residue_number = np.empty(n, dtype=np.int64)
        chain_index = np.empty(n, dtype=np.int64)
        masked = np.zeros(n, dtype=bool)
        any_plddt = any(p.plddt is not None for p in proteins)
        plddt = np.full(n, np.nan, dtype=np.float32) if any_plddt else None
        start = 0
        for p, length in zip(proteins, lengths):
            end = start + int(length)
            if p.coords is not None:
                coords[start:end] = p.coords
                atom_mask[start:end] = p.atom_mask
            if p.residue_number is not None:
                residue_number[start:end] = p.residue_number
            else:
                residue_number[start:end] = np.arange(length)
            chain_index[start:end] = p.chain_index
            if p.residue_masked is not None:
                masked[start:end] = p.residue_masked
            if plddt is not None and p.plddt is not None:
                plddt[start:end] = p.plddt
            start = end
        sequences = [p.sequence for p in proteins]
        residue_type = sequence_to_ids("".join(sequences))
        return cls(
            residue_type=torch.from_numpy(residue_type),
            coords=torch.from_numpy(coords),
            atom_mask=torch.from_numpy(atom_mask),
            residue_number=torch.from_numpy(residue_number),
            chain_index=torch.from_numpy(chain_index),
            plddt=None if plddt is None else torch.from_numpy(plddt),
            residue_masked=torch.from_numpy(masked),
            lengths=torch.from_numpy(lengths),
            ids=[p.id for p in proteins],
            sequences=sequences,
            structure_tokens=[p.structure_tokens for p in proteins],
            max_length=int(lengths.max()),
        )

    # ------------------------------------------------------------- basics
    def __len__(self) -> int:
        return int(self.lengths.shape[0])

    @property
    def batch_size(self) -> int:
        return len(self)

    @property
    def num_residues(self) -> int:
        return int(self.residue_type.shape[0])

    @property
    def device(self) -> torch.device:
        return self.residue_type.device

    @property
    def ca(self) -> Tensor:
        """Cα coordinates of every residue, ``(N, 3)``."""
        return self.coords[:, ATOM_CA]

    # ------------------------------------------------------ derived views
    @cached_property
    def offsets(self) -> Tensor:
        """``(B + 1,)`` start of each protein in the flat view (``offsets[-1] == N``)."""
        return torch.nn.functional.pad(torch.cumsum(self.lengths, 0), (1, 0))

    @cached_property
    def batch(self) -> Tensor:
        """``(N,)`` index of the protein each residue belongs to (PyG's ``batch`` vector)."""
        return torch.repeat_interleave(
            torch.arange(len(self), device=self.device), self.lengths, output_size=self.num_residues
        )

    @cached_property
    def position(self) -> Tensor:
        """``(N,)`` position of each residue within its protein (0 … L-1)."""
        return torch.arange(self.num_residues, device=self.device) - self.offsets[self.batch]

    @cached_property
    def mask(self) -> Tensor:
        """``(B, L_max)`` bool, True on real residues of the padded view."""
        return torch.arange(self.max_length, device=self.device)[None, :] < self.lengths[:, None]

    @cached_property
    def _padded_index(self) -> Tensor:
        return self.batch * self.max_length + self.position  # (N,)

    def to_padded(self, x: Tensor, fill: float | bool = 0) -> Tensor:
        """Flat ``(N, *F)`` -> padded ``(B, L_max, *F)``; padding positions hold ``fill``."""
        if x.shape[0] != self.num_residues:
            raise ValueError(f"to_padded: expected {self.num_residues} rows, got {tuple(x.shape)}")
        out = x.new_full((len(self) * self.max_length, *x.shape[1:]), fill)
        out[self._padded_index] = x
        return out.view(len(self), self.max_length, *x.shape[1:])

    def to_flat(self, x: Tensor) -> Tensor:
        """Padded ``(B, L, *F)`` with ``L >= L_max`` -> flat ``(N, *F)`` (padding dropped)."""
        if x.shape[0] != len(self) or x.shape[1] < self.max_length:
            raise ValueError(
                f"to_flat: expected ({len(self)}, >={self.max_length}, ...), got {tuple(x.shape)}"
            )
        x = x[:, : self.max_length]
        return x.reshape(len(self) * self.max_length, *x.shape[2:])[self._padded_index]

    # ------------------------------------------------------------ devices
    def _map(self, fn: Callable[[Tensor], Tensor]) -> ProteinBatch:
        values = {}
        for f in fields(self):
            v = getattr(self, f.name)
            values[f.name] = fn(v) if f.name in _TENSOR_FIELDS and v is not None else v
        return type(self)(**values)

    def to(self, device: torch.device | str, non_blocking: bool = False) -> ProteinBatch:
        """A copy with every tensor on ``device`` (derived views are recomputed there lazily)."""
        return self._map(lambda t: t.to(device, non_blocking=non_blocking))

    def pin_memory(self) -> ProteinBatch:
        """Page-locked copy, used by ``DataLoader(pin_memory=True)``."""
        return self._map(lambda t: t.pin_memory())

    def select(self, index: Sequence[int]) -> ProteinBatch:
        """A batch of the proteins at ``index`` (Python ints), in that order."""
        offsets = self.offsets.tolist()
        rows = (
            torch.cat([torch.arange(offsets[i], offsets[i + 1], device=self.device) for i in index])
            if len(index)
            else torch.zeros(0, dtype=torch.long, device=self.device)
        )
        values = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "lengths":
                values[f.name] = v[torch.as_tensor(list(index), dtype=torch.long, device=self.device)]
            elif f.name in _TENSOR_FIELDS:
                values[f.name] = None if v is None else v[rows]
            elif f.name == "max_length":
                values[f.name] = 0
            else:
                values[f.name] = [v[i] for i in index]
        return type(self)(**values)
