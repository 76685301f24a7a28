"""Size presets against the seed's ESM-2 table and fair-esm's own module shapes."""

from __future__ import annotations

import re

import pytest
import torch

from protdata.testing import find_shared_data
from protenc_seq import ESM2Config
from protenc_seq.loading.convert import fair_to_ours

ESM2_NAMES = [
    "esm2_t6_8M_UR50D",
    "esm2_t12_35M_UR50D",
    "esm2_t30_150M_UR50D",
    "esm2_t33_650M_UR50D",
    "esm2_t36_3B_UR50D",
    "esm2_t48_15B_UR50D",
]


def test_presets_match_seed_table() -> None:
    """``shared/seeds/003_*.txt`` (ESM2 Function Caller README): | facebook/<name> | dim | heads | layers | params |."""
    root = find_shared_data()
    seeds = sorted((root.parent / "seeds").glob("003_*.txt")) if root else []
    if not seeds:
        pytest.skip("shared/seeds/003_*.txt not found")
    rows = re.findall(
        r"\|\s*facebook/(esm2_\w+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|", seeds[0].read_text()
    )
    assert {r[0] for r in rows} == set(ESM2_NAMES)
    for name, dim, heads, layers in rows:
        c = ESM2Config.preset(name)
        assert (c.embed_dim, c.attention_heads, c.num_layers) == (int(dim), int(heads), int(layers))


@pytest.mark.parametrize("name", ESM2_NAMES)
def test_expected_shapes_equal_fair_esm(name, esm) -> None:
    """Every tensor of fair-esm's ``ESM2`` of that size (built on the meta device), renamed to ours."""
    c = ESM2Config.preset(name)
    with torch.device("meta"):
        fair = esm.model.esm2.ESM2(c.num_layers, c.embed_dim, c.attention_heads)
    state, unknown = fair_to_ours(fair.state_dict(), name)
    assert not unknown
    assert {k: tuple(v.shape) for k, v in state.items()} == c.expected_shapes()
    published = {"8M": 8e6, "35M": 35e6, "150M": 150e6, "650M": 650e6, "3B": 3e9, "15B": 15e9}
    size = published[name.split("_")[2]]
    assert 0.85 * size < c.num_parameters() < 1.15 * size


def test_config_errors_name_the_key() -> None:
    with pytest.raises(ValueError, match="num_layerz"):
        ESM2Config(num_layers=2, embed_dim=64, attention_heads=4, num_layerz=3)
    with pytest.raises(ValueError, match="not divisible"):
        ESM2Config(num_layers=2, embed_dim=65, attention_heads=4)
    with pytest.raises(KeyError, match="unknown preset"):
        ESM2Config.preset("esm3")
    assert ESM2Config.preset("SaProt_650M_AF2").vocab_size == 446
