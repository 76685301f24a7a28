"""Weight manifest: what each known checkpoint must contain, so a wrong or truncated file is a clear error.

Every known checkpoint name maps to a size preset (``ESM2Config.PRESETS``), from which the expected shape of
every tensor follows (:meth:`ESM2Config.expected_shapes`), and to the sha256 of its files where known. A file
whose name is known but whose tensors describe another size, a tensor of the wrong shape, a missing tensor or
an unknown one raises :class:`~protenc_seq.errors.CheckpointError` naming the file and the tensor.

No sha256 is pinned here yet: none of the official files is available offline to hash, and a digest copied
from memory would be worse than none. :func:`register_sha256` pins one (e.g. from a deployment's own copy);
``load_model(..., verify_sha256=True)`` then checks it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from torch import Tensor

from protenc_seq.errors import CheckpointError
from protenc_seq.esm2.config import PRESETS, ESM2Config

#: Tensors a checkpoint may lack: contact regression (a separate fair-esm file), the LM head (Hugging Face
#: ``EsmModel`` checkpoints) and the rotary table (recomputed, with a warning).
OPTIONAL = re.compile(r"^(contact_head\.regression\.|lm_head\.|rotary\.inv_freq$)")


@dataclass(frozen=True)
class ManifestEntry:
    """A published checkpoint: its size preset and the sha256 of its files (``None`` = not pinned)."""

    name: str
    preset: str
    sha256: dict[str, str | None] = field(default_factory=dict)

    @property
    def config(self) -> ESM2Config:
        return ESM2Config.preset(self.preset)


MANIFEST: dict[str, ManifestEntry] = {
    name: ManifestEntry(
        name,
        name,
        {f"{name}.pt": None, f"{name}-contact-regression.pt": None, "model.safetensors": None}
        if name.startswith("esm2")
        else {"pytorch_model.bin": None, f"{name}.pt": None},
    )
    for name in PRESETS
}


def register_sha256(name: str, filename: str, sha256: str) -> None:
    """Pin the sha256 of ``filename`` of the known checkpoint ``name``."""
    if name not in MANIFEST:
        raise KeyError(f"unknown checkpoint {name!r}; known: {', '.join(sorted(MANIFEST))}")
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise ValueError(f"not a sha256 hex digest: {sha256!r}")
    MANIFEST[name].sha256[filename] = sha256


def lookup(path: str | Path) -> ManifestEntry | None:
    """The manifest entry whose name appears in ``path``'s file or directory name (longest match), if any."""
    parts = [p.lower() for p in Path(path).parts[-3:]]
    best = None
    for name, entry in MANIFEST.items():
        if any(name.lower() in part for part in parts) and (best is None or len(name) > len(best.name)):
            best = entry
    return best


def describe(config: ESM2Config) -> str:
    return (
        f"{config.num_layers} layers × {config.embed_dim} wide, {config.attention_heads} heads, "
        f"{config.vocab_size}-token vocabulary"
    )


def check_against_entry(entry: ManifestEntry, config: ESM2Config, source: str) -> None:
    """Raise if ``config`` (read from the file) is not the size the manifest expects for ``entry``."""
    want = entry.config
    fields = ("num_layers", "embed_dim", "attention_heads", "vocab", "ffn")
    if any(getattr(want, f) != getattr(config, f) for f in fields):
        raise CheckpointError(
            source,
            f"named like {entry.name} ({describe(want)}) but holds a {describe(config)} model -- wrong or renamed file",
        )


def check_state_dict(state: Mapping[str, Tensor], config: ESM2Config, source: str) -> list[str]:
    """Check every tensor of ``state`` (our names) against ``config``'s shapes.

    Returns the optional tensors that are missing; raises :class:`CheckpointError` for a missing required
    tensor, an unknown tensor or a shape mismatch.
    """
    expected = config.expected_shapes()
    unknown = sorted(set(state) - set(expected))
    if unknown:
        raise CheckpointError(
            source, f"unexpected tensor(s) for a {describe(config)} model: {', '.join(unknown[:5])}"
        )
    for name, shape in expected.items():
        if name in state and tuple(state[name].shape) != shape:
            raise CheckpointError(
                source,
                f"tensor {name} has shape {tuple(state[name].shape)}, expected {shape} for a {describe(config)} model",
            )
    missing = [name for name in expected if name not in state]
    required = [name for name in missing if not OPTIONAL.match(name)]
    if required:
        raise CheckpointError(
            source,
            f"{len(required)} tensor(s) missing for a {describe(config)} model (truncated or partial checkpoint?), "
            f"first: {required[0]}",
        )
    return missing


def sha256_of(path: Path, chunk: int = 1 << 24) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def verify_files(entry: ManifestEntry, files: list[Path]) -> None:
    """Check the sha256 of ``files`` whose digest is pinned in ``entry``."""
    for path in files:
        want = entry.sha256.get(path.name)
        if want is not None and (got := sha256_of(path)) != want:
            raise CheckpointError(path, f"sha256 {got} does not match the manifest's {want} for {entry.name}")
