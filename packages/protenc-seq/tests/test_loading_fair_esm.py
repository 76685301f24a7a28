"""Reading fair-esm's distributed ``esm2_t*_UR50D.pt`` layout, checked against fair-esm's own loader."""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path

import pytest
import torch

from protenc_seq import CheckpointError, load_model

pytestmark = pytest.mark.numerics

TOL = 1e-4


def fair_esm_load(esm, path: Path):
    """fair-esm's ``load_model_and_alphabet_local`` (needs the Namespace allow-list under torch >= 2.6)."""
    with torch.serialization.safe_globals([argparse.Namespace]):
        return esm.pretrained.load_model_and_alphabet_local(str(path))[0].eval()


def test_distributed_layout_with_contacts(
    tmp_path, esm, make_fair_esm, save_fair_esm_file, fair_esm_batch, real_sequences
):
    path = save_fair_esm_file(make_fair_esm(3, 64, 4, seed=7), tmp_path / "esm2_t3_tiny_UR50D.pt")
    ref = fair_esm_load(esm, path)
    ours = load_model(path)
    assert ours.config.num_layers == 3 and ours.config.embed_dim == 64 and ours.config.attention_heads == 4
    assert ours.has_contact_head
    tokens = fair_esm_batch(real_sequences[:3])
    with torch.no_grad():
        want, got = ref(tokens, return_contacts=True), ours(tokens, return_contacts=True)
    real = tokens.ne(1)
    assert (want["logits"] - got.logits)[real].abs().max() <= TOL
    assert (want["contacts"] - got.contacts).abs().max() <= TOL
    # inv_freq kept exactly as stored (fp16-rounded values), not recomputed
    assert torch.equal(ours.rotary.inv_freq, ref.layers[0].self_attn.rot_emb.inv_freq)


def test_half_precision_file_and_no_regression(
    tmp_path, make_fair_esm, save_fair_esm_file, fair_esm_batch, real_sequences
):
    fair = make_fair_esm(2, 64, 4, seed=8)
    path = save_fair_esm_file(fair, tmp_path / "esm2_t2_half.pt", regression=False, dtype=torch.float16)
    ours = load_model(path)
    assert not ours.has_contact_head and ours.embed_tokens.weight.dtype == torch.float32
    with pytest.raises(RuntimeError, match=r"contact-regression\.pt"):
        ours(fair_esm_batch(real_sequences[:1]), return_contacts=True)
    want = fair.half().float()  # the same fp16-rounded weights in fp32
    tokens = fair_esm_batch(real_sequences[:2])
    with torch.no_grad():
        diff = (want(tokens)["logits"] - ours(tokens).logits)[tokens.ne(1)].abs().max()
    assert diff <= TOL


def test_truncated_file_is_a_clear_error(tmp_path, make_fair_esm, save_fair_esm_file) -> None:
    path = save_fair_esm_file(make_fair_esm(1, 32, 2), tmp_path / "esm2_t1_cut.pt", regression=False)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"esm2_t1_cut\.pt: cannot be read as a PyTorch checkpoint"):
        load_model(path)


def test_wrong_size_for_its_name(tmp_path, make_fair_esm, save_fair_esm_file) -> None:
    """A 1-layer 32-wide model saved under the 35M name: the manifest catches it."""
    path = save_fair_esm_file(make_fair_esm(1, 32, 2), tmp_path / "esm2_t12_35M_UR50D.pt", regression=False)
    with pytest.raises(
        CheckpointError, match=r"named like esm2_t12_35M_UR50D \(12 layers × 480 wide.*holds a 1 layers × 32"
    ):
        load_model(path)
    with pytest.raises(CheckpointError, match=r"expected esm2_t6_8M_UR50D"):
        load_model(
            save_fair_esm_file(make_fair_esm(1, 32, 2), tmp_path / "custom.pt", regression=False), expect="8M"
        )


def test_missing_layer_and_bad_shape(tmp_path, make_fair_esm, save_fair_esm_file) -> None:
    path = save_fair_esm_file(make_fair_esm(3, 32, 2), tmp_path / "esm2_partial.pt", regression=False)
    data = torch.load(path, weights_only=False)
    for k in [k for k in data["model"] if ".layers.1." in k]:
        del data["model"][k]
    torch.save(data, path)
    with pytest.raises(CheckpointError, match=r"layer\(s\) \[1\] missing out of 3"):
        load_model(path)
    data = torch.load(save_fair_esm_file(make_fair_esm(2, 32, 2), path, regression=False), weights_only=False)
    data["model"]["encoder.sentence_encoder.layers.1.fc2.weight"] = torch.zeros(32, 100)
    torch.save(data, path)
    with pytest.raises(
        CheckpointError, match=r"tensor layers.1.fc2.weight has shape \(32, 100\), expected \(32, 128\)"
    ):
        load_model(path)


def test_config_disagreeing_with_tensors(tmp_path, make_fair_esm, save_fair_esm_file) -> None:
    path = save_fair_esm_file(make_fair_esm(2, 32, 2), tmp_path / "esm2_lies.pt", regression=False)
    data = torch.load(path, weights_only=False)
    data["cfg"]["model"].encoder_layers = 12
    torch.save(data, path)
    with pytest.raises(CheckpointError, match="declares num_layers=12 but its tensors describe num_layers=2"):
        load_model(path)


class Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_refuses_arbitrary_pickles(tmp_path) -> None:
    path = tmp_path / "esm2_evil.pt"
    torch.save({"model": {}, "cfg": Evil(), "args": None}, path)
    with pytest.raises(CheckpointError, match="refused to unpickle it"):
        load_model(path)
    assert pickle is not None


def test_saprot_pt_layout(tmp_path, make_hf_mlm, real_sequences) -> None:
    """SaProt's ``.pt``: unprefixed fair-esm names and a plain ``config`` dict (checkpoint-formats.md §3)."""
    from protenc_seq import PackedBatch
    from protenc_seq.loading.convert import hf_to_fair

    hf = make_hf_mlm(2, 64, 4, vocab_size=446, seed=4)
    fair_names, _ = hf_to_fair(hf.state_dict(), "hf")
    fair_names["lm_head.weight"] = fair_names["embed_tokens.weight"]
    config = {"num_layers": 2, "embed_dim": 64, "attention_heads": 4, "token_dropout": True}
    torch.save({"model": fair_names, "config": config}, tmp_path / "SaProt_tiny.pt")
    ours = load_model(tmp_path / "SaProt_tiny.pt")
    assert ours.config.vocab == "saprot"
    from protdata import saprot

    arrays = [saprot.encode("".join(a + "#" for a in s)) for _, s in real_sequences[:2]]
    tokens = PackedBatch.from_token_arrays(arrays).padded_tokens(1)
    with torch.no_grad():
        want = hf(tokens, attention_mask=tokens.ne(1).long()).logits
        got = ours(tokens).logits
    assert (want - got)[tokens.ne(1)].abs().max() <= TOL
