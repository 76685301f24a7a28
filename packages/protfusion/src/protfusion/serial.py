"""Serial fusion (ESM-GearNet ``FusionNetwork(fusion="series")``, the seeds' default).

    s = sequence_encoder(batch)                         # (B, L, D_seq) residues, (B, D_seq) mean readout
    t = structure_encoder(batch, node_features=s)       # structure node input = sequence residue features
    residue = [s ‖ t] ,  protein = [s_protein ‖ t_protein]

ESM-GearNet (Zhang et al., 2023): "serial" output is ESM ‖ GearNet, not GearNet alone (GearNet issue #53);
with ESM-2-650M and GearNet 6 × 512 it is 1280 + 3072 = 4352-d, with GVP-GNN 1280 + 256, with CDConv 1280 + 2048.
The structure encoder must be built with the sequence encoder's width as its node input (``input_dim: 1280``).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from protdata import EncoderOutput, ProteinBatch
from protfusion.base import ESM_GEARNET_LR_RATIO, FusionEncoder, concat_outputs, structure_input_dim
from protfusion.config import SerialFusionConfig
from protfusion.errors import FusionError


class SerialFusion(FusionEncoder):
    """Sequence features feed the structure encoder; output ``[sequence ‖ structure]``.

    Args:
        sequence: Sequence encoder (``output_dim`` = D_seq).
        structure: Structure encoder whose node input width is D_seq (GearNet / CDConv ``input_dim``, GVP-GNN
            ``node_in_dim[0]``).
        sequence_lr_ratio: Default ratio of :meth:`parameter_groups` (ESM-GearNet: 0.1).
    """

    model_type = "serial"
    config_class = SerialFusionConfig

    def __init__(
        self, sequence: nn.Module, structure: nn.Module, *, sequence_lr_ratio: float = ESM_GEARNET_LR_RATIO
    ) -> None:
        super().__init__(sequence, structure, sequence_lr_ratio=sequence_lr_ratio)
        width = structure_input_dim(structure)
        if width != sequence.output_dim:
            raise FusionError(
                f"serial fusion feeds {type(sequence).__name__}'s {sequence.output_dim}-d residue features to "
                f"{type(structure).__name__}, which takes {width}-d node input: build the structure encoder with "
                f"input_dim={sequence.output_dim} (GVP-GNN: node_in_dim=[{sequence.output_dim}, 0])"
            )
        self.output_dim = sequence.output_dim + structure.output_dim

    def forward(self, batch: ProteinBatch, graph: Any = None) -> EncoderOutput:
        """Encode ``batch``; ``graph`` (from :meth:`build_graph`, possibly edited) goes to the structure encoder."""
        seq = self.sequence(batch)
        struct = self.run_structure(batch, node_features=seq.residue, graph=graph)  # (B, L, D_seq) node input
        return concat_outputs(seq, struct)
