"""TokenFusion (FusionProt): parity with FusionProt's forward transcribed on fair-esm's ESM-2, the structure path
switched off, gradients, supported encoders."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from protdata import ProteinBatch
from protenc_seq import ESM2Config, ESM2Encoder
from protenc_seq.esm2.model import MASK_RATIO_TRAIN
from protenc_struct import GVPGNN, GearNet, GearNetConfig, build_gearnet_graph
from protfusion import FusionError, TokenFusion, token_gearnet
from protfusion.token_fusion import TOKEN_INIT_STD

pytestmark = pytest.mark.numerics

SEQ = ESM2Config(num_layers=7, embed_dim=32, attention_heads=4)  # 7 layers, 3 GearNet layers: after 2, 4, 6
GEARNET = GearNetConfig(hidden_dims=[16, 16, 16])


def make_fusion(helpers, seed_token_relation: bool, seed: int = 0, dtype=torch.float32) -> TokenFusion:
    torch.manual_seed(seed)
    sequence = ESM2Encoder(SEQ)
    structure = token_gearnet(GEARNET, SEQ.embed_dim, seed_token_relation)
    fusion = TokenFusion(sequence, structure, seed_token_relation=seed_token_relation)
    with torch.no_grad():
        fusion.structure_token.normal_(0, 0.5)  # larger than the 0.01 init so the token matters in the test
    return helpers.randomize_(fusion, seed).to(dtype).eval()


# ------------------------------------------------------------------------------------ FusionProt, transcribed
def fair_esm_copy(esm, fusion: TokenFusion):
    """fair-esm's own ESM2 with the fusion's sequence weights."""
    from protenc_seq.loading.convert import ours_to_fair

    ours = fusion.sequence.model
    c = ours.config
    fair = esm.model.esm2.ESM2(
        c.num_layers, c.embed_dim, c.attention_heads, esm.data.Alphabet.from_architecture("ESM-1b"), True
    )
    missing, unexpected = fair.load_state_dict(ours_to_fair(ours.state_dict(), c.num_layers), strict=False)
    assert not unexpected and all(k.startswith("contact_head.") for k in missing), (missing, unexpected)
    return fair.to(next(ours.parameters()).dtype).eval()


def seed_forward(esm, fair, fusion: TokenFusion, batch: ProteinBatch, relation_id: int):
    """FusionProt's ``FusionNetwork.forward`` (``model/model.py``) line by line: fair-esm's layers on the padded
    ``(T, B, E)`` stream with the token inserted at column ``T − 1``, ``inject_step = n // S`` with a GearNet layer
    after every ESM layer ``i > 0, i % inject_step == 0``, and the token graph of ``build_protein_graph_with_3d_token``
    (GearNet layers on the edge list, gather + scatter path). Returns per-protein residue features, the ESM mean
    readout, structure node features and the sum readout."""
    alphabet = esm.data.Alphabet.from_architecture("ESM-1b")
    gearnet = fusion.structure
    token = fusion.structure_token
    b = len(batch)
    tokens = alphabet.get_batch_converter()(list(zip(batch.ids, batch.sequences)))[2]  # (B, T)
    padding_mask = tokens.eq(alphabet.padding_idx)
    x = fair.embed_scale * fair.embed_tokens(tokens)
    x = x.masked_fill((tokens == alphabet.mask_idx).unsqueeze(-1), 0.0)
    src_lengths = (~padding_mask).sum(-1)
    ratio = (tokens == alphabet.mask_idx).sum(-1).to(x.dtype) / src_lengths
    x = x * (1 - 0.15 * 0.8) / (1 - ratio)[:, None, None]
    one_hot = F.one_hot(batch.residue_type, 21).to(x.dtype)
    structure_input = torch.cat(
        [
            fusion.embedding_batch_norm(fusion.structure_embed_linear(one_hot)),
            token.unsqueeze(0).expand(b, -1),
        ]
    )
    x = torch.cat((x[:, :-1], token.expand(b, 1, -1), x[:, -1:]), dim=1)  # (B, T + 1, E)
    padding_mask = torch.cat(
        [padding_mask[:, :-1], torch.zeros(b, 1, dtype=torch.bool), padding_mask[:, -1:]], 1
    )
    x = x * (1 - padding_mask.unsqueeze(-1).type_as(x))
    x = x.transpose(0, 1)
    pad = padding_mask if padding_mask.any() else None
    # the token graph, as build_protein_graph_with_3d_token builds it (python loops)
    graph = build_gearnet_graph(batch)
    n = graph.num_nodes
    edges = graph.edge_index.t().tolist()
    relations = graph.relation.tolist()
    start = 0
    for p, length in enumerate(batch.lengths.tolist()):
        for i in range(start, start + length):
            edges += [[n + p, i], [i, n + p]]
            relations += [relation_id, relation_id]
        start += length
    edge_index, relation = torch.tensor(edges).t(), torch.tensor(relations)
    inject_step = len(fair.layers) // len(gearnet.layers)
    hiddens, k = [], 0
    for idx, layer in enumerate(fair.layers):
        x, _ = layer(x, self_attn_padding_mask=pad, need_head_weights=False)
        if idx > 0 and idx % inject_step == 0:
            new = x[-2] if k == 0 else fusion.seq_linears[k](x[-2])
            structure_input = torch.cat((structure_input[:-b], new), dim=0)
            hidden = gearnet.layers[k](structure_input, edge_index, relation)
            if gearnet.config.short_cut and hidden.shape == structure_input.shape:
                hidden = hidden + structure_input
            hidden = gearnet.batch_norms[k](hidden)
            hiddens.append(hidden)
            structure_input = hidden
            if k < len(
                fusion.structure_linears
            ):  # (the seed's last one, after the last layer, reaches nothing)
                update = fusion.structure_linears[k](structure_input[-b:])
                x = torch.cat((x[:-2], update.unsqueeze(0), x[-1:]), dim=0)
            k += 1
    assert k == len(gearnet.layers)
    node = torch.cat(hiddens, dim=-1)[:-b]
    x = fair.emb_layer_norm_after(x).transpose(0, 1)  # (B, T + 1, E)
    lengths = batch.lengths.tolist()
    residues = [x[p, 1 : 1 + lengths[p]] for p in range(b)]
    nodes = list(torch.split(node, lengths))
    return residues, [r.mean(0) for r in residues], nodes, [v.sum(0) for v in nodes]


@pytest.mark.parametrize("seed_token_relation", [True, False])
def test_reproduces_fusionprot_on_fair_esm(helpers, proteins, seed_token_relation):
    """Each protein alone, and the longest protein of a batch (where FusionProt's column T − 1 is just before its
    ``<eos>``), equal FusionProt's forward on fair-esm's ESM-2 (float64; ≤ 1e-6 because protenc-seq computes the
    rotary tables in float32 from the stored ``inv_freq``, fair-esm in the model's dtype)."""
    esm = pytest.importorskip("esm")
    fusion = make_fusion(helpers, seed_token_relation, dtype=torch.float64)
    fair = fair_esm_copy(esm, fusion)
    relation_id = 1 if seed_token_relation else 7
    d = SEQ.embed_dim
    cases = [(ProteinBatch.collate([p]), [0]) for p in proteins[:3]]
    cases.append((ProteinBatch.collate(proteins[:3]), [2]))  # only the longest matches the seed's layout
    with torch.no_grad():
        for batch, which in cases:
            ours = fusion(batch.to("cpu"))
            res, seq_mean, nodes, struct_sum = seed_forward(esm, fair, fusion, batch, relation_id)
            for p in which:
                length = int(batch.lengths[p])
                want = torch.cat([seq_mean[p], struct_sum[p]])
                torch.testing.assert_close(ours.residue[p, :length, :d], res[p], rtol=1e-5, atol=1e-6)
                torch.testing.assert_close(ours.residue[p, :length, d:], nodes[p], rtol=1e-5, atol=1e-6)
                torch.testing.assert_close(ours.protein[p], want, rtol=1e-5, atol=1e-6)


def test_fusionprots_token_column_makes_outputs_batch_dependent(helpers, proteins):
    """Why the token sits before each protein's own ``<eos>``: in FusionProt's layout a shorter protein's output
    changes with the batch it is in (rotary positions of the token move with the longest protein)."""
    esm = pytest.importorskip("esm")
    fusion = make_fusion(helpers, True, dtype=torch.float64)
    fair = fair_esm_copy(esm, fusion)
    with torch.no_grad():
        alone = seed_forward(esm, fair, fusion, ProteinBatch.collate(proteins[:1]), 1)[1][0]
        batched = seed_forward(esm, fair, fusion, ProteinBatch.collate(proteins[:3]), 1)[1][0]
        ours_alone = fusion(ProteinBatch.collate(proteins[:1])).protein[0]
        ours_batched = fusion(ProteinBatch.collate(proteins[:3])).protein[0]
    assert (alone - batched).abs().max() > 1e-6
    torch.testing.assert_close(ours_alone, ours_batched, rtol=1e-9, atol=1e-9)


# ------------------------------------------------------------------------------------ structure path off
def test_structure_path_off_is_the_sequence_encoder_plus_one_token(helpers, batch):
    """``sequence_stream`` equals the plain ESM-2 (``forward_packed``) on ``<cls> r_1 … r_L y <eos>`` where token
    ``y``'s embedding row times ESM's 0.88 token-dropout scale is the fusion's token -- exactly (torch.equal)."""
    fusion = make_fusion(helpers, False)
    model = fusion.sequence.model
    y = model.alphabet.unk_id
    with torch.no_grad():
        fusion.structure_token.copy_(model.embed_tokens.weight[y] * (1 - MASK_RATIO_TRAIN) / torch.ones(()))
        got = fusion.sequence_stream(batch)
        arrays = [
            np.concatenate([a[:-1], [y], a[-1:]]) for a in fusion.sequence.tokenizer.encode_batch(batch)
        ]
        packed, order = fusion.sequence.pack(arrays)
        hidden = model.forward_packed(packed, return_logits=False).hidden
    parts = packed.split(hidden)  # per sorted sequence, (L + 3, D)
    for j, i in enumerate(order):
        length = int(batch.lengths[i])
        assert torch.equal(got.residue[i, :length], parts[j][1 : 1 + length])
        assert torch.equal(got.extras["token"][i], parts[j][1 + length])
        assert not got.residue[i, length:].any()
    assert got.residue.shape[-1] == SEQ.embed_dim and "covered" not in got.extras


# ------------------------------------------------------------------------------------------- gradients
def test_gradients_reach_the_token_and_both_encoders(helpers, batch):
    fusion = make_fusion(helpers, False).train()
    out = fusion(batch)
    d = SEQ.embed_dim
    seq_part, struct_part = out.protein[:, :d].pow(2).sum(), out.protein[:, d:].pow(2).sum()
    gearnet0 = fusion.structure.layers[0].linear.weight
    esm0 = fusion.sequence.model.layers[0].fc1.weight
    # structure -> sequence: GearNet's first layer changes the sequence half (through the token)
    (g,) = torch.autograd.grad(seq_part, [gearnet0], retain_graph=True)
    assert g.abs().sum() > 0
    # sequence -> structure: ESM's first layer changes the structure half (through the token)
    (g,) = torch.autograd.grad(struct_part, [esm0], retain_graph=True)
    assert g.abs().sum() > 0
    (seq_part + struct_part).backward()
    for name, p in fusion.named_parameters():
        if name.startswith("sequence.model.lm_head") or name.startswith("sequence.model.contact_head"):
            continue  # heads are not part of the encoder output
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert fusion.structure_token.grad.abs().sum() > 0


def test_token_gradient_matches_finite_differences(helpers, proteins):
    """Directional derivatives of the protein features with respect to the token: autograd equals central
    differences (float64 model; unit directions, ε = 1e-4: protenc-seq applies rotary embeddings in float32,
    which limits how small ε can be, and ReLU kinks limit how large)."""
    fusion = make_fusion(helpers, False, dtype=torch.float64)
    batch = ProteinBatch.collate(proteins[:2])
    token = fusion.structure_token.detach().clone()
    gen = torch.Generator().manual_seed(0)

    def outputs(t: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(fusion, {"structure_token": t}, (batch,)).protein  # (B, D)

    weights = torch.randn(outputs(token).shape, generator=gen, dtype=torch.float64)
    t = token.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad((outputs(t) * weights).sum(), [t])
    eps = 1e-4
    with torch.no_grad():
        for _ in range(3):
            v = torch.randn(token.shape, generator=gen, dtype=torch.float64)
            v = v / v.norm()
            numeric = ((outputs(token + eps * v) - outputs(token - eps * v)) * weights).sum() / (2 * eps)
            analytic = (grad * v).sum()
            assert abs(float(numeric - analytic)) <= 1e-3 * abs(float(analytic)) + 1e-3, (numeric, analytic)


# ---------------------------------------------------------------------------------- encoders and errors
def test_seed_parameters_and_shapes(helpers):
    fusion = make_fusion(helpers, True)
    assert fusion.inject_after == [2, 4, 6]
    assert fusion.structure.num_relation == 7 and make_fusion(helpers, False).structure.num_relation == 8
    assert isinstance(fusion.seq_linears[0], torch.nn.Identity)  # the seed's seq_linears[0] is never used
    assert [tuple(m.weight.shape) for m in fusion.seq_linears[1:]] == [(16, 32), (16, 32)]
    # GearNet's last layer runs after the last of the 7 ESM layers: its token update would reach nothing
    assert [tuple(m.weight.shape) for m in fusion.structure_linears] == [(32, 16)] * 2
    assert tuple(fusion.structure_embed_linear.weight.shape) == (32, 21)
    torch.manual_seed(0)
    fresh = TokenFusion(ESM2Encoder(SEQ), token_gearnet(GEARNET, 32))
    assert abs(float(fresh.structure_token.std()) - TOKEN_INIT_STD) < 0.005
    assert fresh.output_dim == 32 + 48


def test_unsupported_encoders_raise_clear_errors():
    seq = ESM2Encoder(SEQ)
    with pytest.raises(FusionError, match="supports GearNet and GearNet-Edge, not GVPGNN"):
        TokenFusion(seq, GVPGNN(node_in_dim=(32, 0)))
    with pytest.raises(FusionError, match="needs a protenc_seq ESM-2 or SaProt encoder"):
        TokenFusion(GearNet(hidden_dims=[8]), token_gearnet(GEARNET, 32))
    with pytest.raises(FusionError, match="input_dim=32"):
        TokenFusion(seq, token_gearnet(GEARNET, 16))
    with pytest.raises(FusionError, match=r"8 relations .* got num_relation=7"):
        TokenFusion(seq, GearNet(GEARNET.model_copy(update={"input_dim": 32})))
    with pytest.raises(FusionError, match="at most 3 structure layers"):
        TokenFusion(ESM2Encoder(ESM2Config(num_layers=4, embed_dim=32, attention_heads=4)),
                    token_gearnet(GearNetConfig(hidden_dims=[8] * 6), 32))  # fmt: skip


def test_graph_pass_through(helpers, batch):
    """``graph=`` reaches GearNet: the default graph passed explicitly changes nothing; removing edges changes
    only the structure half of the residues (and, through the token, later sequence layers)."""
    fusion = make_fusion(helpers, False)
    graph = fusion.build_graph(batch)
    with torch.no_grad():
        default = fusion(batch)
        same = fusion(batch, graph=graph)
        keep = graph.relation != 5  # drop the radius edges
        from dataclasses import replace

        edited = fusion(
            batch, graph=replace(graph, edge_index=graph.edge_index[:, keep], relation=graph.relation[keep])
        )
    assert torch.equal(default.residue, same.residue)
    assert not torch.allclose(default.residue[..., SEQ.embed_dim :], edited.residue[..., SEQ.embed_dim :])


def test_cropped_sequences_keep_every_residue_in_the_structure_half(helpers, proteins):
    """``on_long="crop"`` (protenc-seq's policy): the sequence stream sees the first ``max_residues`` residues (token
    before the cropped ``<eos>``), later residues get zero sequence features and are marked uncovered; GearNet
    still sees the whole chain."""
    torch.manual_seed(0)
    seq = ESM2Encoder(SEQ.model_copy(update={"max_residues": 50}), on_long="crop")
    fusion = TokenFusion(seq, token_gearnet(GEARNET, 32)).eval()
    batch = ProteinBatch.collate(proteins[:2])  # 20 and 76 residues
    with pytest.warns(UserWarning, match="cropped 1 sequence"), torch.no_grad():
        out = fusion(batch)
    covered = out.extras["sequence.covered"]
    assert torch.equal(covered, batch.mask & (torch.arange(76) < 50))
    assert not out.residue[1, 50:, :32].any() and out.residue[1, 50:76, 32:].abs().sum() > 0
    torch.testing.assert_close(out.protein[1, :32], out.residue[1, :50, :32].mean(0))
