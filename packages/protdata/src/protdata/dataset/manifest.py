"""``manifest.json`` of a sharded dataset: what the shards are, their order, counts, fingerprint, options, skips.

Keys: ``format`` (:data:`FORMAT`), ``format_version`` (:data:`FORMAT_VERSION`), ``proteins``, ``residues``,
``bytes``, ``fingerprint``, ``shards`` (``name``, ``proteins``, ``residues``, ``bytes``, ``digest``), ``order``
(runs ``[shard index, first row, end row]``: the dataset is the runs in this order), ``options`` (the parse
options), ``sources`` (``path``, ``kind``, ``generation``), ``generations`` (one entry per build / append:
sources, world size, workers, seconds), ``skipped`` (``source``, ``member``, ``error``, ``reason``, ``number``,
``generation``), ``n_skipped``, ``too_short``, ``ignored``.

The fingerprint is the SHA-256 of the per-protein content digests (stored in the shards) in dataset order; the
order is the canonical source order, so the fingerprint does not depend on the number of workers or ranks nor on
how members were split among them.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from protdata.errors import DatasetError

FORMAT = "protdata-sharded-dataset"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"


class ManifestError(DatasetError):
    """``manifest.json`` is missing, unreadable, of another format version, or inconsistent."""


class ShardError(DatasetError):
    """A shard is missing, or its size or digest differs from the manifest's (names the shard)."""


def read_manifest(directory: Path) -> dict[str, Any]:
    """The manifest of the dataset in ``directory``, checked for format and consistency.

    Raises:
        ManifestError: no such directory or manifest, unreadable JSON, another format (version), or counts that
            do not add up.
    """
    if not directory.is_dir():
        raise ManifestError(directory, "no such dataset directory")
    path = directory / MANIFEST
    if not path.is_file():
        raise ManifestError(path, "no manifest: not a sharded dataset (build one with apps/preprocess.py)")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ManifestError(path, f"unreadable manifest ({type(exc).__name__}: {exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ManifestError(path, f"not a {FORMAT} manifest")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise ManifestError(
            path,
            f"format version {version!r}; this protdata reads version {FORMAT_VERSION} (rebuild the dataset)",
        )
    for key in ("shards", "order", "proteins", "fingerprint"):
        if key not in manifest:
            raise ManifestError(path, f"key {key!r} is missing")
    shards = manifest["shards"]
    total = 0
    for run in manifest["order"]:
        s, lo, hi = run
        if not (0 <= s < len(shards) and 0 <= lo <= hi <= shards[s]["proteins"]):
            raise ManifestError(path, f"order run {run} does not fit the shards")
        total += hi - lo
    if total != manifest["proteins"]:
        raise ManifestError(
            path, f"the order lists {total} proteins, the manifest counts {manifest['proteins']}"
        )
    return manifest


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as JSON to ``path`` via a temporary sibling + rename (readers never see half a file)."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def fingerprint(digest_runs: Iterable[bytes]) -> str:
    """``sha256:<hex>`` of the concatenated per-protein digests, in dataset order."""
    h = hashlib.sha256()
    for chunk in digest_runs:
        h.update(chunk)
    return "sha256:" + h.hexdigest()
