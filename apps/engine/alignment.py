"""The alignment app's configuration (no torch imported here) and the calls that build its parts: ProtCLIP
(:mod:`protalign`) on a protstack sequence encoder and a Hugging Face text encoder, trained on protein–text pairs
(:mod:`protalign.pair_files`, :mod:`protalign.pair_loading`) by the shared loop. Defaults are ProtCLIP's
(diaoshaoyou/ProtCLIP3.3): ESM-2 650M, frozen PubMedBERT, 512-d joint space, ``L = L_cl + 0.3·L_p2p +
0.7·L_t2p + 1.0·L_local``, AdamW 1e-5, no weight decay, linear decay with 3 % warm-up, 64 pairs per GPU, 35
epochs, ZeRO-1.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from pydantic import Field, model_validator

from engine.config import DeepSpeedConfig, Section, TrainConfig
from engine.errors import ConfigError, one_line
from engine.validation import ValidationConfig
from protalign.config import PairDataConfig, ProtCLIPConfig
from protfusion import EncoderConfig, SequenceEncoderConfig
from prottasks.optim import OptimizerConfig, SchedulerConfig

if TYPE_CHECKING:
    from protalign import ProtCLIP, TextEncoder


class AlignDataConfig(PairDataConfig, Section):
    """Protein–text pair files (:class:`protalign.config.PairDataConfig`) and how they are batched."""

    #: Most pairs in one micro-batch (seed: 64 per GPU).
    batch_size: int = Field(64, ge=1)
    #: Most padded residues (``pairs × longest``) in one micro-batch; None: fixed batches of ``batch_size``.
    max_tokens: int | None = Field(None, ge=1)
    #: Pairs sorted together by length before cutting batches (1: random batches, as the seed's sampler).
    bucket_window: int = Field(1, ge=1)
    #: DataLoader worker processes (tokenisation and masking).
    num_workers: int = Field(1, ge=0)
    prefetch_factor: int = Field(4, ge=1)

    def batching(self) -> dict[str, Any]:
        """The batching keys: keyword arguments of :func:`protalign.pair_loading.prepare_pair_data`."""
        return self.model_dump(exclude=set(PairDataConfig.model_fields))


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
    encoder: EncoderConfig = Field(
        default_factory=lambda: SequenceEncoderConfig(type="esm2", preset="esm2_t33_650M_UR50D")
    )
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
    #: Held-out pairs (by protein id), validated every N steps (:class:`engine.validation.ValidationConfig`).
    validation: ValidationConfig = Field(default_factory=ValidationConfig)


def check_config(config: AlignConfig) -> None:
    """Checks that need no file: a sequence encoder, lengths it accepts (``ConfigError`` naming the key)."""
    from protfusion.encoders import SEQUENCE_TYPES, sequence_config

    if config.encoder.type not in SEQUENCE_TYPES:
        raise ConfigError(
            f"encoder.type: {config.encoder.type!r} reads structures, but protein–text pairs carry sequences "
            f"only; use one of {', '.join(SEQUENCE_TYPES)}"
        )
    seq = sequence_config(config.encoder)
    window = seq.resolved_architecture().max_residues if seq is not None else None
    if window is not None and seq.on_long == "error" and config.model.max_protein_length > window:
        raise ConfigError(
            f"model.max_protein_length: {config.model.max_protein_length} residues exceed the encoder's window "
            f"of {window} (encoder.on_long is 'error'); lower it or set encoder.on_long=crop"
        )


def text_encoder(config: AlignConfig, *, load: bool = True) -> TextEncoder | None:
    """The text encoder of ``model.text_encoder`` (its token limit ``model.max_text_length``); ``load=False``
    only checks its directory for ``config.json``, weights and tokenizer files (``ConfigError`` naming the key)."""
    from engine.builders import resolve_path
    from protalign.errors import TextEncoderError
    from protalign.text_encoder import TextEncoder, check_model_dir

    tc, key, limit = config.model.text_encoder, "model.text_encoder.path", config.model.max_text_length
    if tc is None:
        raise ConfigError(f"{key}: required key is missing (a local Hugging Face directory)")
    try:
        path = check_model_dir(resolve_path(tc.path, key))
        if load:
            return TextEncoder.from_pretrained(path, frozen=tc.frozen, max_length=limit)
    except TextEncoderError as exc:
        raise ConfigError(f"{key}: {one_line(str(exc))}") from None
    return None


def build_alignment_model(
    config: AlignConfig, text: TextEncoder | None = None, *, load_checkpoint: bool = True
) -> ProtCLIP:
    """ProtCLIP (:func:`protalign.build_protclip`) on the configured encoders; the new modules (protein encoder
    unless loaded, projections, heads, prototype bank) are initialised from ``config.seed``, whatever happened to
    the global generator before; 0-d temperatures held as ``(1,)`` for DeepSpeed (``vector_scalars``)."""
    import torch

    from engine.builders import build_encoder
    from protalign import build_protclip
    from protalign.distributed import vector_scalars

    check_config(config)
    text = text if text is not None else text_encoder(config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        protein_encoder = build_encoder(config.encoder, load_checkpoint=load_checkpoint)
        protein_encoder.model.gradient_checkpointing = config.gradient_checkpointing  # ESM2 / SaProt network
        return vector_scalars(build_protclip(config.model, protein_encoder, text))
