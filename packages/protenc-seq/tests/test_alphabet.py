"""Vocabularies against fair-esm's ``Alphabet`` and protdata's SaProt token list."""

from __future__ import annotations

from protdata import saprot
from protenc_seq.alphabet import AMINO_ACIDS, ESM_ALPHABET, SAPROT_ALPHABET, alphabet_for_vocab_size


def test_esm_alphabet_is_fair_esm(esm) -> None:
    ref = esm.data.Alphabet.from_architecture("ESM-1b")
    assert list(ESM_ALPHABET.tokens) == ref.all_toks
    assert (ESM_ALPHABET.cls_id, ESM_ALPHABET.pad_id, ESM_ALPHABET.eos_id) == (
        ref.cls_idx,
        ref.padding_idx,
        ref.eos_idx,
    )
    assert (ESM_ALPHABET.unk_id, ESM_ALPHABET.mask_id) == (ref.unk_idx, ref.mask_idx)
    assert ESM_ALPHABET.amino_acid_token_ids().tolist() == [ref.get_idx(a) for a in AMINO_ACIDS]


def test_saprot_alphabet() -> None:
    assert SAPROT_ALPHABET.tokens == saprot.TOKENS and SAPROT_ALPHABET.size == 446
    ids = SAPROT_ALPHABET.amino_acid_token_ids()  # (20, 21): tokens sharing each amino acid
    assert ids.shape == (20, 21)
    for i, a in enumerate(AMINO_ACIDS):
        assert {saprot.TOKENS[t][0] for t in ids[i]} == {a}
        assert sorted(saprot.TOKENS[t][1] for t in ids[i]) == sorted(saprot.STRUCT_VOCAB)
    assert alphabet_for_vocab_size(33) is ESM_ALPHABET and alphabet_for_vocab_size(446) is SAPROT_ALPHABET
