"""prottasks.go_similarity against independent truths: a handcrafted toy DAG with hand-computed IC / Resnik / Lin /
BMA values; a brute-force computation (naive ancestor walks of the independent OBO reader ``go_obo_text``, common
ancestors enumerated explicitly) on the real GO sub-DAG of the shared Swiss-Prot records; BMA against a direct
loop; Spearman against ``scipy.stats.spearmanr``; and ``apps/semantic_similarity.py`` end to end."""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from go_obo_text import OboText, read_obo_text, write_subset
from scipy.stats import spearmanr

from protdata.testing import shared_data
from prottasks.errors import LabelError, MetricInputError, OntologyError
from prottasks.go import Annotations, GeneOntology
from prottasks.go_similarity import (
    InformationContent,
    best_match_average,
    protein_similarity,
    read_annotations,
    read_embedding_file,
    semantic_similarity_spearman,
)

ROOT = Path(__file__).resolve().parents[3]

# ---------------------------------------------------------------------------------------------- toy DAG
#        R
#      /   \
#     A     B          C is_a A, C part_of B;  D is_a A;  E is_a C
#    / \   /
#   D   \ /
#        C
#        |
#        E
TOY = {"R": [], "A": ["is_a: R"], "B": ["is_a: R"], "C": ["is_a: A", "relationship: part_of B"],
       "D": ["is_a: A"], "E": ["is_a: C"]}  # fmt: skip
ID = {name: f"GO:000000{i + 1}" for i, name in enumerate(TOY)}
# annotations: 5 (protein, term) pairs -> counts E 1, C 2 (C, E), D 2, A 4, B 3 (B, C, E), R 5
TOY_ANNOTATIONS = {"P1": ["C", "D"], "P2": ["E"], "P3": ["B"], "P4": ["D", "D"]}


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> InformationContent:
    stanzas = []
    for name, lines in TOY.items():
        body = [line.replace(line.split()[-1], ID[line.split()[-1]]) for line in lines]
        stanzas.append(
            "\n".join(["[Term]", f"id: {ID[name]}", f"name: {name}", "namespace: biological_process", *body])
        )
    path = tmp_path_factory.mktemp("toy") / "toy.obo"
    path.write_text(
        "format-version: 1.2\n\n" + "\n\n".join(stanzas) + "\n\n[Typedef]\nid: part_of\nname: part of\n"
    )
    ontology = GeneOntology.from_obo(path)
    ann = Annotations({p: {"biological_process": [ID[t] for t in ts]} for p, ts in TOY_ANNOTATIONS.items()})
    return InformationContent(ontology, ann)


def test_toy_information_content_by_hand(toy: InformationContent) -> None:
    hand = {"R": 0.0, "A": math.log(5 / 4), "B": math.log(5 / 3), "C": math.log(5 / 2), "D": math.log(5 / 2),
            "E": math.log(5)}  # fmt: skip
    for name, value in hand.items():
        assert toy.ic(ID[name]) == pytest.approx(value, abs=1e-12), name
    assert toy.totals["biological_process"] == 5  # P4's duplicate D counts once


def test_toy_resnik_lin_and_bma_by_hand(toy: InformationContent) -> None:
    ln = math.log
    resnik = {("E", "D"): ln(5 / 4), ("C", "B"): ln(5 / 3), ("E", "C"): ln(5 / 2), ("E", "B"): ln(5 / 3),
              ("D", "B"): 0.0, ("E", "E"): ln(5), ("A", "B"): 0.0}  # fmt: skip
    lin = {("E", "D"): 2 * ln(5 / 4) / (ln(5) + ln(5 / 2)), ("C", "B"): 2 * ln(5 / 3) / (ln(5 / 2) + ln(5 / 3)),
           ("E", "C"): 2 * ln(5 / 2) / (ln(5) + ln(5 / 2)), ("D", "B"): 0.0, ("R", "R"): 1.0}  # fmt: skip
    for (a, b), value in resnik.items():
        assert toy.resnik(ID[a], ID[b]) == pytest.approx(value, abs=1e-12)
        assert toy.resnik(ID[b], ID[a]) == pytest.approx(value, abs=1e-12)
    for (a, b), value in lin.items():
        assert toy.lin(ID[a], ID[b]) == pytest.approx(value, abs=1e-12)
    # P1 {C, D} vs P2 {E}: rows C -> Lin(C, E), D -> Lin(D, E); column E -> max of the two = Lin(C, E)
    bma = (2 * lin["E", "C"] + lin["E", "D"]) / 3
    assert protein_similarity(toy, [ID["C"], ID["D"]], [ID["E"]], "lin") == pytest.approx(bma, abs=1e-12)
    names = list(TOY)
    for measure in ("lin", "resnik"):
        m = toy.matrix([ID[n] for n in names], measure)
        direct = getattr(toy, measure)
        for (i, a), (j, b) in itertools.product(enumerate(names), repeat=2):
            assert m[i, j] == pytest.approx(direct(ID[a], ID[b]), abs=1e-12)


def test_unannotated_term_and_unknown_id(toy: InformationContent) -> None:
    with pytest.raises(OntologyError, match="GO:0000009 is not a current GO term"):
        toy.ic("GO:0000009")
    ontology = toy.ontology
    empty = InformationContent(ontology, Annotations({"P": {"biological_process": [ID["D"]]}}))
    with pytest.raises(OntologyError, match="no annotation of the corpus"):
        empty.ic(ID["E"])


# -------------------------------------------------------------------------------- real GO sub-DAG
@pytest.fixture(scope="module")
def records_path() -> Path:
    return shared_data("function", "swissprot_records.jsonl")


@pytest.fixture(scope="module")
def go_text() -> OboText:
    return read_obo_text(shared_data("go", "go-basic_2021-12-15.obo"))


@pytest.fixture(scope="module")
def subset_obo(records_path: Path, go_text: OboText, tmp_path_factory) -> Path:
    """The real release cut to the records' terms and their ancestors (same IC: every ancestor is kept)."""
    terms = {
        t for line in records_path.read_text().splitlines() if line.strip() for t in json.loads(line)["go"]
    }
    return write_subset(go_text, terms, tmp_path_factory.mktemp("go") / "subset.obo")


@pytest.fixture(scope="module")
def real(records_path: Path, subset_obo: Path) -> tuple[GeneOntology, Annotations]:
    return GeneOntology.from_obo(subset_obo), read_annotations(records_path)


def brute_force(go_text: OboText, records_path: Path):
    """IC, Resnik and Lin from first principles: ids resolved by go_obo_text, ancestors by its naive walk,
    annotations of t or its descendants enumerated per term, common ancestors enumerated explicitly."""
    corpus: dict[str, set[str]] = {}
    for line in records_path.read_text().splitlines():
        record = json.loads(line)
        corpus.setdefault(record["accession"], set()).update(
            c for t in record["go"] if (c := go_text.current(t)) is not None
        )
    up = {t: {t} | go_text.ancestors(t) for ts in corpus.values() for t in ts}
    nodes = set().union(*up.values())
    annotations = [(p, t) for p, ts in corpus.items() for t in ts]
    total = {
        ns: sum(go_text.namespace[t] == ns for _, t in annotations) for ns in set(go_text.namespace.values())
    }
    ic = {}
    for node in nodes:
        count = sum(1 for _, t in annotations if node in up[t])  # t is node or a descendant of node
        ic[node] = -math.log(count / total[go_text.namespace[node]])

    def resnik(a: str, b: str) -> float:
        common = [c for c in up[a] if c in up[b]]
        return max((ic[c] for c in common), default=0.0)

    def lin(a: str, b: str) -> float:
        return 1.0 if a == b else 2 * resnik(a, b) / (ic[a] + ic[b]) if ic[a] + ic[b] > 0 else 0.0

    return corpus, ic, resnik, lin


def test_ic_resnik_lin_match_brute_force_on_real_go(real, go_text: OboText, records_path: Path) -> None:
    ontology, annotations = real
    corpus, ic, resnik, lin = brute_force(go_text, records_path)
    normalized, _ = annotations.normalized(ontology)
    assert {p: {t for ts in by.values() for t in ts} for p, by in normalized.terms.items() if by} == {
        p: ts for p, ts in corpus.items() if ts
    }
    info = InformationContent(ontology, normalized)
    for node, value in ic.items():
        assert info.ic(node) == pytest.approx(value, abs=1e-12), node
    for ns in ("molecular_function", "cellular_component"):
        terms = sorted({t for ts in corpus.values() for t in ts if go_text.namespace[t] == ns})
        assert len(terms) > 50
        m_resnik, m_lin = info.matrix(terms, "resnik"), info.matrix(terms, "lin")
        for i, j in itertools.combinations_with_replacement(range(len(terms)), 2):
            a, b = terms[i], terms[j]
            assert m_resnik[i, j] == pytest.approx(resnik(a, b), abs=1e-12)
            assert m_lin[i, j] == pytest.approx(lin(a, b), abs=1e-12)
            assert m_lin[j, i] == m_lin[i, j]
    a, b = terms[0], terms[-1]
    assert info.resnik(a, b) == pytest.approx(resnik(a, b)) and info.lin(a, b) == pytest.approx(lin(a, b))


def test_bma_matches_a_direct_loop() -> None:
    rng = np.random.default_rng(0)
    for shape in ((1, 1), (3, 5), (7, 2)):
        s = rng.random(shape)
        rows = [max(s[i, j] for j in range(shape[1])) for i in range(shape[0])]
        cols = [max(s[i, j] for i in range(shape[0])) for j in range(shape[1])]
        assert best_match_average(s) == pytest.approx(
            (sum(rows) + sum(cols)) / (len(rows) + len(cols)), abs=1e-12
        )
    with pytest.raises(MetricInputError):
        best_match_average(np.zeros((0, 3)))


def test_spearman_matches_scipy_and_a_direct_pair_loop(real) -> None:
    ontology, annotations = real
    normalized, _ = annotations.normalized(ontology)
    info = InformationContent(ontology, normalized)
    rng = np.random.default_rng(1)
    embeddings = {p: rng.normal(size=8) for p in list(annotations.terms)[:40]}
    report = semantic_similarity_spearman(embeddings, annotations, ontology, aspects=["MFO"])
    assert [(r.namespace, r.measure) for r in report.results] == [
        ("molecular_function", "lin"), ("molecular_function", "resnik")
    ]  # fmt: skip
    proteins = [p for p in embeddings if normalized.terms.get(p, {}).get("molecular_function")]
    for r in report.results:
        assert r.pair_ids == list(itertools.combinations(proteins, 2)) and r.pairs == len(r.pair_ids)
        cos, sem = [], []
        for a, b in r.pair_ids:
            x, y = embeddings[a], embeddings[b]
            cos.append(x @ y / np.linalg.norm(x) / np.linalg.norm(y))
            ta, tb = normalized.terms[a]["molecular_function"], normalized.terms[b]["molecular_function"]
            s = getattr(info, r.measure)
            best = [max(s(u, v) for v in tb) for u in ta] + [max(s(u, v) for u in ta) for v in tb]
            sem.append(sum(best) / len(best))
        np.testing.assert_allclose(r.cosine, cos, atol=1e-12)
        np.testing.assert_allclose(r.semantic, sem, atol=1e-12)
        assert r.spearman == pytest.approx(spearmanr(cos, sem).statistic, abs=1e-12)
    # a random sample of pairs: distinct, among all pairs, reproducible with the seed
    sample = semantic_similarity_spearman(
        embeddings, annotations, ontology, aspects=["MFO"], n_pairs=50, seed=3
    )
    again = semantic_similarity_spearman(
        embeddings, annotations, ontology, aspects=["MFO"], n_pairs=50, seed=3
    )
    pairs = sample.results[0].pair_ids
    assert (
        len(set(pairs)) == 50
        and set(pairs) <= set(report.results[0].pair_ids)
        and pairs == again.results[0].pair_ids
    )
    given = semantic_similarity_spearman(embeddings, annotations, ontology, aspects=["MFO"], pairs=pairs[:10])
    assert given.results[0].pair_ids == pairs[:10]


def test_bad_inputs(tmp_path: Path, real) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"accession": "P1", "go": ["GO:0005515"], "go_aspects": ["F"]}\n{"accession": "P2"}\n')
    with pytest.raises(LabelError, match="line 2"):
        read_annotations(bad)
    with pytest.raises(MetricInputError, match="not an embedding file"):
        read_embedding_file(tmp_path / "missing.safetensors")
    ontology, annotations = real
    p, q = list(annotations.terms)[:2]
    report = semantic_similarity_spearman(
        {p: [0.0, 0.0], q: [1.0, np.nan]}, annotations, ontology, aspects=["CCO"]
    )
    assert report.bad_embeddings == {p: "zero vector", q: "non-finite values"}
    assert report.results[0].pairs == 0 and math.isnan(report.results[0].spearman)


# ------------------------------------------------------------------------------------------ the app
def run_app(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "apps" / "semantic_similarity.py"), *args],
        capture_output=True, text=True, cwd=ROOT, check=False, timeout=300,
    )  # fmt: skip


def table_rows(stdout: str) -> dict[tuple[str, str], float]:
    rows = [line.split() for line in stdout.splitlines()[1:] if line.split()[0] in ("MFO", "BPO", "CCO")]
    return {(r[0], r[1]): float(r[2]) for r in rows}


def test_app_end_to_end_on_shared_records(tmp_path: Path, records_path: Path, subset_obo: Path, real) -> None:
    import torch

    from protdata import Protein
    from protdata.embedding_io import write_embeddings
    from protdata.encoding import Embedded
    from protdata.errors import SequenceError

    ontology, annotations = real
    normalized, _ = annotations.normalized(ontology)
    closed = normalized.propagated(ontology)
    records = [json.loads(line) for line in records_path.read_text().splitlines()]
    proteins = []
    for r in records:  # apps/embed.py skips sequences with letters outside its alphabet: so do we
        with contextlib.suppress(SequenceError):
            proteins.append(Protein.from_sequence(r["accession"], r["sequence"]))
    assert len(proteins) > 100
    vocab = sorted({t for by in closed.terms.values() for ts in by.values() for t in ts})
    column = {t: j for j, t in enumerate(vocab)}
    torch.manual_seed(0)
    random_rows, go_rows = [], []
    for i, p in enumerate(proteins):
        indicator = torch.zeros(len(vocab))  # (V,) the protein's GO terms and their ancestors
        indicator[[column[t] for ts in closed.terms.get(p.id, {}).values() for t in ts]] = 1.0
        random_rows.append((p, Embedded(i, torch.randn(32), None)))
        go_rows.append((p, Embedded(i, indicator, None)))
    random_file = write_embeddings(tmp_path / "random.safetensors", random_rows, {"encoder": "random"})
    go_file = write_embeddings(tmp_path / "go.parquet", go_rows, {"encoder": "go-indicator"}, "parquet")
    common = ["-a", str(records_path), "--obo", str(subset_obo)]

    result = run_app("-e", str(random_file), *common, "-o", str(tmp_path / "random.json"))
    assert result.returncode == 0, result.stderr
    rows = table_rows(result.stdout)
    assert len(rows) == 6 and all(math.isfinite(v) and abs(v) < 0.2 for v in rows.values()), result.stdout
    saved = json.loads((tmp_path / "random.json").read_text())
    assert {(r["aspect"], r["measure"]): r["spearman"] for r in saved["results"]} == pytest.approx(
        rows, abs=1e-4
    )

    result = run_app("-e", str(go_file), *common)
    assert result.returncode == 0, result.stderr
    rows = table_rows(result.stdout)
    assert len(rows) == 6 and all(v > 0.3 for v in rows.values()), result.stdout

    # the records hold obsolete ids without a single replacement: --strict refuses them
    result = run_app("-e", str(go_file), *common, "--strict", 'aspects=["CCO"]')
    assert result.returncode == 2 and result.stderr.startswith("error: strict:"), result.stderr
