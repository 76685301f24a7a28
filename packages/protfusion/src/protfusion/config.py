"""Pydantic configurations of the fused encoders, with the seeds' defaults.

ESM-GearNet (Zhang et al., 2023; DeepGraphLearning/ESM-GearNet ``config/{EC,GO,PSR,MSP}/*.yaml``): ESM-2-650M
and GearNet 6 × 512, serial fusion unless ``fusion: parallel | cross`` (``cross_dim: 512``, 8 heads,
dropout 0.1), ``sequence_model_lr_ratio: 0.1``. FusionProt (kalifadan/FusionProt ``config/EC/3d_esm_gearnet.yaml``):
the same encoders, token fusion, ratio 0.08.

``type`` discriminates the fusions in a YAML file (``serial``, ``parallel``, ``cross``, ``token``). The structure
encoder's node input width is derived, not repeated: serial fusion and token fusion give it the sequence
encoder's width (ESM-GearNet's ``input_dim: 1280``), parallel and cross fusion keep the 21-d one-hot; setting it
to anything else is an error that names the key. Unknown keys and wrong types are errors that name the key.

The sequence section is protenc-seq's :class:`~protenc_seq.SequenceEncoderConfig` (re-exported here for
compatibility, with ``DEFAULT_PRESETS``).
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
from protenc_seq import DEFAULT_PRESETS, SequenceEncoderConfig
from protenc_struct import CDConvConfig, GearNetConfig, GVPConfig, StructureEncoderConfig
from protfusion.schedule import injection_layers

#: ESM-GearNet ``sequence_model_lr_ratio`` (EC/GO/PSR/MSP configs): the sequence encoder learns at 0.1 × lr.
ESM_GEARNET_LR_RATIO = 0.1
#: FusionProt EC/GO configs: ``sequence_model_lr_ratio: 0.08``.
FUSIONPROT_LR_RATIO = 0.08
#: FusionProt: ``nn.init.normal_(structure_token, mean=0.0, std=0.01)``.
TOKEN_INIT_STD = 0.01


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


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
        injection_layers(self.sequence.num_layers, len(self.structure.hidden_dims), self.inject_every)
        return self


#: Any fusion configuration, discriminated by ``type``.
FusionConfig = Annotated[
    SerialFusionConfig | ParallelFusionConfig | CrossFusionConfig | TokenFusionConfig,
    Field(discriminator="type"),
]

__all__ = [
    "DEFAULT_PRESETS",
    "CrossFusionConfig",
    "FusionConfig",
    "ParallelFusionConfig",
    "SequenceEncoderConfig",
    "SerialFusionConfig",
    "TokenFusionConfig",
]
