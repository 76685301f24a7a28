"""The GO reader and id resolution: a hand-written OBO file whose answers are known, and the real 2021 release
checked against a plain-text scan of its stanzas."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from prottasks.errors import OntologyError
from prottasks.go import GeneOntology, namespace_of_aspect

TINY_OBO = """format-version: 1.2
data-version: test/1

[Term]
id: GO:0000001
name: root process
namespace: biological_process

[Term]
id: GO:0000002
name: child
namespace: biological_process
is_a: GO:0000001 ! root process
relationship: regulates GO:0000004 ! other

[Term]
id: GO:0000003
name: grandchild
namespace: biological_process
alt_id: GO:0000010
is_a: GO:0000002 ! child
relationship: part_of GO:0000004 ! other

[Term]
id: GO:0000004
name: other
namespace: biological_process
is_a: GO:0000001 ! root process

[Term]
id: GO:0000020
name: obsolete replaced
namespace: biological_process
is_obsolete: true
replaced_by: GO:0000003

[Term]
id: GO:0000021
name: obsolete consider
namespace: biological_process
is_obsolete: true
consider: GO:0000002

[Term]
id: GO:0000022
name: obsolete chain
namespace: biological_process
alt_id: GO:0000012
is_obsolete: true
replaced_by: GO:0000020

[Term]
id: GO:0000023
name: obsolete two replacements
namespace: biological_process
is_obsolete: true
replaced_by: GO:0000002
replaced_by: GO:0000004

[Term]
id: GO:0000031
name: root function
namespace: molecular_function

[Term]
id: GO:0000030
name: function
namespace: molecular_function
is_a: GO:0000031 ! root function
is_a: GO:0000001 ! a cross-namespace edge, dropped
"""


@pytest.fixture()
def tiny(tmp_path: Path) -> GeneOntology:
    path = tmp_path / "tiny.obo"
    path.write_text(TINY_OBO)
    return GeneOntology.from_obo(path)


def test_terms_and_parents(tiny):
    assert tiny.terms == ("GO:0000001", "GO:0000002", "GO:0000003", "GO:0000004", "GO:0000031", "GO:0000030")
    assert set(tiny.parents["GO:0000003"]) == {"GO:0000002", "GO:0000004"}  # is_a + part_of
    assert tiny.parents["GO:0000002"] == ("GO:0000001",)  # regulates is not a parent
    assert tiny.parents["GO:0000030"] == ("GO:0000031",)  # cross-namespace edge dropped
    assert tiny.ancestors("GO:0000003") == {"GO:0000001", "GO:0000002", "GO:0000004"}
    assert tiny.descendants("GO:0000001") == {"GO:0000002", "GO:0000003", "GO:0000004"}
    assert tiny.name("GO:0000003") == "grandchild" and tiny.namespace("GO:0000030") == "molecular_function"
    assert tiny.terms_in("MFO") == ["GO:0000031", "GO:0000030"]
    assert tiny.data_version == "test/1"


@pytest.mark.parametrize(
    ("query", "term", "status"),
    [
        ("GO:0000003", "GO:0000003", "current"),
        ("GO:0000010", "GO:0000003", "alt_id"),
        ("GO:0000020", "GO:0000003", "replaced_by"),
        ("GO:0000022", "GO:0000003", "replaced_by"),  # replaced_by chain
        ("GO:0000012", "GO:0000003", "replaced_by"),  # alt id of an obsolete term
        ("GO:0000021", None, "obsolete"),
        ("GO:0000023", None, "ambiguous"),
        ("GO:9999999", None, "unknown"),
        ("go:3", None, "malformed"),
    ],
)
def test_resolution(tiny, query, term, status):
    r = tiny.resolve(query)
    assert (r.term, r.status) == (term, status)


def test_without_replaced_by_obsolete_terms_are_dropped(tiny):
    assert tiny.resolve("GO:0000020", follow_replaced_by=False).status == "obsolete"
    assert tiny.resolve("GO:0000010", follow_replaced_by=False).term == "GO:0000003"


def test_normalize_reports_what_it_cannot_map(tiny):
    terms, report = tiny.normalize(["GO:0000010", "GO:0000003", "GO:0000021", "GO:0000020", "GO:1234567"])
    assert terms == ["GO:0000003"]
    assert report.mapped == {"GO:0000010": "GO:0000003", "GO:0000020": "GO:0000003"}
    assert [(r.query, r.status) for r in report.unresolved] == [
        ("GO:0000021", "obsolete"),
        ("GO:1234567", "unknown"),
    ]
    assert "consider GO:0000002" in report.summary()
    with pytest.raises(OntologyError, match=r"GO:0000021 is not a current GO term \(obsolete"):
        tiny.ancestors("GO:0000021")


def test_bad_files_and_aspects(tmp_path):
    empty = tmp_path / "empty.obo"
    empty.write_text("format-version: 1.2\n")
    with pytest.raises(OntologyError, match="no GO term"):
        GeneOntology.from_obo(empty)
    with pytest.raises(OntologyError, match="cannot read"):
        GeneOntology.from_obo(tmp_path / "missing.obo")
    assert namespace_of_aspect("CCO") == namespace_of_aspect("C") == "cellular_component"
    with pytest.raises(OntologyError, match="unknown GO aspect"):
        namespace_of_aspect("XYZ")


def _scan(path: Path) -> dict[str, dict[str, list[str]]]:
    """Plain-text read of every [Term] stanza: {id: {tag: [values]}}."""
    out: dict[str, dict[str, list[str]]] = {}
    for stanza in path.read_text().split("\n\n"):
        lines = stanza.strip().splitlines()
        if not lines or lines[0] != "[Term]":
            continue
        tags: dict[str, list[str]] = {}
        for line in lines[1:]:
            key, _, value = line.partition(": ")
            tags.setdefault(key, []).append(re.sub(r"\s*!.*$", "", value).strip())
        out[tags["id"][0]] = tags
    return out


def test_real_release_against_text_scan(ontology, go_obo):
    scan = _scan(go_obo)
    current = {t for t, tags in scan.items() if tags.get("is_obsolete") != ["true"]}
    assert set(ontology.terms) == current and len(current) == 43789
    for ns in ("biological_process", "molecular_function", "cellular_component"):
        assert len(ontology.terms_in(ns)) == sum(scan[t]["namespace"] == [ns] for t in current)
    alt = {a: t for t, tags in scan.items() for a in tags.get("alt_id", [])}
    assert ontology.alt_ids == alt
    sample = sorted(current)[::97]
    for t in sample:
        parents = set(scan[t].get("is_a", []))
        parents |= {v.split()[1] for v in scan[t].get("relationship", []) if v.startswith("part_of ")}
        assert set(ontology.parents[t]) == parents
        assert ontology.name(t) == scan[t]["name"][0]
    # GO:0004710 (an alt id in the CAFA-like file) and an obsolete term with replaced_by
    assert ontology.resolve("GO:0004710").term == alt["GO:0004710"]
    assert ontology.resolve("GO:0030569").term == scan["GO:0030569"]["replaced_by"][0]
