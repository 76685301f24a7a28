"""ESM C's sequence vocabulary and special ids (33 tokens in a 64-row table).

The token list is ``SEQUENCE_VOCAB`` of the ``esm`` package (evolutionaryscale/esm ``esm/utils/constants/esm3.py``),
the vocabulary transformers' ``EsmcTokenizer`` builds in (``models/esmc/tokenization_esmc.py``): ``<cls> <pad>
<eos> <unk>``, the 25 residue letters ``LAGVSERTIDPKQNFYMHWCXBUZO``, ``.`` (gap), ``-`` (insertion), ``|`` (chain
break) and ``<mask>``; ``<cls>`` = 0 doubles as BOS, ``<pad>`` = 1, ``<eos>`` = 2, ``<unk>`` = 3, ``<mask>`` = 32.

It is ESM-2's alphabet with ``|`` in place of ESM-2's ``<null_1>`` at id 31: every residue letter and special token
has the same id. So protenc-seq's :class:`~protenc_seq.tokenize.SequenceTokenizer` reads amino-acid strings for ESM
C exactly as for ESM-2 (same validation, ``nonstandard`` and ``on_long`` policy; every sequence wrapped in
``<cls>`` … ``<eos>``, as ``EsmcTokenizer``'s ``TemplateProcessing`` does); the identity is checked at import.
"""

from __future__ import annotations

from protenc_seq.alphabet import ESM_ALPHABET, Alphabet
from protenc_seq.esmc.config import ESMC_MAX_RESIDUES
from protenc_seq.tokenize import NonStandard, OnLong, SequenceTokenizer

#: ``SEQUENCE_VOCAB`` (module docstring), id = index.
ESMC_TOKENS: tuple[str, ...] = (
    "<cls>", "<pad>", "<eos>", "<unk>",
    *"LAGVSERTIDPKQNFYMHWCXBUZO",
    ".", "-", "|", "<mask>",
)  # fmt: skip
#: The chain-break token of multi-chain inputs (``EsmcTokenizer.chain_break_token``).
CHAIN_BREAK_ID = ESMC_TOKENS.index("|")

#: ESM C's alphabet. Its ``name`` is ``"esm"``: the ESM letter vocabulary, tokenised by the ESM path of
#: :class:`SequenceTokenizer` (the ids coincide, checked below).
ESMC_ALPHABET = Alphabet(
    "esm",
    ESMC_TOKENS,
    cls_id=ESMC_TOKENS.index("<cls>"),
    pad_id=ESMC_TOKENS.index("<pad>"),
    eos_id=ESMC_TOKENS.index("<eos>"),
    unk_id=ESMC_TOKENS.index("<unk>"),
    mask_id=ESMC_TOKENS.index("<mask>"),
)


def _check_shared_ids() -> None:
    same = [i for i, (a, b) in enumerate(zip(ESM_ALPHABET.tokens, ESMC_TOKENS)) if a == b]
    specials = ("cls_id", "pad_id", "eos_id", "unk_id", "mask_id")
    if len(same) != 32 or any(getattr(ESM_ALPHABET, s) != getattr(ESMC_ALPHABET, s) for s in specials):
        raise RuntimeError(
            "ESM C's token ids no longer match ESM-2's letters: SequenceTokenizer would mis-read"
        )


_check_shared_ids()


def esmc_tokenizer(
    *,
    max_residues: int | None = ESMC_MAX_RESIDUES,
    on_long: OnLong = "error",
    nonstandard: NonStandard = "error",
) -> SequenceTokenizer:
    """protenc-seq's validated tokenizer over :data:`ESMC_ALPHABET` (``<cls>`` … ``<eos>`` per sequence; window
    2,046 residues by default)."""
    return SequenceTokenizer(
        ESMC_ALPHABET,
        max_residues=max_residues,
        on_long=on_long,
        nonstandard=nonstandard,
        plddt_threshold=None,
    )
