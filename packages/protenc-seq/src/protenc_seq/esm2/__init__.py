"""Our ESM-2 transformer (also SaProt's architecture): config, rotary, attention, blocks, model."""

from protdata._lazy import lazy_exports

__all__ = [
    "ESM2",
    "PRESETS",
    "ESM2Config",
    "ESM2Output",
    "PackedBatch",
    "PackedOutput",
    "length_buckets",
]

# public name -> defining module, imported on first use (protdata._lazy)
_EXPORTS = {
    "PRESETS": "protenc_seq.esm2.config",
    "ESM2Config": "protenc_seq.esm2.config",
    "ESM2": "protenc_seq.esm2.model",
    "ESM2Output": "protenc_seq.esm2.model",
    "PackedOutput": "protenc_seq.esm2.model",
    "PackedBatch": "protenc_seq.esm2.packing",
    "length_buckets": "protenc_seq.esm2.packing",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
