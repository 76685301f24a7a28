"""``build(config)``: a fused encoder (and its two encoders) from a configuration object, dict or YAML mapping."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import TypeAdapter

from protenc_seq import ESM2Encoder, SaProtEncoder, load_model
from protenc_struct import GearNet, GearNetConfig
from protenc_struct import build as build_structure_encoder
from protfusion.base import FusionEncoder
from protfusion.config import (
    CrossFusionConfig,
    FusionConfig,
    ParallelFusionConfig,
    SequenceEncoderConfig,
    SerialFusionConfig,
    TokenFusionConfig,
)
from protfusion.cross import CrossFusion
from protfusion.parallel import ParallelFusion
from protfusion.serial import SerialFusion
from protfusion.token_fusion import TokenFusion

_ADAPTER: TypeAdapter = TypeAdapter(FusionConfig)
_CONFIGS = (SerialFusionConfig, ParallelFusionConfig, CrossFusionConfig, TokenFusionConfig)


def parse_config(config: Mapping[str, object] | FusionConfig) -> FusionConfig:
    """Validate a mapping such as ``{"type": "serial", "structure": {"type": "gvp"}}`` (errors name the key)."""
    if isinstance(config, _CONFIGS):
        return config
    return _ADAPTER.validate_python(dict(config))


def build_sequence_encoder(config: SequenceEncoderConfig) -> ESM2Encoder:
    """The ESM-2 / SaProt encoder of ``config`` (random weights, or the local ``checkpoint`` checked against the
    architecture)."""
    architecture = config.esm2_config()
    model = architecture if config.checkpoint is None else load_model(config.checkpoint, expect=architecture)
    cls = SaProtEncoder if config.type == "saprot" else ESM2Encoder
    return cls(
        model,
        on_long=config.on_long,
        nonstandard=config.nonstandard,
        precision=config.precision,
        plddt_threshold=config.plddt_threshold,
    )


def token_gearnet(config: GearNetConfig, sequence_dim: int, seed_token_relation: bool = False) -> GearNet:
    """The GearNet TokenFusion needs: ``input_dim = sequence_dim`` (the token enters raw, FusionProt's 1280) and,
    unless ``seed_token_relation``, one relation more than its graph has (the token edges' own relation).

    GearNetConfig checks that ``num_relation`` equals its graph's relation count; the extra relation is added
    here, after validation, because only the token edges use it.
    """
    extra = 0 if seed_token_relation else 1
    config = type(config).model_validate({**config.model_dump(), "input_dim": sequence_dim})
    return GearNet(config.model_copy(update={"num_relation": config.graph.num_relation + extra}))


def build(config: Mapping[str, object] | FusionConfig) -> FusionEncoder:
    """The fused encoder for ``config`` (``type``: ``serial``, ``parallel``, ``cross`` or ``token``)."""
    config = parse_config(config)
    sequence = build_sequence_encoder(config.sequence)
    ratio = config.sequence_lr_ratio
    if isinstance(config, TokenFusionConfig):
        structure = token_gearnet(config.structure, sequence.output_dim, config.seed_token_relation)
        return TokenFusion(
            sequence,
            structure,
            inject_every=config.inject_every,
            seed_token_relation=config.seed_token_relation,
            token_init_std=config.token_init_std,
            sequence_lr_ratio=ratio,
        )
    structure = build_structure_encoder(config.structure_config())
    if isinstance(config, SerialFusionConfig):
        return SerialFusion(sequence, structure, sequence_lr_ratio=ratio)
    if isinstance(config, ParallelFusionConfig):
        return ParallelFusion(sequence, structure, sequence_lr_ratio=ratio)
    return CrossFusion(
        sequence, structure, config.cross_dim, config.num_heads, config.dropout, sequence_lr_ratio=ratio
    )
