"""protenc_seq: ESM-2 and SaProt sequence encoders (our own implementation), checkpoint loading, MLM scoring.

Entry points:

* :func:`load_encoder` -- a local fair-esm ``.pt``, Hugging Face directory or our safetensors -> the matching
  :class:`ESM2Encoder` / :class:`SaProtEncoder`.
* :func:`embed` -- one embedding per sequence, in input order, batched by length.
* :func:`score_mutants` -- masked-marginal zero-shot mutation scores (``"A42G:L87P"``).
* :class:`ESM2` / :class:`ESM2Config` -- the network (tokens in: ``forward(tokens)``, ``forward_packed``).

Runtime dependencies: protdata, numpy, torch, safetensors, pydantic (fair-esm and transformers are only used
by the tests and benchmarks, as references).
"""

from protenc_seq.alphabet import AMINO_ACIDS, ESM_ALPHABET, SAPROT_ALPHABET, Alphabet
from protenc_seq.embed import embed
from protenc_seq.encoder import ESM2Encoder, SaProtEncoder, encoder_for
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
from protenc_seq.scoring import masked_marginals, parse_mutant, score_mutants
from protenc_seq.tokenize import SequenceTokenizer

__version__ = "0.1.0"

__all__ = [
    "AMINO_ACIDS",
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
    "MutationError",
    "PackedBatch",
    "PackedOutput",
    "SaProtEncoder",
    "SequenceTokenizer",
    "detect_format",
    "embed",
    "encoder_for",
    "length_buckets",
    "load_encoder",
    "load_model",
    "masked_marginals",
    "parse_mutant",
    "read_checkpoint",
    "register_sha256",
    "save_huggingface",
    "save_safetensors",
    "score_mutants",
]
