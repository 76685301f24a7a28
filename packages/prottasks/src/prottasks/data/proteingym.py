"""ProteinGym substitution assays: a folder of DMS CSVs scored zero-shot, one summary row per assay.

An assay file has ProteinGym's substitution columns (Notin et al. 2023, OATML-Markslab/ProteinGym, e.g.
``BLAT_ECOLX_Stiffler_2015.csv``): ``mutant`` (``A1P``, multi-mutants ``A1P:D2N``, numbered from 1 on the target
sequence), ``mutated_sequence``, ``DMS_score`` (higher = fitter) and ``DMS_score_bin`` (1 = fit; optional here).
Its wild type is read off the file itself: the first row's sequence with its mutations reverted, every other row
checked against it (ProteinGym keeps the target sequence in its reference file, which a bare folder lacks).

:func:`benchmark_assays` scores each assay with a caller's function (e.g. masked marginals of
:func:`protenc_seq.score_mutants`, multi-mutants as the sum of the per-mutation log-ratios as in ProteinGym's
``baselines/esm/compute_fitness.py``), computes :func:`prottasks.metrics.proteingym.proteingym_metrics` and
skips (and lists) an assay whose file is bad. :func:`summary_csv` is the DMS-level table with the average row.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from protdata.errors import ProtdataError
from prottasks.data.csv_table import CsvTable, read_csv_table
from prottasks.errors import TableError
from prottasks.metrics.proteingym import AssayMetrics, average_metrics, proteingym_metrics

__all__ = [
    "AssayBenchmark",
    "ProteinGymAssay",
    "benchmark_assays",
    "benchmark_line",
    "list_assays",
    "read_proteingym_assay",
    "summary_csv",
    "wild_type_from_mutants",
    "write_benchmark",
]

_MUTATION = re.compile(r"^([A-Z])(\d+)([A-Z])$")
#: The summary's columns (ProteinGym's DMS-level files: DMS id, number_mutants, then the metrics).
SUMMARY_COLUMNS = ("DMS_id", "number_mutants", "Spearman", "NDCG", "Top_recall", "AUC")


@dataclass
class ProteinGymAssay:
    """One assay: its table, mutant strings, fitness ``(n,)`` (and bins), and the wild type read off it."""

    dms_id: str
    table: CsvTable
    mutants: list[str]
    dms_score: list[float]
    dms_score_bin: list[float] | None
    wild_type: str


def list_assays(folder: str | os.PathLike[str]) -> list[Path]:
    """The ``*.csv`` files of ``folder`` (not recursive), sorted by name.

    Raises:
        TableError: no such folder, or no CSV file in it.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise TableError(folder, "no such folder (give a folder of ProteinGym DMS CSV files)")
    found = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".csv" and p.is_file())
    if not found:
        raise TableError(folder, "no .csv file in this folder")
    return found


def _parse(mutant: str, path: Path, line: int) -> list[tuple[str, int, str]]:
    out = []
    for part in mutant.strip().split(":"):
        m = _MUTATION.match(part)
        if m is None:
            raise TableError(path, f"mutant {mutant!r}: {part!r} is not a substitution like A12P", line=line)
        out.append((m.group(1), int(m.group(2)), m.group(3)))
    return out


def wild_type_from_mutants(
    mutants: Sequence[str], sequences: Sequence[str], path: Path, lines: Sequence[int]
) -> str:
    """The wild type: the first row's ``mutated_sequence`` with its substitutions reverted; every row's sequence
    must be the wild type with its own substitutions applied (positions from 1).

    Raises:
        TableError: a malformed mutant, a position outside the sequence, or a row that disagrees (names its line).
    """
    wild = list(sequences[0])
    for wt, pos, mt in _parse(mutants[0], path, lines[0]):
        if not 1 <= pos <= len(wild) or wild[pos - 1] != mt:
            raise TableError(
                path, f"mutant {mutants[0]!r} does not match its mutated_sequence", line=lines[0]
            )
        wild[pos - 1] = wt
    wild_type = "".join(wild)
    for mutant, sequence, line in zip(mutants, sequences, lines):
        expected = list(wild_type)
        for wt, pos, mt in _parse(mutant, path, line):
            if not 1 <= pos <= len(expected) or expected[pos - 1] != wt:
                got = expected[pos - 1] if 1 <= pos <= len(expected) else "nothing"
                raise TableError(path, f"mutant {mutant!r}: the wild type has {got} at {pos}", line=line)
            expected[pos - 1] = mt
        if "".join(expected) != sequence.strip():
            raise TableError(
                path, f"mutated_sequence is not the wild type with {mutant!r} applied", line=line
            )
    return wild_type


def read_proteingym_assay(path: str | os.PathLike[str]) -> ProteinGymAssay:
    """Read one assay (module docstring); ``DMS_score`` must be a number in every row.

    Raises:
        TableError: a missing column, a bad or missing number, a mutant that disagrees with its sequence.
    """
    table = read_csv_table(path)
    mutants = table.values("mutant")
    scores = table.numbers("DMS_score")
    missing = next((line for v, line in zip(scores, table.lines) if not math.isfinite(v)), None)
    if missing is not None:
        raise TableError(table.path, "DMS_score: no value (every variant needs a fitness)", line=missing)
    bins = table.numbers("DMS_score_bin") if "DMS_score_bin" in table.header else None
    sequences = table.values("mutated_sequence")
    wild_type = wild_type_from_mutants(mutants, sequences, table.path, table.lines)
    return ProteinGymAssay(table.path.stem, table, mutants, scores, bins, wild_type)


@dataclass
class AssayBenchmark:
    """Per assay (in folder order) its metrics and scores; the assays skipped, with reasons."""

    metrics: dict[str, AssayMetrics] = field(default_factory=dict)
    scores: dict[str, list[float]] = field(default_factory=dict)
    assays: dict[str, ProteinGymAssay] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def average(self) -> dict[str, float]:
        return average_metrics(list(self.metrics.values()))


def benchmark_assays(
    paths: Sequence[str | os.PathLike[str]],
    score: Callable[[ProteinGymAssay], Sequence[float | None]],
    *,
    strict: bool = False,
) -> AssayBenchmark:
    """Read, score (``score(assay)``: one float per row) and evaluate each assay; a bad assay (file, mutant, a row
    left unscored (None), model error on its input: any :class:`~protdata.errors.ProtdataError`) is skipped and
    listed.

    Raises:
        ProtdataError: the first bad assay when ``strict``. TableError: every assay skipped.
    """
    out = AssayBenchmark()
    for path in paths:
        try:
            assay = read_proteingym_assay(path)
            if assay.dms_id in out.metrics:
                raise TableError(path, f"a second assay named {assay.dms_id!r}")
            raw = list(score(assay))
            if len(raw) != len(assay.mutants) or None in raw:
                where = next((i for i, v in enumerate(raw) if v is None), len(raw))
                line = assay.table.lines[where] if where < len(assay.table.lines) else None
                raise TableError(path, "the model left this mutant unscored", line=line)
            values = [float(v) for v in raw]
            metrics = proteingym_metrics(values, assay.dms_score, assay.dms_score_bin)
        except ProtdataError as exc:
            if strict:
                raise
            out.skipped.append((str(path), " ".join(str(exc).split())))
            continue
        out.metrics[assay.dms_id], out.scores[assay.dms_id], out.assays[assay.dms_id] = metrics, values, assay
    if not out.metrics:
        first = out.skipped[0] if out.skipped else ("", "")
        raise TableError(
            Path(first[0]).parent, f"every assay was skipped ({len(out.skipped)}; first: {first[1]})"
        )
    return out


def _cell(value: float) -> str:
    return "" if math.isnan(value) else f"{value:.6g}"


def summary_csv(result: AssayBenchmark) -> str:
    """The DMS-level table: one row per assay (``DMS_id, number_mutants, Spearman, NDCG, Top_recall, AUC``;
    empty where undefined) and the ``Average`` row (:func:`~prottasks.metrics.proteingym.average_metrics`)."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(SUMMARY_COLUMNS)
    for dms_id, m in result.metrics.items():
        writer.writerow([dms_id, m.number_mutants, *map(_cell, (m.spearman, m.ndcg, m.top_recall, m.auc))])
    avg = result.average()
    keys = ("number_mutants", "spearman", "ndcg", "top_recall", "auc")
    writer.writerow(["Average", *(_cell(avg[k]) for k in keys)])
    return buffer.getvalue()


def write_benchmark(
    result: AssayBenchmark, output: str | os.PathLike[str], info: dict[str, Any], score_column: str = "score"
) -> str:
    """Write the summary CSV to ``output``, the JSON next to it (``info`` + per-assay metrics, average, skipped
    assays) and each assay's table with its scores to ``<output stem>_scores/<DMS_id>.csv`` (ProteinGym's one
    scoring file per DMS), all atomically; returns the summary CSV text."""
    from protdata.atomic import write_json_atomic, write_text_atomic

    output = Path(output)
    folder = output.with_name(f"{output.stem}_scores")
    for dms_id, assay in result.assays.items():
        column = {score_column: [repr(v) for v in result.scores[dms_id]]}
        write_text_atomic(folder / f"{dms_id}.csv", assay.table.to_csv(column))
    text = summary_csv(result)
    write_text_atomic(output, text)
    summary = {**info, "assays": {k: m.as_json() for k, m in result.metrics.items()}}
    average = {k: None if math.isnan(v) else v for k, v in result.average().items()}
    summary.update(average=average, scores=str(folder))
    summary["skipped"] = [{"assay": path, "reason": reason} for path, reason in result.skipped]
    write_json_atomic(output.with_suffix(".json"), summary)
    return text


def benchmark_line(result: AssayBenchmark, what: str, seconds: float, output: Path) -> str:
    """The last line of a many-assay run: assays scored and skipped, the average Spearman / NDCG / top recall."""
    avg = result.average()
    metrics = ", ".join(f"{name} {avg[key]:.4f}" for key, name in
                        (("spearman", "Spearman"), ("ndcg", "NDCG@10%"), ("top_recall", "top-10% recall")))  # fmt: skip
    return (
        f"scored {len(result.metrics)} assays ({what}) in {seconds:.1f} s; skipped {len(result.skipped)}; "
        f"average {metrics} -> {output} (+ {output.with_suffix('.json').name}, {output.stem}_scores/)"
    )
