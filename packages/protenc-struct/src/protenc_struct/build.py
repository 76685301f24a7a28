"""``build(config)``: a structure encoder from its configuration (object, dict or YAML-loaded mapping)."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import TypeAdapter

from protdata.encoder import ProteinEncoder
from protenc_struct.config import CDConvConfig, GearNetConfig, GVPConfig, StructureEncoderConfig

_ADAPTER: TypeAdapter = TypeAdapter(StructureEncoderConfig)


def parse_config(config: Mapping[str, object] | StructureEncoderConfig) -> StructureEncoderConfig:
    """Validate a mapping such as ``{"type": "gearnet", "hidden_dims": [512] * 6}`` (errors name the key)."""
    if isinstance(config, GearNetConfig | GVPConfig | CDConvConfig):
        return config
    return _ADAPTER.validate_python(dict(config))


def build(config: Mapping[str, object] | StructureEncoderConfig) -> ProteinEncoder:
    """The encoder for ``config`` (``type``: ``gearnet``, ``gearnet_edge``, ``gvp`` or ``cdconv``)."""
    from protenc_struct.models.cdconv import CDConvEncoder
    from protenc_struct.models.gearnet import GearNet
    from protenc_struct.models.gvp import GVPGNN

    config = parse_config(config)
    if isinstance(config, GearNetConfig):  # GearNet(GearNetEdgeConfig) is a GearNetEdge
        return GearNet(config)
    if isinstance(config, GVPConfig):
        return GVPGNN(config)
    return CDConvEncoder(config)
