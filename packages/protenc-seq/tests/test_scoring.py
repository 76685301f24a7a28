"""Masked-marginal mutation scores on the real BLAT_ECOLX deep mutational scan (random weights), checked against
direct per-mutant computations with fair-esm (ESM-2) and transformers (SaProt, 446 tokens)."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from protdata import saprot
from protenc_seq import (
    CheckpointError,
    ESM2Encoder,
    MutationError,
    SaProtEncoder,
    masked_marginals,
    score_mutants,
    wild_type_marginals,
)
from protenc_seq.alphabet import AMINO_ACIDS
from protenc_seq.loading.checkpoint import RawCheckpoint, build_model
from protenc_seq.loading.convert import fair_to_ours, hf_to_fair

pytestmark = pytest.mark.numerics

TOL = 1e-4


@pytest.fixture(scope="module")
def esm_pair(make_fair_esm):
    fair = make_fair_esm(2, 64, 4, seed=41)
    state, _ = fair_to_ours(fair.state_dict(), "fair")
    return fair, ESM2Encoder(build_model(RawCheckpoint(state=state, source="fair")))


def fair_direct(fair, alphabet, sequence: str, mutant: str, offset: int) -> float:
    """One fair-esm forward with every mutated site masked; Σ log p(mt) - log p(wt) (Meier et al. 2021)."""
    tokens = alphabet.get_batch_converter()([("wt", sequence)])[2]
    sites = [(m[0], int(m[1:-1]) - offset, m[-1]) for m in mutant.split(":")]
    for _, i, _ in sites:
        tokens[0, i + 1] = alphabet.mask_idx
    with torch.no_grad():
        logp = torch.log_softmax(fair(tokens)["logits"][0], -1)
    return sum(
        float(logp[i + 1, alphabet.get_idx(mt)] - logp[i + 1, alphabet.get_idx(wt)]) for wt, i, mt in sites
    )


def test_blat_dms_single_mutants(esm, esm_pair, blat) -> None:
    fair, enc = esm_pair
    sequence, mutants, offset = blat
    assert len(mutants) == 4996
    scores = score_mutants(enc, sequence, mutants, offset=offset)
    assert scores.shape == (4996,) and np.isfinite(scores).all() and scores.std() > 0
    assert np.array_equal(scores, score_mutants(enc, sequence, mutants, offset=offset))  # deterministic
    alphabet = esm.data.Alphabet.from_architecture("ESM-1b")
    for m in random.Random(1).sample(mutants, 25):
        assert abs(scores[mutants.index(m)] - fair_direct(fair, alphabet, sequence, m, offset)) <= TOL, m
    # one masked pass per position: the marginal table reproduces every single-mutant score
    table = masked_marginals(enc, sequence)
    for m, s in zip(mutants[:200], scores[:200]):
        i = int(m[1:-1]) - offset
        assert abs(table[i, AMINO_ACIDS.index(m[-1])] - table[i, AMINO_ACIDS.index(m[0])] - s) <= 1e-6


def test_multi_mutants(esm, esm_pair, blat) -> None:
    fair, enc = esm_pair
    sequence, mutants, offset = blat
    rng = random.Random(2)
    doubles = []
    while len(doubles) < 8:
        a, b = rng.sample(mutants, 2)
        if a[1:-1] != b[1:-1]:
            doubles.append(f"{a}:{b}")
    joint = score_mutants(enc, sequence, doubles, offset=offset)
    alphabet = esm.data.Alphabet.from_architecture("ESM-1b")
    for m, s in zip(doubles, joint):
        assert abs(s - fair_direct(fair, alphabet, sequence, m, offset)) <= TOL
    independent = score_mutants(enc, sequence, doubles, offset=offset, multi="independent")
    singles = score_mutants(enc, sequence, [p for m in doubles for p in m.split(":")], offset=offset)
    assert np.allclose(independent, singles[0::2] + singles[1::2], atol=1e-9)


def test_mutation_errors(esm_pair, blat) -> None:
    """A mismatched wild-type letter stops scoring (the parse itself: test_mutations.py)."""
    _, enc = esm_pair
    sequence, _, _ = blat
    with pytest.raises(
        MutationError,
        match=r"H24C expects H at position 24 but the wild type has L there \(numbering offset 1\)",
    ):
        score_mutants(enc, sequence, ["H24C"])  # offset forgotten: position 24 is a P


def test_saprot_scores_match_transformers(make_hf_mlm, blat) -> None:
    hf = make_hf_mlm(2, 64, 4, vocab_size=446, seed=43)
    fair_names, _ = hf_to_fair(hf.state_dict(), "hf")
    state, _ = fair_to_ours(fair_names, "hf")
    enc = SaProtEncoder(build_model(RawCheckpoint(state=state, source="hf")))
    sequence, mutants, offset = blat
    rng = random.Random(3)
    structure = "".join(rng.choice(saprot.STRUCT_VOCAB[:-1].upper()) for _ in sequence)  # 3Di-like letters
    sample = [*rng.sample(mutants, 12), "H24C:T27A"]
    for struct in (structure, None):
        scores = score_mutants(enc, sequence, sample, offset=offset, structure=struct)
        di = struct.lower() if struct else "#" * len(sequence)
        for m, s in zip(sample, scores):
            sites = [(x[0], int(x[1:-1]) - offset, x[-1]) for x in m.split(":")]
            sa = [a + d for a, d in zip(sequence, di)]
            for _, i, _ in sites:
                sa[i] = "#" + di[i]  # amino acid masked, 3Di kept
            ids = torch.from_numpy(saprot.encode("".join(sa)))[None]
            with torch.no_grad():
                probs = torch.softmax(hf(ids).logits[0].double(), -1)
            want = 0.0
            for wt, i, mt in sites:
                p = {
                    a: sum(float(probs[i + 1, saprot.token_id(a, c)]) for c in saprot.STRUCT_VOCAB)
                    for a in (wt, mt)
                }
                want += np.log(p[mt]) - np.log(p[wt])
            assert abs(s - want) <= TOL, (m, s, want)


def test_wild_type_marginals_match_fair_esm(esm, esm_pair, blat) -> None:
    """``method="wt_marginal"``: fair-esm predict.py ``wt-marginals`` (one unmasked pass, log-softmax at each site
    after ``<cls>``), summed over the sites of a multi-mutant."""
    fair, enc = esm_pair
    sequence, mutants, offset = blat
    alphabet = esm.data.Alphabet.from_architecture("ESM-1b")
    tokens = alphabet.get_batch_converter()([("wt", sequence)])[2]
    with torch.no_grad():
        logp = torch.log_softmax(fair(tokens)["logits"][0], -1).double()  # (L + 2, V)
    picked = [*random.Random(5).sample(mutants, 30), "H24C:A123G"]
    scores = score_mutants(enc, sequence, picked, offset=offset, method="wt_marginal")
    for m, got in zip(picked, scores):
        sites = [(p[0], int(p[1:-1]) - offset, p[-1]) for p in m.split(":")]
        want = sum(
            float(logp[i + 1, alphabet.get_idx(mt)] - logp[i + 1, alphabet.get_idx(wt)])
            for wt, i, mt in sites
        )
        assert abs(got - want) <= TOL, m
    table = wild_type_marginals(enc, sequence)
    assert table.shape == (len(sequence), 20) and table.dtype == np.float64
    aa = [alphabet.get_idx(a) for a in AMINO_ACIDS]
    assert np.allclose(table, logp[1:-1, aa].numpy(), atol=TOL)  # every site, every amino acid


def test_a_model_without_lm_head_is_a_checkpoint_error(esm_pair, blat) -> None:
    _, enc = esm_pair
    sequence, _, offset = blat
    enc.model.has_lm_head = False
    try:
        for method in ("masked_marginal", "wt_marginal"):
            with pytest.raises(CheckpointError, match="no LM head"):
                score_mutants(enc, sequence, ["H24C"], offset=offset, method=method)
    finally:
        enc.model.has_lm_head = True
