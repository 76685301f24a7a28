"""apps/engine/data.py: the pretraining app's training data — the structure cache of ``data.sources`` or a
preprocessed ``data.dataset``, through one code path (the library parts are tested in protdata's tests:
test_packed, test_structure_cache, test_batching, test_loading, test_dataset_*)."""

from __future__ import annotations

import hashlib
import signal
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

APPS = Path(__file__).resolve().parents[1] / "apps"
if str(APPS) not in sys.path:
    sys.path.insert(0, str(APPS))

from engine.config import DataConfig  # noqa: E402
from engine.data import data_fingerprint, prepare_training_data  # noqa: E402
from engine.errors import DataError  # noqa: E402

import protdata.structure_cache as structure_cache  # noqa: E402
from protdata import ProteinBatch  # noqa: E402
from protdata.loading import item_seed  # noqa: E402
from protdata.transforms import TruncateProtein  # noqa: E402

DEMO = APPS / "data" / "demo_structures"
FILES = sorted(DEMO.glob("*.pdb.gz"))


def test_demo_structures_are_shipped_with_a_notice() -> None:
    assert len(FILES) == 50
    notice = (APPS / "data" / "NOTICE").read_text()
    assert "MDAnalysisTests" in notice and "CC0" in notice and "GPL" in notice
    listed = (APPS / "data" / "demo_structures.sha256").read_text().split()
    sums = dict(zip(listed[1::2], listed[0::2]))
    assert sorted(sums) == [f.name for f in FILES]
    assert all(hashlib.sha256(f.read_bytes()).hexdigest() == sums[f.name] for f in FILES)


def test_cached_data_is_never_parsed_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = prepare_training_data(DataConfig(num_workers=0), tmp_path, seed=1, sources=FILES[:3])
    assert not first.cached and len(first.packed) == 3

    def no_parsing(*args: object, **kwargs: object) -> None:
        raise AssertionError("structure files parsed although the cache is valid")

    monkeypatch.setattr(structure_cache, "load_many", no_parsing)
    data = prepare_training_data(DataConfig(num_workers=0), tmp_path, seed=1, sources=FILES[:3])
    assert data.cached and data.report == first.report
    # a DataLoader epoch over the cached data parses nothing either
    loader = data.loader(0, 1, 1, 0, pin_memory=False)
    batches = [mb for _, mb in zip(range(4), loader)]
    assert all(isinstance(mb.batch, ProteinBatch) for mb in batches)


def test_data_errors_name_the_config_key(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"^data\.sources: .*nowhere: no such file or directory$"):
        prepare_training_data(DataConfig(), None, seed=1, sources=[tmp_path / "nowhere"])
    (tmp_path / "x.pdb").write_text("HEADER nothing\nEND\n")
    with pytest.raises(DataError, match=r"^data\.sources: no usable protein in 1 structure files"):
        prepare_training_data(DataConfig(), None, seed=1, sources=[tmp_path / "x.pdb"])


def test_default_crop_depends_only_on_seed_micro_batch_and_protein() -> None:
    data = prepare_training_data(DataConfig(num_workers=0), None, seed=7, sources=FILES[:10])
    k, idx = 13, 4
    _, cropped = data.dataset[(k, idx)]
    truth = TruncateProtein(max_length=100, random=True)(data.packed[idx], item_seed(7, k, idx))
    assert cropped.sequence == truth.sequence and len(cropped) == min(100, len(data.packed[idx]))
    assert len(data.packed[idx]) > 100


def _stop_signal_handler(_: object) -> object:
    return signal.getsignal(signal.SIGTERM)


def test_workers_give_the_same_batches_and_leave_stop_signals_to_the_main_process() -> None:
    data = prepare_training_data(DataConfig(num_workers=0, batch_size=4), None, seed=5, sources=FILES[:12])

    def take(workers: int, start: int) -> list:
        data.num_workers = workers
        loader = data.loader(0, 1, 1, start, pin_memory=False)
        return [
            (mb.index, mb.batch.ids, mb.batch.sequences, mb.batch.coords) for _, mb in zip(range(9), loader)
        ]

    inline, workers = take(0, 2), take(2, 2)
    for a, b in zip(inline, workers):
        assert a[:3] == b[:3]
        torch.testing.assert_close(a[3], b[3], equal_nan=True)
    assert [a[0] for a in inline] == list(range(2, 11))
    data.num_workers = 1
    loader = data.loader(0, 1, 1, 0, pin_memory=False)
    loader.collate_fn = _stop_signal_handler
    assert next(iter(loader)) == signal.SIG_IGN  # engine.stopping: the main process checkpoints, then exits


# ------------------------------------------------------------------------------ data.dataset
@pytest.fixture(scope="module")
def demo_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 8 demo structures preprocessed into a sharded dataset (protdata.dataset.preprocess)."""
    from protdata.dataset import preprocess

    out = tmp_path_factory.mktemp("ds") / "demo8"
    preprocess([str(f) for f in FILES[:8]], out, workers=1, rank=0, world_size=1)
    return out


def _dataset_config(path: Path, **kwargs: object) -> DataConfig:
    return DataConfig(sources=None, dataset=str(path), num_workers=0, batch_size=3, **kwargs)


def test_a_dataset_and_its_source_files_give_the_same_micro_batches(
    demo_dataset: Path, tmp_path: Path
) -> None:
    """One code path: the preprocessed dataset and the structure cache of the same files are the same proteins in
    the same order, so the plan and every rank's micro-batches agree; the dataset's fingerprint is recorded."""
    from protdata import open_dataset

    cached = prepare_training_data(
        DataConfig(num_workers=0, batch_size=3), tmp_path, seed=3, sources=FILES[:8]
    )
    mapped = prepare_training_data(_dataset_config(demo_dataset), None, seed=3, sources=None)
    assert list(mapped.store.ids) == cached.store.ids
    assert mapped.store.lengths.tolist() == cached.store.lengths.tolist()
    assert mapped.num_residues == cached.packed.num_residues
    assert mapped.facts["fingerprint"] == open_dataset(demo_dataset).fingerprint
    assert cached.facts["fingerprint"] == structure_cache.structure_cache_key(FILES[:8], key="data.sources")
    for rank in (0, 1):
        a = [mb for _, mb in zip(range(4), cached.loader(rank, 2, 1, 1, pin_memory=False))]
        b = [mb for _, mb in zip(range(4), mapped.loader(rank, 2, 1, 1, pin_memory=False))]
        for x, y in zip(a, b):
            assert (x.index, x.batch.ids, x.batch.sequences) == (y.index, y.batch.ids, y.batch.sequences)
            torch.testing.assert_close(x.batch.coords, y.batch.coords, equal_nan=True)


def test_planning_a_dataset_reads_lengths_only(demo_dataset: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from protdata.dataset import ShardedDataset

    def no_decoding(self: object, i: int) -> None:
        raise AssertionError("a protein was decoded to plan the micro-batches")

    monkeypatch.setattr(ShardedDataset, "__getitem__", no_decoding)
    data = prepare_training_data(_dataset_config(demo_dataset), None, seed=1, sources=None)
    assert data.plan.micro_batches_per_epoch() == 3  # 8 proteins, at most 3 per micro-batch


def test_min_length_keeps_the_long_proteins_of_a_dataset(demo_dataset: Path) -> None:
    from protdata import open_dataset

    lengths = open_dataset(demo_dataset).lengths
    cut = int(np.median(lengths)) + 1
    data = prepare_training_data(_dataset_config(demo_dataset, min_length=cut), None, seed=1, sources=None)
    kept = [i for i, n in enumerate(lengths.tolist()) if n >= cut]
    assert 0 < len(kept) < len(lengths) and data.store.lengths.tolist() == [int(lengths[i]) for i in kept]
    assert data.report["too_short"] == len(lengths) - len(kept) and data.facts["min_length"] == cut
    assert data.dataset[(0, 0)][1].id == open_dataset(demo_dataset).ids[kept[0]]


def test_dataset_errors_are_one_line_naming_the_key(demo_dataset: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"^data\.dataset: .*nowhere: no such dataset directory$"):
        prepare_training_data(_dataset_config(tmp_path / "nowhere"), None, seed=1, sources=None)
    (tmp_path / "plain").mkdir()
    with pytest.raises(DataError, match=r"^data\.dataset: .*plain.*no manifest: not a sharded dataset"):
        data_fingerprint(_dataset_config(tmp_path / "plain"), None)
    with pytest.raises(DataError, match=r"^data\.dataset: .*demo8: no Foldseek 3Di strings.*--3di$"):
        data_fingerprint(_dataset_config(demo_dataset), None, encode_3di=True)
    with pytest.raises(ValueError, match=r"data\.sources and data\.dataset are both set"):
        DataConfig(dataset=str(demo_dataset))
    with pytest.raises(ValueError, match=r"set data\.sources .* or data\.dataset"):
        DataConfig(sources=None)


def test_worker_processes_read_a_dataset_as_the_main_process_does(demo_dataset: Path) -> None:
    """DataLoader workers get the dataset by pickling (its path: the maps reopen in the worker) and give the
    micro-batches the main process gives."""
    import pickle

    data = prepare_training_data(_dataset_config(demo_dataset), None, seed=5, sources=None)
    assert len(pickle.dumps(data.dataset)) < 4096  # the path and settings, not the arrays

    def take(workers: int) -> list:
        data.num_workers = workers
        return [
            (mb.index, mb.batch.ids, mb.batch.sequences, mb.batch.coords)
            for _, mb in zip(range(5), data.loader(0, 1, 1, 1, pin_memory=False))
        ]

    for a, b in zip(take(0), take(2)):
        assert a[:3] == b[:3]
        torch.testing.assert_close(a[3], b[3], equal_nan=True)
