"""Checkpoint reading and writing: fair-esm ``.pt``, Hugging Face directories, our safetensors; the manifest."""

from protenc_seq.loading.auto import detect_format, load_encoder, load_model, read_checkpoint
from protenc_seq.loading.huggingface import save_huggingface
from protenc_seq.loading.manifest import MANIFEST, register_sha256
from protenc_seq.loading.native import save_safetensors

__all__ = [
    "MANIFEST",
    "detect_format",
    "load_encoder",
    "load_model",
    "read_checkpoint",
    "register_sha256",
    "save_huggingface",
    "save_safetensors",
]
