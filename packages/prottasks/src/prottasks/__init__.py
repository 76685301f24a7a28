"""prottasks: Pretraining objectives, task heads, CAFA-exact metrics and the GO ontology."""

__version__ = "0.1.0"
