"""Line-by-line reading of text inputs (FASTA, JSONL, UniProt flat files): a path or an open file, plain or
gzip-compressed (recognised by its magic bytes, not its name), UTF-8.

Open and decode failures become the caller's :class:`~protdata.errors.ProtdataError` subclass, naming the file
and the line where decoding failed.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from os import PathLike
from pathlib import Path
from typing import IO

from protdata.errors import ProtdataError

GZIP_MAGIC = b"\x1f\x8b"
PathOrFile = str | PathLike[str] | IO


def source_name(path_or_file: PathOrFile) -> str:
    """The name used in error messages: the path, or the stream's ``name`` attribute, or ``<stream>``."""
    if isinstance(path_or_file, (str, PathLike)):
        return str(path_or_file)
    return str(getattr(path_or_file, "name", "<stream>"))


@contextmanager
def open_lines(
    path_or_file: PathOrFile, error: Callable[..., ProtdataError] = ProtdataError
) -> Iterator[Iterator[str]]:
    """Context manager yielding an iterator over the text lines (newline kept) of ``path_or_file``.

    A path is opened (and closed on exit); an open stream is read as is (text, or bytes that are decoded, and
    gunzipped when they start with the gzip magic) and left open. ``error(source, reason, line=...)`` builds the
    exception raised when the file cannot be opened, decoded or decompressed.
    """
    source = source_name(path_or_file)
    raw: IO[bytes] | None = None
    if isinstance(path_or_file, (str, PathLike)):
        try:
            raw = Path(path_or_file).open("rb")  # noqa: SIM115 (closed in the finally below)
        except OSError as exc:
            raise error(source, f"cannot open: {exc.strerror or exc}") from exc
        stream: IO = raw
    else:
        stream = path_or_file
    buffered: io.BufferedReader | None = None  # ours, detached on exit so that a caller's stream stays open
    try:
        if not isinstance(stream.read(0), bytes):
            yield _text_lines(stream, source, error)
            return
        if not hasattr(stream, "peek"):
            stream = buffered = io.BufferedReader(stream)  # type: ignore[arg-type]
        if stream.peek(2)[:2] == GZIP_MAGIC:  # type: ignore[attr-defined]
            stream = gzip.GzipFile(fileobj=stream, mode="rb")  # closing it leaves its fileobj open
        yield _decoded_lines(stream, source, error)
    finally:
        if buffered is not None:
            buffered.detach()
        if raw is not None:
            raw.close()


def _decoded_lines(stream: IO[bytes], source: str, error: Callable[..., ProtdataError]) -> Iterator[str]:
    lineno = 0
    try:
        for lineno, line in enumerate(stream, start=1):
            try:
                yield line.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise error(
                    source,
                    f"not UTF-8 text (byte {exc.object[exc.start]:#04x} at column {exc.start + 1})",
                    line=lineno,
                ) from exc
    except (OSError, EOFError) as exc:  # corrupt or truncated gzip stream
        raise error(
            source, f"cannot read (corrupt or truncated compressed file?): {exc}", line=lineno + 1
        ) from exc


def _text_lines(stream: IO[str], source: str, error: Callable[..., ProtdataError]) -> Iterator[str]:
    lineno = 0
    try:
        for lineno, line in enumerate(stream, start=1):  # noqa: B007 (lineno is reported on failure)
            yield line
    except UnicodeDecodeError as exc:
        raise error(source, f"not UTF-8 text ({exc.reason})", line=lineno + 1) from exc
