"""Gaussian coordinate noise (SiamDiff NoiseTransform, σ = 0.3 Å) on real structures: statistics against
N(0, σ²) (SciPy's Kolmogorov–Smirnov test and chi-square bounds), present atoms only, deterministic."""

from __future__ import annotations

import numpy as np
import pytest

from protdata import Protein, load_chains
from protdata.errors import InvalidCoordinatesError
from protdata.testing import shared_data
from protdata.transforms import GaussianNoise


@pytest.fixture(scope="module")
def protein() -> Protein:
    (chain,) = load_chains(shared_data("structures", "experimental_mdanalysis_dssp", "1ahsA.pdb.gz"))
    assert not chain.atom_mask.all()  # glycines have no CB: missing atoms must stay missing
    return chain


def test_noise_statistics_match_sigma(protein: Protein) -> None:
    stats = pytest.importorskip(
        "scipy.stats", reason="scipy (a dev dependency of the workspace) gives the χ²/KS tests"
    )
    noise = GaussianNoise()
    assert noise.config.sigma == 0.3
    mask = protein.atom_mask
    deltas = np.concatenate(
        [
            (noise(protein, seed).coords[mask] - protein.coords[mask]).astype(np.float64).ravel()
            for seed in range(20)
        ]
    )  # (20 * present atoms * 3,)
    n = deltas.size
    assert n > 30_000
    assert abs(deltas.mean()) < 5 * 0.3 / np.sqrt(n)
    # sample variance: (n-1) s² / σ² ~ χ²(n-1)
    chi2 = (n - 1) * deltas.var(ddof=1) / 0.3**2
    assert stats.chi2.ppf(1e-6, n - 1) < chi2 < stats.chi2.ppf(1 - 1e-6, n - 1)
    # float32 storage rounds the noise by ~1e-5 Å; far below what the KS test can see
    assert stats.kstest(deltas / 0.3, "norm").pvalue > 1e-4


def test_missing_atoms_and_other_fields_untouched(protein: Protein) -> None:
    out = GaussianNoise(sigma=0.5)(protein, 0)
    np.testing.assert_array_equal(out.atom_mask, protein.atom_mask)
    assert np.isnan(out.coords[~protein.atom_mask]).all()
    assert np.isfinite(out.coords[protein.atom_mask]).all()
    assert (out.coords[protein.atom_mask] != protein.coords[protein.atom_mask]).all()
    assert out.sequence == protein.sequence
    np.testing.assert_array_equal(out.residue_number, protein.residue_number)
    np.testing.assert_array_equal(out.b_factor, protein.b_factor)
    assert out.coords.dtype == np.float32


def test_deterministic_and_seed_dependent(protein: Protein) -> None:
    before = protein.coords.copy()
    noise = GaussianNoise()
    a, b, c = noise(protein, 1), noise(protein, 1), noise(protein, 2)
    np.testing.assert_array_equal(a.coords, b.coords)
    assert not np.array_equal(a.coords[protein.atom_mask], c.coords[protein.atom_mask])
    np.testing.assert_array_equal(protein.coords, before)  # input not modified
    np.testing.assert_array_equal(GaussianNoise(sigma=0.0)(protein, 3).coords, protein.coords)
    seeded = [GaussianNoise(seed=4)(protein).coords for _ in range(2)]
    np.testing.assert_array_equal(seeded[0], seeded[1])


def test_sequence_only_protein_is_an_error() -> None:
    with pytest.raises(InvalidCoordinatesError, match="s1: noise needs coordinates"):
        GaussianNoise()(Protein.from_sequence("s1", "MKV"), 0)
