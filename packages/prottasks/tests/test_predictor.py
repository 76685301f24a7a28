"""The prediction front end without a model: raw sequences and FASTA streams become proteins (bad records skipped
and named), a names table must name the model's labels, the SaProt note shows the '#' tokens, the table goes to
stdout for ``-``, and predict-rank.py's lines are ``score (4 decimals): name`` in ranking order."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from protdata.errors import SequenceError
from protdata.protein import Protein
from protdata.testing import shared_data
from prottasks.errors import TableError, TaskInputError
from prottasks.predictions import read_label_names, write_table
from prottasks.predictor import (
    Predictor,
    check_label_names,
    read_fasta_stream,
    saprot_sequence_note,
    sequence_protein,
)


def test_sequence_protein_and_fasta_stream() -> None:
    p = sequence_protein("mkv lab*")  # lower case and spaces accepted, B -> X, the stop dropped
    assert (p.id, p.sequence) == ("sequence", "MKVLAX")
    with pytest.raises(SequenceError, match="digit '1'"):
        sequence_protein("MK1V")
    skipped: list[tuple[str, str]] = []
    stream = io.StringIO(">a\nMKV\n>b\nMK1V\n>c\nLLA\n")
    proteins = read_fasta_stream(stream, skipped)
    assert [(q.id, q.sequence, q.source) for q in proteins] == [
        ("a", "MKV", "<stdin>"),
        ("c", "LLA", "<stdin>"),
    ]
    assert len(skipped) == 1 and skipped[0][0] == "<stdin>, line 4" and "digit '1'" in skipped[0][1]
    with pytest.raises(TaskInputError, match="every FASTA record was skipped"):
        read_fasta_stream(io.StringIO(">b\nMK1V\n"), [])


def test_names_table_must_name_a_label() -> None:
    path = shared_data("function", "protst_text", "reaction_description.tsv")
    names = read_label_names(path)
    check_label_names(names, ["GO:0005575", "1.15.1.1"], path)  # one label named: fine
    with pytest.raises(TableError, match=r"none of its \d+ ids is a label of the model .*like 'GO:0005575'"):
        check_label_names(names, ["GO:0005575", "GO:0016020"], path)


def test_saprot_note_names_the_tokens() -> None:
    flat = [Protein.from_sequence("a", "MKVLAG"), Protein.from_sequence("b", "MK")]
    note = saprot_sequence_note(flat)
    assert (
        note is not None
        and note.startswith("2 protein(s) without structure")
        and "MKVLAG… -> M#K#V#L#A#G#…" in note
    )
    assert saprot_sequence_note([flat[0].replace(structure_tokens="dddddd")]) is None


def test_table_to_stdout(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert write_table("-", ("protein", "score"), [("a", 0.5), ("b", 1 / 3)]) == 2
    assert capsys.readouterr().out == "protein\tscore\na\t0.5\nb\t0.333333\n"
    write_table(tmp_path / "t.tsv", ("protein", "score"), [("a", 0.5), ("b", 1 / 3)])
    assert (tmp_path / "t.tsv").read_text() == "protein\tscore\na\t0.5\nb\t0.333333\n"


def test_top_lines_like_predict_rank() -> None:
    model = SimpleNamespace(kind="multi_label", labels=["GO:1", "GO:2", "GO:3"])
    meta = {"task": {"label_kind": "go"}}
    names = {"GO:1": "membrane", "GO:3": "cell periphery"}
    predictor = Predictor(model, Path("."), meta, names, top_k=2)
    assert predictor.top_lines(np.array([0.45991, 0.61949, 0.5855])) == [
        "0.6195: GO:2",
        "0.5855: cell periphery",
    ]
    predictor.threshold = 0.6
    assert predictor.top_lines(np.array([0.45991, 0.61949, 0.5855])) == ["0.6195: GO:2"]
    regression = Predictor(SimpleNamespace(kind="regression", labels=[]), Path("."), {"task": {}})
    assert regression.top_lines(np.float64(1.23456)) == ["prediction: 1.2346"]
