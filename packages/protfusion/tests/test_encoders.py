"""``protfusion.build_encoder``: any encoder (sequence, structure, fused) from one config section, and its errors.

Truth: the package builders each type belongs to (``protenc_seq.build_sequence_encoder``, ``protenc_struct.build``,
``protfusion.build``) give the same architecture; bad sections name the key the user wrote.
"""

from __future__ import annotations

import pytest
import torch
from pydantic import TypeAdapter

import protenc_seq
import protenc_struct
import protfusion
from protdata.errors import ProtdataError
from protfusion import ENCODER_TYPES, EncoderConfig, EncoderConfigError, build_encoder, parse_encoder_config

SEQ = {"type": "esm2", "architecture": {"num_layers": 4, "embed_dim": 16, "attention_heads": 2}}
SECTIONS = {
    "esm2": SEQ,
    "saprot": {"type": "saprot", "preset": "SaProt_35M_AF2"},
    "esmc": {"type": "esmc", "architecture": {"num_layers": 2, "embed_dim": 16, "attention_heads": 2}},
    "gearnet": {"type": "gearnet", "hidden_dims": [8, 8]},
    "gearnet_edge": {"type": "gearnet_edge", "hidden_dims": [8]},
    "gvp": {"type": "gvp", "node_h_dim": [8, 2], "edge_h_dim": [4, 1], "num_layers": 1},
    "cdconv": {"type": "cdconv", "hidden_dims": [8, 8], "cutoffs": [8.0, 12.0]},
    "serial": {"type": "serial", "sequence": SEQ, "structure": {"type": "gvp", "num_layers": 1}},
    "parallel": {"type": "parallel", "sequence": SEQ, "structure": {"type": "gearnet", "hidden_dims": [8]}},
    "cross": {
        "type": "cross",
        "sequence": SEQ,
        "structure": {"type": "gearnet", "hidden_dims": [8]},
        "cross_dim": 8,
    },
    "token": {"type": "token", "sequence": SEQ, "structure": {"type": "gearnet_edge", "hidden_dims": [8, 8]}},
}


def reference(section: dict) -> torch.nn.Module:
    kind = section["type"]
    if kind in ("esm2", "saprot", "esmc"):
        return protenc_seq.build_sequence_encoder(section)
    if kind in ("serial", "parallel", "cross", "token"):
        return protfusion.build(section)
    return protenc_struct.build(section)


@pytest.mark.parametrize("kind", ENCODER_TYPES)
def test_every_type_builds_as_its_package_does(kind: str) -> None:
    assert set(SECTIONS) == set(ENCODER_TYPES)
    section = SECTIONS[kind]
    model = build_encoder(section)
    want = reference(section)
    assert type(model) is type(want) and model.model_type == kind
    assert {k: v.shape for k, v in model.state_dict().items()} == {
        k: v.shape for k, v in want.state_dict().items()
    }
    parsed = TypeAdapter(EncoderConfig).validate_python(section)
    assert parse_encoder_config(section) == parsed
    assert type(build_encoder(parsed)) is type(want)  # a config object works too
    assert model.config_dict()["type"] == kind


@pytest.mark.parametrize(
    "section, message",
    [
        ({"hidden_dims": [8]}, r"^encoder\.type: missing; one of esm2, saprot, esmc, gearnet"),
        ({"type": "esm3"}, r"^encoder\.type: unknown encoder type 'esm3'; one of esm2"),
        ({"type": "gearnet", "hidden_dim": [8]}, r"^encoder\.hidden_dim: Extra inputs are not permitted$"),
        (
            {"type": "serial", "structure": {"type": "gearnet", "hidden_dims": "x"}},
            r"^encoder\.structure\.hidden_dims: Input should be a valid list$",
        ),
        ({"type": "serial", "structure": {"type": "gcn"}}, r"^encoder\.structure: Input tag 'gcn'"),
        ({"type": "esm2", "preset": "9M"}, r"^encoder: preset: unknown preset '9M'; known: SaProt_35M_AF2"),
        (
            {"type": "token", "structure": {"type": "gvp"}},
            r"^encoder: structure: token fusion runs a layer-wise structure encoder",
        ),
    ],
)
def test_bad_sections_name_the_key(section: dict, message: str) -> None:
    with pytest.raises(EncoderConfigError, match=message) as err:
        build_encoder(section)
    assert "\n" not in str(err.value)
    assert isinstance(err.value, ProtdataError) and isinstance(err.value, ValueError)


def test_key_prefix_and_wrong_objects() -> None:
    with pytest.raises(EncoderConfigError, match=r"^model\.encoder\.sequence\.on_long: Input should be"):
        build_encoder({"type": "serial", "sequence": {"on_long": "drop"}}, key="model.encoder")
    with pytest.raises(EncoderConfigError, match="an encoder config must be a mapping, got list"):
        build_encoder([1, 2])  # type: ignore[arg-type]
    with pytest.raises(EncoderConfigError, match="a GearNetGraphConfig is not an encoder config"):
        build_encoder(protenc_struct.GearNetGraphConfig())
