"""protenc_struct: structure encoders in plain torch — residue graphs, GearNet(-Edge), GVP-GNN, CDConv.

Every encoder maps a :class:`protdata.ProteinBatch` to a :class:`protdata.EncoderOutput`; ``forward(batch,
node_features=None)`` takes the 21-d residue-type one-hot by default or caller-provided node features (serial
fusion: ESM residue features). Graphs are built batched, without compiled extensions.

Every encoder is a saved-model type (``protdata.pretrained``): ``GearNet`` (``gearnet``), ``GearNetEdge``
(``gearnet_edge``), ``GVPGNN`` (``gvp``), ``CDConvEncoder`` (``cdconv``) -- ``model.save_pretrained(directory)``,
``GearNet.from_pretrained(directory)`` or ``protdata.load_pretrained(directory)``; :func:`build` makes one from its
config (``type`` discriminated).
"""

from protenc_struct.build import build, parse_config
from protenc_struct.config import (
    CDConvConfig,
    GearNetConfig,
    GearNetEdgeConfig,
    GearNetGraphConfig,
    GVPConfig,
    StructureEncoderConfig,
)
from protenc_struct.errors import StructureInputError
from protenc_struct.graph.construction import (
    ResidueGraph,
    build_gearnet_graph,
    build_radius_graph,
    gearnet_graph,
)
from protenc_struct.graph.edge_features import gearnet_edge_features
from protenc_struct.graph.line_graph import spatial_line_graph
from protenc_struct.graph.nodes import GraphNodes
from protenc_struct.models.cdconv import CDConvEncoder
from protenc_struct.models.gearnet import GearNet, GearNetEdge
from protenc_struct.models.gvp import GVPGNN

__version__ = "0.1.0"

__all__ = [
    "GVPGNN",
    "CDConvConfig",
    "CDConvEncoder",
    "GVPConfig",
    "GearNet",
    "GearNetConfig",
    "GearNetEdge",
    "GearNetEdgeConfig",
    "GearNetGraphConfig",
    "GraphNodes",
    "ResidueGraph",
    "StructureEncoderConfig",
    "StructureInputError",
    "build",
    "build_gearnet_graph",
    "build_radius_graph",
    "gearnet_edge_features",
    "gearnet_graph",
    "parse_config",
    "spatial_line_graph",
]
