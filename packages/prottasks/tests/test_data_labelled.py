"""prottasks.data.labelled / splits: real structure files and FASTA joined with real nrPDB-EC labels (ids matched
by PDB chain), splits, targets against a k-hot matrix built here from the annotation file, the evaluation
transform, the evaluation shards, and the errors for unusable data."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from protdata.errors import DatasetError
from protdata.testing import shared_data
from protdata.transforms import TruncateProteinConfig
from prottasks.data import NrpdbECLabels, TableLabels, read_labels
from prottasks.data.labelled import EVAL_KEY, eval_batches, prepare_labelled_data
from prottasks.data.splits import LabelledDataConfig, chain_key
from prottasks.errors import LabelError

#: nrPDB-EC chains whose structures are in the shared data (file -> chain), official split in brackets.
EC_STRUCTURES = {
    ("structures", "experimental_mdanalysis_dssp", "1bvyF.pdb.gz"): "1BVY-F",  # train
    ("foldseek", "structures", "1dix.cif"): "1DIX-A",  # train
    (
        "structures",
        "experimental_mini3di",
        "1xso.pdb",
    ): "1XSO-A",  # train (the file also holds chain B: no label)
    ("structures", "experimental_mdanalysis_dssp", "2fvvA.pdb.gz"): "2FVV-A",  # train
    ("structures", "experimental_mdanalysis_dssp", "2va0A.pdb.gz"): "2VA0-A",  # test
    ("structures", "experimental_mdanalysis_dssp", "3gwiA.pdb.gz"): "3GWI-A",  # train
    ("structures", "experimental_mdanalysis_dssp", "3hklA.pdb.gz"): "3HKL-A",  # test
    ("structures", "experimental_mdanalysis_dssp", "3nbkA.pdb.gz"): "3NBK-A",  # train
}


@pytest.fixture(scope="module")
def ec_table():
    return read_labels(NrpdbECLabels(folder=str(shared_data("ec_go_benchmark", "deepfri"))))


@pytest.fixture(scope="module")
def ec_annotations() -> tuple[list[str], dict[str, list[str]]]:
    with shared_data("ec_go_benchmark", "deepfri", "nrPDB-EC_2020.04_annot.tsv").open() as f:
        rows = list(csv.reader(f, delimiter="\t"))
    return rows[1], {r[0]: r[1].split(",") for r in rows[3:] if r}


def _ids(path: Path, ids: list[str]) -> str:
    path.write_text("".join(f"{i}\n" for i in ids))
    return str(path)


def test_chain_keys() -> None:
    assert chain_key("1abc_A") == chain_key("1ABC-A") == chain_key("1abc.A") == "1ABC-A"
    assert chain_key("1bvyF_F") == "1BVY-F"  # a file named for its chain (1bvyF.pdb.gz -> id 1bvyF_F)
    assert chain_key("1bvyF_A") == "1bvyF_A"  # stem and chain disagree: not a chain key
    assert chain_key("4UDF-1A") == "4UDF-1A" and chain_key("P15455") == "P15455"


def test_structures_join_labels_by_chain(tmp_path: Path, ec_table, ec_annotations) -> None:
    vocabulary, annotations = ec_annotations
    files = [str(shared_data(*parts)) for parts in EC_STRUCTURES]
    train = ["1BVY-F", "1DIX-A", "2FVV-A", "3GWI-A", "3NBK-A"]
    valid, test = ["1XSO-A", "2VA0-A"], ["3HKL-A"]
    config = LabelledDataConfig(
        labels=NrpdbECLabels(folder="unused"),
        structures=files,
        splits={
            "train": _ids(tmp_path / "t", train),
            "valid": _ids(tmp_path / "v", valid),
            "test": _ids(tmp_path / "x", test),
        },
        transform=TruncateProteinConfig(max_length=120, random=True),
        batch_size=2,
    )
    data = prepare_labelled_data(
        config,
        ec_table,
        needs_structures=True,
        encode_3di=False,
        cache_dir=tmp_path / "cache",
        seed=3,
    )
    splits = {"train": data.train, **data.evaluation}
    assert {s: split.ids for s, split in splits.items()} == {"train": train, "valid": valid, "test": test}
    for split in splits.values():  # targets: k-hot over the 538 ECs, built here from the annotation file
        expected = np.zeros((len(split.ids), len(vocabulary)), dtype=np.float32)
        for row, chain in enumerate(split.ids):
            expected[row, [vocabulary.index(ec) for ec in annotations[chain]]] = 1
        np.testing.assert_array_equal(split.targets, expected)
        for i, chain in enumerate(split.ids):  # the structure behind each id is that chain
            protein = split.dataset.pool.protein(int(split.dataset.refs[i]))
            assert chain_key(protein.id) == chain
    assert data.report["summary"] == "train 5, valid 2, test 1"
    assert any(
        "1 inputs in no split or without a label (e.g. 1xso_B)" in line for line in data.report["labels"]
    )

    # training items get the random crop, evaluation items the prefix (what predict.py applies)
    full = {
        p: data.train.dataset.pool.protein(int(r)).sequence
        for p, r in zip(valid, data.evaluation["valid"].dataset.refs)
    }
    for indices, micro in eval_batches(data.evaluation["valid"], 0, 1):
        for k, pid in zip(indices, micro.batch.ids):
            assert valid[k] == chain_key(pid)
    seqs = {
        chain_key(p.id): p.sequence
        for _, _, p, _ in (data.evaluation["valid"].dataset[(EVAL_KEY, i)] for i in range(2))
    }
    assert seqs == {c: full[c][:120] for c in valid}
    crops = [data.train.dataset[(k, 0)][2].sequence for k in range(6)]
    whole = data.train.dataset.pool.protein(int(data.train.dataset.refs[0])).sequence
    assert all(len(c) == 120 and c in whole for c in crops) and len(set(crops)) > 1

    # the structure cache is reused: the second preparation reads no structure file
    again = prepare_labelled_data(
        config,
        ec_table,
        needs_structures=True,
        encode_3di=False,
        cache_dir=tmp_path / "cache",
        seed=3,
    )
    assert again.cached and again.train.ids == train


def test_sequences_and_official_splits(tmp_path: Path, ec_table) -> None:
    """FASTA input (the nrPDB-EC test sequences): a split file for train and valid, the official test split for the
    rest, restricted to chains with a sequence; overlapping splits are an error."""
    fasta = shared_data("ec_go_benchmark", "deepfri", "nrPDB-EC_2020.04_test_sequences.fasta")
    official_test = ec_table.splits["test"]
    train, valid = official_test[:6], official_test[6:9]
    config = LabelledDataConfig(
        labels=NrpdbECLabels(folder="unused"),
        sequences=[str(fasta)],
        splits={
            "train": _ids(tmp_path / "t", train),
            "valid": _ids(tmp_path / "v", valid),
            "test": _ids(tmp_path / "x", official_test[9:]),
        },
    )
    data = prepare_labelled_data(
        config,
        ec_table,
        needs_structures=False,
        encode_3di=False,
        cache_dir=None,
        seed=0,
    )
    assert data.train.ids == train and data.evaluation["valid"].ids == valid
    assert data.evaluation["test"].ids == official_test[9:]
    overlapping = config.model_copy(update={"splits": config.splits.model_copy(update={"test": None})})
    with pytest.raises(LabelError, match=rf"protein {train[0]} is in both the train and the test split"):
        prepare_labelled_data(
            overlapping,
            ec_table,
            needs_structures=False,
            encode_3di=False,
            cache_dir=None,
            seed=0,
        )
    no_valid = config.model_copy(
        update={"splits": config.splits.model_copy(update={"valid": _ids(tmp_path / "w", ["1ABC-Z"])})}
    )
    with pytest.raises(
        DatasetError,
        match=r"the valid split has no protein with both a label and an input \(1 ids, 0 without a sequence or structure, 1 without a label\)",
    ):
        prepare_labelled_data(
            no_valid,
            ec_table,
            needs_structures=False,
            encode_3di=False,
            cache_dir=None,
            seed=0,
        )


def test_random_split_is_seeded_and_disjoint(tmp_path: Path) -> None:
    gb1 = shared_data("dms", "mavenn_nisthal_gb1_data.csv")
    table = read_labels(
        TableLabels(path=str(gb1), task="regression", id_column="name", label_column="y", sequence_column="x")
    )

    def split(seed: int) -> dict[str, list[str]]:
        config = LabelledDataConfig(
            labels=TableLabels(path="unused"),
            splits={"valid_fraction": 0.2, "test_fraction": 0.1, "seed": seed},
        )
        data = prepare_labelled_data(
            config,
            table,
            needs_structures=False,
            encode_3di=False,
            cache_dir=None,
            seed=0,
        )
        return {"train": data.train.ids, **{k: v.ids for k, v in data.evaluation.items()}}

    a, b, c = split(1), split(1), split(2)
    assert a == b and a != c
    assert {k: len(v) for k, v in a.items()} == {
        "train": 569,
        "valid": 163,
        "test": 81,
    }  # round(813 × 0.2), round(813 × 0.1)
    assert sorted(a["train"] + a["valid"] + a["test"]) == sorted(table.targets)
    gb1_targets = {pid: table.targets[pid] for pid in a["valid"]}
    config = LabelledDataConfig(
        labels=TableLabels(path="unused"), splits={"valid_fraction": 0.2, "test_fraction": 0.1, "seed": 1}
    )
    data = prepare_labelled_data(
        config, table, needs_structures=False, encode_3di=False, cache_dir=None, seed=0
    )
    np.testing.assert_array_equal(
        data.evaluation["valid"].targets, np.array(list(gb1_targets.values()), dtype=np.float32)
    )


def test_evaluation_shards_cover_every_protein_once(tmp_path: Path) -> None:
    gb1 = shared_data("dms", "mavenn_nisthal_gb1_data.csv")
    table = read_labels(
        TableLabels(path=str(gb1), task="regression", id_column="name", label_column="y", sequence_column="x")
    )
    config = LabelledDataConfig(
        labels=TableLabels(path="unused"), splits={"valid_fraction": 0.05}, batch_size=4
    )
    data = prepare_labelled_data(
        config, table, needs_structures=False, encode_3di=False, cache_dir=None, seed=0
    )
    valid = data.evaluation["valid"]
    seen: list[int] = []
    counts = []
    for rank in range(3):
        shards = eval_batches(valid, rank, 3)
        counts.append(len(shards))
        for indices, micro in shards:
            seen.extend(indices.tolist())
            assert [valid.ids[i] for i in indices] == micro.batch.ids[: len(indices)]
    assert (
        sorted(seen) == list(range(len(valid))) and len(set(counts)) == 1
    )  # once each, same batch count per rank


def test_unusable_data_is_an_error_naming_the_key(tmp_path: Path, ec_table) -> None:
    fasta = shared_data("ec_go_benchmark", "deepfri", "nrPDB-EC_2020.04_test_sequences.fasta")
    base = LabelledDataConfig(labels=NrpdbECLabels(folder="unused"), sequences=[str(fasta)])
    kwargs = {"encode_3di": False, "cache_dir": tmp_path / "cache", "seed": 0}
    with pytest.raises(
        DatasetError, match=r"data\.structures: the encoder reads 3D structures, but no structure files"
    ):
        prepare_labelled_data(base, ec_table, needs_structures=True, **kwargs)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no structures here")
    empty = base.model_copy(update={"structures": [str(tmp_path / "empty")]})
    with pytest.raises(DatasetError, match=rf"data\.structures: no structure files in {tmp_path}/empty"):
        prepare_labelled_data(empty, ec_table, needs_structures=True, **kwargs)
    missing = base.model_copy(update={"sequences": [str(tmp_path / "missing.fasta")]})
    with pytest.raises(DatasetError, match=rf"data\.sequences: {tmp_path}/missing\.fasta: no such file"):
        prepare_labelled_data(missing, ec_table, needs_structures=False, **kwargs)
    assert not (tmp_path / "cache").exists()  # nothing written on failure


def test_evaluate_splits_puts_outputs_back_in_split_order(tmp_path: Path, ec_table) -> None:
    """Evaluation batches are length-bucketed (not in split order): the outputs come back in split order, and the
    metrics equal scikit-learn's on the outputs laid out by id (nrPDB-EC test chains, seeded logits)."""
    import torch
    from sklearn.metrics import average_precision_score, log_loss

    from prottasks.data import evaluate_splits, split_outputs

    fasta = shared_data("ec_go_benchmark", "deepfri", "nrPDB-EC_2020.04_test_sequences.fasta")
    chains = ec_table.splits["test"]
    config = LabelledDataConfig(
        labels=NrpdbECLabels(folder="unused"),
        sequences=[str(fasta)],
        splits={
            "train": _ids(tmp_path / "t", chains[:20]),
            "valid": _ids(tmp_path / "v", chains[20:80]),
            "test": _ids(tmp_path / "x", chains[80:90]),
        },
        batch_size=4,
    )
    data = prepare_labelled_data(
        config, ec_table, needs_structures=False, encode_3di=False, cache_dir=None, seed=0
    )
    valid = data.evaluation["valid"]
    rng = np.random.default_rng(3)
    logits = {
        pid: 3 * (row - 0.5) + rng.normal(0, 2, row.shape) for pid, row in zip(valid.ids, valid.targets)
    }

    class Output:
        def __init__(self, ids: list[str]) -> None:
            self.output = torch.tensor(np.stack([logits[chain_key(i)] for i in ids]))

    order = [int(i) for indices, _ in eval_batches(valid, 0, 1) for i in indices]
    assert order != sorted(order)  # the batches do reorder
    expected = np.stack([logits[i] for i in valid.ids]).astype(np.float32).astype(np.float64)
    np.testing.assert_array_equal(split_outputs(lambda batch: Output(batch.ids), valid), expected)
    metrics = evaluate_splits(lambda batch: Output(batch.ids), {"valid": valid}, "multi_label")
    p, y = 1 / (1 + np.exp(-expected)), valid.targets
    assert metrics["valid_auprc_micro"] == pytest.approx(
        average_precision_score(y.ravel(), p.ravel()), rel=1e-12
    )
    assert metrics["valid_loss"] == pytest.approx(log_loss(y.ravel(), p.ravel()), rel=1e-12)


def test_a_preprocessed_dataset_serves_the_same_structures(tmp_path: Path, ec_table) -> None:
    """``dataset=`` (protdata.open_dataset of the same files preprocessed) joins, splits and serves the proteins
    that ``structures=`` does; a missing dataset, or both inputs, is an error naming the key."""
    from protdata.dataset import preprocess

    files = [str(shared_data(*parts)) for parts in EC_STRUCTURES]
    preprocess(files, tmp_path / "ds", rank=0, world_size=1)
    splits = {
        "train": _ids(tmp_path / "t", ["1BVY-F", "1DIX-A", "2FVV-A", "3GWI-A", "3NBK-A"]),
        "valid": _ids(tmp_path / "v", ["1XSO-A", "2VA0-A"]),
        "test": _ids(tmp_path / "x", ["3HKL-A"]),
    }
    common = {"labels": NrpdbECLabels(folder="unused"), "splits": splits, "transform": None, "batch_size": 2}
    kwargs = {"needs_structures": True, "encode_3di": False, "seed": 3}
    cached = prepare_labelled_data(
        LabelledDataConfig(structures=files, **common), ec_table, cache_dir=tmp_path / "cache", **kwargs
    )
    mapped = prepare_labelled_data(
        LabelledDataConfig(dataset=str(tmp_path / "ds"), **common), ec_table, cache_dir=None, **kwargs
    )
    assert mapped.cached and "in dataset" in mapped.report["structures"]
    for a, b in [(cached.train, mapped.train), *zip(cached.evaluation.values(), mapped.evaluation.values())]:
        assert a.ids == b.ids
        np.testing.assert_array_equal(a.targets, b.targets)
        for i in range(len(a)):
            _, _, pa, _ = a.dataset[(7, i)]
            _, _, pb, _ = b.dataset[(7, i)]
            assert (pa.id, pa.sequence) == (pb.id, pb.sequence)
            np.testing.assert_array_equal(pa.coords, pb.coords)
    with pytest.raises(DatasetError, match=r"^data\.dataset: .*nowhere: no such dataset directory$"):
        prepare_labelled_data(
            LabelledDataConfig(dataset=str(tmp_path / "nowhere"), **common),
            ec_table,
            cache_dir=None,
            **kwargs,
        )
    with pytest.raises(ValueError, match="structures and dataset are both set"):
        LabelledDataConfig(structures=files, dataset=str(tmp_path / "ds"), **common)
