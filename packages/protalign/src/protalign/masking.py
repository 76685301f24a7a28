"""The two protein maskings of ProtCLIP (diaoshaoyou/ProtCLIP, ``protclip/utils.py``).

* :func:`bernoulli_mask` — protein MLM (``torch_mask_tokens``): every residue is hidden independently with
  probability 0.15 (the seed's 100 % ``<mask>``, no 80/10/10). A protein may get no masked residue.
* :func:`fragment_mask` — text-to-protein fragment MLM (``torch_mask_fragments``): spans of ``ℓ`` residues,
  ``ℓ`` uniform in ``[⌊r/2⌋, r]`` (``r = protein_mask_range``, 10 in ``pretrain.py``; ``r = ⌊L/2⌋`` when
  ``L < 1.5 r``), each starting at a uniformly drawn residue not yet hidden, are hidden until at least 15 % of
  the protein is. Spans may overlap earlier ones past their start.

Differences from the seed, which works on padded ESM token rows: coverage is measured on the protein's own
residues (the seed counts BOS/EOS and padding positions, so short proteins in a batch with long ones get few or
no real residues masked); a seed span covers ``ℓ + 1`` tokens (``start : start + ℓ + 1``), here exactly ``ℓ``;
the seed re-assigns ``r ← ℓ`` after each draw, so its spans shrink over a batch — ``shrink_range=True``
reproduces that for one protein. Starts are drawn among the not-yet-hidden positions directly, which is the
distribution of the seed's rejection loop.
"""

from __future__ import annotations

import numpy as np


def bernoulli_mask(n: int, probability: float, rng: np.random.Generator) -> np.ndarray:
    """``(n,)`` bool: each position hidden independently with ``probability``."""
    if not 0.0 <= probability <= 1.0:
        raise ValueError(f"mask probability must be in [0, 1], got {probability}")
    return rng.random(n) < probability


def fragment_spans(
    length: int,
    rng: np.random.Generator,
    *,
    mask_range: int = 10,
    coverage: float = 0.15,
    shrink_range: bool = False,
) -> list[tuple[int, int]]:
    """The ``(start, end)`` half-open spans drawn for a protein of ``length`` residues, in drawing order."""
    if length <= 0:
        raise ValueError(f"cannot mask fragments of an empty protein (length {length})")
    if mask_range < 1:
        raise ValueError(f"mask_range must be >= 1, got {mask_range}")
    if not 0.0 < coverage <= 1.0:
        raise ValueError(f"coverage must be in (0, 1], got {coverage}")
    r = mask_range if length >= 1.5 * mask_range else max(length // 2, 1)
    covered = np.zeros(length, dtype=bool)
    spans: list[tuple[int, int]] = []
    while covered.sum() < coverage * length:
        span = max(int(rng.integers(r // 2, r, endpoint=True)), 1)
        if shrink_range:
            r = span
        free = np.flatnonzero(~covered[: length - span + 1])
        if free.size == 0:  # every possible start is hidden already: the target cannot be reached with spans
            break
        start = int(free[rng.integers(free.size)])
        covered[start : start + span] = True
        spans.append((start, start + span))
    return spans


def fragment_mask(
    length: int,
    rng: np.random.Generator,
    *,
    mask_range: int = 10,
    coverage: float = 0.15,
    shrink_range: bool = False,
) -> np.ndarray:
    """``(length,)`` bool: the union of :func:`fragment_spans`."""
    mask = np.zeros(length, dtype=bool)
    for start, end in fragment_spans(
        length, rng, mask_range=mask_range, coverage=coverage, shrink_range=shrink_range
    ):
        mask[start:end] = True
    return mask
