"""protdata.seeding: the generators of a micro-batch depend only on (seed, index)."""

from __future__ import annotations

import random

import numpy as np
import torch

from protdata.seeding import micro_batch_seed, seed_micro_batch


def test_micro_batch_seeding_is_reproducible_and_seeds_every_generator() -> None:
    def draws(k: int) -> tuple:
        g = seed_micro_batch(5, k, torch.device("cpu"))
        return (
            torch.rand(3, generator=g).tolist(),
            torch.rand(2).tolist(),
            random.random(),
            float(np.random.rand()),
        )

    assert draws(3) == draws(3)
    first, second = draws(3), draws(4)
    assert all(a != b for a, b in zip(first, second, strict=True))


def test_seeds_are_63_bit_and_differ_by_seed_and_index() -> None:
    seeds = {micro_batch_seed(s, k) for s in range(4) for k in range(50)}
    assert len(seeds) == 200 and all(0 <= s < 2**63 for s in seeds)
