"""Hugging Face directories: read transformers-written ones, write ones transformers reads, round trips."""

from __future__ import annotations

import json

import pytest
import torch

from protdata import saprot
from protenc_seq import CheckpointError, PackedBatch, load_model, save_huggingface, save_safetensors

pytestmark = pytest.mark.numerics

TOL = 1e-4


def test_reads_save_pretrained(tmp_path, make_hf_mlm, fair_esm_batch, real_sequences) -> None:
    hf = make_hf_mlm(2, 64, 4, seed=1)
    hf.save_pretrained(tmp_path / "hf")
    ours = load_model(tmp_path / "hf")
    tokens = fair_esm_batch(real_sequences[:3])
    with torch.no_grad():
        want = hf(tokens, attention_mask=tokens.ne(1).long()).logits
        got = ours(tokens).logits
    assert (want - got)[tokens.ne(1)].abs().max() <= TOL
    assert torch.equal(ours.rotary.inv_freq, hf.esm.rotary_embeddings.inv_freq)


def test_pytorch_model_bin_and_shards(tmp_path, make_hf_mlm, fair_esm_batch, real_sequences) -> None:
    hf = make_hf_mlm(2, 64, 4, seed=2)
    reference = load_model(_saved(hf, tmp_path / "ref"))
    tokens = fair_esm_batch(real_sequences[:2])
    # pytorch_model.bin with per-layer inv_freq, as on the hub (read with weights_only=True)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "config.json").write_text((tmp_path / "ref" / "config.json").read_text())
    state = {k: v for k, v in hf.state_dict().items() if "rotary" not in k}
    for i in range(2):
        state[f"esm.encoder.layer.{i}.attention.self.rotary_embeddings.inv_freq"] = (
            hf.esm.rotary_embeddings.inv_freq.clone()
        )
    state["esm.embeddings.position_ids"] = torch.arange(1026)[None]
    torch.save(state, bin_dir / "pytorch_model.bin")
    # sharded safetensors
    hf.save_pretrained(tmp_path / "sharded", max_shard_size="100KB")
    assert (tmp_path / "sharded" / "model.safetensors.index.json").is_file()
    with torch.no_grad():
        want = reference(tokens).logits
        for directory in (bin_dir, tmp_path / "sharded"):
            assert torch.equal(load_model(directory)(tokens).logits, want)


def _saved(hf, directory):
    hf.save_pretrained(directory)
    return directory


def test_esm_model_without_lm_head(tmp_path, make_hf_mlm, fair_esm_batch, real_sequences) -> None:
    hf = make_hf_mlm(2, 64, 4, seed=3)
    hf.esm.save_pretrained(tmp_path / "base")  # EsmModel: no "esm." prefix, no LM head
    ours = load_model(tmp_path / "base")
    assert not ours.has_lm_head
    tokens = fair_esm_batch(real_sequences[:2])
    with torch.no_grad():
        want = hf.esm(tokens, attention_mask=tokens.ne(1).long()).last_hidden_state
        got = ours.forward_packed(PackedBatch.from_padded(tokens, 1), return_logits=False)
    assert (want[tokens.ne(1)] - got.hidden).abs().max() <= TOL
    assert ours(tokens).logits is None  # the fair-esm-style forward returns no logits
    with pytest.raises(RuntimeError, match="no LM head"):
        ours.forward_packed(PackedBatch.from_padded(tokens, 1))


def test_round_trip_fair_esm_to_hf_is_lossless(
    tmp_path, esm, transformers, make_fair_esm, save_fair_esm_file, fair_esm_batch, real_sequences
):
    """fair-esm file -> ours -> Hugging Face directory (ours) -> ours: bit-identical tensors; transformers reads
    our directory and agrees with fair-esm."""
    fair = make_fair_esm(2, 64, 4, seed=9)
    first = load_model(save_fair_esm_file(fair, tmp_path / "esm2_t2_rt.pt"))
    save_huggingface(first, tmp_path / "hf")
    second = load_model(tmp_path / "hf")
    save_safetensors(second, tmp_path / "ours.safetensors")
    third = load_model(tmp_path / "ours.safetensors")
    for other in (second, third):
        a, b = first.state_dict(), other.state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    hf = transformers.EsmForMaskedLM.from_pretrained(tmp_path / "hf", attn_implementation="eager").eval()
    tokens = fair_esm_batch(real_sequences[:3])
    with torch.no_grad():
        want = fair(tokens, return_contacts=True)
        got = hf(tokens, attention_mask=tokens.ne(1).long())
        contacts = hf.predict_contacts(tokens, attention_mask=tokens.ne(1).long())
    real = tokens.ne(1)
    assert (want["logits"] - got.logits)[real].abs().max() <= TOL
    n = int(real[0].sum()) - 2
    assert (want["contacts"][0, :n, :n] - contacts[0, :n, :n]).abs().max() <= TOL
    config = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert config["model_type"] == "esm" and config["token_dropout"] is True


def test_saprot_directory(tmp_path, make_hf_mlm, real_sequences) -> None:
    hf = make_hf_mlm(2, 64, 4, vocab_size=446, seed=5)
    hf.save_pretrained(tmp_path / "SaProt_35M_AF2_tiny")
    # the directory name contains a known SaProt name of another size: the manifest refuses it
    with pytest.raises(CheckpointError, match="named like SaProt_35M_AF2"):
        load_model(tmp_path / "SaProt_35M_AF2_tiny")
    hf.save_pretrained(tmp_path / "saprot_tiny")
    ours = load_model(tmp_path / "saprot_tiny")
    assert ours.config.vocab == "saprot"
    arrays = [saprot.encode("".join(a + "#" for a in s)) for _, s in real_sequences[:2]]
    tokens = PackedBatch.from_token_arrays(arrays).padded_tokens(1)
    with torch.no_grad():
        diff = (hf(tokens, attention_mask=tokens.ne(1).long()).logits - ours(tokens).logits)[tokens.ne(1)]
    assert diff.abs().max() <= TOL


def test_bad_directories(tmp_path, make_hf_mlm) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="neither a Hugging Face ESM model"):
        load_model(tmp_path / "empty")
    hf = make_hf_mlm(1, 32, 2)
    hf.save_pretrained(tmp_path / "abs")
    config = json.loads((tmp_path / "abs" / "config.json").read_text())
    config["position_embedding_type"] = "absolute"
    (tmp_path / "abs" / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="not 'rotary'"):
        load_model(tmp_path / "abs")
    hf.save_pretrained(tmp_path / "cut")
    weights = tmp_path / "cut" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match=r"model\.safetensors: cannot be read as safetensors"):
        load_model(tmp_path / "cut")
