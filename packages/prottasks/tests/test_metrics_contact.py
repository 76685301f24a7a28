"""P@L, P@L/2, P@L/5 by range on a real structure (contacts from Cα < 8 Å), against a direct loop over pairs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from prottasks.errors import MetricInputError
from prottasks.metrics import contact_map, mean_precision_at_l, precision_at_l, precision_at_l_counts

pytestmark = pytest.mark.numerics

RANGES = {"short": (6, 11), "medium": (12, 23), "long": (24, 10**9), "all": (6, 10**9)}


def loop_precision(probs, contacts, fraction, seq_range, cap=False):
    length = len(probs)
    lo, hi = RANGES[seq_range]
    pairs = [(probs[i, j], i, j) for i in range(length) for j in range(i + 1, length) if lo <= j - i <= hi]
    pairs.sort(key=lambda p: -p[0])  # stable: row-major order among ties
    k = math.ceil(length / fraction)
    if cap:
        k = min(k, sum(bool(contacts[i, j]) for _, i, j in pairs))
    top = pairs[:k]
    return sum(bool(contacts[i, j]) for _, i, j in top), len(top)


def test_contact_map_matches_distances(globins):
    ca = globins[0].ca.astype(np.float64)
    cm = contact_map(ca)
    d = np.array([[np.linalg.norm(a - b) for b in ca] for a in ca])
    assert np.array_equal(cm, d < 8.0)


@pytest.mark.parametrize("seq_range", ["short", "medium", "long", "all"])
@pytest.mark.parametrize("fraction", [1, 2, 5])
def test_precision_matches_loop(globins, seq_range, fraction):
    ca = globins[1].ca.astype(np.float64)
    contacts = contact_map(ca)
    rng = np.random.default_rng(fraction)
    probs = np.round(np.clip(contacts + rng.normal(scale=0.6, size=contacts.shape), 0, 1), 2)  # noisy, ties
    for cap in (False, True):
        got = precision_at_l_counts(
            probs, contacts, fraction=fraction, seq_range=seq_range, cap_at_positives=cap
        )
        assert got == loop_precision(probs, contacts, fraction, seq_range, cap)


def test_perfect_predictor_and_pooling(globins):
    items = []
    for p in globins[:3]:
        contacts = contact_map(p.ca)
        items.append((contacts.astype(float), contacts))
    # a perfect predictor reaches P = 1 whenever the range has at least k contacts (SaProt's cap makes it 1)
    assert mean_precision_at_l(items, seq_range="all", fraction=5) == 1.0
    assert mean_precision_at_l(items, seq_range="long", cap_at_positives=True, reduction="micro") == 1.0
    c = [precision_at_l_counts(pr, ct, seq_range="long") for pr, ct in items]
    assert mean_precision_at_l(items, seq_range="long", reduction="micro") == pytest.approx(
        sum(a for a, _ in c) / sum(b for _, b in c)
    )
    assert mean_precision_at_l(items, seq_range="long") == pytest.approx(np.mean([a / b for a, b in c]))


def test_bad_input(globins):
    contacts = contact_map(globins[0].ca)
    with pytest.raises(MetricInputError, match="seq_range"):
        precision_at_l(contacts.astype(float), contacts, seq_range="far")
    with pytest.raises(MetricInputError, match=r"\(L, L\)"):
        precision_at_l(np.zeros((3, 4)), np.zeros((3, 4)))


@pytest.mark.parametrize("reduction", ["macro", "micro"])
def test_split_counts_reduce_like_a_loop(globins, reduction):
    """Per-protein counts (what a fine-tuning evaluation keeps) reduce to the mean / pooled precision of the loop."""
    from prottasks.metrics import CONTACT_METRICS, protein_precision_counts, reduce_precision_counts

    rng = np.random.default_rng(3)
    proteins = []
    for p in globins:
        ca = p.ca.astype(np.float64)
        probs = rng.random((len(ca), len(ca)))
        proteins.append((probs + probs.T, contact_map(ca)))
    got = reduce_precision_counts([protein_precision_counts(s, c) for s, c in proteins], reduction=reduction)
    assert set(got) | {"loss"} == set(CONTACT_METRICS) and CONTACT_METRICS[0] == "long_P@L/5"
    for key, value in got.items():
        seq_range, _, rest = key.partition("_P@L")
        fraction = int(rest[1:]) if rest else 1
        counts = [loop_precision(s, c, fraction, seq_range) for s, c in proteins]
        if reduction == "macro":
            want = np.mean([a / b for a, b in counts])
        else:
            want = sum(a for a, _ in counts) / sum(b for _, b in counts)
        assert value == pytest.approx(want, abs=1e-12), key
    with pytest.raises(MetricInputError, match="reduction"):
        reduce_precision_counts([], reduction="mean")  # type: ignore[arg-type]
    assert all(math.isnan(v) for v in reduce_precision_counts([]).values())
