"""Token vocabularies of ESM-2 (33 tokens) and SaProt (446 structure-aware tokens).

ESM-2 uses fair-esm's ``Alphabet.from_architecture("ESM-1b")``: ``<cls> <pad> <eos> <unk>``, the 25 residue
letters ``LAGVSERTIDPKQNFYMHWCXBUZO``, ``.`` and ``-``, one ``<null_1>`` pad token and ``<mask>`` (ids 0-32;
the Hugging Face ESM-2 ``vocab.txt``). SaProt's 446 tokens are ``protdata.saprot.TOKENS``
(``5 + 21 * aa_index + struct_index``; westlake-repl/SaProt ``utils/constants.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from protdata import saprot

#: The 20 standard amino acids, in the order mutation scores and per-residue probabilities are reported.
AMINO_ACIDS: str = "ACDEFGHIKLMNPQRSTVWY"

#: fair-esm's ESM-1b/ESM-2 token list, id = index.
ESM_TOKENS: tuple[str, ...] = (
    "<cls>", "<pad>", "<eos>", "<unk>",
    *"LAGVSERTIDPKQNFYMHWCXBUZO",
    ".", "-", "<null_1>", "<mask>",
)  # fmt: skip

VocabName = Literal["esm", "saprot"]


@dataclass(frozen=True)
class Alphabet:
    """A token vocabulary and its special-token ids."""

    name: VocabName
    tokens: tuple[str, ...]
    cls_id: int
    pad_id: int
    eos_id: int
    unk_id: int
    mask_id: int

    @property
    def size(self) -> int:
        return len(self.tokens)

    def amino_acid_token_ids(self) -> np.ndarray:
        """Token ids of the 20 :data:`AMINO_ACIDS`.

        ESM: ``(20,)``, one token per amino acid. SaProt: ``(20, 21)``, the 21 structure-aware tokens
        ``aa + s`` (every 3Di letter and ``#``) that share the amino acid -- the tokens whose probabilities are
        summed to get P(aa) (SaProt's ``saprot_foldseek_mutation_model.py``).
        """
        if self.name == "esm":
            return np.array([self.tokens.index(a) for a in AMINO_ACIDS], dtype=np.int64)
        return np.array(
            [[saprot.token_id(a, s) for s in saprot.STRUCT_VOCAB] for a in AMINO_ACIDS], dtype=np.int64
        )


ESM_ALPHABET = Alphabet("esm", ESM_TOKENS, cls_id=0, pad_id=1, eos_id=2, unk_id=3, mask_id=32)
SAPROT_ALPHABET = Alphabet(
    "saprot",
    saprot.TOKENS,
    cls_id=saprot.CLS_ID,
    pad_id=saprot.PAD_ID,
    eos_id=saprot.EOS_ID,
    unk_id=saprot.UNK_ID,
    mask_id=saprot.MASK_ID,
)


def get_alphabet(name: VocabName) -> Alphabet:
    """The alphabet called ``name`` (``"esm"`` or ``"saprot"``)."""
    if name == "esm":
        return ESM_ALPHABET
    if name == "saprot":
        return SAPROT_ALPHABET
    raise ValueError(f"unknown vocabulary {name!r}; expected 'esm' or 'saprot'")


def alphabet_for_vocab_size(size: int) -> Alphabet:
    """The alphabet whose size is ``size`` (33 -> ESM-2, 446 -> SaProt)."""
    for alphabet in (ESM_ALPHABET, SAPROT_ALPHABET):
        if alphabet.size == size:
            return alphabet
    raise ValueError(f"no known vocabulary has {size} tokens (ESM-2 has 33, SaProt 446)")
