"""``ESM2Config``: hyper-parameters of an ESM-2 (or SaProt) transformer, with the published sizes as presets.

Sizes: the ESM2 Function Caller README's base-model table (andrewdalpino/esm2-function-classifier), fair-esm's
``esm/pretrained.py`` and SaProt's Hugging Face ``config.json``:
FFN width is 4·D (fair-esm ``esm2.py`` hard-codes it), LayerNorm eps 1e-5, rotary base 10000, token dropout on.
SaProt is the same architecture over the 446-token structure-aware vocabulary (SaProt, Su et al., ICLR 2024;
westlake-repl/SaProt).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from protenc_seq.alphabet import Alphabet, get_alphabet


class ESM2Config(BaseModel):
    """One ESM-2-architecture transformer (pre-LN, rotary, tied LM head).

    Unknown keys and wrong types are errors that name the key (pydantic, ``extra="forbid"``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["esm2"] = "esm2"
    #: Preset name (e.g. ``"esm2_t33_650M_UR50D"``), informational; ``None`` for custom sizes.
    name: str | None = None
    num_layers: int = Field(gt=0, description="transformer blocks (t6 … t48)")
    embed_dim: int = Field(gt=0, description="width D")
    attention_heads: int = Field(gt=0, description="heads; head_dim = D / heads")
    ffn_dim: int | None = Field(default=None, gt=0, description="FFN width; None = 4·D as in ESM-2")
    vocab: Literal["esm", "saprot"] = Field(default="esm", description="33-token ESM or 446-token SaProt")
    token_dropout: bool = Field(default=True, description="zero <mask> rows, rescale by 0.88/(1-ratio)")
    layer_norm_eps: float = Field(default=1e-5, gt=0)
    rope_theta: float = Field(default=10000.0, gt=0, description="rotary base (only used for fresh models)")
    max_residues: int | None = Field(default=1022, gt=0, description="training window without BOS/EOS")
    dropout: float = Field(default=0.0, ge=0, lt=1, description="dropout after attention and FFN outputs")
    attention_dropout: float = Field(default=0.0, ge=0, lt=1, description="dropout on attention weights")
    gradient_checkpointing: bool = Field(default=False, description="recompute each block in backward")

    @model_validator(mode="after")
    def _check(self) -> ESM2Config:
        if self.embed_dim % self.attention_heads:
            raise ValueError(
                f"embed_dim {self.embed_dim} is not divisible by attention_heads {self.attention_heads}"
            )
        if self.head_dim % 2:
            raise ValueError(f"head_dim {self.head_dim} must be even for rotary embeddings")
        return self

    @property
    def head_dim(self) -> int:
        return self.embed_dim // self.attention_heads

    @property
    def ffn(self) -> int:
        return self.ffn_dim if self.ffn_dim is not None else 4 * self.embed_dim

    @property
    def alphabet(self) -> Alphabet:
        return get_alphabet(self.vocab)

    @property
    def vocab_size(self) -> int:
        return self.alphabet.size

    @classmethod
    def preset(cls, name: str, **overrides: object) -> ESM2Config:
        """A published size by name: ``"esm2_t33_650M_UR50D"``, ``"650M"``, ``"SaProt_650M_AF2"``, …"""
        key = ALIASES.get(name, name)
        if key not in PRESETS:
            raise KeyError(f"unknown preset {name!r}; known: {', '.join(sorted(PRESETS))}")
        return cls(name=key, **{**PRESETS[key], **overrides})

    def expected_shapes(self) -> dict[str, tuple[int, ...]]:
        """Shape of every tensor of :class:`~protenc_seq.esm2.model.ESM2`'s state dict (our names)."""
        d, f, v, h = self.embed_dim, self.ffn, self.vocab_size, self.attention_heads
        shapes: dict[str, tuple[int, ...]] = {
            "embed_tokens.weight": (v, d),
            "rotary.inv_freq": (self.head_dim // 2,),
        }
        for i in range(self.num_layers):
            p = f"layers.{i}."
            shapes.update({
                p + "self_attn_layer_norm.weight": (d,),
                p + "self_attn_layer_norm.bias": (d,),
                p + "self_attn.qkv_proj.weight": (3 * d, d),
                p + "self_attn.qkv_proj.bias": (3 * d,),
                p + "self_attn.out_proj.weight": (d, d),
                p + "self_attn.out_proj.bias": (d,),
                p + "final_layer_norm.weight": (d,),
                p + "final_layer_norm.bias": (d,),
                p + "fc1.weight": (f, d),
                p + "fc1.bias": (f,),
                p + "fc2.weight": (d, f),
                p + "fc2.bias": (d,),
            })  # fmt: skip
        shapes.update({
            "emb_layer_norm_after.weight": (d,),
            "emb_layer_norm_after.bias": (d,),
            "lm_head.dense.weight": (d, d),
            "lm_head.dense.bias": (d,),
            "lm_head.layer_norm.weight": (d,),
            "lm_head.layer_norm.bias": (d,),
            "lm_head.bias": (v,),
            "contact_head.regression.weight": (1, self.num_layers * h),
            "contact_head.regression.bias": (1,),
        })  # fmt: skip
        return shapes

    def num_parameters(self) -> int:
        """Number of parameters (tied LM head counted once, rotary buffer excluded)."""
        total = 0
        for name, shape in self.expected_shapes().items():
            if name != "rotary.inv_freq":
                n = 1
                for s in shape:
                    n *= s
                total += n
        return total


#: Published ESM-2 sizes (layers / width / heads; Lin et al., Science 2023) and SaProt's (Su et al., 2024).
PRESETS: dict[str, dict[str, object]] = {
    "esm2_t6_8M_UR50D": {"num_layers": 6, "embed_dim": 320, "attention_heads": 20},
    "esm2_t12_35M_UR50D": {"num_layers": 12, "embed_dim": 480, "attention_heads": 20},
    "esm2_t30_150M_UR50D": {"num_layers": 30, "embed_dim": 640, "attention_heads": 20},
    "esm2_t33_650M_UR50D": {"num_layers": 33, "embed_dim": 1280, "attention_heads": 20},
    "esm2_t36_3B_UR50D": {"num_layers": 36, "embed_dim": 2560, "attention_heads": 40},
    "esm2_t48_15B_UR50D": {"num_layers": 48, "embed_dim": 5120, "attention_heads": 40},
    "SaProt_35M_AF2": {"num_layers": 12, "embed_dim": 480, "attention_heads": 20, "vocab": "saprot"},
    "SaProt_650M_AF2": {"num_layers": 33, "embed_dim": 1280, "attention_heads": 20, "vocab": "saprot"},
    "SaProt_650M_PDB": {"num_layers": 33, "embed_dim": 1280, "attention_heads": 20, "vocab": "saprot"},
}
ALIASES: dict[str, str] = {
    "8M": "esm2_t6_8M_UR50D",
    "35M": "esm2_t12_35M_UR50D",
    "150M": "esm2_t30_150M_UR50D",
    "650M": "esm2_t33_650M_UR50D",
    "3B": "esm2_t36_3B_UR50D",
    "15B": "esm2_t48_15B_UR50D",
}
