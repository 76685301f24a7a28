"""protdata.configfile: YAML (with extends) + key=value overrides + pydantic validation whose errors name the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from protdata.configfile import (
    ConfigFileError,
    apply_overrides,
    load_config,
    load_yaml,
    parse_override,
)
from protdata.errors import ProtdataError


@pytest.mark.parametrize(
    ("text", "keys", "value"),
    [
        ("optimizer.lr=2e-4", ["optimizer", "lr"], 2e-4),  # PyYAML alone reads "2e-4" as a string
        ("optimizer.lr=1.0e-3", ["optimizer", "lr"], 1e-3),
        ("train.max_steps=50", ["train", "max_steps"], 50),
        ("encoder.hidden_dims=[64, 64]", ["encoder", "hidden_dims"], [64, 64]),
        ("encoder.batch_norm=false", ["encoder", "batch_norm"], False),
        ("output_dir=null", ["output_dir"], None),
        ("name=my-run", ["name"], "my-run"),
        (
            "data.transform={type: truncate, max_length: 50}",
            ["data", "transform"],
            {"type": "truncate", "max_length": 50},
        ),
    ],
)
def test_parse_override_types(text: str, keys: list[str], value: object) -> None:
    assert parse_override(text) == (keys, value)


def test_overrides_create_nested_keys_and_later_ones_win() -> None:
    data = {"optimizer": {"lr": 1.0}}
    out = apply_overrides(data, ["optimizer.lr=3", "scheduler.type=cosine", "optimizer.lr=4"])
    assert out == {"optimizer": {"lr": 4}, "scheduler": {"type": "cosine"}}
    assert data == {"optimizer": {"lr": 1.0}}  # input untouched


@pytest.mark.parametrize("bad", ["notakey", "=3", "a..b=1"])
def test_malformed_override_is_a_config_error(bad: str) -> None:
    with pytest.raises(ConfigFileError, match="override"):
        parse_override(bad)


def test_override_into_a_scalar_names_the_key() -> None:
    with pytest.raises(ConfigFileError, match=r"train\.max_steps is a int"):
        apply_overrides({"train": {"max_steps": 3}}, ["train.max_steps.x=1"])


def test_missing_file_and_yaml_syntax_errors_name_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match=r"nope\.yaml: no such config file"):
        load_yaml(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ntrain:\n  max_steps: [1, 2\n")
    with pytest.raises(ConfigFileError, match=r"bad\.yaml, line \d+: invalid YAML"):
        load_yaml(bad)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("- just\n- a list\n")
    with pytest.raises(ConfigFileError, match="must hold a mapping"):
        load_yaml(scalar)


class _Train(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_steps: int = 1
    lr: float = 0.1


class _Run(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = "run"
    train: _Train = _Train()


def test_extends_merges_section_by_section_and_names_bad_keys(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text("name: base\ntrain: {max_steps: 5, lr: 0.5}\n")
    child = tmp_path / "child.yaml"
    child.write_text("extends: base.yaml\ntrain: {lr: 0.25}\n")
    config = load_config(_Run, child, ["name=x"])
    assert config == _Run(name="x", train=_Train(max_steps=5, lr=0.25))
    with pytest.raises(
        ProtdataError,
        match=r"child\.yaml \+ 1 override: train\.max_step: unknown key \(did you mean 'max_steps'\?\)",
    ):
        load_config(_Run, child, ["train.max_step=3"])
    (tmp_path / "loop.yaml").write_text("extends: loop.yaml\n")
    with pytest.raises(ConfigFileError, match="circular extends"):
        load_yaml(tmp_path / "loop.yaml")
