"""protenc_seq: Sequence encoders: ESM-2 and SaProt (own implementation), checkpoint loading, MLM scoring."""

__version__ = "0.1.0"
