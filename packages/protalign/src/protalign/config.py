"""Configuration of a ProtCLIP model, with the seed's values as defaults (ProtCLIP, Zhou et al.,
AAAI 2025: diaoshaoyou/ProtCLIP ``checkpoint/config.json`` and ``protclip/pretrain.py``).

Unknown keys and wrong types are errors that name the key (pydantic, ``extra="forbid"``). An objective whose
weight is 0 is not computed at all. :class:`PairDataConfig` names the pair files and how they are read
(:func:`protalign.pair_files.load_pairs`). This module imports no torch.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from protdata.protanno import PropertySamplerConfig


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TextEncoderConfig(_Strict):
    """A Hugging Face encoder directory (``config.json`` + weights + tokenizer files), loaded offline."""

    type: Literal["hf_text_encoder"] = "hf_text_encoder"
    #: Local model directory (the seed: BiomedNLP-PubMedBERT-base-uncased-abstract).
    path: str
    #: Frozen text encoder (seed ``text_model_fixed True``). Its token limit is ``ProtCLIPConfig.max_text_length``.
    frozen: bool = True


class LossWeights(_Strict):
    """``L = clip·L_cl + protein_mlm·L_p2p + fragment_mlm·L_t2p + local_contrast·L_local`` (seed: 1, 0.3, 0.7, 1)."""

    clip: float = Field(default=1.0, ge=0.0)
    protein_mlm: float = Field(default=0.3, ge=0.0)
    fragment_mlm: float = Field(default=0.7, ge=0.0)
    local_contrast: float = Field(default=1.0, ge=0.0)


class ProtCLIPConfig(_Strict):
    """Every hyper-parameter of :class:`~protalign.model.ProtCLIP` and its collator."""

    type: Literal["protclip"] = "protclip"
    #: The protein encoder's config with its registered ``type`` (built by ``protdata.pretrained.build_model``);
    #: ``None`` when an encoder is passed to :class:`~protalign.model.ProtCLIP` (a saved model always has it).
    protein_encoder: dict[str, Any] | None = None
    #: The text encoder; ``None`` when a :class:`~protalign.text_encoder.TextEncoder` is passed to ``build``. In a
    #: saved model its ``path`` is ``text_encoder``, relative to the model directory.
    text_encoder: TextEncoderConfig | None = None
    #: Width of the joint space (``projection_dim 512``).
    projection_dim: int = Field(default=512, ge=1)
    #: Initial temperature of the global contrast: ``logit_scale = log(1/0.07)``.
    logit_scale_init: float = Field(default=0.07, gt=0.0)
    #: Clamp of ``exp(logit_scale)`` (open_clip's 100; the seed does not clamp).
    logit_scale_max: float = Field(default=100.0, gt=0.0)
    #: Initial temperature of the local contrast: ``local_logit_scale = log(1/0.1)``.
    local_logit_scale_init: float = Field(default=0.1, gt=0.0)
    #: Number of prototypes in the bank (``proto_num 512``; their width is ``projection_dim`` = ``proto_dim``).
    num_prototypes: int = Field(default=512, ge=1)
    #: Gumbel-softmax temperature of the prototype bank (``AttrProtoBank temp 0.9``).
    gumbel_tau: float = Field(default=0.9, gt=0.0)
    #: Min–max-normalised similarities below this are cut to 0 in the local contrast.
    local_threshold: float = Field(default=0.3, ge=0.0, le=1.0)
    #: Add the sub-text → protein direction to the local contrast (the seed computes one direction twice).
    local_symmetric: bool = False
    #: Let gradients reach the text encoder / ``text_projection`` through the sub-texts (the seed: no_grad).
    subtext_grad: bool = False
    #: Hidden width of the MLM heads (the seed uses ``projection_dim``).
    mlm_hidden_dim: int = Field(default=512, ge=1)
    #: Residue classes predicted by the MLM heads: protdata's 20 amino acids + X.
    vocab_size: int = Field(default=21, ge=2)
    #: Protein MLM: probability of hiding each residue (``protein_mask_probability 0.15``).
    protein_mask_probability: float = Field(default=0.15, ge=0.0, le=1.0)
    #: Fragment MLM: span length range ``r`` (``protein_mask_range 10`` in ``pretrain.py``).
    fragment_mask_range: int = Field(default=10, ge=1)
    #: Fragment MLM: hide spans until this fraction of residues is hidden.
    fragment_coverage: float = Field(default=0.15, gt=0.0, le=1.0)
    #: Fragment decoder softmax axis: ``"protein"`` positions (the seed's dim=1) or ``"text"`` tokens.
    fragment_attention: Literal["protein", "text"] = "protein"
    #: Reproduce the seed's ``torch.no_grad()`` around projections + decoder in the fragment MLM.
    seed_no_grad: bool = False
    #: Reproduce the seed's mean pooling over padding positions (global and sub-text pooling).
    pool_over_padding: bool = False
    #: Gather embeddings across data-parallel ranks for the global contrast (``gather_with_grad=True``).
    gather: bool = True
    #: Proteins longer than this are cut to their first residues (ESM-2's 1024 tokens minus BOS/EOS).
    max_protein_length: int = Field(default=1022, ge=1)
    #: Text truncation length in tokens for texts and sub-texts.
    max_text_length: int = Field(default=512, ge=2)
    #: Loss weights.
    weights: LossWeights = LossWeights()


#: ``auto``: told by the first line (:func:`protalign.pair_files.detect_format`).
PairFormat = Literal["auto", "uniprot", "protanno", "ec_text", "jsonl"]


class PairSource(BaseModel):
    """One pair file (plain or gzip): a UniProt flat file (``uniprot``), ProtAnno JSON lines (``protanno``: ``seq``
    + ``text``), ProtST EC–text pairs (``ec_text``: ``chain`` + ``sequence`` + ``ec`` + ``text_ec`` + ``text``) or
    any JSON lines with named keys (``jsonl``)."""

    model_config = ConfigDict(extra="forbid")

    path: str
    format: PairFormat = "auto"
    #: ``jsonl`` only: the key of the amino-acid sequence.
    sequence_key: str = "sequence"
    #: ``jsonl`` only: the key(s) of the text; several are joined with a space (e.g. ``[description, function]``).
    text_key: str | list[str] = "text"
    #: ``jsonl`` only: the key of the protein id (None: ``line<N>``).
    id_key: str | None = None


class PairDataConfig(BaseModel):
    """Protein–text pair files and how they are read (not frozen: an app may extend it with batching keys)."""

    model_config = ConfigDict(extra="forbid")

    #: Pair files: paths (format detected) or ``{path, format, sequence_key, text_key, id_key}`` mappings.
    sources: list[PairSource] = Field(min_length=1)
    #: ProtCLIP's property-driven sampler (keep p = sqrt(o/4) / e^3, hard filter o >= 3, e <= 3), applied to every
    #: record; records need a protein-existence level (UniProt flat files have it). None: keep every pair.
    sampler: PropertySamplerConfig | None = None
    #: A bad record: ``raise`` (one error naming the file and line) or ``skip`` (counted and reported).
    on_error: Literal["raise", "skip"] = "raise"

    @field_validator("sources", mode="before")
    @classmethod
    def _paths(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"path": v} if isinstance(v, str) else v for v in value]
        return value
