"""The configs of the task heads (``type`` discriminator, the seeds' defaults): a torch-free module, so that an app
validates its config without importing torch; the heads themselves are in :mod:`prottasks.heads`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, model_validator

from prottasks.config import TaskConfig


class MultiLabelHeadConfig(TaskConfig):
    type: Literal["multi_label"] = "multi_label"
    #: Number of labels (EC: 538 in torchdrug / ProtCLIP, 585 in SaProt; GO-MF/BP/CC: 489/1943/320).
    num_labels: int = Field(ge=1)
    #: MLP layers (ESM-GearNet: 3).
    num_mlp_layer: int = Field(default=3, ge=1)
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)


class SingleLabelHeadConfig(TaskConfig):
    type: Literal["single_label"] = "single_label"
    num_classes: int = Field(ge=2)
    num_mlp_layer: int = Field(default=2, ge=1)
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)


class RegressionHeadConfig(TaskConfig):
    type: Literal["regression"] = "regression"
    normalization: Literal["standard", "minmax", "none"] = "standard"
    #: Fixed min–max bounds (SaProt thermostability: 40, 67); ``None`` = fit on the training targets.
    minmax_bounds: tuple[float, float] | None = None
    num_mlp_layer: int = Field(default=2, ge=1)
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)

    @model_validator(mode="after")
    def _bounds(self) -> RegressionHeadConfig:
        if self.minmax_bounds is not None and not self.minmax_bounds[1] > self.minmax_bounds[0]:
            raise ValueError(f"minmax_bounds must be (lo, hi) with hi > lo, got {self.minmax_bounds}")
        return self


class PairHeadConfig(TaskConfig):
    type: Literal["pair"] = "pair"
    num_classes: int = Field(default=2, ge=2)
    num_mlp_layer: int = Field(default=2, ge=1)
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)


class MSPHeadConfig(TaskConfig):
    type: Literal["msp"] = "msp"
    num_mlp_layer: int = Field(default=1, ge=1)


class FunctionCallerHeadConfig(TaskConfig):
    type: Literal["function_caller"] = "function_caller"
    num_labels: int = Field(ge=1)
    problem: Literal["multi_label", "single_label"] = "multi_label"
    #: Dropout before each linear layer (HF ``hidden_dropout_prob``; 0.0 in the ESM-2 configs).
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    #: Encoder blocks left trainable (the seed's ``--unfreeze_last_k_layers``); ``None`` = do not freeze.
    unfreeze_last_k_layers: int | None = Field(default=0, ge=0)
    #: ``cls``: the ``<cls>`` embedding (``extras["cls"]``, required); ``protein``: the encoder's protein feature.
    pooling: Literal["cls", "protein"] = "cls"


class ContactHeadConfig(TaskConfig):
    type: Literal["contact"] = "contact"
    #: Width of the per-residue projection whose pairwise product and difference feed the MLP (TAPE).
    projection_dim: int = Field(default=64, ge=1)
    num_mlp_layer: int = Field(default=2, ge=1)
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    #: Train the head on frozen encoder features (no gradient, encoder in eval mode).
    freeze_encoder: bool = True
    #: Contact distance (Å) between Cβ atoms (Cα for Gly), and the smallest ``|i − j|`` trained on (CASP, ESM).
    threshold: float = Field(default=8.0, gt=0.0)
    min_separation: int = Field(default=6, ge=1)


class AttentionContactHeadConfig(TaskConfig):
    """ESM's contact regression on attention maps (:class:`prottasks.heads.AttentionContactHead`)."""

    type: Literal["attention_contact"] = "attention_contact"
    #: Train the logistic regression on frozen attention maps (ESM-1b / ESM-2: the language model stays frozen).
    freeze_encoder: bool = True
    threshold: float = Field(default=8.0, gt=0.0)
    min_separation: int = Field(default=6, ge=1)


HeadConfig = Annotated[
    MultiLabelHeadConfig
    | SingleLabelHeadConfig
    | RegressionHeadConfig
    | PairHeadConfig
    | MSPHeadConfig
    | FunctionCallerHeadConfig
    | ContactHeadConfig
    | AttentionContactHeadConfig,
    Field(discriminator="type"),
]


def head_kind(head: Mapping[str, Any] | BaseModel) -> str:
    """The task kind a head config makes: its type, the Function Caller head's ``problem``, or ``contact`` for
    ESM's regression on attention maps."""
    data = head if isinstance(head, Mapping) else head.model_dump()
    if data.get("type") == "function_caller":
        return str(data.get("problem", "multi_label"))
    if data.get("type") == "attention_contact":
        return "contact"
    return str(data.get("type"))
