"""ProtAnno JSON Lines: one ``{"seq": ..., "text": ...}`` object per line, as ProtCLIP's ``train_new.json``.

Reading validates every line into a :class:`ProtAnnoRecord`; a bad line raises a
:class:`~protdata.errors.RecordError` naming the file, the line and the reason, or, with
``on_error="skip"``, is skipped and recorded in a :class:`SkipReport` (count + reasons). Blank lines are not
records and are ignored. Files may be gzip-compressed.
"""

from __future__ import annotations

import gzip
import json
import warnings
from collections.abc import Callable, Iterable, Iterator
from os import PathLike
from pathlib import Path
from typing import IO, Any, Literal, TypeVar

from pydantic import ValidationError

from protdata.errors import RecordError
from protdata.protanno.record import ProtAnnoRecord
from protdata.protanno.report import SkipReport
from protdata.textio import PathOrFile, open_lines, source_name

OnError = Literal["raise", "skip"]
T = TypeVar("T")


def check_on_error(on_error: str) -> None:
    """``on_error`` is ``"raise"`` or ``"skip"``; anything else is a ``ValueError`` (a programming error)."""
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")


def iter_json_lines(
    path: PathOrFile,
    parse: Callable[[str, int], T | None],
    *,
    on_error: OnError = "raise",
    report: SkipReport | None = None,
) -> Iterator[tuple[int, T]]:
    """The one JSON-lines reader of protstack: ``(line number, parse(line, line number))`` for each non-blank line
    of ``path`` (plain or gzip); ``parse`` returns ``None`` for a line to leave out that is not bad (e.g. one a
    sampler did not draw).

    A line ``parse`` rejects with ``ValueError`` (its message: ``kind: detail``, naming the key) raises
    :class:`~protdata.errors.RecordError` ``"<file>, line <n>: <reason>"``, or with ``on_error="skip"`` is
    counted in ``report`` (``total`` counts every non-blank line) and reading goes on.
    """
    check_on_error(on_error)
    source = source_name(path)
    report = report if report is not None else SkipReport(source=source)
    report.source = report.source or source
    with open_lines(path, RecordError) as lines:
        for lineno, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            report.total += 1
            try:
                item = parse(line, lineno)
            except ValueError as exc:
                if on_error == "raise":
                    raise RecordError(source, str(exc), line=lineno) from None
                report.add(lineno, str(exc))
                continue
            if item is not None:
                yield lineno, item


def iter_jsonl(
    path_or_file: PathOrFile, *, on_error: OnError = "raise", report: SkipReport | None = None
) -> Iterator[ProtAnnoRecord]:
    """Stream the records of a ProtAnno JSONL file (:func:`iter_json_lines` with :func:`parse_line`).

    With ``on_error="skip"`` bad lines are skipped and recorded in ``report``; without a ``report`` the summary
    is issued as a :class:`UserWarning` at the end, so that nothing disappears silently.
    """
    own_report = report is None
    report = SkipReport(source=source_name(path_or_file)) if report is None else report
    for _, record in iter_json_lines(
        path_or_file, lambda line, _n: parse_line(line), on_error=on_error, report=report
    ):
        yield record
    if own_report and report.count:
        warnings.warn(report.summary(), UserWarning, stacklevel=2)


def read_jsonl(
    path_or_file: PathOrFile, *, on_error: OnError = "raise", report: SkipReport | None = None
) -> list[ProtAnnoRecord]:
    """All records of a ProtAnno JSONL file (see :func:`iter_jsonl`)."""
    return list(iter_jsonl(path_or_file, on_error=on_error, report=report))


def json_object(line: str) -> dict[str, Any]:
    """One JSON-lines line as an object; ``ValueError`` (one-line reason) when it is not JSON or not an object."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(obj, dict):
        raise ValueError(f"not a JSON object: {type(obj).__name__}")
    return obj


def parse_line(line: str) -> ProtAnnoRecord:
    """One JSONL line as a record; ``ValueError`` with a one-line reason when it is not a valid record."""
    obj = json_object(line)
    try:
        return ProtAnnoRecord.model_validate(obj)
    except ValidationError as exc:
        raise ValueError(_describe(exc)) from None


def write_jsonl(
    records: Iterable[ProtAnnoRecord],
    path_or_file: str | PathLike[str] | IO[str],
    *,
    protclip_only: bool = False,
) -> int:
    """Write records as JSON Lines (gzip if the path ends in ``.gz``); returns how many were written.

    Every line starts with ``seq`` and ``text``; the properties, ``existence``, ``id`` and ``go_terms`` follow
    when set, unless ``protclip_only`` keeps exactly ProtCLIP's two keys.
    """
    if isinstance(path_or_file, (str, PathLike)):
        path = Path(path_or_file)
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "wt", encoding="utf-8") as handle:
            return write_jsonl(records, handle, protclip_only=protclip_only)
    n = 0
    for record in records:
        obj: dict[str, Any] = {"seq": record.seq, "text": record.text}
        if not protclip_only:
            for key, value in record.model_dump(exclude={"seq", "text"}).items():
                if value is not None and value != ():
                    obj[key] = list(value) if isinstance(value, tuple) else value
        path_or_file.write(json.dumps(obj, ensure_ascii=False) + "\n")
        n += 1
    return n


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        loc = ".".join(str(p) for p in error["loc"])
        kind = error["type"]
        if kind == "missing":
            parts.append(f"missing key {loc!r}")
        elif kind == "extra_forbidden":
            parts.append(f"unknown key {loc!r}")
        else:
            message = error["msg"].removeprefix("Value error, ")
            parts.append(f"{loc}: {message}" if loc else message)
    more = f"; … {len(parts) - 4} more problems" if len(parts) > 4 else ""
    return "; ".join(parts[:4]) + more
