"""``embed()`` against fair-esm's per-sequence representations (input order, buckets, layers, policies)."""

from __future__ import annotations

import random

import pytest
import torch

from protenc_seq import ESM2Encoder, InputSequenceError, embed
from protenc_seq.loading.checkpoint import RawCheckpoint, build_model
from protenc_seq.loading.convert import fair_to_ours

pytestmark = pytest.mark.numerics

TOL = 1e-4


@pytest.fixture(scope="module")
def pair(make_fair_esm):
    fair = make_fair_esm(3, 64, 4, seed=31)
    state, _ = fair_to_ours(fair.state_dict(), "fair")
    return fair, ESM2Encoder(build_model(RawCheckpoint(state=state, source="fair")))


def test_embeddings_equal_fair_esm_in_input_order(pair, fair_esm_batch, real_sequences) -> None:
    fair, enc = pair
    records = list(real_sequences)
    random.Random(0).shuffle(records)
    seqs = [s for _, s in records]
    mean = embed(enc, seqs, max_tokens=600)  # several length buckets
    per_res = embed(enc, seqs, per_residue=True, max_tokens=600)
    layer1 = embed(enc, seqs, per_residue=True, layer=1)
    for i, record in enumerate(records):
        with torch.no_grad():
            ref = fair(fair_esm_batch([record]), repr_layers=[1, 3])["representations"]
        n = len(record[1])
        assert per_res[i].shape == (n, 64) and mean[i].shape == (64,)
        assert (per_res[i] - ref[3][0, 1 : n + 1]).abs().max() <= TOL
        assert (mean[i] - ref[3][0, 1 : n + 1].mean(0)).abs().max() <= TOL
        assert (layer1[i] - ref[1][0, 1 : n + 1]).abs().max() <= TOL


def test_policies_in_embed(pair, cafa_records) -> None:
    _, enc = pair
    long_name, long_seq = max(cafa_records, key=lambda r: len(r[1]))  # a real 3,148-residue protein
    with pytest.raises(InputSequenceError, match=rf"sequence 1 \('{long_name}'\).*exceed the model's window"):
        embed(enc, ["MKV", long_seq], ids=["short", long_name])
    with pytest.warns(UserWarning, match="cropped 1 sequence"):
        out = embed(enc, ["MKV", long_seq], per_residue=True, on_long="crop")
    assert out[0].shape == (3, 64) and out[1].shape == (1022, 64)
    with pytest.raises(InputSequenceError, match="lower-case"):
        embed(enc, ["mkv"])
