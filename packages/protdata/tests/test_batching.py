"""protdata.batching: per-epoch micro-batch plans (length buckets, token budget) and each rank's share."""

from __future__ import annotations

import numpy as np
import pytest

from protdata.batching import MicroBatchPlan, RankBatchSampler, estimated_length, micro_batch_index
from protdata.errors import DatasetError
from protdata.transforms import Compose, GaussianNoise, SubsequenceCrop, TruncateProtein


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


def test_unshuffled_plan_keeps_file_order() -> None:
    plan = _plan(np.full(20, 50), batch_size=6, bucket_window=1, shuffle=False)
    assert [b.tolist() for b in plan.epoch(0)] == [list(range(i, min(i + 6, 20))) for i in range(0, 20, 6)]


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
    assert micro_batch_index(step=3, accumulation=1, rank=2, world_size=4, accumulation_steps=2) == 30


def test_estimated_length_follows_the_crops() -> None:
    assert estimated_length(500, TruncateProtein(max_length=100)) == 100
    assert estimated_length(80, TruncateProtein(max_length=100)) == 80
    assert estimated_length(500, Compose([GaussianNoise(sigma=0.1), SubsequenceCrop(max_length=50)])) == 50
    assert estimated_length(500, GaussianNoise(sigma=0.1)) == 500


def test_nothing_to_batch_is_an_error() -> None:
    with pytest.raises(DatasetError, match=r"^lengths: no proteins to batch$"):
        MicroBatchPlan(np.zeros(0, dtype=np.int64), batch_size=4)
