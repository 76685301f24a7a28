"""Contact prediction labels and precision: P@L, P@L/2, P@L/5 by sequence-separation range (SaProt ``Contact``
task; westlake-repl/SaProt ``model/saprot/saprot_contact_model.py``, ``dataset/saprot/saprot_contact_dataset.py``).

Labels (:func:`contact_labels`): a contact is a residue pair whose Cβ atoms (Cα for glycine) are closer than 8 Å
(:func:`contact_map`), the CASP definition (Monastyrskyy et al. 2014, "Evaluation of residue-residue contact
predictions in CASP10", Proteins) used by the ESM-1b paper (Rives et al. 2021, PNAS) and fair-esm's contact
evaluation; a residue without that atom is invalid. For a protein of length ``L``, the candidate pairs are
``i < j`` with ``|i − j|`` in the range — the CASP / ESM ranges short 6–11, medium 12–23, long ≥ 24, and all ≥ 6
(pairs closer in sequence are never scored, :func:`contact_pair_mask`) — and both residues valid; the
``k = ⌈L / fraction⌉`` most probable candidates are predicted and P@L/fraction is the fraction of them that are
contacts (:func:`contact_precisions`: every range × P@L, P@L/2, P@L/5). SaProt additionally caps ``k`` at the
number of true contacts in the range (``cap_at_positives=True``) and pools all proteins' top-k pairs into one
accuracy (``reduction="micro"``); the usual convention (ESM, TAPE) averages per-protein precisions (``"macro"``).
Ties in probability keep the row-major pair order.

A fine-tuning task's evaluation (:func:`protein_precision_counts` per protein, :func:`reduce_precision_counts`
over a split) keeps only each protein's ``(correct, predicted)`` counts, so a split of any size is scored in
constant memory; :data:`CONTACT_METRICS` names what it reports (long-range P@L/5 first: the selection metric).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Literal

import numpy as np

from protdata.constants import ATOM_CA, ATOM_CB
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


#: Minimum ``|i − j|`` of a scored pair (CASP, ESM).
MIN_SEPARATION = 6
#: The precisions :func:`contact_precisions` reports: range × fraction (P@L, P@L/2, P@L/5).
PRECISION_RANGES: tuple[str, ...] = ("short", "medium", "long")
PRECISION_FRACTIONS: tuple[int, ...] = (1, 2, 5)


def precision_key(seq_range: str, fraction: int) -> str:
    """``"long_P@L/5"``, ``"short_P@L"``: the name of a range's P@L/fraction."""
    return f"{seq_range}_P@L" + (f"/{fraction}" if fraction != 1 else "")


#: The metrics of a contact task, the selection metric first (long-range P@L/5, the headline number of ESM-1b /
#: ESM-2 and SaProt), then every range × fraction, then the pooled binary cross-entropy ``loss``.
CONTACT_METRICS: tuple[str, ...] = (
    *(precision_key(r, k) for r in ("long", "medium", "short") for k in (5, 2, 1)),
    "loss",
)


def contact_coords(coords: Any, sequence: str, atom_mask: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """The atom that defines contacts: Cβ, Cα for glycine.

    Args:
        coords: ``(L, 5, 3)`` N, CA, C, O, CB (``protdata.constants.ATOM_NAMES``; NaN where missing).
        sequence: ``L`` one-letter codes.
        atom_mask: ``(L, 5)`` bool, True where the atom is present (default: where ``coords`` is finite).

    Returns:
        ``(L, 3)`` float64 coordinates (NaN where invalid) and ``(L,)`` bool valid residues.
    """
    x = as_array(coords, "coords", ndim=3)
    length = x.shape[0]
    if x.shape[1:] != (5, 3):
        raise MetricInputError("coords", f"expected (L, 5, 3) N, CA, C, O, CB coordinates, got {x.shape}")
    if len(sequence) != length:
        raise MetricInputError("sequence", f"{len(sequence)} residues but coords has {length}")
    present = np.isfinite(x).all(-1)  # (L, 5)
    if atom_mask is not None:
        mask = as_array(atom_mask, "atom_mask", ndim=2, dtype=bool)
        if mask.shape != (length, 5):
            raise MetricInputError("atom_mask", f"expected ({length}, 5), got {mask.shape}")
        present &= mask
    gly = np.frombuffer(sequence.encode("ascii"), dtype=np.uint8) == ord("G")  # (L,)
    atom = np.where(gly, ATOM_CA, ATOM_CB)  # (L,)
    rows = np.arange(length)
    valid = present[rows, atom]
    out = np.where(valid[:, None], x[rows, atom], np.nan)  # (L, 3)
    return out, valid


def contact_labels(protein: Any, threshold: float = 8.0) -> tuple[np.ndarray, np.ndarray]:
    """``(L, L)`` bool contacts (Cβ, Cα for Gly, closer than ``threshold`` Å; False where a residue is invalid)
    and ``(L,)`` bool valid residues of a ``protdata.Protein`` with coordinates."""
    if getattr(protein, "coords", None) is None:
        raise MetricInputError(getattr(protein, "id", "protein"), "has no coordinates: no contact labels")
    try:
        x, valid = contact_coords(protein.coords, protein.sequence, protein.atom_mask)
    except MetricInputError as exc:
        raise MetricInputError(protein.id, str(exc)) from None
    contacts = contact_map(np.where(valid[:, None], x, 0.0), threshold) & valid[:, None] & valid[None, :]
    return contacts, valid


def contact_pair_mask(valid: Any, min_separation: int = MIN_SEPARATION) -> np.ndarray:
    """``(L, L)`` bool: the pairs a contact model is trained and scored on, both residues valid and
    ``|i − j| ≥ min_separation``."""
    ok = as_array(valid, "valid", ndim=1, dtype=bool)
    pos = np.arange(len(ok))
    return ok[:, None] & ok[None, :] & (np.abs(pos[:, None] - pos[None, :]) >= min_separation)


def sequence_separation_scores(length: int) -> np.ndarray:
    """``(L, L)`` scores of the sequence-separation baseline: ``−|i − j|`` (the nearest pairs in sequence are the
    most probable contacts in every range)."""
    pos = np.arange(length, dtype=np.float64)
    return -np.abs(pos[:, None] - pos[None, :])


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
    if ok.shape != (length,):
        raise MetricInputError("valid", f"expected ({length},), got {ok.shape}")
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


def _protein_counts(item: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[int, int]:
    if len(item) == 3:
        probs, contacts, valid = item
        return precision_at_l_counts(probs, contacts, valid=valid, **kwargs)
    if len(item) != 2:
        raise MetricInputError(
            "proteins", f"expected (probs, contacts[, valid]) items, got {len(item)} values"
        )
    return precision_at_l_counts(item[0], item[1], **kwargs)


def mean_precision_at_l(
    proteins: Iterable[tuple[Any, ...]], *, reduction: Literal["macro", "micro"] = "macro", **kwargs: Any
) -> float:
    """P@L/fraction over proteins ``(probs, contacts)`` or ``(probs, contacts, valid)``: mean of per-protein
    precisions (``"macro"``) or pooled correct / predicted (``"micro"``, SaProt); proteins without a candidate
    pair are skipped."""
    counts = [_protein_counts(tuple(item), kwargs) for item in proteins]
    counts = [(a, b) for a, b in counts if b > 0]
    if not counts:
        raise MetricInputError("proteins", "no protein has a candidate pair in this range")
    if reduction == "micro":
        return sum(a for a, _ in counts) / sum(b for _, b in counts)
    if reduction != "macro":
        raise MetricInputError("reduction", f"must be 'macro' or 'micro', not {reduction!r}")
    return float(np.mean([a / b for a, b in counts]))


def contact_precisions(
    proteins: Iterable[tuple[Any, ...]],
    *,
    ranges: Iterable[str] = PRECISION_RANGES,
    fractions: Iterable[int] = PRECISION_FRACTIONS,
    **kwargs: Any,
) -> dict[str, float]:
    """Every P@L/fraction by range over proteins ``(probs, contacts[, valid])``, keyed ``"long_P@L/5"``
    (``"short_P@L"`` for fraction 1); a range with no candidate pair in any protein gives NaN. Keyword
    arguments (``reduction``, ``cap_at_positives``) as :func:`mean_precision_at_l`."""
    items = [tuple(item) for item in proteins]
    out: dict[str, float] = {}
    for seq_range in ranges:
        for fraction in fractions:
            key = precision_key(seq_range, fraction)
            try:
                out[key] = mean_precision_at_l(items, seq_range=seq_range, fraction=fraction, **kwargs)
            except MetricInputError as exc:
                if "no protein has a candidate pair" not in str(exc):
                    raise
                out[key] = float("nan")
    return out


def protein_precision_counts(
    probs: Any, contacts: Any, valid: Any = None, *, cap_at_positives: bool = False
) -> dict[str, tuple[int, int]]:
    """``{"long_P@L/5": (correct, predicted), …}`` of one protein for every range × fraction
    (:func:`precision_at_l_counts`; arrays as there)."""
    return {
        precision_key(r, k): precision_at_l_counts(
            probs, contacts, fraction=k, seq_range=r, valid=valid, cap_at_positives=cap_at_positives
        )
        for r in PRECISION_RANGES
        for k in PRECISION_FRACTIONS
    }


def reduce_precision_counts(
    counts: Iterable[dict[str, tuple[int, int]]], *, reduction: Literal["macro", "micro"] = "macro"
) -> dict[str, float]:
    """Every P@L/fraction over proteins' :func:`protein_precision_counts`: the mean of per-protein precisions
    (``"macro"``, ESM / TAPE) or pooled correct / predicted (``"micro"``, SaProt); proteins without a candidate
    pair in a range are skipped there, and a range no protein has is NaN (as :func:`contact_precisions`)."""
    if reduction not in ("macro", "micro"):
        raise MetricInputError("reduction", f"must be 'macro' or 'micro', not {reduction!r}")
    items = list(counts)
    out: dict[str, float] = {}
    for r in PRECISION_RANGES:
        for k in PRECISION_FRACTIONS:
            key = precision_key(r, k)
            pairs = [c[key] for c in items if c[key][1] > 0]
            if not pairs:
                out[key] = float("nan")
            elif reduction == "micro":
                out[key] = sum(a for a, _ in pairs) / sum(b for _, b in pairs)
            else:
                out[key] = float(np.mean([a / b for a, b in pairs]))
    return out
