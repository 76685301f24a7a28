"""ProtCLIP on a tiny protein encoder and a tiny BERT: each objective recomputed independently, the weighted
total, switches (seed_no_grad, pool_over_padding, subtext_grad, weight 0), and the encoder contract."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
import torch
from protalign_tiny import TinyProteinEncoder

from protalign.config import LossWeights, ProtCLIPConfig, TextEncoderConfig
from protalign.data import ProtCLIPBatch, ProtCLIPCollator
from protalign.errors import ProtalignError
from protalign.losses.local_contrast import local_contrastive_loss
from protalign.model import ProtCLIP, build_protclip
from protalign.pairs import ProteinTextPairs
from protalign.text_encoder import TextEncoder
from protdata import EncoderOutput, Protein, ProteinBatch
from protdata.protanno import ProtAnnoRecord

pytestmark = pytest.mark.numerics

SMALL = {"projection_dim": 16, "num_prototypes": 8, "mlm_hidden_dim": 16, "max_text_length": 64}


def _model(bert: Path, **overrides: object) -> ProtCLIP:
    weights = overrides.pop("weights", LossWeights())
    cfg = ProtCLIPConfig(**SMALL, weights=weights, **overrides)
    torch.manual_seed(0)
    return ProtCLIP(TinyProteinEncoder(dim=16), TextEncoder.from_pretrained(bert), cfg)


@pytest.fixture(scope="module")
def batch(swissprot_records: list[ProtAnnoRecord], tiny_bert_dir: Path) -> ProtCLIPBatch:
    pairs = ProteinTextPairs.from_records(swissprot_records[:5])
    collate = ProtCLIPCollator(
        TextEncoder.from_pretrained(tiny_bert_dir), max_protein_length=60, max_text_length=64
    )
    return collate(pairs.pairs)


def test_each_objective_and_the_total(batch: ProtCLIPBatch, tiny_bert_dir: Path) -> None:
    model = _model(tiny_bert_dir).eval()  # eval: no dropout; Gumbel noise still drawn, as in the seed
    torch.manual_seed(1)
    out = model(batch)
    w = model.config.weights
    expected_total = (
        w.clip * out.losses["clip"] + w.protein_mlm * out.losses["protein_mlm"]
        + w.fragment_mlm * out.losses["fragment_mlm"] + w.local_contrast * out.losses["local_contrast"]
    )  # fmt: skip
    torch.testing.assert_close(out.loss, expected_total)
    with torch.no_grad():
        # global contrast: embeddings from the public encode_* paths, InfoNCE by loop
        p, t = model.encode_protein(batch.proteins), model.encode_text(batch.text)
        s = model.logit_scale.item()
        assert s == pytest.approx(1 / 0.07, rel=1e-5)
        sim = (s * p @ t.t()).tolist()
        b = len(sim)
        loop = sum(
            -sim[i][i] + math.log(sum(math.exp(x) for x in sim[i]))
            - sim[i][i] + math.log(sum(math.exp(sim[j][i]) for j in range(b)))
            for i in range(b)
        ) / (2 * b)  # fmt: skip
        assert out.losses["clip"].item() == pytest.approx(loop, rel=1e-5)
        # protein MLM: encoder on the MLM-masked batch, head on hidden residues, CE by loop
        masked = dataclasses.replace(batch.proteins, residue_masked=batch.mlm_mask)
        enc = model.protein_encoder(masked)
        flat = enc.residue[enc.mask]
        rows = model.mlm_head(flat[batch.mlm_mask]).double()
        targets = batch.proteins.residue_type[batch.mlm_mask]
        loop = sum(-rows[i, targets[i]] + torch.logsumexp(rows[i], 0) for i in range(len(targets))) / len(
            targets
        )
        assert out.losses["protein_mlm"].item() == pytest.approx(loop.item(), rel=1e-5)
        # fragment MLM: encoder on the fragment-masked batch, projections, decoder (protein-axis softmax), head
        masked = dataclasses.replace(batch.proteins, residue_masked=batch.fragment_mask)
        enc = model.protein_encoder(masked)
        fused = model.fragment_decoder(
            model.protein_projection(enc.residue), model.text_projection(model.text_encoder(batch.text)),
            enc.mask, batch.text.mask,
        )  # fmt: skip
        rows = model.t2p_head(fused[enc.mask][batch.fragment_mask]).double()
        targets = batch.proteins.residue_type[batch.fragment_mask]
        loop = sum(-rows[i, targets[i]] + torch.logsumexp(rows[i], 0) for i in range(len(targets))) / len(
            targets
        )
        assert out.losses["fragment_mlm"].item() == pytest.approx(loop.item(), rel=1e-5)
        # local contrast: sub-texts mean-pooled over real tokens, projected, through the bank with the same
        # Gumbel draws (the bank is the forward pass's only random operation), against the residues
        hidden = model.text_encoder(batch.subtexts)
        m = batch.subtexts.mask[..., None].float()
        pooled = (hidden * m).sum(1) / m.sum(1)
        subtexts = model.text_projection(pooled).reshape(5, 4, -1)
        torch.manual_seed(1)
        proto = model.prototype_bank(subtexts)
        enc = model.protein_encoder(batch.proteins)
        expected = local_contrastive_loss(
            proto.embeddings, model.protein_projection(enc.residue), enc.mask, model.local_logit_scale.exp()
        )
        assert model.local_logit_scale.exp().item() == pytest.approx(10.0, rel=1e-6)  # log(1/0.1)
        assert out.losses["local_contrast"].item() == pytest.approx(expected.item(), rel=1e-5)
    assert set(out.losses) == {"clip", "protein_mlm", "fragment_mlm", "local_contrast", "proto"}
    assert out.protein.shape == out.text.shape == (5, 16)


def test_encoder_sees_the_masks(batch: ProtCLIPBatch, tiny_bert_dir: Path) -> None:
    model = _model(tiny_bert_dir)
    model.protein_encoder.seen_masks.clear()
    model(batch)
    seen = model.protein_encoder.seen_masks
    assert len(seen) == 3 and not seen[0].any()
    assert torch.equal(seen[1], batch.mlm_mask) and torch.equal(seen[2], batch.fragment_mask)


def test_zero_weight_objectives_are_not_built(batch: ProtCLIPBatch, tiny_bert_dir: Path) -> None:
    model = _model(tiny_bert_dir, weights=LossWeights(protein_mlm=0, fragment_mlm=0, local_contrast=0))
    assert model.mlm_head is None and model.fragment_decoder is None and model.prototype_bank is None
    out = model(batch)
    assert set(out.losses) == {"clip"} and out.loss.item() == pytest.approx(out.losses["clip"].item())


def _grads(module: torch.nn.Module) -> float:
    return sum(float(p.grad.abs().sum()) for p in module.parameters() if p.grad is not None)


@pytest.mark.parametrize("seed_no_grad", [False, True])
def test_fragment_mlm_gradient_flow(batch: ProtCLIPBatch, tiny_bert_dir: Path, seed_no_grad: bool) -> None:
    only_t2p = LossWeights(clip=0, protein_mlm=0, fragment_mlm=0.7, local_contrast=0)
    model = _model(tiny_bert_dir, weights=only_t2p, seed_no_grad=seed_no_grad)
    model(batch).loss.backward()
    assert _grads(model.t2p_head) > 0
    if seed_no_grad:  # the seed: only t2p_mlm_head learns; the decoder is never trained
        assert _grads(model.protein_encoder) == 0 and _grads(model.fragment_decoder) == 0
        assert _grads(model.protein_projection) == 0
    else:
        assert _grads(model.protein_encoder) > 0 and _grads(model.fragment_decoder) > 0
        assert _grads(model.protein_projection) > 0 and _grads(model.text_projection) > 0


@pytest.mark.parametrize("subtext_grad", [False, True])
def test_local_contrast_gradient_flow(batch: ProtCLIPBatch, tiny_bert_dir: Path, subtext_grad: bool) -> None:
    only_local = LossWeights(clip=0, protein_mlm=0, fragment_mlm=0, local_contrast=1)
    model = _model(tiny_bert_dir, weights=only_local, subtext_grad=subtext_grad)
    model(batch).loss.backward()
    assert _grads(model.prototype_bank) > 0 and _grads(model.protein_encoder) > 0
    assert model.local_logit_scale.grad is not None and model.local_logit_scale.grad.abs() > 0
    assert (_grads(model.text_projection) > 0) == subtext_grad  # the seed embeds sub-texts under no_grad


def test_pooling_ignores_batch_padding_unless_seed(tiny_bert_dir: Path) -> None:
    short, long = Protein.from_sequence("s", "MKVLAG"), Protein.from_sequence("l", "MKVLAGWYHHKDERTLLP")
    for seed_pooling in (False, True):
        model = _model(tiny_bert_dir, pool_over_padding=seed_pooling).eval()
        with torch.no_grad():  # zero biases would make the projection scale-equivariant, hiding the effect
            for layer in model.protein_projection.net[::2]:
                layer.bias.normal_()
            alone = model.encode_protein(ProteinBatch.collate([short]))[0]
            padded = model.encode_protein(ProteinBatch.collate([short, long]))[0]
        assert torch.allclose(alone, padded, atol=1e-5) != seed_pooling


def test_contract_and_missing_inputs(batch: ProtCLIPBatch, tiny_bert_dir: Path) -> None:
    class Broken(TinyProteinEncoder):
        def forward(self, b: ProteinBatch) -> EncoderOutput:
            out = super().forward(b)
            return EncoderOutput(out.residue[:, :-1], out.protein, out.mask[:, :-1])

    model = ProtCLIP(Broken(dim=16), TextEncoder.from_pretrained(tiny_bert_dir), ProtCLIPConfig(**SMALL))
    with pytest.raises(ProtalignError, match="does not honour the contract"):
        model(batch)
    model = _model(tiny_bert_dir)
    with pytest.raises(ProtalignError, match="no mlm_mask"):
        model(dataclasses.replace(batch, mlm_mask=None))
    with pytest.raises(ProtalignError, match="no subtexts"):
        model(dataclasses.replace(batch, subtexts=None))


def test_build_from_config(tiny_bert_dir: Path) -> None:
    cfg = ProtCLIPConfig(**SMALL, text_encoder=TextEncoderConfig(path=str(tiny_bert_dir), frozen=False))
    model = build_protclip(cfg, TinyProteinEncoder(dim=16))
    assert not model.text_encoder.frozen and model.text_projection.in_dim == 32
    assert model.text_encoder.max_length == cfg.max_text_length == 64
    with pytest.raises(ProtalignError, match="text_encoder is not set"):
        build_protclip(ProtCLIPConfig(), TinyProteinEncoder(dim=16))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_step_and_export(batch: ProtCLIPBatch, tiny_bert_dir: Path) -> None:
    from protalign.export import embed_proteins, embed_texts

    model = _model(tiny_bert_dir).cuda()
    out = model(batch.to("cuda"))
    out.loss.backward()
    assert out.loss.is_cuda and torch.isfinite(out.loss)
    cpu = _model(tiny_bert_dir)
    torch.manual_seed(1)
    reference = cpu(batch)
    assert out.losses["clip"].item() == pytest.approx(reference.losses["clip"].item(), rel=1e-3)
    texts = embed_texts(model, batch.texts)
    proteins = embed_proteins(
        model, [Protein.from_sequence(str(i), s) for i, s in enumerate(batch.proteins.sequences)]
    )
    assert texts.device.type == proteins.device.type == "cpu"
    assert proteins.shape == texts.shape == (len(batch), 16)
    first = embed_proteins(cpu, [Protein.from_sequence("0", batch.proteins.sequences[0])])
    assert torch.allclose(proteins[:1], first, atol=1e-4)
