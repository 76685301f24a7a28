"""Zero-shot classification from text prompts, ProtST-style (``script/run_zero_shot.py``).

Each class ``c`` is described by one text (ProtST) or several prompts (CLIP-style prompt ensembling); its
feature is the normalised text embedding ``l_c`` (for several prompts: the mean of their normalised embeddings,
normalised again). A protein's class scores are ``exp(logit_scale) · p · l_c`` with ``p`` its normalised
embedding; the prediction is the arg-max and the metric the accuracy (ProtST reports accuracy on
SubcellularLocalization and Reaction). ProtST tokenises label texts to at most 128 tokens; that is the default
``max_length`` here (ProtST prepends ``[CLS]`` only, protalign's tokenizer adds ``[CLS]`` and ``[SEP]``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from protalign.export import embed_proteins, embed_texts
from protalign.model import ProtCLIP
from protdata import Protein


class ZeroShotClassifier:
    """Class features from prompts; ``logits(proteins)`` ``(B, C)``.

    Args:
        model: A (trained) :class:`~protalign.model.ProtCLIP`.
        prompts: One entry per class: a text, or a sequence of prompts to average.
        max_length: Token limit of the prompts (ProtST: 128).
        batch_size: Prompts embedded per forward pass.
    """

    def __init__(
        self,
        model: ProtCLIP,
        prompts: Sequence[str | Sequence[str]],
        *,
        max_length: int = 128,
        batch_size: int = 64,
    ) -> None:
        if not prompts:
            raise ValueError("ZeroShotClassifier: no classes")
        self.model = model
        groups = [[p] if isinstance(p, str) else list(p) for p in prompts]
        for c, group in enumerate(groups):
            if not group or not all(isinstance(p, str) and p.strip() for p in group):
                raise ValueError(f"class {c}: prompts must be non-empty strings, got {group!r}")
        flat = [p for group in groups for p in group]
        embedded = embed_texts(model, flat, batch_size=batch_size, max_length=max_length)  # (ΣP, D)
        owner = torch.repeat_interleave(torch.arange(len(groups)), torch.tensor([len(g) for g in groups]))
        summed = torch.zeros(len(groups), embedded.shape[1], dtype=embedded.dtype).index_add_(
            0, owner, embedded
        )
        self.class_features = F.normalize(summed, dim=-1)  # (C, D)

    @property
    def num_classes(self) -> int:
        return int(self.class_features.shape[0])

    def logits(self, protein_embeddings: Tensor) -> Tensor:
        """``(B, D)`` normalised protein embeddings -> ``(B, C)`` scaled cosine scores."""
        scale = self.model.logit_scale.detach().cpu()
        return scale * protein_embeddings.cpu().float() @ self.class_features.float().t()

    def predict(self, proteins: Sequence[Protein], batch_size: int = 32) -> Tensor:
        """The predicted class of each protein ``(B,)``."""
        return self.logits(embed_proteins(self.model, proteins, batch_size=batch_size)).argmax(dim=-1)

    def accuracy(self, proteins: Sequence[Protein], targets: Sequence[int], batch_size: int = 32) -> float:
        """Fraction of proteins whose predicted class equals ``targets``."""
        if len(proteins) != len(targets):
            raise ValueError(f"{len(proteins)} proteins but {len(targets)} targets")
        target = torch.as_tensor(list(targets), dtype=torch.long)
        if bool(((target < 0) | (target >= self.num_classes)).any()):
            raise ValueError(f"targets must lie in 0..{self.num_classes - 1}")
        return float((self.predict(proteins, batch_size) == target).float().mean())
