"""prottasks.data.atom3d: ATOM3D PSR / MSP LMDBs written by the ``atom3d`` package itself (protdata's
tests/atom3d_lmdb.py) as fine-tuning data — targets, official splits, per-target groups, MSP pairs batched for the
MSP head through TaskModel, and the seed's pair truncation (ESM-GearNet ``TruncateProteinPair``)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.append(str(Path(__file__).resolve().parents[2] / "protdata" / "tests"))

import atom3d_lmdb

from protdata import Protein
from protdata.errors import DatasetError
from protdata.testing import shared_data
from prottasks.data import Atom3DLabels, PairBatch, evaluate_splits, read_labels
from prottasks.data.atom3d import truncate_pair
from prottasks.data.labelled import prepare_labelled_data
from prottasks.data.splits import LabelledDataConfig

pytest.importorskip("lmdb")
pytest.importorskip("atom3d.datasets.datasets")


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    small = shared_data("structures", "experimental_mdanalysis_dssp")
    root = tmp_path_factory.mktemp("atom3d_tasks")
    return {
        "psr": atom3d_lmdb.write_psr(small, root / "psr"),
        "msp": atom3d_lmdb.write_msp(small, root / "msp"),
    }


def _config(labels: dict, **data: object) -> LabelledDataConfig:
    return LabelledDataConfig.model_validate({"labels": labels, "transform": None, "batch_size": 2, **data})


def test_psr_targets_splits_and_per_target_metrics(roots: dict[str, Path]) -> None:
    labels = Atom3DLabels(task="psr", root=str(roots["psr"]))
    table = read_labels(labels)
    assert table.kind == "regression"
    for split, theirs in (("train", "train"), ("valid", "val"), ("test", "test")):
        expected = [f"{t}/{d}" for t, d in atom3d_lmdb.PSR_SPLITS[theirs]]
        assert table.splits[split] == expected
        for (t, d), pid in zip(atom3d_lmdb.PSR_SPLITS[theirs], expected):
            score = atom3d_lmdb.psr_score(t, d)["gdt_ts"]  # atom3d's json writer keeps 6 digits
            assert table.targets[pid] == pytest.approx(score, abs=1e-6)
    data = prepare_labelled_data(
        _config(labels.model_dump()), table, needs_structures=True, encode_3di=False, cache_dir=None, seed=0
    )
    assert data.evaluation["valid"].groups.tolist() == ["T0003"] * 3
    np.testing.assert_allclose(data.train.targets, table.encode(table.splits["train"]))

    class Constant(torch.nn.Module):  # prediction = residue count: a deterministic stand-in model
        def forward(self, batch):
            return type("Out", (), {"output": batch.lengths.float()})()

    metrics = evaluate_splits(Constant(), data.evaluation, "regression")
    assert {"valid_mean_spearman", "valid_kendall", "test_mean_pearson", "test_mae"} <= set(metrics)
    assert math.isfinite(metrics["valid_mean_kendall"])


def test_msp_pairs_batch_for_the_msp_head(roots: dict[str, Path]) -> None:
    from prottasks_tiny import TinySequenceEncoder

    from prottasks.task_model import TaskModel

    labels = Atom3DLabels(task="msp", root=str(roots["msp"]))
    table = read_labels(labels)
    assert table.kind == "msp"
    assert [table.targets[i] for i in table.splits["train"]] == [
        int(p[3]) for p in atom3d_lmdb.MSP_SPLITS["train"]
    ]
    data = prepare_labelled_data(
        _config(labels.model_dump(), transform={"type": "truncate", "max_length": 40}),
        table,
        needs_structures=True,
        encode_3di=False,
        cache_dir=None,
        seed=0,
    )
    micro = next(iter(data.loader(0, 1, 1, 0, pin_memory=False)))
    assert isinstance(micro.batch, PairBatch) and len(micro.batch) == 2
    wt, mt = micro.batch.pair
    assert torch.equal(wt.lengths, mt.lengths) and int(wt.lengths.max()) <= 40
    assert ((wt.residue_type != mt.residue_type).sum()) == 2  # one mutation per pair, kept by the window
    torch.manual_seed(0)
    model = TaskModel({"encoder": {"type": "tiny"}, "head": {"type": "msp"}}, TinySequenceEncoder())
    out = model(micro.batch, targets=micro.targets)  # TaskModel unpacks the pair for the MSP head
    assert out.output.shape == (2,) and torch.isfinite(out.loss)
    metrics = evaluate_splits(model, data.evaluation, "msp")
    assert set(metrics) == {f"{s}_{m}" for s in ("valid", "test") for m in ("auroc", "auprc", "loss")}
    with pytest.raises(DatasetError, match="only a truncate"):
        prepare_labelled_data(
            _config(labels.model_dump(), transform={"type": "identity"}),
            table,
            needs_structures=True,
            encode_3di=False,
            cache_dir=None,
            seed=0,
        )


@pytest.mark.parametrize(("position", "start"), [(0, 0), (3, 0), (15, 10), (28, 20), (29, 20)])
def test_truncate_pair_is_the_seeds_window(position: int, start: int) -> None:
    # TruncateProteinPair(max_length=10, random=False) on 30 residues: start = max(min(i - 5, 20), 0)
    wt = Protein.from_sequence("wt", "A" * 30)
    mt = Protein.from_sequence("mt", "A" * position + "G" + "A" * (29 - position))
    a, b = truncate_pair(wt, mt, position, 10)
    assert len(a) == len(b) == 10 and b.sequence.index("G") == position - start
    assert truncate_pair(wt, mt, position, 30) == (wt, mt)


def test_atom3d_split_errors(roots: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no ATOM3D split"):
        read_labels(Atom3DLabels(task="psr", root=str(tmp_path)))
    table = read_labels(Atom3DLabels(task="psr", root=str(roots["psr"])))
    bad = _config({"type": "atom3d", "task": "psr", "root": str(roots["psr"])}, splits={"train": "x.txt"})
    with pytest.raises(DatasetError, match="own split folders"):
        prepare_labelled_data(bad, table, needs_structures=True, encode_3di=False, cache_dir=None, seed=0)
