"""protenc-seq's library MLM adapter and ``<cls>`` output against prottasks' rules and Hugging Face's
``EsmForSequenceClassification`` (the ESM2 Function Caller's model), across packages (tests/test_adapters.py checks
them against Hugging Face's ``EsmForMaskedLM``; the apps' copies they replaced are gone).

The Function Caller reload bug (issue 12): an encoder saved with ``cls_output`` and loaded by the packages alone
must feed the head its ``<cls>`` embedding, as the Function Caller does, not the residue mean.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from protdata import Protein, ProteinBatch, saprot
from protdata.pretrained import load_pretrained
from protenc_seq import (
    ESM2Encoder,
    build_sequence_encoder,
    esm_mask_tokens,
    saprot_mask_tokens,
    save_huggingface,
)
from prottasks.heads import FunctionCallerHead, FunctionCallerHeadConfig
from prottasks.objectives import mlm as prottasks_mlm

pytestmark = pytest.mark.numerics

SEQUENCES = ["MKTAYIAKQRQISFVKSHFSRQ", "MEVQLVQSGAEV", "GSHMASMTGGQQMGRDLYDDDDKDPSSRSAAGTMEFAAKLA"]
TINY = {"num_layers": 2, "embed_dim": 32, "attention_heads": 4}


def encoder(vocab: str = "esm", seed: int = 0, **options) -> ESM2Encoder:
    torch.manual_seed(seed)
    kind = "saprot" if vocab == "saprot" else "esm2"
    enc = build_sequence_encoder({"type": kind, "architecture": {**TINY, "vocab": vocab}, **options})
    with torch.no_grad():
        for p in enc.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return enc.eval()


def batch() -> ProteinBatch:
    return ProteinBatch.collate([Protein.from_sequence(f"p{i}", s) for i, s in enumerate(SEQUENCES)])


def test_masking_rules_equal_prottasks() -> None:
    ids = torch.arange(saprot.VOCAB_SIZE).reshape(2, -1)
    assert torch.equal(saprot_mask_tokens(ids), prottasks_mlm.saprot_mask_tokens(ids))
    assert torch.equal(esm_mask_tokens(ids, 32), prottasks_mlm.esm_mask_tokens(ids, 32))


def test_function_caller_head_on_a_package_loaded_encoder_uses_cls(tmp_path: Path) -> None:
    transformers = pytest.importorskip("transformers")
    enc = encoder(seed=2, cls_output=True)
    save_huggingface(enc.model, tmp_path / "hf")
    enc.save_pretrained(tmp_path / "enc")
    loaded = load_pretrained(tmp_path / "enc")  # the packages alone: no apps adapter
    num_labels = 5
    hf = transformers.EsmForSequenceClassification.from_pretrained(
        str(tmp_path / "hf"), num_labels=num_labels, problem_type="multi_label_classification"
    ).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(tmp_path / "hf"))
    inputs = tokenizer(SEQUENCES, padding=True, return_tensors="pt")

    def head_on(model: ESM2Encoder) -> FunctionCallerHead:
        head = FunctionCallerHead(model, FunctionCallerHeadConfig(num_labels=num_labels)).eval()
        with torch.no_grad():
            for name in ("dense", "out_proj"):
                getattr(head, name).weight.copy_(getattr(hf.classifier, name).weight)
                getattr(head, name).bias.copy_(getattr(hf.classifier, name).bias)
        return head

    with torch.no_grad():
        ref = hf(**inputs).logits
        ours = head_on(loaded)(batch()).output
    torch.testing.assert_close(ours, ref, atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="cls"):  # cls_output off: an error, never a silent mean pooling
        head_on(encoder(seed=2))(batch())
