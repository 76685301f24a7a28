"""Cross fusion against ESM-GearNet's ``FusionNetwork`` cross branch, transcribed with explicit attention maths."""

from __future__ import annotations

import math

import pytest
import torch

from protdata import ProteinBatch
from protenc_seq import ESM2Config, ESM2Encoder
from protenc_struct import GVPGNN, GearNet
from protfusion import CrossFusion, FusionError, SelfAttentionBlock

pytestmark = pytest.mark.numerics

HEADS = 4


def reference_attention(block: SelfAttentionBlock, x: torch.Tensor) -> torch.Tensor:
    """TorchDrug's SelfAttentionBlock on one unpadded token set ``(T, d)``: query/key/value Linear, then
    ``nn.MultiheadAttention``'s in-projections, ``softmax(Q Kᵀ / √d_h) V`` per head and ``out_proj`` (Vaswani et
    al. 2017, Eq. 1; PyTorch's documented MultiheadAttention maths), written out by hand."""
    d = block.hidden_dim
    w, b = block.attn.in_proj_weight, block.attn.in_proj_bias
    q = block.query(x) @ w[:d].T + b[:d]
    k = block.key(x) @ w[d : 2 * d].T + b[d : 2 * d]
    v = block.value(x) @ w[2 * d :].T + b[2 * d :]
    heads = []
    for h in range(HEADS):
        s = slice(h * d // HEADS, (h + 1) * d // HEADS)
        scores = q[:, s] @ k[:, s].T / math.sqrt(d // HEADS)
        heads.append(torch.softmax(scores, dim=-1) @ v[:, s])
    return block.attn.out_proj(torch.cat(heads, dim=-1))


def test_matches_esm_gearnets_cross_branch(helpers, batch):
    """Per protein: tokens ``[seq_linear(s_1 … s_L) ; struct_linear(t_1 … t_L)]`` (TorchDrug ``_extend`` order, no
    padding), one attention block, residue ``i`` = ``[out_i ‖ out_{L+i}]``, protein = Σ residues (scatter_add)."""
    torch.manual_seed(0)
    seq = ESM2Encoder(ESM2Config(num_layers=2, embed_dim=32, attention_heads=4))
    fusion = helpers.randomize_(CrossFusion(seq, GearNet(hidden_dims=[16, 16]), 16, HEADS), 0).eval()
    with torch.no_grad():
        out = fusion(batch)
        s = fusion.sequence(batch)
        t = fusion.structure(batch)
        for i, length in enumerate(batch.lengths.tolist()):
            tokens = torch.cat(
                [fusion.seq_linear(s.residue[i, :length]), fusion.struct_linear(t.residue[i, :length])]
            )
            attended = reference_attention(fusion.attn, tokens)  # (2L, d)
            node = torch.cat([attended[:length], attended[length:]], dim=-1)  # (L, 2d)
            torch.testing.assert_close(out.residue[i, :length], node, rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(out.protein[i], node.sum(0), rtol=1e-5, atol=1e-4)
    assert fusion.output_dim == 32 and out.residue.shape[-1] == 32


def test_dropout_only_in_training(helpers, proteins):
    torch.manual_seed(0)
    seq = ESM2Encoder(ESM2Config(num_layers=1, embed_dim=16, attention_heads=2))
    fusion = CrossFusion(seq, GearNet(hidden_dims=[8]), 8, 2, dropout=0.5)
    batch = ProteinBatch.collate(proteins[:2])
    fusion.train()
    a, b = fusion(batch).protein, fusion(batch).protein
    assert not torch.allclose(a, b)
    fusion.eval()
    assert torch.equal(fusion(batch).protein, fusion(batch).protein)


def test_state_dict_names_are_esm_gearnets():
    torch.manual_seed(0)
    fusion = CrossFusion(
        ESM2Encoder(ESM2Config(num_layers=1, embed_dim=16, attention_heads=2)), GearNet(hidden_dims=[8]), 8, 2
    )
    own = {k for k in fusion.state_dict() if not k.startswith(("sequence.", "structure."))}
    assert own == {
        "seq_linear.weight", "seq_linear.bias", "struct_linear.weight", "struct_linear.bias",
        "attn.query.weight", "attn.query.bias", "attn.key.weight", "attn.key.bias",
        "attn.value.weight", "attn.value.bias", "attn.attn.in_proj_weight", "attn.attn.in_proj_bias",
        "attn.attn.out_proj.weight", "attn.attn.out_proj.bias",
    }  # fmt: skip


def test_width_errors():
    seq = ESM2Encoder(ESM2Config(num_layers=1, embed_dim=16, attention_heads=2))
    with pytest.raises(FusionError, match=r"one-hot.*node_in_dim=\[21, 0\]"):
        CrossFusion(seq, GVPGNN(node_in_dim=(16, 0)))
    with pytest.raises(FusionError, match="not a multiple"):
        CrossFusion(seq, GearNet(hidden_dims=[8]), 10, 4)
