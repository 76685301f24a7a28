"""The injection schedule: derived from the depths, equal to FusionProt's hard-coded rule wherever that rule works."""

from __future__ import annotations

import pytest

from protfusion import FusionError, injection_layers, injection_step


def seed_injections(num_sequence_layers: int, num_structure_layers: int) -> list[int]:
    """FusionProt's loop, literally: ``inject_step = n // S`` and a GearNet layer after every ESM layer index
    ``i > 0`` with ``i % inject_step == 0`` (its comment: "sequence_layers / structure_layers")."""
    inject_step = num_sequence_layers // num_structure_layers
    return [i for i in range(num_sequence_layers) if i > 0 and i % inject_step == 0]


def test_fusionprot_schedule_for_esm2_650m_and_gearnet():
    """33 ESM-2-650M layers and 6 GearNet layers: after ESM layers 5, 10, 15, 20, 25, 30 (0-based)."""
    assert seed_injections(33, 6) == [5, 10, 15, 20, 25, 30]
    assert injection_step(33, 6) == 5
    assert injection_layers(33, 6) == [5, 10, 15, 20, 25, 30]


def test_equals_the_seed_rule_wherever_it_schedules_every_structure_layer_once():
    compared = 0
    for n in range(2, 49):
        for s in range(1, n):
            seed = seed_injections(n, s)
            if len(seed) == s:
                assert injection_layers(n, s) == seed, (n, s)
                compared += 1
    assert compared > 250  # 277 depth pairs up to 48 layers


@pytest.mark.parametrize("n, s", [(30, 6), (11, 4), (12, 6), (36, 6), (48, 6), (6, 5), (2, 1)])
def test_always_exactly_one_injection_per_structure_layer(n, s):
    """Including the depth pairs where the seed's rule breaks (30/6 drops GearNet's last layer, 11/4 asks for a
    fifth)."""
    layers = injection_layers(n, s)
    assert len(layers) == s
    assert layers == sorted(set(layers))
    assert layers[0] > 0 and layers[-1] <= n - 1
    steps = {b - a for a, b in zip([0, *layers], layers)}
    assert len(steps) == 1  # evenly spaced


def test_seed_rule_breaks_where_ours_does_not():
    assert len(seed_injections(30, 6)) == 5  # GearNet's 6th layer would never run
    assert len(seed_injections(11, 4)) == 5  # a 5th GearNet layer that does not exist


def test_explicit_step_and_errors():
    assert injection_layers(33, 6, inject_every=4) == [4, 8, 12, 16, 20, 24]
    with pytest.raises(FusionError, match=r"inject_every=6 .* 33 layers"):
        injection_layers(33, 6, inject_every=6)  # 6 · 6 = 36 > 32
    with pytest.raises(FusionError, match="at most 5 structure layers"):
        injection_layers(6, 6)  # ESM-2-8M (6 layers) with GearNet's 6 layers
    with pytest.raises(FusionError, match="at least one layer"):
        injection_layers(6, 0)
    with pytest.raises(FusionError, match=">= 1"):
        injection_layers(33, 6, inject_every=0)
