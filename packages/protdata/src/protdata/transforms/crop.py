"""Crops: contiguous truncation, random subsequence window, spatial ball (TorchDrug semantics).

* :class:`TruncateProtein` — ``torchdrug.transforms.TruncateProtein``: proteins longer than ``max_length``
  keep ``[start, start + max_length)`` with ``start = 0`` (prefix, EC/GO fine-tuning: 550) or, with
  ``random``, ``start ~ randint(n - max_length)`` (ESM-GearNet residue-type/distance/angle/dihedral
  pretraining: 100; SiamDiff: 150). As in TorchDrug the random start is uniform on ``0 … n - max_length - 1``
  (the last window is never drawn).
* :class:`SubsequenceCrop` — ``torchdrug.layers.geometry.SubsequenceNode``: ``start = ⌊U · max(n - L, 0)⌋``,
  ``end = min(start + L, n)`` (multiview contrast crop, ``max_length 50``).
* :class:`SubspaceCrop` — ``torchdrug.layers.geometry.SubspaceNode`` at residue level: a uniformly drawn
  centre residue; radius ``r = max(1.5 · d_k, min_radius)`` where ``d_k`` is the ``k``-th smallest Cα distance
  to the centre (``k = min_neighbor``, the centre itself included; ``k = n`` if fewer residues); keeps the
  residues whose Cα lies strictly within ``r`` (GearNet-Edge multiview contrast: ``min_neighbor 15``,
  ``min_radius 15.0``).

All crops keep residues in their original order and slice every per-residue field (``Protein.select``).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from protdata.errors import InvalidCoordinatesError
from protdata.protein import Protein
from protdata.transforms.base import Transform, TransformConfig


class TruncateProteinConfig(TransformConfig):
    type: Literal["truncate"] = "truncate"
    #: Maximal length kept (ESM-GearNet EC/GO: 550; residue-type pretraining: 100; SiamDiff: 150).
    max_length: int = Field(default=550, ge=1)
    #: Random start (True) or prefix (False).
    random: bool = False


class TruncateProtein(Transform[TruncateProteinConfig]):
    """Keep at most ``max_length`` contiguous residues: the prefix, or a window at a random start."""

    config_class = TruncateProteinConfig

    def window(self, n: int, rng: np.random.Generator) -> tuple[int, int]:
        """``(start, end)`` of the kept residues for a protein of length ``n``."""
        length = self.config.max_length
        if n <= length:
            return 0, n
        start = int(rng.integers(n - length)) if self.config.random else 0
        return start, start + length

    def apply(self, protein: Protein, rng: np.random.Generator) -> Protein:
        start, end = self.window(len(protein), rng)
        return protein if (start, end) == (0, len(protein)) else protein.select(slice(start, end))


class SubsequenceCropConfig(TransformConfig):
    type: Literal["subsequence_crop"] = "subsequence_crop"
    #: Window length (ESM-GearNet multiview contrast: 50; TorchDrug's class default is 100).
    max_length: int = Field(default=50, ge=1)


class SubsequenceCrop(Transform[SubsequenceCropConfig]):
    """A random contiguous window of at most ``max_length`` residues (whole protein if shorter)."""

    config_class = SubsequenceCropConfig

    def window(self, n: int, rng: np.random.Generator) -> tuple[int, int]:
        """``(start, end)``: ``start = ⌊U · max(n - L, 0)⌋``, ``end = min(start + L, n)``."""
        length = self.config.max_length
        start = int(rng.random() * max(n - length, 0))
        return start, min(start + length, n)

    def apply(self, protein: Protein, rng: np.random.Generator) -> Protein:
        start, end = self.window(len(protein), rng)
        return protein.select(slice(start, end))


class SubspaceCropConfig(TransformConfig):
    type: Literal["subspace_crop"] = "subspace_crop"
    #: Cropping level; protstack proteins are residue graphs, so only ``"residue"``.
    entity_level: Literal["residue"] = "residue"
    #: The ball holds at least this many residues (GearNet-Edge MC: 15; TorchDrug's class default is 50).
    min_neighbor: int = Field(default=15, ge=1)
    #: Smallest ball radius in Å.
    min_radius: float = Field(default=15.0, ge=0.0)


class SubspaceCrop(Transform[SubspaceCropConfig]):
    """The residues whose Cα lies inside a ball around a random centre residue (see the module docstring)."""

    config_class = SubspaceCropConfig

    def ball(self, protein: Protein, rng: np.random.Generator) -> tuple[int, float, np.ndarray]:
        """``(centre index, radius, kept indices)`` of one draw."""
        n = len(protein)
        if not protein.has_structure:
            raise InvalidCoordinatesError(
                protein.source or protein.id, f"{protein.id}: subspace crop needs coordinates"
            )
        if n == 0:
            raise InvalidCoordinatesError(protein.source or protein.id, f"{protein.id}: empty protein")
        ca = protein.ca.astype(np.float64)  # (L, 3)
        if not np.isfinite(ca).all():
            raise InvalidCoordinatesError(
                protein.source or protein.id, f"{protein.id}: Cα coordinates missing/NaN"
            )
        centre = int(rng.random() * n)
        dist = np.linalg.norm(ca - ca[centre], axis=-1)  # (L,)
        k = min(self.config.min_neighbor, n)
        kth = float(np.partition(dist, k - 1)[k - 1])
        radius = max(1.5 * kth, self.config.min_radius)
        return centre, radius, np.flatnonzero(dist < radius)

    def apply(self, protein: Protein, rng: np.random.Generator) -> Protein:
        _, _, index = self.ball(protein, rng)
        return protein.select(index)
