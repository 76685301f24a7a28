"""SaProt's structure-aware (SA) vocabulary and sequences (Su et al., ICLR 2024;
westlake-repl/SaProt ``utils/constants.py``, ``utils/foldseek_util.py``).

An SA sequence pairs each residue's amino acid (upper case) with its Foldseek 3Di state (lower case), e.g.
``"M#EvVpQpL#"``. ``#`` in the 3Di slot means "structure unknown" (no structure, or pLDDT below the threshold);
``#`` in the amino-acid slot means "amino acid masked" (MLM, mutation scoring).

The 446 tokens are ``<cls> <pad> <eos> <unk> <mask>`` followed by every pair ``aa + s`` with the amino acid
outer and the 3Di letter inner: ``id = 5 + 21 * aa_index + struct_index``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from protdata.errors import NoProteinChainError, ProtdataError, SequenceError
from protdata.protein import Protein

#: Amino-acid slot alphabet (20 amino acids + ``#`` = masked), SaProt ``foldseek_seq_vocab``.
AA_VOCAB: str = "ACDEFGHIKLMNPQRSTVWY#"
#: 3Di slot alphabet (20 lower-case 3Di states + ``#`` = unknown), SaProt ``foldseek_struc_vocab``.
STRUCT_VOCAB: str = "pynwrqhgdlvtmfsaeikc#"
SPECIAL_TOKENS: tuple[str, ...] = ("<cls>", "<pad>", "<eos>", "<unk>", "<mask>")
CLS_ID, PAD_ID, EOS_ID, UNK_ID, MASK_ID = range(5)
#: All 446 tokens, in id order.
TOKENS: tuple[str, ...] = SPECIAL_TOKENS + tuple(a + s for a in AA_VOCAB for s in STRUCT_VOCAB)
VOCAB_SIZE: int = len(TOKENS)  # 446
#: Default pLDDT below which the 3Di letter is replaced by ``#`` (SaProt ``plddt_threshold``).
DEFAULT_PLDDT_THRESHOLD: float = 70.0

_AA_INDEX = np.full(256, -1, dtype=np.int64)
for _i, _c in enumerate(AA_VOCAB):
    _AA_INDEX[ord(_c)] = _i
_STRUCT_INDEX = np.full(256, -1, dtype=np.int64)
for _i, _c in enumerate(STRUCT_VOCAB):
    _STRUCT_INDEX[ord(_c)] = _i


def token_id(aa: str, struct: str) -> int:
    """Id of the SA token ``aa + struct`` (``5 + 21 * aa_index + struct_index``); ``<unk>`` if either is unknown."""
    i, j = AA_VOCAB.find(aa), STRUCT_VOCAB.find(struct)
    return UNK_ID if i < 0 or j < 0 or len(aa) != 1 or len(struct) != 1 else 5 + 21 * i + j


def structure_aware_sequence(
    protein: Protein,
    *,
    plddt_threshold: float | None = DEFAULT_PLDDT_THRESHOLD,
    mask_residues: bool = False,
) -> str:
    """The SA string of ``protein``: ``aa + 3Di.lower()`` per residue.

    The 3Di letter is ``#`` where the protein has no ``structure_tokens`` or where its pLDDT is below
    ``plddt_threshold`` (only proteins with ``plddt`` are masked; ``None`` disables pLDDT masking). With
    ``mask_residues``, residues flagged in ``protein.residue_masked`` get ``#`` in the amino-acid slot.
    Non-standard residues (``X``) are kept as ``X`` and tokenise to ``<unk>``, as in SaProt.
    """
    n = len(protein)
    aa = np.frombuffer(protein.sequence.encode("ascii"), dtype=np.uint8).copy()
    if protein.structure_tokens is None:
        struct = np.full(n, ord("#"), dtype=np.uint8)
    else:
        struct = np.frombuffer(protein.structure_tokens.lower().encode("ascii"), dtype=np.uint8).copy()
        if plddt_threshold is not None and protein.plddt is not None:
            struct[np.asarray(protein.plddt) < plddt_threshold] = ord("#")
    if mask_residues and protein.residue_masked is not None:
        aa[np.asarray(protein.residue_masked, dtype=bool)] = ord("#")
    out = np.empty(2 * n, dtype=np.uint8)
    out[0::2], out[1::2] = aa, struct
    return out.tobytes().decode("ascii")


@dataclass(frozen=True)
class StructureTokens:
    """One chain of a structure file as SaProt reads it: ``sequence`` and its 3Di string ``tokens`` (lower case,
    ``#`` where pLDDT is below the threshold), ``masked`` of them ``#``."""

    path: Path
    chain_id: str
    sequence: str
    tokens: str
    masked: int

    def describe(self) -> str:
        """``"file.pdb chain A (263 residues, 4 with pLDDT below the threshold)"``."""
        low = f", {self.masked} with pLDDT below the threshold" if self.masked else ""
        return f"{self.path.name} chain {self.chain_id} ({len(self.sequence)} residues{low})"

    def check_sequence(self, wild_type: str, offset: int = 1) -> None:
        """Raise :class:`SequenceError` naming the first difference (residue numbered from ``offset``) unless the
        chain's sequence is ``wild_type``."""
        if wild_type == self.sequence:
            return
        diff = next((i for i, (a, b) in enumerate(zip(wild_type, self.sequence)) if a != b), None)
        detail = (
            f"lengths {len(wild_type)} vs {len(self.sequence)}"
            if diff is None
            else f"first difference at residue {diff + offset} ({wild_type[diff]} vs {self.sequence[diff]})"
        )
        raise SequenceError(
            self.path, f"chain {self.chain_id} does not have the wild-type sequence ({detail})"
        )


def read_structure_tokens(
    path: str | os.PathLike[str],
    *,
    chain: str | None = None,
    plddt_threshold: float | None = DEFAULT_PLDDT_THRESHOLD,
) -> StructureTokens:
    """The Foldseek 3Di string of one chain of a PDB / mmCIF / BinaryCIF file (``chain``: author chain id; None:
    the first protein chain), masked to ``#`` below ``plddt_threshold`` for files with pLDDT (AlphaFold models;
    SaProt issue #33, westlake-repl/SaProt). Imports torch (the Foldseek encoder).

    Raises:
        ProtdataError: a missing or unreadable file, or no protein chain ``chain`` in it.
    """
    from protdata.foldseek import with_3di
    from protdata.io import load_chains

    path = Path(path)
    if not path.is_file():
        raise ProtdataError(path, "no such file")
    chains = load_chains(path)
    if chain is not None:
        chains = [p for p in chains if chain in p.chain_ids]
        if not chains:
            raise NoProteinChainError(path, f"no protein chain {chain!r}")
    protein = with_3di(chains[:1])[0]
    tokens = structure_aware_sequence(protein, plddt_threshold=plddt_threshold)[1::2]
    return StructureTokens(path, protein.chain_id, protein.sequence, tokens, tokens.count("#"))


def split_pairs(sa_sequence: str) -> tuple[str, str]:
    """Split an SA string into its amino-acid string and its 3Di string (both of length L)."""
    if len(sa_sequence) % 2:
        raise SequenceError(None, f"structure-aware sequence has odd length {len(sa_sequence)}")
    return sa_sequence[0::2], sa_sequence[1::2]


def encode(sa_sequence: str, *, add_special: bool = True) -> np.ndarray:
    """Token ids ``(L [+2],)`` int64 of an SA string, with ``<cls>`` … ``<eos>`` when ``add_special``.

    Pairs whose amino acid or 3Di letter is outside the vocabulary (e.g. ``X``) become ``<unk>``.
    """
    aa, struct = split_pairs(sa_sequence)
    i = _AA_INDEX[np.frombuffer(aa.encode("ascii"), dtype=np.uint8)]
    j = _STRUCT_INDEX[np.frombuffer(struct.encode("ascii"), dtype=np.uint8)]
    ids = np.where((i >= 0) & (j >= 0), 5 + 21 * i + j, UNK_ID)
    if add_special:
        ids = np.concatenate([[CLS_ID], ids, [EOS_ID]])
    return ids.astype(np.int64)


def decode(ids: np.ndarray) -> str:
    """Inverse of :func:`encode` for residue tokens (special tokens are dropped)."""
    return "".join(TOKENS[int(i)] for i in np.asarray(ids).ravel() if int(i) >= len(SPECIAL_TOKENS))
