"""protenc-seq's MLM adapter and ``<cls>`` output (what apps/engine/adapters.py held before issue 12) against Hugging
Face transformers' ESM (the seeds' own model classes): the MLM adapter's logits and loss equal ``EsmForMaskedLM``'s,
the Function Caller head on an encoder with ``cls_output`` equals ``EsmForSequenceClassification`` (the ESM2
Function Caller's model), and the adapter's masking follows the rules."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from protdata import Protein, ProteinBatch, saprot
from protenc_seq import ESM2Config, ESM2Encoder, MaskedLMAdapter, SaProtEncoder, save_huggingface
from prottasks.heads import FunctionCallerHead, FunctionCallerHeadConfig
from prottasks.objectives import MaskedLMObjective, MLMConfig
from prottasks.protocols import MaskedLanguageModel

pytestmark = pytest.mark.numerics

transformers = pytest.importorskip("transformers")

SEQUENCES = ["MKTAYIAKQRQISFVKSHFSRQ", "MEVQLVQSGAEV", "GSHMASMTGGQQMGRDLYDDDDKDPSSRSAAGTMEFAAKLA"]


def _encoder(vocab: str = "esm", seed: int = 0, cls_output: bool = False) -> ESM2Encoder:
    torch.manual_seed(seed)
    config = ESM2Config(num_layers=2, embed_dim=32, attention_heads=4, vocab=vocab)
    cls = SaProtEncoder if vocab == "saprot" else ESM2Encoder
    enc = cls(config, cls_output=cls_output)
    for p in enc.parameters():  # non-trivial LayerNorm / bias values
        with torch.no_grad():
            p.add_(0.05 * torch.randn_like(p))
    return enc.eval()


def _batch() -> ProteinBatch:
    return ProteinBatch.collate([Protein.from_sequence(f"p{i}", s) for i, s in enumerate(SEQUENCES)])


def _hf_inputs(directory: Path) -> dict[str, torch.Tensor]:
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(directory))
    return tokenizer(SEQUENCES, padding=True, return_tensors="pt")


def test_mlm_adapter_logits_equal_hugging_face(tmp_path: Path) -> None:
    enc = _encoder()
    adapter = MaskedLMAdapter(enc)
    assert isinstance(adapter, MaskedLanguageModel)
    save_huggingface(enc.model, tmp_path)
    hf = transformers.EsmForMaskedLM.from_pretrained(str(tmp_path)).eval()
    inputs = _hf_inputs(tmp_path)
    tok = adapter.tokenize(_batch())
    assert torch.equal(tok.tokens, inputs["input_ids"])  # same ids, same right padding
    lengths = torch.tensor([len(s) for s in SEQUENCES])
    expected_maskable = torch.zeros_like(tok.maskable)
    for i, n in enumerate(lengths.tolist()):
        expected_maskable[i, 1 : n + 1] = True
    assert torch.equal(tok.maskable, expected_maskable)
    with torch.no_grad():
        ours = adapter.token_logits(tok.tokens)
        ref = hf(**inputs).logits
    real = inputs["attention_mask"].bool()
    torch.testing.assert_close(ours[real], ref[real], atol=1e-4, rtol=1e-4)


def test_mlm_objective_loss_is_cross_entropy_of_hugging_face_logits(tmp_path: Path) -> None:
    enc = _encoder()
    objective = MaskedLMObjective(MaskedLMAdapter(enc), MLMConfig.esm2())
    save_huggingface(enc.model, tmp_path)
    hf = transformers.EsmForMaskedLM.from_pretrained(str(tmp_path)).eval()
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        out = objective(_batch(), generator=generator)
        inputs, labels = out.details["inputs"], out.details["labels"]
        mask = (inputs != enc.model.alphabet.pad_id).long()
        logits = hf(input_ids=inputs, attention_mask=mask).logits
    selected = labels != -100
    assert int(selected.sum()) > 0
    expected = F.cross_entropy(logits[selected], labels[selected])
    torch.testing.assert_close(out.loss, expected, atol=1e-4, rtol=1e-4)
    # the pad token never enters a sequence: random replacements exclude it
    assert not bool((inputs[:, 1:-1][selected[:, 1:-1]] == enc.model.alphabet.pad_id).any())


def test_mlm_adapter_masks_and_random_ids() -> None:
    esm = MaskedLMAdapter(_encoder())
    pad = esm.alphabet.pad_id
    assert sorted(esm.random_token_ids().tolist()) == [i for i in range(33) if i != pad]
    tok = esm.tokenize(_batch()).tokens
    assert bool((esm.mask_tokens(tok) == 32).all())  # <mask>

    sa = MaskedLMAdapter(_encoder("saprot"))
    assert sa.vocab_size == 446 and len(sa.random_token_ids()) == 445
    protein = Protein.from_sequence("s", "MKTAY").replace(structure_tokens="DVPPA")
    tokens = sa.tokenize(ProteinBatch.collate([protein])).tokens[0]
    masked = sa.mask_tokens(tokens)
    for t, m in zip(tokens.tolist()[1:-1], masked.tolist()[1:-1]):
        original = saprot.TOKENS[t]
        assert saprot.TOKENS[m] == "#" + original[1]  # amino acid hidden, 3Di letter kept
    assert masked[0] == tokens[0] and masked[-1] == tokens[-1]  # <cls>, <eos> unchanged


def test_mlm_loss_falls_on_a_tiny_model() -> None:
    enc = _encoder(seed=1).train()
    objective = MaskedLMObjective(MaskedLMAdapter(enc), MLMConfig.esm2())
    opt = torch.optim.Adam(objective.parameters(), lr=3e-3)
    batch = _batch()
    losses = []
    for step in range(40):
        out = objective(batch, generator=torch.Generator().manual_seed(step))
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        losses.append(float(out.loss.detach()))
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.5


def test_cls_output_equals_the_encoder_and_adds_cls() -> None:
    enc, wrapped = _encoder(), _encoder(cls_output=True)
    assert "cls" not in enc(_batch()).extras
    assert list(wrapped.state_dict()) == list(enc.state_dict())
    batch = _batch()
    with torch.no_grad():
        a, b = enc(batch), wrapped(batch)
        tokens = MaskedLMAdapter(enc).tokenize(batch).tokens
        final = enc.model(tokens, repr_layers=[2]).representations[2]  # (B, T, D), after the final LayerNorm
    torch.testing.assert_close(b.residue, a.residue, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(b.protein, a.protein, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(b.extras["cls"], final[:, 0], atol=1e-5, rtol=1e-5)


def test_function_caller_head_equals_hugging_face_sequence_classification(tmp_path: Path) -> None:
    """The ESM2 Function Caller's model is ``EsmForSequenceClassification``: the prottasks head on an encoder with
    ``cls_output`` must give its logits and its BCE loss."""
    enc = _encoder(cls_output=True)
    save_huggingface(enc.model, tmp_path)
    num_labels = 7
    hf = transformers.EsmForSequenceClassification.from_pretrained(
        str(tmp_path), num_labels=num_labels, problem_type="multi_label_classification"
    ).eval()
    head = FunctionCallerHead(
        enc, FunctionCallerHeadConfig(num_labels=num_labels, unfreeze_last_k_layers=None)
    ).eval()
    with torch.no_grad():
        head.dense.weight.copy_(hf.classifier.dense.weight)
        head.dense.bias.copy_(hf.classifier.dense.bias)
        head.out_proj.weight.copy_(hf.classifier.out_proj.weight)
        head.out_proj.bias.copy_(hf.classifier.out_proj.bias)
    targets = (torch.rand(3, num_labels, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    inputs = _hf_inputs(tmp_path)
    with torch.no_grad():
        ref = hf(**inputs, labels=targets)
        ours = head(_batch(), targets)
    torch.testing.assert_close(ours.output, ref.logits, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(ours.loss, ref.loss, atol=1e-5, rtol=1e-4)
    # freeze + unfreeze the last k blocks through the encoder's encoder_layers()
    frozen = FunctionCallerHead(_encoder(cls_output=True), FunctionCallerHeadConfig(num_labels=3))
    trainable = {n for n, p in frozen.named_parameters() if p.requires_grad}
    assert trainable == {"dense.weight", "dense.bias", "out_proj.weight", "out_proj.bias"}
    k1 = FunctionCallerHead(
        _encoder(cls_output=True), FunctionCallerHeadConfig(num_labels=3, unfreeze_last_k_layers=1)
    )
    names = {n for n, p in k1.named_parameters() if p.requires_grad}
    assert any(n.startswith("encoder.model.layers.1.") for n in names)
    assert not any(n.startswith("encoder.model.layers.0.") for n in names)
