"""FragmentDecoder against a loop over the cross-attention formula (softmax over protein positions, as the
seed, or over text tokens), padding excluded on both axes."""

from __future__ import annotations

import math

import pytest
import torch

from protalign.losses.fragment_mlm import FragmentDecoder


@torch.no_grad()
def _loop_decoder(
    dec: FragmentDecoder, r: torch.Tensor, u: torch.Tensor, lp: list[int], lt: list[int], axis: str
):
    d = dec.dim
    out = torch.zeros(r.shape[0], r.shape[1], d, dtype=torch.float64)
    wq, bq = dec.query.weight.double(), dec.query.bias.double()
    wk, bk = dec.key.weight.double(), dec.key.bias.double()
    wv, bv = dec.value.weight.double(), dec.value.bias.double()
    for b in range(r.shape[0]):
        q = [wq @ r[b, i].double() + bq for i in range(lp[b])]
        k = [wk @ u[b, j].double() + bk for j in range(lt[b])]
        v = [wv @ u[b, j].double() + bv for j in range(lt[b])]
        score = [[float(q[i] @ k[j]) / math.sqrt(d) for j in range(lt[b])] for i in range(lp[b])]
        for i in range(lp[b]):
            for j in range(lt[b]):
                if axis == "protein":  # normalise over residues i' for this text token j
                    z = sum(math.exp(score[i2][j]) for i2 in range(lp[b]))
                else:  # over text tokens j' for this residue i
                    z = sum(math.exp(score[i][j2]) for j2 in range(lt[b]))
                out[b, i] += math.exp(score[i][j]) / z * v[j]
    return out


@pytest.mark.parametrize("axis", ["protein", "text"])
def test_decoder_matches_loop(axis: str) -> None:
    torch.manual_seed(0)
    dec = FragmentDecoder(8, attention=axis)
    lp, lt = [5, 3], [4, 2]
    r = torch.randn(2, 5, 8)
    u = torch.randn(2, 4, 8)
    pm = torch.arange(5)[None] < torch.tensor(lp)[:, None]
    tm = torch.arange(4)[None] < torch.tensor(lt)[:, None]
    got = dec(r, u, pm, tm)
    torch.testing.assert_close(got.double(), _loop_decoder(dec, r, u, lp, lt, axis), rtol=1e-5, atol=1e-5)
    assert torch.equal(got[1, 3:], torch.zeros(2, 8))  # padding residues get nothing


def test_seed_softmax_axis_sums_over_protein_positions() -> None:
    torch.manual_seed(1)
    dec = FragmentDecoder(4)
    r, u = torch.randn(1, 6, 4), torch.randn(1, 3, 4)
    pm = torch.tensor([[True] * 4 + [False] * 2])
    tm = torch.ones(1, 3, dtype=torch.bool)
    weights, _ = dec.attention_weights(r, u, pm, tm)
    torch.testing.assert_close(
        weights.sum(dim=1), torch.ones(1, 3)
    )  # each text token: one unit over residues
    assert torch.equal(weights[0, 4:], torch.zeros(2, 3))


def test_unknown_axis() -> None:
    with pytest.raises(ValueError, match="attention must be"):
        FragmentDecoder(4, attention="both")  # type: ignore[arg-type]
