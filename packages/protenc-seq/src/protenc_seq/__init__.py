"""protenc_seq: ESM-2, SaProt and ESM C sequence encoders (our own implementation), checkpoint loading, MLM scoring.

Entry points:

* :func:`load_encoder` -- a local fair-esm ``.pt``, Hugging Face directory or our safetensors -> the matching
  :class:`ESM2Encoder` / :class:`SaProtEncoder`.
* :func:`embed` -- one embedding per sequence, in input order, batched by length.
* :func:`score_mutants` -- masked- / wild-type-marginal zero-shot mutation scores (``"A42G:L87P"``);
  :func:`check_mutants` -- a scan's mutant strings (or full variant sequences) checked against the wild type.
* :class:`SequenceEncoderConfig` / :func:`build_sequence_encoder` -- an encoder from a config section
  (``type: esm2 | saprot``); encoders save and load as protstack model directories (``save_pretrained`` /
  ``ESM2Encoder.from_pretrained`` / ``protdata.load_pretrained``).
* :class:`MaskedLMAdapter` -- an encoder as prottasks' ``MaskedLanguageModel`` (MLM pre-training).
* :class:`ESM2` / :class:`ESM2Config` -- the network (tokens in: ``forward(tokens)``, ``forward_packed``).
* :class:`ESMC` / :class:`ESMCConfig` / :class:`ESMCEncoder` / :func:`load_esmc` -- ESM C (300M / 600M / 6B;
  ``type: esmc``), from transformers ``esmc`` directories or ``esm``-package state dicts.

Runtime dependencies: protdata, numpy, torch, safetensors, pydantic (fair-esm and transformers are only used
by the tests and benchmarks, as references).
"""

from protdata._lazy import lazy_exports

__version__ = "0.1.0"

__all__ = [
    "AMINO_ACIDS",
    "DEFAULT_PRESETS",
    "ESM2",
    "ESMC",
    "ESM_ALPHABET",
    "PRESETS",
    "SAPROT_ALPHABET",
    "Alphabet",
    "CheckpointError",
    "ESM2Config",
    "ESM2Encoder",
    "ESM2Output",
    "ESMCConfig",
    "ESMCEncoder",
    "InputSequenceError",
    "MaskedLMAdapter",
    "MutantRows",
    "Mutation",
    "MutationError",
    "Notices",
    "PackedBatch",
    "PackedOutput",
    "SaProtEncoder",
    "SequenceEncoderConfig",
    "SequenceTokenizer",
    "SequenceWindowError",
    "TokenizedBatch",
    "build_sequence_encoder",
    "check_mutants",
    "check_sequence_window",
    "derive_mutant",
    "detect_format",
    "embed",
    "encoder_for",
    "esm_mask_tokens",
    "is_protstack_directory",
    "length_buckets",
    "load_encoder",
    "load_esmc",
    "load_model",
    "masked_marginals",
    "parse_mutant",
    "read_checkpoint",
    "register_sha256",
    "saprot_mask_tokens",
    "save_huggingface",
    "save_safetensors",
    "score_mutants",
    "wild_type_marginals",
]

# public name -> defining module, imported on first use (protdata._lazy)
_EXPORTS = {
    "Notices": "protenc_seq.notices",
    "AMINO_ACIDS": "protenc_seq.alphabet",
    "ESM_ALPHABET": "protenc_seq.alphabet",
    "SAPROT_ALPHABET": "protenc_seq.alphabet",
    "Alphabet": "protenc_seq.alphabet",
    "build_sequence_encoder": "protenc_seq.build",
    "DEFAULT_PRESETS": "protenc_seq.config",
    "SequenceEncoderConfig": "protenc_seq.config",
    "embed": "protenc_seq.embed",
    "ESM2Encoder": "protenc_seq.encoder",
    "SaProtEncoder": "protenc_seq.encoder",
    "encoder_for": "protenc_seq.encoder",
    "is_protstack_directory": "protenc_seq.encoder",
    "CheckpointError": "protenc_seq.errors",
    "InputSequenceError": "protenc_seq.errors",
    "MutationError": "protenc_seq.errors",
    "ESM2": "protenc_seq.esm2",
    "PRESETS": "protenc_seq.esm2",
    "ESM2Config": "protenc_seq.esm2",
    "ESM2Output": "protenc_seq.esm2",
    "PackedBatch": "protenc_seq.esm2",
    "PackedOutput": "protenc_seq.esm2",
    "length_buckets": "protenc_seq.esm2",
    "ESMC": "protenc_seq.esmc",
    "ESMCConfig": "protenc_seq.esmc",
    "ESMCEncoder": "protenc_seq.esmc",
    "load_esmc": "protenc_seq.esmc",
    "detect_format": "protenc_seq.loading",
    "load_encoder": "protenc_seq.loading",
    "load_model": "protenc_seq.loading",
    "read_checkpoint": "protenc_seq.loading",
    "register_sha256": "protenc_seq.loading",
    "save_huggingface": "protenc_seq.loading",
    "save_safetensors": "protenc_seq.loading",
    "MaskedLMAdapter": "protenc_seq.mlm_adapter",
    "TokenizedBatch": "protenc_seq.mlm_adapter",
    "esm_mask_tokens": "protenc_seq.mlm_adapter",
    "saprot_mask_tokens": "protenc_seq.mlm_adapter",
    "masked_marginals": "protenc_seq.scoring",
    "score_mutants": "protenc_seq.scoring",
    "wild_type_marginals": "protenc_seq.scoring",
    "Mutation": "protenc_seq.mutations",
    "MutantRows": "protenc_seq.mutations",
    "check_mutants": "protenc_seq.mutations",
    "derive_mutant": "protenc_seq.mutations",
    "parse_mutant": "protenc_seq.mutations",
    "SequenceTokenizer": "protenc_seq.tokenize",
    "SequenceWindowError": "protenc_seq.errors",
    "check_sequence_window": "protenc_seq.window",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
