"""The nrPDB-EC loader on the DeepFRI files (checked against a plain-text read of the same files) and its errors
on corrupted copies."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest

from protdata.testing import shared_data
from prottasks.data import load_nrpdb_ec, load_nrpdb_go_splits
from prottasks.errors import LabelError

PREFIX = "nrPDB-EC_2020.04"


@pytest.fixture(scope="module")
def folder() -> Path:
    return shared_data("ec_go_benchmark", "deepfri")


@pytest.fixture(scope="module")
def ec(folder):
    return load_nrpdb_ec(folder)


def _lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def test_vocabulary_annotations_and_splits(ec, folder):
    annot = (folder / f"{PREFIX}_annot.tsv").read_text().splitlines()
    header = annot[1].split("\t")
    assert len(ec.vocabulary) == len(header) == 538
    assert ec.vocabulary.labels == tuple(header)
    rows = {r.split("\t")[0]: set(r.split("\t")[1].split(",")) for r in annot[3:]}
    assert {c: set(e) for c, e in ec.annotations.items()} == rows
    for split in ("train", "valid", "test"):
        assert ec.split_ids(split) == _lines(folder / f"{PREFIX}_{split}.txt")
    assert [len(ec.splits[s]) for s in ("train", "valid", "test")] == [15551, 1729, 1919]
    in_split = {c for ids in ec.splits.values() for c in ids}
    assert set(ec.report.unassigned) == set(rows) - in_split
    fasta_ids = {line[1:].split()[0] for line in (folder / f"{PREFIX}_test_sequences.fasta").read_text().splitlines()
                 if line.startswith(">")}  # fmt: skip
    assert set(ec.report.extra_sequences) == fasta_ids - set(ec.splits["test"])


def test_label_matrix_and_identity_cutoffs(ec, folder):
    ids, matrix = ec.labels("test")
    assert matrix.shape == (1919, 538)
    for k in (0, 500, 1918):
        assert set(ec.vocabulary.decode(matrix[k])) == set(ec.annotations[ids[k]])
    with (folder / f"{PREFIX}_test.csv").open() as handle:
        table = list(csv.DictReader(handle))
    for cutoff, column in ((0.3, "<30%"), (0.5, "<50%"), (0.95, "<95%")):
        expected = [r["PDB-chain"] for r in table if r[column] == "1"]
        assert ec.split_ids("test", test_cutoff=cutoff) == [
            c for c in ec.splits["test"] if c in set(expected)
        ]
    assert len(ec.test_sequences) >= 1919 and np.all(matrix.sum(1) >= 1)
    with pytest.raises(LabelError, match="test_cutoff must be one of"):
        ec.split_ids("test", test_cutoff=0.6)


def _copy(folder: Path, tmp_path: Path) -> Path:
    for path in folder.glob(f"{PREFIX}_*"):
        shutil.copy(path, tmp_path / path.name)
    return tmp_path


def _edit(path: Path, line: int, new: str) -> None:
    lines = path.read_text().splitlines()
    lines[line - 1] = new
    path.write_text("\n".join(lines) + "\n")


def test_ec_outside_vocabulary(folder, tmp_path):
    copy = _copy(folder, tmp_path)
    _edit(copy / f"{PREFIX}_annot.tsv", 5, "1TNT-A\t6.5.1.-,9.9.9.9")
    with pytest.raises(LabelError, match=r"line 5: EC '9.9.9.9' of chain 1TNT-A is not among the 538"):
        load_nrpdb_ec(copy)


def test_empty_label_set(folder, tmp_path):
    copy = _copy(folder, tmp_path)
    _edit(copy / f"{PREFIX}_annot.tsv", 6, "1T8A-A\t")
    with pytest.raises(LabelError, match="line 6: chain 1T8A-A has an empty EC label set"):
        load_nrpdb_ec(copy)


def test_unannotated_and_duplicated_split_chains(folder, tmp_path):
    copy = _copy(folder, tmp_path)
    _edit(copy / f"{PREFIX}_valid.txt", 3, "XXXX-Z")
    with pytest.raises(LabelError, match=r"valid\.txt, line 3: chain XXXX-Z has no annotation"):
        load_nrpdb_ec(copy)
    shutil.copy(folder / f"{PREFIX}_valid.txt", copy / f"{PREFIX}_valid.txt")
    first_train = _lines(folder / f"{PREFIX}_train.txt")[0]
    _edit(copy / f"{PREFIX}_valid.txt", 1, first_train)
    with pytest.raises(LabelError, match=f"chain {first_train} is in both the train and the valid split"):
        load_nrpdb_ec(copy)


def test_go_splits(folder):
    go = load_nrpdb_go_splits(folder)
    prefix = "nrPDB-GO_2019.06.18"
    for split in ("train", "valid", "test"):
        assert go.split_ids(split) == _lines(folder / f"{prefix}_{split}.txt")
    assert [len(go.splits[s]) for s in ("train", "valid", "test")] == [29902, 3323, 3416]
    assert not set(go.splits["train"]) & set(go.splits["test"])
    with (folder / f"{prefix}_test.csv").open() as handle:
        low = {r["PDB-chain"] for r in csv.DictReader(handle) if r["<30%"] == "1"}
    assert set(go.split_ids("test", test_cutoff=0.3)) == low
    assert set(go.test_sequences) >= set(go.splits["test"])
