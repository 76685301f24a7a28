"""FusionProt's sequence-side token: where it sits in the ESM-2 token stream and how the stream is embedded.

Each protein's tokens become ``<cls> r_1 … r_L [token] <eos>``. FusionProt inserts the token at padded column
``T − 1`` of the whole batch (``torch.cat((x[:, :-1], token, x[:, -1:]), dim=1)``), which is just before
``<eos>`` for the batch's longest protein but after ``<eos>`` and some padding for the others; with rotary
position embeddings that makes a protein's output depend on the other proteins of its batch. We give every
protein the longest protein's layout (token just before its own ``<eos>``), so a protein's output is the same in
any batch and equals the seed's for a protein alone or the longest of its batch.

Embedding follows the seed: ESM-2's embedding and token dropout (``<mask>`` rows zeroed, every row scaled by
``0.88 / (1 − n_mask / n_tokens)``) are computed on the token stream *without* the structure token
(``n_tokens`` = L + 2), and the token's vector is inserted afterwards, unscaled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from protdata import ProteinBatch
from protenc_seq import ESM2Encoder, PackedBatch


@dataclass(eq=False)
class TokenLayout:
    """Row bookkeeping of one batch's token stream (packed rows, sorted by length as the encoder packs them).

    Attributes:
        packed: The token sequences with the structure token (``L + 3`` tokens each).
        plain: The same sequences without it (``L + 2``), packed without padding, in the same order.
        plain_rows: ``(R_plain,)`` row of ``packed`` that each row of ``plain`` moves to.
        token_rows: ``(B,)`` row of each protein's structure token in ``packed``, proteins in **input** order.
        first_residue: ``(B,)`` row of each protein's first residue in ``packed``, input order.
        seen: ``(B,)`` residues of each protein the model sees (fewer than ``L`` only with ``on_long="crop"``).
    """

    packed: PackedBatch
    plain: PackedBatch
    plain_rows: Tensor
    token_rows: Tensor
    first_residue: Tensor
    seen: Tensor


def token_layout(encoder: ESM2Encoder, batch: ProteinBatch, placeholder: int) -> TokenLayout:
    """Tokenise ``batch`` with ``encoder``'s policy and place a ``placeholder`` token just before each ``<eos>``."""
    plain_arrays = encoder.tokenizer.encode_batch(batch)  # [<cls> r_1 … r_L <eos>] per protein
    arrays = [np.concatenate([a[:-1], [placeholder], a[-1:]]) for a in plain_arrays]
    packed, order = encoder.pack(arrays)  # sorted by length (padded or packed, as the encoder would run)
    device = packed.device
    plain = PackedBatch.from_token_arrays([plain_arrays[i] for i in order], device)
    starts = torch.tensor(packed.slot_offsets[:-1], dtype=torch.long, device=device)  # (B,) sorted order
    lengths = plain.lengths_tensor  # (B,) L + 2, sorted order
    pos, seq = plain.positions, plain.seq_index  # (R_plain,)
    plain_rows = starts[seq] + pos + (pos == lengths[seq] - 1).long()  # <eos> moves one row down
    inverse = torch.empty(len(order), dtype=torch.long, device=device)
    inverse[torch.tensor(order, dtype=torch.long, device=device)] = torch.arange(len(order), device=device)
    return TokenLayout(
        packed=packed,
        plain=plain,
        plain_rows=plain_rows,
        token_rows=(starts + lengths - 1)[inverse],
        first_residue=(starts + 1)[inverse],
        seen=(lengths - 2)[inverse],
    )


def embed_with_token(encoder: ESM2Encoder, layout: TokenLayout, token: Tensor) -> Tensor:
    """Packed rows ``(R, D)``: ESM-2's embedding of the plain stream (token dropout as in ESM) plus ``token``."""
    x = encoder.model.embed(layout.plain)  # (R_plain, D), token dropout over L + 2 tokens
    out = x.new_zeros((layout.packed.num_rows, x.shape[1]))  # padding rows stay zero
    out = out.index_copy(0, layout.plain_rows, x)
    tokens = token.to(x.dtype).unsqueeze(0).expand(len(layout.token_rows), -1)  # (B, D)
    return out.index_copy(0, layout.token_rows, tokens)


def residue_features(batch: ProteinBatch, layout: TokenLayout, hidden: Tensor) -> tuple[Tensor, Tensor]:
    """Residue rows of ``hidden`` ``(R, D)`` in the batch's padded view ``(B, L_max, D)`` and ``covered``
    ``(B, L_max)`` (False on padding and on residues past a cropped window, whose features are zero)."""
    graph_of, position = batch.batch.to(hidden.device), batch.position.to(hidden.device)  # (N,)
    covered = position < layout.seen[graph_of]  # (N,)
    rows = layout.first_residue[graph_of] + position  # (N,)
    flat = hidden.new_zeros((batch.num_residues, hidden.shape[1]))
    flat = flat.index_copy(0, covered.nonzero().squeeze(1), hidden[rows[covered]])  # (N, D)
    return batch.to_padded(flat), batch.to_padded(covered, fill=False)
