"""Prediction with a fine-tuning export (``apps/predict.py``): load the model an export describes, read proteins from
FASTA and structure files, score them, make GO scores DAG-consistent, and rank labels with their names.

* :func:`load_export` — the :class:`prottasks.TaskModel` of a protstack model directory
  (:func:`protdata.pretrained.load_pretrained`; its ``task`` metadata, :func:`engine.finetuning.export_task`, names
  the labels); a missing, unexpected or wrong-size tensor, or an older export (the message names the converter), is
  a :class:`~engine.errors.CheckpointError`. No pretrained checkpoint is read again.
* :func:`read_proteins` — FASTA files (``.fasta``, ``.fa``, ``.faa``, ``.fas``, ``.seq``, optionally ``.gz``) and
  structure files / directories / globs / tar archives (protdata's loaders). A file that cannot be read, or a bad
  FASTA record (the rest of its file is read), is skipped and reported (:class:`InputReport`), never dropped
  silently (``strict``: an error); a path that does not exist, or inputs without a
  single usable protein, are a :class:`~engine.errors.DataError`. Structure encoders need structures (FASTA
  records are skipped, with the reason); SaProt gets Foldseek 3Di strings computed from the structures.
* :func:`predict_scores` — the model in eval mode on the proteins cut to the model's ``max_length`` (the
  truncation the validation split saw, :func:`engine.labelled.inference_transform`): sigmoid probabilities
  (multi-label), softmax (single-label) or values (regression), in input order. A protein the encoder rejects is
  skipped and reported.
* :class:`GoPropagation` — DAG-consistent GO scores: ``s(parent) = max(s(parent), s(child))`` over is_a / part_of
  (prottasks :class:`~prottasks.go.TermDag`, through terms outside the label set), as CAFA's evaluator and the ESM2
  Function Caller's ``predict-subgraph`` do. Labels that are alternative ids are mapped to their current term; labels
  the ontology no longer knows keep their own score (counted in the report).
* :func:`ranked_rows` — per protein the ``top_k`` labels (0: all) with score ``≥ threshold``, best first (the seed's
  ``predict-rank.py``: ``--top_k 10``), with names (GO: the OBO; EC: a names table; else the export's).
"""

from __future__ import annotations

import csv
import gzip
import io
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.cache import with_3di_or_skip
from engine.errors import CheckpointError, DataError, input_error_types, one_line
from engine.files import atomic_path
from engine.finetuning import TASK_KEY
from engine.notices import Notices, strict_failure
from protdata import Protein, ProteinBatch
from prottasks import TaskModel

FASTA_SUFFIXES = (".fasta", ".fa", ".faa", ".fas", ".seq", ".fsa")
WEIGHTS = "model.safetensors"
CONFIG = "config.json"


# ----------------------------------------------------------------------------------------------- export
@dataclass
class Export:
    """A fine-tuning export: its directory, ``config.json`` (:func:`protdata.pretrained.read_config`) and the
    :class:`prottasks.TaskModel` loaded from it (eval mode, CPU)."""

    directory: Path
    meta: dict[str, Any]
    model: TaskModel

    @property
    def config_path(self) -> Path:
        return self.directory / CONFIG

    @property
    def task(self) -> dict[str, Any]:
        """The prediction metadata (:func:`engine.finetuning.export_task`): label kind, namespace, names, obo."""
        return self.meta.get(TASK_KEY) or {}

    @property
    def kind(self) -> str:
        return self.model.kind

    @property
    def labels(self) -> list[str]:
        return self.model.labels or []


def load_export(path: str | os.PathLike[str]) -> Export:
    """The fine-tuned model at ``path`` (a protstack model directory of type ``task``, or its ``config.json``),
    loaded with :func:`protdata.pretrained.load_pretrained` — no pretrained checkpoint is read again.

    Raises:
        CheckpointError: no such directory, not a saved model (an older export: the one-line error names the
            converter), not a task model, or weights that do not fit its config (names the tensor).
    """
    from protdata.pretrained import PretrainedFormatError, load_pretrained, read_config

    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"model: {path}: no such export directory or config.json")
    directory = path if path.is_dir() else path.parent
    if not (directory / CONFIG).is_file() and (directory / "best" / CONFIG).is_file():
        raise CheckpointError(
            f"model: {path}: no {CONFIG} here (the best model of a run is in {path / 'best'})"
        )
    try:
        meta = read_config(directory)
        if meta["type"] != TaskModel.model_type:
            app = meta.get("app")
            what = f"an export of apps/{app}.py" if app else f"a {meta['type']!r} model"
            raise CheckpointError(
                f"model: {directory / CONFIG}: {what}, not a fine-tuned model (type {meta['type']!r}, not "
                f"{TaskModel.model_type!r}; export one with apps/finetune.py)"
            )
        model = load_pretrained(directory)
    except PretrainedFormatError as exc:
        raise CheckpointError(f"model: {one_line(str(exc))}") from None
    return Export(directory, meta, model.eval())


# ----------------------------------------------------------------------------------------------- inputs
@dataclass
class InputReport:
    """What :func:`read_proteins` read and what it skipped (``[source, reason]``)."""

    files: int = 0
    proteins: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = f"{self.proteins} proteins from {self.files} files"
        if self.skipped:
            source, reason = self.skipped[0]
            text += f"; {len(self.skipped)} skipped (first: {source}: {reason})"
        if self.ignored:
            text += f"; {len(self.ignored)} other files ignored"
        return text


def is_fasta(path: Path) -> bool:
    name = path.name.lower().removesuffix(".gz")
    return name.endswith(FASTA_SUFFIXES)


def _expand(sources: Sequence[str | os.PathLike[str]], report: InputReport) -> list[Path]:
    """Input files in order: files as given, directories walked (sorted), globs expanded; a missing path is an
    error (a typo, not a bad file)."""
    import glob

    from protdata.io.collection import _looks_like_structure

    files: list[Path] = []
    for item in sources:
        path = Path(item)
        if path.is_dir():
            for root, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(names):
                    full = Path(root) / name
                    if name.startswith("."):
                        continue
                    if is_fasta(full) or _looks_like_structure(name):
                        files.append(full)
                    else:
                        report.ignored.append(str(full))
        elif path.is_file():
            files.append(path)
        elif set("*?[") & set(str(item)) and glob.glob(str(item), recursive=True):
            files.extend(_expand(sorted(glob.glob(str(item), recursive=True)), report))
        else:
            raise DataError(f"inputs: {item}: no such file or directory")
    return files


def read_proteins(
    sources: Sequence[str | os.PathLike[str]],
    *,
    needs_structures: bool,
    encode_3di: bool,
    strict: bool = False,
) -> tuple[list[Protein], InputReport]:
    """The proteins of ``sources`` in order (module docstring); bad files and bad FASTA records skipped and
    reported (a record as ``file, line N``).

    Raises:
        DataError: a source does not exist, no usable protein is left (names why), or (``strict``) anything
            was skipped.
    """
    from protdata.errors import ProtdataError
    from protdata.fasta import FastaReport, read_fasta
    from protdata.io import LoadReport, iter_structures

    report = InputReport()
    proteins: list[Protein] = []
    seen: dict[str, str] = {}
    files = _expand(sources, report)
    for path in files:
        report.files += 1
        if is_fasta(path):
            if needs_structures:
                report.skipped.append(
                    (str(path), "a FASTA file has no 3D structure (the model's encoder reads one)")
                )
                continue
            records = FastaReport()
            try:
                found = read_fasta(
                    path, strict=False, report=records
                )  # a bad record is skipped, not the file
            except (ProtdataError, OSError, UnicodeDecodeError) as exc:
                report.skipped.append((str(path), one_line(f"{type(exc).__name__}: {exc}")))
                continue
            for skip in records.skipped:
                where = str(path) if skip.line is None else f"{path}, line {skip.line}"
                report.skipped.append((where, f"SequenceError: {skip.reason}"))
        else:
            loaded = LoadReport()
            found = list(iter_structures([path], report=loaded))
            for s in loaded.skipped:
                report.skipped.append((s.source, f"{s.error}: {s.reason}"))
            if encode_3di and found:
                found = _with_3di(found, report)
        for p in found:
            if len(p) == 0:
                report.skipped.append((f"{path}: {p.id}", "no residues"))
            elif p.id in seen:
                report.skipped.append((f"{path}: {p.id}", f"duplicate id (already read from {seen[p.id]})"))
            else:
                seen[p.id] = str(path)
                proteins.append(p)
    report.proteins = len(proteins)
    if not proteins:
        shown = ", ".join(str(s) for s in sources)
        why = f" ({report.summary()})" if files else ""
        kind = "structure" if needs_structures else "FASTA or structure"
        every = f"every input was skipped ({len(report.skipped)}): " if report.skipped else ""
        raise DataError(f"inputs: {every}no usable protein in {shown}: no {kind} file could be read{why}")
    if strict and report.skipped:
        raise strict_failure(report.skipped)
    return proteins, report


def _with_3di(proteins: list[Protein], report: InputReport) -> list[Protein]:
    """``proteins`` with Foldseek 3Di strings (SaProt); a protein the encoder rejects is skipped and reported."""
    return with_3di_or_skip(
        proteins, lambda p, exc: report.skipped.append((p.source or p.id, one_line(f"3Di: {exc}")))
    )


# ---------------------------------------------------------------------------------------------- scoring
def predict_scores(
    export: Export,
    proteins: Sequence[Protein],
    *,
    batch_size: int = 8,
    device: str | torch.device = "cpu",
    report: InputReport | None = None,
    notices: Notices | None = None,
) -> tuple[np.ndarray, list[int]]:
    """``(scores, kept)``: scores of the proteins ``kept`` (indices into ``proteins``, input order) —
    ``(N, C)`` probabilities (sigmoid for multi-label, softmax for single-label) or ``(N,)`` regression values. A
    batch that fails on bad input is retried protein by protein; proteins that still fail are skipped and added to
    ``report``. Crops of the inference transform (and the encoder's own crop warnings, when the caller captures them
    with ``notices``) are counted in ``notices``."""
    model = export.model.to(device).eval()
    items = [model.truncate(p) for p in proteins]  # the truncation the validation split saw (max_length)
    limit = model.config.max_length
    if notices is not None and limit is not None:  # counted once
        notices.cropped(sum(len(t) < len(p) for t, p in zip(items, proteins)), limit)
    order = sorted(range(len(items)), key=lambda i: len(items[i]))  # length-sorted batches, less padding
    results: dict[int, np.ndarray] = {}
    bad = input_error_types()
    for lo in range(0, len(order), batch_size):
        chunk = order[lo : lo + batch_size]
        try:
            values = _forward(model, [items[i] for i in chunk])
        except bad:
            values = None
        if values is not None:
            results.update(zip(chunk, values))
            continue
        for i in chunk:  # find the protein(s) the encoder rejects
            try:
                results[i] = _forward(model, [items[i]])[0]
            except bad as exc:
                if report is None:
                    raise
                report.skipped.append(
                    (f"{proteins[i].source or ''}: {proteins[i].id}".lstrip(": "), one_line(str(exc)))
                )
    kept = sorted(results)
    if not kept:
        raise DataError(
            "inputs: the model rejected every protein (first: "
            + (report.skipped[-1][1] if report and report.skipped else "?")
            + ")"
        )
    if report is not None:
        report.proteins = len(kept)
    return np.stack([results[i] for i in kept]).astype(np.float64), kept


def _forward(model: TaskModel, proteins: list[Protein]) -> np.ndarray:
    """The model's scores of one batch (:meth:`prottasks.TaskModel.predict`: sigmoid, softmax or values)."""
    return model.predict(ProteinBatch.collate(proteins))


# --------------------------------------------------------------------------------------------------- GO
class GoPropagation:
    """DAG-consistent scores over a GO label set (module docstring).

    Args:
        ontology: The Gene Ontology (:class:`prottasks.go.GeneOntology`).
        labels: The score columns (GO ids; alternative ids are mapped to their term).
    """

    def __init__(self, ontology: Any, labels: Sequence[str]) -> None:
        from prottasks.go import TermDag

        self.ontology = ontology
        self.current: list[str | None] = []
        for label in labels:
            r = ontology.resolve(label)
            self.current.append(r.term if r.term is not None and r.term in ontology else None)
        self.terms = list(dict.fromkeys(t for t in self.current if t is not None))
        self.column = {t: j for j, t in enumerate(self.terms)}
        self.dag = TermDag(ontology, self.terms) if self.terms else None
        self.unresolved = [label for label, t in zip(labels, self.current) if t is None]

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        """``(N, C)`` scores over the labels -> DAG-consistent scores (labels mapped to one term share its score)."""
        if self.dag is None:
            return scores.copy()
        merged = np.full((scores.shape[0], len(self.terms)), -np.inf)
        for j, t in enumerate(self.current):
            if t is not None:
                k = self.column[t]
                merged[:, k] = np.maximum(merged[:, k], scores[:, j])
        propagated = self.dag.propagate_scores(merged)
        out = scores.astype(np.float64).copy()
        for j, t in enumerate(self.current):
            if t is not None:
                out[:, j] = propagated[:, self.column[t]]
        return out

    def name(self, label: str) -> str:
        t = self.current_of(label)
        return self.ontology.name(t) if t is not None else ""

    def current_of(self, label: str) -> str | None:
        r = self.ontology.resolve(label)
        return r.term if r.term is not None and r.term in self.ontology else None


# ------------------------------------------------------------------------------------------------ names
def read_names(path: Path) -> dict[str, str]:
    """Label -> name from a CSV / TSV: the columns ``EC_number`` / ``term`` / ``label`` / ``id`` and ``name``
    (e.g. ProtST's ``reaction_description.tsv``), else the first two columns."""
    if not path.is_file():
        raise DataError(f"names: {path}: no such file")
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:  # type: ignore[operator]
        text = handle.read()
    delimiter = "," if path.name.lower().removesuffix(".gz").endswith(".csv") else "\t"
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    if not rows:
        raise DataError(f"names: {path}: empty file")
    header = [h.strip() for h in rows[0]]
    key_col = next((header.index(c) for c in ("EC_number", "term", "label", "id") if c in header), None)
    name_col = header.index("name") if "name" in header else None
    if key_col is None or name_col is None:
        if len(header) < 2:
            raise DataError(f"names: {path}, line 1: expected two columns (label, name)")
        key_col, name_col, body = 0, 1, rows  # no header: every line is (label, name)
    else:
        body = rows[1:]
    names: dict[str, str] = {}
    hier = [header.index(h) if h in header else None for h in ("hier1", "hier2", "hier3")]
    for row in body:
        if len(row) > max(key_col, name_col) and row[key_col].strip():
            key = row[key_col].strip()
            names.setdefault(key, row[name_col].strip().rstrip("."))
            parts = key.split(".")
            for depth, col in enumerate(
                hier, start=1
            ):  # EC classes: 1.-.-.-, 1.14.-.-, 1.14.14.- (ProtST columns)
                if col is not None and len(parts) == 4 and len(row) > col and row[col].strip():
                    partial = ".".join(parts[:depth] + ["-"] * (4 - depth))
                    names.setdefault(partial, row[col].strip().rstrip("."))
    return names


# ------------------------------------------------------------------------------------------------- rows
def ranked_rows(
    ids: Sequence[str],
    scores: np.ndarray,
    labels: Sequence[str],
    names: Any,
    *,
    top_k: int,
    threshold: float,
) -> list[tuple[str, int, str, str, float]]:
    """``(protein, rank, label, name, score)`` rows: per protein the ``top_k`` best labels (0: all) scoring at least
    ``threshold``, best first (ties keep the label order)."""
    rows = []
    for pid, s in zip(ids, scores):
        order = np.argsort(-s, kind="stable")
        if top_k > 0:
            order = order[:top_k]
        kept = [j for j in order if s[j] >= threshold]  # sorted: the kept ones are a prefix of ``order``
        rows.extend((pid, rank, labels[j], names(labels[j]), float(s[j])) for rank, j in enumerate(kept, 1))
    return rows


def format_score(value: float) -> str:
    return f"{value:.6g}"


def write_table(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Write a TSV (``.csv``: comma-separated) atomically; returns the number of rows."""
    delimiter = "," if path.name.lower().endswith(".csv") else "\t"
    n = 0
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=delimiter, lineterminator="\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow([format_score(v) if isinstance(v, float) else v for v in row])
            n += 1
        handle.flush()
        os.fsync(handle.fileno())
    return n
