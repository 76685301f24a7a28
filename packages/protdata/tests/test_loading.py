"""protdata.loading: the seeded dataset over any protein store (PackedProteins, a duck-typed store), micro-batch
collation, each rank's DataLoader."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from protdata import ProteinBatch, load_chains
from protdata.batching import MicroBatchPlan, RankBatchSampler, estimated_length, estimated_lengths
from protdata.errors import DatasetError
from protdata.loading import (
    MicroBatch,
    PackedDataset,
    ProteinDataset,
    ProteinStore,
    ProteinSubset,
    TrainingData,
    collate_micro_batch,
    item_seed,
    prepare_training_data,
    rank_loader,
    training_data_fingerprint,
)
from protdata.packed import PackedProteins
from protdata.testing import shared_data
from protdata.transforms import TruncateProtein


def _packed(n: int) -> PackedProteins:
    files = sorted(shared_data("structures", "experimental_mdanalysis_dssp").glob("*.pdb.gz"))[:n]
    return PackedProteins.from_proteins([p for f in files for p in load_chains(f)])


def test_crops_depend_only_on_seed_micro_batch_and_protein() -> None:
    packed = _packed(10)
    crop = TruncateProtein(max_length=100, random=True)
    dataset = PackedDataset(packed, crop, seed=7)
    k, idx = 13, 4
    assert len(packed[idx]) > 100
    got_k, cropped = dataset[(k, idx)]
    truth = crop(packed[idx], np.random.default_rng([7, 13, 4]))
    assert got_k == k and cropped.sequence == truth.sequence and len(cropped) == 100
    assert item_seed(7, k, idx).random() == np.random.default_rng([7, k, idx]).random()
    assert dataset[(k, idx)][1].sequence == cropped.sequence
    starts = {dataset[(j, idx)][1].residue_number[0] for j in range(40)}
    assert len(starts) > 10  # other micro-batches, other windows
    assert PackedDataset(packed, None, seed=7)[(k, idx)][1].sequence == packed[idx].sequence


def _marker() -> None:
    os.environ["PROTDATA_TEST_WORKER"] = str(torch.get_num_threads())


def _collate_with_marker(items: list) -> tuple[MicroBatch, str | None]:
    return collate_micro_batch(items), os.environ.get("PROTDATA_TEST_WORKER")


def test_worker_processes_give_the_same_batches() -> None:
    packed = _packed(12)
    dataset = PackedDataset(packed, TruncateProtein(max_length=100, random=True), seed=5)
    plan = MicroBatchPlan(packed.lengths, batch_size=4, seed=5)

    def take(workers: int, start: int) -> list:
        sampler = RankBatchSampler(plan, 0, 1, 1, start)
        loader = rank_loader(dataset, sampler, _collate_with_marker, workers, 2, False, _marker)
        return [
            (mb.index, mb.batch.ids, mb.batch.sequences, mb.batch.coords, m)
            for _, (mb, m) in zip(range(9), loader)
        ]

    inline, workers = take(0, 2), take(2, 2)
    for a, b in zip(inline, workers):
        assert a[:3] == b[:3]
        torch.testing.assert_close(a[3], b[3], equal_nan=True)
    assert [a[0] for a in inline] == list(range(2, 11))
    assert all(a[4] is None for a in inline)  # no worker: worker_init does not run in the main process
    assert all(b[4] == "1" for b in workers)  # each worker ran worker_init, on one torch thread


def test_collate_keeps_the_micro_batch_index() -> None:
    packed = _packed(2)
    mb = collate_micro_batch([(9, packed[0]), (9, packed[1])])
    assert mb.index == 9 and isinstance(mb.batch, ProteinBatch) and mb.batch.ids == packed.ids
    assert mb.targets is None


def test_training_data_loaders_split_the_global_batches_over_ranks() -> None:
    packed = _packed(12)
    plan = MicroBatchPlan(packed.lengths, batch_size=3, seed=2)
    data = TrainingData(packed, PackedDataset(packed, None, seed=2), plan)
    ranks = [[mb for _, mb in zip(range(6), data.loader(r, 2, 1, 0, pin_memory=False))] for r in range(2)]
    # rank r takes global micro-batches k = 2·step + r, each the plan's k-th batch of packed proteins
    for r, batches in enumerate(ranks):
        for step, mb in enumerate(batches):
            k = 2 * step + r
            assert mb.index == k
            assert mb.batch.ids == [packed.ids[i] for i in plan.locate(k)[1]]


class _ListStore:
    """A protein store that is not PackedProteins: a list of proteins with ``lengths``; counts decoded proteins."""

    def __init__(self, proteins: list) -> None:
        self.proteins = proteins
        self.decoded = 0

    def __len__(self) -> int:
        return len(self.proteins)

    def __getitem__(self, i: int):
        self.decoded += 1
        return self.proteins[i]

    @property
    def lengths(self) -> np.ndarray:
        return np.array([len(p) for p in self.proteins], dtype=np.int64)


def test_any_protein_store_gives_the_batches_of_packed_proteins() -> None:
    """The dataset, plan and loaders read a duck-typed store exactly as they read PackedProteins."""
    packed = _packed(12)
    store = _ListStore([packed[i] for i in range(len(packed))])
    assert isinstance(store, ProteinStore) and isinstance(packed, ProteinStore)
    crop = TruncateProtein(max_length=100, random=True)

    def batches(source: object) -> list:
        plan = MicroBatchPlan(estimated_lengths(source.lengths, crop), batch_size=3, seed=4)
        data = TrainingData(source, ProteinDataset(source, crop, seed=4), plan)
        return [mb for _, mb in zip(range(5), data.loader(1, 2, 1, 1, pin_memory=False))]

    planned = MicroBatchPlan(estimated_lengths(store.lengths, crop), batch_size=3, seed=4)
    assert store.decoded == 0  # planning reads lengths only
    for a, b in zip(batches(packed), batches(store)):
        assert a.index == b.index and a.batch.ids == b.batch.ids and a.batch.sequences == b.batch.sequences
        torch.testing.assert_close(a.batch.coords, b.batch.coords, equal_nan=True)
    assert store.decoded == sum(len(planned.locate(k)[1]) for k in (3, 5, 7, 9, 11))  # one decode per item
    data = TrainingData(store, ProteinDataset(store, None, seed=0), planned)
    assert data.num_residues == packed.num_residues and data.packed is store


def test_estimated_lengths_are_the_crops_of_every_protein() -> None:
    lengths = np.array([5, 100, 101, 350, 1], dtype=np.int64)
    crop = TruncateProtein(max_length=100, random=True)
    for transform in (crop, None):
        got = estimated_lengths(lengths, transform)
        assert got.dtype == np.int64
        assert got.tolist() == [estimated_length(int(n), transform) for n in lengths]
    assert estimated_lengths(lengths, crop).tolist() == [5, 100, 100, 100, 1]


def test_subset_reads_only_its_proteins_of_the_store() -> None:
    packed = _packed(6)
    keep = np.array([4, 1, 5])
    subset = ProteinSubset(packed, keep)
    assert len(subset) == 3 and isinstance(subset, ProteinStore)
    assert subset.lengths.tolist() == [len(packed[4]), len(packed[1]), len(packed[5])]
    assert subset.ids == [packed.ids[4], packed.ids[1], packed.ids[5]]
    assert subset[0].sequence == packed[4].sequence and subset[-1].id == packed.ids[5]
    dataset = ProteinDataset(subset, None, seed=3)
    assert dataset[(7, 1)][1].id == packed.ids[1] and dataset.packed is subset
    with pytest.raises(IndexError):
        subset[3]


def test_prepare_training_data_from_sources_and_its_errors(tmp_path) -> None:
    files = sorted(shared_data("structures", "experimental_mdanalysis_dssp").glob("*.pdb.gz"))[:3]
    direct = [p for f in files for p in load_chains(f)]  # the reference: every chain parsed directly
    options = {"min_length": 1, "batch_size": 2, "max_tokens": None, "bucket_window": 4}
    data = prepare_training_data(seed=3, sources=files, cache_dir=tmp_path, **options)
    assert not data.cached and len(data.store) == len(direct)
    np.testing.assert_array_equal(data.store.lengths, [len(p) for p in direct])
    fingerprint = training_data_fingerprint(sources=files)
    assert data.facts == {"fingerprint": fingerprint, **options}
    again = prepare_training_data(seed=3, sources=files, cache_dir=tmp_path, **options)
    assert again.cached and again.facts == data.facts
    # the plan covers every protein once per epoch
    plan_items = sorted(int(i) for batch in data.plan.epoch(0) for i in batch)
    assert plan_items == list(range(len(direct)))
    with pytest.raises(DatasetError, match=r"nowhere: no such dataset directory$"):
        prepare_training_data(seed=1, dataset=tmp_path / "nowhere")
    with pytest.raises(DatasetError, match=r"^data\.sources: "):
        training_data_fingerprint(sources=[tmp_path / "missing.pdb"], key="data.sources")
