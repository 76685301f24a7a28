"""``ESMCEncoder`` (type ``esmc``) through protenc-seq's shared machinery -- the encoder contract, ``embed``,
masked-marginal scoring, the MLM view, saving -- each checked against transformers' ``EsmcForMaskedLM``."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from protdata import Protein, ProteinBatch, load_pretrained
from protenc_seq import (
    CheckpointError,
    SequenceEncoderConfig,
    build_sequence_encoder,
    embed,
    masked_marginals,
    score_mutants,
)
from protenc_seq.alphabet import AMINO_ACIDS
from protenc_seq.errors import CroppedSequencesWarning
from protenc_seq.esmc import ESMC, ESMC_ALPHABET, ESMCConfig, ESMCEncoder
from protenc_seq.esmc.config import swiglu_hidden
from protenc_seq.esmc.convert import hf_to_ours

pytestmark = pytest.mark.numerics

TINY = {"num_layers": 3, "embed_dim": 64, "attention_heads": 4}


@pytest.fixture(scope="module")
def hf_mlm(transformers: Any) -> Any:
    """A random transformers ``EsmcForMaskedLM`` (eager attention, non-trivial norms)."""
    config = transformers.EsmcConfig(
        vocab_size=64,
        hidden_size=64,
        intermediate_size=swiglu_hidden(64),
        num_hidden_layers=3,
        num_attention_heads=4,
        attn_implementation="eager",
    )
    torch.manual_seed(1)
    model = transformers.EsmcForMaskedLM(config)
    gen = torch.Generator().manual_seed(1)
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
def encoder(hf_mlm: Any) -> ESMCEncoder:
    state, _, unknown = hf_to_ours(hf_mlm.state_dict())
    assert not unknown
    model = ESMC(ESMCConfig(**TINY))
    model.load_state_dict(state)
    return ESMCEncoder(model.eval())


def hf_run(hf: Any, sequence: str, masked: tuple[int, ...] = ()) -> Any:
    """transformers on one sequence (ids from ``EsmcTokenizer``), ``<mask>`` at 0-based residue ``masked``."""
    import transformers

    ids = transformers.EsmcTokenizer()(sequence, return_tensors="pt")["input_ids"]
    for i in masked:
        ids[0, i + 1] = ESMC_ALPHABET.mask_id
    with torch.no_grad():
        return hf(input_ids=ids, output_hidden_states=True)


def test_encoder_contract_matches_transformers(encoder, hf_mlm, real_sequences):
    proteins = [Protein.from_sequence(n, s) for n, s in real_sequences]
    batch = ProteinBatch.collate(proteins)
    with torch.no_grad():
        out = encoder(batch, return_logits=True)
    assert out.residue.shape == (len(proteins), batch.max_length, 64)
    for i, (_, seq) in enumerate(real_sequences):
        ref = hf_run(hf_mlm, seq)
        want = ref.hidden_states[-1][0, 1:-1].double()  # (L, D) final LayerNorm output, no <cls>/<eos>
        got = out.residue[i, : len(seq)].double()
        assert float((got - want).abs().max()) <= 1e-4
        assert float((out.protein[i].double() - want.mean(0)).abs().max()) <= 1e-4
        assert float((out.extras["logits"][i, : len(seq)].double() - ref.logits[0, 1:-1]).abs().max()) <= 1e-4
        assert float(out.residue[i, len(seq) :].abs().sum()) == 0.0


def test_embed_matches_transformers(encoder, hf_mlm, real_sequences):
    seqs = [s for _, s in real_sequences]
    means = embed(encoder, seqs, max_tokens=600)  # several length buckets
    residues = embed(encoder, seqs, per_residue=True, layer=1)
    for seq, mean, per in zip(seqs, means, residues):
        ref = hf_run(hf_mlm, seq)
        final = ref.hidden_states[-1][0, 1:-1].double()
        assert float((mean.double() - final.mean(0)).abs().max()) <= 1e-4
        assert float((per.double() - ref.hidden_states[1][0, 1:-1]).abs().max()) <= 1e-4


def test_masked_marginal_scores_match_a_brute_force_loop(encoder, hf_mlm, blat):
    """score = log P(mt) - log P(wt) at the masked site(s), log-softmax over all 64 outputs (Meier et al. 2021)."""
    sequence, mutants, offset = blat
    picked = mutants[:: max(1, len(mutants) // 12)][:12]
    doubles = [f"{a}:{b}" for a, b in zip(picked[:4], picked[4:8]) if a[1:-1] != b[1:-1]]
    scores = score_mutants(encoder, sequence, picked + doubles, offset=offset)
    for mutant, score in zip(picked + doubles, scores):
        sites = [(int(m[1:-1]) - offset, m[0], m[-1]) for m in mutant.split(":")]
        logits = hf_run(hf_mlm, sequence, masked=tuple(i for i, _, _ in sites)).logits[0].double()
        logp = torch.log_softmax(logits, -1)
        tok = ESMC_ALPHABET.tokens.index
        want = sum(float(logp[i + 1, tok(mt)] - logp[i + 1, tok(wt)]) for i, wt, mt in sites)
        assert abs(score - want) <= 1e-4, mutant
    table = masked_marginals(encoder.model, sequence, [0, 5])  # a bare ESMC is taken too
    logp = torch.log_softmax(hf_run(hf_mlm, sequence, masked=(5,)).logits[0, 6].double(), -1)
    want = np.array([float(logp[ESMC_ALPHABET.tokens.index(a)]) for a in AMINO_ACIDS])
    assert np.abs(table[1] - want).max() <= 1e-4


def test_masked_lm_view(encoder, hf_mlm, real_sequences):
    mlm = encoder.masked_lm()
    batch = ProteinBatch.collate([Protein.from_sequence(n, s) for n, s in real_sequences[:3]])
    tok = mlm.tokenize(batch)
    ids = mlm.random_token_ids()
    assert set(ids.tolist()) == set(range(33)) - {ESMC_ALPHABET.pad_id}  # never the unused rows 33-63
    assert torch.equal(mlm.mask_tokens(tok.tokens), torch.full_like(tok.tokens, 32))
    with torch.no_grad():
        logits = mlm.token_logits(tok.tokens)
        ref = hf_mlm(input_ids=tok.tokens, attention_mask=tok.tokens.ne(1).long()).logits
    real = tok.tokens.ne(ESMC_ALPHABET.pad_id)
    assert float((logits.double() - ref.double())[real].abs().max()) <= 1e-4


def test_save_and_reload_as_a_protstack_directory(encoder, real_sequences, tmp_path):
    seqs = [s for _, s in real_sequences[:3]]
    encoder.save_pretrained(tmp_path / "enc")
    back = ESMCEncoder.from_pretrained(tmp_path / "enc")
    again = load_pretrained(tmp_path / "enc")
    assert isinstance(again, ESMCEncoder) and back.config.type == "esmc"
    for a, b, c in zip(embed(encoder, seqs), embed(back, seqs), embed(again, seqs)):
        assert torch.equal(a, b) and torch.equal(a, c)


def test_built_from_a_config_and_fine_tuning_helpers():
    encoder = build_sequence_encoder(
        {"type": "esmc", "architecture": TINY, "on_long": "crop", "cls_output": True}
    )
    assert isinstance(encoder, ESMCEncoder) and encoder.output_dim == 64
    assert encoder.config == SequenceEncoderConfig(
        type="esmc", architecture=ESMCConfig(**TINY), on_long="crop", cls_output=True
    )
    assert encoder.tokenizer.max_residues == 2046
    with pytest.warns(CroppedSequencesWarning):  # 2,100 residues > the 2,046-residue window
        out = encoder(ProteinBatch.collate([Protein.from_sequence("a", "MKV" * 700)]))
    assert out.extras["covered"][0].sum() == 2046 and out.extras["cls"].shape == (1, 64)
    encoder.unfreeze_last_k_layers(1, final_norm=True)
    trainable = {n for n, p in encoder.model.named_parameters() if p.requires_grad}
    assert trainable == {
        n for n, _ in encoder.model.named_parameters() if n.startswith(("layers.2.", "norm."))
    }
    groups = encoder.parameter_groups(1.0, lr_ratio=0.1, layer_decay=0.5)
    assert sorted({g["lr"] for g in groups}) == [0.05, 0.1]  # 0.1 · 0.5^(L + 1 - depth): block 3, final norm


def test_a_model_without_lm_head_cannot_score(encoder, blat):
    sequence, mutants, offset = blat
    headless = ESMCEncoder(ESMC(ESMCConfig(**TINY)))
    headless.model.has_lm_head = False
    with pytest.raises(CheckpointError, match="no LM head"):
        score_mutants(headless, sequence, mutants[:2], offset=offset)


def test_a_fresh_process_loads_a_saved_esmc_encoder(encoder, tmp_path):
    """The ``esmc`` type is found through protenc-seq's ``protstack.models`` entry point (nothing imported first)."""
    import subprocess
    import sys

    encoder.save_pretrained(tmp_path / "enc")
    code = (
        "import sys; from protdata import load_pretrained; "
        "m = load_pretrained(sys.argv[1]); print(type(m).__name__, m.config.type)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "enc")], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["ESMCEncoder", "esmc"]


def test_the_window_check_reads_esmc_window():
    """ESM C reads 2,046 residues (``max_position_embeddings`` 2048 minus ``<cls>`` / ``<eos>``)."""
    from protdata.transforms import TruncateProteinConfig
    from protenc_seq import check_sequence_window
    from protenc_seq.errors import SequenceWindowError

    seq = SequenceEncoderConfig(type="esmc", architecture=ESMCConfig(**TINY))
    check_sequence_window(seq, TruncateProteinConfig(max_length=2046))
    with pytest.raises(SequenceWindowError, match="esmc encoder's window of 2046 residues"):
        check_sequence_window(seq, TruncateProteinConfig(max_length=2047))


def test_a_bare_esmc_network_gets_the_esmc_encoder(encoder, real_sequences):
    from protenc_seq import encoder_for

    assert type(encoder_for(encoder.model)) is ESMCEncoder
    seqs = [s for _, s in real_sequences[:2]]
    for a, b in zip(embed(encoder.model, seqs), embed(encoder, seqs)):
        assert torch.equal(a, b)
