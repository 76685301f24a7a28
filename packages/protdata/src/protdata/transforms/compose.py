"""Compose transforms, and build any transform from its config (``type`` discriminator, for YAML presets)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, TypeAdapter

from protdata.protein import Protein
from protdata.transforms.base import RngLike, Transform, TransformConfig, as_generator
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


class IdentityConfig(TransformConfig):
    type: Literal["identity"] = "identity"


class Identity(Transform[IdentityConfig]):
    """Return the protein unchanged (TorchDrug ``IdentityNode``, a multiview-contrast "noise" choice)."""

    config_class = IdentityConfig

    def apply(self, protein: Protein, rng: np.random.Generator) -> Protein:
        return protein


class ComposeConfig(TransformConfig):
    type: Literal["compose"] = "compose"
    transforms: list[AnyTransformConfig] = Field(default_factory=list)


AnyTransformConfig = Annotated[
    TruncateProteinConfig
    | SubsequenceCropConfig
    | SubspaceCropConfig
    | GaussianNoiseConfig
    | ResidueMaskingConfig
    | IdentityConfig
    | ComposeConfig,
    Field(discriminator="type"),
]
ComposeConfig.model_rebuild()
_ADAPTER: TypeAdapter[Any] = TypeAdapter(AnyTransformConfig)


class Compose:
    """Apply transforms in order with one generator (so one seed fixes every draw); nested ``Compose`` objects
    are flattened and ``None`` entries dropped, as in TorchDrug's ``Compose``."""

    def __init__(self, transforms: Iterable[Any], *, seed: int | None = None) -> None:
        flat: list[Any] = []
        for transform in transforms:
            if isinstance(transform, Compose):
                flat += transform.transforms
            elif transform is not None:
                flat.append(transform)
        self.transforms = flat
        self.rng = np.random.default_rng(seed)

    def __call__(self, protein: Protein, rng: RngLike = None) -> Protein:
        generator = self.rng if rng is None else as_generator(rng)
        for transform in self.transforms:
            protein = transform(protein, generator)
        return protein

    def __repr__(self) -> str:
        return f"Compose({self.transforms!r})"


_BUILDERS: dict[type[TransformConfig], type[Transform[Any]]] = {
    TruncateProteinConfig: TruncateProtein,
    SubsequenceCropConfig: SubsequenceCrop,
    SubspaceCropConfig: SubspaceCrop,
    GaussianNoiseConfig: GaussianNoise,
    ResidueMaskingConfig: ResidueMasking,
    IdentityConfig: Identity,
}


def parse_transform_config(data: dict[str, Any] | TransformConfig) -> TransformConfig:
    """Validate a transform config given as a mapping (e.g. from YAML); errors name the offending key."""
    return data if isinstance(data, TransformConfig) else _ADAPTER.validate_python(data)


def build_transform(
    config: dict[str, Any] | TransformConfig, *, seed: int | None = None
) -> Transform[Any] | Compose:
    """The transform (or :class:`Compose`) described by ``config``."""
    config = parse_transform_config(config)
    if isinstance(config, ComposeConfig):
        return Compose([build_transform(c) for c in config.transforms], seed=seed)
    return _BUILDERS[type(config)](config, seed=seed)


def inference_transform(config: TransformConfig | None) -> TruncateProteinConfig | None:
    """The transform evaluation and prediction apply for a training transform ``config``: its deterministic part —
    a truncation keeps its length (the shortest, if several) but always the prefix (TorchDrug ``TruncateProtein``,
    the EC/GO seeds' ``max_length 550``; ESM-2's 1,022-residue window) — while random crops, noise and masking
    (training augmentation) are left out. ``None`` when nothing is left."""

    def lengths(part: TransformConfig | None) -> list[int]:
        if isinstance(part, ComposeConfig):
            return [n for p in part.transforms for n in lengths(p)]
        return [part.max_length] if isinstance(part, TruncateProteinConfig) else []

    found = lengths(config)
    return TruncateProteinConfig(max_length=min(found), random=False) if found else None
