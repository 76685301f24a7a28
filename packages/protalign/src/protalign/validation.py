"""Validation of ProtCLIP on held-out protein–text pairs: each loss (the weighted total and every objective) and
cross-modal retrieval R@1 / MRR in both directions (:func:`protalign.retrieval.cross_modal_retrieval`).

Pairs are held out by protein id (:func:`protdata.holdout.split_ids`; :func:`subset_pairs` keeps a side): every
pair of a held-out protein is held out. :class:`PairValidation` evaluates them in fixed batches (sorted by length,
not shuffled) whose masks are drawn from ``(seed, EVAL_K + b)`` (:data:`protdata.evaluation.EVAL_K`), the same at
every evaluation. A loss is a per-batch mean (ProtCLIP's, ``diaoshaoyou/ProtCLIP``): the validation loss is the
mean over pairs of the batch losses (numerator ``loss × pairs``, summed over batches and ranks). Retrieval ranks all
held-out pairs at once: the embeddings of every rank are gathered, the texts' duplicates grouped as in
:mod:`protalign.retrieval`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from protalign.config import ProtCLIPConfig
from protalign.pair_files import PairTable, StringTable

__all__ = ["PairValidation", "hold_out_pairs", "subset_pairs"]


def subset_pairs(pairs: PairTable, indices: np.ndarray) -> PairTable:
    """The pairs ``indices`` of ``pairs`` (in that order), with the same source reports."""
    idx = [int(i) for i in indices]
    return PairTable(
        ids=StringTable([pairs.ids[i] for i in idx]),
        sequences=StringTable([pairs.sequences[i] for i in idx]),
        texts=StringTable([pairs.texts[i] for i in idx]),
        lengths=np.asarray(pairs.lengths, dtype=np.int64)[np.asarray(idx, dtype=np.int64)],
        sources=pairs.sources,
        sampled=pairs.sampled,
    )


class PairValidation:
    """``validation(forward, device, rank, world_size) -> {"val_loss", "val_clip", …, "val_protein_to_text_R@1",
    "val_text_to_protein_R@1", …MRR}`` over the held-out ``pairs`` (module docstring).

    Args:
        pairs: The held-out pairs.
        config: The model's config (the protein length cut, masks).
        tokenizer: The text encoder's tokenizer.
        seed: The run's seed.
        batch_size, max_tokens: As in training.
        ks: Recall@k cut-offs.
        prefix: Of the returned names.
    """

    def __init__(
        self,
        pairs: PairTable,
        config: ProtCLIPConfig,
        tokenizer: Any,
        seed: int,
        *,
        batch_size: int,
        max_tokens: int | None = None,
        ks: Sequence[int] = (1,),
        prefix: str = "val_",
    ) -> None:
        from protalign.pair_loading import PairCollate, PairDataset
        from protdata.batching import MicroBatchPlan

        self.pairs, self.ks, self.prefix = pairs, tuple(ks), prefix
        self.dataset, self.collate = PairDataset(pairs), PairCollate(config, tokenizer, seed)
        lengths = np.minimum(pairs.lengths, config.max_protein_length)
        self.plan = MicroBatchPlan(lengths, batch_size, max_tokens, max(len(pairs), 1), seed, shuffle=False)

    def __len__(self) -> int:
        return len(self.pairs)

    def __call__(
        self, forward: Callable[..., Any], device: Any = "cpu", rank: int = 0, world_size: int = 1
    ) -> dict[str, float]:
        from protalign.retrieval import cross_modal_retrieval
        from protdata.evaluation import EVAL_K, MetricSums, gather_objects, rank_share

        sums = MetricSums()
        embedded: list[
            tuple[np.ndarray, np.ndarray, np.ndarray]
        ] = []  # (indices, protein, text) of this rank
        for b, indices, counts in rank_share(self.plan.epoch(0), rank, world_size):
            micro = self.collate([self.dataset[(EVAL_K + b, int(i))] for i in indices])
            output = forward(micro.batch.to(device))
            if not counts:
                continue
            n = float(len(indices))
            parts = {"loss": output.loss, **{k: v for k, v in output.losses.items() if k != "proto"}}
            sums.add({k: (float(v.detach()) * n, n) for k, v in parts.items()})
            embedded.append(
                (
                    indices,
                    output.protein.detach().float().cpu().numpy(),
                    output.text.detach().float().cpu().numpy(),
                )
            )
        values = sums.reduced(world_size).means(self.prefix)
        gathered = [part for parts in gather_objects(embedded, world_size) for part in parts]
        dim = gathered[0][1].shape[1]
        protein = np.zeros((len(self.pairs), dim), dtype=np.float64)  # (P, D)
        text = np.zeros((len(self.pairs), dim), dtype=np.float64)  # (P, D)
        for indices, p, t in gathered:
            protein[indices], text[indices] = p, t
        retrieval = cross_modal_retrieval(
            torch.from_numpy(protein), torch.from_numpy(text), list(self.pairs.texts), self.ks
        )
        for direction, result in retrieval.items():
            values.update(result.as_dict(f"{self.prefix}{direction}_"))
        return values


def hold_out_pairs(
    pairs: PairTable,
    held_out: np.ndarray,
    train: np.ndarray,
    config: ProtCLIPConfig,
    tokenizer: Any,
    seed: int,
    **batching: Any,
) -> tuple[PairTable, PairValidation]:
    """``(the training pairs train, the PairValidation of the pairs held_out)`` (``batching``: ``batch_size``,
    ``max_tokens``)."""
    return subset_pairs(pairs, train), PairValidation(
        subset_pairs(pairs, held_out), config, tokenizer, seed, **batching
    )
