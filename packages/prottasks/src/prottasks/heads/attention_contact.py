"""ESM's contact prediction: a logistic regression over the symmetrised, average-product-corrected attention maps
of every layer and head of a frozen ESM-2 (Rao et al. 2021, "Transformer protein language models are unsupervised
structure learners", ICLR; fair-esm ``esm/modules.py`` ``ContactPredictionHead``, ``symmetrize`` and ``apc``).

The encoder must return residue attention maps (``encoder(batch, return_attentions=True).extras["attentions"]``,
``(B, layers × heads, L, L)``, ``<cls>`` / ``<eos>`` dropped, zero on padding: protenc-seq's ESM-2 / SaProt
encoders) and name their number (``encoder.attention_channels``). Features: ``APC(A + Aᵀ)`` per channel (Dunn et al.
2008: ``F − F·1 1ᵀF / 1ᵀF1``, over each protein's residues: the zero padding adds nothing to the sums); logits:
``w · features + b``, so ``sigmoid(logits)`` equals fair-esm's ``model(tokens, return_contacts=True)["contacts"]``
with the same regression weights. Labels, loss and metrics are the pairwise head's (:class:`ContactHead`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from protdata import ProteinBatch
from protdata.contact_features import apc, symmetrize
from prottasks.errors import TaskInputError
from prottasks.heads.configs import AttentionContactHeadConfig
from prottasks.heads.contact import ContactHead


class AttentionContactHead(ContactHead):
    """Attention maps → ``(B, L, L)`` contact logits by logistic regression (module docstring).

    Raises:
        TaskInputError: an encoder that returns no attention maps.
    """

    def __init__(
        self, encoder: nn.Module, config: AttentionContactHeadConfig | None = None, **kwargs: Any
    ) -> None:
        nn.Module.__init__(self)
        self.encoder = encoder
        self.config = config = config or AttentionContactHeadConfig(**kwargs)  # type: ignore[assignment]
        channels = getattr(encoder, "attention_channels", None)
        if not isinstance(channels, int):
            raise TaskInputError(
                "attention_contact",
                f"the encoder {type(encoder).__name__} returns no attention maps (use an esm2 / saprot encoder, or "
                "the pairwise 'contact' head)",
            )
        self.regression = nn.Linear(channels, 1)
        if config.freeze_encoder:
            self.encoder.requires_grad_(False)
            self.encoder.eval()

    def attention_features(self, batch: ProteinBatch) -> Tensor:
        """``(B, L, L, C)`` symmetrised, APC-corrected attention maps."""
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.config.freeze_encoder):
            maps = self.encoder(batch, return_attentions=True).extras.get("attentions")  # (B, C, L, L)
        if maps is None:
            raise TaskInputError("attention_contact", "the encoder returned no extras['attentions']")
        features = apc(symmetrize(maps.float()))  # (B, C, L, L)
        return features.to(self.regression.weight.dtype).permute(0, 2, 3, 1)

    def contact_logits(self, batch: ProteinBatch) -> Tensor:
        """``(B, L, L)`` symmetric contact logits (their sigmoid: fair-esm's contact probabilities)."""
        return self.regression(self.attention_features(batch)).squeeze(-1)
