"""prottasks.predictions: the predictions of a TaskModel for many proteins, ranked rows, label names, tables.

Truths: the model's own batch output (``TaskModel.predict`` on a ProteinBatch of one protein), a brute-force sort,
ProtST's real ``reaction_description.tsv`` read with the csv module, and the files the tests write.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from protdata import Protein, ProteinBatch
from protdata.testing import shared_data
from prottasks.errors import TableError, TaskInputError
from prottasks.predictions import predict_scores, ranked_rows, read_label_names, write_table


def test_ranked_rows_match_a_brute_force_sort() -> None:
    rng = np.random.default_rng(0)
    scores = rng.random((3, 7)).round(1)  # ties: the label order decides
    labels = [f"L{j}" for j in range(7)]
    rows = ranked_rows(["a", "b", "c"], scores, labels, {"L0": "zero"}, top_k=4, threshold=0.3)
    for i, pid in enumerate("abc"):
        order = sorted(range(7), key=lambda j: (-scores[i, j], j))[:4]
        want = [(pid, r, labels[j], "zero" if j == 0 else "", scores[i, j]) for r, j in enumerate(order, 1)]
        assert [row for row in rows if row[0] == pid] == [w for w in want if w[4] >= 0.3]
    assert len(ranked_rows(["a"], scores[:1], labels, {}, top_k=0, threshold=0.0)) == 7


def test_label_names_from_protst_table() -> None:
    path = shared_data("function", "protst_text", "reaction_description.tsv")
    names = read_label_names(path)
    with path.open() as handle:
        table = list(csv.DictReader(handle, delimiter="\t"))
    for row in table:
        assert names[row["EC_number"]] == row["name"].strip().rstrip(".")
    ec = table[0]["EC_number"].split(".")
    assert names[f"{ec[0]}.-.-.-"] == table[0]["hier1"].strip().rstrip(".")


def test_label_names_bad_files(tmp_path: Path) -> None:
    with pytest.raises(TableError, match=r"nope\.tsv: no such file"):
        read_label_names(tmp_path / "nope.tsv")
    (tmp_path / "one.tsv").write_text("only\n")
    with pytest.raises(TableError, match=r"one.tsv, line 1: expected two columns"):
        read_label_names(tmp_path / "one.tsv")
    (tmp_path / "plain.csv").write_text("GO:1,first\nGO:2,second\n")
    assert read_label_names(tmp_path / "plain.csv") == {"GO:1": "first", "GO:2": "second"}


def test_write_table(tmp_path: Path) -> None:
    out = tmp_path / "t.csv"
    assert write_table(out, ("p", "score"), [("a", 0.123456789), ("b", 2)]) == 2
    assert out.read_text() == "p,score\na,0.123457\nb,2\n"
    assert [p.name for p in tmp_path.iterdir()] == ["t.csv"]


def test_predict_scores_skips_only_the_rejected_protein() -> None:
    """A protein the encoder rejects (with a protdata error) is skipped and named; the others, run in batches, score
    as the model scores each of them alone."""
    import torch
    from prottasks_tiny import TinyEncoderConfig, TinyPretrainedEncoder

    from protdata import read_fasta
    from protdata.errors import SequenceError
    from prottasks import TaskModel

    torch.manual_seed(0)
    head = {"type": "multi_label", "num_labels": "auto"}
    model = TaskModel.from_encoder(TinyPretrainedEncoder(TinyEncoderConfig()), head, labels=["a", "b", "c"])
    forward = model.encoder.forward

    def rejecting(batch, *args, **kwargs):
        if "bad" in batch.ids:
            raise SequenceError("bad", "rejected by the test encoder")
        return forward(batch, *args, **kwargs)

    model.encoder.forward = rejecting
    real = [
        p.select(slice(0, 60)) for p in read_fasta(shared_data("function", "cafa_like_sequences.fasta"))[:5]
    ]
    proteins = [*real[:2], Protein.from_sequence("bad", "MKTAYIAKQR", source="x.fasta"), *real[2:]]
    skipped: list[tuple[str, str]] = []
    found = predict_scores(model, proteins, batch_size=4, skipped=skipped)
    assert found.kept == [0, 1, 3, 4, 5] and found.cropped == 0
    assert skipped == [("x.fasta: bad", "bad: rejected by the test encoder")]
    for row, i in zip(found.scores, found.kept):
        np.testing.assert_allclose(row, model.predict(ProteinBatch.collate([proteins[i]]))[0], atol=1e-6)
    with pytest.raises(TaskInputError, match="the model rejected every protein"):
        predict_scores(model, [proteins[2]], skipped=[])
    with pytest.raises(SequenceError):
        predict_scores(model, proteins)
