"""apps/engine/config.py: the apps' configs loaded from YAML + key=value overrides; errors name the key."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

APPS = Path(__file__).resolve().parents[1] / "apps"
if str(APPS) not in sys.path:
    sys.path.insert(0, str(APPS))

from engine.config import APPS_DIR, DataConfig, TrainConfig, expand_path  # noqa: E402
from engine.pretraining import PretrainConfig  # noqa: E402

from protdata.configfile import (  # noqa: E402
    ConfigFileError,
    dump_yaml,
    load_config,
    load_yaml,
)
from prottasks.optim import OptimizerConfig  # noqa: E402

DEFAULT = APPS / "configs" / "default_pretrain.yaml"


def test_default_config_file_validates_and_round_trips(tmp_path: Path) -> None:
    config = load_config(PretrainConfig, DEFAULT)
    raw = yaml.safe_load(DEFAULT.read_text())
    # every value written in the file is what the model holds
    assert config.encoder.hidden_dims == raw["encoder"]["hidden_dims"]
    assert config.objective.type == raw["objective"]["type"]
    assert config.train.max_steps == raw["train"]["max_steps"]
    assert config.optimizer.lr == raw["optimizer"]["lr"]
    # the dump (defaults included) loads back to the same config
    dumped = tmp_path / "config.yaml"
    dumped.write_text(dump_yaml(config))
    assert load_config(PretrainConfig, dumped) == config


def test_overrides_apply_on_top_of_the_file() -> None:
    config = load_config(PretrainConfig, DEFAULT, ["encoder.hidden_dims=[32,32]", "optimizer.lr=5e-4"])
    assert config.encoder.hidden_dims == [32, 32]
    assert config.optimizer.lr == 5e-4


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("train.max_step=5", r"train\.max_step: unknown key \(did you mean 'max_steps'\?\)"),
        ("encoder.hidden_dim=[3]", r"encoder\.hidden_dim: unknown key \(did you mean 'hidden_dims'\?\)"),
        ("encoder.graph.radus=8", r"encoder\.graph\.radus: unknown key \(did you mean 'radius'\?\)"),
        ("train.max_steps=abc", r"train\.max_steps: Input should be a valid integer.*'abc'"),
        ("optimizer.betas=[0.9]", r"optimizer\.betas"),
        ("objective.mask_rate=2", r"objective\.mask_rate: Input should be less than or equal to 1"),
        (
            "data.transform.max_lenght=5",
            r"data\.transform\.max_lenght: unknown key \(did you mean 'max_length'\?\)",
        ),
        ("objective.type=nope", r"objective: Input tag 'nope'"),
        ("deepspeed.zero_stage=4", r"deepspeed\.zero_stage"),
        ("bogus=1", r"bogus: unknown key"),
    ],
)
def test_bad_keys_and_types_are_named(override: str, expected: str) -> None:
    with pytest.raises(ConfigFileError, match=expected) as info:
        load_config(PretrainConfig, DEFAULT, [override])
    assert str(DEFAULT) in str(info.value)
    assert "\n" not in str(info.value)


def test_all_errors_are_reported_at_once() -> None:
    with pytest.raises(ConfigFileError) as info:
        load_config(PretrainConfig, DEFAULT, ["train.max_step=1", "optimizer.lr=-1"])
    assert "train.max_step: unknown key" in str(info.value)
    assert "optimizer.lr: Input should be greater than 0" in str(info.value)


def test_max_steps_and_epochs_are_exclusive() -> None:
    with pytest.raises(ConfigFileError, match=r"exactly one of train\.max_steps and train\.epochs"):
        load_config(PretrainConfig, DEFAULT, ["train.epochs=2"])
    assert TrainConfig(epochs=2).max_steps is None


def test_path_variables(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("data:\n  sources: ['${CONFIG_DIR}/pdbs', '${APPS_DIR}/data/demo_structures']\n")
    raw = load_yaml(f)
    assert raw["data"]["sources"][0] == f"{tmp_path}/pdbs"
    assert expand_path(raw["data"]["sources"][1]) == APPS_DIR / "data" / "demo_structures"
    assert expand_path(DataConfig().sources[0]).is_dir()


def test_lr_ratio_must_be_non_negative() -> None:
    with pytest.raises(ValueError, match="lr_ratios"):
        OptimizerConfig(lr_ratios={"encoder": -0.1})
