"""Contact prediction precision: P@L, P@L/2, P@L/5 by sequence-separation range (SaProt ``Contact`` task;
westlake-repl/SaProt ``model/saprot/saprot_contact_model.py``, ``dataset/saprot/saprot_contact_dataset.py``).

A contact is a residue pair closer than 8 Å (:func:`contact_map`). For a protein of length ``L``, the candidate
pairs are ``i < j`` with ``|i − j|`` in the range — short 6–11, medium 12–23, long ≥ 24, all ≥ 6 — and both
residues valid; the ``k = ⌈L / fraction⌉`` most probable candidates are predicted and P@L/fraction is the fraction
of them that are contacts. SaProt additionally caps ``k`` at the number of true contacts in the range
(``cap_at_positives=True``) and pools all proteins' top-k pairs into one accuracy (``reduction="micro"``); the
usual convention (ESM, TAPE) averages per-protein precisions (``"macro"``). Ties in probability keep the
row-major pair order.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Literal

import numpy as np

from prottasks.errors import MetricInputError
from prottasks.metrics._inputs import as_array, binary_array, scores_array

Range = Literal["short", "medium", "long", "all"]
#: Inclusive ``|i − j|`` bounds of each range (``None``: unbounded).
RANGES: dict[str, tuple[int, int | None]] = {
    "short": (6, 11),
    "medium": (12, 23),
    "long": (24, None),
    "all": (6, None),
}


def contact_map(coords: Any, threshold: float = 8.0) -> np.ndarray:
    """``(L, L)`` bool: pairs whose coordinates (``(L, 3)``, e.g. Cα or Cβ) are closer than ``threshold`` Å."""
    x = scores_array(coords, "coords", ndim=2)
    if x.shape[1] != 3:
        raise MetricInputError("coords", f"expected (L, 3), got {x.shape}")
    d = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
    return d < threshold


def precision_at_l_counts(
    probs: Any,
    contacts: Any,
    *,
    fraction: int = 1,
    seq_range: Range = "long",
    valid: Any = None,
    cap_at_positives: bool = False,
) -> tuple[int, int]:
    """``(correct, predicted)`` among the top ``⌈L / fraction⌉`` candidate pairs of one protein (module docstring).

    Args:
        probs: ``(L, L)`` contact probabilities (only ``i < j`` is read).
        contacts: ``(L, L)`` true contacts (0/1).
        fraction: 1, 2 or 5 for P@L, P@L/2, P@L/5.
        seq_range: ``"short"``, ``"medium"``, ``"long"`` or ``"all"``.
        valid: ``(L,)`` residues with coordinates (default: all).
        cap_at_positives: SaProt's ``k = min(k, #true contacts in range)``.
    """
    p = scores_array(probs, "probs", ndim=2)
    c = binary_array(contacts, "contacts", ndim=2)
    length = p.shape[0]
    if p.shape != (length, length) or c.shape != p.shape:
        raise MetricInputError("probs/contacts", f"expected two (L, L) arrays, got {p.shape} and {c.shape}")
    if seq_range not in RANGES:
        raise MetricInputError("seq_range", f"must be one of {sorted(RANGES)}, not {seq_range!r}")
    if fraction < 1:
        raise MetricInputError("fraction", f"must be >= 1, got {fraction}")
    ok = np.ones(length, dtype=bool) if valid is None else as_array(valid, "valid", ndim=1, dtype=bool)
    lo, hi = RANGES[seq_range]
    i, j = np.triu_indices(length, k=1)
    sep = j - i
    keep = (sep >= lo) & ok[i] & ok[j]
    if hi is not None:
        keep &= sep <= hi
    i, j = i[keep], j[keep]
    truth = c[i, j]
    k = math.ceil(length / fraction)
    if cap_at_positives:
        k = min(k, int(truth.sum()))
    top = np.argsort(-p[i, j], kind="stable")[:k]
    return int(truth[top].sum()), len(top)


def precision_at_l(probs: Any, contacts: Any, **kwargs: Any) -> float:
    """P@L/fraction of one protein (NaN if it has no candidate pair); keyword arguments as
    :func:`precision_at_l_counts`."""
    correct, predicted = precision_at_l_counts(probs, contacts, **kwargs)
    return correct / predicted if predicted else float("nan")


def mean_precision_at_l(
    proteins: Iterable[tuple[Any, Any]], *, reduction: Literal["macro", "micro"] = "macro", **kwargs: Any
) -> float:
    """P@L/fraction over proteins ``(probs, contacts)``: mean of per-protein precisions (``"macro"``) or pooled
    correct / predicted (``"micro"``, SaProt); proteins without a candidate pair are skipped."""
    counts = [precision_at_l_counts(p, c, **kwargs) for p, c in proteins]
    counts = [(a, b) for a, b in counts if b > 0]
    if not counts:
        raise MetricInputError("proteins", "no protein has a candidate pair in this range")
    if reduction == "micro":
        return sum(a for a, _ in counts) / sum(b for _, b in counts)
    if reduction != "macro":
        raise MetricInputError("reduction", f"must be 'macro' or 'micro', not {reduction!r}")
    return float(np.mean([a / b for a, b in counts]))
