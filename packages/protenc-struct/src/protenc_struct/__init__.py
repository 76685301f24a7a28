"""protenc_struct: Structure encoders: residue graphs, GearNet(-Edge), GVP-GNN, CDConv in plain torch."""

__version__ = "0.1.0"
