"""Build any protstack encoder -- sequence, structure or fused -- from one config section.

``EncoderConfig`` is the union of every encoder config, discriminated by ``type``: ``esm2`` / ``saprot``
(:class:`protenc_seq.SequenceEncoderConfig`), ``gearnet`` / ``gearnet_edge`` / ``gvp`` / ``cdconv``
(protenc-struct) and ``serial`` / ``parallel`` / ``cross`` / ``token`` (this package). :func:`build_encoder`
validates a section (a mapping, e.g. from YAML, or a config object) and builds the encoder; a bad section is a
one-line :class:`~protfusion.errors.EncoderConfigError` naming the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from protdata.encoder import ProteinEncoder
from protenc_seq import SequenceEncoderConfig, build_sequence_encoder
from protenc_struct import CDConvConfig, GearNetConfig, GearNetEdgeConfig, GVPConfig
from protenc_struct import build as build_structure_encoder
from protfusion.build import build as build_fusion
from protfusion.config import CrossFusionConfig, ParallelFusionConfig, SerialFusionConfig, TokenFusionConfig
from protfusion.errors import EncoderConfigError

#: Any encoder section, discriminated by ``type``.
EncoderConfig = Annotated[
    SequenceEncoderConfig
    | GearNetConfig
    | GearNetEdgeConfig
    | GVPConfig
    | CDConvConfig
    | SerialFusionConfig
    | ParallelFusionConfig
    | CrossFusionConfig
    | TokenFusionConfig,
    Field(discriminator="type"),
]

SEQUENCE_TYPES = ("esm2", "saprot")
STRUCTURE_TYPES = ("gearnet", "gearnet_edge", "gvp", "cdconv")
FUSION_TYPES = ("serial", "parallel", "cross", "token")
ENCODER_TYPES = SEQUENCE_TYPES + STRUCTURE_TYPES + FUSION_TYPES

_CLASSES = (
    SequenceEncoderConfig,
    GearNetConfig,
    GVPConfig,
    CDConvConfig,
    SerialFusionConfig,
    ParallelFusionConfig,
    CrossFusionConfig,
    TokenFusionConfig,
)
_ADAPTER: TypeAdapter = TypeAdapter(EncoderConfig)


def parse_encoder_config(config: Mapping[str, Any] | BaseModel, *, key: str = "encoder") -> Any:
    """``config`` validated as an :data:`EncoderConfig` (a config object of a known type is returned as is).

    Raises:
        EncoderConfigError: no or an unknown ``type``, an unknown key or a wrong value; the message names the
            key under ``key`` (e.g. ``encoder.structure.hidden_dims``) and what is wrong.
    """
    if isinstance(config, _CLASSES):
        return config
    if isinstance(config, BaseModel):
        raise EncoderConfigError(f"{key}: a {type(config).__name__} is not an encoder config")
    if not isinstance(config, Mapping):
        raise EncoderConfigError(f"{key}: an encoder config must be a mapping, got {type(config).__name__}")
    kind = config.get("type")
    if kind is None:
        raise EncoderConfigError(f"{key}.type: missing; one of {', '.join(ENCODER_TYPES)}")
    if kind not in ENCODER_TYPES:
        raise EncoderConfigError(
            f"{key}.type: unknown encoder type {kind!r}; one of {', '.join(ENCODER_TYPES)}"
        )
    try:
        return _ADAPTER.validate_python(dict(config))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join([key, *_key_path(config, first["loc"])])
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        msg = first["msg"].removeprefix("Value error, ")  # a validator's own message names its key
        raise EncoderConfigError(f"{where}: {msg}{more}") from None


def _key_path(config: Any, loc: tuple[Any, ...]) -> list[str]:
    """The config keys of a pydantic error location, without the union tags pydantic inserts (a section's
    ``type`` value, e.g. ``("serial", "structure", "gearnet", "hidden_dims")`` -> ``structure.hidden_dims``)."""
    keys: list[str] = []
    node = config
    for part in loc:
        if isinstance(node, Mapping) and part not in node and part == node.get("type"):
            continue  # a discriminated-union tag
        keys.append(str(part))
        node = node.get(part) if isinstance(node, Mapping) else None
    return keys


def build_encoder(config: Mapping[str, Any] | BaseModel, *, key: str = "encoder") -> ProteinEncoder:
    """A freshly built encoder for any encoder config section (module docstring).

    Sequence encoders load their local ``checkpoint`` when the config names one (random weights otherwise);
    structure and fused encoders start from random weights. Load a saved encoder with
    ``protdata.load_pretrained`` instead.
    """
    parsed = parse_encoder_config(config, key=key)
    if isinstance(parsed, SequenceEncoderConfig):
        return build_sequence_encoder(parsed)
    if parsed.type in STRUCTURE_TYPES:
        return build_structure_encoder(parsed)
    return build_fusion(parsed)
