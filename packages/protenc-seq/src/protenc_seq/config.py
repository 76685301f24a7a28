"""``SequenceEncoderConfig``: an ESM-2 / SaProt / ESM C encoder as a config section (``type: esm2 | saprot | esmc``).

The config an :class:`~protenc_seq.encoder.ESM2Encoder` is built from and saves (``save_pretrained``): the
architecture (a ``preset`` name or an explicit ``architecture``), the input policies (``on_long``,
``nonstandard``, ``plddt_threshold``), ``precision`` and ``cls_output``. ``checkpoint`` names local weights to
load when the encoder is built; a saved encoder's config never carries one (its weights are in
``model.safetensors``). Unknown keys and wrong types are errors that name the key.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from protenc_seq.esm2.config import ESM2Config
from protenc_seq.esmc.config import ESMCConfig

#: Default architecture per sequence encoder type (ESM-GearNet / FusionProt: ``ESM-2-650M``; ESM C: the ``esm``
#: package's ``ESMC.from_pretrained`` default, ``esmc_600m``).
DEFAULT_PRESETS = {"esm2": "esm2_t33_650M_UR50D", "saprot": "SaProt_650M_AF2", "esmc": "esmc_600m"}


class SequenceEncoderConfig(BaseModel):
    """An ESM-2, SaProt or ESM C encoder: its architecture, optional local weights and input policies.

    ``type: esmc`` takes the ESM C presets (``"esmc_300m"`` / ``"300M"``, ``"esmc_600m"``, ``"esmc_6b"``; default
    600M) or an :class:`~protenc_seq.esmc.config.ESMCConfig` ``architecture``; its ``checkpoint`` is a
    transformers ESM C directory or an ``esm``-package state dict (``plddt_threshold`` does not apply).

    The architecture is a ``preset`` (``"esm2_t33_650M_UR50D"``, ``"650M"``, ``"SaProt_650M_AF2"``, …; default
    ESM-2-650M / SaProt-650M-AF2) or an explicit ``architecture`` (e.g. a tiny test model). ``checkpoint`` loads a
    local fair-esm ``.pt``, Hugging Face directory or protenc-seq safetensors, which must hold that architecture.
    ``cls_output`` adds the final-layer ``<cls>`` embedding to the output as ``extras["cls"]`` ``(B, D)`` (the
    ESM2 Function Caller / SaProt annotation head reads it: Hugging Face ``EsmClassificationHead`` takes
    ``features[:, 0, :]``).
    """

    model_config = ConfigDict(extra="forbid")

    type: Literal["esm2", "saprot", "esmc"] = "esm2"
    preset: str | None = None  # default: DEFAULT_PRESETS[type]
    architecture: ESM2Config | ESMCConfig | None = None  # explicit sizes instead of a preset
    checkpoint: str | None = None  # local path; None = random initialisation
    on_long: Literal["error", "crop", "full", "window"] = "error"  # protenc-seq's policy for > 1,022 residues
    #: ``on_long: window``: residues between window starts (default half the window: 511 for ESM-2).
    window_stride: int | None = Field(None, ge=1)
    nonstandard: Literal["error", "x", "keep"] = "error"  # B/Z/U/O letters
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # auto: bf16 on CUDA, fp32 on CPU; bf16: both
    plddt_threshold: float | None = 70.0  # SaProt: 3Di → '#' below this pLDDT
    cls_output: bool = False  # extras["cls"]: the final-layer <cls> embedding (B, D)

    @field_validator("architecture", mode="before")
    @classmethod
    def _architecture_class(cls, value: Any, info: ValidationInfo) -> Any:
        """An ``architecture`` mapping without ``type`` is an :class:`ESMCConfig` under ``type: esmc``."""
        if isinstance(value, dict) and "type" not in value and info.data.get("type") == "esmc":
            return {**value, "type": "esmc"}
        return value

    @model_validator(mode="after")
    def _architecture(self) -> SequenceEncoderConfig:
        if self.preset is not None and self.architecture is not None:
            raise ValueError("give either preset or architecture, not both")
        if self.type == "esmc":
            if isinstance(self.architecture, ESM2Config):
                raise ValueError("type 'esmc' needs an ESM C architecture (ESMCConfig), not an ESM2Config")
            self.resolved_architecture()  # raises for an unknown preset
            return self
        if isinstance(self.architecture, ESMCConfig):
            raise ValueError(f"an ESM C architecture needs type 'esmc', not {self.type!r}")
        config = self.esm2_config()  # raises for an unknown preset
        vocab = "saprot" if self.type == "saprot" else "esm"
        if config.vocab != vocab:
            raise ValueError(
                f"type {self.type!r} needs the {vocab!r} vocabulary, the architecture has {config.vocab!r}"
            )
        return self

    def esm2_config(self) -> ESM2Config:
        """The ESM-2 / SaProt architecture (preset or explicit); ESM C has :meth:`resolved_architecture`."""
        if self.type == "esmc":
            raise ValueError(
                "type 'esmc' is an ESM C encoder, not an ESM-2 architecture (use resolved_architecture())"
            )
        if isinstance(self.architecture, ESM2Config):
            return self.architecture
        name = self.preset or DEFAULT_PRESETS[self.type]
        try:
            return ESM2Config.preset(name)
        except KeyError as err:
            raise ValueError(f"preset: {err.args[0]}") from None

    def resolved_architecture(self) -> ESM2Config | ESMCConfig:
        """The network's architecture for any ``type``: :class:`ESM2Config` (esm2, saprot) or :class:`ESMCConfig`."""
        if self.type != "esmc":
            return self.esm2_config()
        if isinstance(self.architecture, ESMCConfig):
            return self.architecture
        try:
            return ESMCConfig.preset(self.preset or DEFAULT_PRESETS["esmc"])
        except KeyError as err:
            raise ValueError(f"preset: {err.args[0]}") from None

    @property
    def num_layers(self) -> int:
        """Transformer blocks of the architecture (any ``type``)."""
        return self.resolved_architecture().num_layers

    @property
    def output_dim(self) -> int:
        return self.resolved_architecture().embed_dim
