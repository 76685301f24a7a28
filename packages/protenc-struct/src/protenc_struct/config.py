"""Pydantic configurations of the structure encoders, with the seeds' defaults.

Defaults are those of ESM-GearNet's configs (``config/{EC,GO,PSR,MSP}/*.yaml``, read at bc90557) and, for
GearNet-Edge, GearNet's ``config/downstream/EC/gearnet_edge.yaml``. Unknown keys and wrong types are errors
that name the key (``extra="forbid"``). ``type`` discriminates the encoders in a YAML file; see
:func:`protenc_struct.build`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: Residue types in the GearNet-Edge edge feature (TorchDrug's ``len(Protein.residue2id)``).
EDGE_RESIDUE_TYPES = 20
#: Sequence separation one-hot size in the GearNet-Edge edge feature (``GraphConstruction.max_seq_dist + 1``).
EDGE_SEQ_DIST_CLASSES = 11


#: The ``torch.nn.functional`` element-wise activations a config may name (checked without importing torch).
ACTIVATIONS = (
    "celu",
    "elu",
    "gelu",
    "hardshrink",
    "hardsigmoid",
    "hardswish",
    "hardtanh",
    "leaky_relu",
    "logsigmoid",
    "mish",
    "relu",
    "relu6",
    "selu",
    "sigmoid",
    "silu",
    "softplus",
    "softshrink",
    "softsign",
    "tanh",
    "tanhshrink",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GearNetGraphConfig(_Strict):
    """GearNet's residue graph (``GraphConstruction`` of every ESM-GearNet / FusionProt GearNet config).

    ``AlphaCarbonNode``; ``SequentialEdge(max_distance=2)``; ``SpatialEdge(radius=10.0, min_distance=5)``;
    ``KNNEdge(k=10, min_distance=5)`` → 7 relations (0–4 sequential offsets −2…+2, 5 radius, 6 KNN).
    """

    sequential_max_distance: int = Field(2, ge=0)  # SequentialEdge(max_distance=2): 5 relations
    sequential_gap_cutoff: float | None = Field(None, gt=0)  # None = TorchDrug: only chain boundaries break
    radius: float = Field(10.0, gt=0)  # SpatialEdge(radius=10.0) Å
    radius_min_distance: int = Field(5, ge=0)  # SpatialEdge(min_distance=5): drop |i - j| < 5
    radius_max_neighbors: int | None = Field(32, ge=1)  # torch-cluster radius_graph(max_num_neighbors=32)
    radius_cap_before_filter: bool = True  # TorchDrug caps before the |i - j| filter
    knn_k: int = Field(10, ge=1)  # KNNEdge(k=10), self excluded
    knn_min_distance: int = Field(5, ge=0)  # KNNEdge(min_distance=5)

    @property
    def num_relation(self) -> int:
        return 2 * self.sequential_max_distance + 1 + 2


class GearNetConfig(_Strict):
    """GearNet (``GeometryAwareRelationalGraphNeuralNetwork``) as ESM-GearNet configures it.

    6 × 512 hidden, batch norm, short-cut, concat hidden (output 3072-d), sum readout, 7 relations; input 21
    (one-hot residue type) or 1280 (ESM-2-650M residue features, serial fusion).
    """

    type: Literal["gearnet"] = "gearnet"
    input_dim: int = Field(21, ge=1)  # 21-d one-hot; 1280 for serial fusion with ESM-2-650M
    hidden_dims: list[int] = Field(default_factory=lambda: [512] * 6)  # hidden_dims: [512, 512, ...]
    num_relation: int = Field(7, ge=1)  # num_relation: 7
    edge_input_dim: int | None = None  # GearNet-Edge: 59
    num_angle_bin: int | None = None  # GearNet-Edge: 8
    short_cut: bool = True  # short_cut: True
    batch_norm: bool = True  # batch_norm: True
    activation: str = "relu"  # TorchDrug default
    concat_hidden: bool = True  # concat_hidden: True
    readout: Literal["sum", "mean"] = "sum"  # readout: 'sum'
    graph: GearNetGraphConfig = Field(default_factory=GearNetGraphConfig)

    @field_validator("hidden_dims")
    @classmethod
    def _non_empty(cls, value: list[int]) -> list[int]:
        if not value or min(value) < 1:
            raise ValueError("hidden_dims must be a non-empty list of positive ints")
        return value

    @field_validator("activation")
    @classmethod
    def _known_activation(cls, value: str) -> str:
        if value not in ACTIVATIONS:
            raise ValueError(
                f"unknown activation {value!r} (a torch.nn.functional activation: {ACTIVATIONS})"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> GearNetConfig:
        if self.num_relation != self.graph.num_relation:
            raise ValueError(
                f"num_relation={self.num_relation} but the graph has {self.graph.num_relation} relations "
                f"(2 * sequential_max_distance + 1 + radius + KNN)"
            )
        if (self.edge_input_dim is None) != (self.num_angle_bin is None):
            raise ValueError("GearNet-Edge needs both edge_input_dim and num_angle_bin (or neither)")
        expected = 2 * EDGE_RESIDUE_TYPES + self.num_relation + EDGE_SEQ_DIST_CLASSES + 1
        if self.edge_input_dim is not None and self.edge_input_dim != expected:
            raise ValueError(
                f"edge_input_dim={self.edge_input_dim}, but the 'gearnet' edge feature is {expected}-d "
                f"(20 + 20 residue types, {self.num_relation} relations, 11 sequence separations, distance)"
            )
        return self

    @property
    def output_dim(self) -> int:
        return sum(self.hidden_dims) if self.concat_hidden else self.hidden_dims[-1]


class GearNetEdgeConfig(GearNetConfig):
    """GearNet-Edge: GearNet plus edge message passing on the spatial line graph (8 angle bins, 59-d edges)."""

    type: Literal["gearnet_edge"] = "gearnet_edge"  # type: ignore[assignment]
    edge_input_dim: int | None = 59  # edge_input_dim: 59
    num_angle_bin: int | None = 8  # num_angle_bin: 8


class GVPConfig(_Strict):
    """GVP-GNN as ESM-GearNet configures it (``gearnet/gvp.py``; PSR/EC ``*gvp*.yaml``).

    Graph: ``SpatialEdge(radius=10.0, min_distance=0)`` (max 32 neighbours). Edge input: 16 Gaussian RBFs of the
    Cα distance over 0–20 Å plus the Cα→Cα vector (1 vector channel); node input has no vector channel.
    """

    type: Literal["gvp"] = "gvp"
    node_in_dim: tuple[int, int] = (21, 0)  # [21, 0]; [1280, 0] for serial fusion
    node_h_dim: tuple[int, int] = (256, 16)  # node_h_dim: [256, 16]
    edge_in_dim: tuple[int, int] = (16, 1)  # edge_in_dim: [16, 1]
    edge_h_dim: tuple[int, int] = (64, 1)  # edge_h_dim: [64, 1]
    num_layers: int = Field(5, ge=1)  # num_layers: 5
    drop_rate: float = Field(0.1, ge=0, lt=1)  # drop_rate: 0.1
    vector_gate: bool = True  # vector_gate: True
    readout: Literal["sum", "mean"] = "mean"  # readout: mean
    n_message: int = Field(3, ge=1)  # GVPConvLayer default
    n_feedforward: int = Field(2, ge=1)  # GVPConvLayer default
    rbf_max: float = Field(20.0, gt=0)  # GVPGNN.rbf(d_max=20.0)
    radius: float = Field(10.0, gt=0)  # SpatialEdge(radius=10.0)
    max_num_neighbors: int | None = Field(32, ge=1)  # torch-cluster default

    @model_validator(mode="after")
    def _supported(self) -> GVPConfig:
        if self.node_in_dim[1] != 0:
            raise ValueError("node_in_dim[1] must be 0: residue graphs carry no node vector input")
        if self.edge_in_dim[1] != 1:
            raise ValueError("edge_in_dim[1] must be 1: the edge vector input is the Cα→Cα vector")
        return self

    @property
    def output_dim(self) -> int:
        return self.node_h_dim[0]


class CDConvConfig(_Strict):
    """CDConv (``gearnet/cdconv.py``, ``ContinuousDiscreteConvolutionalNetwork``) as ESM-GearNet configures it."""

    type: Literal["cdconv"] = "cdconv"
    input_dim: int = Field(21, ge=1)  # 21; 1280 for serial fusion
    embedding_dim: int = Field(16, ge=1)  # embedding_dim: 16
    hidden_dims: list[int] = Field(default_factory=lambda: [256, 512, 1024, 2048])
    cutoffs: list[float] = Field(default_factory=lambda: [8.0, 12.0, 16.0, 20.0])  # Å, one per stage
    seq_cutoff: int = Field(21, ge=1)  # seq_cutoff: 21 (offsets clamped to ±10)
    kernel_dims: list[int] = Field(default_factory=lambda: [32])  # kernel_dims: [32]
    base_width: float = Field(16.0, gt=0)  # base_width: 16.0
    batch_norm: bool = True  # batch_norm: True
    dropout: float = Field(0.2, ge=0, lt=1)  # dropout: 0.2
    bias: bool = False  # class default

    @model_validator(mode="after")
    def _consistent(self) -> CDConvConfig:
        if not self.hidden_dims or len(self.cutoffs) != len(self.hidden_dims):
            raise ValueError(
                f"one cutoff per stage: {len(self.cutoffs)} cutoffs for {len(self.hidden_dims)} hidden_dims"
            )
        if not self.kernel_dims:
            raise ValueError("kernel_dims must not be empty")
        return self

    @property
    def output_dim(self) -> int:
        return self.hidden_dims[-1]


#: Any structure encoder configuration, discriminated by ``type``.
StructureEncoderConfig = Annotated[
    GearNetConfig | GearNetEdgeConfig | GVPConfig | CDConvConfig, Field(discriminator="type")
]
