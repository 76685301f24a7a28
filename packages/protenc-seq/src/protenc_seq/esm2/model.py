"""ESM-2 (Lin et al. 2023, "Evolutionary-scale prediction of atomic-level protein structure with a language model").

Embeddings with token dropout -> ``num_layers`` pre-LN rotary blocks -> ``emb_layer_norm_after`` -> tied LM head
(optional contact head). Same maths as fair-esm's ``ESM2`` (``esm/model/esm2.py``); parity with fair-esm and
transformers' ``EsmModel`` is tested to 1e-4 in fp32.

Token dropout (``esm2.py`` L86-92): rows of ``<mask>`` tokens are zeroed and *every* sequence is rescaled by
``(1 - 0.15·0.8) / (1 - n_mask / n_tokens)`` -- i.e. by 0.88 even when nothing is masked -- with ``n_tokens``
counting the sequence's real tokens (``<cls>``/``<eos>`` included, pads excluded). transformers divides by
``attention_mask.sum()`` instead, which is the same when an attention mask is passed but counts pads when it is
not; we follow fair-esm.

Everything runs on a packed batch (:class:`~protenc_seq.esm2.packing.PackedBatch`): no compute on padding.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from protenc_seq.alphabet import Alphabet
from protenc_seq.esm2.attention import AttentionContext
from protenc_seq.esm2.config import ESM2Config
from protenc_seq.esm2.heads import ContactHead, LMHead
from protenc_seq.esm2.layer import TransformerLayer
from protenc_seq.esm2.linear import clear_weight_caches
from protenc_seq.esm2.packing import PackedBatch
from protenc_seq.esm2.rotary import RotaryEmbedding

#: Fraction of tokens replaced by ``<mask>`` during ESM-2 training (15 % selected × 80 % masked).
MASK_RATIO_TRAIN = 0.15 * 0.8


@dataclass
class PackedOutput:
    """Outputs of :meth:`ESM2.forward_packed`, row for row with the batch (BOS/EOS included; use
    ``packed.split`` / ``packed.residue_rows`` / ``packed.to_padded`` to drop padding rows of a padded batch).

    Attributes:
        hidden: ``(R, D)`` final representation (after ``emb_layer_norm_after``).
        representations: ``{layer: (R, D)}`` for the requested layers; 0 = embeddings (after token dropout),
            ``1 … L-1`` = block outputs, ``L`` = ``hidden`` (post-LN), as fair-esm's ``repr_layers``.
        logits: ``(R, V)`` or ``(len(logits_rows), V)`` when rows were selected; ``None`` if not requested.
        attentions: ``(B, layers, H, T, T)`` float32 probabilities (zero on padding) if requested.
        contacts: ``(B, T - 2, T - 2)`` contact probabilities if requested.
    """

    packed: PackedBatch
    hidden: Tensor
    representations: dict[int, Tensor] = field(default_factory=dict)
    logits: Tensor | None = None
    attentions: Tensor | None = None
    contacts: Tensor | None = None


@dataclass
class ESM2Output:
    """fair-esm-style padded outputs of :meth:`ESM2.forward` (``(B, T, ·)``, zeros on padding)."""

    logits: Tensor | None
    representations: dict[int, Tensor]
    attentions: Tensor | None = None
    contacts: Tensor | None = None


class ESM2(nn.Module):
    """The ESM-2 transformer (also SaProt's network, with the 446-token vocabulary).

    Args:
        config: Sizes and options (:class:`ESM2Config`; presets for the six published sizes).
    """

    def __init__(self, config: ESM2Config) -> None:
        super().__init__()
        self.config = config
        self.alphabet: Alphabet = config.alphabet
        d = config.embed_dim
        self.embed_tokens = nn.Embedding(config.vocab_size, d, padding_idx=self.alphabet.pad_id)
        self.rotary = RotaryEmbedding(config.head_dim, config.rope_theta)
        self.layers = nn.ModuleList(
            TransformerLayer(
                d,
                config.ffn,
                config.attention_heads,
                eps=config.layer_norm_eps,
                dropout=config.dropout,
                attention_dropout=config.attention_dropout,
            )
            for _ in range(config.num_layers)
        )
        self.emb_layer_norm_after = nn.LayerNorm(d, eps=config.layer_norm_eps)
        self.lm_head = LMHead(d, config.vocab_size, eps=config.layer_norm_eps)
        self.contact_head = ContactHead(config.num_layers * config.attention_heads)
        self.gradient_checkpointing = config.gradient_checkpointing
        #: Attention kernel: "auto", "varlen" or "sdpa" (see ``attention.py``).
        self.attention_backend = "auto"
        #: False when the checkpoint had no LM head / contact regression (set by the loaders).
        self.has_lm_head = True
        self.has_contact_head = True

    # ------------------------------------------------------------ building blocks
    def train(self, mode: bool = True) -> ESM2:
        """``nn.Module.train``, dropping the CPU inference weight caches first (:func:`clear_weight_caches`: weights
        written through ``.data`` since they were made are not seen by their version keys)."""
        clear_weight_caches(self)
        return super().train(mode)

    @property
    def num_layers(self) -> int:
        return self.config.num_layers

    def embed(self, packed: PackedBatch) -> Tensor:
        """Token embeddings ``(N, D)`` with ESM-2 token dropout (module docstring)."""
        x = self.embed_tokens(packed.tokens)  # (N, D)
        if self.config.token_dropout:
            is_mask = packed.tokens.eq(self.alphabet.mask_id)  # (N,)
            x = x.masked_fill(is_mask[:, None], 0.0)
            n_mask = torch.zeros(len(packed), dtype=x.dtype, device=x.device)
            n_mask.index_add_(0, packed.seq_index, is_mask.to(x.dtype))
            observed = n_mask / packed.lengths_tensor  # (B,)
            x = x * (1 - MASK_RATIO_TRAIN) / (1 - observed)[packed.seq_index, None]
        if packed.real_rows is not None:  # padding rows are zero, as fair-esm's x·(1 - padding_mask)
            x = x.masked_fill(~packed.real_rows[:, None], 0.0)
        return x

    def attention_context(self, packed: PackedBatch) -> AttentionContext:
        """Rotary tables and attention groups for ``packed``, shared by every layer of one forward."""
        cos, sin = self.rotary(packed.positions)
        return AttentionContext(packed, cos, sin, backend=self.attention_backend)

    def run_layer(self, index: int, x: Tensor, ctx: AttentionContext) -> Tensor:
        """Block ``index`` on packed ``x`` ``(N, D)`` (activation checkpointing when enabled and training)."""
        layer = self.layers[index]
        if self.gradient_checkpointing and self.training and torch.is_grad_enabled():
            return checkpoint(lambda h: layer(h, ctx)[0], x, use_reentrant=False)
        return layer(x, ctx)[0]

    def logits(self, hidden: Tensor) -> Tensor:
        """LM-head logits ``(..., V)`` of final representations ``(..., D)``."""
        return self.lm_head(hidden, self.embed_tokens.weight)

    # ------------------------------------------------------------------ forward
    def forward_packed(
        self,
        packed: PackedBatch,
        *,
        repr_layers: Iterable[int] = (),
        return_logits: bool = True,
        logits_rows: Tensor | None = None,
        need_head_weights: bool = False,
        return_contacts: bool = False,
    ) -> PackedOutput:
        """Run the model on a packed batch.

        Args:
            packed: Token sequences, each with ``<cls>`` … ``<eos>``.
            repr_layers: Layers whose representations to return (0 … num_layers).
            return_logits: Compute the LM head.
            logits_rows: Only compute logits at these packed rows (e.g. masked sites).
            need_head_weights: Also return every layer's attention probabilities (materialised; slower).
            return_contacts: Also return contact probabilities (implies ``need_head_weights``).
        """
        if return_logits and not self.has_lm_head:
            raise RuntimeError(
                "this checkpoint has no LM head (a Hugging Face EsmModel?): logits are unavailable"
            )
        if return_contacts and not self.has_contact_head:
            raise RuntimeError(
                "this checkpoint has no contact regression weights (for a fair-esm file, put "
                "<name>-contact-regression.pt beside it)"
            )
        repr_layers = set(repr_layers)
        bad = [i for i in repr_layers if not 0 <= i <= self.num_layers]
        if bad:
            raise ValueError(f"repr_layers {bad} out of range 0..{self.num_layers}")
        need_weights = need_head_weights or return_contacts
        x = self.embed(packed)
        reps: dict[int, Tensor] = {0: x} if 0 in repr_layers else {}
        ctx = self.attention_context(packed)
        weights = []
        for i in range(self.num_layers):
            if need_weights:
                x, w = self.layers[i](x, ctx, need_weights=True)
                weights.append(w)
            else:
                x = self.run_layer(i, x, ctx)
            if i + 1 in repr_layers:
                reps[i + 1] = x
        x = self.emb_layer_norm_after(x)
        if self.num_layers in repr_layers:
            reps[self.num_layers] = x
        out = PackedOutput(packed=packed, hidden=x, representations=reps)
        if return_logits:
            out.logits = self.logits(x if logits_rows is None else x[logits_rows])
        if need_weights:
            out.attentions = torch.stack(weights, 1)  # (B, layers, H, T, T)
            if return_contacts:
                tokens = packed.padded_tokens(self.alphabet.pad_id)
                out.contacts = self.contact_head(tokens, out.attentions, self.alphabet.eos_id)
        return out

    def forward(
        self,
        tokens: Tensor,
        repr_layers: Iterable[int] = (),
        need_head_weights: bool = False,
        return_contacts: bool = False,
    ) -> ESM2Output:
        """fair-esm-compatible call on right-padded tokens ``(B, T)``; outputs are padded ``(B, T, ·)``."""
        real = int(tokens.ne(self.alphabet.pad_id).sum())
        # keep a little padding (copy-free attention view) unless the padding-free CUDA varlen kernel applies
        keep = tokens.numel() <= 1.25 * real and not (tokens.is_cuda and torch.is_autocast_enabled("cuda"))
        packed = PackedBatch.from_padded(tokens, self.alphabet.pad_id, keep_padding=keep)
        out = self.forward_packed(
            packed,
            repr_layers=repr_layers,
            return_logits=self.has_lm_head,
            need_head_weights=need_head_weights,
            return_contacts=return_contacts,
        )
        t = tokens.shape[1]

        def pad(x: Tensor) -> Tensor:
            y = packed.to_padded(x)  # (B, max_len, ...)
            return nn.functional.pad(y, (0, 0, 0, t - y.shape[1])) if y.shape[1] < t else y

        return ESM2Output(
            logits=None if out.logits is None else pad(out.logits),
            representations={k: pad(v) for k, v in out.representations.items()},
            attentions=out.attentions,
            contacts=out.contacts,
        )
