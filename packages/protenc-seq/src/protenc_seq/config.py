"""``SequenceEncoderConfig``: an ESM-2 / SaProt encoder as a config section (``type: esm2 | saprot``).

The config an :class:`~protenc_seq.encoder.ESM2Encoder` is built from and saves (``save_pretrained``): the
architecture (a ``preset`` name or an explicit ``architecture``), the input policies (``on_long``,
``nonstandard``, ``plddt_threshold``), ``precision`` and ``cls_output``. ``checkpoint`` names local weights to
load when the encoder is built; a saved encoder's config never carries one (its weights are in
``model.safetensors``). Unknown keys and wrong types are errors that name the key.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, model_validator

from protenc_seq.esm2.config import ESM2Config

#: Default architecture per sequence encoder type (ESM-GearNet / FusionProt: ``ESM-2-650M``).
DEFAULT_PRESETS = {"esm2": "esm2_t33_650M_UR50D", "saprot": "SaProt_650M_AF2"}


class SequenceEncoderConfig(BaseModel):
    """An ESM-2 or SaProt encoder: its architecture, optional local weights and input policies.

    The architecture is a ``preset`` (``"esm2_t33_650M_UR50D"``, ``"650M"``, ``"SaProt_650M_AF2"``, …; default
    ESM-2-650M / SaProt-650M-AF2) or an explicit ``architecture`` (e.g. a tiny test model). ``checkpoint`` loads a
    local fair-esm ``.pt``, Hugging Face directory or protenc-seq safetensors, which must hold that architecture.
    ``cls_output`` adds the final-layer ``<cls>`` embedding to the output as ``extras["cls"]`` ``(B, D)`` (the
    ESM2 Function Caller / SaProt annotation head reads it: Hugging Face ``EsmClassificationHead`` takes
    ``features[:, 0, :]``).
    """

    model_config = ConfigDict(extra="forbid")

    type: Literal["esm2", "saprot"] = "esm2"
    preset: str | None = None  # default: DEFAULT_PRESETS[type]
    architecture: ESM2Config | None = None  # explicit sizes instead of a preset
    checkpoint: str | None = None  # local path; None = random initialisation
    on_long: Literal["error", "crop", "full"] = "error"  # protenc-seq's policy for > 1,022 residues
    nonstandard: Literal["error", "x", "keep"] = "error"  # B/Z/U/O letters
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # auto: bf16 on CUDA, fp32 on CPU; bf16: both
    plddt_threshold: float | None = 70.0  # SaProt: 3Di → '#' below this pLDDT
    cls_output: bool = False  # extras["cls"]: the final-layer <cls> embedding (B, D)

    @model_validator(mode="after")
    def _architecture(self) -> SequenceEncoderConfig:
        if self.preset is not None and self.architecture is not None:
            raise ValueError("give either preset or architecture, not both")
        config = self.esm2_config()  # raises for an unknown preset
        vocab = "saprot" if self.type == "saprot" else "esm"
        if config.vocab != vocab:
            raise ValueError(
                f"type {self.type!r} needs the {vocab!r} vocabulary, the architecture has {config.vocab!r}"
            )
        return self

    def esm2_config(self) -> ESM2Config:
        """The architecture (preset or explicit)."""
        if self.architecture is not None:
            return self.architecture
        name = self.preset or DEFAULT_PRESETS[self.type]
        try:
            return ESM2Config.preset(name)
        except KeyError as err:
            raise ValueError(f"preset: {err.args[0]}") from None

    @property
    def output_dim(self) -> int:
        return self.esm2_config().embed_dim
