"""An ESM-2 / SaProt encoder as a masked language model (prottasks' ``MaskedLanguageModel`` protocol).

prottasks' MLM objective works on token ids through four methods (prottasks README, "Protocols"); protenc-seq
does not import prottasks, so :class:`MaskedLMAdapter` honours the protocol structurally:

* ``tokenize`` -- the encoder's tokenizer on the batch (``<cls>`` … ``<eos>``, ``residue_masked`` hidden),
  right-padded with ``<pad>``; maskable = the residue positions ``1 … L``;
* ``mask_tokens`` -- ``<mask>`` (ESM-2) or ``#`` + the 3Di letter (SaProt, Su et al., ICLR 2024);
* ``random_token_ids`` -- every id but ``<pad>`` (our ESM-2 reads ``<pad>`` as padding, which may only sit at the
  right end; SaProt's own draw includes it);
* ``token_logits`` -- the LM head on padded tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from protdata import EncoderOutput, ProteinBatch, saprot
from protenc_seq.encoder import ESM2Encoder


@dataclass
class TokenizedBatch:
    """Token ids of a batch as a masked language model reads them (prottasks' ``TokenizedBatch`` fields).

    Attributes:
        tokens: ``(B, T)`` int64 token ids, right-padded with ``<pad>``.
        maskable: ``(B, T)`` bool, True on the residue tokens MLM may select (never special or padding tokens).
    """

    tokens: Tensor
    maskable: Tensor


def esm_mask_tokens(tokens: Tensor, mask_id: int) -> Tensor:
    """ESM-style masking: every token becomes ``<mask>`` (``mask_id``; 32 in ESM-2's alphabet)."""
    return torch.full_like(tokens, mask_id)


def saprot_mask_tokens(tokens: Tensor) -> Tensor:
    """SaProt-style masking: a structure-aware token ``aa + s`` becomes ``# + s`` (amino acid masked, 3Di letter
    kept), i.e. id ``5 + 21·20 + (id − 5) mod 21``. Special tokens (ids < 5, incl. ``<unk>`` of unknown residues)
    are returned unchanged, as SaProt's ``"#" + token[-1]`` maps them back to ``<unk>``."""
    n_special = len(saprot.SPECIAL_TOKENS)
    n_struct = len(saprot.STRUCT_VOCAB)
    hashed = n_special + n_struct * saprot.AA_VOCAB.index("#") + (tokens - n_special) % n_struct
    return torch.where(tokens >= n_special, hashed, tokens)


class MaskedLMAdapter(nn.Module):
    """A protenc-seq encoder as prottasks' ``MaskedLanguageModel`` (module docstring).

    Its parameters are the encoder's (under ``encoder.``), so MLM pre-training trains the encoder itself.

    Args:
        encoder: An :class:`~protenc_seq.ESM2Encoder` or :class:`~protenc_seq.SaProtEncoder` with an LM head.
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
        """True for SaProt's structure-aware vocabulary."""
        return self.alphabet.name == "saprot"

    def tokenize(self, batch: ProteinBatch) -> TokenizedBatch:
        """``<cls>`` … ``<eos>`` token ids of ``batch``, right-padded; maskable = residue positions only."""
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
        """What each token becomes when masked (same shape as ``tokens``)."""
        return saprot_mask_tokens(tokens) if self.saprot else esm_mask_tokens(tokens, self.alphabet.mask_id)

    def random_token_ids(self) -> Tensor:
        """``(V − 1,)`` ids a random replacement is drawn from: every id but ``<pad>``."""
        ids = torch.arange(self.vocab_size, device=self.encoder.device)
        return ids[ids != self.alphabet.pad_id]

    def token_logits(self, tokens: Tensor) -> Tensor:
        """``(B, T, V)`` float32 logits of the LM head on ``tokens`` ``(B, T)``."""
        with self.encoder.autocast():
            logits = self.encoder.model(tokens).logits  # (B, T, V)
        return logits.float()

    def forward(self, batch: ProteinBatch) -> EncoderOutput:
        """The wrapped encoder's output (so the adapter is also an encoder, e.g. for embeddings)."""
        return self.encoder(batch)
