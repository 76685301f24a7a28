"""Build any protstack encoder -- sequence, structure or fused -- from one config section.

``EncoderConfig`` is the union of every encoder config, discriminated by ``type``: ``esm2`` / ``saprot`` /
``esmc`` (:class:`protenc_seq.SequenceEncoderConfig`), ``gearnet`` / ``gearnet_edge`` / ``gvp`` / ``cdconv``
(protenc-struct) and ``serial`` / ``parallel`` / ``cross`` / ``token`` (this package). :func:`build_encoder`
validates a section (a mapping, e.g. from YAML, or a config object) and builds the encoder; a bad section is a
one-line :class:`~protfusion.errors.EncoderConfigError` naming the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from protdata.configfile import key_parts
from protenc_seq.config import SequenceEncoderConfig
from protenc_struct.config import CDConvConfig, GearNetConfig, GearNetEdgeConfig, GVPConfig
from protfusion.config import CrossFusionConfig, ParallelFusionConfig, SerialFusionConfig, TokenFusionConfig
from protfusion.errors import EncoderConfigError

if TYPE_CHECKING:  # the builders import torch: only build_encoder needs them (configs validate without)
    from protdata.encoder import ProteinEncoder

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

SEQUENCE_TYPES = ("esm2", "saprot", "esmc")
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
        where = ".".join([key, *key_parts(tuple(first["loc"]), config)])
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        msg = first["msg"].removeprefix("Value error, ")  # a validator's own message names its key
        raise EncoderConfigError(f"{where}: {msg}{more}") from None


def build_encoder(
    config: Mapping[str, Any] | BaseModel, *, key: str = "encoder", load_checkpoint: bool = True
) -> ProteinEncoder:
    """A freshly built encoder for any encoder config section (module docstring).

    Sequence encoders (alone or inside a fusion) load their local ``checkpoint`` when the config names one and
    ``load_checkpoint`` is true (random weights of that architecture otherwise, e.g. before loading a saved run);
    structure and fused encoders start from random weights. Load a saved encoder with
    ``protdata.load_pretrained`` instead.
    """
    from protenc_seq import build_sequence_encoder
    from protenc_struct import build as build_structure_encoder
    from protfusion.build import build as build_fusion

    parsed = parse_encoder_config(config, key=key)
    if not load_checkpoint:
        parsed = without_checkpoint(parsed)
    if isinstance(parsed, SequenceEncoderConfig):
        return build_sequence_encoder(parsed)
    if parsed.type in STRUCTURE_TYPES:
        return build_structure_encoder(parsed)
    return build_fusion(parsed)


def sequence_config(config: Any) -> SequenceEncoderConfig | None:
    """The sequence-encoder section of an encoder config (itself, or a fusion's ``sequence``), else ``None``."""
    if isinstance(config, SequenceEncoderConfig):
        return config
    sequence = getattr(config, "sequence", None)
    return sequence if isinstance(sequence, SequenceEncoderConfig) else None


def with_checkpoint(config: Any, checkpoint: str | None) -> Any:
    """``config`` with its sequence encoder's ``checkpoint`` replaced (no sequence encoder: ``config`` itself)."""
    seq = sequence_config(config)
    if seq is None:
        return config
    new_seq = seq.model_copy(update={"checkpoint": checkpoint})
    return new_seq if seq is config else config.model_copy(update={"sequence": new_seq})


def without_checkpoint(config: Any) -> Any:
    """``config`` with no sequence checkpoint (the architecture alone; weights come from a saved model)."""
    return with_checkpoint(config, None)


def needs_structures(config: Any) -> bool:
    """True when the encoder of ``config`` reads coordinates (structure and fused encoders)."""
    return config.type in STRUCTURE_TYPES or config.type in FUSION_TYPES


def vocabulary(config: Any) -> str | None:
    """``"saprot"`` / ``"esm2"`` / ``"esmc"`` for encoders with a sequence part, else ``None``."""
    seq = sequence_config(config)
    return None if seq is None else seq.type


def needs_3di(config: Any) -> bool:
    """True when the encoder reads Foldseek 3Di strings (a SaProt vocabulary, alone or inside a fusion): its
    proteins need ``structure_tokens`` (``protdata.foldseek.with_3di``, ``build_structure_cache(encode_3di=True)``)."""
    return vocabulary(config) == "saprot"
