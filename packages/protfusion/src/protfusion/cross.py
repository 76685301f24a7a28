"""Cross fusion (ESM-GearNet ``FusionNetwork(fusion="cross", cross_dim=512)``).

Per protein with ``L`` residues (DeepGraphLearning/ESM-GearNet ``gearnet/model.py``)::

    a_i = seq_linear(s_i) ,  b_i = struct_linear(t_i)              # Linear(D_seq → 512), Linear(D_struct → 512)
    (a'_1 … a'_L, b'_1 … b'_L) = SelfAttentionBlock(a_1 … a_L, b_1 … b_L)   # one block over the 2L tokens
    residue_i = [a'_i ‖ b'_i]  (1024-d) ;  protein = Σ_i residue_i          # sum readout

The structure encoder reads the 21-d residue-type one-hot (as in parallel fusion). Attention has no position
encoding, so a protein's 2L tokens may sit anywhere in the padded row: we lay them out as
``[seq tokens + padding ‖ struct tokens + padding]`` with a key-padding mask, which is the seed's
``[seq ‖ struct]`` per-protein layout up to a permutation of keys (same softmax, same output).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from protdata import EncoderOutput, ProteinBatch
from protfusion.attention import SelfAttentionBlock
from protfusion.base import ESM_GEARNET_LR_RATIO, FusionEncoder, merge_extras
from protfusion.config import CrossFusionConfig
from protfusion.parallel import check_one_hot_input


class CrossFusion(FusionEncoder):
    """Both encoders projected to ``cross_dim``, one self-attention block over each protein's 2L tokens.

    Args:
        sequence: Sequence encoder.
        structure: Structure encoder with the 21-d one-hot input.
        cross_dim: Token width (ESM-GearNet ``cross_dim: 512``); output is ``2 · cross_dim``.
        num_heads: Attention heads (ESM-GearNet: 8, hard-coded).
        dropout: Attention dropout (ESM-GearNet: 0.1, hard-coded).
        sequence_lr_ratio: Default ratio of :meth:`parameter_groups` (ESM-GearNet: 0.1).
    """

    model_type = "cross"
    config_class = CrossFusionConfig

    def __init__(
        self,
        sequence: nn.Module,
        structure: nn.Module,
        cross_dim: int = 512,
        num_heads: int = 8,
        dropout: float = 0.1,
        *,
        sequence_lr_ratio: float = ESM_GEARNET_LR_RATIO,
    ) -> None:
        super().__init__(sequence, structure, sequence_lr_ratio=sequence_lr_ratio)
        check_one_hot_input(structure, "cross")
        self.cross_dim = cross_dim
        self.num_heads = num_heads
        self.attention_dropout = dropout
        self.seq_linear = nn.Linear(sequence.output_dim, cross_dim)
        self.struct_linear = nn.Linear(structure.output_dim, cross_dim)
        self.attn = SelfAttentionBlock(cross_dim, num_heads, dropout)
        self.output_dim = 2 * cross_dim

    def forward(self, batch: ProteinBatch, graph: Any = None) -> EncoderOutput:
        """Encode ``batch``; ``graph`` (from :meth:`build_graph`, possibly edited) goes to the structure encoder."""
        seq = self.sequence(batch)
        struct = self.run_structure(batch, graph=graph)
        dtype = self.seq_linear.weight.dtype
        length = seq.residue.shape[1]
        mask = batch.mask.to(seq.residue.device)  # (B, L)
        tokens = torch.cat(
            [self.seq_linear(seq.residue.to(dtype)), self.struct_linear(struct.residue.to(dtype))], dim=1
        )  # (B, 2L, d)
        attended = self.attn(tokens, torch.cat([mask, mask], dim=1))  # (B, 2L, d)
        residue = torch.cat([attended[:, :length], attended[:, length:]], dim=-1)  # (B, L, 2d)
        residue = residue.masked_fill(~mask.unsqueeze(-1), 0.0)
        protein = residue.sum(dim=1)  # (B, 2d) sum readout (scatter_add in the seed)
        return EncoderOutput(residue=residue, protein=protein, mask=mask, extras=merge_extras(seq, struct))
