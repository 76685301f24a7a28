"""ESM's contact regression on attention maps (:class:`prottasks.heads.AttentionContactHead` over protenc-seq's ESM-2
encoder) against fair-esm itself: a random fair-esm ESM-2 with a random contact regression, the same weights copied
into ours, real PDB chains batched with padding; our ``sigmoid(logits)`` equals fair-esm's
``model(tokens, return_contacts=True)["contacts"]`` of each protein alone (max |Δ| ≤ 1e-5, fp32). The head trains only
the regression on the frozen encoder, as a ``contact`` task of the finetune app."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
APPS = ROOT / "apps"
if str(APPS) not in sys.path:
    sys.path.insert(0, str(APPS))

from app_testing import randomize_  # noqa: E402

from protdata import ProteinBatch, load_chains  # noqa: E402
from protdata.testing import shared_data  # noqa: E402

pytestmark = pytest.mark.numerics

TOL = 1e-5


@pytest.fixture(scope="module")
def chains():
    folder = shared_data("structures", "experimental_mdanalysis_dssp")
    return [
        p
        for name in ("3a4rA", "1i8nA", "2cviA")
        for p in load_chains(folder / f"{name}.pdb.gz", format="pdb")
    ]


@pytest.fixture(scope="module")
def fair_and_ours():
    esm = pytest.importorskip("esm")
    from protenc_seq.encoder import encoder_for
    from protenc_seq.loading.checkpoint import RawCheckpoint, build_model
    from protenc_seq.loading.convert import fair_to_ours

    alphabet = esm.data.Alphabet.from_architecture("ESM-1b")
    fair = esm.model.esm2.ESM2(2, 32, 4, alphabet, token_dropout=True)
    randomize_(fair, seed=7)  # the contact regression too
    for layer in fair.layers:  # released checkpoints hold fp16-rounded rotary frequencies
        inv = layer.self_attn.rot_emb.inv_freq
        inv.copy_(inv.half().float())
    fair.eval()
    state, unknown = fair_to_ours(fair.state_dict(), "fair-esm")
    assert not unknown
    ours = encoder_for(build_model(RawCheckpoint(state=state, source="fair-esm model")))
    return fair, alphabet, ours


def test_attention_regression_matches_fair_esm(chains, fair_and_ours) -> None:
    from prottasks import TaskModel
    from prottasks.heads import AttentionContactHead

    fair, alphabet, encoder = fair_and_ours
    model = TaskModel.from_encoder(encoder, {"type": "attention_contact"})
    head = model.head
    assert isinstance(head, AttentionContactHead) and model.kind == "contact"
    assert head.regression.in_features == 2 * 4 == encoder.attention_channels
    with torch.no_grad():
        head.regression.weight.copy_(fair.contact_head.regression.weight)
        head.regression.bias.copy_(fair.contact_head.regression.bias)
    batch = ProteinBatch.collate(chains)  # padded: 3 real chains of different lengths
    assert len(set(batch.lengths.tolist())) == 3
    model.eval()
    with torch.no_grad():
        probs = torch.sigmoid(model(batch).output.double())
    convert = alphabet.get_batch_converter()
    worst = 0.0
    for b, protein in enumerate(chains):
        tokens = convert([(protein.id, protein.sequence)])[2]
        with torch.no_grad():
            want = fair(tokens, return_contacts=True)["contacts"][0].double()  # (L, L)
        n = len(protein)
        assert want.shape == (n, n)
        worst = max(worst, float((probs[b, :n, :n] - want).abs().max()))
    print(f"max |ours - fair-esm| = {worst:.2e}")
    assert worst <= TOL, worst
    # predict: one (L, L) map per protein, the same probabilities
    maps = model.predict(chains)
    assert [m.shape for m in maps] == [(len(p), len(p)) for p in chains]
    assert abs(maps[0] - probs[0, : len(chains[0]), : len(chains[0])].numpy()).max() <= 1e-6


def test_only_the_regression_trains(chains, fair_and_ours) -> None:
    from prottasks import TaskModel
    from prottasks.errors import TaskInputError
    from prottasks.heads import AttentionContactHead

    _, _, encoder = fair_and_ours
    model = TaskModel.from_encoder(encoder, {"type": "attention_contact"})
    model.train()
    assert not model.encoder.training
    out = model(ProteinBatch.collate(chains), targets=torch.zeros(len(chains)))  # labels from the coordinates
    assert torch.isfinite(out.loss) and set(out.metrics) >= {"loss", "long_P@L/5"}
    out.loss.backward()
    assert all(p.grad is None for p in model.encoder.parameters())
    assert model.head.regression.weight.grad is not None and model.head.regression.weight.grad.abs().sum() > 0
    with pytest.raises(TaskInputError, match="returns no attention maps"):
        AttentionContactHead(torch.nn.Linear(2, 2))
