"""True-path propagation and DAG-consistent max-propagation on the real GO release, against a brute force over
ancestor sets, for a label vocabulary that is a subset of the ontology (paths leave the vocabulary)."""

from __future__ import annotations

import numpy as np
import pytest

from prottasks.errors import OntologyError
from prottasks.go import TermDag, propagate_labels, propagate_scores, propagate_terms


@pytest.fixture(scope="module")
def vocabulary(ontology) -> list[str]:
    rng = np.random.default_rng(0)
    bp = ontology.terms_in("biological_process")
    picked = list(rng.choice(bp, 250, replace=False))
    # add ancestors of a few picked terms, so that vocabulary terms do have vocabulary ancestors
    for t in picked[:40]:
        picked += sorted(ontology.ancestors(t))[:3]
    return list(dict.fromkeys(str(t) for t in picked))


def test_scores_match_brute_force(ontology, vocabulary):
    rng = np.random.default_rng(1)
    scores = rng.random((6, len(vocabulary)))
    got = propagate_scores(ontology, scores, vocabulary)
    anc = {t: ontology.ancestors(t) for t in vocabulary}
    expected = scores.copy()
    for a_col, a in enumerate(vocabulary):
        below = [d_col for d_col, d in enumerate(vocabulary) if a in anc[d]]
        if below:
            expected[:, a_col] = np.maximum(expected[:, a_col], scores[:, below].max(axis=1))
    np.testing.assert_array_equal(got, expected)
    assert (got != scores).any()  # the case is not trivial
    dag = TermDag(ontology, vocabulary)
    assert dag.is_consistent(got) and not dag.is_consistent(scores)


def test_labels_follow_the_true_path_rule(ontology, vocabulary):
    rng = np.random.default_rng(2)
    labels = rng.random((5, len(vocabulary))) < 0.02
    got = propagate_labels(ontology, labels, vocabulary)
    for i in range(5):
        closure = propagate_terms(ontology, [vocabulary[j] for j in np.flatnonzero(labels[i])])
        assert {vocabulary[j] for j in np.flatnonzero(got[i])} == closure & set(vocabulary)


def test_whole_namespace_closure(ontology):
    cc = ontology.terms_in("CCO")
    column = {t: i for i, t in enumerate(cc)}
    leaf = next(t for t in cc if not ontology.children[t] and len(ontology.ancestors(t)) > 5)
    labels = np.zeros((1, len(cc)), dtype=bool)
    labels[0, column[leaf]] = True
    got = {cc[j] for j in np.flatnonzero(propagate_labels(ontology, labels, cc)[0])}
    assert got == ontology.ancestors(leaf) | {leaf}
    assert "GO:0005575" in got  # cellular_component root


def test_bad_terms(ontology):
    with pytest.raises(OntologyError, match="not current GO terms: GO:0055114"):
        TermDag(ontology, ["GO:0008150", "GO:0055114"])
    with pytest.raises(OntologyError, match="appears twice"):
        TermDag(ontology, ["GO:0008150", "GO:0008150"])
    with pytest.raises(OntologyError, match="normalize it first"):
        propagate_terms(ontology, ["GO:0004710"])  # an alt id
    with pytest.raises(OntologyError, match=r"expected \(N, 2\)"):
        propagate_scores(ontology, np.zeros((2, 3)), ["GO:0008150", "GO:0009987"])


def test_go_propagation_over_a_model_label_set(ontology, vocabulary):
    """GoPropagation (apps/predict.py's): labels that are alternative ids score as their current term, a label the
    ontology does not know keeps its score; the rest = a brute force over descendant sets of the current terms."""
    from prottasks.go import GoPropagation

    bp = set(ontology.terms_in("biological_process"))
    alt, alt_term = next(
        (a, t) for a, t in sorted(ontology.alt_ids.items()) if t in bp and t not in vocabulary
    )
    labels = [*vocabulary[:120], alt, "GO:9999999"]
    rng = np.random.default_rng(3)
    scores = rng.random((4, len(labels)))
    propagation = GoPropagation(ontology, labels)
    got = propagation(scores)
    current = [alt_term if x == alt else (x if x in ontology else None) for x in labels]
    expected = scores.copy()
    for j, t in enumerate(current):
        if t is not None:
            below = [
                k for k, d in enumerate(current) if d is not None and (d == t or t in ontology.ancestors(d))
            ]
            expected[:, j] = scores[:, below].max(axis=1)
    np.testing.assert_array_equal(got, expected)
    assert (got != scores).any() and propagation.unresolved == ["GO:9999999"]
    assert propagation.name(alt) == ontology.name(alt_term) and propagation.name("GO:9999999") == ""
    names = propagation.names(labels)
    assert (
        names[alt] == ontology.name(alt_term) and "GO:9999999" not in names and len(names) == len(labels) - 1
    )
