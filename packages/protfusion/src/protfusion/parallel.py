"""Parallel fusion (ESM-GearNet ``FusionNetwork(fusion="parallel")``).

    s = sequence_encoder(batch) ;  t = structure_encoder(batch)      # structure input: 21-d residue one-hot
    residue = [s ‖ t] ,  protein = [s_protein ‖ t_protein]

Both encoders run independently on the same proteins (ESM-GearNet, Zhang et al., 2023;
DeepGraphLearning/ESM-GearNet); widths as in serial fusion.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from protdata import NUM_RESIDUE_TYPES, EncoderOutput, ProteinBatch
from protfusion.base import ESM_GEARNET_LR_RATIO, FusionEncoder, concat_outputs, structure_input_dim
from protfusion.config import ParallelFusionConfig
from protfusion.errors import FusionError


def check_one_hot_input(structure: nn.Module, fusion: str) -> None:
    """Raise unless ``structure`` reads the 21-d residue-type one-hot (parallel and cross fusion)."""
    width = structure_input_dim(structure)
    if width != NUM_RESIDUE_TYPES:
        gvp = hasattr(getattr(structure, "config", None), "node_in_dim")
        key = f"node_in_dim=[{NUM_RESIDUE_TYPES}, 0]" if gvp else f"input_dim={NUM_RESIDUE_TYPES}"
        raise FusionError(
            f"{fusion} fusion runs {type(structure).__name__} on the {NUM_RESIDUE_TYPES}-d residue-type one-hot, "
            f"but it was built for {width}-d node input: build it with {key} (serial fusion is the one that "
            "feeds sequence features to the structure encoder)"
        )


class ParallelFusion(FusionEncoder):
    """Sequence and structure encoders side by side; output ``[sequence ‖ structure]``.

    Args:
        sequence: Sequence encoder.
        structure: Structure encoder with the 21-d one-hot input (``input_dim: 21``).
        sequence_lr_ratio: Default ratio of :meth:`parameter_groups` (ESM-GearNet: 0.1).
    """

    model_type = "parallel"
    config_class = ParallelFusionConfig

    def __init__(
        self, sequence: nn.Module, structure: nn.Module, *, sequence_lr_ratio: float = ESM_GEARNET_LR_RATIO
    ) -> None:
        super().__init__(sequence, structure, sequence_lr_ratio=sequence_lr_ratio)
        check_one_hot_input(structure, "parallel")
        self.output_dim = sequence.output_dim + structure.output_dim

    def forward(self, batch: ProteinBatch, graph: Any = None) -> EncoderOutput:
        """Encode ``batch``; ``graph`` (from :meth:`build_graph`, possibly edited) goes to the structure encoder."""
        return concat_outputs(self.sequence(batch), self.run_structure(batch, graph=graph))
