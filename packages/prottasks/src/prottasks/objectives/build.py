"""Build any pretraining objective from its config (``type`` discriminator, for YAML presets)."""

from __future__ import annotations

from typing import Any

from torch import nn

from prottasks.objectives.config import parse_objective_config
from prottasks.objectives.geometry import (
    AnglePrediction,
    AnglePredictionConfig,
    DihedralPrediction,
    DihedralPredictionConfig,
    DistancePrediction,
    DistancePredictionConfig,
)
from prottasks.objectives.mlm import MaskedLMObjective, MLMConfig
from prottasks.objectives.multiview import MultiviewContrast, MultiviewContrastConfig
from prottasks.objectives.residue_type import ResidueTypePrediction, ResidueTypePredictionConfig
from prottasks.objectives.siamdiff import SiamDiff, SiamDiffConfig

_BUILDERS: dict[type, type[nn.Module]] = {
    MLMConfig: MaskedLMObjective,
    ResidueTypePredictionConfig: ResidueTypePrediction,
    DistancePredictionConfig: DistancePrediction,
    AnglePredictionConfig: AnglePrediction,
    DihedralPredictionConfig: DihedralPrediction,
    MultiviewContrastConfig: MultiviewContrast,
    SiamDiffConfig: SiamDiff,
}


def build_objective(config: dict[str, Any] | Any, encoder: nn.Module) -> nn.Module:
    """The objective described by ``config`` on ``encoder`` (for ``type: mlm``, ``encoder`` is the
    :class:`~prottasks.protocols.MaskedLanguageModel`)."""
    config = parse_objective_config(config)
    return _BUILDERS[type(config)](encoder, config)
