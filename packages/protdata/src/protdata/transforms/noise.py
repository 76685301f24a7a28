"""Gaussian coordinate noise (ESM-GearNet ``gearnet/siamdiff.py::NoiseTransform``).

SiamDiff builds its second conformer as ``x + σ · ε``, ``ε ~ N(0, I)``, independently per atom and axis,
with ``σ = 0.3`` Å. Here the noise is added to present atoms only; missing atoms stay NaN and the atom mask
is unchanged.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from protdata.errors import InvalidCoordinatesError
from protdata.protein import Protein
from protdata.transforms.base import Transform, TransformConfig


class GaussianNoiseConfig(TransformConfig):
    type: Literal["gaussian_noise"] = "gaussian_noise"
    #: Standard deviation σ in Å (SiamDiff ``NoiseTransform sigma: 0.3``).
    sigma: float = Field(default=0.3, ge=0.0)


class GaussianNoise(Transform[GaussianNoiseConfig]):
    """Add N(0, σ²) to every coordinate of every present atom."""

    config_class = GaussianNoiseConfig

    def apply(self, protein: Protein, rng: np.random.Generator) -> Protein:
        if protein.coords is None or protein.atom_mask is None:
            raise InvalidCoordinatesError(
                protein.source or protein.id, f"{protein.id}: noise needs coordinates"
            )
        noise = rng.normal(0.0, self.config.sigma, size=protein.coords.shape)  # (L, 5, 3)
        coords = protein.coords.astype(np.float64) + noise
        coords[~protein.atom_mask] = np.nan
        return protein.replace(coords=coords.astype(np.float32), atom_mask=protein.atom_mask.copy())
