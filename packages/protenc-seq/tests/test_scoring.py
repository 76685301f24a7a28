"""Masked-marginal mutation scores on the real BLAT_ECOLX deep mutational scan (random weights), checked against
direct per-mutant computations with fair-esm (ESM-2) and transformers (SaProt, 446 tokens)."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from protdata import saprot
from protenc_seq import (
    ESM2Encoder,
    MutationError,
    SaProtEncoder,
    masked_marginals,
    parse_mutant,
    score_mutants,
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
    _, enc = esm_pair
    sequence, _, offset = blat
    with pytest.raises(
        MutationError, match=r"mutant 'H24C:E25G': E25G expects E at position 25 but the wild type has P"
    ):
        parse_mutant("H24C:E25G", sequence, offset)
    with pytest.raises(
        MutationError,
        match=r"H24C expects H at position 24 but the wild type has L there \(numbering offset 1\)",
    ):
        score_mutants(enc, sequence, ["H24C"])  # offset forgotten: position 24 is a P
    with pytest.raises(MutationError, match=r"position 400 is outside the sequence \(residues 24\.\.286"):
        parse_mutant("A400G", sequence, offset)
    with pytest.raises(MutationError, match="not of the form A42G"):
        parse_mutant("H24", sequence, offset)
    with pytest.raises(MutationError, match="same position twice"):
        parse_mutant("H24C:H24G", sequence, offset)
    with pytest.raises(MutationError, match="mutant residue 'B'"):
        parse_mutant("H24B", sequence, offset)


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
