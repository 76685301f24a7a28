"""``embed(encoder, sequences)``: one embedding per input sequence, in input order, batched by length.

Sequences are tokenised with the encoder's policy (``tokenize.py``), sorted by length and cut into batches of
at most ``max_tokens`` padded tokens (fair-esm ``esm-extract``'s rule, :func:`length_buckets`), run without
gradients in eval mode (bf16 autocast on CUDA), and returned on the CPU as float32.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from protenc_seq.encoder import ESM2Encoder, encoder_for, evaluating
from protenc_seq.esm2.model import ESM2
from protenc_seq.esm2.packing import PackedBatch, length_buckets
from protenc_seq.tokenize import NonStandard, OnLong, SequenceInput, SequenceTokenizer

#: Default token budget per batch: fair-esm's ``--toks_per_batch`` on CPU; more on a GPU.
CPU_MAX_TOKENS = 4096
GPU_MAX_TOKENS = 32768


def embed(
    encoder: ESM2Encoder | ESM2,
    sequences: Sequence[SequenceInput],
    per_residue: bool = False,
    *,
    ids: Sequence[str] | None = None,
    layer: int | None = None,
    max_tokens: int | None = None,
    on_long: OnLong | None = None,
    nonstandard: NonStandard | None = None,
) -> list[Tensor]:
    """Embed ``sequences`` with ``encoder``.

    Args:
        encoder: An :class:`ESM2Encoder` / ``SaProtEncoder`` (or a bare :class:`ESM2`).
        sequences: Amino-acid strings (SaProt also takes SA strings and ``(aa, 3Di)`` pairs).
        per_residue: Return ``(L, D)`` per-residue features instead of the ``(D,)`` mean over residues.
        ids: Names used in error messages (default: the index).
        layer: Representation layer; ``None`` = the final layer after ``emb_layer_norm_after`` (fair-esm's
            ``representations[num_layers]``); ``k < num_layers`` = block ``k``'s output (pre-LN), ``0`` = embeddings.
        max_tokens: Padded tokens per batch (default 4,096 on CPU, 32,768 on CUDA).
        on_long, nonstandard: Override the encoder's input policy for this call (``tokenize.py``).

    Returns:
        One float32 CPU tensor per sequence, in input order: ``(L, D)`` (``L`` = residues the model saw: the
        window with ``on_long="crop"``) or ``(D,)``.
    """
    enc = encoder if isinstance(encoder, ESM2Encoder) else encoder_for(encoder)
    model = enc.model
    tokenizer = enc.tokenizer
    if on_long is not None or nonstandard is not None:
        tokenizer = SequenceTokenizer(
            tokenizer.alphabet,
            max_residues=tokenizer.max_residues,
            on_long=on_long or tokenizer.on_long,
            nonstandard=nonstandard or tokenizer.nonstandard,
            plddt_threshold=tokenizer.plddt_threshold,
        )
    arrays = tokenizer.encode(sequences, ids)
    if layer is not None and not 0 <= layer <= model.num_layers:
        raise ValueError(f"layer must be in 0..{model.num_layers}, got {layer}")
    final = layer is None or layer == model.num_layers
    device = enc.device
    if max_tokens is None:
        max_tokens = GPU_MAX_TOKENS if device.type == "cuda" else CPU_MAX_TOKENS
    varlen = enc.uses_varlen()
    results: list[Tensor | None] = [None] * len(arrays)
    with evaluating(model), torch.inference_mode(), enc.autocast():
        for bucket in length_buckets([len(a) for a in arrays], max_tokens):
            packed = PackedBatch.from_token_arrays([arrays[i] for i in bucket], device, padded=not varlen)
            out = model.forward_packed(packed, return_logits=False, repr_layers=() if final else (layer,))
            hidden = out.hidden if final else out.representations[layer]  # type: ignore[index]
            for i, part in zip(bucket, packed.split(hidden)):
                residues = part[1:-1]  # drop <cls> and <eos>
                results[i] = (residues if per_residue else residues.mean(0)).float().cpu()
    return results  # type: ignore[return-value]
