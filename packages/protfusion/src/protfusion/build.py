"""``build(config)``: a fused encoder (and its two encoders) from a configuration object, dict or YAML mapping;
``fusion_config(fused)``: the config a fused encoder rebuilds from (what ``save_pretrained`` writes)."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import TypeAdapter

from protenc_seq import build_sequence_encoder
from protenc_struct import CDConvConfig, GearNet, GearNetConfig, GVPConfig
from protenc_struct import build as build_structure_encoder
from protfusion.base import FusionEncoder
from protfusion.config import (
    CrossFusionConfig,
    FusionConfig,
    ParallelFusionConfig,
    SequenceEncoderConfig,
    SerialFusionConfig,
    TokenFusionConfig,
    structure_width,
)
from protfusion.cross import CrossFusion
from protfusion.errors import FusionError
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


def fusion_config(fused: FusionEncoder) -> FusionConfig:
    """The fusion config that :func:`build` turns into an encoder of ``fused``'s architecture.

    Read from the parts: the sequence encoder's :class:`~protenc_seq.SequenceEncoderConfig` (``checkpoint``
    None), the structure encoder's config without its derived node input width (and, for token fusion, with
    the graph's relation count: the token's relation is added by :func:`token_gearnet`), and the fusion's own
    settings. Raises :class:`FusionError` naming the part that has no protstack config.
    """
    sequence = getattr(fused.sequence, "config", None)
    if not isinstance(sequence, SequenceEncoderConfig):
        raise FusionError(
            f"{type(fused).__name__}'s sequence encoder {type(fused.sequence).__name__} has no protenc-seq "
            "SequenceEncoderConfig, so the fusion has no config to save or rebuild from: build the fusion with "
            "protfusion.build (or from protenc_seq encoders)"
        )
    structure = getattr(fused.structure, "config", None)
    if not isinstance(structure, GearNetConfig | GVPConfig | CDConvConfig):
        raise FusionError(
            f"{type(fused).__name__}'s structure encoder {type(fused.structure).__name__} has no protenc-struct "
            "config, so the fusion has no config to save or rebuild from"
        )
    key, _ = structure_width(structure)
    data = structure.model_dump(mode="json")
    data.pop(key)
    common = {"sequence": sequence, "structure": data, "sequence_lr_ratio": fused.sequence_lr_ratio}
    model_type = getattr(fused, "model_type", None)
    if model_type == "token":
        data["num_relation"] = structure.graph.num_relation
        return TokenFusionConfig(
            **common,
            inject_every=fused.inject_every,
            seed_token_relation=fused.seed_token_relation,
            token_init_std=fused.token_init_std,
        )
    if model_type == "cross":
        return CrossFusionConfig(
            **common, cross_dim=fused.cross_dim, num_heads=fused.num_heads, dropout=fused.attention_dropout
        )
    if model_type == "serial":
        return SerialFusionConfig(**common)
    if model_type == "parallel":
        return ParallelFusionConfig(**common)
    raise FusionError(
        f"{type(fused).__name__} is not one of protfusion's fusions (serial, parallel, cross, token)"
    )
