"""``load_model`` / ``load_encoder``: any supported checkpoint path -> our model or encoder.

Recognised (local paths only; nothing is ever downloaded):

* a fair-esm or SaProt ``.pt`` / ``.pth`` file (with ``<stem>-contact-regression.pt`` beside it if present);
* a Hugging Face ESM directory (``config.json`` with ``model_type: esm``);
* our own ``.safetensors`` file (``save_safetensors``), or a directory holding exactly one;
* ESM C: a transformers directory (``model_type: esmc``) or an ``esm``-package state dict (``.pth`` / ``.pt`` /
  ``.safetensors``; ``protenc_seq.esmc.loading``), loaded as :class:`~protenc_seq.esmc.ESMC`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import torch

from protenc_seq.errors import CheckpointError
from protenc_seq.esm2.config import ESM2Config
from protenc_seq.esm2.model import ESM2
from protenc_seq.esmc.config import ESMCConfig
from protenc_seq.esmc.loading import is_esm_package_file, is_esmc_huggingface_dir, load_esmc
from protenc_seq.esmc.model import ESMC
from protenc_seq.loading.checkpoint import RawCheckpoint, build_model
from protenc_seq.loading.fair_esm import read_fair_esm
from protenc_seq.loading.huggingface import is_huggingface_dir, read_huggingface
from protenc_seq.loading.native import is_native, read_safetensors

Format = Literal["fair_esm", "huggingface", "safetensors", "esmc_huggingface", "esmc_esm"]


def detect_format(path: str | Path) -> Format:
    """Which reader ``path`` needs; a :class:`CheckpointError` says why when none fits."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(path, "no such file or directory")
    if path.is_dir():
        if is_esmc_huggingface_dir(path):
            return "esmc_huggingface"
        if is_huggingface_dir(path):
            return "huggingface"
        ours = [p for p in path.glob("*.safetensors") if is_native(p)]
        if len(ours) == 1:
            return "safetensors"
        raise CheckpointError(
            path, "directory is neither a Hugging Face ESM model (config.json with model_type 'esm') nor ours"
        )
    if path.suffix in (".pt", ".pth"):
        return "esmc_esm" if is_esm_package_file(path) else "fair_esm"
    if path.suffix == ".safetensors":
        if is_native(path):
            return "safetensors"
        if is_esm_package_file(path):
            return "esmc_esm"
        raise CheckpointError(
            path, "a safetensors file without protenc-seq metadata; pass its Hugging Face directory instead"
        )
    if path.suffix == ".bin":
        raise CheckpointError(
            path, "a bare pytorch_model.bin; pass the Hugging Face directory holding config.json"
        )
    raise CheckpointError(
        path, f"unknown checkpoint type {path.suffix!r} (expected .pt, .safetensors or a directory)"
    )


def read_checkpoint(path: str | Path) -> RawCheckpoint:
    """Read ``path`` (any supported format) into our tensor names, without building a model."""
    path = Path(path)
    fmt = detect_format(path)
    if fmt.startswith("esmc"):
        raise CheckpointError(
            path, "an ESM C checkpoint: load it with load_model (or protenc_seq.esmc.load_esmc)"
        )
    if fmt == "fair_esm":
        return read_fair_esm(path)
    if fmt == "huggingface":
        return read_huggingface(path)
    if path.is_dir():
        path = next(p for p in path.glob("*.safetensors") if is_native(p))
    return read_safetensors(path)


def load_model(
    path: str | Path,
    *,
    expect: str | ESM2Config | ESMCConfig | None = None,
    dtype: torch.dtype = torch.float32,
    verify_sha256: bool = False,
) -> ESM2 | ESMC:
    """Load an :class:`ESM2` (ESM-2 or SaProt) or :class:`ESMC` from a local checkpoint, in eval mode.

    Args:
        path: fair-esm ``.pt``, Hugging Face directory or our ``.safetensors``; for ESM C a transformers
            ``esmc`` directory or an ``esm``-package state dict.
        expect: A preset name (``"650M"``, ``"SaProt_650M_AF2"``, ``"esmc_300m"``) or config the file must match.
        dtype: Parameter dtype.
        verify_sha256: Compare file hashes with the manifest where pinned (ESM-2 / SaProt).
    """
    if detect_format(path).startswith("esmc"):
        if isinstance(expect, ESM2Config):
            raise CheckpointError(
                path, f"expected an ESM-2 / SaProt model ({expect.name or 'custom'}), found ESM C"
            )
        return load_esmc(path, expect=expect, dtype=dtype)
    if isinstance(expect, ESMCConfig):
        raise CheckpointError(path, "expected an ESM C model, found an ESM-2 / SaProt checkpoint")
    return build_model(read_checkpoint(path), expect=expect, dtype=dtype, verify_sha256=verify_sha256)


def load_encoder(
    path: str | Path, *, expect: str | ESM2Config | ESMCConfig | None = None, **encoder_options: Any
):
    """The encoder for a local checkpoint: :class:`ESM2Encoder` (33-token vocabulary), :class:`SaProtEncoder`
    (446 tokens) or :class:`~protenc_seq.esmc.ESMCEncoder`. ``encoder_options`` go to the encoder (``on_long``,
    ``nonstandard``, ``precision``, …)."""
    from protenc_seq.encoder import encoder_for

    model = load_model(path, expect=expect)
    if isinstance(model, ESMC):
        from protenc_seq.esmc.encoder import ESMCEncoder

        return ESMCEncoder(model, **encoder_options)
    return encoder_for(model, **encoder_options)
