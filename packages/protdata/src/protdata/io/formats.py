"""Getting the bytes of a structure file and recognising its format.

Sources are paths, ``bytes`` or binary file-like objects (tar members). gzip is recognised by its magic bytes
(``1f 8b``), not only by a ``.gz`` name. The format comes from the extension (after ``.gz``), as in Foldseek
(gemmi's ``coor_format_from_ext``, GemmiWrapper.cpp ``load``); files without a known extension (e.g. SCOPe's
``d1asha_``) are recognised by content. Foldseek reads any unrecognised extension as PDB; here content that is
neither PDB, mmCIF nor BinaryCIF raises :class:`~protdata.errors.UnknownFormatError` instead.
"""

from __future__ import annotations

import gzip
import os
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from protdata.errors import StructureParseError, UnknownFormatError

StructureFormat = Literal["pdb", "mmcif", "bcif"]
FORMATS: tuple[str, ...] = ("pdb", "mmcif", "bcif")
Source = str | os.PathLike[str] | bytes | bytearray | memoryview | BinaryIO

_GZIP_MAGIC = b"\x1f\x8b"
_COMPRESSION_SUFFIXES = (".gz",)
_EXTENSIONS: dict[str, StructureFormat] = {
    ".pdb": "pdb",
    ".ent": "pdb",
    ".brk": "pdb",
    ".cif": "mmcif",
    ".mmcif": "mmcif",
    ".mcif": "mmcif",
    ".bcif": "bcif",
}
_PDB_ASSEMBLY = re.compile(r"\.pdb\d+$", re.IGNORECASE)  # biological assemblies: 1abc.pdb1
_PDB_RECORDS = re.compile(
    rb"^(?:ATOM  |ATOM \d|HETATM|HEADER|MODEL |CRYST1|REMARK|TITLE |COMPND|SOURCE|EXPDTA|SEQRES|KEYWDS|"
    rb"AUTHOR|DBREF |OBSLTE|SPLIT |CAVEAT|HELIX |SHEET |SSBOND|LINK  |ORIGX|SCALE)",
    re.MULTILINE,
)
_SNIFF_BYTES = 1 << 16


@dataclass(frozen=True)
class RawStructure:
    """A structure file's (decompressed) bytes with its name, where it came from, and its format."""

    data: bytes
    name: str  #: file name (no directory), used for the protein ids
    source: str  #: path or ``archive::member``, used in error messages and ``Protein.source``
    format: StructureFormat

    @property
    def stem(self) -> str:
        return entry_stem(self.name)


def entry_stem(name: str) -> str:
    """Foldseek's entry name for a file: the base name without ``.gz`` and without its last extension.

    structcreatedb.cpp ``writeStructureEntry``: ``remove_extension`` twice for ``*.gz``, else once, where
    ``remove_extension`` cuts at the last ``.`` unless it is the first character (so ``3bww.masked.pdb`` →
    ``3bww.masked``, ``1abc.cif.gz`` → ``1abc``, ``d1asha_`` → ``d1asha_``).
    """
    base = re.split(r"[\\/]", name)[-1]
    for suffix in _COMPRESSION_SUFFIXES:
        if base.lower().endswith(suffix):
            base = _remove_extension(base)
            break
    return _remove_extension(base)


def _remove_extension(name: str) -> str:
    p = name.rfind(".")
    return name[:p] if p > 0 else name


def format_from_name(name: str) -> StructureFormat | None:
    """The format a file name's extension announces (``.gz`` ignored), or ``None`` if it announces none."""
    base = re.split(r"[\\/]", name)[-1].lower()
    for suffix in _COMPRESSION_SUFFIXES:
        if base.endswith(suffix):
            base = base[: -len(suffix)]
    ext = os.path.splitext(base)[1]
    if ext in _EXTENSIONS:
        return _EXTENSIONS[ext]
    if _PDB_ASSEMBLY.search(base):
        return "pdb"
    return None


def sniff_format(data: bytes) -> StructureFormat | None:
    """Recognise PDB, mmCIF or BinaryCIF from the content (``None`` if none of them)."""
    head = data[:_SNIFF_BYTES]
    if head[:1] and (0x80 <= head[0] <= 0x8F or head[0] in (0xDE, 0xDF)) and b"dataBlocks" in head[:4096]:
        return "bcif"  # a MessagePack map holding BinaryCIF's "dataBlocks"
    text = head.lstrip()
    while text.startswith(b"#"):  # CIF comments before the first data block
        text = text.split(b"\n", 1)[1].lstrip() if b"\n" in text else b""
    if text[:5].lower() == b"data_":
        return "mmcif"
    if _PDB_RECORDS.search(head):
        return "pdb"
    return None


def decompress(data: bytes, source: str) -> bytes:
    """Inflate gzip data (recognised by its magic bytes); other data is returned unchanged."""
    if not data.startswith(_GZIP_MAGIC):
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise StructureParseError(source, f"corrupt or truncated gzip data ({exc})") from exc


def read_source(
    source: Source, *, name: str | None = None, label: str | None = None
) -> tuple[bytes, str, str]:
    """The raw bytes of ``source`` with its file name and a label for messages: ``(data, name, label)``."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        name = name or "input"
        return bytes(source), name, label or name
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            data = path.read_bytes()
        except IsADirectoryError as exc:
            raise StructureParseError(str(path), "is a directory, not a structure file") from exc
        return data, name or path.name, label or str(path)
    if hasattr(source, "read"):
        data = source.read()
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError(
                f"file-like structure sources must be opened in binary mode, got {type(data).__name__}"
            )
        fname = name or os.path.basename(str(getattr(source, "name", "") or "")) or "input"
        return bytes(data), fname, label or str(getattr(source, "name", "") or fname)
    raise TypeError(f"cannot read a structure from {type(source).__name__}")


def open_structure(
    source: Source,
    *,
    name: str | None = None,
    format: StructureFormat | None = None,
    label: str | None = None,
) -> RawStructure:
    """Read ``source``, inflate gzip, and decide its format (explicit > extension > content).

    Raises:
        StructureParseError: the file is empty or its gzip stream is corrupt.
        UnknownFormatError: the format cannot be recognised.
    """
    data, fname, where = read_source(source, name=name, label=label)
    data = decompress(data, where)
    if not data.strip():
        raise StructureParseError(where, "empty file")
    if format is not None:
        if format not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}, got {format!r}")
        fmt: StructureFormat | None = format
    else:
        fmt = format_from_name(fname) or sniff_format(data)
    if fmt is None:
        ext = os.path.splitext(fname)[1] or "no extension"
        raise UnknownFormatError(where, f"not a PDB, mmCIF or BinaryCIF file ({ext}; content not recognised)")
    if fmt != "bcif" and b"\x00" in data[:_SNIFF_BYTES]:
        raise StructureParseError(where, f"binary content in a {fmt} text file (garbled or wrong extension)")
    return RawStructure(data=data, name=fname, source=where, format=fmt)
