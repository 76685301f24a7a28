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

from protdata._lazy import lazy_exports

__version__ = "0.1.0"

__all__ = [
    "ENCODER_TYPES",
    "ESM_GEARNET_LR_RATIO",
    "FUSIONPROT_LR_RATIO",
    "FUSION_TYPES",
    "SEQUENCE_TYPES",
    "STRUCTURE_TYPES",
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
    "needs_3di",
    "needs_structures",
    "parse_config",
    "parse_encoder_config",
    "sequence_config",
    "token_gearnet",
    "vocabulary",
    "with_checkpoint",
    "without_checkpoint",
]

# public name -> defining module, imported on first use (protdata._lazy)
_EXPORTS = {
    "SelfAttentionBlock": "protfusion.attention",
    "ESM_GEARNET_LR_RATIO": "protfusion.config",
    "FUSIONPROT_LR_RATIO": "protfusion.config",
    "FusionEncoder": "protfusion.base",
    "build": "protfusion.build",
    "build_sequence_encoder": "protfusion.build",
    "fusion_config": "protfusion.build",
    "parse_config": "protfusion.build",
    "token_gearnet": "protfusion.build",
    "CrossFusionConfig": "protfusion.config",
    "FusionConfig": "protfusion.config",
    "ParallelFusionConfig": "protfusion.config",
    "SequenceEncoderConfig": "protfusion.config",
    "SerialFusionConfig": "protfusion.config",
    "TokenFusionConfig": "protfusion.config",
    "CrossFusion": "protfusion.cross",
    "ENCODER_TYPES": "protfusion.encoders",
    "EncoderConfig": "protfusion.encoders",
    "build_encoder": "protfusion.encoders",
    "parse_encoder_config": "protfusion.encoders",
    "EncoderConfigError": "protfusion.errors",
    "FusionError": "protfusion.errors",
    "ParallelFusion": "protfusion.parallel",
    "injection_layers": "protfusion.schedule",
    "injection_step": "protfusion.schedule",
    "SerialFusion": "protfusion.serial",
    "TokenFusion": "protfusion.token_fusion",
    "needs_3di": "protfusion.encoders",
    "needs_structures": "protfusion.encoders",
    "sequence_config": "protfusion.encoders",
    "vocabulary": "protfusion.encoders",
    "with_checkpoint": "protfusion.encoders",
    "without_checkpoint": "protfusion.encoders",
    "FUSION_TYPES": "protfusion.encoders",
    "SEQUENCE_TYPES": "protfusion.encoders",
    "STRUCTURE_TYPES": "protfusion.encoders",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
