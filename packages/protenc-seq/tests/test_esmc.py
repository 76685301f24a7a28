"""ESM C: our network against transformers' ``EsmcModel`` / ``EsmcForMaskedLM`` (eager attention, random weights),
the vocabulary against ``EsmcTokenizer``, the presets against the references' numbers, and offline loading of
transformers directories and ``esm``-package state dicts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from protenc_seq import (
    CheckpointError,
    SequenceEncoderConfig,
    build_sequence_encoder,
    detect_format,
    load_model,
)
from protenc_seq.esmc import ESMC, ESMC_ALPHABET, ESMCConfig, ESMCEncoder, load_esmc, save_esmc_huggingface
from protenc_seq.esmc.config import swiglu_hidden
from protenc_seq.esmc.convert import hf_to_ours
from protenc_seq.esmc.tokenizer import esmc_tokenizer

pytestmark = pytest.mark.numerics

TINY = {"num_layers": 3, "embed_dim": 64, "attention_heads": 4}


def make_hf_esmc(transformers: Any, *, head: bool = True, seed: int = 0, layers: int = 3) -> Any:
    """A random transformers ``EsmcForMaskedLM`` (or ``EsmcModel``) with eager attention and non-trivial norms."""
    config = transformers.EsmcConfig(
        vocab_size=64,
        hidden_size=64,
        intermediate_size=swiglu_hidden(64),
        num_hidden_layers=layers,
        num_attention_heads=4,
        attn_implementation="eager",
    )
    torch.manual_seed(seed)
    model = (transformers.EsmcForMaskedLM if head else transformers.EsmcModel)(config)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name and name.endswith("weight"):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=gen))
            elif p.ndim >= 2:
                p.copy_(torch.randn(p.shape, generator=gen) / p.shape[-1] ** 0.5)
            else:
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
    return model.eval()


@pytest.fixture(scope="module")
def hf_mlm(transformers: Any) -> Any:
    return make_hf_esmc(transformers)


@pytest.fixture(scope="module")
def padded(real_sequences: list[tuple[str, str]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Six real sequences of different lengths as ``(B, T)`` right-padded ids and the attention mask."""
    arrays = esmc_tokenizer().encode([s for _, s in real_sequences])
    width = max(len(a) for a in arrays)
    tokens = torch.full((len(arrays), width), ESMC_ALPHABET.pad_id, dtype=torch.long)
    for i, a in enumerate(arrays):
        tokens[i, : len(a)] = torch.from_numpy(a)
    return tokens, tokens.ne(ESMC_ALPHABET.pad_id)


def ours_from(hf: Any) -> ESMC:
    state, ignored, unknown = hf_to_ours(hf.state_dict())
    assert not unknown and not ignored
    model = ESMC(ESMCConfig(**TINY))
    model.load_state_dict(state, strict=True)
    return model.eval()


def max_diff(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> float:
    return float((a.double() - b.double())[mask].abs().max())


# ------------------------------------------------------------------------------------------------ parity
def test_hidden_states_and_logits_match_transformers_on_a_padded_batch(hf_mlm, padded):
    tokens, mask = padded
    ours = ours_from(hf_mlm)
    with torch.no_grad():
        ref = hf_mlm(input_ids=tokens, attention_mask=mask.long(), output_hidden_states=True)
        ref_hidden = hf_mlm.esmc(input_ids=tokens, attention_mask=mask.long()).last_hidden_state
        out = ours(tokens, repr_layers=range(4))
    assert max_diff(out.hidden, ref_hidden, mask) <= 1e-4
    assert max_diff(out.logits, ref.logits, mask) <= 1e-4
    assert out.logits.shape[-1] == 64
    # hidden_states: embeddings, block outputs, final (post-norm) -- our repr_layers 0 … L
    assert len(ref.hidden_states) == 4
    for layer, h in enumerate(ref.hidden_states):
        assert max_diff(out.representations[layer], h, mask) <= 1e-4, layer
    assert float(out.hidden[~mask].abs().max()) == 0.0  # padding rows are zero


def test_packed_and_padded_layouts_agree_with_single_sequences(hf_mlm, padded):
    """No row sees padding: each sequence alone through transformers equals its row of our packed batch."""
    from protenc_seq.esm2.packing import PackedBatch

    tokens, mask = padded
    ours = ours_from(hf_mlm)
    packed = PackedBatch.from_padded(tokens, ESMC_ALPHABET.pad_id)  # no padding rows at all
    with torch.no_grad():
        out = ours.forward_packed(packed)
        for i, (h, lg) in enumerate(zip(packed.split(out.hidden), packed.split(out.logits))):
            single = tokens[i, : int(mask[i].sum())][None]
            ref = hf_mlm(input_ids=single, output_hidden_states=True)
            assert max_diff(lg, ref.logits[0], torch.ones(len(lg), dtype=torch.bool)) <= 1e-4
            assert max_diff(h, ref.hidden_states[-1][0], torch.ones(len(h), dtype=torch.bool)) <= 1e-4


def test_parity_checks_can_fail(hf_mlm, padded):
    """The checks above can fail: without the residual divisor sqrt(3 / 36) the logits move far past 1e-4."""
    tokens, mask = padded
    ours = ours_from(hf_mlm)
    with torch.no_grad():
        ref = hf_mlm(input_ids=tokens, attention_mask=mask.long()).logits
        for block in ours.layers:
            block.divisor = 1.0
        assert max_diff(ours(tokens).logits, ref, mask) > 1e-2


# ------------------------------------------------------------------------------------------ vocabulary
def test_vocabulary_and_special_ids_match_esmc_tokenizer(transformers, cafa_records):
    tok = transformers.EsmcTokenizer()  # built-in vocabulary: nothing downloaded
    vocab = tok.get_vocab()
    assert all(vocab[t] == i for i, t in enumerate(ESMC_ALPHABET.tokens))
    assert len(ESMC_ALPHABET.tokens) == 33
    a = ESMC_ALPHABET
    assert (a.cls_id, a.pad_id, a.eos_id, a.unk_id, a.mask_id) == (
        tok.cls_token_id,
        tok.pad_token_id,
        tok.eos_token_id,
        tok.unk_token_id,
        tok.mask_token_id,
    )
    assert tok.bos_token_id == a.cls_id
    assert vocab["|"] == 31
    ours = esmc_tokenizer(max_residues=None, nonstandard="keep")
    rare = [s for _, s in cafa_records if set(s) & set("BZUO")]
    seqs = [s for _, s in cafa_records[:20]] + rare
    assert rare  # the sample has Z / O residues: ESM C's own tokens with nonstandard="keep"
    for seq, ids in zip(seqs, ours.encode(seqs)):
        assert tok(seq)["input_ids"] == ids.tolist()


# ------------------------------------------------------------------------------------------------ presets
def test_presets_follow_the_references(transformers):
    """esm package ``ESMC_300M_202412`` (960/15/30), ``ESMC_600M_202412`` (1152/18/36); transformers'
    ``EsmcConfig()`` defaults are ESMC-6B."""
    six = transformers.EsmcConfig()
    c6 = ESMCConfig.preset("6B")
    assert (c6.embed_dim, c6.num_layers, c6.attention_heads, c6.ffn, c6.vocab_rows) == (
        six.hidden_size,
        six.num_hidden_layers,
        six.num_attention_heads,
        six.intermediate_size,
        six.vocab_size,
    )
    c3, c6m = ESMCConfig.preset("esmc_300m"), ESMCConfig.preset("600M")
    assert (c3.embed_dim, c3.attention_heads, c3.num_layers, c3.ffn) == (960, 15, 30, 2560)
    assert (c6m.embed_dim, c6m.attention_heads, c6m.num_layers, c6m.ffn) == (1152, 18, 36, 3072)
    assert c6.max_residues == six.max_position_embeddings - 2
    # parameter count of a small config = transformers' own count
    tiny = ESMCConfig(**TINY)
    hf = make_hf_esmc(transformers)
    assert tiny.num_parameters() == sum(p.numel() for p in hf.parameters())
    with pytest.raises(KeyError, match="unknown ESM C preset"):
        ESMCConfig.preset("650M")


def test_sequence_encoder_config_takes_esmc():
    c = SequenceEncoderConfig.model_validate({"type": "esmc", "architecture": TINY})
    assert isinstance(c.architecture, ESMCConfig) and c.output_dim == 64 and c.num_layers == 3
    assert SequenceEncoderConfig(type="esmc").resolved_architecture().name == "esmc_600m"
    with pytest.raises(ValueError, match="unknown ESM C preset"):
        SequenceEncoderConfig(type="esmc", preset="650M")
    with pytest.raises(ValueError, match="needs type 'esmc'"):
        SequenceEncoderConfig.model_validate({"type": "esm2", "architecture": {**TINY, "type": "esmc"}})
    with pytest.raises(ValueError, match="not an ESM-2 architecture"):
        c.esm2_config()
    assert SequenceEncoderConfig.model_validate(c.model_dump()) == c


# ----------------------------------------------------------------------------------------------- loading
def test_loads_a_transformers_directory(hf_mlm, padded, tmp_path):
    tokens, mask = padded
    hf_mlm.save_pretrained(tmp_path)
    assert detect_format(tmp_path) == "esmc_huggingface"
    model = load_model(tmp_path)
    assert isinstance(model, ESMC) and model.has_lm_head
    assert model.config == ESMCConfig(**TINY)
    with torch.no_grad():
        ref = hf_mlm(input_ids=tokens, attention_mask=mask.long()).logits
        assert max_diff(model(tokens).logits, ref, mask) <= 1e-4
    encoder = build_sequence_encoder({"type": "esmc", "architecture": TINY, "checkpoint": str(tmp_path)})
    assert isinstance(encoder, ESMCEncoder)
    with pytest.raises(CheckpointError, match="expected"):
        load_esmc(tmp_path, expect=ESMCConfig(num_layers=2, embed_dim=64, attention_heads=4))
    with pytest.raises(CheckpointError, match="found ESM C"):
        load_model(tmp_path, expect=build_esm2_config())


def build_esm2_config() -> Any:
    from protenc_seq import ESM2Config

    return ESM2Config(num_layers=2, embed_dim=32, attention_heads=4)


def test_loads_a_bare_esmc_model_without_lm_head(transformers, padded, tmp_path):
    tokens, mask = padded
    hf = make_hf_esmc(transformers, head=False, seed=3)
    hf.save_pretrained(tmp_path)
    model = load_model(tmp_path)
    assert isinstance(model, ESMC) and not model.has_lm_head
    with torch.no_grad():
        ref = hf(input_ids=tokens, attention_mask=mask.long()).last_hidden_state
        out = model(tokens)
    assert out.logits is None and max_diff(out.hidden, ref, mask) <= 1e-4


def esm_package_state(hf_state: dict[str, torch.Tensor], num_layers: int) -> dict[str, torch.Tensor]:
    """The ``esm`` package's ``ESMC.state_dict()`` names (evolutionaryscale/esm ``esm/models/esmc.py``,
    ``esm/layers/{attention,blocks,regression_head}.py``), filled from a transformers state dict."""
    s = {k.removeprefix("esmc."): v for k, v in hf_state.items()}
    out = {"embed.weight": s["embed_tokens.weight"], "transformer.norm.weight": s["norm.weight"]}
    for i in range(num_layers):
        h, e = f"layers.{i}.", f"transformer.blocks.{i}."
        out[e + "attn.layernorm_qkv.0.weight"] = s[h + "input_layernorm.weight"]
        out[e + "attn.layernorm_qkv.0.bias"] = s[h + "input_layernorm.bias"]
        out[e + "attn.layernorm_qkv.1.weight"] = torch.cat(
            [s[h + f"self_attn.{p}_proj.weight"] for p in "qkv"], dim=0
        )
        out[e + "attn.q_ln.weight"] = s[h + "self_attn.q_norm.weight"]
        out[e + "attn.k_ln.weight"] = s[h + "self_attn.k_norm.weight"]
        out[e + "attn.out_proj.weight"] = s[h + "self_attn.o_proj.weight"]
        out[e + "ffn.0.weight"] = s[h + "post_attention_layernorm.weight"]
        out[e + "ffn.0.bias"] = s[h + "post_attention_layernorm.bias"]
        out[e + "ffn.1.weight"] = torch.cat(
            [s[h + "mlp.gate_proj.weight"], s[h + "mlp.up_proj.weight"]], dim=0
        )
        out[e + "ffn.3.weight"] = s[h + "mlp.down_proj.weight"]
    for ours, theirs in (("0", "dense"), ("2", "layer_norm"), ("3", "decoder")):
        for p in ("weight", "bias"):
            out[f"sequence_head.{ours}.{p}"] = s[f"lm_head.{theirs}.{p}"]
    return out


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_loads_an_esm_package_state_dict(hf_mlm, padded, tmp_path, suffix):
    from safetensors.torch import save_file

    tokens, mask = padded
    state = {k: v.contiguous() for k, v in esm_package_state(hf_mlm.state_dict(), 3).items()}
    path = tmp_path / f"esmc_tiny{suffix}"
    if suffix == ".pth":
        torch.save(state, path)
    else:
        save_file(state, path)
    assert detect_format(path) == "esmc_esm"
    # 3 × 64 is no published size and the file has no config: the head count must be given
    with pytest.raises(CheckpointError, match="attention heads"):
        load_model(path)
    model = load_model(path, expect=ESMCConfig(**TINY))
    with torch.no_grad():
        ref = hf_mlm(input_ids=tokens, attention_mask=mask.long()).logits
        assert max_diff(model(tokens).logits, ref, mask) <= 1e-4
    broken = {k: v for k, v in state.items() if not k.startswith("transformer.blocks.1.")}
    torch.save(broken, tmp_path / "broken.pth")
    with pytest.raises(CheckpointError, match=r"block\(s\) \[1\] missing"):
        load_model(tmp_path / "broken.pth", expect=ESMCConfig(**TINY))


def test_loads_esm_package_names_with_the_esmc_prefix(hf_mlm, padded, tmp_path):
    """The names the esm package's own loader accepts and normalises (``esm/pretrained.py``
    ``_normalize_esmc_checkpoint_key``: an ``esmc.`` prefix dropped, ``lm_head.`` read as ``sequence_head.``)
    load to transformers' logits as the plain ``ESMC.state_dict()`` names do."""
    from safetensors.torch import save_file

    tokens, mask = padded
    plain = esm_package_state(hf_mlm.state_dict(), 3)
    renamed = {
        ("lm_head." + k.removeprefix("sequence_head.") if k.startswith("sequence_head.") else "esmc." + k): v
        for k, v in plain.items()
    }
    assert (
        "lm_head.3.weight" in renamed and "esmc.transformer.blocks.0.attn.layernorm_qkv.1.weight" in renamed
    )
    path = tmp_path / "esmc_renamed.safetensors"
    save_file({k: v.contiguous() for k, v in renamed.items()}, path)
    assert detect_format(path) == "esmc_esm"
    model = load_model(path, expect=ESMCConfig(**TINY))
    with torch.no_grad():
        ref = hf_mlm(input_ids=tokens, attention_mask=mask.long()).logits
        assert max_diff(model(tokens).logits, ref, mask) <= 1e-4
    bad = {**renamed, "esmc.transformer.blocks.0.attn.extra.weight": torch.zeros(2)}
    save_file({k: v.contiguous() for k, v in bad.items()}, tmp_path / "bad.safetensors")
    with pytest.raises(
        CheckpointError, match=r"unrecognised ESM C tensor\(s\): esmc\.transformer\.blocks\.0"
    ):
        load_model(tmp_path / "bad.safetensors", expect=ESMCConfig(**TINY))


def test_written_directory_loads_in_transformers(transformers, hf_mlm, padded, tmp_path):
    tokens, mask = padded
    ours = ours_from(hf_mlm)
    save_esmc_huggingface(ours, tmp_path)
    back = transformers.EsmcForMaskedLM.from_pretrained(tmp_path, attn_implementation="eager").eval()
    with torch.no_grad():
        ref = hf_mlm(input_ids=tokens, attention_mask=mask.long()).logits
        got = back(input_ids=tokens, attention_mask=mask.long()).logits
    assert max_diff(got, ref, mask) == 0.0
    assert np.isfinite(got.numpy()).all()


def test_unreadable_or_foreign_files_are_clear_errors(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "esmc", "pad_token_id": 0}')
    with pytest.raises(CheckpointError, match="pad_token_id"):
        load_model(tmp_path)
    path: Path = tmp_path / "w.pth"
    torch.save({"foo": torch.zeros(2)}, path)
    assert detect_format(path) == "fair_esm"  # not an ESM C layout: left to the fair-esm reader
