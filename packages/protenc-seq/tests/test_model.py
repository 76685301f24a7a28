"""Parity of our ESM-2 forward with fair-esm's ``ESM2`` and transformers' ``EsmForMaskedLM`` (max |Δ| ≤ 1e-4, fp32).

Real sequences of different lengths, padded in one batch, with some ``<mask>`` tokens (token dropout), random
weights and fp16-rounded rotary tables. Every published architecture is covered at its head size; the 3B/15B
head sizes (64/128) with fewer heads and layers to fit the CI budget.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

from protenc_seq import ESM2, ESM2Config, PackedBatch
from protenc_seq.loading.checkpoint import RawCheckpoint, build_model
from protenc_seq.loading.convert import fair_to_ours, hf_to_fair

pytestmark = pytest.mark.numerics

TOL = 1e-4

#: (name, layers, width, heads): the published sizes; big ones shrunk, head size kept.
ARCHITECTURES = [
    ("8M", 6, 320, 20),
    ("35M", 12, 480, 20),
    ("150M-head32", 2, 640, 20),
    ("650M-head64", 1, 1280, 20),
    ("3B-head64", 2, 512, 8),
    ("15B-head128", 2, 512, 4),
]


def ours_from_fair(fair: Any) -> ESM2:
    state, unknown = fair_to_ours(fair.state_dict(), "fair-esm")
    assert not unknown
    return build_model(RawCheckpoint(state=state, source="fair-esm model"))


def with_masks(tokens: torch.Tensor) -> torch.Tensor:
    tokens = tokens.clone()
    tokens[0, 3] = 32
    tokens[-1, 5:9] = 32
    return tokens


@pytest.mark.parametrize(("name", "layers", "dim", "heads"), ARCHITECTURES)
def test_matches_fair_esm(name, layers, dim, heads, make_fair_esm, fair_esm_batch, real_sequences) -> None:
    fair = make_fair_esm(layers, dim, heads, seed=layers + dim)
    ours = ours_from_fair(fair)
    tokens = with_masks(fair_esm_batch(real_sequences[:4]))  # (B, T), right-padded
    real = tokens.ne(1)
    reprs = list(range(layers + 1))
    with torch.no_grad():
        want = fair(tokens, repr_layers=reprs)
        got = ours(tokens, repr_layers=reprs)
    for k in reprs:
        assert (want["representations"][k] - got.representations[k])[real].abs().max() <= TOL, (name, k)
    assert (want["logits"] - got.logits)[real].abs().max() <= TOL
    assert got.logits[~real].abs().max() == 0  # padding rows are zero in our padded output


def test_contacts_and_attentions_match_fair_esm(make_fair_esm, fair_esm_batch, real_sequences) -> None:
    fair = make_fair_esm(2, 64, 4, seed=3)
    ours = ours_from_fair(fair)
    tokens = fair_esm_batch(real_sequences[:3])
    with torch.no_grad():
        want = fair(tokens, return_contacts=True)
        got = ours(tokens, return_contacts=True)
    assert got.attentions.shape == want["attentions"].shape
    assert (got.attentions - want["attentions"]).abs().max() <= TOL
    assert (got.contacts - want["contacts"]).abs().max() <= TOL


def test_token_dropout_scales_without_masks(make_fair_esm, fair_esm_batch, real_sequences) -> None:
    """fair-esm multiplies embeddings by 0.88 even with no <mask> (esm2.py L86-92); so do we."""
    fair = make_fair_esm(1, 32, 2, seed=5)
    ours = ours_from_fair(fair)
    tokens = fair_esm_batch(real_sequences[:2])
    with torch.no_grad():
        x = ours(tokens, repr_layers=[0]).representations[0]
        raw = ours.embed_tokens(tokens)
    real = tokens.ne(1)
    assert torch.allclose(x[real], 0.88 * raw[real], atol=1e-6)


@pytest.mark.parametrize(
    ("layers", "dim", "heads", "vocab"), [(2, 64, 4, 33), (2, 96, 4, 446), (1, 128, 2, 446)]
)
def test_matches_transformers(layers, dim, heads, vocab, make_hf_mlm, real_sequences) -> None:
    """ESM-2 (33 tokens) and SaProt (446 tokens, mask id 4) against transformers' EsmForMaskedLM."""
    from protdata import saprot

    hf = make_hf_mlm(layers, dim, heads, vocab_size=vocab, seed=dim)
    fair_names, ignored = hf_to_fair(hf.state_dict(), "hf")
    assert not ignored
    state, unknown = fair_to_ours(fair_names, "hf")
    assert not unknown
    ours = build_model(RawCheckpoint(state=state, source="hf model"))
    if (
        vocab == 446
    ):  # SA tokens: amino acid + 3Di letter, '#' where structure is unknown, '##' = masked residue
        seqs = [s for _, s in real_sequences[:3]]
        arrays = [saprot.encode("".join(a + "dvpl#"[i % 5] for i, a in enumerate(seq))) for seq in seqs]
        arrays[1][4] = saprot.token_id("#", "d")  # amino acid masked, structure kept
        arrays[2][7] = saprot.MASK_ID  # a <mask> token: token dropout applies
        tokens = PackedBatch.from_token_arrays(arrays).padded_tokens(saprot.PAD_ID)
    else:
        from protenc_seq.alphabet import ESM_ALPHABET
        from protenc_seq.tokenize import SequenceTokenizer

        arrays = SequenceTokenizer(ESM_ALPHABET).encode([s for _, s in real_sequences[:3]])
        tokens = with_masks(PackedBatch.from_token_arrays(arrays).padded_tokens(1))
    mask = tokens.ne(1)
    with torch.no_grad():
        want = hf(tokens, attention_mask=mask.long(), output_hidden_states=True)
        got = ours(tokens, repr_layers=range(layers + 1))
    assert (want.logits - got.logits)[mask].abs().max() <= TOL
    assert len(want.hidden_states) == layers + 1
    for k, h in enumerate(want.hidden_states):
        assert (h - got.representations[k])[mask].abs().max() <= TOL, k


def test_layouts_agree(make_fair_esm, fair_esm_batch, real_sequences) -> None:
    """Packed (no padding, grouped attention), padded and one-by-one runs give the same real-token outputs."""
    fair = make_fair_esm(2, 64, 4, seed=11)
    ours = ours_from_fair(fair)
    arrays = [t[t.ne(1)] for t in fair_esm_batch(real_sequences)]
    with torch.no_grad():
        packed = PackedBatch.from_token_arrays(arrays)
        padded = PackedBatch.from_token_arrays(arrays, padded=True)
        a = packed.split(ours.forward_packed(packed).logits)
        b = padded.split(ours.forward_packed(padded).logits)
        c = [ours.forward_packed(PackedBatch.from_token_arrays([x])).logits for x in arrays]
    assert len(ours.attention_context(packed).groups) > 1  # the mixed lengths really were grouped
    for x, y, z in zip(a, b, c):
        assert (x - y).abs().max() <= TOL and (x - z).abs().max() <= TOL


def test_gradient_checkpointing_same_gradients(make_fair_esm, fair_esm_batch, real_sequences) -> None:
    fair = make_fair_esm(2, 64, 4, seed=2)
    grads = []
    for ckpt in (False, True):
        model = ours_from_fair(fair).train()
        model.gradient_checkpointing = ckpt
        packed = PackedBatch.from_token_arrays([t[t.ne(1)] for t in fair_esm_batch(real_sequences[:3])])
        model.forward_packed(packed).logits.square().mean().backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
    assert torch.allclose(grads[0], grads[1], atol=1e-6)


def test_inv_freq_survives_dtype_casts() -> None:
    model = ESM2(ESM2Config(num_layers=1, embed_dim=64, attention_heads=4))
    exact = model.rotary.inv_freq.half().float()
    model.rotary.inv_freq.copy_(exact)
    model = model.to(torch.bfloat16)
    assert model.rotary.inv_freq.dtype == torch.float32 and torch.equal(model.rotary.inv_freq, exact)
    assert model.embed_tokens.weight.dtype == torch.bfloat16


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_bf16_varlen_matches_sdpa(make_fair_esm, fair_esm_batch, real_sequences) -> None:
    fair = make_fair_esm(2, 128, 4, seed=1)
    ours = ours_from_fair(fair).cuda()
    arrays = [t[t.ne(1)] for t in fair_esm_batch(real_sequences)]
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
        ours.attention_backend = "sdpa"
        padded = PackedBatch.from_token_arrays(arrays, "cuda", padded=True)
        a = padded.split(ours.forward_packed(padded).hidden)
        ours.attention_backend = "auto"
        packed = PackedBatch.from_token_arrays(arrays, "cuda")
        b = packed.split(ours.forward_packed(packed).hidden)
    with torch.no_grad():
        want = fair.cuda()(fair_esm_batch(real_sequences).cuda(), repr_layers=[2])["representations"][2]
    for i, (x, y) in enumerate(zip(a, b)):
        assert (x.float() - y.float()).abs().max() < 0.05
        assert (y.float() - want[i, : len(y)]).abs().max() < 0.1  # bf16 vs fp32 reference
