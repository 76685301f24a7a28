"""Batch loading over many files, directories, globs and tar archives; bad files are skipped and reported.

A batch job never dies on one bad file and never drops one silently: every source that fails is listed in the
:class:`~protdata.io.report.LoadReport` with the reason from its :class:`~protdata.errors.ProtdataError` (or
``OSError``), and a one-line summary is logged on the ``protdata.io`` logger when :func:`load_many` finishes.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from protdata.errors import ProtdataError
from protdata.io.archive import is_tar_name, iter_archive
from protdata.io.formats import format_from_name
from protdata.io.loaders import load_structure
from protdata.io.report import LoadReport, LoadResult, SkippedSource
from protdata.protein import Protein

__all__ = ["LoadReport", "LoadResult", "SkippedSource", "iter_structures", "load_many"]

PathSpec = str | os.PathLike[str]
_GLOB_CHARS = frozenset("*?[")


def _looks_like_structure(name: str) -> bool:
    """Directory entries taken as structures: a structure extension (``.gz`` ignored), a tar, or no extension."""
    return format_from_name(name) is not None or is_tar_name(name) or "." not in name


def expand_sources(
    sources: PathSpec | Iterable[PathSpec],
    report: LoadReport,
    accept: Callable[[str], bool] = _looks_like_structure,
) -> list[Path]:
    """Files to read, in order: explicit files as given, directories walked recursively (sorted), globs expanded.

    Directory entries whose name ``accept`` rejects (default: not structure-like, :func:`_looks_like_structure`;
    hidden files are always excluded) are listed in ``report.ignored``; a path that does not exist, or a glob that
    matches nothing, is reported as skipped.
    """
    items = [sources] if isinstance(sources, (str, os.PathLike)) else list(sources)
    files: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            for root, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for fname in sorted(names):
                    full = Path(root) / fname
                    if not fname.startswith(".") and accept(fname):
                        files.append(full)
                    else:
                        report.ignored.append(str(full))
        elif path.is_file():
            files.append(path)
        elif _GLOB_CHARS & set(str(item)):
            matches = sorted(glob.glob(str(item), recursive=True))
            if not matches:
                report.add_skipped(
                    str(item), FileNotFoundError(f"no file matches {str(item)!r}"), counted=False
                )
            files.extend(expand_sources(matches, report, accept) if matches else [])
        else:
            report.add_skipped(str(item), FileNotFoundError(f"{item}: no such file or directory"))
    return files


def iter_structures(
    sources: PathSpec | Iterable[PathSpec],
    *,
    report: LoadReport | None = None,
    **load_kwargs,
) -> Iterator[Protein]:
    """Yield the proteins of many structure files (and tar archives) lazily, skipping and reporting bad ones.

    Args:
        sources: A file, directory (walked recursively) or glob pattern, or an iterable of them.
        report: Receives counts and skipped sources (create one and pass it in to inspect it afterwards).
        **load_kwargs: ``model``, ``residue_rule``, ``altloc``, ``plddt`` as for :func:`protdata.load_chains`.
    """
    report = LoadReport() if report is None else report
    for path in expand_sources(sources, report):
        if is_tar_name(path.name):
            try:
                # an escaping member is refused and reported; the archive's other members still load
                yield from iter_archive(path, report=report, on_unsafe="skip", **load_kwargs)
            except (ProtdataError, OSError) as exc:
                report.add_skipped(str(path), exc, counted=False)
            continue
        try:
            loaded = load_structure(path, **load_kwargs)
        except (ProtdataError, OSError) as exc:
            report.add_skipped(str(path), exc)
            continue
        proteins = loaded.proteins
        report.add_loaded(len(proteins))
        yield from proteins


def load_many(sources: PathSpec | Iterable[PathSpec], **load_kwargs) -> LoadResult:
    """All proteins of many files / directories / globs / archives, plus a :class:`LoadReport`.

    Logs the report's one-line summary (warning level if anything was skipped). Example::

        proteins, report = protdata.io.load_many(["pdbs/", "afdb/*.tar"])
        print(report)  # summary + one line per skipped file with its reason
    """
    report = load_kwargs.pop("report", None) or LoadReport()
    proteins = list(iter_structures(sources, report=report, **load_kwargs))
    report.log()
    return LoadResult(proteins, report)
