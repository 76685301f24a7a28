"""protfusion: sequence-structure fusion -- ESM-GearNet's serial, parallel and cross fusion and FusionProt's
iterative token fusion -- for any protenc-seq sequence encoder (ESM-2, SaProt) and protenc-struct structure
encoder (GearNet, GearNet-Edge, GVP-GNN, CDConv; token fusion: GearNet and GearNet-Edge).

Every fused encoder honours the protdata encoder contract (``output_dim``, ``forward(batch) -> EncoderOutput``)
and takes ``graph=`` for graph objectives where its structure encoder does. ``build(config)`` builds one from a
configuration (``type``: ``serial``, ``parallel``, ``cross``, ``token``) with the seeds' defaults;
``build_encoder(config)`` builds *any* encoder (sequence, structure or fused) from an :data:`EncoderConfig`
section. Every fused encoder saves and loads as a protstack model directory (``save_pretrained`` /
``SerialFusion.from_pretrained`` / ``protdata.load_pretrained``).
"""

from protfusion.attention import SelfAttentionBlock
from protfusion.base import ESM_GEARNET_LR_RATIO, FUSIONPROT_LR_RATIO, FusionEncoder
from protfusion.build import build, build_sequence_encoder, fusion_config, parse_config, token_gearnet
from protfusion.config import (
    CrossFusionConfig,
    FusionConfig,
    ParallelFusionConfig,
    SequenceEncoderConfig,
    SerialFusionConfig,
    TokenFusionConfig,
)
from protfusion.cross import CrossFusion
from protfusion.encoders import ENCODER_TYPES, EncoderConfig, build_encoder, parse_encoder_config
from protfusion.errors import EncoderConfigError, FusionError
from protfusion.parallel import ParallelFusion
from protfusion.schedule import injection_layers, injection_step
from protfusion.serial import SerialFusion
from protfusion.token_fusion import TokenFusion

__version__ = "0.1.0"

__all__ = [
    "ENCODER_TYPES",
    "ESM_GEARNET_LR_RATIO",
    "FUSIONPROT_LR_RATIO",
    "CrossFusion",
    "CrossFusionConfig",
    "EncoderConfig",
    "EncoderConfigError",
    "FusionConfig",
    "FusionEncoder",
    "FusionError",
    "ParallelFusion",
    "ParallelFusionConfig",
    "SelfAttentionBlock",
    "SequenceEncoderConfig",
    "SerialFusion",
    "SerialFusionConfig",
    "TokenFusion",
    "TokenFusionConfig",
    "build",
    "build_encoder",
    "build_sequence_encoder",
    "fusion_config",
    "injection_layers",
    "injection_step",
    "parse_config",
    "parse_encoder_config",
    "token_gearnet",
]
