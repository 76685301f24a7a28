"""The encoder contract (``ProteinBatch`` -> ``EncoderOutput``) against fair-esm / transformers outputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from protdata import Protein, ProteinBatch, saprot
from protdata.encoder import check_output
from protenc_seq import ESM2Config, ESM2Encoder, InputSequenceError, SaProtEncoder
from protenc_seq.loading.checkpoint import RawCheckpoint, build_model
from protenc_seq.loading.convert import fair_to_ours, hf_to_fair

pytestmark = pytest.mark.numerics

TOL = 1e-4


def encoder_from_fair(fair, **options) -> ESM2Encoder:
    state, _ = fair_to_ours(fair.state_dict(), "fair")
    return ESM2Encoder(build_model(RawCheckpoint(state=state, source="fair")), **options)


def test_esm2_encoder_matches_fair_esm(make_fair_esm, fair_esm_batch, real_sequences) -> None:
    fair = make_fair_esm(2, 64, 4, seed=21)
    enc = encoder_from_fair(fair)
    records = real_sequences[:4]
    masked = np.zeros(len(records[1][1]), dtype=bool)
    masked[[2, 10]] = True
    proteins = [Protein.from_sequence(n, s) for n, s in records]
    proteins[1] = proteins[1].replace(residue_masked=masked)
    batch = ProteinBatch.collate(proteins)
    out = enc(batch, return_logits=True)
    check_output(out, batch, 64)
    tokens = fair_esm_batch(records)
    tokens[1, 1 + np.flatnonzero(masked)] = 32  # what the encoder must have seen
    with torch.no_grad():
        ref = fair(tokens, repr_layers=[2])
    for i, (_, seq) in enumerate(records):
        n = len(seq)
        want = ref["representations"][2][i, 1 : n + 1]
        assert (out.residue[i, :n] - want).abs().max() <= TOL
        assert (out.protein[i] - want.mean(0)).abs().max() <= TOL
        assert (out.extras["logits"][i, :n] - ref["logits"][i, 1 : n + 1]).abs().max() <= TOL
        assert torch.all(out.residue[i, n:] == 0)


def test_saprot_encoder_matches_transformers(make_hf_mlm) -> None:
    hf = make_hf_mlm(2, 64, 4, vocab_size=446, seed=22)
    fair_names, _ = hf_to_fair(hf.state_dict(), "hf")
    state, _ = fair_to_ours(fair_names, "hf")
    enc = SaProtEncoder(build_model(RawCheckpoint(state=state, source="hf")))
    proteins = [
        Protein(
            id="af",
            sequence="MEVQLVQYKDA",
            structure_tokens="DVPPDYDAVLL",
            plddt=np.array([90, 90, 40, 80, 80, 90, 95, 99, 50, 90, 90], dtype=np.float32),
            residue_masked=np.array([0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0], dtype=bool),
        ),
        Protein.from_sequence("seq_only", "GAVLKX"),  # amino acids only: '#' structure, X -> <unk>
    ]
    batch = ProteinBatch.collate(proteins)
    out = enc(batch)
    check_output(out, batch, 64)
    for i, p in enumerate(proteins):
        ids = torch.from_numpy(saprot.encode(saprot.structure_aware_sequence(p, mask_residues=True)))[None]
        with torch.no_grad():
            want = hf.esm(ids).last_hidden_state[0, 1:-1]
        assert (out.residue[i, : len(p)] - want).abs().max() <= TOL


def test_long_protein_policy(make_fair_esm) -> None:
    fair = make_fair_esm(1, 32, 2, seed=1)
    long = Protein.from_sequence("titin_piece", "MKV" * 400)
    batch = ProteinBatch.collate([Protein.from_sequence("short", "MKVLA"), long])
    with pytest.raises(InputSequenceError, match=r"protein 1 \('titin_piece'\).*1200 residues exceed"):
        encoder_from_fair(fair)(batch)
    with pytest.warns(UserWarning, match="cropped"):
        out = encoder_from_fair(fair, on_long="crop")(batch)
    covered = out.extras["covered"]
    assert covered[1].sum() == 1022 and covered[0].sum() == 5
    assert out.residue[1, 1022:].abs().max() == 0
    assert torch.allclose(out.protein[1], out.residue[1, :1022].mean(0), atol=1e-6)


def test_freeze_and_parameter_groups() -> None:
    enc = ESM2Encoder(ESM2Config(num_layers=4, embed_dim=32, attention_heads=2))
    enc.freeze()
    assert not any(p.requires_grad for p in enc.parameters())
    enc.unfreeze_last_k_layers(2)
    trainable = {n for n, p in enc.model.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith(("layers.2.", "layers.3.")) for n in trainable)
    assert {n.split(".")[1] for n in trainable} == {"2", "3"}
    enc.unfreeze()
    groups = enc.parameter_groups(1e-4, lr_ratio=0.1, weight_decay=0.01)  # ESM-GearNet: encoder lr 1e-5
    assert all(g["lr"] == pytest.approx(1e-5) for g in groups)
    assert sum(len(g["params"]) for g in groups) == len(list(enc.parameters()))
    no_decay = [p for g in groups if g["weight_decay"] == 0 for p in g["params"]]
    assert all(p.ndim == 1 for p in no_decay) and no_decay
    decayed = enc.parameter_groups(1.0, layer_decay=0.5)
    lrs = {round(g["lr"], 6) for g in decayed}
    assert lrs == {1.0, 0.5, 0.25, 0.125, 0.0625, 0.03125}  # heads … embeddings over 4 blocks
    torch.optim.AdamW(enc.parameter_groups(1e-4, lr_ratio=0.08))  # FusionProt ratio: a valid optimizer
