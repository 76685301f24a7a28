"""protdata.loading: the seeded dataset over PackedProteins, micro-batch collation, each rank's DataLoader."""

from __future__ import annotations

import os

import numpy as np
import torch

from protdata import ProteinBatch, load_chains
from protdata.batching import MicroBatchPlan, RankBatchSampler
from protdata.loading import (
    MicroBatch,
    PackedDataset,
    TrainingData,
    collate_micro_batch,
    item_seed,
    rank_loader,
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
