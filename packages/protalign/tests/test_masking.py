"""The two ProtCLIP maskings: Bernoulli residue masking (15 %) and fragment span masking (torch_mask_fragments):
span lengths in [⌊r/2⌋, r], starts on not-yet-hidden residues, stop as soon as ≥ 15 % is hidden."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from protalign.masking import bernoulli_mask, fragment_mask, fragment_spans


def test_bernoulli_rate_and_edges() -> None:
    rng = np.random.default_rng(0)
    mask = bernoulli_mask(200_000, 0.15, rng)
    assert mask.dtype == bool and abs(mask.mean() - 0.15) < 0.003  # 4σ ≈ 0.0032
    assert not bernoulli_mask(100, 0.0, rng).any() and bernoulli_mask(100, 1.0, rng).all()
    with pytest.raises(ValueError, match="probability"):
        bernoulli_mask(10, 1.5, rng)


@pytest.mark.parametrize("length", [1, 2, 5, 9, 14, 15, 16, 37, 300, 1022])
def test_fragment_span_rules(length: int) -> None:
    r = 10 if length >= 15 else max(length // 2, 1)
    for seed in range(30):
        spans = fragment_spans(length, np.random.default_rng(seed), mask_range=10, coverage=0.15)
        covered = np.zeros(length, dtype=bool)
        for k, (start, end) in enumerate(spans):
            assert 0 <= start < end <= length
            assert max(r // 2, 1) <= end - start <= r, (length, spans)
            assert not covered[start], "a span starts on a residue that is already hidden"
            assert covered.sum() < 0.15 * length, "drew a span after the target was reached"
            covered[start:end] = True
            if k == len(spans) - 1:
                assert covered.sum() >= 0.15 * length
        assert np.array_equal(
            fragment_mask(length, np.random.default_rng(seed), mask_range=10, coverage=0.15), covered
        )


def test_span_length_is_uniform_on_the_range() -> None:
    lengths = []
    for seed in range(400):
        lengths += [e - s for s, e in fragment_spans(1000, np.random.default_rng(seed), mask_range=10)]
    freq = np.bincount(lengths, minlength=11)[5:] / len(lengths)
    assert len(lengths) > 5000
    np.testing.assert_allclose(freq, np.full(6, 1 / 6), atol=0.02)


def test_first_start_is_uniform() -> None:
    starts = [fragment_spans(60, np.random.default_rng(s), mask_range=10)[0] for s in range(4000)]
    rel = np.array([s / (60 - (e - s)) for s, e in starts])  # start / max start ~ U{0..1}
    assert abs(rel.mean() - 0.5) < 0.02 and rel.min() == 0.0 and rel.max() == 1.0


def test_shrinking_range_as_the_seed() -> None:
    spans = fragment_spans(2000, np.random.default_rng(1), mask_range=40, shrink_range=True)
    lengths = [e - s for s, e in spans]
    for before, after in itertools.pairwise(lengths):
        assert max(before // 2, 1) <= after <= before
    assert lengths[-1] < 40  # collapses towards 1, as the seed's reassigned range does


def test_errors() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="empty protein"):
        fragment_spans(0, rng)
    with pytest.raises(ValueError, match="mask_range"):
        fragment_spans(10, rng, mask_range=0)
    with pytest.raises(ValueError, match="coverage"):
        fragment_spans(10, rng, coverage=0.0)
