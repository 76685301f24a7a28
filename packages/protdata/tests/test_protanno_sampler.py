"""ProtCLIP's property-driven sampler: hard filter o ≥ 3 and e ≤ 3, keep probability √(o/4)/e³."""

from __future__ import annotations

import math

import numpy as np
import pytest

from protdata.errors import RecordError
from protdata.protanno import (
    PropertySampler,
    PropertySamplerConfig,
    ProtAnnoRecord,
    keep_probability,
    read_uniprot,
    sample_mask,
)
from protdata.testing import shared_data

CELLS = [(o, e) for o in range(1, 5) for e in range(1, 6)]


def _published(o: int, e: int) -> float:
    """The seed's formula, written out: 0 unless o >= 3 and e <= 3, else sqrt(o/4) / e^3."""
    return 0.0 if o < 3 or e > 3 else math.sqrt(o / 4) / e**3


def test_keep_probability_formula() -> None:
    for o, e in CELLS:
        assert keep_probability(o, e) == pytest.approx(_published(o, e), abs=0, rel=1e-12)
    with pytest.raises(ValueError, match=r"occupancy must be in 1\.\.4"):
        keep_probability(5, 1)


def test_empirical_keep_rate_per_cell() -> None:
    n = 20_000
    occupancy = np.repeat([o for o, _ in CELLS], n)
    existence = np.repeat([e for _, e in CELLS], n)
    keep = sample_mask(occupancy, existence, PropertySamplerConfig(seed=7))
    for i, (o, e) in enumerate(CELLS):
        kept = int(keep[i * n : (i + 1) * n].sum())
        p = _published(o, e)
        if p == 0.0:
            assert kept == 0, f"hard filter violated in cell o={o}, e={e}"
        else:
            sd = math.sqrt(n * p * (1 - p))
            assert abs(kept - n * p) <= 5 * sd, (
                f"cell o={o}, e={e}: kept {kept}, expected {n * p:.0f} ± {sd:.0f}"
            )


def test_seeded_and_reproducible() -> None:
    rng = np.random.default_rng(0)
    occupancy, existence = rng.integers(1, 5, 5000), rng.integers(1, 6, 5000)
    a = sample_mask(occupancy, existence, PropertySamplerConfig(seed=3))
    assert np.array_equal(a, sample_mask(occupancy, existence, PropertySamplerConfig(seed=3)))
    assert not np.array_equal(a, sample_mask(occupancy, existence, PropertySamplerConfig(seed=4)))


@pytest.fixture(scope="module")
def records() -> list[ProtAnnoRecord]:
    return [e.to_record() for e in read_uniprot(shared_data("function", "uniprot_swissprot_sample.dat"))]


def test_streaming_sampler_equals_vectorised(records: list[ProtAnnoRecord]) -> None:
    pool = records * 20  # 2,000 real records
    occupancy = np.array([r.occupancy for r in pool])
    existence = np.array([r.existence for r in pool])
    for seed in (0, 1, 2):
        sampler = PropertySampler(PropertySamplerConfig(seed=seed))
        kept = [sampler.keep(r) for r in pool]
        assert np.array_equal(kept, sample_mask(occupancy, existence, PropertySamplerConfig(seed=seed)))
        assert not any(k and (r.occupancy < 3 or r.existence > 3) for k, r in zip(kept, pool))
        assert sum(sampler.seen.values()) == len(pool) and sum(sampler.kept.values()) == sum(kept)
    streamed = list(PropertySampler(seed=5).sample(iter(pool)))
    mask = sample_mask(occupancy, existence, rng=np.random.default_rng(5))
    assert streamed == [r for r, k in zip(pool, mask) if k]


def test_sampler_needs_existence() -> None:
    record = ProtAnnoRecord(seq="MKV", text="PROTEIN NAME: x. FUNCTION: y. SIMILARITY: z.", id="Q1")
    with pytest.raises(RecordError, match="Q1: record has no protein-existence level"):
        PropertySampler().keep(record)
