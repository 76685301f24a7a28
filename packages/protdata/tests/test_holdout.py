"""protdata.holdout (the validation split by id) and protdata.evaluation (each rank's share, sums over ranks).

Truths: BLAKE2b recomputed here with hashlib from its definition (RFC 7693 parameters: 8-byte digest, the
personalisation); a split recomputed on shuffled, grown and re-sharded copies of the real Swiss-Prot accessions; the
binomial spread of the held-out count; float64 sums written out by hand."""

from __future__ import annotations

import hashlib
import random

import numpy as np
import pytest

from protdata.errors import DatasetError
from protdata.evaluation import MetricSums, rank_share
from protdata.holdout import HoldOut, id_unit, read_id_list, split_ids
from protdata.protanno import read_uniprot
from protdata.testing import shared_data


@pytest.fixture(scope="module")
def accessions() -> list[str]:
    """The 100 real Swiss-Prot accessions of the shared sample, plus 4,900 made-up ones of the same shape."""
    real = [e.to_record().id for e in read_uniprot(shared_data("function", "uniprot_swissprot_sample.dat"))]
    rng = random.Random(3)
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    made = [f"{rng.choice('OPQ')}{rng.randrange(10)}{''.join(rng.choices(letters, k=3))}{rng.randrange(10)}"
            for _ in range(4900)]  # fmt: skip
    return list(dict.fromkeys(real + made))


def _held(ids: list[str], split: HoldOut) -> set[str]:
    return {ids[i] for i in split.held_out}


def test_id_unit_is_blake2b_of_the_id() -> None:
    for pid in ("P69905", "AF-Q8W3K0-F1-model_v4", "1abc_A", "ü-id"):
        digest = hashlib.blake2b(pid.encode(), digest_size=8, person=b"protstack-val").digest()
        assert id_unit(pid) == int(digest.hex(), 16) / 2**64
        assert 0 <= id_unit(pid) < 1


def test_split_is_by_id_alone(accessions: list[str]) -> None:
    split = split_ids(accessions, fraction=0.1, min_count=1)
    assert isinstance(split, HoldOut)
    n = len(accessions)
    # disjoint, complete, sorted
    assert np.intersect1d(split.train, split.held_out).size == 0
    assert np.array_equal(np.sort(np.concatenate([split.train, split.held_out])), np.arange(n))
    assert np.all(np.diff(split.held_out) > 0)
    held = _held(accessions, split)
    assert held == {a for a in accessions if id_unit(a) < 0.1}
    # about 10 %: within 4 binomial standard deviations
    assert abs(len(held) - 0.1 * n) < 4 * (n * 0.1 * 0.9) ** 0.5
    # any order, any shard, a grown dataset: each protein on the same side
    shuffled = random.Random(0).sample(accessions, n)
    assert _held(shuffled, split_ids(shuffled, fraction=0.1)) == held
    shard = accessions[1::3]
    assert _held(shard, split_ids(shard, fraction=0.1)) == held & set(shard)
    grown = accessions + [f"NEW{i:05d}" for i in range(2000)]
    assert _held(grown, split_ids(grown, fraction=0.1)) & set(accessions) == held
    # the digest names the held-out set, whatever the order
    assert split_ids(shuffled, fraction=0.1).digest == split.digest
    assert split_ids(accessions, fraction=0.2).digest != split.digest


def test_duplicate_ids_stay_on_one_side(accessions: list[str]) -> None:
    ids = accessions[:500] + accessions[:500]  # e.g. two texts per protein
    split = split_ids(ids, fraction=0.2)
    held = set(split.held_out.tolist())
    assert all((i in held) == (i + 500 in held) for i in range(500))


def test_listed_ids(tmp_path, accessions: list[str]) -> None:
    path = tmp_path / "val.txt"
    path.write_text(
        "# held out\nP69905 the human haemoglobin\n\n" + "\n".join(accessions[10:20]) + "\nNOT_THERE\n"
    )
    listed = read_id_list(path)
    assert listed == ["P69905", *accessions[10:20], "NOT_THERE"]
    split = split_ids(accessions, listed=listed)
    assert _held(accessions, split) == set(listed) & set(accessions)
    missing = len(set(listed) - set(accessions))
    assert missing >= 1 and split.notes == (
        f"validation.ids: {missing} of the {len(set(listed))} listed ids are not in the data",
    )
    with pytest.raises(DatasetError, match="none of the 2 listed ids"):
        split_ids(accessions, listed=["X1", "X2"])
    (tmp_path / "empty.txt").write_text("# nothing\n")
    with pytest.raises(DatasetError, match="lists no id"):
        read_id_list(tmp_path / "empty.txt")
    with pytest.raises(DatasetError, match="cannot read"):
        read_id_list(tmp_path / "missing.txt")


def test_too_few_is_a_notice_not_an_error(accessions: list[str]) -> None:
    few = accessions[:50]
    notice = split_ids(few, fraction=0.01, min_count=32)
    assert isinstance(notice, str) and "off" in notice and "min_count=32" in notice
    assert isinstance(split_ids(few, fraction=0.0), str)
    everything = split_ids(few, listed=few)
    assert isinstance(everything, str) and "nothing would be left to train on" in everything


@pytest.mark.parametrize("world", [1, 2, 3, 4])
def test_rank_shares_cover_every_batch_once(world: int) -> None:
    batches = [np.arange(i, i + 2) for i in range(0, 14, 2)]  # 7 batches
    counted: list[int] = []
    lengths = set()
    for rank in range(world):
        share = list(rank_share(batches, rank, world))
        lengths.add(len(share))
        counted += [b for b, _, counts in share if counts]
        assert all(np.array_equal(idx, batches[b]) for b, idx, _ in share)
    assert sorted(counted) == list(range(7))
    assert len(lengths) == 1  # the same number of forwards on every rank (collectives stay matched)


def test_metric_sums_are_float64_sums_not_means_of_means() -> None:
    a, b = MetricSums(), MetricSums()
    a.add({"loss": (3.0, 1.0), "accuracy": (1.0, 1.0)})
    a.add({"loss": (10.0, 4.0)})
    b.add({"loss": (0.5, 5.0), "accuracy": (2.0, 8.0)})
    total = MetricSums()
    for part in (a, b):
        total.add({k: (v[0], v[1]) for k, v in part.sums.items()})
    means = total.means("val_")
    assert means["val_loss"] == (3.0 + 10.0 + 0.5) / (1 + 4 + 5)
    assert means["val_accuracy"] == 3.0 / 9.0
    assert a.reduced(1).means() == a.means()
    empty = MetricSums()
    empty.add({"accuracy": (0.0, 0.0)})
    assert np.isnan(empty.means()["accuracy"])
