"""The configs of the pretraining objectives (pydantic, torch-free: a config is validated without importing torch).

Each objective's module (:mod:`~prottasks.objectives.mlm`, :mod:`~prottasks.objectives.residue_type`,
:mod:`~prottasks.objectives.geometry`, :mod:`~prottasks.objectives.multiview`, :mod:`~prottasks.objectives.siamdiff`)
builds the ``nn.Module`` of its config; :data:`ObjectiveConfig` is their union, discriminated by ``type``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter, model_validator

from protdata.transforms import (
    IdentityConfig,
    SubsequenceCropConfig,
    SubspaceCropConfig,
    TruncateProteinConfig,
)
from prottasks.config import TaskConfig


class ResidueTypePredictionConfig(TaskConfig):
    type: Literal["residue_type_prediction"] = "residue_type_prediction"
    #: Fraction of residues masked (seed: 0.15).
    mask_rate: float = Field(default=0.15, gt=0.0, le=1.0)
    #: Layers of the prediction MLP (seed: 2).
    num_mlp_layer: int = Field(default=2, ge=1)


class DistancePredictionConfig(TaskConfig):
    type: Literal["distance_prediction"] = "distance_prediction"
    #: Edges sampled per protein (ESM-GearNet ``distance_esm_gearnet.yaml``: 256).
    num_sample: int = Field(default=256, ge=1)
    #: Layers of the distance MLP (seed: 2).
    num_mlp_layer: int = Field(default=2, ge=1)
    #: Radius (Å) of the pair graph used for encoders without a graph.
    radius: float = Field(default=10.0, gt=0.0)


class AnglePredictionConfig(TaskConfig):
    type: Literal["angle_prediction"] = "angle_prediction"
    #: Edge pairs sampled per protein (``angle_esm_gearnet.yaml``: 512; TorchDrug's default is 256).
    num_sample: int = Field(default=512, ge=1)
    #: Angle bins over [0, π) (seed: 8).
    num_class: int = Field(default=8, ge=2)
    num_mlp_layer: int = Field(default=2, ge=1)
    radius: float = Field(default=10.0, gt=0.0)


class DihedralPredictionConfig(TaskConfig):
    type: Literal["dihedral_prediction"] = "dihedral_prediction"
    #: Edge chains sampled per protein (``dihedral_esm_gearnet.yaml``: 512).
    num_sample: int = Field(default=512, ge=1)
    num_class: int = Field(default=8, ge=2)
    num_mlp_layer: int = Field(default=2, ge=1)
    radius: float = Field(default=10.0, gt=0.0)


CropConfig = Annotated[
    SubsequenceCropConfig | SubspaceCropConfig | TruncateProteinConfig | IdentityConfig,
    Field(discriminator="type"),
]


class IdentityNoiseConfig(TaskConfig):
    type: Literal["identity"] = "identity"


class RandomEdgeMaskConfig(TaskConfig):
    type: Literal["random_edge_mask"] = "random_edge_mask"
    #: Fraction of each protein's edges dropped (seed: 0.15).
    mask_rate: float = Field(default=0.15, gt=0.0, le=1.0)


NoiseConfig = Annotated[IdentityNoiseConfig | RandomEdgeMaskConfig, Field(discriminator="type")]


class MultiviewContrastConfig(TaskConfig):
    type: Literal["multiview_contrast"] = "multiview_contrast"
    #: Crop functions a view draws from (ESM-GearNet: subsequence 50).
    crops: list[CropConfig] = Field(
        default_factory=lambda: [SubsequenceCropConfig(max_length=50)], min_length=1
    )
    #: Noise functions a view draws from (seed: identity, random edge mask 0.15).
    noises: list[NoiseConfig] = Field(
        default_factory=lambda: [IdentityNoiseConfig(), RandomEdgeMaskConfig()], min_length=1
    )
    #: Layers of the projection MLP (all of width D; seed: 2).
    num_mlp_layer: int = Field(default=2, ge=1)
    #: InfoNCE temperature (seed: 0.07).
    tau: float = Field(default=0.07, gt=0.0)
    #: Crop the full protein's graph (TorchDrug) instead of rebuilding it on the crop.
    induce_full_graph: bool = True


class SiamDiffConfig(TaskConfig):
    type: Literal["siamdiff"] = "siamdiff"
    #: Smallest / largest β of the noise schedule (seed: 1e-3, 0.1).
    sigma_begin: float = Field(default=1e-3, gt=0.0)
    sigma_end: float = Field(default=0.1, gt=0.0, lt=1.0)
    #: Number of noise levels T (seed: 100).
    num_noise_level: int = Field(default=100, ge=1)
    #: Weight of the structure loss; ``1 − gamma`` weighs the sequence loss (seed: 0.5).
    gamma: float = Field(default=0.5, ge=0.0, le=1.0)
    #: Mask ratio at the highest noise level (seed: 1.0); the lowest is 0.15.
    max_mask_ratio: float = Field(default=1.0, gt=0.0, le=1.0)
    min_mask_ratio: float = Field(default=0.15, gt=0.0, le=1.0)
    #: Layers of the three MLPs (ESM-GearNet config: 3).
    num_mlp_layer: int = Field(default=3, ge=1)
    #: σ (Å) of the second conformer (``NoiseTransform sigma 0.3``).
    conformer_sigma: float = Field(default=0.3, ge=0.0)
    #: Cross-view heads (SiamDiff); False = one view (DiffPreT).
    use_mi: bool = True
    #: Radius (Å) of the structure head's graph for encoders without a graph.
    radius: float = Field(default=10.0, gt=0.0)


class MLMConfig(TaskConfig):
    type: Literal["mlm"] = "mlm"
    #: Probability that a maskable token is selected (all seeds: 0.15).
    mask_rate: float = Field(default=0.15, gt=0.0, le=1.0)
    #: Probability that a selected token becomes the mask token.
    mask_prob: float = Field(default=0.8, ge=0.0, le=1.0)
    #: Probability that a selected token becomes a random token (the rest stay unchanged).
    random_prob: float = Field(default=0.1, ge=0.0, le=1.0)
    #: Redraw a sequence's selection until at least this many tokens are selected (SaProt: 1; BERT/HF: 0).
    min_selected: int = Field(default=1, ge=0)

    @model_validator(mode="after")
    def _probabilities(self) -> MLMConfig:
        if self.mask_prob + self.random_prob > 1.0 + 1e-12:
            raise ValueError(f"mask_prob + random_prob = {self.mask_prob + self.random_prob} exceeds 1")
        return self

    @classmethod
    def saprot(cls) -> MLMConfig:
        """SaProt pretraining: 15 %, 80 % ``#``+3Di / 10 % random (whole vocabulary) / 10 % kept, ≥ 1 selected."""
        return cls(mask_rate=0.15, mask_prob=0.8, random_prob=0.1, min_selected=1)

    @classmethod
    def esm2(cls) -> MLMConfig:
        """BERT / ESM-2: 15 %, 80 % ``<mask>`` / 10 % random / 10 % kept, no redraw."""
        return cls(mask_rate=0.15, mask_prob=0.8, random_prob=0.1, min_selected=0)

    @classmethod
    def protclip(cls) -> MLMConfig:
        """ProtCLIP ``L_p2p``: 15 % of the residue tokens, all replaced by ``<mask>``."""
        return cls(mask_rate=0.15, mask_prob=1.0, random_prob=0.0, min_selected=0)


ObjectiveConfig = Annotated[
    MLMConfig
    | ResidueTypePredictionConfig
    | DistancePredictionConfig
    | AnglePredictionConfig
    | DihedralPredictionConfig
    | MultiviewContrastConfig
    | SiamDiffConfig,
    Field(discriminator="type"),
]
_CLASSES = (
    MLMConfig,
    ResidueTypePredictionConfig,
    DistancePredictionConfig,
    AnglePredictionConfig,
    DihedralPredictionConfig,
    MultiviewContrastConfig,
    SiamDiffConfig,
)
_ADAPTER: TypeAdapter[Any] = TypeAdapter(ObjectiveConfig)


def parse_objective_config(data: dict[str, Any] | Any, *, key: str = "objective") -> Any:
    """Validate an objective config given as a mapping (e.g. from YAML).

    Raises:
        ObjectiveConfigError: an unknown ``type``, an unknown key or a wrong value, named under ``key``
            (e.g. ``objective.type: Input tag 'x' …``).
    """
    if type(data) in _CLASSES:
        return data
    from pydantic import ValidationError

    from protdata.configfile import format_validation_error
    from prottasks.errors import ObjectiveConfigError

    if not isinstance(data, Mapping):
        raise ObjectiveConfigError(key, f"an objective config must be a mapping, got {type(data).__name__}")
    types = sorted(c.model_fields["type"].default for c in _CLASSES)
    if data.get("type") not in types:
        found = f"unknown objective type {data['type']!r}" if "type" in data else "missing"
        raise ObjectiveConfigError(f"{key}.type", f"{found}; one of {', '.join(types)}")
    try:
        return _ADAPTER.validate_python(dict(data))
    except ValidationError as exc:
        first, *others = format_validation_error(exc, data).split("; ")
        where, _, what = first.partition(": ")
        more = "".join(f"; {key}.{problem}" for problem in others)
        raise ObjectiveConfigError(f"{key}.{where}", what + more) from None
