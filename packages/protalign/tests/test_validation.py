"""protalign.validation: ProtCLIP's validation losses and cross-modal R@1 over held-out pairs.

Truths: R@1 in both directions computed here with NumPy by brute force over the distinct texts (a protein's best text
must be its own; a text's best protein must be paired with it), the loss as the mean over pairs of per-pair values
written out by hand, and the shares of simulated ranks put together."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from protalign.config import PairDataConfig, ProtCLIPConfig
from protalign.model import ProtCLIPOutput
from protalign.pair_files import PairTable, load_pairs
from protalign.text_encoder import TextEncoder
from protalign.validation import PairValidation, subset_pairs
from protdata.holdout import split_ids
from protdata.testing import shared_data

CONFIG = ProtCLIPConfig(max_protein_length=64, max_text_length=32)
DIM = 8


@pytest.fixture(scope="module")
def pairs() -> PairTable:
    return load_pairs(PairDataConfig(sources=[str(shared_data("function", "uniprot_swissprot_sample.dat"))]))


@pytest.fixture(scope="module")
def tokenizer(tiny_bert_dir: Path):
    return TextEncoder.from_pretrained(tiny_bert_dir).tokenizer


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


class Fake:
    """Embeds a protein by a fixed random vector of its id, a text by one of the text (near its first protein's, so
    that retrieval is neither perfect nor chance); per-pair losses from the sequence length."""

    def __init__(self, pairs: PairTable) -> None:
        rng = np.random.default_rng(0)
        self.protein = {pid: rng.normal(size=DIM) for pid in pairs.ids}
        self.text: dict[str, np.ndarray] = {}
        for pid, text in zip(pairs.ids, pairs.texts):
            self.text.setdefault(text, self.protein[pid] + 1.2 * rng.normal(size=DIM))

    @staticmethod
    def per_pair(length: int) -> tuple[float, float]:
        return length / 100.0, 1.0 / length

    def __call__(self, batch) -> ProtCLIPOutput:
        protein = torch.tensor(_unit(np.stack([self.protein[i] for i in batch.ids])))
        text = torch.tensor(_unit(np.stack([self.text[t] for t in batch.texts])))
        parts = np.array([self.per_pair(n) for n in batch.proteins.lengths.tolist()])  # (B, 2)
        clip, mlm = torch.tensor(parts.mean(0))
        return ProtCLIPOutput(
            clip + 0.3 * mlm, {"clip": clip, "protein_mlm": mlm, "proto": clip * 0}, None, protein, text
        )


def test_subset_pairs_keeps_the_rows(pairs: PairTable) -> None:
    idx = np.array([5, 0, 17])
    sub = subset_pairs(pairs, idx)
    assert len(sub) == 3 and list(sub.ids) == [pairs.ids[5], pairs.ids[0], pairs.ids[17]]
    assert (
        list(sub.texts) == [pairs.texts[i] for i in idx]
        and sub.lengths.tolist() == pairs.lengths[idx].tolist()
    )
    assert sub.protein(1).sequence == pairs.protein(0).sequence


def test_values_against_brute_force(pairs: PairTable, tokenizer) -> None:
    split = split_ids(list(pairs.ids), fraction=0.5)
    held = subset_pairs(pairs, split.held_out)
    fake = Fake(pairs)
    validation = PairValidation(held, CONFIG, tokenizer, seed=3, batch_size=7)
    values = validation(lambda batch, **_: fake(batch))
    # losses: means over pairs (lengths cut to max_protein_length)
    per = np.array([Fake.per_pair(min(int(n), 64)) for n in held.lengths], dtype=np.float64)
    assert values["val_clip"] == pytest.approx(per[:, 0].mean(), rel=1e-6)
    assert values["val_protein_mlm"] == pytest.approx(per[:, 1].mean(), rel=1e-6)
    assert values["val_loss"] == pytest.approx(per[:, 0].mean() + 0.3 * per[:, 1].mean(), rel=1e-6)
    assert "val_proto" not in values
    # R@1 by brute force over the distinct texts
    texts = list(held.texts)
    gallery = list(dict.fromkeys(texts))
    p = _unit(np.stack([fake.protein[i] for i in held.ids]))  # (P, D)
    t = _unit(np.stack([fake.text[x] for x in gallery]))  # (T, D)
    scores = p @ t.T  # (P, T)
    p2t = np.mean([gallery[int(np.argmax(scores[i]))] == texts[i] for i in range(len(texts))])
    t2p = np.mean([texts[int(np.argmax(scores[:, j]))] == gallery[j] for j in range(len(gallery))])
    assert values["val_protein_to_text_R@1"] == pytest.approx(p2t)
    assert values["val_text_to_protein_R@1"] == pytest.approx(t2p)
    assert 0 < p2t < 1 and 0 < t2p < 1  # neither perfect nor nothing: the comparison can fail
    assert {"val_protein_to_text_MRR", "val_text_to_protein_MRR"} <= set(values)
