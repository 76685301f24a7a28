"""Streaming reader over tar archives of structure files (the AlphaFold DB bulk-download format).

AlphaFold DB ships proteomes as ``.tar`` files of ``*.cif.gz`` / ``*.pdb.gz`` members. The archive is read with
``tarfile`` in stream mode (``r|*``: plain, gzip, bzip2 or xz), member by member, each member's bytes go straight
to the parser, and nothing is written to disk. Members whose path could escape the archive (absolute paths,
``..``, symbolic or hard links, devices, FIFOs) raise :class:`~protdata.errors.UnsafeArchiveError` (or are skipped
and reported with ``on_unsafe="skip"``); members that fail to parse are skipped and reported; members whose
extension is not a structure format (e.g. PAE ``.json``) are listed in ``report.ignored``.
"""

from __future__ import annotations

import os
import posixpath
import re
import tarfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Literal

from protdata.errors import ProtdataError, StructureParseError, UnsafeArchiveError
from protdata.io.formats import format_from_name
from protdata.io.loaders import load_structure
from protdata.io.report import LoadReport, LoadResult
from protdata.protein import Protein

_DRIVE = re.compile(r"^[A-Za-z]:")
_TAR_NAME = re.compile(r"\.(tar|tar\.gz|tgz|tar\.bz2|tbz2|tar\.xz|txz)$", re.IGNORECASE)


def is_tar_name(name: str) -> bool:
    """Whether a file name looks like a (compressed) tar archive."""
    return bool(_TAR_NAME.search(name))


def unsafe_member_reason(member: tarfile.TarInfo) -> str | None:
    """Why ``member`` could escape the archive if extracted, or ``None`` if it is safe."""
    name = member.name
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        return f"absolute path {name!r}"
    if ".." in re.split(r"[\\/]", name):
        return f"path {name!r} contains '..'"
    if member.issym():
        return f"symbolic link to {member.linkname!r}"
    if member.islnk():
        return f"hard link to {member.linkname!r}"
    if member.isdev():
        return "device or FIFO"
    return None


def iter_archive(
    source: str | os.PathLike[str] | BinaryIO,
    *,
    report: LoadReport | None = None,
    on_unsafe: Literal["raise", "skip"] = "raise",
    **load_kwargs,
) -> Iterator[Protein]:
    """Yield the proteins of every structure member of a tar archive, in archive order, without extracting it.

    Args:
        source: Path to the archive or a binary file object positioned at its start (read sequentially once).
        report: Filled with per-member outcomes (loaded, skipped with reason, ignored).
        on_unsafe: ``"raise"`` an :class:`UnsafeArchiveError` for a member whose path escapes the archive, or
            ``"skip"`` it (reported).
        **load_kwargs: ``model``, ``residue_rule``, ``altloc``, ``plddt`` as for :func:`protdata.load_chains`.

    Raises:
        UnsafeArchiveError: a member path escapes the archive (with ``on_unsafe="raise"``).
        StructureParseError: the archive itself is corrupt or truncated (members before the damage are yielded).
    """
    if on_unsafe not in ("raise", "skip"):
        raise ValueError(f"on_unsafe must be 'raise' or 'skip', got {on_unsafe!r}")
    report = LoadReport() if report is None else report
    if isinstance(source, (str, os.PathLike)):
        label = str(source)
        opener = {"name": str(Path(source)), "mode": "r|*"}
    else:
        label = str(getattr(source, "name", "") or "<archive>")
        opener = {"fileobj": source, "mode": "r|*"}
    try:
        with tarfile.open(**opener) as tar:  # type: ignore[call-overload]
            for member in tar:
                where = f"{label}::{member.name}"
                problem = unsafe_member_reason(member)
                if problem is not None:
                    exc = UnsafeArchiveError(where, f"member escapes the archive: {problem}")
                    if on_unsafe == "raise":
                        raise exc
                    report.add_skipped(where, exc)
                    continue
                if not member.isfile():
                    continue
                name = posixpath.basename(member.name)
                if format_from_name(name) is None and "." in name:
                    report.ignored.append(where)
                    continue
                handle = tar.extractfile(member)
                data = handle.read() if handle is not None else b""
                try:
                    loaded = load_structure(data, name=name, label=where, **load_kwargs)
                except ProtdataError as exc:
                    report.add_skipped(where, exc)
                    continue
                proteins = loaded.proteins
                report.add_loaded(len(proteins))
                yield from proteins
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise StructureParseError(label, f"corrupt or truncated tar archive ({exc})") from exc
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise StructureParseError(label, f"cannot read tar archive ({exc})") from exc


def load_archive(source: str | os.PathLike[str] | BinaryIO, **kwargs) -> LoadResult:
    """All proteins of a tar archive plus the :class:`LoadReport` (arguments as :func:`iter_archive`)."""
    report = kwargs.pop("report", None) or LoadReport()
    proteins = list(iter_archive(source, report=report, **kwargs))
    report.log()
    return LoadResult(proteins, report)
