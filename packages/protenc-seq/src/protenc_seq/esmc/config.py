"""``ESMCConfig``: hyper-parameters of an ESM C (ESM Cambrian) transformer, with the published sizes as presets.

Sizes (layers / width / heads) from the ``esm`` package (evolutionaryscale/esm ``esm/pretrained.py``:
``ESMC_300M_202412`` = 30 × 960 × 15, ``ESMC_600M_202412`` = 36 × 1152 × 18; README model table: ``esmc-6b-2024-12``
has 80 layers) and transformers' ``EsmcConfig`` (``models/esmc/configuration_esmc.py``, whose defaults are the
``biohub/ESMC-6B`` checkpoint: 80 × 2560 × 40, ``intermediate_size`` 6912, ``max_position_embeddings`` 2048).

Fixed by both references for every released checkpoint: a 64-row token table (``nn.Embedding(64, d_model)``; the
33-token sequence vocabulary plus unused rows), bias-free projections, LayerNorm (eps 1e-5) before attention and
FFN, QK LayerNorm over the full width without bias, rotary base 10000 (``RotaryEmbedding(d_head)``), SwiGLU FFN of
width ``swiglu_correction_fn(8/3, d)`` = ``(8/3·d + 255) // 256 · 256`` (``esm/layers/blocks.py``: 2560 for 960,
3072 for 1152, 6912 for 2560), residual branches divided by ``sqrt(n_layers / 36)`` and an untied
dense-GELU-LayerNorm-linear LM head (``RegressionHead(d_model, 64)``).
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from protenc_seq.alphabet import Alphabet

#: Rows of the token table and of the LM head's output (``nn.Embedding(64, d_model)``, ``RegressionHead(d, 64)``).
ESMC_VOCAB_ROWS = 64
#: ``EsmcConfig.max_position_embeddings`` (2048 tokens) minus ``<cls>`` and ``<eos>``.
ESMC_MAX_RESIDUES = 2046


def swiglu_hidden(d_model: int, expansion_ratio: float = 8 / 3) -> int:
    """SwiGLU hidden width: the expansion rounded up to a multiple of 256 (``swiglu_correction_fn``)."""
    return int(((expansion_ratio * d_model) + 255) // 256 * 256)


class ESMCConfig(BaseModel):
    """One ESM C transformer (pre-LN, QK-LayerNorm, rotary, SwiGLU, residual scaling, untied LM head).

    Unknown keys and wrong types are errors that name the key (pydantic, ``extra="forbid"``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["esmc"] = "esmc"
    #: Preset name (``"esmc_300m"``, ``"esmc_600m"``, ``"esmc_6b"``), informational; ``None`` for custom sizes.
    name: str | None = None
    num_layers: int = Field(gt=0, description="transformer blocks (30 / 36 / 80)")
    embed_dim: int = Field(gt=0, description="width d_model")
    attention_heads: int = Field(gt=0, description="heads; head_dim = d_model / heads")
    ffn_dim: int | None = Field(default=None, gt=0, description="SwiGLU width; None = swiglu_hidden(d_model)")
    vocab_rows: int = Field(default=ESMC_VOCAB_ROWS, ge=33, description="token-table / LM-head rows")
    layer_norm_eps: float = Field(default=1e-5, gt=0)
    rope_theta: float = Field(default=10000.0, gt=0, description="rotary base")
    residue_scaling: bool = Field(default=True, description="divide residual branches by sqrt(L / 36)")
    max_residues: int | None = Field(default=ESMC_MAX_RESIDUES, gt=0, description="window without BOS/EOS")
    attention_dropout: float = Field(default=0.0, ge=0, lt=1, description="dropout on attention weights")
    gradient_checkpointing: bool = Field(default=False, description="recompute each block in backward")

    @model_validator(mode="after")
    def _check(self) -> ESMCConfig:
        if self.embed_dim % self.attention_heads:
            raise ValueError(
                f"embed_dim {self.embed_dim} is not divisible by attention_heads {self.attention_heads}"
            )
        if self.head_dim % 2:
            raise ValueError(f"head_dim {self.head_dim} must be even for rotary embeddings")
        return self

    # ------------------------------------------------------------ derived sizes
    @property
    def head_dim(self) -> int:
        return self.embed_dim // self.attention_heads

    @property
    def ffn(self) -> int:
        return self.ffn_dim if self.ffn_dim is not None else swiglu_hidden(self.embed_dim)

    @property
    def residual_divisor(self) -> float:
        """``sqrt(num_layers / 36)`` (ESM3 residue scaling) or 1."""
        return math.sqrt(self.num_layers / 36) if self.residue_scaling else 1.0

    @property
    def vocab(self) -> str:
        """The vocabulary family: ``"esmc"`` (ESM-2's letters; see :mod:`protenc_seq.esmc.tokenizer`)."""
        return "esmc"

    @property
    def alphabet(self) -> Alphabet:
        from protenc_seq.esmc.tokenizer import ESMC_ALPHABET

        return ESMC_ALPHABET

    @property
    def vocab_size(self) -> int:
        """Output width of the LM head (64: every row of the table, as the references' logits)."""
        return self.vocab_rows

    @classmethod
    def preset(cls, name: str, **overrides: object) -> ESMCConfig:
        """A published size by name: ``"esmc_300m"`` / ``"300M"``, ``"esmc_600m"`` / ``"600M"``, ``"esmc_6b"`` / ``"6B"``."""
        key = ALIASES.get(name, name)
        if key not in PRESETS:
            raise KeyError(f"unknown ESM C preset {name!r}; known: {', '.join(sorted(PRESETS))}")
        return cls(name=key, **{**PRESETS[key], **overrides})

    def expected_shapes(self) -> dict[str, tuple[int, ...]]:
        """Shape of every tensor of :class:`~protenc_seq.esmc.model.ESMC`'s state dict (our names)."""
        d, f, v = self.embed_dim, self.ffn, self.vocab_rows
        shapes: dict[str, tuple[int, ...]] = {"embed_tokens.weight": (v, d)}
        for i in range(self.num_layers):
            p = f"layers.{i}."
            shapes.update({
                p + "attn_norm.weight": (d,),
                p + "attn_norm.bias": (d,),
                p + "attn.qkv_proj.weight": (3 * d, d),
                p + "attn.q_norm.weight": (d,),
                p + "attn.k_norm.weight": (d,),
                p + "attn.out_proj.weight": (d, d),
                p + "ffn_norm.weight": (d,),
                p + "ffn_norm.bias": (d,),
                p + "ffn.gate_up_proj.weight": (2 * f, d),
                p + "ffn.down_proj.weight": (d, f),
            })  # fmt: skip
        shapes.update({
            "norm.weight": (d,),
            "lm_head.dense.weight": (d, d),
            "lm_head.dense.bias": (d,),
            "lm_head.layer_norm.weight": (d,),
            "lm_head.layer_norm.bias": (d,),
            "lm_head.decoder.weight": (v, d),
            "lm_head.decoder.bias": (v,),
        })  # fmt: skip
        return shapes

    def num_parameters(self) -> int:
        """Number of parameters (LM head included)."""
        return sum(math.prod(shape) for shape in self.expected_shapes().values())


#: Published ESM C sizes (module docstring).
PRESETS: dict[str, dict[str, object]] = {
    "esmc_300m": {"num_layers": 30, "embed_dim": 960, "attention_heads": 15},
    "esmc_600m": {"num_layers": 36, "embed_dim": 1152, "attention_heads": 18},
    "esmc_6b": {"num_layers": 80, "embed_dim": 2560, "attention_heads": 40},
}
ALIASES: dict[str, str] = {
    "300M": "esmc_300m",
    "600M": "esmc_600m",
    "6B": "esmc_6b",
    "esmc-300m-2024-12": "esmc_300m",
    "esmc-600m-2024-12": "esmc_600m",
    "esmc-6b-2024-12": "esmc_6b",
    "ESMC-300M": "esmc_300m",
    "ESMC-600M": "esmc_600m",
    "ESMC-6B": "esmc_6b",
}
