"""The preprocessed structure cache: a dataset's structure files parsed once into :class:`PackedProteins`.

:func:`build_structure_cache` loads the files named by some sources (files, directories, globs, archives) with
:func:`protdata.io.load_many` (bad files are skipped and reported) and stores the packed proteins under
``cache_dir/<key>``, where the key hashes the files' paths, sizes and modification times and the loading options.
A later call with the same files reuses the entry without parsing anything (TorchDrug's per-epoch re-parsing is
the complaint of torchdrug #144 / #182).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from protdata.errors import DatasetError
from protdata.io import LoadReport, load_many
from protdata.io.collection import expand_sources
from protdata.packed import PACKED_FORMAT, PackedProteins
from protdata.protein import Protein

__all__ = ["build_structure_cache", "cache_key", "list_structure_files", "structure_cache_key"]


def _load_chunk(files: list[str]) -> tuple[list[Protein], LoadReport]:
    result = load_many(files)
    return result.proteins, result.report


def list_structure_files(
    sources: Sequence[str | os.PathLike[str]], *, key: str = "sources"
) -> tuple[list[Path], LoadReport]:
    """The structure files named by ``sources`` (files, directories, globs) in order, and the listing report
    (``ignored``: entries that are not structure files).

    Raises:
        DatasetError: a source does not exist, or no structure file was found (the message starts with ``key``,
            e.g. the config key the sources came from).
    """
    report = LoadReport()
    files = expand_sources([str(s) for s in sources], report)
    missing = [s for s in report.skipped if s.error == "FileNotFoundError"]
    if missing:
        raise DatasetError(key, f"{missing[0].source}: no such file or directory")
    if not files:
        shown = ", ".join(str(s) for s in sources)
        extra = f" ({len(report.ignored)} non-structure files ignored)" if report.ignored else ""
        raise DatasetError(key, f"no structure files in {shown}{extra}")
    return files, report


def cache_key(files: Sequence[Path], options: dict[str, Any]) -> str:
    """A hash of the files (absolute path, size, mtime), the loading options and the packed format."""
    h = hashlib.sha256()
    h.update(json.dumps({"format": PACKED_FORMAT, **options}, sort_keys=True).encode())
    for f in files:
        st = f.stat()
        h.update(f"{f.resolve()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:24]


def _load_files(paths: list[str], parse_workers: int) -> tuple[list[Protein], LoadReport]:
    """Parse ``paths`` in order, in ``parse_workers`` processes when there are enough files."""
    if parse_workers <= 1 or len(paths) < 4 * parse_workers:
        return _load_chunk(paths)
    chunks = [paths[i::parse_workers] for i in range(parse_workers)]
    with ProcessPoolExecutor(parse_workers) as pool:
        parts = list(pool.map(_load_chunk, chunks))
    order = {p: i for i, p in enumerate(paths)}
    proteins = sorted((p for ps, _ in parts for p in ps), key=lambda p: (order.get(p.source or "", 0), p.id))
    report = LoadReport()
    for _, r in parts:
        report.n_sources += r.n_sources
        report.n_loaded += r.n_loaded
        report.n_proteins += r.n_proteins
        report.skipped.extend(r.skipped)
    return proteins, report


def build_structure_cache(
    sources: Sequence[str | os.PathLike[str]],
    cache_dir: str | os.PathLike[str] | None,
    *,
    min_length: int = 1,
    parse_workers: int = 1,
    encode_3di: bool = False,
    key: str = "sources",
) -> tuple[PackedProteins, dict[str, Any], bool]:
    """Load (or reuse) the preprocessed cache of ``sources``: ``(packed, report, was_cached)``.

    ``report`` (also ``packed.metadata``) holds ``summary`` (the one-line load summary), ``skipped``
    (``[source, error, reason]`` per bad file or, with ``encode_3di``, per protein Foldseek's encoder cannot
    take), ``too_short`` (ids left out by ``min_length``) and ``files``. ``encode_3di`` stores each protein's
    Foldseek 3Di string (SaProt's structure tokens, :func:`protdata.foldseek.encode_3di`). ``cache_dir=None``
    builds in memory only. ``key`` starts every error message (e.g. the config key of ``sources``).

    Raises:
        DatasetError: a source is missing, no structure file, or no usable protein in any of them (names the
            first failure).
    """
    files, listing = list_structure_files(sources, key=key)
    entry = (
        Path(cache_dir) / cache_key(files, _options(min_length, encode_3di))
        if cache_dir is not None
        else None
    )
    if entry is not None and (entry / "index.json").is_file():
        try:
            packed = PackedProteins.load(entry)
            return packed, packed.metadata, True
        except DatasetError:
            shutil.rmtree(entry, ignore_errors=True)  # unreadable entry: rebuild it
    proteins, report = _load_files([str(f) for f in files], parse_workers)
    report.ignored.extend(listing.ignored)
    structured = [p for p in proteins if p.has_structure]
    if encode_3di:
        from protdata.foldseek import with_3di_or_skip

        structured = with_3di_or_skip(
            structured, lambda p, exc: report.add_skipped(p.source or p.id, exc, counted=False)
        )
    kept = [p for p in structured if len(p) >= min_length]
    too_short = [p.id for p in structured if len(p) < min_length]
    if not kept:
        first = report.skipped[0] if report.skipped else None
        why = f"; first failure: {first.source}: {first.error}: {first.reason}" if first else ""
        short = f"; {len(too_short)} shorter than min_length={min_length}" if too_short else ""
        raise DatasetError(
            key, f"no usable protein in {len(files)} structure files ({report.summary()}{short}){why}"
        )
    summary = {
        "summary": report.summary(),
        "skipped": [[s.source, s.error, s.reason] for s in report.skipped],
        "too_short": too_short,
        "files": len(files),
    }
    packed = PackedProteins.from_proteins(kept, metadata=summary)
    if entry is not None:
        packed.save(entry)
    return packed, summary, False


def _options(min_length: int, encode_3di: bool) -> dict[str, Any]:
    """The loading options a cache entry's key hashes."""
    options: dict[str, Any] = {"min_length": min_length, "protdata": _protdata_version()}
    if encode_3di:
        options["encode_3di"] = True
    return options


def structure_cache_key(
    sources: Sequence[str | os.PathLike[str]],
    *,
    min_length: int = 1,
    encode_3di: bool = False,
    key: str = "sources",
) -> str:
    """The key of the cache entry :func:`build_structure_cache` uses for these arguments (files are listed and
    stat-ed, not parsed): it changes when a file, its size or modification time, or an option changes.

    Raises:
        DatasetError: as :func:`list_structure_files`.
    """
    files, _ = list_structure_files(sources, key=key)
    return cache_key(files, _options(min_length, encode_3di))


def _protdata_version() -> str:
    import protdata

    return getattr(protdata, "__version__", "0")
