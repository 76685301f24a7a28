"""apps/engine/data.py: the pretraining app's training data (the library parts are tested in protdata's tests:
test_packed, test_structure_cache, test_batching, test_loading)."""

from __future__ import annotations

import hashlib
import signal
import sys
from pathlib import Path

import pytest
import torch

APPS = Path(__file__).resolve().parents[1] / "apps"
if str(APPS) not in sys.path:
    sys.path.insert(0, str(APPS))

from engine.config import DataConfig  # noqa: E402
from engine.data import prepare_training_data  # noqa: E402
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
