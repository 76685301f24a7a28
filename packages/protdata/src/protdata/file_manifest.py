"""A manifest of a directory's files (size + sha256 of each), written after them and checked before they are
read: a directory cut short by a killed process, a truncated or corrupted file is found before anything loads it
(the training apps' checkpoints)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from protdata.atomic import write_json_atomic
from protdata.errors import ProtdataError

__all__ = ["FileManifestError", "file_sha256", "verify_file_manifest", "write_file_manifest"]


class FileManifestError(ProtdataError):
    """A manifest is missing or unreadable, or a file it lists is missing, of another size or content."""


def file_sha256(path: Path) -> str:
    """The hex sha256 of a file's bytes."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def write_file_manifest(directory: Path, name: str, fmt: str, **extra: Any) -> dict[str, Any]:
    """Write ``directory/name`` (atomically): ``{"format": fmt, **extra, "files": {relative path: {"bytes",
    "sha256"}}}`` of every file below ``directory`` (sorted); returns it."""
    files = {
        str(p.relative_to(directory)): {"bytes": p.stat().st_size, "sha256": file_sha256(p)}
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p != directory / name
    }
    manifest = {"format": fmt, **extra, "files": files}
    write_json_atomic(directory / name, manifest)
    return manifest


def verify_file_manifest(directory: Path, name: str, fmt: str, *, what: str = "directory") -> dict[str, Any]:
    """Check every file ``directory/name`` lists (present, same size, same sha256); returns the manifest.

    Raises:
        FileManifestError: naming the directory (no manifest: ``incomplete <what>``), the manifest (unreadable,
            another ``format``) or the file (``<what> file is missing``, ``corrupted <what> file (…)``).
    """
    path = directory / name
    if not path.is_file():
        raise FileManifestError(directory, f"incomplete {what} (no {name}; was the run killed while saving?)")
    try:
        manifest = json.loads(path.read_text())
        files = manifest["files"]
    except (ValueError, KeyError, TypeError) as exc:
        reason = " ".join(part.strip() for part in str(exc).splitlines() if part.strip())
        raise FileManifestError(path, f"unreadable manifest ({reason})") from None
    if manifest.get("format") != fmt:
        raise FileManifestError(path, f"not a protstack {what} manifest")
    for rel, meta in files.items():
        f = directory / rel
        if not f.is_file():
            raise FileManifestError(f, f"{what} file is missing")
        size = f.stat().st_size
        if size != meta["bytes"]:
            raise FileManifestError(
                f, f"corrupted {what} file ({size} bytes, the manifest says {meta['bytes']})"
            )
        if file_sha256(f) != meta["sha256"]:
            raise FileManifestError(f, f"corrupted {what} file (sha256 differs from the manifest)")
    return manifest
