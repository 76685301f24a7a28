"""LoRA task models (prottasks.lora over Hugging Face PEFT) on real protstack encoders (ESM-2, SaProt, ESM C where
installed), checked against the LoRA formula ``W + (alpha / r) · B A`` applied by hand to a plain copy of the model:
the adapted forward (CPU inference and autograd paths), one optimizer step touching only adapters + head under the
layer-wise lr ratio, the export (adapters + head only, base checkpoint by path + sha256) reloading to identical
scores, and the merge."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from protdata import ProteinBatch, read_fasta
from protdata.pretrained import PretrainedFormatError, build_model, load_pretrained, model_types
from protdata.testing import shared_data
from prottasks import TaskModel
from prottasks.errors import TaskInputError
from prottasks.lora import LoraConfig, apply_lora, merge_lora, merge_pretrained
from prottasks.optim import OptimizerConfig, build_optimizer, parameter_groups

pytestmark = [pytest.mark.numerics]
pytest.importorskip("peft")

ARCH = {"num_layers": 3, "embed_dim": 32, "attention_heads": 4}
LABELS = ["a", "b", "c"]


def _need(*types: str) -> None:
    missing = [t for t in types if t not in model_types()]
    if missing:
        pytest.skip(f"encoder types {missing} are not installed")


@pytest.fixture(scope="module")
def sequences():
    return read_fasta(shared_data("function", "cafa_like_sequences.fasta"))[:6]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A random ESM-2 (3 × 32) saved as protenc-seq's native safetensors checkpoint."""
    _need("esm2")
    native = pytest.importorskip("protenc_seq.loading.native")
    torch.manual_seed(0)
    encoder = build_model({"type": "esm2", "architecture": ARCH})
    for p in encoder.parameters():
        p.data.normal_(0, 0.2)
    return native.save_safetensors(encoder.model, tmp_path_factory.mktemp("base") / "esm2_tiny.safetensors")


def _arch(kind: str) -> dict:
    return {**ARCH, "vocab": "saprot"} if kind == "saprot" else ARCH


def _task(checkpoint: Path, kind: str = "esm2") -> TaskModel:
    encoder = build_model({"type": kind, "architecture": _arch(kind), "checkpoint": str(checkpoint)})
    torch.manual_seed(1)
    return TaskModel.from_encoder(encoder, {"type": "single_label", "num_classes": 3}, labels=LABELS)


def _randomise_adapters(model: TaskModel, seed: int = 3) -> None:
    """Non-zero B (PEFT starts it at 0, i.e. the base model) so that the adapters change the output."""
    generator = torch.Generator().manual_seed(seed)
    for name, p in model.named_parameters():
        if ".lora_B." in name:
            p.data.copy_(torch.randn(p.shape, generator=generator) * 0.3)


def _by_formula(lora_model: TaskModel, checkpoint: Path, kind: str = "esm2") -> TaskModel:
    """A plain task model (no peft) with every adapted weight set to ``W + alpha / r · B @ A`` by hand."""
    plain = _task(checkpoint, kind)
    config = lora_model.config.lora
    scale = config.alpha / config.r
    state = lora_model.state_dict()
    new = {}
    for name in plain.state_dict():
        module, _, leaf = name.rpartition(".")
        if module in config.modules:
            base = state[f"{module}.base_layer.{leaf}"].double()
            if leaf == "weight":
                a = state[f"{module}.lora_A.default.weight"].double()  # (r, in)
                b = state[f"{module}.lora_B.default.weight"].double()  # (out, r)
                base = base + scale * b @ a
            new[name] = base.float()
        else:
            new[name] = state[name]
    plain.load_state_dict(new)
    return plain.eval()


def test_defaults_and_targets(checkpoint) -> None:
    config = LoraConfig()
    assert (config.r, config.alpha, config.dropout) == (8, 32.0, 0.1)  # Sledzieski et al. 2024
    model = _task(checkpoint)
    summary = apply_lora(model, LoraConfig(r=4, alpha=8, layers=[-1]))
    assert model.config.lora.modules == [
        "encoder.model.layers.2.self_attn.qkv_proj",
        "encoder.model.layers.2.self_attn.out_proj",
    ]
    d = ARCH["embed_dim"]
    assert summary.adapters == 4 * (d + 3 * d) + 4 * (d + d)  # r · (in + out) per projection
    assert summary.trainable == summary.adapters + sum(p.numel() for p in model.head.parameters())
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(".lora_" in n or n.startswith("head.") for n in trainable)
    assert "LoRA on 2 projections" in str(summary)
    with pytest.raises(TaskInputError, match="already has LoRA"):
        apply_lora(model, LoraConfig())
    with pytest.raises(TaskInputError, match="match no linear module"):
        apply_lora(_task(checkpoint), LoraConfig(target_modules=["q_proj"]))
    with pytest.raises(TaskInputError, match="not a linear projection"):
        apply_lora(_task(checkpoint), LoraConfig(target_modules=["self_attn"]))
    with pytest.raises(TaskInputError, match="not a block"):
        apply_lora(_task(checkpoint), LoraConfig(layers=[3]))


@pytest.mark.parametrize("kind", ["esm2", "saprot"])
def test_forward_equals_the_lora_formula(checkpoint, sequences, kind, tmp_path) -> None:
    _need(kind)
    if kind == "saprot":  # SaProt's 446-token vocabulary: its own random checkpoint
        native = pytest.importorskip("protenc_seq.loading.native")
        torch.manual_seed(5)
        enc = build_model({"type": "saprot", "architecture": _arch("saprot")})
        for p in enc.parameters():
            p.data.normal_(0, 0.2)
        checkpoint = native.save_safetensors(enc.model, tmp_path / "saprot_tiny.safetensors")
    model = _task(checkpoint, kind)
    apply_lora(model, LoraConfig(dropout=0.0))
    _randomise_adapters(model)
    model.eval()
    reference = _by_formula(model, checkpoint, kind)
    batch = ProteinBatch.collate([model.truncate(p) for p in sequences])
    with torch.no_grad():  # CPU inference path (protenc-seq's fused kernels must call the LoRA layer)
        got = model(batch).output.double()
        want = reference(batch).output.double()
        plain = _task(checkpoint, kind).eval()
        plain.head.load_state_dict(model.head.state_dict())
        base = plain(batch).output.double()
    assert (got - base).abs().max() > 1e-3  # the adapters matter
    torch.testing.assert_close(got, want, rtol=0, atol=1e-5)
    grad_out = model(batch).output.double()  # autograd path
    torch.testing.assert_close(grad_out, want, rtol=0, atol=1e-5)


def test_one_step_trains_only_adapters_and_head_with_lr_ratio(checkpoint, sequences) -> None:
    model = _task(checkpoint)
    apply_lora(model, LoraConfig(dropout=0.0))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    config = OptimizerConfig(type="adam", lr=1e-2, lr_ratios={"encoder": 0.5})
    groups = parameter_groups(model, config)
    lrs = {id(p): g["lr"] for g in groups for p in g["params"]}
    for name, p in model.named_parameters():
        if p.requires_grad:
            assert lrs[id(p)] == (5e-3 if name.startswith("encoder.") else 1e-2), name
    optimizer = build_optimizer(model, config)
    model.train()
    batch = ProteinBatch.collate([model.truncate(p) for p in sequences])
    loss = model(batch, targets=torch.tensor([0, 1, 2, 0, 1, 2])).loss
    loss.backward()
    optimizer.step()
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert any(".lora_B." in n for n in changed) and any(n.startswith("head.") for n in changed)
    assert all(".lora_" in n or n.startswith("head.") for n in changed), changed


def test_export_reload_and_merge(checkpoint, sequences, tmp_path) -> None:
    model = _task(checkpoint)
    apply_lora(model, LoraConfig(r=4, alpha=16), base=checkpoint)
    _randomise_adapters(model)
    model.eval()
    scores = model.predict(sequences)
    model.save_pretrained(tmp_path / "lora")
    header = json.loads((tmp_path / "lora" / "config.json").read_text())
    base = header["config"]["base_weights"]
    assert base["path"] == str(checkpoint.resolve()) and base["module"] == "encoder"
    assert base["sha256"] == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    saved = load_file(tmp_path / "lora" / "model.safetensors")
    assert saved and all(".lora_" in k or k.startswith("head.") for k in saved)
    assert len([k for k in saved if ".lora_" in k]) == 2 * 2 * ARCH["num_layers"]
    adapters = sum(v.numel() * v.element_size() for k, v in saved.items() if ".lora_" in k)
    assert adapters <= checkpoint.stat().st_size / 10

    reloaded = load_pretrained(tmp_path / "lora")
    np.testing.assert_array_equal(reloaded.predict(sequences), scores)
    want = _by_formula(model, checkpoint).predict(sequences)
    np.testing.assert_allclose(scores, want, rtol=0, atol=1e-5)

    merge_pretrained(tmp_path / "lora", tmp_path / "merged")
    merged_header = json.loads((tmp_path / "merged" / "config.json").read_text())
    assert merged_header["config"]["lora"] is None and merged_header["config"]["base_weights"] is None
    assert not any(
        ".lora_" in k or "base_layer" in k for k in load_file(tmp_path / "merged" / "model.safetensors")
    )
    merged = load_pretrained(tmp_path / "merged")
    np.testing.assert_allclose(merged.predict(sequences), scores, rtol=0, atol=1e-5)
    in_memory = merge_lora(reloaded)
    np.testing.assert_allclose(in_memory.predict(sequences), scores, rtol=0, atol=1e-5)


def test_base_checkpoint_is_checked(checkpoint, tmp_path) -> None:
    copy = tmp_path / "base.safetensors"
    copy.write_bytes(checkpoint.read_bytes())
    copy.with_suffix(".json").write_bytes(checkpoint.with_suffix(".json").read_bytes())
    model = _task(copy)
    apply_lora(model, LoraConfig(), base=copy)
    model.save_pretrained(tmp_path / "lora")
    with copy.open("r+b") as f:  # one byte of the weights changed
        f.seek(copy.stat().st_size - 3)
        byte = f.read(1)
        f.seek(copy.stat().st_size - 3)
        f.write(bytes([byte[0] ^ 1]))
    with pytest.raises(PretrainedFormatError, match="sha256"):
        load_pretrained(tmp_path / "lora")
    copy.unlink()
    with pytest.raises(PretrainedFormatError, match="is missing"):
        load_pretrained(tmp_path / "lora")


def test_without_a_base_reference_the_export_holds_everything(checkpoint, sequences, tmp_path) -> None:
    model = _task(checkpoint)
    apply_lora(model, LoraConfig())
    _randomise_adapters(model)
    model.save_pretrained(tmp_path / "full")
    saved = load_file(tmp_path / "full" / "model.safetensors")
    assert any("base_layer" in k for k in saved)
    np.testing.assert_array_equal(
        load_pretrained(tmp_path / "full").predict(sequences), model.predict(sequences)
    )


def test_esmc_plugs_in_by_module_names(sequences) -> None:
    """ESM C (protenc-seq) names its attention projections ``qkv_proj`` / ``out_proj`` too: the defaults apply."""
    pytest.importorskip("protenc_seq")  # registers its encoder types on import
    _need("esmc")
    torch.manual_seed(0)
    encoder = build_model(
        {"type": "esmc", "architecture": {"num_layers": 2, "embed_dim": 64, "attention_heads": 4}}
    )
    for p in encoder.parameters():
        p.data.normal_(0, 0.1)
    model = TaskModel.from_encoder(encoder, {"type": "single_label", "num_classes": 3}, labels=LABELS)
    apply_lora(model, LoraConfig(dropout=0.0))
    assert model.config.lora.modules and all(
        m.endswith(("qkv_proj", "out_proj")) for m in model.config.lora.modules
    )
    model.eval()
    base_scores = model.predict(sequences)  # B = 0: the base model
    _randomise_adapters(model)
    scores = model.predict(sequences)
    assert np.abs(scores - base_scores).max() > 1e-4  # the adapters are in ESM C's forward
    merged = merge_lora(model)
    np.testing.assert_allclose(merged.predict(sequences), scores, rtol=0, atol=1e-5)


@pytest.mark.slow
def test_fused_encoder_adapts_its_sequence_side(checkpoint, globins, tmp_path) -> None:
    """Serial ESM-GearNet: adapters on ``encoder.sequence`` only; the frozen GearNet (no base checkpoint) is saved
    with the adapters, the sequence weights are not; the export reloads to the same scores."""
    _need("serial", "gearnet", "esm2")
    torch.manual_seed(0)
    encoder = {"type": "serial", "sequence": {"type": "esm2", "architecture": ARCH, "checkpoint": str(checkpoint)},
               "structure": {"type": "gearnet", "hidden_dims": [16, 16]}}  # fmt: skip
    model = TaskModel(
        {"encoder": encoder, "head": {"type": "single_label", "num_classes": 2}, "labels": ["a", "b"]}
    )
    apply_lora(model, LoraConfig(dropout=0.0), base=checkpoint)
    assert model.config.base_weights.module == "encoder.sequence"
    assert all(m.startswith("encoder.sequence.") for m in model.config.lora.modules)
    _randomise_adapters(model)
    model.eval()
    scores = model.predict(globins, batch_size=2)
    model.save_pretrained(tmp_path / "m")
    saved = load_file(tmp_path / "m" / "model.safetensors")
    assert any(k.startswith("encoder.structure.") for k in saved)
    assert all(".lora_" in k for k in saved if k.startswith("encoder.sequence."))
    np.testing.assert_array_equal(load_pretrained(tmp_path / "m").predict(globins, batch_size=2), scores)
