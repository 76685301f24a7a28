"""ProtCLIPConfig: defaults are the seed's (ProtCLIP ``checkpoint/config.json``, ``pretrain.py``, ``bank.py``,
``FSTForPretrain.forward``); unknown keys and wrong types name the key."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from protalign.config import LossWeights, ProtCLIPConfig, TextEncoderConfig

#: Values of ProtCLIP's released checkpoint/config.json (FSTForPretrain) and pretrain.py defaults.
SEED_CHECKPOINT = {
    "projection_dim": 512,
    "proto_num": 512,
    "logit_scale_init": 0.07,
    "local_logit_scale_init": 0.1,
    "protein_mask_probability": 0.15,
}


def test_defaults_are_the_seeds() -> None:
    cfg = ProtCLIPConfig()
    assert cfg.projection_dim == SEED_CHECKPOINT["projection_dim"]
    assert cfg.num_prototypes == SEED_CHECKPOINT["proto_num"]
    assert cfg.logit_scale_init == SEED_CHECKPOINT["logit_scale_init"]
    assert cfg.local_logit_scale_init == SEED_CHECKPOINT["local_logit_scale_init"]
    assert cfg.protein_mask_probability == SEED_CHECKPOINT["protein_mask_probability"]
    assert cfg.fragment_mask_range == 10  # pretrain.py --protein_mask_range
    assert (
        cfg.gumbel_tau == 0.9 and cfg.local_threshold == 0.3
    )  # bank.py temp, local_contrastive_loss threshold
    assert cfg.weights == LossWeights(clip=1.0, protein_mlm=0.3, fragment_mlm=0.7, local_contrast=1.0)
    assert cfg.max_text_length == 512 and cfg.max_protein_length == 1022  # 1024 ESM tokens minus BOS/EOS
    assert cfg.logit_scale_max == 100.0 and math.log(1 / cfg.logit_scale_init) < math.log(cfg.logit_scale_max)
    assert not cfg.seed_no_grad and not cfg.pool_over_padding  # fixed seed bugs, switchable back


def test_nested_and_round_trip() -> None:
    cfg = ProtCLIPConfig.model_validate(
        {
            "text_encoder": {"path": "/models/pubmedbert"},
            "weights": {"local_contrast": 0.0},
            "seed_no_grad": True,
        }
    )
    assert cfg.text_encoder == TextEncoderConfig(path="/models/pubmedbert")
    assert cfg.text_encoder.frozen and cfg.weights.local_contrast == 0.0 and cfg.weights.clip == 1.0
    assert ProtCLIPConfig.model_validate(cfg.model_dump()) == cfg


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"projection_dims": 256}, "projection_dims"),
        ({"weights": {"mlm": 0.3}}, "weights.mlm"),
        ({"projection_dim": "wide"}, "projection_dim"),
        ({"weights": {"clip": -1}}, "weights.clip"),
        ({"fragment_attention": "both"}, "fragment_attention"),
        ({"text_encoder": {"path": "x", "max_length": 3}}, "text_encoder.max_length"),
    ],
)
def test_bad_keys_are_named(data: dict, key: str) -> None:
    with pytest.raises(ValidationError) as info:
        ProtCLIPConfig.model_validate(data)
    assert key in str(info.value).replace("\n", " ")
