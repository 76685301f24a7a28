"""protfusion: sequence-structure fusion -- ESM-GearNet's serial, parallel and cross fusion and FusionProt's
iterative token fusion -- for any protenc-seq sequence encoder (ESM-2, SaProt) and protenc-struct structure
encoder (GearNet, GearNet-Edge, GVP-GNN, CDConv; token fusion: GearNet and GearNet-Edge).

Every fused encoder honours the protdata encoder contract (``output_dim``, ``forward(batch) -> EncoderOutput``)
and takes ``graph=`` for graph objectives where its structure encoder does. ``build(config)`` builds one from a
configuration (``type``: ``serial``, ``parallel``, ``cross``, ``token``) with the seeds' defaults.
"""

from protfusion.attention import SelfAttentionBlock
from protfusion.base import ESM_GEARNET_LR_RATIO, FUSIONPROT_LR_RATIO, FusionEncoder
from protfusion.build import build, build_sequence_encoder, parse_config, token_gearnet
from protfusion.config import (
    CrossFusionConfig,
    FusionConfig,
    ParallelFusionConfig,
    SequenceEncoderConfig,
    SerialFusionConfig,
    TokenFusionConfig,
)
from protfusion.cross import CrossFusion
from protfusion.errors import FusionError
from protfusion.parallel import ParallelFusion
from protfusion.schedule import injection_layers, injection_step
from protfusion.serial import SerialFusion
from protfusion.token_fusion import TokenFusion

__version__ = "0.1.0"

__all__ = [
    "ESM_GEARNET_LR_RATIO",
    "FUSIONPROT_LR_RATIO",
    "CrossFusion",
    "CrossFusionConfig",
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
    "build_sequence_encoder",
    "injection_layers",
    "injection_step",
    "parse_config",
    "token_gearnet",
]
