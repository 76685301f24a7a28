"""ProtCLIP (Zhou et al., AAAI 2025; ``FSTForPretrain``, diaoshaoyou/ProtCLIP): any protstack protein encoder
+ a Hugging Face text encoder, projections to a joint space, and the four pre-training objectives::

    L = 1.0·L_cl + 0.3·L_p2p + 0.7·L_t2p + 1.0·L_local

``L_cl`` global contrast (:mod:`protalign.losses.clip`), ``L_p2p`` protein MLM (:mod:`~protalign.losses.
protein_mlm`), ``L_t2p`` text-to-protein fragment MLM (:mod:`~protalign.losses.fragment_mlm`), ``L_local``
prototype-guided local contrast over the four property sub-texts (:mod:`~protalign.losses.local_contrast`,
:mod:`~protalign.prototype_bank`). The weights come from :class:`~protalign.config.LossWeights`; an objective
with weight 0 is skipped and its modules are not built.

The protein encoder must honour the protdata encoder contract, including ``ProteinBatch.residue_masked``
(hidden residues must not be visible to it): that is how both MLM objectives hide residues.

Saving (:mod:`protdata.pretrained`, type ``"protclip"``): ``save_pretrained(dir)`` writes ``config.json`` (this
config with the protein encoder's config and ``text_encoder.path: text_encoder``), ``model.safetensors`` (every
tensor, the text encoder's included) and ``text_encoder/`` (the text model's ``config.json`` + tokenizer files);
``ProtCLIP.from_pretrained(dir)`` / ``protdata.pretrained.load_pretrained(dir)`` rebuild it from that directory
alone, offline.

Deviations from the seed, each switchable back: masked mean pooling (``pool_over_padding``), gradients
through the fragment decoder (``seed_no_grad``), both logit scales clamped at ``logit_scale_max`` (100).
Unused seed modules (``LocalCrossAttention``, ``predictor``, the disabled ``mmp`` fusion branch) are not built.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from protalign.config import ProtCLIPConfig
from protalign.data import NUM_SUBTEXTS, ProtCLIPBatch
from protalign.errors import ProtalignError
from protalign.losses.clip import ClipLoss
from protalign.losses.fragment_mlm import FragmentDecoder
from protalign.losses.local_contrast import local_contrastive_loss
from protalign.losses.protein_mlm import MLMHead, mlm_loss
from protalign.pooling import mean_pool
from protalign.projection import ProjectionHead
from protalign.prototype_bank import PrototypeBank
from protalign.text_encoder import TextEncoder, TokenizedText
from protdata import EncoderOutput, ProteinBatch, ProteinEncoder
from protdata.pretrained import (
    CONFIG_NAME,
    Pretrained,
    PretrainedFormatError,
    build_model,
    loading_directory,
)

#: The sub-folder of a saved ProtCLIP with the text model's config and tokenizer files.
TEXT_ENCODER_DIR = "text_encoder"


@dataclass
class ProtCLIPOutput:
    """``loss``: the weighted total; ``losses``: each objective unweighted (``"clip"``, ``"protein_mlm"``,
    ``"fragment_mlm"``, ``"local_contrast"``) and ``"proto"`` (the prototype bank's |out − x|, logged only);
    ``protein`` / ``text``: the normalised ``(B, P)`` embeddings of this rank's batch."""

    loss: Tensor
    losses: dict[str, Tensor] = field(default_factory=dict)
    logit_scale: Tensor | None = None
    protein: Tensor | None = None
    text: Tensor | None = None


class ProtCLIP(Pretrained):
    """Protein encoder + text encoder + projections + ProtCLIP objectives (saveable: module docstring)."""

    model_type = "protclip"
    config_class = ProtCLIPConfig

    def __init__(
        self, protein_encoder: ProteinEncoder, text_encoder: TextEncoder, config: ProtCLIPConfig | None = None
    ) -> None:
        super().__init__()
        self.config = config = config or ProtCLIPConfig()
        self.protein_encoder = protein_encoder
        self.text_encoder = text_encoder
        dim, width = config.projection_dim, protein_encoder.output_dim
        self.protein_projection = ProjectionHead(width, dim)
        self.text_projection = ProjectionHead(text_encoder.output_dim, dim)
        self.clip_loss = ClipLoss(config.logit_scale_init, config.logit_scale_max, config.gather)
        w = config.weights
        self.mlm_head = (
            MLMHead(width, config.mlm_hidden_dim, config.vocab_size) if w.protein_mlm > 0 else None
        )
        self.fragment_decoder = self.t2p_head = None
        if w.fragment_mlm > 0:
            self.fragment_decoder = FragmentDecoder(dim, config.fragment_attention)
            self.t2p_head = MLMHead(dim, config.mlm_hidden_dim, config.vocab_size)
        self.prototype_bank = self.local_logit_scale = None
        if w.local_contrast > 0:
            self.prototype_bank = PrototypeBank(dim, config.num_prototypes, config.gumbel_tau)
            self.local_logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / config.local_logit_scale_init)))

    # ------------------------------------------------------------------ saving
    @classmethod
    def from_config(cls, config: ProtCLIPConfig | dict[str, Any]) -> ProtCLIP:
        """A ProtCLIP built from its config alone: the protein encoder from ``protein_encoder`` (any registered
        type), the text encoder from ``text_encoder.path`` — a Hugging Face directory with weights, or, while
        :func:`protdata.pretrained.load_pretrained` reads a saved model, its ``text_encoder/`` files (the weights
        follow from its ``model.safetensors``)."""
        config = cls.parse_config(config)
        directory = loading_directory()
        source = None if directory is None else directory / CONFIG_NAME
        if config.protein_encoder is None:
            raise PretrainedFormatError(source, "protein_encoder: the protein encoder config is not set")
        if config.text_encoder is None:
            raise PretrainedFormatError(source, "text_encoder: the text encoder config is not set")
        try:
            protein_encoder = build_model(config.protein_encoder, source=source)
        except PretrainedFormatError as exc:
            raise PretrainedFormatError(source, f"protein_encoder: {exc.reason}") from None
        tc = config.text_encoder
        if directory is None:
            text_encoder = TextEncoder.from_pretrained(
                tc.path, frozen=tc.frozen, max_length=config.max_text_length
            )
        else:
            path = Path(tc.path) if Path(tc.path).is_absolute() else directory / tc.path
            text_encoder = TextEncoder.from_files(path, frozen=tc.frozen, max_length=config.max_text_length)
        return cls(protein_encoder, text_encoder, config)

    def config_dict(self) -> dict[str, Any]:
        """The config a saved model rebuilds from: the protein encoder's own config (no weights path) and the text
        encoder at ``text_encoder/`` in the model directory."""
        if not isinstance(self.protein_encoder, Pretrained):
            raise ProtalignError(
                f"cannot save: the protein encoder {type(self.protein_encoder).__name__} is not a protstack "
                "Pretrained model"
            )
        data = self.config.model_dump(mode="json")
        data["protein_encoder"] = self.protein_encoder.config_dict()
        data["text_encoder"] = {
            "type": "hf_text_encoder",
            "path": TEXT_ENCODER_DIR,
            "frozen": self.text_encoder.frozen,
        }
        return data

    def save_files(self, directory: Path) -> None:
        """Write ``text_encoder/`` (the text model's config and tokenizer files)."""
        self.text_encoder.save_files(directory / TEXT_ENCODER_DIR)

    # ------------------------------------------------------------------ embeddings
    @property
    def logit_scale(self) -> Tensor:
        """``exp(logit_scale)``, clamped (scalar)."""
        return self.clip_loss.scale()

    def encode_residues(self, batch: ProteinBatch) -> EncoderOutput:
        """Run the protein encoder and check its output against the contract."""
        out = self.protein_encoder(batch)
        b, length, width = len(batch), batch.max_length, self.protein_encoder.output_dim
        if tuple(out.residue.shape) != (b, length, width) or tuple(out.mask.shape) != (b, length):
            raise ProtalignError(
                f"protein encoder output does not honour the contract: residue {tuple(out.residue.shape)}, mask "
                f"{tuple(out.mask.shape)}, expected ({b}, {length}, {width}) and ({b}, {length})"
            )
        return out

    def protein_embedding(self, residues: EncoderOutput) -> Tensor:
        """Pooled, projected, L2-normalised protein embeddings ``(B, P)`` from encoder output."""
        pooled = mean_pool(residues.residue, residues.mask, include_padding=self.config.pool_over_padding)
        return F.normalize(self.protein_projection(pooled), dim=-1)

    def text_embedding(self, hidden: Tensor, tokens: TokenizedText) -> Tensor:
        """Pooled, projected, L2-normalised text embeddings ``(B, P)`` from text hidden states ``(B, T, H)``."""
        pooled = mean_pool(hidden, tokens.mask, include_padding=self.config.pool_over_padding)
        return F.normalize(self.text_projection(pooled), dim=-1)

    def encode_protein(self, batch: ProteinBatch) -> Tensor:
        """``(B, P)`` normalised protein embeddings."""
        return self.protein_embedding(self.encode_residues(batch))

    def encode_text(self, tokens: TokenizedText) -> Tensor:
        """``(B, P)`` normalised text embeddings."""
        return self.text_embedding(self.text_encoder(tokens), tokens)

    # ------------------------------------------------------------------ objectives
    def forward(self, batch: ProtCLIPBatch) -> ProtCLIPOutput:
        w = self.config.weights
        residues = self.encode_residues(batch.proteins)
        text_hidden = self.text_encoder(batch.text)  # (B, T, H)
        protein = self.protein_embedding(residues)  # (B, P)
        text = self.text_embedding(text_hidden, batch.text)  # (B, P)
        losses: dict[str, Tensor] = {"clip": self.clip_loss(protein, text)}
        total = w.clip * losses["clip"]

        if self.mlm_head is not None:
            if batch.mlm_mask is None:
                raise ProtalignError(
                    "protein MLM is enabled (weights.protein_mlm > 0) but the batch has no mlm_mask"
                )
            losses["protein_mlm"] = self._protein_mlm(batch, batch.mlm_mask)
            total = total + w.protein_mlm * losses["protein_mlm"]

        if self.fragment_decoder is not None:
            if batch.fragment_mask is None:
                raise ProtalignError("fragment MLM is enabled but the batch has no fragment_mask")
            losses["fragment_mlm"] = self._fragment_mlm(batch, text_hidden)
            total = total + w.fragment_mlm * losses["fragment_mlm"]

        if self.prototype_bank is not None:
            if batch.subtexts is None:
                raise ProtalignError("local contrast is enabled but the batch has no subtexts")
            losses["local_contrast"], losses["proto"] = self._local_contrast(batch, residues)
            total = total + w.local_contrast * losses["local_contrast"]

        return ProtCLIPOutput(
            loss=total, losses=losses, logit_scale=self.logit_scale.detach(), protein=protein, text=text
        )

    def _protein_mlm(self, batch: ProtCLIPBatch, mask: Tensor) -> Tensor:
        out = self.encode_residues(batch.masked(mask))
        hidden = out.residue[out.mask]  # (N, D), flat order
        logits = self.mlm_head(hidden[mask])  # (M, V)
        return mlm_loss(logits, batch.proteins.residue_type[mask])

    def _fragment_mlm(self, batch: ProtCLIPBatch, text_hidden: Tensor) -> Tensor:
        mask = batch.fragment_mask
        no_grad = torch.no_grad() if self.config.seed_no_grad else contextlib.nullcontext()
        with no_grad:
            out = self.encode_residues(batch.masked(mask))
            residues = self.protein_projection(out.residue)  # (B, L, P)
            tokens = self.text_projection(text_hidden)  # (B, T, P)
            fused = self.fragment_decoder(residues, tokens, out.mask, batch.text.mask)  # (B, L, P)
        logits = self.t2p_head(fused[out.mask][mask])  # (M, V)
        return mlm_loss(logits, batch.proteins.residue_type[mask])

    def _local_contrast(self, batch: ProtCLIPBatch, residues: EncoderOutput) -> tuple[Tensor, Tensor]:
        cfg = self.config
        b = len(batch)
        if len(batch.subtexts) != NUM_SUBTEXTS * b:
            raise ProtalignError(
                f"expected {NUM_SUBTEXTS * b} sub-texts for {b} texts, got {len(batch.subtexts)}"
            )
        grad = contextlib.nullcontext() if cfg.subtext_grad else torch.no_grad()
        with grad:
            hidden = self.text_encoder(batch.subtexts)  # (4B, S, H)
            pooled = mean_pool(hidden, batch.subtexts.mask, include_padding=cfg.pool_over_padding)
            subtexts = self.text_projection(pooled).reshape(b, NUM_SUBTEXTS, -1)  # (B, 4, P)
        proto = self.prototype_bank(subtexts)  # embeddings (B, 4, P)
        projected = self.protein_projection(residues.residue)  # (B, L, P)
        scale = self.local_logit_scale.clamp(max=math.log(cfg.logit_scale_max)).exp()
        loss = local_contrastive_loss(
            proto.embeddings,
            projected,
            residues.mask,
            scale,
            threshold=cfg.local_threshold,
            symmetric=cfg.local_symmetric,
        )
        return loss, proto.loss.detach()


def build_protclip(
    config: ProtCLIPConfig, protein_encoder: ProteinEncoder, text_encoder: TextEncoder | None = None
) -> ProtCLIP:
    """A :class:`ProtCLIP` from its config; the text encoder is loaded from ``config.text_encoder.path`` unless
    given."""
    if text_encoder is None:
        if config.text_encoder is None:
            raise ProtalignError("config.text_encoder is not set and no text encoder was given")
        tc = config.text_encoder
        text_encoder = TextEncoder.from_pretrained(
            tc.path, frozen=tc.frozen, max_length=config.max_text_length
        )
    return ProtCLIP(protein_encoder, text_encoder, config)
