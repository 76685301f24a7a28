"""Masked language modelling, written once for any :class:`~prottasks.protocols.MaskedLanguageModel`.

BERT-style corruption (Devlin et al. 2019): every maskable token is *selected* with probability ``mask_rate``;
a selected token becomes the model's mask token with probability ``mask_prob``, a token drawn uniformly from
``model.random_token_ids()`` with probability ``random_prob``, and stays unchanged otherwise. The loss is the
cross-entropy over the model's whole vocabulary at the selected positions (mean over selected tokens, labels =
the original tokens).

Presets (SaProt, Su et al., ICLR 2024; ProtCLIP, Zhou et al., AAAI 2025):

* :meth:`MLMConfig.saprot` — SaProt ``SaprotFoldseekDataset._apply_bert_mask``: rate 0.15; 80 % → ``#`` in the
  amino-acid slot with the 3Di letter kept (what the model's ``mask_tokens`` returns, e.g. ``Md`` → ``#d``),
  10 % → a random token of the *whole* 446-token vocabulary, 10 % unchanged; a sequence with no selected token
  is drawn again (``min_selected 1``); 446-way cross-entropy.
* :meth:`MLMConfig.esm2` — the ESM-2 / BERT recipe: 15 %, 80/10/10 with ``<mask>``, no redraw (Hugging Face
  ``DataCollatorForLanguageModeling``).
* :meth:`MLMConfig.protclip` — ProtCLIP's protein MLM ``L_p2p``: 15 %, 100 % ``<mask>``.

:func:`saprot_mask_tokens` and :func:`esm_mask_tokens` implement the two ``mask_tokens`` rules for adapters.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from protdata import ProteinBatch, saprot
from prottasks.errors import TaskInputError
from prottasks.objectives.base import ObjectiveOutput, metric, uniform
from prottasks.objectives.config import MLMConfig  # re-exported
from prottasks.protocols import MaskedLanguageModel

#: Label of positions that are not predicted.
IGNORE_INDEX = -100
_MAX_REDRAWS = 10_000


def esm_mask_tokens(tokens: Tensor, mask_id: int) -> Tensor:
    """ESM-style masking: every token becomes ``<mask>`` (``mask_id``; 32 in ESM-2's alphabet)."""
    return torch.full_like(tokens, mask_id)


def saprot_mask_tokens(tokens: Tensor) -> Tensor:
    """SaProt-style masking: a structure-aware token ``aa + s`` becomes ``# + s`` (amino acid masked, 3Di letter
    kept): ``5 + 21·20 + (id − 5) mod 21``. Special tokens (ids < 5, incl. ``<unk>`` of unknown residues) are
    returned unchanged, as SaProt's ``"#" + token[-1]`` maps them back to ``<unk>``."""
    n_special = len(saprot.SPECIAL_TOKENS)
    masked_aa = saprot.AA_VOCAB.index("#")
    struct = (tokens - n_special) % len(saprot.STRUCT_VOCAB)
    hashed = n_special + len(saprot.STRUCT_VOCAB) * masked_aa + struct
    return torch.where(tokens >= n_special, hashed, tokens)


def corrupt(
    tokens: Tensor,
    maskable: Tensor,
    mask_tokens: Tensor,
    random_ids: Tensor,
    config: MLMConfig,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Apply the BERT corruption of ``config`` to ``tokens`` ``(B, T)``.

    Args:
        tokens: Original token ids.
        maskable: ``(B, T)`` positions that may be selected.
        mask_tokens: ``(B, T)`` what each token becomes when masked (``model.mask_tokens(tokens)``).
        random_ids: ``(K,)`` ids random replacements are drawn from.
        config: Rates.
        generator: Source of randomness.

    Returns:
        ``(inputs, labels, action)``: corrupted tokens; labels = original token where selected, else
        :data:`IGNORE_INDEX`; ``action`` ``(B, T)`` int8: -1 not selected, 0 masked, 1 random, 2 kept.
    """
    device = tokens.device
    if config.min_selected:
        short = maskable.sum(1) < config.min_selected
        if bool(short.any()):
            b = int(torch.nonzero(short)[0])
            raise TaskInputError(
                f"sequence {b}", f"has {int(maskable[b].sum())} maskable tokens, fewer than min_selected"
            )
    selected = (uniform(tuple(tokens.shape), generator, device) < config.mask_rate) & maskable
    for _ in range(_MAX_REDRAWS):
        redo = selected.sum(1) < config.min_selected
        if not bool(redo.any()):
            break
        again = (uniform(tuple(tokens.shape), generator, device) < config.mask_rate) & maskable
        selected = torch.where(redo[:, None], again, selected)
    else:  # pragma: no cover - probability ~(1 - rate)^(L * 10_000)
        raise RuntimeError("MLM selection redraw did not reach min_selected")
    u = uniform(tuple(tokens.shape), generator, device)
    masked = selected & (u < config.mask_prob)
    randomised = selected & (u >= config.mask_prob) & (u < config.mask_prob + config.random_prob)
    inputs = torch.where(masked, mask_tokens, tokens)
    pick = (
        (uniform(tuple(tokens.shape), generator, device) * random_ids.numel())
        .long()
        .clamp(max=random_ids.numel() - 1)
    )
    inputs = torch.where(randomised, random_ids.to(device)[pick], inputs)
    labels = torch.where(selected, tokens, torch.full_like(tokens, IGNORE_INDEX))
    action = torch.full(tokens.shape, -1, dtype=torch.int8, device=device)
    action[selected] = 2
    action[randomised] = 1
    action[masked] = 0
    return inputs, labels, action


class MaskedLMObjective(nn.Module):
    """MLM pretraining of a :class:`~prottasks.protocols.MaskedLanguageModel` (module docstring).

    Args:
        model: The masked language model (its parameters are this module's).
        config: Rates (default: :meth:`MLMConfig.saprot`'s values).
    """

    def __init__(self, model: MaskedLanguageModel, config: MLMConfig | None = None, **kwargs: Any) -> None:
        super().__init__()
        if not isinstance(model, MaskedLanguageModel):
            raise TypeError(
                f"{type(model).__name__} does not implement prottasks.protocols.MaskedLanguageModel "
                "(vocab_size, tokenize, mask_tokens, random_token_ids, token_logits)"
            )
        self.model = model
        self.config = config or MLMConfig(**kwargs)

    def forward(self, batch: ProteinBatch, generator: torch.Generator | None = None) -> ObjectiveOutput:
        tok = self.model.tokenize(batch)
        tokens, maskable = tok.tokens, tok.maskable.bool()
        inputs, labels, action = corrupt(
            tokens,
            maskable,
            self.model.mask_tokens(tokens),
            self.model.random_token_ids(),
            self.config,
            generator,
        )
        logits = self.model.token_logits(inputs)  # (B, T, V)
        if logits.shape[:2] != tokens.shape or logits.shape[-1] != self.model.vocab_size:
            raise TaskInputError(
                type(self.model).__name__,
                f"token_logits returned {tuple(logits.shape)}, expected ({tokens.shape[0]}, {tokens.shape[1]}, "
                f"{self.model.vocab_size})",
            )
        selected = labels != IGNORE_INDEX
        n_selected = int(selected.sum())
        if n_selected == 0:  # possible without min_selected: nothing to predict, keep the graph connected
            loss = logits.sum() * 0.0
            return ObjectiveOutput(
                loss, {"loss": 0.0, "num_selected": 0.0}, {"inputs": inputs, "labels": labels}
            )
        loss = F.cross_entropy(logits[selected], labels[selected])
        accuracy = (logits[selected].argmax(-1) == labels[selected]).float().mean()
        return ObjectiveOutput(
            loss=loss,
            metrics={
                "loss": metric(loss),
                "accuracy": metric(accuracy),
                "perplexity": metric(loss.detach().exp()),
                "num_selected": float(n_selected),
            },
            details={"inputs": inputs, "labels": labels, "action": action, "tokens": tokens},
        )
