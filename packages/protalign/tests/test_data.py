"""The ProtCLIP collator: proteins, tokenised texts, the four property sub-texts, MLM and fragment masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from protalign.config import LossWeights, ProtCLIPConfig
from protalign.data import ProtCLIPCollator
from protalign.pairs import ProteinTextPairs
from protalign.text_encoder import TextEncoder
from protdata import Protein
from protdata.errors import RecordError
from protdata.protanno import ProtAnnoRecord


@pytest.fixture(scope="module")
def encoder(tiny_bert_dir: Path) -> TextEncoder:
    return TextEncoder.from_pretrained(tiny_bert_dir)


def test_collator_batch(swissprot_records: list[ProtAnnoRecord], encoder: TextEncoder) -> None:
    records = swissprot_records[:6]
    collate = ProtCLIPCollator(encoder, max_protein_length=200, max_text_length=128, seed=0)
    batch = collate(ProteinTextPairs.from_records(records).pairs)
    assert batch.proteins.lengths.tolist() == [min(len(r.seq), 200) for r in records]
    assert batch.texts == [r.text for r in records]
    direct = encoder.tokenizer([r.text for r in records], padding=True, truncation=True, max_length=128)
    assert batch.text.input_ids.tolist() == direct["input_ids"]
    # sub-text rows 4b+k hold property k of record b, as protdata parsed it from the flat file
    assert len(batch.subtexts) == 4 * len(records)
    for b, record in enumerate(records):
        props = ["PROTEIN NAME: " + record.protein_name + ".", record.function, record.subcellular_location,
                 record.similarity]  # fmt: skip
        for k, (prop, marker) in enumerate(
            zip(props, ["", "FUNCTION:", "SUBCELLULAR LOCATION:", "SIMILARITY:"])
        ):
            expected = encoder.tokenizer(prop or marker, truncation=True, max_length=128)["input_ids"]
            row = batch.subtexts.input_ids[4 * b + k][batch.subtexts.mask[4 * b + k]].tolist()
            assert row == expected, (b, k)
    # fragment masks: ≥ 15 % of each protein, in spans
    for p in range(len(records)):
        lo, hi = batch.proteins.offsets[p].item(), batch.proteins.offsets[p + 1].item()
        assert batch.fragment_mask[lo:hi].float().mean() >= 0.15
    assert batch.mlm_mask.shape == batch.fragment_mask.shape == (batch.proteins.num_residues,)
    hidden = batch.masked(batch.mlm_mask)
    assert torch.equal(hidden.residue_masked, batch.mlm_mask) and not batch.proteins.residue_masked.any()
    assert torch.equal(hidden.residue_type, batch.proteins.residue_type)  # labels stay the true residues


def test_mlm_rate_and_seeding(swissprot_records: list[ProtAnnoRecord], encoder: TextEncoder) -> None:
    pairs = [(r.to_protein(), r.text) for r in swissprot_records]
    first = ProtCLIPCollator(encoder, subtexts=False, seed=3)(pairs)
    again = ProtCLIPCollator(encoder, subtexts=False, seed=3)(pairs)
    other = ProtCLIPCollator(encoder, subtexts=False, seed=4)(pairs)
    assert torch.equal(first.mlm_mask, again.mlm_mask) and torch.equal(
        first.fragment_mask, again.fragment_mask
    )
    assert not torch.equal(first.mlm_mask, other.mlm_mask)
    n = first.proteins.num_residues  # 40k residues: the rate is within 4σ of 0.15
    assert abs(first.mlm_mask.float().mean().item() - 0.15) < 4 * np.sqrt(0.15 * 0.85 / n)
    assert first.subtexts is None


def test_explicit_generator_sets_the_masks(
    swissprot_records: list[ProtAnnoRecord], encoder: TextEncoder
) -> None:
    """With ``rng=`` the masks are the protalign.masking draws from that generator (MLM, then fragments per
    protein), whatever the collator's own seed; without it the collator's stream is used."""
    from protalign.masking import bernoulli_mask, fragment_mask

    pairs = [(r.to_protein(), r.text) for r in swissprot_records[:12]]
    batch = ProtCLIPCollator(encoder, subtexts=False, seed=3)(pairs, rng=np.random.default_rng(7))
    other_seed = ProtCLIPCollator(encoder, subtexts=False, seed=9)(pairs, rng=np.random.default_rng(7))
    rng = np.random.default_rng(7)
    mlm = bernoulli_mask(batch.proteins.num_residues, 0.15, rng)
    frag = np.concatenate([fragment_mask(n, rng) for n in batch.proteins.lengths.tolist()])
    for b in (batch, other_seed):
        assert np.array_equal(b.mlm_mask.numpy(), mlm) and np.array_equal(b.fragment_mask.numpy(), frag)
    own = ProtCLIPCollator(encoder, subtexts=False, seed=3)(pairs)
    assert not torch.equal(own.mlm_mask, batch.mlm_mask)


def test_from_config_builds_only_what_is_used(encoder: TextEncoder) -> None:
    cfg = ProtCLIPConfig(weights=LossWeights(protein_mlm=0.0, fragment_mlm=0.0, local_contrast=0.0))
    batch = ProtCLIPCollator.from_config(cfg, encoder)(
        [(Protein.from_sequence("a", "MKVL"), "PROTEIN NAME: a.")]
    )
    assert batch.mlm_mask is None and batch.fragment_mask is None and batch.subtexts is None


def test_collator_errors(encoder: TextEncoder) -> None:
    collate = ProtCLIPCollator(encoder)
    with pytest.raises(ValueError, match="empty batch"):
        collate([])
    with pytest.raises(RecordError, match=r"^a: empty text$"):
        collate([(Protein.from_sequence("a", "MKV"), " ")])
