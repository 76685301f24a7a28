"""Compose and build transforms from configs (the ESM-GearNet presets), one seed for the whole pipeline."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from protdata import Protein, load_chains
from protdata.testing import shared_data
from protdata.transforms import (
    Compose,
    GaussianNoise,
    Identity,
    ResidueMasking,
    SubsequenceCropConfig,
    TruncateProtein,
    build_transform,
)


@pytest.fixture(scope="module")
def protein() -> Protein:
    (chain,) = load_chains(
        shared_data("structures", "alphafold_db", "chainsaw__AF-A0A1W2PQ64-F1-model_v4.pdb")
    )
    return chain


SIAMDIFF = {  # ESM-GearNet siamdiff_esm_gearnet.yaml dataset transforms
    "type": "compose",
    "transforms": [
        {"type": "truncate", "max_length": 150, "random": True},
        {"type": "gaussian_noise", "sigma": 0.3},
    ],
}


def test_compose_equals_sequential_application(protein: Protein) -> None:
    pipeline = build_transform(SIAMDIFF)
    assert isinstance(pipeline, Compose) and len(pipeline.transforms) == 2
    out = pipeline(protein, 42)
    g = np.random.default_rng(42)
    manual = GaussianNoise(sigma=0.3)(TruncateProtein(max_length=150, random=True)(protein, g), g)
    np.testing.assert_array_equal(out.coords, manual.coords)
    np.testing.assert_array_equal(out.residue_number, manual.residue_number)
    assert len(out) == 150
    again = build_transform(SIAMDIFF)(protein, 42)
    np.testing.assert_array_equal(again.coords, out.coords)
    other = build_transform(SIAMDIFF)(protein, 43)
    assert not np.array_equal(other.residue_number, out.residue_number) or not np.array_equal(
        other.coords, out.coords
    )


def test_nested_compose_is_flattened(protein: Protein) -> None:
    inner = Compose([TruncateProtein(max_length=80), None, Identity()])
    outer = Compose([inner, ResidueMasking(with_replacement=False)], seed=3)
    assert [type(t).__name__ for t in outer.transforms] == ["TruncateProtein", "Identity", "ResidueMasking"]
    out = outer(protein)
    assert len(out) == 80 and int(out.residue_masked.sum()) == 12  # ⌊0.15 · 80⌋


def test_configs_are_strict_and_carry_seed_defaults() -> None:
    assert SubsequenceCropConfig().max_length == 50
    crop = build_transform({"type": "subspace_crop"})
    assert (crop.config.min_neighbor, crop.config.min_radius) == (15, 15.0)
    assert build_transform({"type": "residue_masking"}).config.rate == 0.15
    with pytest.raises(ValidationError, match=r"truncate\.max_len\n  Extra inputs are not permitted"):
        build_transform({"type": "truncate", "max_len": 100})
    with pytest.raises(ValidationError, match=r"gaussian_noise\.sigma\n  Input should be a valid number"):
        build_transform({"type": "gaussian_noise", "sigma": "large"})
    with pytest.raises(ValidationError, match="does not match any of the expected tags"):
        build_transform({"type": "rotate"})
    with pytest.raises(TypeError, match="not both"):
        TruncateProtein(SubsequenceCropConfig(), max_length=3)  # type: ignore[arg-type]


def test_inference_transform_keeps_only_the_deterministic_truncation(protein: Protein) -> None:
    from protdata.transforms import (
        ComposeConfig,
        GaussianNoiseConfig,
        TruncateProteinConfig,
        inference_transform,
    )

    assert inference_transform(TruncateProteinConfig(max_length=550)) == TruncateProteinConfig(max_length=550)
    random = TruncateProteinConfig(max_length=100, random=True)
    assert inference_transform(random) == TruncateProteinConfig(max_length=100)
    mixed = ComposeConfig(
        transforms=[GaussianNoiseConfig(), ComposeConfig(transforms=[TruncateProteinConfig(max_length=300)])]
    )
    assert inference_transform(mixed) == TruncateProteinConfig(max_length=300)
    assert inference_transform(SubsequenceCropConfig()) is None and inference_transform(None) is None
    # what it keeps is the prefix, whatever the seed
    kept = build_transform(inference_transform(random))
    assert {kept(protein, seed).sequence for seed in range(4)} == {protein.sequence[:100]}
