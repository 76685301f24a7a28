"""The transform protocol: ``transform(protein, rng) -> Protein``, a new protein, deterministic under a seed.

Every transform is a small callable class built from a pydantic config (its hyper-parameters with the seed's
defaults, and a ``type`` discriminator so YAML presets can build it, see :func:`~protdata.transforms.compose.
build_transform`). ``rng`` may be a :class:`numpy.random.Generator` (used and advanced in place), an ``int``
seed, or ``None`` (the transform's own generator, seeded by its ``seed`` argument).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict

from protdata.protein import Protein

RngLike = np.random.Generator | int | None


class TransformConfig(BaseModel):
    """Base of the transform configs: unknown keys and wrong types are errors that name the key."""

    model_config = ConfigDict(extra="forbid", frozen=True)


C = TypeVar("C", bound=TransformConfig)


def as_generator(rng: np.random.Generator | int | None) -> np.random.Generator:
    """A generator from a generator (returned as is), a seed, or ``None`` (fresh OS entropy)."""
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


class Transform(ABC, Generic[C]):
    """Base class: holds the config and a default generator; subclasses implement :meth:`apply`."""

    config_class: ClassVar[type[TransformConfig]]

    def __init__(self, config: C | None = None, *, seed: int | None = None, **hyper_parameters: Any) -> None:
        if config is not None and hyper_parameters:
            raise TypeError(f"{type(self).__name__}: give a config or keyword hyper-parameters, not both")
        self.config: C = config if config is not None else self.config_class(**hyper_parameters)  # type: ignore[assignment]
        self.rng = np.random.default_rng(seed)

    def __call__(self, protein: Protein, rng: RngLike = None) -> Protein:
        return self.apply(protein, self.rng if rng is None else as_generator(rng))

    @abstractmethod
    def apply(self, protein: Protein, rng: np.random.Generator) -> Protein:
        """The transformed copy of ``protein`` (the input is never modified)."""

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.config.model_dump(exclude={"type"}).items())
        return f"{type(self).__name__}({params})"
