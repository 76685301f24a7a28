"""protfusion: Sequence-structure fusion: serial, parallel, cross and FusionProt token fusion."""

__version__ = "0.1.0"
