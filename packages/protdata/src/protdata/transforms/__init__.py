"""Protein transforms used by the pretraining objectives (GearNet, Zhang et al., ICLR 2023): crops, coordinate
noise, residue masking, composition. Each maps ``(Protein, rng) -> Protein`` and is deterministic under a
seed."""

from protdata.transforms.base import Transform, TransformConfig, as_generator
from protdata.transforms.compose import (
    Compose,
    ComposeConfig,
    Identity,
    IdentityConfig,
    build_transform,
    parse_transform_config,
)
from protdata.transforms.crop import (
    SubsequenceCrop,
    SubsequenceCropConfig,
    SubspaceCrop,
    SubspaceCropConfig,
    TruncateProtein,
    TruncateProteinConfig,
)
from protdata.transforms.masking import ResidueMasking, ResidueMaskingConfig
from protdata.transforms.noise import GaussianNoise, GaussianNoiseConfig

__all__ = [
    "Compose",
    "ComposeConfig",
    "GaussianNoise",
    "GaussianNoiseConfig",
    "Identity",
    "IdentityConfig",
    "ResidueMasking",
    "ResidueMaskingConfig",
    "SubsequenceCrop",
    "SubsequenceCropConfig",
    "SubspaceCrop",
    "SubspaceCropConfig",
    "Transform",
    "TransformConfig",
    "TruncateProtein",
    "TruncateProteinConfig",
    "as_generator",
    "build_transform",
    "parse_transform_config",
]
