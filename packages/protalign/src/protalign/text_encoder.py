"""Text encoders: any Hugging Face ``AutoModel`` encoder loaded from a local directory, frozen or trainable.

ProtCLIP's text encoder is PubMedBERT (BERT-base, 768-d), frozen, texts truncated to 512 tokens (Zhou et al.,
AAAI 2025; diaoshaoyou/ProtCLIP). Any ``AutoModel`` encoder directory works (``config.json``, weights,
tokenizer files); loading never touches the network (``local_files_only=True``). A frozen encoder stays in
eval mode (no dropout) and runs without autograd, whatever mode its parent module is put in.

A saved ProtCLIP keeps its text encoder's weights in its own ``model.safetensors`` and the text model's
``config.json`` + tokenizer files in a sub-folder (:meth:`TextEncoder.save_files`, :meth:`TextEncoder.from_files`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from protalign.errors import TextEncoderError

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

_WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
_TOKENIZER_FILES = (
    "tokenizer.json",
    "vocab.txt",
    "vocab.json",
    "spiece.model",
    "tokenizer.model",
    "sentencepiece.bpe.model",
)


@dataclass
class TokenizedText:
    """A padded batch of tokenised texts: ``input_ids`` ``(B, T)`` int64, ``attention_mask`` ``(B, T)`` int64."""

    input_ids: Tensor
    attention_mask: Tensor

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    @property
    def mask(self) -> Tensor:
        """``(B, T)`` bool, True on real tokens."""
        return self.attention_mask.bool()

    def to(self, device: torch.device | str, non_blocking: bool = False) -> TokenizedText:
        return TokenizedText(
            self.input_ids.to(device, non_blocking=non_blocking),
            self.attention_mask.to(device, non_blocking=non_blocking),
        )

    def pin_memory(self) -> TokenizedText:
        return TokenizedText(self.input_ids.pin_memory(), self.attention_mask.pin_memory())


def tokenize(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], max_length: int) -> TokenizedText:
    """Tokenise and pad ``texts`` with a Hugging Face tokenizer (special tokens added, truncated to ``max_length``)."""
    texts = list(texts)
    if not texts:
        raise ValueError("tokenize: no texts given")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"text {i} is {type(text).__name__}, expected str")
    encoded = tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    return TokenizedText(encoded["input_ids"].long(), encoded["attention_mask"].long())


def check_model_dir(path: str | PathLike[str]) -> Path:
    """``path`` as a :class:`Path` if it looks like a complete local model directory, else a clear error."""
    folder = Path(path).expanduser()
    if not folder.exists():
        raise TextEncoderError(
            f"{folder}: text-encoder directory does not exist (models load from local paths only)"
        )
    if not folder.is_dir():
        raise TextEncoderError(f"{folder}: not a directory (expected a Hugging Face model directory)")
    if not (folder / "config.json").is_file():
        raise TextEncoderError(f"{folder}: no config.json")
    if not any((folder / name).is_file() for name in _WEIGHT_FILES):
        raise TextEncoderError(f"{folder}: no weights (expected one of {', '.join(_WEIGHT_FILES)})")
    if not any((folder / name).is_file() for name in _TOKENIZER_FILES):
        raise TextEncoderError(
            f"{folder}: no tokenizer files (expected one of {', '.join(_TOKENIZER_FILES)})"
        )
    return folder


def check_files_dir(path: str | PathLike[str]) -> Path:
    """``path`` if it holds a model ``config.json`` and tokenizer files (weights not needed), else a clear error."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise TextEncoderError(f"{folder}: text-encoder directory does not exist")
    if not (folder / "config.json").is_file():
        raise TextEncoderError(f"{folder}: no config.json (the text model's Hugging Face config)")
    if not any((folder / name).is_file() for name in _TOKENIZER_FILES):
        raise TextEncoderError(
            f"{folder}: no tokenizer files (expected one of {', '.join(_TOKENIZER_FILES)})"
        )
    return folder


class TextEncoder(nn.Module):
    """A transformers encoder + its tokenizer: ``forward(tokens) -> (B, T, H)`` last hidden states.

    Args:
        model: The encoder (``AutoModel``); for encoder–decoder models only the encoder is kept. A pooler, if the
            model has one, is dropped (ProtCLIP pools the hidden states itself; an unused pooler would only
            leave parameters without gradients).
        tokenizer: Its tokenizer.
        frozen: No gradients and eval mode (the seed's ``text_model_fixed True``).
        max_length: Truncation length in tokens (seed: 512); at most the model's ``max_position_embeddings``
            (else :class:`~protalign.errors.TextEncoderError`).
    """

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        *,
        frozen: bool = True,
        max_length: int = 512,
    ) -> None:
        super().__init__()
        if getattr(model.config, "is_encoder_decoder", False):
            model = model.get_encoder()
        if getattr(model, "pooler", None) is not None:
            model.pooler = None
        positions = getattr(model.config, "max_position_embeddings", None)
        if isinstance(positions, int) and max_length > positions:
            raise TextEncoderError(
                f"{model.config.name_or_path or type(model).__name__}: max_length {max_length} tokens, but the "
                f"text model has {positions} positions (lower max_length / ProtCLIPConfig.max_text_length)"
            )
        self.model = model
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.frozen = frozen
        self.output_dim: int = int(model.config.hidden_size)
        if frozen:
            self.model.requires_grad_(False)
            self.model.eval()

    @classmethod
    def from_pretrained(
        cls, path: str | PathLike[str], *, frozen: bool = True, max_length: int = 512, **model_kwargs: Any
    ) -> TextEncoder:
        """Load ``AutoTokenizer`` and ``AutoModel`` from a local directory (never from the Hub)."""
        from transformers import AutoModel, AutoTokenizer

        folder = check_model_dir(path)
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        except Exception as exc:
            raise TextEncoderError(
                f"{folder}: cannot load the tokenizer: {type(exc).__name__}: {exc}"
            ) from exc
        try:
            model = AutoModel.from_pretrained(str(folder), local_files_only=True, **model_kwargs)
        except Exception as exc:  # safetensors, torch and transformers each raise their own types
            raise TextEncoderError(f"{folder}: cannot load the model: {type(exc).__name__}: {exc}") from exc
        return cls(model, tokenizer, frozen=frozen, max_length=max_length)

    @classmethod
    def from_files(
        cls, path: str | PathLike[str], *, frozen: bool = True, max_length: int = 512
    ) -> TextEncoder:
        """The architecture of ``path/config.json`` (random weights) with the tokenizer of ``path``: the text
        encoder of a saved ProtCLIP, whose weights are then loaded from the ProtCLIP's ``model.safetensors``."""
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        folder = check_files_dir(path)
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
            config = AutoConfig.from_pretrained(str(folder), local_files_only=True)
        except Exception as exc:  # transformers raises OSError / ValueError / its own types
            raise TextEncoderError(
                f"{folder}: cannot load the text encoder files: {type(exc).__name__}: {exc}"
            ) from None
        try:
            model = AutoModel.from_config(config)
        except Exception as exc:
            raise TextEncoderError(
                f"{folder}/config.json: cannot build the model: {type(exc).__name__}: {exc}"
            ) from None
        return cls(model, tokenizer, frozen=frozen, max_length=max_length)

    def save_files(self, path: str | PathLike[str]) -> Path:
        """Write the model's ``config.json`` and the tokenizer files (not the weights) into ``path``, replacing
        what is there (written to a temporary folder beside it, then renamed)."""
        folder = Path(path)
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
        try:
            self.model.config.save_pretrained(str(tmp))
            self.tokenizer.save_pretrained(str(tmp))
            if folder.exists():
                shutil.rmtree(folder)
            os.replace(tmp, folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return folder

    def train(self, mode: bool = True) -> TextEncoder:
        super().train(mode)
        if self.frozen:
            self.model.eval()
        return self

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def tokenize(self, texts: Sequence[str], max_length: int | None = None) -> TokenizedText:
        """Tokenise and pad ``texts`` (special tokens added, truncated to ``max_length`` tokens)."""
        return tokenize(self.tokenizer, texts, max_length or self.max_length)

    def forward(self, tokens: TokenizedText) -> Tensor:
        """Last hidden states ``(B, T, H)``; padding positions are whatever the model outputs there."""
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            out = self.model(input_ids=tokens.input_ids, attention_mask=tokens.attention_mask)
        return out.last_hidden_state  # (B, T, H)
