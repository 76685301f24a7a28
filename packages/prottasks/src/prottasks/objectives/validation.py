"""Validation of a pretraining objective on held-out proteins: the loss and the objective's metric over all of them.

An objective returns per-batch means (:class:`~prottasks.objectives.base.ObjectiveOutput`); :func:`objective_sums`
turns each into ``(numerator, denominator)`` by the number of predictions it averaged over, so that a validation
value is the mean over every prediction of the held-out set (the sums are added over batches and ranks,
:class:`protdata.evaluation.MetricSums`):

* residue type prediction (ESM-GearNet / TorchDrug ``AttributeMasking``), distance / angle / dihedral prediction —
  the sampled residues or edges (``details["target"]``): accuracy = correct / sampled (the counts are exact);
* MLM (ESM-2, SaProt) — the selected tokens (``labels != -100``): accuracy = correct / selected tokens, and the
  perplexity is ``exp`` of the validation loss (not a mean of per-batch perplexities);
* multiview contrast, SiamDiff — per protein (the batch's proteins).

:class:`ObjectiveValidation` evaluates held-out proteins in fixed batches (sorted by length, no shuffling) with the
crops and masks of ``(seed, EVAL_K + b)`` (:data:`protdata.evaluation.EVAL_K`): every evaluation of a run sees the
same inputs, whatever the number of processes, so its values compare from one evaluation to the next.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

from prottasks.objectives.base import ObjectiveOutput
from prottasks.objectives.mlm import IGNORE_INDEX

if TYPE_CHECKING:
    from protdata.evaluation import MetricSums

__all__ = ["ObjectiveValidation", "hold_out_proteins", "objective_sums"]

#: Metrics that are counts, not means: not averaged.
_COUNTS = frozenset({"num_selected"})


def prediction_count(output: ObjectiveOutput, num_proteins: int) -> tuple[float, bool]:
    """``(how many predictions the output's means are over, whether that is a count of predictions)``."""
    details = output.details
    if "labels" in details:  # MLM
        return float((details["labels"] != IGNORE_INDEX).sum()), True
    if "target" in details:  # residue type, distance, angle, dihedral: (K,) sampled residues / edges
        return float(details["target"].shape[0]), True
    return float(num_proteins), False


def objective_sums(output: ObjectiveOutput, num_proteins: int) -> dict[str, tuple[float, float]]:
    """``metric -> (numerator, denominator)`` of one batch's output (module docstring); an accuracy over counted
    predictions has an integer numerator (the number correct)."""
    weight, counted = prediction_count(output, num_proteins)
    sums: dict[str, tuple[float, float]] = {}
    for name, value in output.metrics.items():
        if name in _COUNTS or (weight == 0 and name != "loss"):
            continue
        num = float(value) * weight
        sums[name] = (float(round(num)) if counted and name == "accuracy" else num, weight)
    return sums


class ObjectiveValidation:
    """``validation(forward, device, rank, world_size) -> {"val_loss": …, "val_accuracy": …}`` over ``store``.

    Args:
        store: The held-out proteins (a protein store: ``len``, ``store[i]``, ``lengths``).
        transform: The training transform (e.g. the crop), applied with the evaluation seeds.
        batch_size, max_tokens: As in training.
        seed: The run's seed.
        prefix: Of the returned names.
    """

    def __init__(
        self,
        store: Any,
        transform: Callable[..., Any] | None,
        *,
        batch_size: int,
        max_tokens: int | None,
        seed: int,
        prefix: str = "val_",
    ) -> None:
        from protdata.batching import MicroBatchPlan, estimated_lengths
        from protdata.loading import ProteinDataset

        self.store, self.seed, self.prefix = store, seed, prefix
        self.dataset = ProteinDataset(store, transform, seed)
        lengths = estimated_lengths(store.lengths, transform)  # (P,) after the crop
        self.plan = MicroBatchPlan(lengths, batch_size, max_tokens, max(len(store), 1), seed, shuffle=False)

    def __len__(self) -> int:
        return len(self.store)

    def __call__(
        self, forward: Callable[..., Any], device: Any = "cpu", rank: int = 0, world_size: int = 1
    ) -> dict[str, float]:
        """The values over every held-out protein (each rank evaluates its share; the same on every rank)."""
        values = self.local_sums(forward, device, rank, world_size).reduced(world_size).means(self.prefix)
        if self.prefix + "perplexity" in values:
            values[self.prefix + "perplexity"] = math.exp(values[self.prefix + "loss"])
        return values

    def local_sums(self, forward: Callable[..., Any], device: Any, rank: int, world_size: int) -> MetricSums:
        """This rank's :class:`~protdata.evaluation.MetricSums` (``forward(batch, generator=…)`` per batch)."""
        from protdata.evaluation import EVAL_K, MetricSums, rank_share
        from protdata.loading import collate_micro_batch
        from protdata.seeding import seed_micro_batch

        sums = MetricSums()
        for b, indices, counts in rank_share(self.plan.epoch(0), rank, world_size):
            micro = collate_micro_batch([self.dataset[(EVAL_K + b, int(i))] for i in indices])
            batch = micro.batch.to(device)
            generator = seed_micro_batch(self.seed, EVAL_K + b, torch.device(device))
            output = forward(batch, generator=generator)
            if counts:
                sums.add(objective_sums(output, len(batch)))
        return sums


def hold_out_proteins(data: Any, held_out: Any, train: Any, seed: int) -> tuple[Any, ObjectiveValidation]:
    """Split :class:`protdata.loading.TrainingData` by index arrays (e.g. a :class:`protdata.holdout.HoldOut`'s):
    ``(the training data of the proteins train only — their plan re-cut from the same lengths, batching and
    seed —, the ObjectiveValidation of the held-out proteins)``."""
    import dataclasses

    from protdata.batching import MicroBatchPlan
    from protdata.loading import ProteinDataset, ProteinSubset

    store, plan, transform = ProteinSubset(data.store, train), data.plan, data.dataset.transform
    validation = ObjectiveValidation(
        ProteinSubset(data.store, held_out),
        transform,
        batch_size=plan.batch_size,
        max_tokens=plan.max_tokens,
        seed=seed,
    )
    lengths = plan.lengths[train]  # (P_train,) after the crop
    plan = MicroBatchPlan(lengths, plan.batch_size, plan.max_tokens, plan.bucket_window, plan.seed)
    return dataclasses.replace(
        data, store=store, dataset=ProteinDataset(store, transform, seed), plan=plan
    ), validation
