"""The alignment app's configuration and components: ProtCLIP (protalign) on a protstack sequence encoder and a
Hugging Face text encoder, trained on protein–text pairs (:mod:`engine.pair_data`) by the shared loop.

``AlignConfig`` composes the package configs — ``encoder`` (:data:`engine.builders.EncoderConfig`, a sequence
encoder: pairs carry no coordinates), ``model`` (:class:`protalign.ProtCLIPConfig`: projections, temperatures,
objectives and their weights, the text encoder directory), ``data`` (:class:`~engine.pair_data.AlignDataConfig`)
— with the engine's sections. Defaults are ProtCLIP's (seed-systems.md §3.1–3.3): ESM-2 650M, frozen PubMedBERT,
512-d joint space, ``L = L_cl + 0.3·L_p2p + 0.7·L_t2p + 1.0·L_local``, AdamW 1e-5, weight decay 0, linear decay
with 3 % warm-up, 64 pairs per GPU, 35 epochs, ZeRO-1.

The export is :meth:`protalign.ProtCLIP.save_pretrained` of the trained model (``model.safetensors`` +
``config.json``, with ``text_encoder/`` holding the text model's config and tokenizer files), so
``protdata.pretrained.load_pretrained(run_dir)`` (or ``ProtCLIP.from_pretrained``) rebuilds both towers from the
run directory alone, for :func:`protalign.embed_proteins` / :func:`protalign.embed_texts`, retrieval and
zero-shot.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from pydantic import Field, model_validator
from torch import Tensor, nn

from engine.builders import (
    SEQUENCE_TYPES,
    EncoderConfig,
    build_encoder,
    resolve_path,
    sequence_config,
)
from engine.config import DeepSpeedConfig, OptimizerConfig, SchedulerConfig, Section, TrainConfig
from engine.errors import ConfigError, one_line
from engine.pair_data import AlignDataConfig
from protalign import ProtCLIP, ProtCLIPConfig, TextEncoder
from protalign.errors import TextEncoderError
from protfusion import SequenceEncoderConfig

#: The text model's config + tokenizer files in a run directory (its weights are in model.safetensors).
TEXT_ENCODER_DIR = "text_encoder"


class AlignSchedulerConfig(SchedulerConfig):
    """The engine's schedule, plus a warm-up given as a fraction of the run (Hugging Face ``warmup_ratio``; the
    seed's 0.03): ``warmup_steps = ceil(warmup_ratio × total steps)``."""

    warmup_ratio: float | None = Field(None, ge=0, le=1)

    @model_validator(mode="after")
    def _one_warmup(self) -> AlignSchedulerConfig:
        if self.warmup_ratio is not None and self.warmup_steps:
            raise ValueError("give scheduler.warmup_steps or scheduler.warmup_ratio, not both")
        return self

    def resolved(self, total_steps: int) -> SchedulerConfig:
        """The engine's :class:`SchedulerConfig` with the warm-up in steps."""
        data = self.model_dump(exclude={"warmup_ratio"})
        if self.warmup_ratio is not None:
            data["warmup_steps"] = math.ceil(self.warmup_ratio * total_steps)
        return SchedulerConfig(**data)


def _seed_encoder() -> SequenceEncoderConfig:
    return SequenceEncoderConfig(type="esm2", preset="esm2_t33_650M_UR50D")


class AlignConfig(Section):
    """``apps/align.py``: ProtCLIP pretraining (every key has a commented default, the seed's)."""

    #: Run name: the output directory is ``<output_root>/<name>-<YYYYmmdd-HHMMSS>``.
    name: str = Field("protclip", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    seed: int = Field(42, ge=0)  # Hugging Face TrainingArguments' default seed (ProtCLIP sets none)
    #: Exact output directory (overrides output_root / name / timestamp).
    output_dir: str | None = None
    output_root: str = "runs"
    #: Safetensors weights for the protein encoder (an encoder alone, or any export holding it under a prefix).
    init_from: str | None = None
    #: The protein encoder: ``esm2`` / ``saprot`` (ESM-2 650M, weights from a local ``checkpoint``).
    encoder: EncoderConfig = Field(default_factory=_seed_encoder)
    #: Recompute the protein encoder's blocks in the backward pass (the seed: ESM-2 with gradient checkpointing).
    gradient_checkpointing: bool = True
    #: ProtCLIP: text encoder directory, projections, temperatures, objectives, weights (protalign's defaults).
    model: ProtCLIPConfig = Field(default_factory=ProtCLIPConfig)
    data: AlignDataConfig
    optimizer: OptimizerConfig = Field(default_factory=lambda: OptimizerConfig(type="adamw", lr=1e-5))
    scheduler: AlignSchedulerConfig = Field(
        default_factory=lambda: AlignSchedulerConfig(type="linear", warmup_ratio=0.03)
    )
    deepspeed: DeepSpeedConfig = Field(default_factory=lambda: DeepSpeedConfig(zero_stage=1))
    train: TrainConfig = Field(default_factory=lambda: TrainConfig(epochs=35))


def vector_scalars(model: ProtCLIP) -> ProtCLIP:
    """``model`` with its 0-dimensional parameters held as ``(1,)`` parameters, shown as scalars in
    ``state_dict()`` and accepted as scalars by ``load_state_dict()`` (hooks on this instance), so its saved
    model and its checkpoints are a plain :class:`~protalign.model.ProtCLIP`'s.

    DeepSpeed (0.19) cannot broadcast a 0-dimensional parameter (``_broadcast_model`` views every parameter as
    bytes: "self.dim() cannot be 0"), and ProtCLIP's temperatures ``clip_loss.logit_scale`` and
    ``local_logit_scale`` are scalars; the losses broadcast a ``(1,)`` temperature the same way.
    """
    names: list[str] = []
    for name, p in list(model.named_parameters()):
        if p.dim() == 0:
            owner, _, leaf = name.rpartition(".")
            module = model.get_submodule(owner) if owner else model
            setattr(module, leaf, nn.Parameter(p.detach().reshape(1), requires_grad=p.requires_grad))
            names.append(name)

    def scalars_out(module: nn.Module, state: dict[str, Tensor], prefix: str, _: Any) -> None:
        for name in names:
            if prefix + name in state:
                state[prefix + name] = state[prefix + name].reshape(())

    def scalars_in(module: nn.Module, state: dict[str, Tensor], prefix: str, *_: Any) -> None:
        for name in names:
            value = state.get(prefix + name)
            if value is not None and value.numel() == 1:
                state[prefix + name] = value.reshape(1)

    if names:
        model.register_state_dict_post_hook(scalars_out)
        model.register_load_state_dict_pre_hook(scalars_in)
    return model


# ------------------------------------------------------------------------------------------------ checks
def check_config(config: AlignConfig) -> None:
    """Config checks that need no file: a sequence encoder, a text encoder, lengths the encoder accepts.

    Raises:
        ConfigError: naming the key.
    """
    if config.encoder.type not in SEQUENCE_TYPES:
        raise ConfigError(
            f"encoder.type: {config.encoder.type!r} reads structures, but protein–text pairs carry sequences "
            f"only; use one of {', '.join(SEQUENCE_TYPES)}"
        )
    if config.model.text_encoder is None:
        raise ConfigError("model.text_encoder.path: required key is missing (a local Hugging Face directory)")
    seq = sequence_config(config.encoder)
    assert seq is not None
    window = seq.esm2_config().max_residues
    if window is not None and seq.on_long == "error" and config.model.max_protein_length > window:
        raise ConfigError(
            f"model.max_protein_length: {config.model.max_protein_length} residues exceed the encoder's window "
            f"of {window} (encoder.on_long is 'error'); lower it or set encoder.on_long=crop"
        )


def check_text_encoder_dir(config: AlignConfig) -> Path:
    """The text-encoder directory, checked for ``config.json``, weights and tokenizer files without loading it.

    Raises:
        ConfigError: an unset variable, a missing or incomplete directory (naming the key).
    """
    from protalign.text_encoder import check_model_dir

    assert config.model.text_encoder is not None
    key = "model.text_encoder.path"
    try:
        return check_model_dir(resolve_path(config.model.text_encoder.path, key))
    except TextEncoderError as exc:
        raise ConfigError(f"{key}: {one_line(str(exc))}") from None


def load_text_encoder(config: AlignConfig) -> TextEncoder:
    """The text encoder of ``model.text_encoder`` (a local directory; its token limit is
    ``model.max_text_length``).

    Raises:
        ConfigError: an unset variable, a missing or incomplete directory, a token limit the model cannot take.
    """
    tc = config.model.text_encoder
    assert tc is not None
    key = "model.text_encoder.path"
    path = resolve_path(tc.path, key)
    try:
        text = TextEncoder.from_pretrained(path, frozen=tc.frozen, max_length=config.model.max_text_length)
    except TextEncoderError as exc:
        raise ConfigError(f"{key}: {one_line(str(exc))}") from None
    positions = getattr(text.model.config, "max_position_embeddings", None)
    if positions is not None and config.model.max_text_length > positions:
        raise ConfigError(
            f"model.max_text_length: {config.model.max_text_length} tokens, but the text encoder at {path} has "
            f"{positions} positions"
        )
    return text


def build_alignment_model(
    config: AlignConfig, text_encoder: TextEncoder | None = None, *, load_checkpoint: bool = True
) -> ProtCLIP:
    """ProtCLIP on the configured encoders; the new modules (protein encoder unless loaded, projections, heads,
    prototype bank) are initialised from ``config.seed``, whatever happened to the global generator before."""
    check_config(config)
    text_encoder = text_encoder if text_encoder is not None else load_text_encoder(config)
    state = torch.random.get_rng_state()
    torch.manual_seed(config.seed)
    try:
        protein_encoder = build_encoder(config.encoder, load_checkpoint=load_checkpoint)
        protein_encoder.model.gradient_checkpointing = config.gradient_checkpointing  # ESM2 / SaProt network
        return vector_scalars(ProtCLIP(protein_encoder, text_encoder, config.model))
    finally:
        torch.random.set_rng_state(state)
