"""Pydantic configurations of the fused encoders, with the seeds' defaults.

ESM-GearNet (``config/{EC,GO,PSR,MSP}/*.yaml``; seed-systems.md §1.1-1.2): ESM-2-650M + GearNet 6 × 512, serial
fusion unless ``fusion: parallel | cross`` (``cross_dim: 512``, 8 heads, dropout 0.1), ``sequence_model_lr_ratio:
0.1``. FusionProt (``config/EC/3d_esm_gearnet.yaml``; §2.1-2.2): the same encoders, token fusion, ratio 0.08.

``type`` discriminates the fusions in a YAML file (``serial``, ``parallel``, ``cross``, ``token``). The structure
encoder's node input width is derived, not repeated: serial fusion and token fusion give it the sequence
encoder's width (ESM-GearNet's ``input_dim: 1280``), parallel and cross fusion keep the 21-d one-hot; setting it
to anything else is an error that names the key. Unknown keys and wrong types are errors that name the key.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_serializer,
    model_validator,
)

from protdata import NUM_RESIDUE_TYPES
from protenc_seq import ESM2Config
from protenc_struct import CDConvConfig, GearNetConfig, GVPConfig, StructureEncoderConfig
from protfusion.base import ESM_GEARNET_LR_RATIO, FUSIONPROT_LR_RATIO
from protfusion.schedule import injection_layers
from protfusion.token_fusion import TOKEN_INIT_STD

#: Default architecture per sequence encoder type (ESM-GearNet / FusionProt: ``ESM-2-650M``).
DEFAULT_PRESETS = {"esm2": "esm2_t33_650M_UR50D", "saprot": "SaProt_650M_AF2"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SequenceEncoderConfig(_Strict):
    """The sequence encoder of a fusion: an ESM-2 or SaProt architecture, optionally with local weights.

    The architecture is a ``preset`` (``"esm2_t33_650M_UR50D"``, ``"650M"``, ``"SaProt_650M_AF2"``, …; default
    ESM-2-650M / SaProt-650M-AF2) or an explicit ``architecture`` (e.g. a tiny test model). ``checkpoint`` loads a
    local fair-esm ``.pt``, Hugging Face directory or protenc-seq safetensors, which must hold that architecture.
    """

    type: Literal["esm2", "saprot"] = "esm2"
    preset: str | None = None  # default: DEFAULT_PRESETS[type]
    architecture: ESM2Config | None = None  # explicit sizes instead of a preset
    checkpoint: str | None = None  # local path; None = random initialisation
    on_long: Literal["error", "crop", "full"] = "error"  # protenc-seq's policy for > 1,022 residues
    nonstandard: Literal["error", "x", "keep"] = "error"  # B/Z/U/O letters
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # bf16 autocast on CUDA
    plddt_threshold: float | None = 70.0  # SaProt: 3Di → '#' below this pLDDT

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


def structure_width(config: GearNetConfig | GVPConfig | CDConvConfig) -> tuple[str, int]:
    """The node-input key of a structure config and its value (``input_dim`` or ``node_in_dim``)."""
    if isinstance(config, GVPConfig):
        return "node_in_dim", config.node_in_dim[0]
    return "input_dim", config.input_dim


def with_structure_width(config: StructureEncoderConfig, width: int) -> StructureEncoderConfig:
    """``config`` with its node input width set to ``width`` (validated again)."""
    key, _ = structure_width(config)
    value: object = (width, 0) if key == "node_in_dim" else width
    return type(config).model_validate({**config.model_dump(), key: value})


class _FusionConfig(_Strict):
    sequence: SequenceEncoderConfig = Field(default_factory=SequenceEncoderConfig)
    structure: StructureEncoderConfig = Field(default_factory=GearNetConfig)
    sequence_lr_ratio: float = Field(ESM_GEARNET_LR_RATIO, ge=0)  # sequence_model_lr_ratio: 0.1

    def structure_input_width(self) -> int:
        """Node input width the structure encoder gets in this fusion."""
        return NUM_RESIDUE_TYPES

    @model_validator(mode="after")
    def _width(self) -> _FusionConfig:
        key, value = structure_width(self.structure)
        want = self.structure_input_width()
        if key in self.structure.model_fields_set and value != want:
            raise ValueError(
                f"structure.{key}: {self.type} fusion feeds the structure encoder {want}-d node input, "
                f"but the config sets {value} (leave it out: it is derived)"
            )
        return self

    @field_serializer("structure", mode="wrap")
    def _dump_structure(self, value: Any, handler: SerializerFunctionWrapHandler) -> Any:
        """The dump leaves the derived node input width out unless the config set it, so ``model_dump()`` of a
        fusion config validates again to the same config (saved run configs, ``--resume``)."""
        data = handler(value)
        key, _ = structure_width(value)
        if isinstance(data, dict) and key not in value.model_fields_set:
            data.pop(key, None)
        return data

    def structure_config(self) -> StructureEncoderConfig:
        """The structure encoder's config with its derived node input width."""
        return with_structure_width(self.structure, self.structure_input_width())

    @property
    def output_dim(self) -> int:
        return self.sequence.output_dim + self.structure.output_dim


class SerialFusionConfig(_FusionConfig):
    """ESM-GearNet serial fusion: structure input = sequence residue features; output ``[seq ‖ struct]``."""

    type: Literal["serial"] = "serial"

    def structure_input_width(self) -> int:
        return self.sequence.output_dim  # input_dim: 1280


class ParallelFusionConfig(_FusionConfig):
    """ESM-GearNet parallel fusion: both encoders independent; output ``[seq ‖ struct]``."""

    type: Literal["parallel"] = "parallel"


class CrossFusionConfig(_FusionConfig):
    """ESM-GearNet cross fusion: one self-attention block over each protein's 2L projected tokens."""

    type: Literal["cross"] = "cross"
    cross_dim: int = Field(512, ge=1)  # cross_dim: 512
    num_heads: int = Field(8, ge=1)  # SelfAttentionBlock(cross_dim, num_heads=8, ...)
    dropout: float = Field(0.1, ge=0, lt=1)  # SelfAttentionBlock(..., dropout=0.1)

    @model_validator(mode="after")
    def _heads(self) -> CrossFusionConfig:
        if self.cross_dim % self.num_heads:
            raise ValueError(f"cross_dim {self.cross_dim} is not a multiple of num_heads {self.num_heads}")
        return self

    @property
    def output_dim(self) -> int:
        return 2 * self.cross_dim


class TokenFusionConfig(_FusionConfig):
    """FusionProt token fusion (GearNet or GearNet-Edge only)."""

    type: Literal["token"] = "token"
    inject_every: int | None = Field(
        None, ge=1
    )  # None: ⌊(n_seq − 1) / n_struct⌋ (FusionProt: inject_step = 5)
    seed_token_relation: bool = False  # True: token edges reuse relation 1, as FusionProt's code does
    token_init_std: float = Field(TOKEN_INIT_STD, gt=0)  # nn.init.normal_(structure_token, std=0.01)
    sequence_lr_ratio: float = Field(FUSIONPROT_LR_RATIO, ge=0)  # sequence_model_lr_ratio: 0.08

    def structure_input_width(self) -> int:
        return self.sequence.output_dim  # GearNet input_dim: 1280 (the token enters raw)

    @model_validator(mode="after")
    def _token(self) -> TokenFusionConfig:
        if not isinstance(self.structure, GearNetConfig):  # GearNetEdgeConfig is a GearNetConfig
            raise ValueError(
                f"structure: token fusion runs a layer-wise structure encoder (type 'gearnet' or 'gearnet_edge'), "
                f"not {self.structure.type!r}; use serial, parallel or cross fusion for it"
            )
        injection_layers(
            self.sequence.esm2_config().num_layers, len(self.structure.hidden_dims), self.inject_every
        )
        return self


#: Any fusion configuration, discriminated by ``type``.
FusionConfig = Annotated[
    SerialFusionConfig | ParallelFusionConfig | CrossFusionConfig | TokenFusionConfig,
    Field(discriminator="type"),
]

__all__ = [
    "CrossFusionConfig",
    "FusionConfig",
    "ParallelFusionConfig",
    "SequenceEncoderConfig",
    "SerialFusionConfig",
    "TokenFusionConfig",
]
