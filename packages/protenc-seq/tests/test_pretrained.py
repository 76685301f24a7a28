"""ESM-2 / SaProt encoders as protstack saved models, and the ``<cls>`` output.

Truth: the in-memory encoder that was saved (outputs on real sequences / real structures with their Foldseek 3Di
strings, state dict, config); for ``extras["cls"]`` the network's fair-esm-style padded forward (a separate code
path from the encoder's packed one) at position 0.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from protdata import Protein, ProteinBatch, load_chains
from protdata.pretrained import CONFIG_NAME, WEIGHTS_NAME, PretrainedFormatError, load_pretrained, model_class
from protdata.testing import shared_data
from protenc_seq import (
    ESM2Config,
    ESM2Encoder,
    SaProtEncoder,
    SequenceEncoderConfig,
    build_sequence_encoder,
    save_safetensors,
)

pytestmark = pytest.mark.numerics

TINY = {"num_layers": 2, "embed_dim": 32, "attention_heads": 4}


def tiny_encoder(vocab: str = "esm", seed: int = 0, **options) -> ESM2Encoder:
    torch.manual_seed(seed)
    kind = "saprot" if vocab == "saprot" else "esm2"
    enc = build_sequence_encoder({"type": kind, "architecture": {**TINY, "vocab": vocab}, **options})
    with torch.no_grad():  # non-trivial LayerNorm / bias values
        for p in enc.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return enc.eval()


def sequence_batch(real_sequences) -> ProteinBatch:
    return ProteinBatch.collate([Protein.from_sequence(n, s) for n, s in real_sequences[:4]])


def structure_batch() -> ProteinBatch:
    """Real chains with the 3Di strings Foldseek computed for them (``shared/data/foldseek``)."""
    three_di: dict[str, str] = {}
    name = None
    for line in shared_data("foldseek", "foldseek_3di.fasta").read_text().splitlines():
        if line.startswith(">"):
            name = line[1:].split()[0]
        elif name is not None:
            three_di[name] = three_di.get(name, "") + line.strip()
    proteins = []
    for entry in ("1aki", "3o5r"):
        protein = load_chains(shared_data("foldseek", "structures") / f"{entry}.cif")[0]
        tokens = three_di[f"{entry}_A"].lower()
        assert len(tokens) == len(protein.sequence)
        proteins.append(protein.replace(structure_tokens=tokens))
    return ProteinBatch.collate(proteins)


def assert_same(a, b) -> None:
    assert torch.equal(a.residue, b.residue) and torch.equal(a.protein, b.protein)
    assert set(a.extras) == set(b.extras)
    for key in a.extras:
        assert torch.equal(a.extras[key], b.extras[key]), key


def assert_same_state(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for name in sa:
        assert torch.equal(sa[name], sb[name]), name


@pytest.mark.parametrize("cls_output", [False, True])
def test_esm2_save_load_reproduces_outputs(real_sequences, tmp_path: Path, cls_output: bool) -> None:
    enc = tiny_encoder(cls_output=cls_output, on_long="crop", nonstandard="x")
    batch = sequence_batch(real_sequences)
    with torch.no_grad():
        want = enc(batch)
    enc.save_pretrained(tmp_path / "enc")
    header = json.loads((tmp_path / "enc" / CONFIG_NAME).read_text())
    assert header["type"] == "esm2"
    assert header["config"]["cls_output"] is cls_output and header["config"]["on_long"] == "crop"
    loaded = ESM2Encoder.from_pretrained(tmp_path / "enc")
    assert type(loaded) is ESM2Encoder and not loaded.training
    assert loaded.config == enc.config and loaded.cls_output is cls_output
    assert loaded.tokenizer.on_long == "crop" and loaded.tokenizer.nonstandard == "x"
    assert_same_state(enc, loaded)
    with torch.no_grad():
        got = loaded(batch)
    assert ("cls" in got.extras) is cls_output
    assert_same(got, want)


def test_saprot_save_load_reproduces_outputs(tmp_path: Path) -> None:
    enc = tiny_encoder("saprot", seed=1, plddt_threshold=None, cls_output=True)
    batch = structure_batch()
    with torch.no_grad():
        want = enc(batch)
    enc.save_pretrained(tmp_path / "sa")
    loaded = load_pretrained(tmp_path / "sa")
    assert type(loaded) is SaProtEncoder and loaded.config.plddt_threshold is None
    assert_same_state(enc, loaded)
    with torch.no_grad():
        assert_same(loaded(batch), want)


def test_cls_output_is_the_final_layer_cls_embedding(real_sequences) -> None:
    enc = tiny_encoder(seed=2, cls_output=True)
    batch = sequence_batch(real_sequences)
    tokens_list = enc.tokenizer.encode_batch(batch)
    width = max(len(t) for t in tokens_list)
    tokens = torch.full((len(tokens_list), width), enc.model.alphabet.pad_id, dtype=torch.long)
    for i, t in enumerate(tokens_list):
        tokens[i, : len(t)] = torch.as_tensor(t)
    with torch.no_grad():
        out = enc(batch)
        ref = enc.model(tokens, repr_layers=[TINY["num_layers"]]).representations[TINY["num_layers"]]
        plain = tiny_encoder(seed=2)(batch)
    assert out.extras["cls"].shape == (len(batch), TINY["embed_dim"])
    assert (out.extras["cls"] - ref[:, 0]).abs().max() <= 1e-5
    assert "cls" not in plain.extras  # off by default
    assert torch.equal(plain.residue, out.residue)  # the residue features do not change


def test_saved_config_has_no_checkpoint_and_keeps_the_preset(tmp_path: Path) -> None:
    enc = tiny_encoder(seed=3)
    weights = save_safetensors(enc.model, tmp_path / "w.safetensors")
    config = SequenceEncoderConfig(type="esm2", architecture=ESM2Config(**TINY), checkpoint=str(weights))
    built = build_sequence_encoder(config)
    assert_same_state(enc, built)
    assert built.config.checkpoint is None
    assert built.config_dict()["checkpoint"] is None
    built.save_pretrained(tmp_path / "enc")
    assert load_pretrained(tmp_path / "enc").config == built.config
    preset = build_sequence_encoder({"type": "esm2", "preset": "8M"})
    assert preset.config.preset == "esm2_t6_8M_UR50D" and preset.config.architecture is None
    assert ESM2Encoder.from_config(preset.config_dict()).config == preset.config


def test_config_round_trip_and_type_follows_vocabulary() -> None:
    enc = tiny_encoder("saprot")
    data = enc.config_dict()
    assert data["type"] == "saprot" and json.loads(json.dumps(data)) == data
    rebuilt = ESM2Encoder.from_config(data)
    assert type(rebuilt) is SaProtEncoder and rebuilt.config == enc.config
    assert model_class("esm2") is ESM2Encoder and model_class("saprot") is SaProtEncoder
    with pytest.raises(TypeError, match="builds a ESM2Encoder, not a SaProtEncoder"):
        SaProtEncoder.from_config({"type": "esm2", "architecture": TINY})


@pytest.mark.slow
def test_fresh_process_loads_the_same_encoder(real_sequences, tmp_path: Path) -> None:
    enc = tiny_encoder(seed=4, cls_output=True)
    records = real_sequences[:3]
    batch = ProteinBatch.collate([Protein.from_sequence(n, s) for n, s in records])
    with torch.no_grad():
        want = enc(batch)
    enc.save_pretrained(tmp_path / "enc")
    (tmp_path / "seqs.json").write_text(json.dumps(records))
    code = (
        "import json, sys, torch; from safetensors.torch import save_file;"
        "from protdata import Protein, ProteinBatch; from protdata.pretrained import load_pretrained;"
        "m = load_pretrained(sys.argv[1]);"
        "b = ProteinBatch.collate([Protein.from_sequence(n, s) for n, s in json.load(open(sys.argv[3]))]);"
        "torch.set_grad_enabled(False); out = m(b);"
        "save_file({'residue': out.residue, 'protein': out.protein, 'cls': out.extras['cls']}, sys.argv[2])"
    )
    result = tmp_path / "out.safetensors"
    run = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "enc"), str(result), str(tmp_path / "seqs.json")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    got = load_file(result)
    assert torch.equal(got["residue"], want.residue)
    assert torch.equal(got["protein"], want.protein)
    assert torch.equal(got["cls"], want.extras["cls"])


def test_wrong_size_weights_name_the_tensor(tmp_path: Path) -> None:
    tiny_encoder().save_pretrained(tmp_path / "enc")
    wider = build_sequence_encoder({"type": "esm2", "architecture": {**TINY, "ffn_dim": 64}})
    state = {k: v.contiguous() for k, v in wider.state_dict().items() if k != "model.lm_head.weight"}
    save_file(state, str(tmp_path / "enc" / WEIGHTS_NAME))
    with pytest.raises(PretrainedFormatError) as err:
        load_pretrained(tmp_path / "enc")
    message = str(err.value)
    assert "\n" not in message and "size mismatch" in message
    assert "model.layers.0.fc1.weight" in message


def test_from_pretrained_of_another_class_is_an_error(tmp_path: Path) -> None:
    tiny_encoder().save_pretrained(tmp_path / "esm")
    with pytest.raises(
        PretrainedFormatError, match=r"holds a ESM2Encoder \(type 'esm2'\), not a SaProtEncoder"
    ):
        SaProtEncoder.from_pretrained(tmp_path / "esm")
    with pytest.raises(TypeError, match=r"keeps its options in config\.json"):
        ESM2Encoder.from_pretrained(tmp_path / "esm", on_long="crop")


def test_from_pretrained_still_reads_checkpoints(tmp_path: Path) -> None:
    enc = tiny_encoder(seed=5)
    weights = save_safetensors(enc.model, tmp_path / "w.safetensors")
    loaded = ESM2Encoder.from_pretrained(weights, on_long="crop")
    assert loaded.tokenizer.on_long == "crop"
    assert_same_state(enc, loaded)
