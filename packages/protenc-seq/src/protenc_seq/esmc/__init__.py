"""ESM C (ESM Cambrian 300M / 600M / 6B): config and presets, tokenizer vocabulary, our model, checkpoint loading
(transformers ``esmc`` directories and ``esm``-package state dicts) and the protstack encoder (type ``esmc``)."""

from protdata._lazy import lazy_exports

__all__ = [
    "ESMC",
    "ESMC_ALPHABET",
    "ESMC_TOKENS",
    "PRESETS",
    "ESMCConfig",
    "ESMCEncoder",
    "ESMCMaskedLMAdapter",
    "ESMCOutput",
    "esm_to_ours",
    "hf_to_ours",
    "is_esm_package_file",
    "is_esmc_huggingface_dir",
    "load_esmc",
    "ours_to_esm",
    "ours_to_hf",
    "save_esmc_huggingface",
]

# public name -> defining module, imported on first use (protdata._lazy)
_EXPORTS = {
    "PRESETS": "protenc_seq.esmc.config",
    "ESMCConfig": "protenc_seq.esmc.config",
    "ESMC_ALPHABET": "protenc_seq.esmc.tokenizer",
    "ESMC_TOKENS": "protenc_seq.esmc.tokenizer",
    "ESMC": "protenc_seq.esmc.model",
    "ESMCOutput": "protenc_seq.esmc.model",
    "ESMCEncoder": "protenc_seq.esmc.encoder",
    "ESMCMaskedLMAdapter": "protenc_seq.esmc.encoder",
    "esm_to_ours": "protenc_seq.esmc.convert",
    "hf_to_ours": "protenc_seq.esmc.convert",
    "ours_to_esm": "protenc_seq.esmc.convert",
    "ours_to_hf": "protenc_seq.esmc.convert",
    "is_esm_package_file": "protenc_seq.esmc.loading",
    "is_esmc_huggingface_dir": "protenc_seq.esmc.loading",
    "load_esmc": "protenc_seq.esmc.loading",
    "save_esmc_huggingface": "protenc_seq.esmc.loading",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
