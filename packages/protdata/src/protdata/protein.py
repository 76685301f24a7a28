"""``Protein``: one chain (or complex) as protstack's single data contract.

A ``Protein`` is built by the loaders (``protdata.load_chains``, FASTA readers), never by hand-parsing text.
Arrays are NumPy so that proteins are cheap to pickle into DataLoader workers; ``ProteinBatch.collate`` turns
many of them into torch tensors.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from protdata.constants import ATOM_CA, NUM_ATOMS, SEQUENCE_ALPHABET, sequence_to_ids
from protdata.errors import SequenceError


@dataclass(eq=False, repr=False)
class Protein:
    """One protein chain (or a complex of chains), residue by residue.

    Only residues that carry a Cα atom are kept (as Foldseek and TorchDrug's ``AlphaCarbonNode`` do), so every
    row of ``coords`` has a Cα unless the protein is sequence-only (``coords is None``).

    Attributes:
        id: Identifier, e.g. ``"1aki_A"`` (file stem + ``_`` + author chain id) or a FASTA id.
        sequence: One letter per residue: the 20 standard letters, ``X`` for anything else.
        coords: ``(L, 5, 3)`` float32 coordinates of N, CA, C, O, CB (``constants.ATOM_NAMES``); NaN where an
            atom is missing. ``None`` for a sequence-only protein.
        atom_mask: ``(L, 5)`` bool, True where the atom is present. ``None`` iff ``coords`` is ``None``.
        residue_number: ``(L,)`` int32 author residue numbers (``None`` for sequence-only proteins).
        insertion_code: ``(L,)`` ``<U1`` insertion codes, ``" "`` where there is none.
        chain_index: ``(L,)`` int16 index into ``chain_ids`` for every residue.
        chain_ids: Author chain ids, as PDB and Foldseek show them.
        plddt: ``(L,)`` float32 per-residue pLDDT (AlphaFold models), else ``None``.
        b_factor: ``(L,)`` float32 B-factor of each residue's Cα, else ``None``.
        structure_tokens: Foldseek 3Di string (uppercase, length L), else ``None``.
        residue_masked: ``(L,)`` bool, True where the residue identity is hidden from encoders (MLM-style
            masking); ``None`` means nothing is masked. ``sequence`` keeps the true letters (the labels).
        source: The file (or ``archive::member``) the protein was read from.
        model: The model number it came from (PDB ``MODEL`` serial / mmCIF ``pdbx_PDB_model_num``).
    """

    id: str
    sequence: str
    coords: np.ndarray | None = None
    atom_mask: np.ndarray | None = None
    residue_number: np.ndarray | None = None
    insertion_code: np.ndarray | None = None
    chain_index: np.ndarray | None = None
    chain_ids: tuple[str, ...] = ("A",)
    plddt: np.ndarray | None = None
    b_factor: np.ndarray | None = None
    structure_tokens: str | None = None
    residue_masked: np.ndarray | None = None
    source: str | None = None
    model: int | None = None

    def __post_init__(self) -> None:
        n = len(self.sequence)
        bad = set(self.sequence) - SEQUENCE_ALPHABET
        if bad:
            raise SequenceError(
                self.source or self.id,
                f"sequence of {self.id!r} has letters outside the 20 amino acids + X: {''.join(sorted(bad))!r}",
            )
        if self.chain_index is None:
            self.chain_index = np.zeros(n, dtype=np.int16)
        self.chain_ids = tuple(self.chain_ids)
        if (self.coords is None) != (self.atom_mask is None):
            raise ValueError(f"{self.id}: coords and atom_mask must be given together")
        if self.coords is not None:
            self.coords = np.asarray(self.coords, dtype=np.float32)
            self.atom_mask = np.asarray(self.atom_mask, dtype=bool)
            _check_shape(self.id, "coords", self.coords, (n, NUM_ATOMS, 3))
            _check_shape(self.id, "atom_mask", self.atom_mask, (n, NUM_ATOMS))
        for name in (
            "residue_number",
            "insertion_code",
            "chain_index",
            "plddt",
            "b_factor",
            "residue_masked",
        ):
            value = getattr(self, name)
            if value is not None:
                _check_shape(self.id, name, np.asarray(value), (n,))
        if self.structure_tokens is not None and len(self.structure_tokens) != n:
            raise ValueError(
                f"{self.id}: structure_tokens has {len(self.structure_tokens)} letters for {n} residues"
            )

    # ------------------------------------------------------------------ views
    def __len__(self) -> int:
        return len(self.sequence)

    def __repr__(self) -> str:
        kind = "structure" if self.has_structure else "sequence-only"
        return f"Protein(id={self.id!r}, length={len(self)}, chains={''.join(self.chain_ids)!r}, {kind})"

    @property
    def has_structure(self) -> bool:
        return self.coords is not None

    @property
    def ca(self) -> np.ndarray:
        """Cα coordinates ``(L, 3)`` float32."""
        if self.coords is None:
            raise ValueError(f"{self.id}: sequence-only protein has no coordinates")
        return self.coords[:, ATOM_CA]

    @property
    def residue_type(self) -> np.ndarray:
        """Residue-type ids ``(L,)`` int64 in TorchDrug order (``constants.RESIDUE_LETTERS``; X = 20)."""
        return sequence_to_ids(self.sequence)

    @property
    def chain_id(self) -> str:
        """The author chain id of a single-chain protein (comma-joined ids for a complex)."""
        return ",".join(self.chain_ids)

    # ------------------------------------------------------------ derivation
    def replace(self, **changes: object) -> Protein:
        """A copy with some fields replaced (validated again)."""
        return dataclasses.replace(self, **changes)

    def select(self, index: Sequence[int] | np.ndarray | slice) -> Protein:
        """The residues at ``index`` (in the given order), all per-residue fields sliced consistently.

        Used by crops; ``index`` may be a slice, an integer array or a boolean mask of length L.
        """
        idx = np.arange(len(self))[index] if isinstance(index, slice) else np.asarray(index)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        idx = idx.astype(np.int64, copy=False)
        seq = np.frombuffer(self.sequence.encode("ascii"), dtype=np.uint8)[idx].tobytes().decode("ascii")

        def take(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[idx]

        tokens = None
        if self.structure_tokens is not None:
            raw = np.frombuffer(self.structure_tokens.encode("ascii"), dtype=np.uint8)[idx]
            tokens = raw.tobytes().decode("ascii")
        return dataclasses.replace(
            self,
            sequence=seq,
            coords=take(self.coords),
            atom_mask=take(self.atom_mask),
            residue_number=take(self.residue_number),
            insertion_code=take(self.insertion_code),
            chain_index=take(self.chain_index),
            plddt=take(self.plddt),
            b_factor=take(self.b_factor),
            structure_tokens=tokens,
            residue_masked=take(self.residue_masked),
        )

    @classmethod
    def from_sequence(cls, id: str, sequence: str, *, source: str | None = None) -> Protein:
        """A sequence-only protein (no coordinates), e.g. from FASTA. The sequence must be upper-case 20+X."""
        return cls(id=id, sequence=sequence, source=source)


def _check_shape(pid: str, name: str, value: np.ndarray, shape: tuple[int, ...]) -> None:
    if value.shape != shape:
        raise ValueError(f"{pid}: {name} has shape {value.shape}, expected {shape}")
