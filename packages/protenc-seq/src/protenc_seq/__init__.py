"""protenc_seq: ESM-2 and SaProt sequence encoders (our own implementation), checkpoint loading, MLM scoring.

Entry points:

* :func:`load_encoder` -- a local fair-esm ``.pt``, Hugging Face directory or our safetensors -> the matching
  :class:`ESM2Encoder` / :class:`SaProtEncoder`.
* :func:`embed` -- one embedding per sequence, in input order, batched by length.
* :func:`score_mutants` -- masked-marginal zero-shot mutation scores (``"A42G:L87P"``).
* :class:`SequenceEncoderConfig` / :func:`build_sequence_encoder` -- an encoder from a config section
  (``type: esm2 | saprot``); encoders save and load as protstack model directories (``save_pretrained`` /
  ``ESM2Encoder.from_pretrained`` / ``protdata.load_pretrained``).
* :class:`MaskedLMAdapter` -- an encoder as prottasks' ``MaskedLanguageModel`` (MLM pre-training).
* :class:`ESM2` / :class:`ESM2Config` -- the network (tokens in: ``forward(tokens)``, ``forward_packed``).

Runtime dependencies: protdata, numpy, torch, safetensors, pydantic (fair-esm and transformers are only used
by the tests and benchmarks, as references).
"""

from protenc_seq.alphabet import AMINO_ACIDS, ESM_ALPHABET, SAPROT_ALPHABET, Alphabet
from protenc_seq.build import build_sequence_encoder
from protenc_seq.config import DEFAULT_PRESETS, SequenceEncoderConfig
from protenc_seq.embed import embed
from protenc_seq.encoder import ESM2Encoder, SaProtEncoder, encoder_for, is_protstack_directory
from protenc_seq.errors import CheckpointError, InputSequenceError, MutationError
from protenc_seq.esm2 import ESM2, PRESETS, ESM2Config, ESM2Output, PackedBatch, PackedOutput, length_buckets
from protenc_seq.loading import (
    detect_format,
    load_encoder,
    load_model,
    read_checkpoint,
    register_sha256,
    save_huggingface,
    save_safetensors,
)
from protenc_seq.mlm_adapter import MaskedLMAdapter, TokenizedBatch, esm_mask_tokens, saprot_mask_tokens
from protenc_seq.scoring import masked_marginals, parse_mutant, score_mutants
from protenc_seq.tokenize import SequenceTokenizer

__version__ = "0.1.0"

__all__ = [
    "AMINO_ACIDS",
    "DEFAULT_PRESETS",
    "ESM2",
    "ESM_ALPHABET",
    "PRESETS",
    "SAPROT_ALPHABET",
    "Alphabet",
    "CheckpointError",
    "ESM2Config",
    "ESM2Encoder",
    "ESM2Output",
    "InputSequenceError",
    "MaskedLMAdapter",
    "MutationError",
    "PackedBatch",
    "PackedOutput",
    "SaProtEncoder",
    "SequenceEncoderConfig",
    "SequenceTokenizer",
    "TokenizedBatch",
    "build_sequence_encoder",
    "detect_format",
    "embed",
    "encoder_for",
    "esm_mask_tokens",
    "is_protstack_directory",
    "length_buckets",
    "load_encoder",
    "load_model",
    "masked_marginals",
    "parse_mutant",
    "read_checkpoint",
    "register_sha256",
    "saprot_mask_tokens",
    "save_huggingface",
    "save_safetensors",
    "score_mutants",
]
