"""The members of preprocessing sources, in one canonical order: structure files, tar archives, foldcomp databases.

:func:`expand_leaves` turns the user's sources (files, directories walked in sorted order, globs) into *leaves*: a
structure file (one member), a tar archive (each regular member, streamed, never extracted; AlphaFold DB bulk
downloads) or a foldcomp database (each entry; Kim et al., Bioinformatics 2023, steineggerlab/foldcomp: the files
``name``, ``name.index``, ``name.lookup``, ``name.dbtype`` of an MMseqs2-style database). :func:`iter_members`
walks every leaf and numbers every member with one running counter; the caller's ``want(number)`` decides whose
bytes are read, so every process walks the same numbering and reads only its own members.
"""

from __future__ import annotations

import mmap
import os
import posixpath
import tarfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from protdata.errors import DatasetError, StructureParseError
from protdata.io.archive import is_tar_name, unsafe_member_reason
from protdata.io.collection import expand_sources
from protdata.io.formats import format_from_name
from protdata.io.report import LoadReport

LeafKind = Literal["file", "tar", "foldcomp"]
FOLDCOMP_SUFFIXES = (".index", ".lookup", ".dbtype", ".source")
_COMPRESSED_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")


@dataclass(frozen=True)
class Leaf:
    """One file-level source: its path and kind."""

    path: str
    kind: LeafKind


@dataclass
class Member:
    """One member to parse: its running number, where it came from, the loader's file name and its bytes.

    ``kind`` is ``"structure"`` (bytes of a PDB / mmCIF / BinaryCIF file, maybe gzip) or ``"foldcomp"``
    (a compressed foldcomp entry, decompressed by the worker).
    """

    number: int
    source: str
    member: str
    name: str
    kind: Literal["structure", "foldcomp"]
    data: bytes


@dataclass
class Skip:
    """A member that gives no protein: where and why (before parsing: unsafe path, unreadable archive)."""

    number: int
    source: str
    member: str
    error: str
    reason: str


@dataclass
class Listing:
    """What the walk saw besides members: non-structure entries ignored (counted for owned numbers only)."""

    ignored: int = 0
    members: int = 0
    extra: list[str] = field(default_factory=list)


def is_foldcomp_db(path: Path) -> bool:
    """Whether ``path`` is the data file of a foldcomp database (``path.index`` and ``path.dbtype`` beside it)."""
    return (
        path.is_file()
        and Path(f"{path}.index").is_file()
        and Path(f"{path}.dbtype").is_file()
        and not path.name.endswith(FOLDCOMP_SUFFIXES)
    )


def expand_leaves(sources: Sequence[str | os.PathLike[str]]) -> list[Leaf]:
    """The leaves of ``sources`` in canonical order (as given; directories sorted, recursively).

    Raises:
        DatasetError: a source does not exist or holds no structure file, archive or foldcomp database.
    """
    leaves: list[Leaf] = []
    for source in sources:
        path = Path(source)
        if is_foldcomp_db(path):
            leaves.append(Leaf(str(path), "foldcomp"))
            continue
        report = LoadReport()
        files = expand_sources([str(source)], report, accept=lambda name: True)
        if report.skipped:
            raise DatasetError(str(source), "no such file, directory or foldcomp database")
        companions = {f"{f}{s}" for f in files if is_foldcomp_db(f) for s in FOLDCOMP_SUFFIXES}
        found = []
        for f in files:
            if str(f) in companions:
                continue
            if is_foldcomp_db(f):
                found.append(Leaf(str(f), "foldcomp"))
            elif is_tar_name(f.name):
                found.append(Leaf(str(f), "tar"))
            elif format_from_name(f.name) is not None or "." not in f.name or not path.is_dir():
                found.append(Leaf(str(f), "file"))
        if not found:
            raise DatasetError(str(source), "no structure file, tar archive or foldcomp database in it")
        leaves.extend(found)
    return leaves


def iter_members(
    leaves: Sequence[Leaf], want: Callable[[int], bool], listing: Listing
) -> Iterator[Member | Skip]:
    """Every member of ``leaves`` numbered ``0, 1, …`` in canonical order; yields a :class:`Member` (bytes read)
    or a :class:`Skip` for the numbers ``want`` accepts and steps over the others without reading their bytes
    (a compressed tar is still decompressed as a stream)."""
    number = 0
    for leaf in leaves:
        if leaf.kind == "file":
            if want(number):
                try:
                    data = Path(leaf.path).read_bytes()
                except OSError as exc:
                    yield Skip(number, leaf.path, "", type(exc).__name__, str(exc))
                else:
                    yield Member(number, leaf.path, "", Path(leaf.path).name, "structure", data)
            number += 1
        elif leaf.kind == "tar":
            number = yield from _tar_members(leaf.path, number, want, listing)
        else:
            number = yield from _foldcomp_members(leaf.path, number, want)
    listing.members = number


def _tar_members(
    path: str, number: int, want: Callable[[int], bool], listing: Listing
) -> Iterator[Member | Skip]:
    """Members of one tar (same checks as :func:`protdata.io.iter_archive`); returns the next number.

    An uncompressed tar is read with seeks (members not wanted are never read); a compressed one as a stream. The
    member list tarfile keeps is cleared as it goes, so memory does not grow with the archive.
    """
    with open(path, "rb") as f:
        compressed = f.read(6).startswith(_COMPRESSED_MAGIC)
    start = number
    try:
        with tarfile.open(path, mode="r|*" if compressed else "r:") as tar:
            while (info := tar.next()) is not None:
                tar.members = []
                if not want(number):
                    number += 1
                    continue
                problem = unsafe_member_reason(info)
                name = posixpath.basename(info.name)
                if problem is not None:
                    yield Skip(
                        number,
                        path,
                        info.name,
                        "UnsafeArchiveError",
                        f"member escapes the archive: {problem}",
                    )
                elif not info.isfile():
                    pass
                elif format_from_name(name) is None and "." in name:
                    listing.ignored += 1
                else:
                    handle = tar.extractfile(info)
                    data = handle.read() if handle is not None else b""
                    yield Member(number, path, info.name, name, "structure", data)
                number += 1
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        err = StructureParseError(path, f"corrupt or truncated tar archive ({exc})")
        if want(number):
            yield Skip(number, path, f"#{number - start}", type(err).__name__, err.reason)
        number += 1
    return number


def read_foldcomp_index(path: str) -> list[tuple[int, int, int, str]]:
    """``(key, offset, length, name)`` of every entry of a foldcomp database, sorted by key (the order
    ``foldcomp.open`` reads). ``name`` comes from ``path.lookup`` (``""`` when it has none).

    Raises:
        DatasetError: the index is unreadable or malformed (names the file and line).
    """
    names: dict[int, str] = {}
    lookup = Path(f"{path}.lookup")
    if lookup.is_file():
        for line in lookup.read_text().splitlines():
            parts = line.split("\t")
            if len(parts) >= 2 and parts[0].isdigit():
                names[int(parts[0])] = parts[1]
    entries = []
    index = Path(f"{path}.index")
    try:
        lines = index.read_text().splitlines()
    except OSError as exc:
        raise DatasetError(str(index), f"cannot read the index ({exc})") from None
    for i, line in enumerate(lines, 1):
        try:
            key, offset, length = (int(v) for v in line.split("\t")[:3])
        except ValueError:
            if not line.strip():
                continue
            raise DatasetError(
                str(index), "not a foldcomp/MMseqs2 index line (key, offset, length)", line=i
            ) from None
        entries.append((key, offset, length, names.get(key, "")))
    entries.sort(key=lambda e: e[0])
    return entries


def _foldcomp_members(path: str, number: int, want: Callable[[int], bool]) -> Iterator[Member | Skip]:
    """Entries of one foldcomp database as compressed bytes (the worker decompresses); returns the next number."""
    entries = read_foldcomp_index(path)
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        try:
            for key, offset, length, name in entries:
                if want(number):
                    label = name or f"key {key}"
                    if offset + length > size or length < 1:
                        yield Skip(
                            number, path, label, "StructureParseError", "entry lies outside the data file"
                        )
                    else:
                        # an entry ends with a NUL byte (MMseqs2 DB convention; foldcomp strips it too)
                        yield Member(
                            number, path, label, name, "foldcomp", bytes(data[offset : offset + length - 1])
                        )
                number += 1
        finally:
            if isinstance(data, mmap.mmap):
                data.close()
    return number
