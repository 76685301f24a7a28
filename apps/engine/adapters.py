"""Glue between prottasks' protocols and protenc-seq's encoders (prottasks imports no encoder package, protenc-seq
knows no task; the apps join them here).

* :class:`MaskedLMAdapter` — :class:`prottasks.protocols.MaskedLanguageModel` for an ``ESM2Encoder`` /
  ``SaProtEncoder`` (prottasks README, "Protocols"): ``tokenize`` = the encoder's tokenizer on the batch
  (``<cls>`` … ``<eos>``, ``residue_masked`` hidden), right-padded with ``<pad>``, maskable = residue positions
  ``1 … L``; ``mask_tokens`` = ``<mask>`` (ESM-2) or ``#`` + the 3Di letter (SaProt, seed-systems.md §5.3);
  ``random_token_ids`` = every id but ``<pad>`` (our ESM-2 reads ``<pad>`` as padding, which may only sit at the
  right end; SaProt's own draw includes it); ``token_logits`` = the LM head on padded tokens.
* :class:`ClsEncoder` — an ``ESM2Encoder`` whose output also carries the final-layer ``<cls>`` embedding in
  ``extras["cls"]`` ``(B, D)``, which the ESM2 Function Caller / SaProt annotation head reads (Hugging Face
  ``EsmClassificationHead`` takes ``features[:, 0, :]``). Without it prottasks'
  :class:`~prottasks.heads.FunctionCallerHead` falls back to the mean over residues. Same parameters (names and
  values) as the encoder it wraps, so checkpoints move freely between the two.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from protdata import EncoderOutput, ProteinBatch, masked_mean
from protenc_seq import ESM2Encoder
from prottasks.objectives import esm_mask_tokens, saprot_mask_tokens
from prottasks.protocols import TokenizedBatch


class MaskedLMAdapter(torch.nn.Module):
    """A protenc-seq encoder as a :class:`~prottasks.protocols.MaskedLanguageModel` (module docstring).

    Args:
        encoder: An ``ESM2Encoder`` or ``SaProtEncoder`` with an LM head.
    """

    def __init__(self, encoder: ESM2Encoder) -> None:
        super().__init__()
        if not isinstance(encoder, ESM2Encoder):
            raise TypeError(f"MLM needs a protenc-seq ESM-2 / SaProt encoder, got {type(encoder).__name__}")
        if not encoder.model.has_lm_head:
            raise ValueError("this sequence encoder has no LM head (a Hugging Face EsmModel?): MLM needs one")
        self.encoder = encoder
        self.alphabet = encoder.model.alphabet
        self.vocab_size = int(encoder.model.config.vocab_size)
        self.output_dim = encoder.output_dim

    @property
    def saprot(self) -> bool:
        return self.alphabet.name == "saprot"

    def tokenize(self, batch: ProteinBatch) -> TokenizedBatch:
        arrays = self.encoder.tokenizer.encode_batch(batch)  # [(L_i + 2,)] <cls> … <eos>
        width = max(len(a) for a in arrays)
        tokens = np.full((len(arrays), width), self.alphabet.pad_id, dtype=np.int64)
        maskable = np.zeros((len(arrays), width), dtype=bool)
        for i, a in enumerate(arrays):
            tokens[i, : len(a)] = a
            maskable[i, 1 : len(a) - 1] = True  # residues only, never <cls>, <eos> or <pad>
        device = self.encoder.device
        return TokenizedBatch(torch.from_numpy(tokens).to(device), torch.from_numpy(maskable).to(device))

    def mask_tokens(self, tokens: Tensor) -> Tensor:
        return saprot_mask_tokens(tokens) if self.saprot else esm_mask_tokens(tokens, self.alphabet.mask_id)

    def random_token_ids(self) -> Tensor:
        ids = torch.arange(self.vocab_size, device=self.encoder.device)
        return ids[ids != self.alphabet.pad_id]

    def token_logits(self, tokens: Tensor) -> Tensor:
        with self.encoder.autocast():
            logits = self.encoder.model(tokens).logits  # (B, T, V)
        return logits.float()

    def forward(self, batch: ProteinBatch) -> EncoderOutput:
        """The wrapped encoder's output (so the adapter is also an encoder, e.g. for embeddings)."""
        return self.encoder(batch)


class ClsEncoder(ESM2Encoder):
    """An ESM-2 / SaProt encoder that also returns the ``<cls>`` embedding (module docstring).

    Build it around an existing encoder with :meth:`wrap` (shares its model and input policy).
    """

    @classmethod
    def wrap(cls, encoder: ESM2Encoder) -> ClsEncoder:
        if isinstance(encoder, ClsEncoder):
            return encoder
        tok = encoder.tokenizer
        out = cls(
            encoder.model,
            on_long=tok.on_long,
            nonstandard=tok.nonstandard,
            precision=encoder.precision,
            plddt_threshold=tok.plddt_threshold,
        )
        return out

    def encoder_layers(self) -> list[torch.nn.Module]:
        """The transformer blocks (:class:`prottasks.protocols.LayeredEncoder`)."""
        return list(self.model.layers)

    def forward(self, batch: ProteinBatch) -> EncoderOutput:  # type: ignore[override]
        tokens = self.tokenizer.encode_batch(batch)
        packed, order = self.pack(tokens)
        with self.autocast():
            out = self.model.forward_packed(packed, return_logits=False)
        parts = packed.split(out.hidden)  # per sorted sequence: (L_seen + 2, D), <cls> first
        b, length = len(batch), batch.max_length
        residue = out.hidden.new_zeros((b, length, self.output_dim))
        cls = out.hidden.new_zeros((b, self.output_dim))
        covered = torch.zeros((b, length), dtype=torch.bool, device=residue.device)
        lengths = batch.lengths.tolist()
        for j, i in enumerate(order):
            n = min(len(parts[j]) - 2, lengths[i])
            residue[i, :n] = parts[j][1 : 1 + n]
            cls[i] = parts[j][0]
            covered[i, :n] = True
        mask = batch.mask.to(residue.device)
        extras = {"cls": cls}
        if not torch.equal(covered, mask):
            extras["covered"] = covered
        return EncoderOutput(residue=residue, protein=masked_mean(residue, covered), mask=mask, extras=extras)
