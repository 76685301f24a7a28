"""CAFA-style annotation files (the shared ``cafa_like_terms.tsv``; malformed copies) and prediction files."""

from __future__ import annotations

import pytest

from protdata.testing import shared_data
from prottasks.errors import LabelError
from prottasks.go import read_cafa_terms, write_predictions


def test_read_real_file_and_normalize(ontology):
    path = shared_data("function", "cafa_like_terms.tsv")
    rows = [line.split("\t") for line in path.read_text().splitlines()[1:]]
    ann = read_cafa_terms(path)
    assert set(ann.terms) == {r[0] for r in rows}
    assert sum(len(ts) for by in ann.terms.values() for ts in by.values()) == len(
        {(r[0], r[1]) for r in rows}
    )
    normalized, report = ann.normalized(ontology)
    assert report.mapped["GO:0004710"] == "GO:0004709"  # alt id
    assert report.mapped["GO:0030569"] == "GO:0004867"  # obsolete, replaced_by
    unresolved = {r.query for r in report.unresolved}
    assert "GO:0055114" in unresolved and "GO:0004710" not in unresolved  # obsolete without replacement
    for by_ns in normalized.terms.values():
        for ns, terms in by_ns.items():
            assert all(ontology.namespace(t) == ns for t in terms)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("id\tterm\taspect\nP1\tGO:0008150\tBPO\n", "header"),
        ("EntryID\tterm\taspect\nP1\tGO:0008150\n", "line 2"),
        ("EntryID\tterm\taspect\nP1\tGO:0008150\tBPO\nP2\tGO:0008150\tXYZ\n", "line 3.*unknown GO aspect"),
    ],
)
def test_malformed_files(tmp_path, text, match):
    path = tmp_path / "terms.tsv"
    path.write_text(text)
    with pytest.raises(LabelError, match=match):
        read_cafa_terms(path)


def test_prediction_round_trip(tmp_path):
    path = tmp_path / "pred.tsv"
    scores = {"P1": {"GO:0008150": 0.1 + 0.2, "GO:0003674": 1.0}}
    assert write_predictions(path, scores) == 2
    read = {(p, t): float(s) for p, t, s in (line.split() for line in path.read_text().splitlines())}
    assert read == {("P1", "GO:0008150"): 0.1 + 0.2, ("P1", "GO:0003674"): 1.0}
    with pytest.raises(LabelError, match="outside"):
        write_predictions(path, {"P1": {"GO:0008150": 1.5}})


def test_propagated_adds_ancestors_of_the_same_namespace(ontology, go_obo):
    """True-path closure against the independent plain-text OBO reader: each protein's own terms first, then the
    sorted ancestors (is_a + part_of) of the same namespace."""
    from go_obo_text import read_obo_text

    text = read_obo_text(go_obo)
    normalized, _ = read_cafa_terms(shared_data("function", "cafa_like_terms.tsv")).normalized(ontology)
    closed = normalized.propagated(ontology)
    assert list(closed.terms) == list(normalized.terms)
    grown = 0
    for protein, by_ns in normalized.terms.items():
        assert set(closed.terms[protein]) == set(by_ns)
        for ns, terms in by_ns.items():
            ancestors = set().union(*(text.ancestors(t) for t in terms))
            added = sorted(t for t in ancestors - set(terms) if text.namespace[t] == ns)
            assert closed.terms[protein][ns] == [*terms, *added]
            grown += len(added)
    assert grown > 100  # the closure adds many terms: the check is not vacuous
