"""apps/engine/data.py: the preprocessed structure cache, micro-batch plans, per-rank streams, the DataLoader."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

APPS = Path(__file__).resolve().parents[1] / "apps"
if str(APPS) not in sys.path:
    sys.path.insert(0, str(APPS))

import engine.cache as engine_cache  # noqa: E402
from engine.config import DataConfig  # noqa: E402
from engine.data import (  # noqa: E402
    MicroBatchPlan,
    PackedProteins,
    RankBatchSampler,
    build_structure_cache,
    collate_micro_batch,
    item_seed,
    prepare_training_data,
)
from engine.errors import DataError  # noqa: E402

from protdata import ProteinBatch, load_chains  # noqa: E402
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
    import hashlib

    assert all(hashlib.sha256(f.read_bytes()).hexdigest() == sums[f.name] for f in FILES)


def test_cache_round_trip_equals_the_loader(tmp_path: Path) -> None:
    files = FILES[:6]
    packed, report, cached = build_structure_cache(files, tmp_path)
    assert not cached and report["files"] == 6 and "loaded 6 proteins" in report["summary"]
    again, _, cached = build_structure_cache(files, tmp_path)
    assert cached
    for i, f in enumerate(files):
        (truth,) = load_chains(f)  # the loader itself is the reference
        for p in (packed.protein(i), again.protein(i)):
            assert p.id == truth.id and p.sequence == truth.sequence and p.chain_ids == truth.chain_ids
            np.testing.assert_array_equal(p.coords, truth.coords)
            np.testing.assert_array_equal(p.atom_mask, truth.atom_mask)
            np.testing.assert_array_equal(p.residue_number, truth.residue_number)
            np.testing.assert_array_equal(p.insertion_code, truth.insertion_code)
            np.testing.assert_array_equal(p.chain_index, truth.chain_index)
            assert p.plddt is None and truth.plddt is None


def test_cached_data_is_never_parsed_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    build_structure_cache(FILES[:3], tmp_path)

    def no_parsing(*args: object, **kwargs: object) -> None:
        raise AssertionError("structure files parsed although the cache is valid")

    monkeypatch.setattr(engine_cache, "load_many", no_parsing)
    packed, _, cached = build_structure_cache(FILES[:3], tmp_path)
    assert cached and len(packed) == 3
    # a DataLoader epoch over the cached data parses nothing either
    data = prepare_training_data(DataConfig(num_workers=0), tmp_path, seed=1, sources=FILES[:3])
    loader = data.loader(0, 1, 1, 0, pin_memory=False)
    batches = [mb for _, mb in zip(range(4), loader)]
    assert all(isinstance(mb.batch, ProteinBatch) for mb in batches)


def test_changed_file_invalidates_the_cache(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for f in FILES[:2]:
        shutil.copy(f, src / f.name)
    build_structure_cache([src], tmp_path / "cache")
    shutil.copy(FILES[2], src / FILES[0].name)  # same name, other content
    st = (src / FILES[0].name).stat()
    os.utime(src / FILES[0].name, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    packed, _, cached = build_structure_cache([src], tmp_path / "cache")
    assert not cached
    assert packed.protein(0).sequence == load_chains(FILES[2])[0].sequence


def test_bad_files_are_skipped_and_reported(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(FILES[0], src / FILES[0].name)
    (src / "broken.pdb").write_text("ATOM      1  N   ALA A   1    garbage\n")
    packed, report, _ = build_structure_cache([src], None)
    assert len(packed) == 1
    assert [s[0] for s in report["skipped"]] == [str(src / "broken.pdb")]
    assert "skipped 1" in report["summary"]


def test_data_errors_name_the_source(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"data\.sources: .*nowhere: no such file or directory"):
        build_structure_cache([tmp_path / "nowhere"], None)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no structures here")
    with pytest.raises(DataError, match=r"no structure files in .*empty \(1 non-structure files ignored\)"):
        build_structure_cache([empty], None)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.pdb").write_text("HEADER nothing\nEND\n")
    with pytest.raises(DataError, match=r"no usable protein in 1 structure files.*first failure: .*x\.pdb"):
        build_structure_cache([bad], None)


def _plan(lengths: np.ndarray, **kw: object) -> MicroBatchPlan:
    return MicroBatchPlan(
        lengths, **{"batch_size": 8, "max_tokens": None, "bucket_window": 64, "seed": 3, **kw}
    )


def test_every_epoch_uses_every_protein_once_within_budgets() -> None:
    rng = np.random.default_rng(0)
    lengths = rng.integers(20, 400, size=333)
    plan = _plan(lengths, max_tokens=1200)
    for e in range(3):
        batches = plan.epoch(e)
        flat = np.concatenate(batches)
        assert sorted(flat.tolist()) == list(range(333))
        for b in batches:
            assert len(b) <= 8
            assert len(b) * lengths[b].max() <= 1200 or len(b) == 1
    assert not all(np.array_equal(a, b) for a, b in zip(plan.epoch(0), plan.epoch(1)))
    again = _plan(lengths, max_tokens=1200)
    assert all(np.array_equal(a, b) for a, b in zip(plan.epoch(2), again.epoch(2)))


def test_length_bucketing_reduces_padding() -> None:
    lengths = np.random.default_rng(1).integers(30, 1000, size=2000)

    def padding(plan: MicroBatchPlan) -> float:
        batches = plan.epoch(0)
        real = sum(int(lengths[b].sum()) for b in batches)
        padded = sum(len(b) * int(lengths[b].max()) for b in batches)
        return 1 - real / padded

    bucketed, unbucketed = (
        padding(_plan(lengths, bucket_window=400)),
        padding(_plan(lengths, bucket_window=1)),
    )
    assert bucketed < 0.05 < 0.3 < unbucketed


def test_global_batches_do_not_depend_on_the_split() -> None:
    """W ranks × G accumulation steps consume the same micro-batches per optimizer step for any W·G."""
    plan = _plan(np.random.default_rng(2).integers(20, 200, size=50), batch_size=4)

    def per_step(world: int, accumulation: int, steps: int, start: int = 0) -> list[list[tuple]]:
        streams = [iter(RankBatchSampler(plan, r, world, accumulation, start)) for r in range(world)]
        out = []
        for _ in range(steps):
            step = []
            for _ in range(accumulation):
                for s in streams:
                    step.append(tuple(next(s)))
            out.append(sorted(step))
        return out

    single = per_step(1, 4, 12)
    assert per_step(2, 2, 12) == single
    assert per_step(4, 1, 12) == single
    assert per_step(2, 2, 7, start=5) == single[5:]  # resuming at step 5 continues exactly
    epochs_seen = {plan.locate(k)[0] for k in range(48)}
    assert len(epochs_seen) > 1  # the stream crosses epoch boundaries


def test_crops_depend_only_on_seed_micro_batch_and_protein() -> None:
    data = prepare_training_data(DataConfig(num_workers=0), None, seed=7, sources=FILES[:10])
    k, idx = 13, 4
    _, cropped = data.dataset[(k, idx)]
    truth = TruncateProtein(max_length=100, random=True)(data.packed.protein(idx), item_seed(7, k, idx))
    assert cropped.sequence == truth.sequence and len(cropped) == min(100, len(data.packed.protein(idx)))
    assert data.dataset[(k, idx)][1].sequence == cropped.sequence
    assert len(data.packed.protein(idx)) > 100
    starts = {data.dataset[(j, idx)][1].residue_number[0] for j in range(40)}
    assert len(starts) > 10  # other micro-batches, other windows


def test_worker_processes_give_the_same_batches() -> None:
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


def test_collate_keeps_the_micro_batch_index() -> None:
    packed = PackedProteins.from_proteins([p for f in FILES[:2] for p in load_chains(f)])
    mb = collate_micro_batch([(9, packed.protein(0)), (9, packed.protein(1))])
    assert mb.index == 9 and mb.batch.ids == packed.ids


def test_parallel_parsing_gives_the_same_cache() -> None:
    serial, report1, _ = build_structure_cache([DEMO], None, parse_workers=1)
    parallel, report2, _ = build_structure_cache([DEMO], None, parse_workers=2)
    assert parallel.ids == serial.ids and parallel.sources == serial.sources
    np.testing.assert_array_equal(parallel.offsets, serial.offsets)
    np.testing.assert_array_equal(parallel.coords, serial.coords)
    assert report1["summary"] == report2["summary"]
