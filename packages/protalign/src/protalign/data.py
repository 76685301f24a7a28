"""The ProtCLIP collator: tokenised texts and sub-texts + ``ProteinBatch`` + the two protein maskings.

:class:`ProtCLIPCollator` builds, per batch, what :class:`~protalign.model.ProtCLIP` needs: the proteins (cut to
``max_protein_length`` residues, as the seed truncates to 1024 ESM tokens), the tokenised texts, the four
property sub-texts per text (:func:`protdata.protanno.split_text`: PROTEIN NAME / FUNCTION / SUBCELLULAR
LOCATION / SIMILARITY, ``"<ATTR>:"`` placeholders for missing ones), the protein-MLM mask and the fragment mask
(:mod:`protalign.masking`). Items are :class:`~protalign.pairs.ProteinTextPair`, ``(Protein, text)`` tuples or
ProtAnno records.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from protalign.config import ProtCLIPConfig
from protalign.masking import bernoulli_mask, fragment_mask
from protalign.pairs import ProteinTextPair, pair_from_record
from protalign.text_encoder import TextEncoder, TokenizedText, tokenize
from protdata import Protein, ProteinBatch
from protdata.errors import RecordError
from protdata.protanno import ProtAnnoRecord, split_text

#: Number of property sub-texts per text (PROTEIN NAME / FUNCTION / SUBCELLULAR LOCATION / SIMILARITY).
NUM_SUBTEXTS = 4


@dataclass
class ProtCLIPBatch:
    """What :class:`~protalign.model.ProtCLIP` trains on.

    Attributes:
        proteins: ``B`` proteins, nothing hidden.
        text: Tokenised texts ``(B, T)``.
        texts: The raw texts.
        subtexts: Tokenised property sub-texts ``(4B, S)``, row ``4b + k`` = sub-text ``k`` of text ``b``.
        mlm_mask: ``(N,)`` bool, residues hidden for protein MLM (flat view), or ``None``.
        fragment_mask: ``(N,)`` bool, residues hidden for the fragment MLM, or ``None``.
    """

    proteins: ProteinBatch
    text: TokenizedText
    texts: list[str]
    subtexts: TokenizedText | None = None
    mlm_mask: Tensor | None = None
    fragment_mask: Tensor | None = None

    def __len__(self) -> int:
        return len(self.proteins)

    @property
    def ids(self) -> list[str]:
        """The proteins' ids (a training loop names them when a step fails)."""
        return self.proteins.ids

    @property
    def num_residues(self) -> int:
        """Residues in the batch (a training loop counts throughput in residues)."""
        return self.proteins.num_residues

    def masked(self, mask: Tensor) -> ProteinBatch:
        """The proteins with the residues in ``mask`` ``(N,)`` hidden (``residue_masked``)."""
        return dataclasses.replace(self.proteins, residue_masked=self.proteins.residue_masked | mask)

    def to(self, device: torch.device | str, non_blocking: bool = False) -> ProtCLIPBatch:
        def move(x: Any) -> Any:
            return None if x is None else x.to(device, non_blocking=non_blocking)

        return ProtCLIPBatch(
            proteins=self.proteins.to(device, non_blocking=non_blocking),
            text=self.text.to(device, non_blocking=non_blocking),
            texts=self.texts,
            subtexts=move(self.subtexts),
            mlm_mask=move(self.mlm_mask),
            fragment_mask=move(self.fragment_mask),
        )

    def pin_memory(self) -> ProtCLIPBatch:
        def pin(x: Any) -> Any:
            return None if x is None else x.pin_memory()

        return ProtCLIPBatch(
            self.proteins.pin_memory(), self.text.pin_memory(), self.texts,
            pin(self.subtexts), pin(self.mlm_mask), pin(self.fragment_mask),
        )  # fmt: skip


class ProtCLIPCollator:
    """``list[ProteinTextPair | (Protein, text) | ProtAnnoRecord] -> ProtCLIPBatch``.

    Args:
        tokenizer: A Hugging Face tokenizer, or a :class:`~protalign.text_encoder.TextEncoder` (its tokenizer
            is used; the model itself is not kept, so DataLoader workers do not copy it).
        max_protein_length: Longer proteins keep their first residues (seed: 1024 tokens = 1022 residues).
        max_text_length: Token limit of texts and sub-texts (seed: 512).
        protein_mask_probability: Protein-MLM probability (0.15); 0 disables the MLM mask.
        fragment_mask_range, fragment_coverage: Fragment masking (``r = 10``, 15 %); ``fragments=False`` disables.
        subtexts: Tokenise the four property sub-texts (for the local contrast).
        seed: Seed of the masks (each DataLoader worker gets its own stream); ``None`` for fresh entropy.
    """

    def __init__(
        self,
        tokenizer: Any,
        *,
        max_protein_length: int = 1022,
        max_text_length: int = 512,
        protein_mask_probability: float = 0.15,
        fragment_mask_range: int = 10,
        fragment_coverage: float = 0.15,
        fragments: bool = True,
        subtexts: bool = True,
        seed: int | None = 0,
    ) -> None:
        self.tokenizer = tokenizer.tokenizer if isinstance(tokenizer, TextEncoder) else tokenizer
        self.max_protein_length = max_protein_length
        self.max_text_length = max_text_length
        self.protein_mask_probability = protein_mask_probability
        self.fragment_mask_range = fragment_mask_range
        self.fragment_coverage = fragment_coverage
        self.fragments = fragments
        self.subtexts = subtexts
        self.seed = seed
        self._rngs: dict[int, np.random.Generator] = {}

    @classmethod
    def from_config(cls, config: ProtCLIPConfig, tokenizer: Any, *, seed: int | None = 0) -> ProtCLIPCollator:
        """A collator producing exactly the inputs the objectives enabled in ``config`` need."""
        w = config.weights
        return cls(
            tokenizer,
            max_protein_length=config.max_protein_length,
            max_text_length=config.max_text_length,
            protein_mask_probability=config.protein_mask_probability if w.protein_mlm > 0 else 0.0,
            fragment_mask_range=config.fragment_mask_range,
            fragment_coverage=config.fragment_coverage,
            fragments=w.fragment_mlm > 0,
            subtexts=w.local_contrast > 0,
            seed=seed,
        )

    def _rng(self) -> np.random.Generator:
        info = torch.utils.data.get_worker_info()
        key = -1 if info is None else info.id
        if key not in self._rngs:
            self._rngs[key] = np.random.default_rng(None if self.seed is None else [self.seed, key + 1])
        return self._rngs[key]

    def __call__(
        self,
        items: Sequence[ProteinTextPair | tuple[Protein, str] | ProtAnnoRecord],
        *,
        rng: np.random.Generator | None = None,
    ) -> ProtCLIPBatch:
        """Collate ``items``; the masks come from ``rng`` when given (e.g. seeded by the micro-batch index, so a
        resumed run and any number of DataLoader workers draw the same masks), else from this worker's stream."""
        if len(items) == 0:
            raise ValueError("ProtCLIPCollator: empty batch")
        proteins: list[Protein] = []
        texts: list[str] = []
        for number, item in enumerate(items, start=1):
            if isinstance(item, ProteinTextPair):
                protein, text = item.protein, item.text
            elif isinstance(item, ProtAnnoRecord):
                protein, text = pair_from_record(item, f"item{number}").protein, item.text
            else:
                protein, text = item
            if not isinstance(text, str) or not text.strip():
                raise RecordError(protein.id, "empty text")
            if len(protein) > self.max_protein_length:
                protein = protein.select(slice(0, self.max_protein_length))
            proteins.append(protein)
            texts.append(text)
        batch = ProteinBatch.collate(proteins)
        rng = self._rng() if rng is None else rng
        mlm = None
        if self.protein_mask_probability > 0:
            mlm = torch.from_numpy(bernoulli_mask(batch.num_residues, self.protein_mask_probability, rng))
        frag = None
        if self.fragments:
            frag = torch.from_numpy(
                np.concatenate(
                    [
                        fragment_mask(
                            len(p), rng, mask_range=self.fragment_mask_range, coverage=self.fragment_coverage
                        )
                        for p in proteins
                    ]
                )
            )
        subtexts = None
        if self.subtexts:
            parts = [part for text in texts for part in split_text(text)]  # (4B,)
            subtexts = tokenize(self.tokenizer, parts, self.max_text_length)
        return ProtCLIPBatch(
            proteins=batch,
            text=tokenize(self.tokenizer, texts, self.max_text_length),
            texts=texts,
            subtexts=subtexts,
            mlm_mask=mlm,
            fragment_mask=frag,
        )
