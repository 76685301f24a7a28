"""ProtST's zero-shot texts (``data/zero_shot_classification/*.tsv``, ``t2p_prompt_*.txt``) and EC–text pairs.

ProtST (Xu et al., ICML 2023; ``script/run_zero_shot.py``) describes each class of a task by a text read from a
tab-separated table with a header and an integer ``id`` column (the class index): ``subloc_*.tsv`` for the 10
subcellular locations, ``reaction_*.tsv`` for the 384 EC reaction classes, in four styles (``name``,
``template`` — ``FUNCTION: …`` / ``SUBCELLULAR LOCATION: …`` as ProtCLIP's texts read, ``language`` — "A
protein locating at …", ``description`` with the EC number and comments). A class's text is the values of the
chosen fields joined by one space, in the file's column order (``fetch_labels``). Rows are read with
:mod:`csv` (tab delimiter, ``"`` quoting), as ProtST reads them.

``ec_text_pairs_deepfri_test.jsonl`` (shared data) pairs DeepFRI EC test chains with the ProtST reaction text of
one of their EC numbers (``text_ec``); :func:`read_ec_text_pairs` reads it with skip-and-report.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Literal

from protalign.errors import LabelTableError
from protalign.pairs import check_protein
from protdata import Protein
from protdata.fasta import clean_sequence
from protdata.protanno import SkipReport
from protdata.protanno.jsonl import iter_json_lines, json_object


@dataclass(frozen=True)
class LabelTable:
    """A ProtST label table: ``fields`` (header) and one ``{field: value}`` row per class, in ``id`` order."""

    path: str
    fields: tuple[str, ...]
    rows: tuple[dict[str, str], ...]

    def __len__(self) -> int:
        return len(self.rows)

    def texts(self, fields: Sequence[str] = ("name",)) -> list[str]:
        """Each class's text: the values of ``fields`` joined by a space, in the table's column order."""
        unknown = [f for f in fields if f not in self.fields]
        if unknown:
            raise LabelTableError(f"{self.path}: no column {unknown} (columns: {list(self.fields)})")
        chosen = [f for f in self.fields if f in fields]
        return [" ".join(row[f] for f in chosen) for row in self.rows]

    def column(self, field: str) -> list[str]:
        if field not in self.fields:
            raise LabelTableError(f"{self.path}: no column {field!r} (columns: {list(self.fields)})")
        return [row[field] for row in self.rows]


def read_label_table(path: str | PathLike[str], id_field: str = "id") -> LabelTable:
    """Read a ProtST label table; ids must be the integers ``0 … C−1`` (any order), each once."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            lines = list(csv.reader(handle, delimiter="\t"))
    except OSError as exc:
        raise LabelTableError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if not lines:
        raise LabelTableError(f"{path}: empty file")
    header = tuple(lines[0])
    if id_field not in header:
        raise LabelTableError(f"{path}, line 1: no {id_field!r} column in the header {list(header)}")
    by_id: dict[int, dict[str, str]] = {}
    for lineno, values in enumerate(lines[1:], start=2):
        if not values:
            continue
        if len(values) != len(header):
            raise LabelTableError(
                f"{path}, line {lineno}: {len(values)} fields, the header has {len(header)}"
            )
        row = dict(zip(header, values))
        try:
            label = int(row[id_field])
        except ValueError:
            raise LabelTableError(f"{path}, line {lineno}: id {row[id_field]!r} is not an integer") from None
        if label in by_id:
            raise LabelTableError(f"{path}, line {lineno}: id {label} appears twice")
        by_id[label] = row
    if sorted(by_id) != list(range(len(by_id))):
        missing = sorted(set(range(max(by_id, default=-1) + 1)) - set(by_id))
        raise LabelTableError(f"{path}: ids are not 0..{len(by_id) - 1} (missing {missing[:5]})")
    return LabelTable(str(path), header, tuple(by_id[i] for i in range(len(by_id))))


def read_prompts(path: str | PathLike[str]) -> list[str]:
    """One prompt per non-blank line (ProtST's ``t2p_prompt_*.txt``), stripped."""
    path = Path(path)
    try:
        prompts = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except OSError as exc:
        raise LabelTableError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if not prompts:
        raise LabelTableError(f"{path}: no prompts")
    return prompts


@dataclass(frozen=True)
class ECTextPair:
    """A chain with its EC numbers and the ProtST reaction text of ``text_ec`` (one of them)."""

    chain: str
    protein: Protein
    ec: tuple[str, ...]
    text_ec: str
    text: str


def read_ec_text_pairs(
    path: str | PathLike[str],
    *,
    on_error: Literal["raise", "skip"] = "raise",
    report: SkipReport | None = None,
) -> list[ECTextPair]:
    """Read ``{"chain", "sequence", "ec", "text_ec", "text"}`` JSON lines (plain or gzip) with
    :func:`protdata.protanno.jsonl.iter_json_lines`; bad lines raise :class:`~protdata.errors.RecordError` (file, line,
    reason naming the key) or are skipped into ``report``."""
    report = report if report is not None else SkipReport()
    return [pair for _, pair in iter_json_lines(Path(path), parse_ec_pair, on_error=on_error, report=report)]


def parse_ec_pair(line: str, lineno: int = 0) -> ECTextPair:
    """One EC–text JSON line as a checked pair; ``ValueError`` naming the key when it is not usable."""
    obj = json_object(line)
    missing = [k for k in ("chain", "sequence", "ec", "text_ec", "text") if k not in obj]
    if missing:
        raise ValueError(f"missing key: {', '.join(missing)}")
    text = obj["text"]
    if not isinstance(text, str) or not text.strip():
        raise ValueError("text: empty text")
    ec = obj["ec"]
    if not isinstance(ec, list) or not all(isinstance(e, str) for e in ec):
        raise ValueError(f"ec: expected a list of EC numbers, got {ec!r}")
    if obj["text_ec"] not in ec:
        raise ValueError(f"text_ec {obj['text_ec']!r} is not among the chain's EC numbers {ec}")
    chain = str(obj["chain"])
    seq = obj["sequence"]
    if not isinstance(seq, str) or not seq:
        raise ValueError("sequence: empty sequence")
    protein = Protein.from_sequence(chain, clean_sequence(seq, record=chain))
    check_protein(protein, seq)
    return ECTextPair(chain, protein, tuple(ec), obj["text_ec"], text)
