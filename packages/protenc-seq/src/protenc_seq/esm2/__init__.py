"""Our ESM-2 transformer (also SaProt's architecture): config, rotary, attention, blocks, model."""

from protenc_seq.esm2.config import PRESETS, ESM2Config
from protenc_seq.esm2.model import ESM2, ESM2Output, PackedOutput
from protenc_seq.esm2.packing import PackedBatch, length_buckets

__all__ = ["ESM2", "PRESETS", "ESM2Config", "ESM2Output", "PackedBatch", "PackedOutput", "length_buckets"]
