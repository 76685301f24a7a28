"""Fmax: against a brute-force loop over thresholds, against the CAFA evaluator ``cafaeval`` on the shared GO data
(real ontology, real annotations, noisy predictions; per namespace to 1e-6, whole curves included), and the
documented differences to TorchDrug's ``f1_max`` (ties, proteins without labels)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from protdata.testing import shared_data
from prottasks.errors import MetricInputError
from prottasks.go import TermDag, propagate_terms, read_cafa_terms, write_predictions
from prottasks.metrics import CAFA_THRESHOLDS, fmax, fmax_curve


def brute_fmax(scores: np.ndarray, labels: np.ndarray, thresholds) -> float:
    """The CAFA definition, one threshold at a time (rows without labels excluded)."""
    keep = labels.sum(1) > 0
    s, y = scores[keep], labels[keep].astype(bool)
    best = 0.0
    for t in thresholds:
        pred = s >= t
        covered = pred.any(1)
        if not covered.any():
            continue
        tp = (pred & y).sum(1)
        precision = np.mean(tp[covered] / pred[covered].sum(1))
        recall = np.mean(tp / y.sum(1))
        if precision + recall > 0:
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def torchdrug_semantics(scores: np.ndarray, labels: np.ndarray) -> float:
    """A loop with TorchDrug ``f1_max``'s counting (read from ``torchdrug/metrics/metric.py``): one global
    descending order of all entries (stable for ties), F after *every* entry, all rows in the recall
    denominator, ``+1e-10`` in the F denominator."""
    n, c = scores.shape
    order = np.argsort(-scores.ravel(), kind="stable")
    pred = np.zeros((n, c), dtype=bool)
    y = labels.astype(bool)
    best = 0.0
    for flat in order:
        pred.flat[flat] = True
        covered = pred.any(1)
        tp = (pred & y).sum(1)
        precision = np.mean(tp[covered] / pred[covered].sum(1))
        recall = np.sum(tp / (y.sum(1) + 1e-10)) / n
        best = max(best, 2 * precision * recall / (precision + recall + 1e-10))
    return best


@pytest.mark.numerics
@pytest.mark.parametrize("seed", range(5))
def test_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    scores = np.round(rng.random((25, 15)), 1 + seed % 2)  # many ties
    labels = rng.random((25, 15)) < 0.25
    labels[np.arange(1, 25), rng.integers(0, 15, 24)] = True
    labels[0] = False  # one protein without labels: excluded
    with pytest.warns(UserWarning, match="1 rows without a positive label"):
        assert fmax(scores, labels) == pytest.approx(brute_fmax(scores, labels, np.unique(scores)), abs=1e-12)
    with pytest.warns(UserWarning):
        got = fmax(scores, labels, CAFA_THRESHOLDS)
    assert got == pytest.approx(brute_fmax(scores, labels, CAFA_THRESHOLDS), abs=1e-12)


@pytest.mark.numerics
def test_every_distinct_score_is_the_supremum():
    rng = np.random.default_rng(7)
    scores, labels = rng.random((30, 20)), rng.random((30, 20)) < 0.3
    labels[:, 0] = True
    grid = np.linspace(0, 1, 2001)
    assert fmax(scores, labels) >= fmax(scores, labels, grid) - 1e-12


@pytest.mark.numerics
def test_agrees_with_torchdrug_without_ties_and_empty_rows():
    rng = np.random.default_rng(3)
    scores, labels = rng.random((12, 9)), rng.random((12, 9)) < 0.3
    labels[:, 0] = True
    assert fmax(scores, labels) == pytest.approx(torchdrug_semantics(scores, labels), abs=1e-9)


@pytest.mark.numerics
def test_differs_from_torchdrug_on_ties():
    """Two terms tied at 0.5, one correct: the only threshold predicts both (F = 2/3); TorchDrug's per-entry
    evaluation reports F = 1 after the first of the two tied entries — a cut-off no threshold produces."""
    scores, labels = np.array([[0.5, 0.5]]), np.array([[1, 0]])
    assert fmax(scores, labels) == pytest.approx(2 / 3)
    assert torchdrug_semantics(scores, labels) == pytest.approx(1.0, abs=1e-9)


@pytest.mark.numerics
def test_differs_from_torchdrug_on_proteins_without_labels():
    rng = np.random.default_rng(4)
    scores, labels = rng.random((20, 10)), rng.random((20, 10)) < 0.3
    labels[:, 0] = True
    labels[:5] = False  # five proteins without a term of this branch
    with pytest.warns(UserWarning):
        cafa = fmax(scores, labels)
    counted = fmax_curve(scores, labels, empty_rows="include").fmax
    assert counted == pytest.approx(torchdrug_semantics(scores, labels), abs=1e-9)
    assert cafa == pytest.approx(brute_fmax(scores, labels, np.unique(scores)))
    assert cafa > counted + 0.05
    with pytest.raises(MetricInputError, match="row 0 has no positive label"):
        fmax_curve(scores, labels, empty_rows="error")


def test_bad_input():
    with pytest.raises(MetricInputError, match="shapes differ"):
        fmax(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(MetricInputError, match="non-finite"):
        fmax(np.array([[np.nan, 0.1]]), np.array([[1, 0]]))
    with pytest.raises(MetricInputError, match="0/1"):
        fmax(np.array([[0.2, 0.1]]), np.array([[2, 0]]))
    with pytest.raises(MetricInputError, match="no protein"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fmax(np.array([[0.2, 0.1]]), np.array([[0, 0]]))


# ------------------------------------------------------------------------------- CAFA parity
NAMESPACES = ("biological_process", "molecular_function", "cellular_component")


@pytest.fixture(scope="module")
def cafa_case(ontology, go_obo, tmp_path_factory):
    """Noisy predictions for the shared CAFA-like annotations, evaluated once by ``cafaeval``."""
    evaluation = pytest.importorskip(
        "cafaeval.evaluation", reason="cafaeval (dev dependency) is the reference"
    )
    gt_file = shared_data("function", "cafa_like_terms.tsv")
    truth, _ = read_cafa_terms(gt_file).normalized(ontology, follow_replaced_by=False)  # cafaeval's rules
    rng = np.random.default_rng(0)
    alt_of = {}
    for alt, term in ontology.alt_ids.items():
        alt_of.setdefault(term, alt)
    by_ns = {ns: ontology.terms_in(ns) for ns in NAMESPACES}
    predictions: dict[str, dict[str, float]] = {}
    for protein, terms in truth.terms.items():
        scores: dict[str, float] = {}
        for ns, ts in terms.items():
            for t in sorted(propagate_terms(ontology, ts)):  # sorted: independent of PYTHONHASHSEED
                if rng.random() < 0.75:
                    name = (
                        alt_of[t] if t in alt_of and rng.random() < 0.3 else t
                    )  # alt ids are mapped by both
                    scores[name] = round(float(np.clip(rng.normal(0.5, 0.25), 0.0, 1.0)), 2)
            for t in rng.choice(by_ns[ns], 40):
                scores[str(t)] = max(scores.get(str(t), 0.0), round(float(rng.random() * 0.9), 2))
        scores["GO:0055114"] = 0.9  # obsolete: ignored by both
        predictions[protein] = scores
    folder = tmp_path_factory.mktemp("cafa")
    (folder / "pred").mkdir()
    write_predictions(folder / "pred" / "noisy.tsv", predictions)
    df, best = evaluation.cafa_eval(str(go_obo), str(folder / "pred"), str(gt_file), n_cpu=1)
    return truth, predictions, df, best


def _matrices(ontology, truth, predictions, ns):
    terms = ontology.terms_in(ns)
    column = {t: i for i, t in enumerate(terms)}
    proteins = truth.proteins(ns)
    labels = np.zeros((len(proteins), len(terms)), dtype=bool)
    scores = np.zeros((len(proteins), len(terms)))
    for i, p in enumerate(proteins):
        labels[i, [column[t] for t in truth.terms[p][ns]]] = True
        for t, s in predictions[p].items():
            r = ontology.resolve(t, follow_replaced_by=False)
            if r.term in column:
                scores[i, column[r.term]] = max(scores[i, column[r.term]], s)
    dag = TermDag(ontology, terms)
    return dag.propagate_scores(scores), dag.propagate_labels(labels)


@pytest.mark.slow  # NumPy float64 on both sides: not in the numerics (AVX2-capped torch) rerun
@pytest.mark.parametrize("ns", NAMESPACES)
def test_fmax_equals_cafaeval(ontology, cafa_case, ns):
    truth, predictions, df, best = cafa_case
    scores, labels = _matrices(ontology, truth, predictions, ns)
    ours = fmax_curve(scores, labels, CAFA_THRESHOLDS)
    row = best["f"].xs(ns, level="ns")
    assert ours.fmax == pytest.approx(float(row["f"].iloc[0]), abs=1e-6)
    # Several thresholds can reach the same maximum F; cafaeval's must be one of ours.
    tau = float(row.index.get_level_values("tau")[0])
    k = int(np.argmin(np.abs(ours.thresholds - tau)))
    assert ours.thresholds[k] == pytest.approx(tau) and ours.f_curve[k] == pytest.approx(ours.fmax, abs=1e-6)
    assert 0.3 < ours.fmax < 0.95 and ours.precision < 1.0  # a non-trivial case
    curve = df.xs(ns, level="ns").reset_index()  # cafaeval drops thresholds without coverage
    at = {round(t, 2): k for k, t in enumerate(ours.thresholds)}
    for tau, pr, rc, cov in zip(curve["tau"], curve["pr"], curve["rc"], curve["cov"]):
        k = at[round(tau, 2)]
        assert ours.precision_curve[k] == pytest.approx(pr, abs=1e-6)
        assert ours.recall_curve[k] == pytest.approx(rc, abs=1e-6)
        assert ours.coverage_curve[k] == pytest.approx(cov, abs=1e-9)
