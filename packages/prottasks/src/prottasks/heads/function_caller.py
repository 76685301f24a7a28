"""The ESM2 Function Caller's head (andrewdalpino/esm2-function-classifier; Hugging Face
``EsmForSequenceClassification``'s ``EsmClassificationHead``; SaProt's annotation /
classification heads are the same module):

    x = <cls> embedding → dropout → Linear(D, D) → tanh → dropout → Linear(D, C)

with BCE-with-logits for multi-label GO terms (``problem="multi_label"``) or cross-entropy
(``"single_label"``). With ``pooling="cls"`` (the seed) the input is the ``<cls>`` embedding
``EncoderOutput.extras["cls"]``, which an ESM-2 / SaProt encoder returns when built with ``cls_output: true``
(the protdata contract drops special tokens from ``residue``); an encoder that does not return it is a
:class:`~prottasks.errors.TaskInputError`, never a silent fallback to another pooling. ``pooling="protein"``
reads the encoder's protein feature instead (any encoder, e.g. a structure or fused encoder).

Fine-tuning as the seed: :meth:`FunctionCallerHead.freeze_encoder` freezes every encoder parameter;
:meth:`unfreeze_last_k` then makes the last ``k`` blocks trainable again (``--unfreeze_last_k_layers``, default
0 → head only), found through :func:`prottasks.protocols.encoder_layers`.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from protdata import ProteinBatch
from prottasks.errors import TaskInputError
from prottasks.heads.base import HeadOutput, class_targets, multilabel_targets
from prottasks.heads.configs import FunctionCallerHeadConfig
from prottasks.protocols import encoder_layers

CLS_KEY = "cls"


class FunctionCallerHead(nn.Module):
    """``<cls>`` → dense → tanh → out (module docstring); freezes the encoder per the config on construction."""

    def __init__(
        self, encoder: nn.Module, config: FunctionCallerHeadConfig | None = None, **kwargs: Any
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.config = config = config or FunctionCallerHeadConfig(**kwargs)
        dim = int(encoder.output_dim)
        self.dropout = nn.Dropout(config.dropout)
        self.dense = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, config.num_labels)
        if config.unfreeze_last_k_layers is not None:
            self.freeze_encoder()
            self.unfreeze_last_k(config.unfreeze_last_k_layers)

    def freeze_encoder(self) -> None:
        """Make every encoder parameter non-trainable."""
        for p in self.encoder.parameters():
            p.requires_grad_(False)

    def unfreeze_last_k(self, k: int) -> None:
        """Make the parameters of the encoder's last ``k`` blocks trainable (``k = 0``: none)."""
        if k < 0:
            raise ValueError(f"k must be >= 0, got {k}")
        layers = encoder_layers(self.encoder)
        if k > len(layers):
            raise ValueError(f"cannot unfreeze {k} layers: the encoder has {len(layers)}")
        for layer in layers[len(layers) - k :]:
            for p in layer.parameters():
                p.requires_grad_(True)

    def features(self, batch: ProteinBatch) -> Tensor:
        """``(B, D)``: the ``<cls>`` embedding or the protein feature, as ``config.pooling`` says."""
        out = self.encoder(batch)
        if self.config.pooling == "protein":
            return out.protein
        cls = out.extras.get(CLS_KEY)
        if cls is None:
            raise TaskInputError(
                "FunctionCallerHead",
                f"pooling 'cls' needs the <cls> embedding, but the {type(self.encoder).__name__} returns no "
                "extras['cls'] (build an ESM-2 / SaProt encoder with cls_output: true, or set the head's "
                "pooling: protein)",
            )
        return cls  # (B, D)

    def forward(self, batch: ProteinBatch, targets: Any = None) -> HeadOutput:
        x = self.dropout(self.features(batch))
        x = torch.tanh(self.dense(x))
        logits = self.out_proj(self.dropout(x))  # (B, C)
        if targets is None:
            return HeadOutput(logits)
        if self.config.problem == "multi_label":
            y = multilabel_targets(targets, len(batch), self.config.num_labels).to(logits.device)
            loss = F.binary_cross_entropy_with_logits(logits, y)
        else:
            y = class_targets(targets, len(batch), self.config.num_labels).to(logits.device)
            loss = F.cross_entropy(logits, y)
        return HeadOutput(logits, loss, {"loss": float(loss.detach())})
