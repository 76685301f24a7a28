"""``ESMCEncoder``: ESM C as a protstack sequence encoder (type ``esmc``).

The same contract and machinery as :class:`~protenc_seq.encoder.ESM2Encoder`, which it extends: strings or a
``ProteinBatch`` are tokenised by protenc-seq's :class:`~protenc_seq.tokenize.SequenceTokenizer` (ESM C's ids
equal ESM-2's, ``esmc/tokenizer.py``; same ``on_long`` / ``nonstandard`` policy, window 2,046 residues), sorted
and packed, and run through :class:`~protenc_seq.esmc.model.ESMC`'s ``forward_packed``. The output is the final
LayerNorm's per-residue features without ``<cls>``/``<eos>`` ``(B, L_max, D)`` and their mean over residues
(the ``esm`` package's ``embeddings``; mean pooling as for ESM-2), ``extras["cls"]`` with ``cls_output``.

Everything written for ESM-2 encoders takes it unchanged: :func:`protenc_seq.embed`, masked-marginal scoring
(:func:`protenc_seq.score_mutants`: log-softmax over all 64 LM-head outputs, as the references' logits), MLM
pre-training (:class:`ESMCMaskedLMAdapter`), fine-tuning helpers (``freeze`` / ``unfreeze_last_k_layers`` /
``parameter_groups``), protfusion's fusions and prottasks' heads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from protenc_seq.config import SequenceEncoderConfig
from protenc_seq.encoder import ESM2Encoder, Precision, is_protstack_directory
from protenc_seq.esmc.config import ESMCConfig
from protenc_seq.esmc.model import ESMC
from protenc_seq.mlm_adapter import MaskedLMAdapter
from protenc_seq.tokenize import NonStandard, OnLong


class ESMCEncoder(ESM2Encoder):
    """ESM C as a protstack encoder.

    Args:
        model: Our :class:`ESMC` (e.g. from :func:`protenc_seq.esmc.load_esmc`) or a config for a fresh one.
        on_long: Sequences longer than the window (2,046 residues): ``"error"`` (default), ``"crop"`` or ``"full"``.
        nonstandard: B/Z/U/O letters: ``"error"`` (default), ``"x"`` or ``"keep"`` (ESM C's own tokens).
        precision: ``"auto"`` (bf16 autocast on CUDA, fp32 on the CPU), ``"fp32"`` or ``"bf16"``.
        cls_output: Also return the final-layer ``<cls>`` embedding as ``extras["cls"]`` ``(B, D)``.
        preset: The preset name ``model`` was built from (kept in :attr:`config` while it still matches).
        plddt_threshold: Accepted for the shared sequence-encoder options and ignored (a SaProt setting).
        window_stride: ``on_long="window"``: residues between window starts (the shared ESM-2 option).
    """

    model_type = "esmc"
    config_class = SequenceEncoderConfig

    def __init__(
        self,
        model: ESMC | ESMCConfig,
        *,
        on_long: OnLong = "error",
        nonstandard: NonStandard = "error",
        precision: Precision = "auto",
        cls_output: bool = False,
        preset: str | None = None,
        plddt_threshold: float | None = None,
        window_stride: int | None = None,
    ) -> None:
        model = ESMC(model) if isinstance(model, ESMCConfig) else model
        if not isinstance(model, ESMC):
            raise TypeError(f"ESMCEncoder wraps an ESMC model or ESMCConfig, got {type(model).__name__}")
        super().__init__(
            model,  # type: ignore[arg-type]
            on_long=on_long,
            nonstandard=nonstandard,
            precision=precision,
            plddt_threshold=None,
            cls_output=cls_output,
            preset=preset,
            window_stride=window_stride,
        )

    @property
    def config(self) -> SequenceEncoderConfig:  # type: ignore[override]
        """The config this encoder rebuilds from (read from the live encoder; ``checkpoint`` is None)."""
        architecture: ESMCConfig = self.model.config  # type: ignore[assignment]
        preset = self.preset
        if preset is not None:
            try:
                same = ESMCConfig.preset(preset) == architecture
            except KeyError:
                same = False
            preset = preset if same else None
        tok = self.tokenizer
        return SequenceEncoderConfig(
            type="esmc",
            preset=preset,
            architecture=None if preset is not None else architecture,
            on_long=tok.on_long,
            window_stride=self.window_stride,
            nonstandard=tok.nonstandard,
            precision=self.precision,
            cls_output=self.cls_output,
        )

    @classmethod
    def from_pretrained(  # type: ignore[override]
        cls, path: str | Path, *, map_location: str | torch.device = "cpu", **options: Any
    ) -> ESMCEncoder:
        """A saved protstack encoder directory, or a local ESM C checkpoint (transformers directory or
        ``esm``-package state dict; ``options`` are then the encoder's keyword arguments)."""
        if is_protstack_directory(path):
            return super().from_pretrained(path, map_location=map_location, **options)  # type: ignore[return-value]
        from protenc_seq.esmc.loading import load_esmc

        return cls(load_esmc(path), **options).to(map_location)

    @classmethod
    def from_preset(cls, name: str, **options: Any) -> ESMCEncoder:
        """A randomly initialised encoder of a published size (``"300M"``, ``"600M"``, ``"6B"``)."""
        return cls(ESMCConfig.preset(name), preset=ESMCConfig.preset(name).name, **options)

    def masked_lm(self) -> ESMCMaskedLMAdapter:
        """This encoder as a masked language model (prottasks' ``MaskedLanguageModel`` protocol)."""
        return ESMCMaskedLMAdapter(self)


class ESMCMaskedLMAdapter(MaskedLMAdapter):
    """:class:`~protenc_seq.MaskedLMAdapter` for ESM C: ``<mask>`` masking over the 33-token vocabulary; random
    replacements are drawn from the 32 real tokens other than ``<pad>`` (never the unused rows 33-63 of the
    64-row table); logits keep all 64 outputs."""

    def random_token_ids(self) -> Tensor:
        ids = torch.arange(self.alphabet.size, device=self.encoder.device)
        return ids[ids != self.alphabet.pad_id]
