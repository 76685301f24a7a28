"""``build_sequence_encoder(config)``: the ESM-2 / SaProt / ESM C encoder of a :class:`SequenceEncoderConfig`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from protenc_seq.config import DEFAULT_PRESETS, SequenceEncoderConfig
from protenc_seq.encoder import ESM2Encoder, SaProtEncoder
from protenc_seq.loading.auto import load_model


def build_sequence_encoder(config: SequenceEncoderConfig | Mapping[str, Any]) -> ESM2Encoder:
    """The ESM-2 / SaProt encoder of ``config`` (random weights, or the local ``checkpoint`` checked against the
    architecture). A mapping is validated first (errors name the key)."""
    if not isinstance(config, SequenceEncoderConfig):
        config = SequenceEncoderConfig.model_validate(dict(config))
    if config.type == "esmc":
        return _build_esmc(config)
    architecture = config.esm2_config()
    model = architecture if config.checkpoint is None else load_model(config.checkpoint, expect=architecture)
    cls = SaProtEncoder if config.type == "saprot" else ESM2Encoder
    preset = None
    if config.architecture is None:
        preset = architecture.name or config.preset or DEFAULT_PRESETS[config.type]
    return cls(
        model,
        on_long=config.on_long,
        window_stride=config.window_stride,
        nonstandard=config.nonstandard,
        precision=config.precision,
        plddt_threshold=config.plddt_threshold,
        cls_output=config.cls_output,
        preset=preset,
    )


def _build_esmc(config: SequenceEncoderConfig) -> ESM2Encoder:
    """The :class:`~protenc_seq.esmc.ESMCEncoder` of an ``esmc`` config (random weights or ``checkpoint``)."""
    from protenc_seq.esmc.config import ESMCConfig
    from protenc_seq.esmc.encoder import ESMCEncoder
    from protenc_seq.esmc.loading import load_esmc

    architecture = config.resolved_architecture()
    assert isinstance(architecture, ESMCConfig)
    model = architecture if config.checkpoint is None else load_esmc(config.checkpoint, expect=architecture)
    preset = None
    if config.architecture is None:
        preset = architecture.name or config.preset or DEFAULT_PRESETS["esmc"]
    return ESMCEncoder(
        model,
        on_long=config.on_long,
        window_stride=config.window_stride,
        nonstandard=config.nonstandard,
        precision=config.precision,
        cls_output=config.cls_output,
        preset=preset,
    )
