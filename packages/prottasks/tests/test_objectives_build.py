"""Objective configs: the seeds' hyper-parameters as defaults (values from ESM-GearNet / SaProt configs),
building from YAML-like mappings, and errors that name the offending key."""

from __future__ import annotations

import pytest
from prottasks_tiny import TinyGraphEncoder, TinyMLM
from pydantic import ValidationError

from prottasks.errors import ObjectiveConfigError
from prottasks.objectives import (
    AnglePrediction,
    DihedralPredictionConfig,
    DistancePredictionConfig,
    MaskedLMObjective,
    MLMConfig,
    MultiviewContrast,
    MultiviewContrastConfig,
    ResidueTypePredictionConfig,
    SiamDiff,
    SiamDiffConfig,
    build_objective,
)


def test_seed_defaults():
    assert DistancePredictionConfig().num_sample == 256
    assert DihedralPredictionConfig().num_sample == 512 and DihedralPredictionConfig().num_class == 8
    assert ResidueTypePredictionConfig().mask_rate == 0.15
    mc = MultiviewContrastConfig()
    assert mc.tau == 0.07 and mc.crops[0].max_length == 50 and mc.noises[1].mask_rate == 0.15
    sd = SiamDiffConfig()
    assert (sd.num_noise_level, sd.sigma_begin, sd.sigma_end, sd.gamma, sd.num_mlp_layer, sd.conformer_sigma) == (
        100, 1e-3, 0.1, 0.5, 3, 0.3)  # fmt: skip
    saprot = MLMConfig.saprot()
    assert (saprot.mask_rate, saprot.mask_prob, saprot.random_prob, saprot.min_selected) == (
        0.15,
        0.8,
        0.1,
        1,
    )
    assert MLMConfig.protclip().mask_prob == 1.0


def test_build_from_mappings():
    enc = TinyGraphEncoder()
    assert isinstance(build_objective({"type": "angle_prediction", "num_sample": 64}, enc), AnglePrediction)
    mc = build_objective(
        {"type": "multiview_contrast", "crops": [{"type": "subsequence_crop", "max_length": 50},
                                                  {"type": "subspace_crop", "min_neighbor": 15, "min_radius": 15.0}],
         "noises": [{"type": "identity"}, {"type": "random_edge_mask", "mask_rate": 0.15}]},
        enc,
    )  # fmt: skip
    assert isinstance(mc, MultiviewContrast) and mc.config.crops[1].type == "subspace_crop"
    assert isinstance(build_objective({"type": "siamdiff"}, enc), SiamDiff)
    assert isinstance(build_objective(MLMConfig.esm2(), TinyMLM("esm")), MaskedLMObjective)


def test_errors_name_the_key():
    with pytest.raises(ObjectiveConfigError, match=r"^objective\.num_sampel: unknown key"):
        build_objective({"type": "distance_prediction", "num_sampel": 3}, TinyGraphEncoder())
    with pytest.raises(ValidationError, match="num_sample"):
        DistancePredictionConfig(num_sample="many")
    with pytest.raises(
        ObjectiveConfigError, match=r"^objective\.type: unknown objective type 'contrastive'; one of"
    ):
        build_objective({"type": "contrastive"}, TinyGraphEncoder())
