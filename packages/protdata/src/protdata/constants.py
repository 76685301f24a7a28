"""Residue and atom vocabularies shared by every protstack package.

Residue-type ids follow TorchDrug's ``Protein.residue2id`` (GLY=0 … TRP=19), the order GearNet, ESM-GearNet
and FusionProt were trained with, so a 21-d one-hot input built here feeds their released weights unchanged.
Id 20 is the unknown residue ``X``.
"""

from __future__ import annotations

import numpy as np

#: One-letter codes in TorchDrug's residue-id order (``residue2id``); index = residue-type id.
RESIDUE_LETTERS: str = "GASPVTCILNDQKEMHFRYW"
#: The unknown / non-standard residue letter and its id.
UNKNOWN_LETTER: str = "X"
UNKNOWN_ID: int = 20
#: Number of residue types including the unknown type (the 21-d one-hot of the seeds).
NUM_RESIDUE_TYPES: int = 21
#: Letters a ``Protein.sequence`` may contain.
SEQUENCE_ALPHABET: frozenset[str] = frozenset(RESIDUE_LETTERS + UNKNOWN_LETTER)

#: Three-letter names of the 20 standard residues, in residue-id order.
RESIDUE_NAMES: tuple[str, ...] = (
    "GLY", "ALA", "SER", "PRO", "VAL", "THR", "CYS", "ILE", "LEU", "ASN",
    "ASP", "GLN", "LYS", "GLU", "MET", "HIS", "PHE", "ARG", "TYR", "TRP",
)  # fmt: skip
THREE_TO_ONE: dict[str, str] = dict(zip(RESIDUE_NAMES, RESIDUE_LETTERS))
ONE_TO_THREE: dict[str, str] = {v: k for k, v in THREE_TO_ONE.items()}

#: Backbone atoms stored per residue, in this order, in ``Protein.coords[:, k]``.
ATOM_NAMES: tuple[str, ...] = ("N", "CA", "C", "O", "CB")
ATOM_N, ATOM_CA, ATOM_C, ATOM_O, ATOM_CB = range(5)
NUM_ATOMS: int = len(ATOM_NAMES)

# ASCII lookup table: letter -> residue id (unknown letters -> UNKNOWN_ID).
_LETTER_TO_ID = np.full(256, UNKNOWN_ID, dtype=np.int64)
for _i, _c in enumerate(RESIDUE_LETTERS):
    _LETTER_TO_ID[ord(_c)] = _i


def sequence_to_ids(sequence: str) -> np.ndarray:
    """Map a one-letter sequence to residue-type ids ``(L,)`` int64 (anything outside the 20 letters -> 20)."""
    codes = np.frombuffer(sequence.encode("ascii", errors="replace"), dtype=np.uint8)
    return _LETTER_TO_ID[codes]


def ids_to_sequence(ids: np.ndarray) -> str:
    """Inverse of :func:`sequence_to_ids` (id 20 -> ``X``)."""
    table = np.frombuffer((RESIDUE_LETTERS + UNKNOWN_LETTER).encode("ascii"), dtype=np.uint8)
    return table[np.asarray(ids, dtype=np.int64)].tobytes().decode("ascii")
