"""ZeroShotClassifier: class features (single prompt or prompt ensemble) and scaled cosine logits recomputed
directly; predictions and accuracy are their arg-max."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from protalign_tiny import TinyProteinEncoder

from protalign.config import ProtCLIPConfig
from protalign.model import ProtCLIP
from protalign.text_encoder import TextEncoder
from protalign.zero_shot import ZeroShotClassifier
from protdata import Protein, ProteinBatch

pytestmark = pytest.mark.numerics

PROMPTS = ["SUBCELLULAR LOCATION: Cytoplasm.", ["SUBCELLULAR LOCATION: Nucleus.", "A protein locating at Nucleus"],
           "SUBCELLULAR LOCATION: Mitochondrion."]  # fmt: skip
PROTEINS = [Protein.from_sequence("a", "MKVLAAGLLLW"), Protein.from_sequence("b", "MSTNPKPQRKTK"),
            Protein.from_sequence("c", "GAGAGSGAGAY")]  # fmt: skip


@pytest.fixture(scope="module")
def model(tiny_bert_dir: Path) -> ProtCLIP:
    torch.manual_seed(0)
    cfg = ProtCLIPConfig(projection_dim=16, num_prototypes=8, mlm_hidden_dim=16)
    return ProtCLIP(TinyProteinEncoder(dim=16), TextEncoder.from_pretrained(tiny_bert_dir), cfg).eval()


def test_class_features_and_logits(model: ProtCLIP) -> None:
    clf = ZeroShotClassifier(model, PROMPTS)
    tok = model.text_encoder.tokenize
    with torch.no_grad():
        single = [model.encode_text(tok([p], max_length=128))[0] for p in (PROMPTS[0], PROMPTS[2])]
        ensemble = model.encode_text(tok(PROMPTS[1], max_length=128))  # (2, D), each normalised
        expected = torch.stack([single[0], F.normalize(ensemble.mean(0), dim=0), single[1]])
        protein = model.encode_protein(ProteinBatch.collate(PROTEINS))
    torch.testing.assert_close(clf.class_features, expected, rtol=1e-5, atol=1e-6)
    logits = clf.logits(protein)
    torch.testing.assert_close(
        logits, model.logit_scale.item() * protein @ expected.t(), rtol=1e-5, atol=1e-5
    )
    predicted = clf.predict(PROTEINS, batch_size=2)
    assert torch.equal(predicted, logits.argmax(1))
    assert clf.accuracy(PROTEINS, predicted.tolist()) == 1.0
    wrong = ((predicted + 1) % 3).tolist()
    assert clf.accuracy(PROTEINS, wrong) == 0.0


def test_errors(model: ProtCLIP) -> None:
    with pytest.raises(ValueError, match="no classes"):
        ZeroShotClassifier(model, [])
    with pytest.raises(ValueError, match="class 1: prompts must be non-empty"):
        ZeroShotClassifier(model, ["a", []])
    clf = ZeroShotClassifier(model, ["x", "y"])
    with pytest.raises(ValueError, match=r"targets must lie in 0\.\.1"):
        clf.accuracy(PROTEINS, [0, 1, 2])
    with pytest.raises(ValueError, match="3 proteins but 2 targets"):
        clf.accuracy(PROTEINS, [0, 1])
