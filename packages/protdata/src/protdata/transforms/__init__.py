"""Protein transforms used by the pretraining objectives (GearNet, Zhang et al., ICLR 2023): crops, coordinate
noise, residue masking, composition. Each maps ``(Protein, rng) -> Protein`` and is deterministic under a
seed."""

from protdata._lazy import lazy_exports

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
    "inference_transform",
    "parse_transform_config",
]

# public name -> defining module, imported on first use (protdata._lazy)
_EXPORTS = {
    "Transform": "protdata.transforms.base",
    "TransformConfig": "protdata.transforms.base",
    "as_generator": "protdata.transforms.base",
    "Compose": "protdata.transforms.compose",
    "ComposeConfig": "protdata.transforms.compose",
    "Identity": "protdata.transforms.compose",
    "IdentityConfig": "protdata.transforms.compose",
    "build_transform": "protdata.transforms.compose",
    "inference_transform": "protdata.transforms.compose",
    "parse_transform_config": "protdata.transforms.compose",
    "SubsequenceCrop": "protdata.transforms.crop",
    "SubsequenceCropConfig": "protdata.transforms.crop",
    "SubspaceCrop": "protdata.transforms.crop",
    "SubspaceCropConfig": "protdata.transforms.crop",
    "TruncateProtein": "protdata.transforms.crop",
    "TruncateProteinConfig": "protdata.transforms.crop",
    "ResidueMasking": "protdata.transforms.masking",
    "ResidueMaskingConfig": "protdata.transforms.masking",
    "GaussianNoise": "protdata.transforms.noise",
    "GaussianNoiseConfig": "protdata.transforms.noise",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
