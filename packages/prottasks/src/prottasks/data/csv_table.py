"""The one CSV / TSV reader of prottasks: label tables (:func:`prottasks.data.column_table`) and deep mutational
scans (:func:`prottasks.data.read_dms_table`) both read through :func:`read_csv_table`.

Tab-delimited for ``.tsv`` / ``.tab`` / ``.txt``, comma otherwise; a UTF-8 BOM is ignored, blank rows are skipped,
and each row keeps the physical line it ends on (quoted fields may span lines), so a bad row is reported as
``<file>, line N: …``. No torch.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from prottasks.errors import ProttasksError, TableError

_MISSING = {"", "na", "nan", "n/a", "none", "null"}
_TAB_SUFFIXES = (".tsv", ".tab", ".txt")


def _delimiter(path: Path) -> str:
    """Tab for ``.tsv`` / ``.tab`` / ``.txt`` files, comma otherwise."""
    return "\t" if path.name.lower().endswith(_TAB_SUFFIXES) else ","


@dataclass
class CsvTable:
    """A table's header, data rows (with the physical line each ends on) and how many rows the file holds.
    ``error`` is the exception type its checks raise (e.g. :class:`~prottasks.errors.LabelError` for labels)."""

    path: Path
    header: list[str]
    rows: list[list[str]]
    lines: list[int]
    total_rows: int
    error: type[ProttasksError] = TableError

    def column(self, name: str) -> int:
        """Index of column ``name``; a missing column is an error listing the columns."""
        if name not in self.header:
            shown = ", ".join(repr(h) for h in self.header[:30])
            raise self.error(self.path, f"no column {name!r} (columns: {shown})")
        return self.header.index(name)

    def values(self, name: str) -> list[str]:
        """The text of column ``name`` in every row; a row too short to have it is an error naming its line."""
        c = self.column(name)
        for row, line in zip(self.rows, self.lines):
            if c >= len(row):
                raise self.error(self.path, f"{len(row)} fields, no value for column {name!r}", line=line)
        return [row[c] for row in self.rows]

    def records(self, columns: Sequence[str]) -> list[tuple[int, dict[str, str]]]:
        """Every row as ``(line, {column: text})`` after checking that ``columns`` exist and that each row has as
        many fields as the header."""
        for name in columns:
            self.column(name)
        out = []
        for row, line in zip(self.rows, self.lines):
            if len(row) != len(self.header):
                raise self.error(
                    self.path, f"{len(row)} fields, the header has {len(self.header)}", line=line
                )
            out.append((line, dict(zip(self.header, row))))
        return out

    def numbers(self, name: str) -> list[float]:
        """Column ``name`` as floats: empty / ``NA`` / ``NaN`` cells are NaN, other text is an error naming the
        line."""
        out = []
        for text, line in zip(self.values(name), self.lines):
            text = text.strip()
            if text.lower() in _MISSING:
                out.append(math.nan)
                continue
            try:
                out.append(float(text))
            except ValueError:
                raise self.error(self.path, f"column {name!r}: {text!r} is not a number", line=line) from None
        return out

    def to_csv(self, extra: Mapping[str, Sequence[str]]) -> str:
        """The rows as CSV text with the ``extra`` columns (name -> one value per row) appended."""
        for name, values in extra.items():
            if name in self.header:
                raise self.error(self.path, f"column {name!r} already exists")
            if len(values) != len(self.rows):
                raise ValueError(f"column {name!r}: {len(values)} values for {len(self.rows)} rows")
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow([*self.header, *extra])
        for r, row in enumerate(self.rows):
            writer.writerow([*row, *(values[r] for values in extra.values())])
        return buffer.getvalue()


def read_csv_table(
    path: str | os.PathLike[str], *, limit: int | None = None, error: type[ProttasksError] = TableError
) -> CsvTable:
    """Read a CSV / TSV with a header row; ``limit`` keeps the first data rows (the file is still counted to the
    end). Header names are stripped of surrounding spaces.

    Raises:
        error: a missing, unreadable or empty file, a malformed row (names the line), no data rows.
    """
    path = Path(path)
    if not path.is_file():
        raise error(path, "no such file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise error(path, f"cannot read ({exc})") from None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(path), strict=True)
    rows: list[list[str]] = []
    lines: list[int] = []
    total = 0
    try:
        header = [name.strip() for name in next(reader)]
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            total += 1
            if limit is None or len(rows) < limit:
                rows.append(row)
                lines.append(reader.line_num)
    except StopIteration:
        raise error(path, "empty file (no header row)") from None
    except csv.Error as exc:
        raise error(path, str(exc), line=reader.line_num) from None
    if not rows:
        raise error(path, "no data rows under the header")
    return CsvTable(path, header, rows, lines, total, error)
