"""``MaskedLMAdapter``: token ids, maskable positions, masking rules and logits of an encoder as a masked LM.

Truth: the tokenizer's own arrays, SaProt's token strings (``saprot.TOKENS``: ``aa + 3Di`` -> ``# + 3Di``), the
alphabet's ids, and the encoder's packed forward (``return_logits``) for the LM head on padded tokens.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from protdata import Protein, ProteinBatch, saprot
from protenc_seq import (
    ESM_ALPHABET,
    ESM2Encoder,
    MaskedLMAdapter,
    build_sequence_encoder,
    esm_mask_tokens,
    saprot_mask_tokens,
)

TINY = {"num_layers": 2, "embed_dim": 32, "attention_heads": 4}


def tiny(vocab: str = "esm", seed: int = 0) -> ESM2Encoder:
    torch.manual_seed(seed)
    kind = "saprot" if vocab == "saprot" else "esm2"
    return build_sequence_encoder({"type": kind, "architecture": {**TINY, "vocab": vocab}}).eval()


def test_tokenize_pads_right_and_marks_residues(real_sequences) -> None:
    adapter = MaskedLMAdapter(tiny())
    records = real_sequences[:3]
    masked = np.zeros(len(records[0][1]), dtype=bool)
    masked[[0, 4]] = True
    proteins = [Protein.from_sequence(n, s) for n, s in records]
    proteins[0] = proteins[0].replace(residue_masked=masked)
    tok = adapter.tokenize(ProteinBatch.collate(proteins))
    width = max(len(s) for _, s in records) + 2
    assert tok.tokens.shape == tok.maskable.shape == (3, width) and tok.tokens.dtype == torch.int64
    for i, (_, seq) in enumerate(records):
        n = len(seq)
        want = [ESM_ALPHABET.cls_id, *(ESM_ALPHABET.tokens.index(c) for c in seq), ESM_ALPHABET.eos_id]
        if i == 0:
            want[1], want[5] = ESM_ALPHABET.mask_id, ESM_ALPHABET.mask_id  # residue_masked -> <mask>
        assert tok.tokens[i, : n + 2].tolist() == want
        assert bool((tok.tokens[i, n + 2 :] == ESM_ALPHABET.pad_id).all())
        assert tok.maskable[i].nonzero().flatten().tolist() == list(range(1, n + 1))


def test_mask_tokens_follow_the_vocabulary_rules() -> None:
    ids = torch.arange(saprot.VOCAB_SIZE)
    masked = saprot_mask_tokens(ids).tolist()
    for i, m in enumerate(masked):
        token = saprot.TOKENS[i]
        want = token if i < len(saprot.SPECIAL_TOKENS) else "#" + token[1]  # amino acid hidden, 3Di kept
        assert saprot.TOKENS[m] == want
    tokens = torch.tensor([[0, 5, 17, 2]])
    assert esm_mask_tokens(tokens, 32).tolist() == [[32, 32, 32, 32]]
    assert MaskedLMAdapter(tiny()).mask_tokens(tokens).tolist() == [[32, 32, 32, 32]]
    sa = MaskedLMAdapter(tiny("saprot"))
    assert sa.saprot and torch.equal(sa.mask_tokens(ids), saprot_mask_tokens(ids))


def test_random_ids_exclude_padding_only() -> None:
    for vocab, size in (("esm", 33), ("saprot", 446)):
        adapter = MaskedLMAdapter(tiny(vocab))
        pad = adapter.alphabet.pad_id
        assert adapter.random_token_ids().tolist() == [i for i in range(size) if i != pad]


def test_token_logits_equal_the_encoder_logits(real_sequences) -> None:
    enc = tiny(seed=1)
    adapter = MaskedLMAdapter(enc)
    batch = ProteinBatch.collate([Protein.from_sequence(n, s) for n, s in real_sequences[:3]])
    with torch.no_grad():
        logits = adapter.token_logits(adapter.tokenize(batch).tokens)
        ref = enc(batch, return_logits=True).extras["logits"]  # (B, L, V) at residues
    assert logits.dtype == torch.float32 and logits.shape[-1] == 33
    for i, n in enumerate(batch.lengths.tolist()):
        assert (logits[i, 1 : n + 1] - ref[i, :n]).abs().max() <= 1e-4
    assert torch.equal(adapter(batch).residue, enc(batch).residue)  # also an encoder
    assert [n for n, _ in adapter.named_parameters()] == [f"encoder.{n}" for n, _ in enc.named_parameters()]


def test_adapter_rejects_what_it_cannot_train() -> None:
    with pytest.raises(TypeError, match="needs a protenc-seq ESM-2 / SaProt encoder"):
        MaskedLMAdapter(torch.nn.Linear(2, 2))  # type: ignore[arg-type]
    enc = tiny()
    enc.model.has_lm_head = False
    with pytest.raises(ValueError, match="no LM head"):
        MaskedLMAdapter(enc)


def test_an_encoder_offers_its_masked_lm_view() -> None:
    """``encoder.masked_lm()`` is how prottasks (which imports no encoder package) trains an encoder with MLM."""
    for vocab in ("esm", "saprot"):
        enc = tiny(vocab)
        mlm = enc.masked_lm()
        assert isinstance(mlm, MaskedLMAdapter) and mlm.encoder is enc
        assert mlm.vocab_size == (446 if vocab == "saprot" else len(ESM_ALPHABET.tokens))
        assert {id(p) for p in mlm.parameters()} == {id(p) for p in enc.parameters()}  # it trains the encoder
    enc.model.has_lm_head = False
    with pytest.raises(ValueError, match="no LM head"):
        enc.masked_lm()
