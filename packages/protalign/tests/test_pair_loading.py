"""protalign.pair_loading: the pairs of a PairTable as deterministic ProtCLIP micro-batches. Truths: the plan's own
protein indices for micro-batch ``k`` (protdata.batching), the collator called here with a generator seeded by
``(seed, k, MASK_STREAM)``, and the same micro-batches with 0 and 2 DataLoader workers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from protalign.config import PairDataConfig, ProtCLIPConfig
from protalign.data import ProtCLIPCollator
from protalign.pair_files import PairTable, load_pairs
from protalign.pair_loading import MASK_STREAM, prepare_pair_data
from protalign.text_encoder import TextEncoder
from protdata.testing import shared_data

CONFIG = ProtCLIPConfig(max_protein_length=64, max_text_length=32)


@pytest.fixture(scope="module")
def pairs() -> PairTable:
    return load_pairs(PairDataConfig(sources=[str(shared_data("function", "uniprot_swissprot_sample.dat"))]))


@pytest.fixture(scope="module")
def tokenizer(tiny_bert_dir: Path):
    return TextEncoder.from_pretrained(tiny_bert_dir).tokenizer


def _first(data, rank: int = 0, world: int = 1, start: int = 0, n: int = 3) -> list:
    loader = data.loader(rank, world, 1, start, pin_memory=False)
    out = []
    for micro in loader:
        out.append(micro)
        if len(out) == n:
            return out
    return out


def test_micro_batches_follow_the_plan_and_seeded_masks(pairs: PairTable, tokenizer) -> None:
    data = prepare_pair_data(pairs, CONFIG, tokenizer, seed=7, batch_size=8, num_workers=0)
    assert data.plan.micro_batches_per_epoch() == 13  # ceil(100 / 8)
    for micro in _first(data, n=4):
        _, indices = data.plan.locate(micro.index)
        batch = micro.batch
        assert batch.ids == [pairs.ids[int(i)] for i in indices] and batch.texts == [
            pairs.texts[int(i)] for i in indices
        ]
        lengths = [min(int(pairs.lengths[int(i)]), CONFIG.max_protein_length) for i in indices]
        assert batch.num_residues == sum(lengths) and batch.proteins.lengths.tolist() == lengths
        expected = ProtCLIPCollator.from_config(CONFIG, tokenizer)(
            [(pairs.protein(int(i)), pairs.texts[int(i)]) for i in indices],
            rng=np.random.default_rng([7, micro.index, MASK_STREAM]),
        )
        assert torch.equal(batch.mlm_mask, expected.mlm_mask)
        assert torch.equal(batch.fragment_mask, expected.fragment_mask)
        assert torch.equal(batch.text.input_ids, expected.text.input_ids)


def test_resume_and_workers_give_the_same_micro_batches(pairs: PairTable, tokenizer, tmp_path: Path) -> None:
    marker = tmp_path / "worker_init_ran"
    data = prepare_pair_data(pairs, CONFIG, tokenizer, seed=3, batch_size=16, max_tokens=512, num_workers=0)
    assert all(int(CONFIG.max_protein_length) * len(b) <= 512 for b in data.plan.epoch(0))
    first = _first(data, n=4)
    resumed = _first(data, start=2, n=2)  # from optimizer step 2 on (one micro-batch per step)
    assert [m.index for m in resumed] == [m.index for m in first[2:]]
    workers = prepare_pair_data(
        pairs,
        CONFIG,
        tokenizer,
        seed=3,
        batch_size=16,
        max_tokens=512,
        num_workers=2,
        worker_init=marker.touch,
    )
    for a, b in zip(first, _first(workers, n=4), strict=True):
        assert a.index == b.index and a.batch.ids == b.batch.ids
        assert torch.equal(a.batch.mlm_mask, b.batch.mlm_mask)
        assert torch.equal(a.batch.fragment_mask, b.batch.fragment_mask)
    assert marker.exists()  # worker_init ran in the workers


def test_ranks_split_the_micro_batches(pairs: PairTable, tokenizer) -> None:
    data = prepare_pair_data(pairs, CONFIG, tokenizer, seed=0, batch_size=10, num_workers=0)
    ranks = [[m.index for m in _first(data, rank=r, world=2, n=3)] for r in (0, 1)]
    assert ranks == [[0, 2, 4], [1, 3, 5]]  # k = step · W + rank
