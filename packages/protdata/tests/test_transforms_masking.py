"""Residue masking (TorchDrug AttributeMasking, mask_rate 0.15): ⌊rate·n⌋ ≥ 1 positions, with replacement as
TorchDrug or without; the mask flags residues and the sequence keeps the true letters."""

from __future__ import annotations

import math
from collections import Counter
from fractions import Fraction

import numpy as np
import pytest

from protdata import Protein, load_chains
from protdata.errors import SequenceError
from protdata.fasta import read_fasta
from protdata.testing import shared_data
from protdata.transforms import ResidueMasking


@pytest.fixture(scope="module")
def proteins() -> list[Protein]:
    return read_fasta(shared_data("function", "cafa_like_sequences.fasta"))


def _expected_count(rate: str, n: int) -> int:
    """⌊rate · n⌋ in exact decimal arithmetic, at least 1."""
    return max(math.floor(Fraction(rate) * n), 1)


@pytest.mark.parametrize("rate", ["0.15", "0.1", "0.3", "0.5"])
def test_without_replacement_masks_exactly_floor_rate_n(proteins: list[Protein], rate: str) -> None:
    masking = ResidueMasking(rate=float(rate), with_replacement=False)
    lengths = set()
    short = [proteins[0].select(slice(0, m)) for m in range(1, 12)]  # rate * n < 1 for the shortest
    for i, protein in enumerate([*proteins, *short]):
        out = masking(protein, i)
        assert int(out.residue_masked.sum()) == _expected_count(rate, len(protein))
        assert out.sequence == protein.sequence  # the labels stay
        lengths.add(len(protein))
    assert min(lengths) == 1 and max(lengths) > 1000
    for n in range(1, 200):
        assert masking.num_samples(n) == _expected_count(rate, n)


def test_with_replacement_follows_torchdrug(proteins: list[Protein]) -> None:
    masking = ResidueMasking()  # rate 0.15, with replacement
    protein = max(proteins, key=len)
    n = len(protein)
    k = _expected_count("0.15", n)
    rng = np.random.default_rng(0)
    distinct = []
    hits = Counter()
    for _ in range(2000):
        positions = masking.positions(n, rng)
        assert len(positions) == k and positions.min() >= 0 and positions.max() < n
        distinct.append(len(set(positions.tolist())))
        hits.update(positions.tolist())
    # E[#distinct] of k uniform draws with replacement from n
    expected = n * (1 - (1 - 1 / n) ** k)
    assert abs(np.mean(distinct) - expected) < 0.05 * k
    assert min(distinct) < k  # repeats do happen
    counts = np.array([hits[i] for i in range(n)])
    stats = pytest.importorskip(
        "scipy.stats", reason="scipy (a dev dependency of the workspace) gives the χ² test"
    )
    assert stats.chisquare(counts).pvalue > 1e-4  # uniform over positions
    out = masking(protein, 1)
    assert int(out.residue_masked.sum()) == len(set(masking.positions(n, np.random.default_rng(1)).tolist()))


def test_mask_is_ored_and_fields_kept() -> None:
    (chain,) = load_chains(shared_data("structures", "experimental_mdanalysis_dssp", "1ahsA.pdb.gz"))
    first = ResidueMasking(rate=0.2, with_replacement=False)(chain, 0)
    second = ResidueMasking(rate=0.2, with_replacement=False)(first, 1)
    assert (second.residue_masked >= first.residue_masked).all()
    fresh = ResidueMasking(rate=0.2, with_replacement=False)(chain, 1)
    np.testing.assert_array_equal(second.residue_masked, first.residue_masked | fresh.residue_masked)
    np.testing.assert_array_equal(second.coords, chain.coords)
    assert second.sequence == chain.sequence and chain.residue_masked is None


def test_deterministic_and_errors(proteins: list[Protein]) -> None:
    masking = ResidueMasking()
    protein = proteins[0]
    a, b, c = (masking(protein, s).residue_masked for s in (5, 5, 6))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    with pytest.raises(SequenceError, match="empty: cannot mask an empty protein"):
        masking(Protein.from_sequence("empty", ""), 0)
    with pytest.raises(ValueError, match="greater than 0"):
        ResidueMasking(rate=0.0)
