"""Real learning tests on CPU: protdata's records and sampler + protalign train tiny ProtCLIP models.

1. The 100 Swiss-Prot entries (protdata's flat-file parser) through ProtCLIP's property-driven sampler (47 kept,
   37 distinct texts), all four objectives with the seed's weights, 200 steps: retrieval R@1 on the training
   pairs must rise from chance to at least 5× chance (0.14) in both directions (measured 0.68-0.87, seeds 0-1).
2. DeepFRI EC chains paired with ProtST reaction texts, global contrast only: ProtST-style zero-shot
   classification of the training chains over all 384 reaction classes (texts: ``name comment`` of
   ``reaction_description.tsv``): the median accuracy of three seeds must beat chance (1/384) 20-fold and the
   commonest-class baseline (0.048) 2-fold (measured medians 0.29-0.375 on AMX / AVX2 kernels).
"""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest
import torch
from protalign_tiny import TinyProteinEncoder

from protalign.config import LossWeights, ProtCLIPConfig
from protalign.data import ProtCLIPCollator
from protalign.export import embed_proteins, embed_texts
from protalign.model import ProtCLIP
from protalign.pairs import ProteinTextPairs
from protalign.protst_text import read_ec_text_pairs, read_label_table
from protalign.retrieval import cross_modal_retrieval
from protalign.text_encoder import TextEncoder
from protalign.zero_shot import ZeroShotClassifier
from protdata.protanno import PropertySampler, ProtAnnoRecord
from protdata.testing import shared_data

pytestmark = [pytest.mark.slow, pytest.mark.numerics]

TINY = {"projection_dim": 64, "num_prototypes": 64, "mlm_hidden_dim": 64, "max_protein_length": 128,
        "max_text_length": 128}  # fmt: skip


def _train(
    model: ProtCLIP, pairs: ProteinTextPairs, steps: int, lr: float = 2e-3, seed: int = 0
) -> list[float]:
    collate = ProtCLIPCollator.from_config(model.config, model.text_encoder, seed=seed)
    loader = torch.utils.data.DataLoader(
        pairs, batch_size=16, shuffle=True, drop_last=True, collate_fn=collate,
        generator=torch.Generator().manual_seed(seed),
    )  # fmt: skip
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    model.train()
    losses: list[float] = []
    while len(losses) < steps:
        for batch in loader:
            loss = model(batch).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            if len(losses) == steps:
                break
    return losses


def test_clip_learns_swissprot_pairs(swissprot_records: list[ProtAnnoRecord], tiny_bert_dir: Path) -> None:
    kept = list(PropertySampler().sample(swissprot_records))  # ProtCLIP's sampling, seeded
    pairs = ProteinTextPairs.from_records(kept)
    assert len(pairs) == 47
    torch.manual_seed(0)
    model = ProtCLIP(TinyProteinEncoder(), TextEncoder.from_pretrained(tiny_bert_dir), ProtCLIPConfig(**TINY))

    def retrieval() -> dict:
        protein, text = embed_proteins(model, pairs.proteins), embed_texts(model, pairs.texts)
        return cross_modal_retrieval(protein, text, pairs.texts)

    before = retrieval()
    losses = _train(model, pairs, steps=200)
    after = retrieval()
    for direction in ("protein_to_text", "text_to_protein"):
        chance = after[direction].chance["R@1"]
        assert before[direction].recall[1] < 3 * chance, before[direction].recall
        assert after[direction].recall[1] >= 5 * chance, (direction, after[direction].recall, chance)
        assert after[direction].mrr > before[direction].mrr
    assert sum(losses[-20:]) < sum(losses[:20])


#: Seeds of the zero-shot test: one run's accuracy swings with the CPU's rounding (seed 0: 0.13 with AMX,
#: 0.48 capped at AVX2), so the test asserts the median of three runs.
ZERO_SHOT_SEEDS = (0, 1, 2)


def test_zero_shot_ec_after_training(tiny_bert_dir: Path) -> None:
    folder = shared_data("function", "protst_text")
    description = read_label_table(folder / "reaction_description.tsv")
    ec_to_class = {ec: i for i, ec in enumerate(description.column("EC_number"))}
    chains = read_ec_text_pairs(shared_data("function", "ec_text_pairs_deepfri_test.jsonl"), on_error="skip")
    chains = chains[::16]  # 104 chains
    pairs = ProteinTextPairs.from_records(
        [{"seq": c.protein.sequence, "text": c.text, "id": c.chain} for c in chains]
    )
    assert len(pairs) == len(chains)
    targets = [ec_to_class[c.text_ec] for c in chains]
    clip_only = LossWeights(protein_mlm=0, fragment_mlm=0, local_contrast=0)
    accuracies = []
    for seed in ZERO_SHOT_SEEDS:
        torch.manual_seed(seed)
        model = ProtCLIP(TinyProteinEncoder(), TextEncoder.from_pretrained(tiny_bert_dir),
                         ProtCLIPConfig(**TINY, weights=clip_only))  # fmt: skip
        _train(model, pairs, steps=150, seed=seed)
        classifier = ZeroShotClassifier(model, description.texts(["name", "comment"]))
        accuracies.append(classifier.accuracy([c.protein for c in chains], targets))
    majority = max(targets.count(t) for t in set(targets)) / len(targets)  # always-the-commonest-class: 0.048
    # Measured over seeds 0-5, AMX and AVX2: single runs 0.13-0.51, medians of seeds 0-2 0.29 (AMX) and 0.375
    # (AVX2); untrained ≈ 0. The bound (0.096) is 3-4x below those medians and under every single run measured.
    assert statistics.median(accuracies) >= max(20 / 384, 2 * majority), (accuracies, majority)
