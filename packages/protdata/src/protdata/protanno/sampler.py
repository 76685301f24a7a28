"""ProtCLIP's property-driven sampler (diaoshaoyou/ProtCLIP ``protclip/sampling.py``).

Each record has a coverage ``o`` ∈ 1..4 (1 + number of non-empty function / location / similarity columns)
and a confidence ``e`` ∈ 1..5 (UniProt protein existence). Records with ``o < 3`` or ``e > 3`` are dropped
(hard filter); every other record is kept with probability

    p(o, e) = (o / 4) ** 0.5 / e ** 3

by drawing ``u ~ U(0, 1)`` and keeping it when ``u < p``. As in ProtCLIP, a uniform is drawn only for records
that pass the hard filter. Draws come from a seeded :class:`numpy.random.Generator`, so a sampler with the
same seed over the same records keeps the same ones (streaming or vectorised: :func:`sample_mask`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from protdata.errors import RecordError
from protdata.protanno.record import ProtAnnoRecord


class PropertySamplerConfig(BaseModel):
    """Hyper-parameters of the sampler, with ProtCLIP's values as defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["protanno_property_sampler"] = "protanno_property_sampler"
    #: Hard filter: keep only records with coverage o ≥ this.
    min_occupancy: int = 3
    #: Hard filter: keep only records with existence level e ≤ this.
    max_existence: int = 3
    #: Coverage exponent: p ∝ (o / 4) ** 0.5.
    occupancy_exponent: float = 0.5
    #: Confidence exponent: p ∝ 1 / e ** 3.
    existence_exponent: float = 3.0
    #: Seed of the uniform draws.
    seed: int = 0


def keep_probability(
    occupancy: int | np.ndarray, existence: int | np.ndarray, config: PropertySamplerConfig | None = None
) -> np.ndarray:
    """p(o, e) = (o/4)^0.5 / e^3, and 0 where the hard filter (o ≥ 3, e ≤ 3) rejects."""
    config = config or PropertySamplerConfig()
    o = np.asarray(occupancy, dtype=np.float64)
    e = np.asarray(existence, dtype=np.float64)
    if np.any((o < 1) | (o > 4)) or np.any((e < 1) | (e > 5)):
        raise ValueError("occupancy must be in 1..4 and existence in 1..5")
    p = (o / 4.0) ** config.occupancy_exponent / e**config.existence_exponent
    return np.where((o >= config.min_occupancy) & (e <= config.max_existence), p, 0.0)


def sample_mask(
    occupancy: np.ndarray,
    existence: np.ndarray,
    config: PropertySamplerConfig | None = None,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Vectorised sampler: the ``(N,)`` bool keep-mask of N records given their coverages and confidences.

    Uses ``rng`` (default: a generator seeded with ``config.seed``) and draws one uniform per record that
    passes the hard filter, in order, exactly as :class:`PropertySampler` does one record at a time.
    """
    config = config or PropertySamplerConfig()
    rng = np.random.default_rng(config.seed) if rng is None else rng
    o = np.asarray(occupancy)
    e = np.asarray(existence)
    p = keep_probability(o, e, config)  # (N,)
    passing = (o >= config.min_occupancy) & (e <= config.max_existence)
    keep = np.zeros(p.shape, dtype=bool)
    keep[passing] = rng.random(int(passing.sum())) < p[passing]
    return keep


class PropertySampler:
    """Streams the ProtAnno records that ProtCLIP's sampling keeps.

    ``seen`` and ``kept`` count records per ``(existence, occupancy)`` cell, like ProtCLIP's ``num_before`` and
    ``num_after``.
    """

    def __init__(self, config: PropertySamplerConfig | None = None, *, seed: int | None = None) -> None:
        self.config = config or PropertySamplerConfig()
        self.rng = np.random.default_rng(self.config.seed if seed is None else seed)
        self.seen: Counter[tuple[int, int]] = Counter()
        self.kept: Counter[tuple[int, int]] = Counter()

    def keep(self, record: ProtAnnoRecord) -> bool:
        """Whether to keep ``record`` (draws one uniform if it passes the hard filter)."""
        if record.existence is None:
            raise RecordError(
                record.id, "record has no protein-existence level; the property sampler needs it (1..5)"
            )
        o, e = record.occupancy, record.existence
        self.seen[(e, o)] += 1
        if o < self.config.min_occupancy or e > self.config.max_existence:
            return False
        keep = bool(self.rng.random() < float(keep_probability(o, e, self.config)))
        if keep:
            self.kept[(e, o)] += 1
        return keep

    def sample(self, records: Iterable[ProtAnnoRecord]) -> Iterator[ProtAnnoRecord]:
        """The kept records, in order (lazily)."""
        for record in records:
            if self.keep(record):
                yield record
