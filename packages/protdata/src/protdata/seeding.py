"""Seeds per micro-batch: every random choice of a training step (masks, crops, noise, dropout) depends only on
the run's seed and the micro-batch's global index (:class:`protdata.loading.MicroBatch`), not on the number of
processes, the gradient accumulation, DataLoader workers or a resume -- so a resumed run repeats an uninterrupted
one step for step, and ``W`` processes give the losses of one process accumulating ``W`` micro-batches.
"""

from __future__ import annotations

import random

import numpy as np
import torch


def micro_batch_seed(seed: int, k: int) -> int:
    """A 63-bit seed for micro-batch ``k`` of a run seeded ``seed``."""
    a, b = np.random.SeedSequence([seed, k]).generate_state(2, dtype=np.uint32)
    return ((int(a) << 32) | int(b)) & ((1 << 63) - 1)


def seed_micro_batch(seed: int, k: int, device: torch.device) -> torch.Generator:
    """Seed Python's, NumPy's and torch's global generators for micro-batch ``k`` of a run seeded ``seed``, and
    return a fresh ``torch.Generator`` on ``device`` for the model (seeded from the same pair)."""
    s = micro_batch_seed(seed, k)
    random.seed(s)
    np.random.seed(s % (1 << 32))
    torch.manual_seed(s)
    generator = torch.Generator(device=device)
    generator.manual_seed(s ^ 0x2545F4914F6CDD1D)
    return generator
