"""Predictions of a :class:`~prottasks.TaskModel` for many proteins, ranked label rows and label-name tables.

* :func:`load_task_model` — a saved :class:`~prottasks.TaskModel` (:func:`protdata.load_pretrained`) and its
  ``config.json``, after checking that the directory holds a task model (a one-line error otherwise).
* :func:`predict_scores` — the model's scores (:meth:`TaskModel.predict`: sigmoid, softmax or values) for proteins
  cut to the model's ``max_length``, in length-sorted batches; a batch that fails on bad input is retried protein
  by protein and a protein the model rejects is handed to ``on_skip`` (never dropped silently).
* :func:`ranked_rows` — per protein the ``top_k`` labels (0: all) scoring at least ``threshold``, best first (the
  ESM2 Function Caller's ``predict-rank.py``, ``--top_k 10``), with names.
* :func:`read_label_names` — label → name from a CSV / TSV (e.g. ProtST's ``reaction_description.tsv``, whose
  hierarchy columns also name the EC classes ``1.-.-.-``, ``1.14.-.-``, ``1.14.14.-``).
* :func:`check_output`, :func:`write_table` — a TSV / CSV written atomically (``-``: a TSV on standard output).
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import torch

from protdata.atomic import atomic_path
from protdata.batch import ProteinBatch
from protdata.errors import ProtdataError
from protdata.protein import Protein
from prottasks.errors import TableError, TaskInputError
from prottasks.task_model import TaskModel

__all__ = [
    "Predictions",
    "check_output",
    "load_task_model",
    "predict_scores",
    "ranked_rows",
    "read_label_names",
    "write_table",
]


def load_task_model(path: str | os.PathLike[str]) -> tuple[TaskModel, Path, dict[str, Any]]:
    """``(model in eval mode, model directory, config.json)`` of the saved task model at ``path`` (a directory
    or its ``config.json``).

    Raises:
        TaskInputError: no such path, a run directory (names its ``best/``), or another type of model (names the
            app that saved it). PretrainedFormatError: unreadable files or weights that do not fit.
    """
    from protdata.pretrained import CONFIG_NAME, load_pretrained, read_config

    path = Path(path)
    if not path.exists():
        raise TaskInputError(path, "no such export directory or config.json")
    directory = path if path.is_dir() else path.parent
    if not (directory / CONFIG_NAME).is_file() and (directory / "best" / CONFIG_NAME).is_file():
        raise TaskInputError(path, f"no {CONFIG_NAME} here (the best model of a run is in {path / 'best'})")
    meta = read_config(directory)
    if meta["type"] != TaskModel.model_type:
        what = f"an export of apps/{meta['app']}.py" if meta.get("app") else f"a {meta['type']!r} model"
        raise TaskInputError(
            directory / CONFIG_NAME,
            f"{what}, not a fine-tuned model (type {meta['type']!r}, not {TaskModel.model_type!r})",
        )
    return load_pretrained(directory).eval(), directory, meta


@dataclass
class Predictions:
    """``scores`` of the proteins ``kept`` (indices into the input, in input order): ``(N, C)`` probabilities or
    ``(N,)`` values, float64; ``cropped``: proteins cut to the model's ``max_length``."""

    scores: np.ndarray
    kept: list[int]
    cropped: int


def predict_scores(
    model: TaskModel,
    proteins: Sequence[Protein],
    *,
    batch_size: int = 8,
    device: str | torch.device = "cpu",
    skipped: list[tuple[str, str]] | None = None,
) -> Predictions:
    """The model's scores for ``proteins`` (module docstring); a protein the model rejects is appended to
    ``skipped`` as ``("source: id", reason)``.

    Raises:
        ProtdataError: a protein the model rejects when ``skipped`` is None. TaskInputError: every protein
            rejected.
    """
    model = model.to(device).eval()
    items = [model.truncate(p) for p in proteins]  # the truncation the validation split saw (max_length)
    cropped = sum(len(t) < len(p) for t, p in zip(items, proteins))
    order = sorted(range(len(items)), key=lambda i: len(items[i]))  # length-sorted batches, less padding
    results: dict[int, np.ndarray] = {}
    first: ProtdataError | None = None
    for lo in range(0, len(order), batch_size):
        chunk = order[lo : lo + batch_size]
        try:
            results.update(zip(chunk, model.predict(ProteinBatch.collate([items[i] for i in chunk]))))
            continue
        except ProtdataError:
            pass
        for i in chunk:  # find the protein(s) the model rejects
            try:
                results[i] = model.predict(ProteinBatch.collate([items[i]]))[0]
            except ProtdataError as exc:
                if skipped is None:
                    raise
                first, p = first or exc, proteins[i]
                skipped.append((f"{p.source or ''}: {p.id}".lstrip(": "), " ".join(str(exc).split())))
    kept = sorted(results)
    if not kept:
        raise TaskInputError("inputs", f"the model rejected every protein (first: {first})")
    return Predictions(np.stack([results[i] for i in kept]).astype(np.float64), kept, cropped)


def ranked_rows(
    ids: Sequence[str],
    scores: np.ndarray,
    labels: Sequence[str],
    names: Mapping[str, str],
    *,
    top_k: int = 10,
    threshold: float = 0.0,
) -> list[tuple[str, int, str, str, float]]:
    """``(protein, rank, label, name, score)`` rows: per protein the ``top_k`` best labels (0: all) scoring at least
    ``threshold``, best first (ties keep the label order); ``names`` maps labels to names (``""`` if absent)."""
    rows = []
    for pid, s in zip(ids, np.asarray(scores)):
        order = np.argsort(-s, kind="stable")
        if top_k > 0:
            order = order[:top_k]
        kept = [j for j in order if s[j] >= threshold]  # sorted: the kept ones are a prefix of ``order``
        rows.extend(
            (pid, rank, labels[j], names.get(labels[j], ""), float(s[j])) for rank, j in enumerate(kept, 1)
        )
    return rows


def read_label_names(path: str | os.PathLike[str]) -> dict[str, str]:
    """Label → name from a CSV / TSV (``.gz`` allowed): the columns ``EC_number`` / ``term`` / ``label`` / ``id``
    and ``name``, else the first two columns of every line; EC classes are named from ``hier1..3`` columns.

    Raises:
        TableError: no such file, an empty file, or fewer than two columns.
    """
    path = Path(path)
    if not path.is_file():
        raise TableError(path, "no such file")
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:  # type: ignore[operator]
        text = handle.read()
    delimiter = "," if path.name.lower().removesuffix(".gz").endswith(".csv") else "\t"
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    if not rows:
        raise TableError(path, "empty file")
    header = [h.strip() for h in rows[0]]
    key_col = next((header.index(c) for c in ("EC_number", "term", "label", "id") if c in header), None)
    name_col = header.index("name") if "name" in header else None
    body = rows[1:]
    if key_col is None or name_col is None:
        if len(header) < 2:
            raise TableError(path, "expected two columns (label, name)", line=1)
        key_col, name_col, body = 0, 1, rows  # no header: every line is (label, name)
    hier = [header.index(h) if h in header else None for h in ("hier1", "hier2", "hier3")]
    names: dict[str, str] = {}
    for row in body:
        if len(row) > max(key_col, name_col) and row[key_col].strip():
            key = row[key_col].strip()
            names.setdefault(key, row[name_col].strip().rstrip("."))
            parts = key.split(".")
            for depth, col in enumerate(hier, start=1):  # EC classes: 1.-.-.-, 1.14.-.-, 1.14.14.-
                if col is not None and len(parts) == 4 and len(row) > col and row[col].strip():
                    names.setdefault(
                        ".".join(parts[:depth] + ["-"] * (4 - depth)), row[col].strip().rstrip(".")
                    )
    return names


def check_output(path: str | os.PathLike[str]) -> Path:
    """``path`` as a table to write: not a directory, in a directory that exists.

    Raises:
        TaskInputError: ``output: …`` naming what is wrong.
    """
    path = Path(path)
    if path.is_dir():
        raise TaskInputError("output", f"{path} is a directory (give a file name, e.g. predictions.tsv)")
    if not path.parent.is_dir():
        raise TaskInputError("output", f"{path.parent}: no such directory")
    return path


def write_table(path: str | os.PathLike[str], header: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Write a TSV (``.csv``: comma-separated) atomically, floats as ``%.6g``; ``"-"``: a TSV on standard output.
    Returns the number of rows."""
    if os.fspath(path) == "-":
        n = _write_rows(sys.stdout, "\t", header, rows)
        sys.stdout.flush()
        return n
    path = Path(path)
    delimiter = "," if path.name.lower().endswith(".csv") else "\t"
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
        n = _write_rows(handle, delimiter, header, rows)
        handle.flush()
        os.fsync(handle.fileno())
    return n


def _write_rows(handle: TextIO, delimiter: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    writer = csv.writer(handle, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    n = 0
    for row in rows:
        writer.writerow([f"{v:.6g}" if isinstance(v, float) else v for v in row])
        n += 1
    return n
