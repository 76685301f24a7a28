"""Deep-mutational-scan tables (ProteinGym / fair-esm style) and their wild types.

A scan is a CSV or TSV file with a header row: one column of mutant strings (``H24C``, ``A1B:C2D``) or of full
variant sequences, and measured fitness columns (ProteinGym ``DMS_score``; BLAT_ECOLX ``2500``). Rows keep the
physical line each ends on, so a bad row is reported as ``<file>, line N: …``. Blank rows are ignored; a UTF-8
BOM is ignored. No torch: a table is checked before any model is loaded.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from prottasks.data.csv_table import CsvTable, read_csv_table
from prottasks.errors import TableError

_SEQUENCE = re.compile(r"^[ACDEFGHIKLMNPQRSTVWYX]+$")


class DMSTableConfig(BaseModel):
    """Which file and columns make up a scan, how its mutants are numbered, and what a mismatch does."""

    model_config = ConfigDict(extra="forbid")

    #: A CSV (or ``.tsv`` / ``.tab``) file with a header row.
    csv: str
    #: Mutant strings (``H24C``, ``A1B:C2D``); or use sequence_column.
    mutant_column: str | None = "mutant"
    #: Full variant sequences (e.g. mavenn's GB1 ``x``); substitutions are found against the wild type. When set,
    #: it is used instead of mutant_column.
    sequence_column: str | None = None
    #: Measured fitness (ProteinGym ``DMS_score``); Spearman's rho is reported when set.
    label_column: str | None = None
    #: Number of the wild type's first residue in the mutant strings (fair-esm --offset-idx; BLAT_ECOLX: 24).
    offset: int = 1
    #: Only the first N data rows (and only they are written).
    limit: int | None = Field(None, ge=1)
    #: A mutant that does not match the wild type: ``error`` (names the CSV line) or ``skip`` (empty score, counted).
    on_mismatch: Literal["error", "skip"] = "error"

    @field_validator("mutant_column", "sequence_column", "label_column", mode="before")
    @classmethod
    def _column_name(cls, value: Any) -> Any:
        """Column names are text (``label_column=2500`` names BLAT_ECOLX's column ``2500``)."""
        return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value

    @model_validator(mode="after")
    def _columns(self) -> DMSTableConfig:
        if self.sequence_column is None and self.mutant_column is None:
            raise ValueError("give mutant_column (mutant strings) or sequence_column (full sequences)")
        return self

    @property
    def variant_column(self) -> tuple[str, str]:
        """``(key, column)``: ``("sequence_column", name)`` when full sequences are given, else the mutants'."""
        if self.sequence_column is not None:
            return "sequence_column", self.sequence_column
        return "mutant_column", self.mutant_column or ""


def read_dms_table(path: str | os.PathLike[str], *, limit: int | None = None) -> CsvTable:
    """Read a scan (:func:`prottasks.data.csv_table.read_csv_table`; CSV, or TSV for ``.tsv`` / ``.tab``);
    ``limit`` keeps the first data rows (the file is still counted to the end).

    Raises:
        TableError: a missing, unreadable or empty file, a malformed row (names the line), no data rows.
    """
    return read_csv_table(path, limit=limit, error=TableError)


def read_wild_type(value: str | os.PathLike[str]) -> str:
    """The wild type: the one sequence of a FASTA or plain-text file (``#`` lines are comments, as in fair-esm's
    ``BLAT_ECOLX_wildtype.txt``), or ``value`` itself when it is no file and an upper-case sequence.

    Raises:
        TableError: no such file (and not a sequence), several FASTA records, or text that is not a sequence.
    """
    text = os.fspath(value)
    path = Path(text)
    try:
        is_file = path.is_file()
    except OSError:  # a name too long for the file system: a literal sequence of > 255 residues
        is_file = False
    if not is_file:
        if _SEQUENCE.match(text.strip()):
            return text.strip()
        raise TableError(path, "no such file (and not an upper-case amino-acid sequence)")
    text = path.read_text(encoding="utf-8-sig")
    if text.lstrip().startswith(">"):
        from protdata.fasta import read_fasta

        records = read_fasta(path)
        if len(records) != 1:
            raise TableError(path, f"expected one FASTA record (the wild type), found {len(records)}")
        return records[0].sequence
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    sequence = "".join(lines).upper()
    if not _SEQUENCE.match(sequence):
        bad = next((c for c in sequence if not c.isalpha()), None) if sequence else None
        what = f"character {bad!r}" if bad else "no sequence"
        raise TableError(path, f"not a protein sequence ({what}; '#' lines are comments)")
    return sequence


def check_mismatched_rows(
    path: Path, skipped: list[tuple[int, str]], rows: int, *, on_mismatch: str, offset: int, strict: bool
) -> None:
    """The rows whose mutant does not match the wild type (``(line, reason)``): an error with ``on_mismatch:
    error`` (or any with ``strict``); so is a table where no row is usable.

    Raises:
        TableError: names the first bad line and how many more fail. SkippedInputsError: ``strict``.
    """
    first = f"line {skipped[0][0]}: {skipped[0][1]}" if skipped else ""
    if skipped and on_mismatch == "error":
        more = f" ({len(skipped) - 1} more rows fail like this)" if len(skipped) > 1 else ""
        hint = f"check data.offset ({offset}) and the wild type, or set data.on_mismatch=skip"
        raise TableError(path, f"{first}{more}; {hint} to score the other rows")
    if len(skipped) == rows:
        raise TableError(path, f"no row could be scored: all {rows} rows were skipped (first: {first})")
    if strict and skipped:
        from protdata.inputs import SkippedInputsError

        raise SkippedInputsError(
            [(f"{path}, line {line}", reason) for line, reason in skipped], option="--strict"
        )


def summary_line(summary: dict[str, Any], output: Path, seconds: float) -> str:
    """apps/score.py's last line: rows scored, method, time, skipped rows, Spearman's rho, where it was written."""
    line = f"scored {summary['scored']} of {summary['rows']} rows ({summary['method']}"
    line += f", {summary['multi']})" if summary["method"] == "masked_marginal" else ")"
    line += f" in {seconds:.1f} s; skipped {len(summary['skipped'])}"
    if "label_column" in summary:
        rho = "undefined" if summary["spearman"] is None else f"{summary['spearman']:.4f}"
        line += f"; Spearman rho {rho} vs {summary['label_column']!r} (n={summary['labelled']})"
    return f"{line} -> {output} (+ {output.with_suffix('.json').name})"


def scan_summary(
    table: CsvTable,
    scores: list[float | None],
    skipped: list[tuple[int, str]],
    labels: list[float] | None,
    config: DMSTableConfig,
    info: dict[str, Any],
) -> dict[str, Any]:
    """apps/score.py's JSON for one scan: ``info`` (method, encoder, notes…), the table, rows scored and skipped
    and, with labels, Spearman's rho over the rows with both (:func:`prottasks.metrics.zero_shot_spearman`)."""
    from prottasks.metrics.zero_shot import zero_shot_spearman

    summary = {**info, "csv": str(table.path), "rows": len(table.rows), "rows_in_file": table.total_rows}
    summary["scored"] = sum(s is not None for s in scores)
    summary["skipped"] = [{"line": line, "reason": reason} for line, reason in skipped]
    summary["offset"] = config.offset
    if labels is not None:
        rho = zero_shot_spearman(scores, labels)
        summary.update(label_column=config.label_column, labelled=rho.n, spearman=rho.as_json())
    return summary
