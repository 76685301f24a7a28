"""prottasks.data.tables / sources: the label sources, each read back against an independent parse of the real
files (the csv module, a plain-text OBO reader), and bad input as one-line errors naming file and line."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from go_obo_text import read_obo_text, write_subset

from protdata.testing import shared_data
from prottasks.data import (
    CafaTermsLabels,
    NrpdbECLabels,
    NrpdbGOLabels,
    TableLabels,
    read_labels,
    read_nrpdb_go_annotations,
)
from prottasks.errors import LabelError

ASPECT_NS = {"MFO": "molecular_function", "BPO": "biological_process", "CCO": "cellular_component"}


@pytest.fixture(scope="module")
def obo_text():
    return read_obo_text(shared_data("go", "go-basic_2021-12-15.obo"))


@pytest.fixture(scope="module")
def cafa_rows() -> list[list[str]]:
    with shared_data("function", "cafa_like_terms.tsv").open() as f:
        return list(csv.reader(f, delimiter="\t"))[1:]


@pytest.fixture(scope="module")
def small_obo(obo_text, cafa_rows, tmp_path_factory) -> Path:
    """The real GO release cut down to the terms of the CAFA-like file and their ancestors (loads in milliseconds)."""
    return write_subset(obo_text, {r[1] for r in cafa_rows}, tmp_path_factory.mktemp("go") / "go-subset.obo")


# ------------------------------------------------------------------------------------------------ nrPDB-EC
def test_nrpdb_ec_equals_the_deepfri_files() -> None:
    folder = shared_data("ec_go_benchmark", "deepfri")
    table = read_labels(NrpdbECLabels(folder=str(folder)))
    with (folder / "nrPDB-EC_2020.04_annot.tsv").open() as f:
        rows = list(csv.reader(f, delimiter="\t"))
    assert rows[0] == ["### EC-numbers"] and table.labels == rows[1] and len(table.labels) == 538
    expected = {r[0]: tuple(r[1].split(",")) for r in rows[3:] if r}
    assert table.targets == expected and len(expected) == 19201
    for split in ("train", "valid"):
        lines = (folder / f"nrPDB-EC_2020.04_{split}.txt").read_text().split()
        assert table.splits[split] == lines
    with (folder / "nrPDB-EC_2020.04_test.csv").open() as f:
        identity = list(csv.DictReader(f))
    assert table.splits["test"] == [r["PDB-chain"] for r in identity if r["<95%"] == "1"]
    assert (table.kind, table.label_kind) == ("multi_label", "ec")
    assert any("4UDF-1A" in line for line in table.report)  # annotated chains in no split are reported


# ------------------------------------------------------------------------------------------------ nrPDB-GO
def _deepfri_go_file(
    path: Path, terms: dict[str, list[str]], names: dict[str, list[str]], rows: list[list[str]]
):
    """DeepFRI's nrPDB-GO annot.tsv layout (DeepFRI deepfrier/utils.py::load_GO_annot reads it so): for MF, BP and
    CC a header line, the terms, a header line, the names; a column header; then chain and three term lists."""
    lines = []
    for branch, title in (
        ("MF", "molecular_function"),
        ("BP", "biological_process"),
        ("CC", "cellular_component"),
    ):
        lines += [[f"### GO-terms ({title})"], terms[branch], [f"### GO-names ({title})"], names[branch]]
    lines.append(
        [
            "### PDB-chain",
            "GO-terms (molecular_function)",
            "GO-terms (biological_process)",
            "GO-terms (cellular_component)",
        ]
    )
    lines += rows
    with path.open("w", newline="") as f:
        csv.writer(f, delimiter="\t", lineterminator="\n").writerows(lines)


def test_nrpdb_go_reads_deepfri_layout_with_the_real_splits(tmp_path: Path, cafa_rows, obo_text) -> None:
    """The GO annotation file is not in the shared data: one in DeepFRI's layout is written from real GO terms
    (the CAFA-like annotations, OBO names) for the real nrPDB-GO split chains."""
    deepfri = shared_data("ec_go_benchmark", "deepfri")
    folder = tmp_path / "go"
    folder.mkdir()
    for name in ("train.txt", "valid.txt", "test.txt", "test.csv", "test_sequences.fasta"):
        (folder / f"nrPDB-GO_2019.06.18_{name}").symlink_to(deepfri / f"nrPDB-GO_2019.06.18_{name}")
    terms: dict[str, list[str]] = {}
    for branch, aspect in (("MF", "MFO"), ("BP", "BPO"), ("CC", "CCO")):
        seen = [r[1] for r in cafa_rows if r[2] == aspect and r[1] in obo_text.names]
        terms[branch] = list(dict.fromkeys(seen))[:40]
    names = {b: [obo_text.names[t] for t in ts] for b, ts in terms.items()}
    chains = [
        c
        for s in ("train", "valid", "test")
        for c in (folder / f"nrPDB-GO_2019.06.18_{s}.txt").read_text().split()
    ]
    rows, truth = [], {}
    for k, chain in enumerate(dict.fromkeys(chains)):
        picked = {b: [ts[(k * 7 + j) % len(ts)] for j in range(k % 3)] for b, ts in terms.items()}
        picked["BP"] = [] if k % 5 == 0 else picked["BP"]  # chains without a BP term keep an all-zero row
        truth[chain] = tuple(dict.fromkeys(picked["BP"]))
        rows.append([chain, ",".join(picked["MF"]), ",".join(picked["BP"]), ",".join(picked["CC"])])
    _deepfri_go_file(folder / "nrPDB-GO_2019.06.18_annot.tsv", terms, names, rows)

    table = read_labels(NrpdbGOLabels(folder=str(folder), branch="BP"))
    assert (
        table.labels == terms["BP"] and table.namespace == "biological_process" and table.label_kind == "go"
    )
    assert table.label_names == dict(zip(terms["BP"], names["BP"]))
    assert table.targets == truth
    assert len(table.splits["train"]) == 29902 and len(table.splits["valid"]) == 3323
    with (deepfri / "nrPDB-GO_2019.06.18_test.csv").open() as f:
        assert table.splits["test"] == [r["PDB-chain"] for r in csv.DictReader(f) if r["<95%"] == "1"]

    # a term outside the branch's list, and a split chain without an annotation line: errors naming file and line
    bad = [*rows[:5], [rows[5][0], "", "GO:9999999", ""], *rows[6:]]
    _deepfri_go_file(folder / "nrPDB-GO_2019.06.18_annot.tsv", terms, names, bad)
    with pytest.raises(LabelError, match=r"annot\.tsv, line 19: .*GO:9999999 is not one of the BP terms"):
        read_labels(NrpdbGOLabels(folder=str(folder), branch="BP"))
    _deepfri_go_file(folder / "nrPDB-GO_2019.06.18_annot.tsv", terms, names, rows[1:])
    with pytest.raises(LabelError, match=rf"1 split chains have no annotation line \(e\.g\. {rows[0][0]}\)"):
        read_labels(NrpdbGOLabels(folder=str(folder), branch="BP"))
    (folder / "nrPDB-GO_2019.06.18_annot.tsv").write_text("### GO-terms\nGO:0000001\n")
    with pytest.raises(LabelError, match="expected 12 header lines"):
        read_nrpdb_go_annotations(folder / "nrPDB-GO_2019.06.18_annot.tsv")


# ------------------------------------------------------------------------------------------------ CAFA TSV
@pytest.mark.parametrize("aspect", ["MFO", "BPO"])
def test_cafa_terms_propagated_against_an_independent_ontology_reader(
    aspect: str, obo_text, cafa_rows, small_obo: Path
) -> None:
    path = shared_data("function", "cafa_like_terms.tsv")
    table = read_labels(CafaTermsLabels(terms=str(path), aspect=aspect, obo=str(small_obo)))
    ns = ASPECT_NS[aspect]
    expected: dict[str, set[str]] = {}
    for protein, term, _ in cafa_rows:
        current = obo_text.current(term)
        if current is None or obo_text.namespace[current] != ns:
            continue  # unresolved ids are dropped (reported); mapped ids are filed under their own namespace
        closed = {current} | obo_text.ancestors(current)
        expected.setdefault(protein, set()).update(t for t in closed if obo_text.namespace[t] == ns)
    assert {p: set(t) for p, t in table.targets.items()} == expected
    assert list(table.targets) == list(expected)  # file order
    assert set(table.labels) == set().union(*expected.values())
    assert table.labels == list(dict.fromkeys(t for ts in table.targets.values() for t in ts))  # first seen
    assert table.label_names == {t: obo_text.names[t] for t in table.labels}
    assert table.namespace == ns and table.label_kind == "go"
    assert any("unresolved" in line or "mapped" in line for line in table.report)


def test_cafa_terms_min_count_and_no_propagation(cafa_rows, small_obo: Path) -> None:
    path = shared_data("function", "cafa_like_terms.tsv")
    plain = read_labels(CafaTermsLabels(terms=str(path), aspect="CCO", propagate=False))
    expected: dict[str, list[str]] = {}
    for protein, term, aspect in cafa_rows:
        if aspect == "CCO" and term not in expected.setdefault(protein, []):
            expected[protein].append(term)
    assert {p: list(t) for p, t in plain.targets.items()} == {p: t for p, t in expected.items() if t}
    frequent = read_labels(CafaTermsLabels(terms=str(path), aspect="CCO", obo=str(small_obo), min_count=3))
    counts: dict[str, int] = {}
    for terms in frequent.targets.values():
        for t in terms:
            counts[t] = counts.get(t, 0) + 1
    assert frequent.labels == [t for t in counts if counts[t] >= 3] and len(frequent.labels) < len(counts)
    assert any("fewer than 3 proteins left out" in line for line in frequent.report)
    with pytest.raises(
        LabelError, match=r"data\.labels\.propagate: true-path propagation needs data\.labels\.obo"
    ):
        read_labels(CafaTermsLabels(terms=str(path), aspect="CCO"), key="data.labels")


# --------------------------------------------------------------------------------------------------- tables
def test_tables_regression_single_and_multi_label(tmp_path: Path, cafa_rows) -> None:
    gb1 = shared_data("dms", "mavenn_nisthal_gb1_data.csv")
    with gb1.open() as f:
        rows = list(csv.DictReader(f))
    table = read_labels(
        TableLabels(path=str(gb1), task="regression", id_column="name", label_column="y", sequence_column="x")
    )
    labelled = [r for r in rows if r["y"].strip()]
    assert table.targets == {r["name"]: float(r["y"]) for r in labelled} and table.labels == []
    assert table.sequences == {r["name"]: r["x"] for r in labelled}
    assert len(rows) == 813 and table.kind == "regression"

    records = [
        json.loads(line)
        for line in shared_data("function", "swissprot_records.jsonl").read_text().splitlines()
    ]
    records = [r for r in records if "_" in r["entry_name"]]
    assert len(records) > 100
    species = tmp_path / "species.tsv"  # single label: the species mnemonic of the Swiss-Prot entry name
    species.write_text(
        "id\tlabel\n" + "".join(f"{r['accession']}\t{r['entry_name'].split('_')[1]}\n" for r in records)
    )
    single = read_labels(TableLabels(path=str(species)))
    assert (
        single.labels == sorted({r["entry_name"].split("_")[1] for r in records})
        and single.kind == "single_label"
    )
    assert single.targets["P15455"] == "ARATH"

    by_protein: dict[str, list[str]] = {}
    for protein, term, _ in cafa_rows:
        by_protein.setdefault(protein, []).append(term)
    multi = tmp_path / "terms.csv"
    multi.write_text("protein,terms\n" + "".join(f"{p},{';'.join(t)}\n" for p, t in by_protein.items()))
    table = read_labels(
        TableLabels(path=str(multi), task="multi_label", id_column="protein", label_column="terms")
    )
    assert table.targets == {p: tuple(t) for p, t in by_protein.items()}
    assert table.labels == sorted({t for ts in by_protein.values() for t in ts})


@pytest.mark.parametrize(
    ("text", "config", "error"),
    [
        ("id,value\na,1\n", {"task": "regression"}, r"no column 'label' \(columns: 'id', 'value'\)"),
        ("id,label\na,1\nb,x\n", {"task": "regression"}, r"t\.csv, line 3: label 'x' is not a number"),
        ("id,label\na,1\na,2\n", {"task": "regression"}, r"t\.csv, line 3: protein 'a' appears twice"),
        ("id,label\na,1,2\n", {"task": "regression"}, r"t\.csv, line 2: 3 fields, the header has 2"),
        ("id,label\na,x\nb,x\n", {}, r"single-label classification needs >= 2 classes"),
        ("", {}, r"t\.csv: empty file"),
        ("id,label\na,\n", {}, r"t\.csv: no labelled row"),
    ],
)
def test_bad_tables_name_file_and_line(tmp_path: Path, text: str, config: dict, error: str) -> None:
    path = tmp_path / "t.csv"
    path.write_text(text)
    with pytest.raises(LabelError, match=error):
        read_labels(TableLabels(path=str(path), **config))


def test_missing_files_name_the_key(tmp_path: Path) -> None:
    with pytest.raises(
        LabelError, match=rf"^data\.labels\.folder: {tmp_path}/nowhere: no such file or directory$"
    ):
        read_labels(NrpdbECLabels(folder=str(tmp_path / "nowhere")), key="data.labels")
    with pytest.raises(LabelError, match=rf"^labels\.obo: {tmp_path}/go\.obo: no such file or directory$"):
        read_labels(
            CafaTermsLabels(
                terms=str(shared_data("function", "cafa_like_terms.tsv")),
                aspect="MFO",
                obo=str(tmp_path / "go.obo"),
            )
        )
    seen = []
    resolved = read_labels(
        NrpdbECLabels(folder="EC"),
        resolve=lambda value, key: seen.append((value, key)) or shared_data("ec_go_benchmark", "deepfri"),
        key="data.labels",
    )
    assert seen == [("EC", "data.labels.folder")] and len(resolved.labels) == 538
