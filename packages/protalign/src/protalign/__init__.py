"""protalign: Protein-text alignment (ProtCLIP): CLIP loss, segment objectives, retrieval."""

__version__ = "0.1.0"
