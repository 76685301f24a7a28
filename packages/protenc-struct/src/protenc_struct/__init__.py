"""protenc_struct: structure encoders in plain torch — residue graphs, GearNet(-Edge), GVP-GNN, CDConv.

Every encoder maps a :class:`protdata.ProteinBatch` to a :class:`protdata.EncoderOutput`; ``forward(batch,
node_features=None)`` takes the 21-d residue-type one-hot by default or caller-provided node features (serial
fusion: ESM residue features). Graphs are built batched, without compiled extensions.

Every encoder is a saved-model type (``protdata.pretrained``): ``GearNet`` (``gearnet``), ``GearNetEdge``
(``gearnet_edge``), ``GVPGNN`` (``gvp``), ``CDConvEncoder`` (``cdconv``) -- ``model.save_pretrained(directory)``,
``GearNet.from_pretrained(directory)`` or ``protdata.load_pretrained(directory)``; :func:`build` makes one from its
config (``type`` discriminated).
"""

from protdata._lazy import lazy_exports

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

# public name -> defining module, imported on first use (protdata._lazy)
_EXPORTS = {
    "build": "protenc_struct.build",
    "parse_config": "protenc_struct.build",
    "CDConvConfig": "protenc_struct.config",
    "GearNetConfig": "protenc_struct.config",
    "GearNetEdgeConfig": "protenc_struct.config",
    "GearNetGraphConfig": "protenc_struct.config",
    "GVPConfig": "protenc_struct.config",
    "StructureEncoderConfig": "protenc_struct.config",
    "StructureInputError": "protenc_struct.errors",
    "ResidueGraph": "protenc_struct.graph.construction",
    "build_gearnet_graph": "protenc_struct.graph.construction",
    "build_radius_graph": "protenc_struct.graph.construction",
    "gearnet_graph": "protenc_struct.graph.construction",
    "gearnet_edge_features": "protenc_struct.graph.edge_features",
    "spatial_line_graph": "protenc_struct.graph.line_graph",
    "GraphNodes": "protenc_struct.graph.nodes",
    "CDConvEncoder": "protenc_struct.models.cdconv",
    "GearNet": "protenc_struct.models.gearnet",
    "GearNetEdge": "protenc_struct.models.gearnet",
    "GVPGNN": "protenc_struct.models.gvp",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
