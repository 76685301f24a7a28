"""Pretraining objectives of the seeds: MLM (ESM-2, SaProt, ProtCLIP), residue type, distance, angle and dihedral
prediction, multiview contrast and SiamDiff. Each is an ``nn.Module`` built from an encoder and a pydantic config;
``objective(batch, generator=None)`` returns an :class:`ObjectiveOutput` (loss, metrics, sampled details)."""

from prottasks.objectives.base import ObjectiveOutput
from prottasks.objectives.build import ObjectiveConfig, build_objective, parse_objective_config
from prottasks.objectives.edges import NeighbourGraph, neighbourhood_graph
from prottasks.objectives.geometry import (
    AnglePrediction,
    AnglePredictionConfig,
    DihedralPrediction,
    DihedralPredictionConfig,
    DistancePrediction,
    DistancePredictionConfig,
    angle_bin,
    bond_angle,
    dihedral_angle,
)
from prottasks.objectives.mlm import MaskedLMObjective, MLMConfig, esm_mask_tokens, saprot_mask_tokens
from prottasks.objectives.multiview import (
    IdentityNoiseConfig,
    MultiviewContrast,
    MultiviewContrastConfig,
    RandomEdgeMaskConfig,
)
from prottasks.objectives.residue_type import ResidueTypePrediction, ResidueTypePredictionConfig
from prottasks.objectives.siamdiff import SiamDiff, SiamDiffConfig, noise_schedule

__all__ = [
    "AnglePrediction",
    "AnglePredictionConfig",
    "DihedralPrediction",
    "DihedralPredictionConfig",
    "DistancePrediction",
    "DistancePredictionConfig",
    "IdentityNoiseConfig",
    "MLMConfig",
    "MaskedLMObjective",
    "MultiviewContrast",
    "MultiviewContrastConfig",
    "NeighbourGraph",
    "ObjectiveConfig",
    "ObjectiveOutput",
    "RandomEdgeMaskConfig",
    "ResidueTypePrediction",
    "ResidueTypePredictionConfig",
    "SiamDiff",
    "SiamDiffConfig",
    "angle_bin",
    "bond_angle",
    "build_objective",
    "dihedral_angle",
    "esm_mask_tokens",
    "neighbourhood_graph",
    "noise_schedule",
    "parse_objective_config",
    "saprot_mask_tokens",
]
