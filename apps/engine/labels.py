"""Label sources of the fine-tuning app: which proteins carry which targets, and (for benchmarks) the official
splits. ``data.labels.type`` picks one:

* ``nrpdb_ec`` — DeepFRI's nrPDB-EC (538 EC numbers, official splits; TorchDrug ``EnzymeCommission``, the EC task of
  ESM-GearNet / FusionProt / ProtCLIP), read by :func:`prottasks.data.load_nrpdb_ec`; the test split keeps the
  chains below ``test_cutoff`` identity (seed: 0.95).
* ``nrpdb_go`` — DeepFRI's nrPDB-GO (``branch`` MF / BP / CC: 489 / 1,943 / 320 terms; TorchDrug
  ``GeneOntology``). prottasks reads its splits; the annotation file ``nrPDB-GO_2019.06.18_annot.tsv`` is read here
  (:func:`read_nrpdb_go_annotations`: DeepFRI ``load_GO_annot``'s layout). Chains without a term of the branch
  keep an all-zero row, as in TorchDrug.
* ``cafa_terms`` — a CAFA-5 style ``EntryID term aspect`` file (the ESM2 Function Caller's data): terms of one
  ``aspect`` resolved against an OBO file (alt / replaced ids), true-path propagated, label vocabulary = every term
  seen (first-seen order; the seed) kept if annotated to ``min_count`` proteins. Proteins without a term of the
  aspect are not in the task.
* ``table`` — a CSV / TSV with an id column and a label column: ``single_label`` (class names), ``multi_label``
  (labels joined by ``label_separator``) or ``regression`` (numbers); optionally a sequence column.

Every reader raises a one-line error naming the file, line and problem; nothing is dropped silently (what is left
out is counted in :attr:`LabelTable.report`).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field

from engine.config import Section
from engine.errors import DataError

TaskKind = Literal["multi_label", "single_label", "regression"]
GO_PREFIX = "nrPDB-GO_2019.06.18"
GO_BRANCHES = {"MF": "molecular_function", "BP": "biological_process", "CC": "cellular_component"}


# ------------------------------------------------------------------------------------------------ configs
class NrpdbECLabels(Section):
    """nrPDB-EC (DeepFRI) — 538 EC numbers, official train / valid / test splits."""

    type: Literal["nrpdb_ec"] = "nrpdb_ec"
    folder: str  # the DeepFRI files (nrPDB-EC_2020.04_*)
    test_cutoff: float = 0.95  # seed: EnzymeCommission(test_cutoff=0.95)


class NrpdbGOLabels(Section):
    """nrPDB-GO (DeepFRI) — one branch, official splits."""

    type: Literal["nrpdb_go"] = "nrpdb_go"
    folder: str  # the DeepFRI files (nrPDB-GO_2019.06.18_*)
    branch: Literal["MF", "BP", "CC"]  # seed: --branch MF|BP|CC
    test_cutoff: float = 0.95  # seed: GeneOntology(test_cutoff=0.95)


class CafaTermsLabels(Section):
    """A CAFA-5 style annotation file (``EntryID term aspect``), one aspect."""

    type: Literal["cafa_terms"] = "cafa_terms"
    terms: str  # the TSV
    aspect: Literal["MFO", "BPO", "CCO"]  # seed subsets mf / bp / cc
    obo: str | None = None  # GO OBO: resolve alt / obsolete ids and propagate (true path)
    propagate: bool = True  # add every ancestor of an annotated term (needs obo)
    min_count: int = Field(1, ge=1)  # keep terms annotated to at least this many proteins (seed: 1)


class TableLabels(Section):
    """A CSV / TSV of labels (the delimiter follows the extension: ``.tsv`` / ``.tab`` tab, else comma)."""

    type: Literal["table"] = "table"
    path: str
    task: TaskKind = "single_label"
    id_column: str = "id"
    label_column: str = "label"
    sequence_column: str | None = (
        None  # sequences in the table itself (else from data.sequences / structures)
    )
    label_separator: str = ";"  # multi_label: labels joined by this
    classes: list[str] | None = None  # single / multi label: the label order (default: sorted labels seen)


LabelsConfig = Annotated[
    NrpdbECLabels | NrpdbGOLabels | CafaTermsLabels | TableLabels, Field(discriminator="type")
]


# ------------------------------------------------------------------------------------------------- tables
@dataclass
class LabelTable:
    """Targets by protein id, the label vocabulary and (benchmarks) the official splits.

    Attributes:
        kind: ``multi_label`` (``targets[id]`` = tuple of labels), ``single_label`` (a label) or ``regression``
            (a float).
        labels: The label vocabulary (column order), ``[]`` for regression.
        targets: Protein id -> target, in source order.
        splits: Official ``train`` / ``valid`` / ``test`` ids, or ``None``.
        sequences: Sequences the label source itself carries (a table's sequence column).
        label_kind: ``go``, ``ec`` or ``generic`` (what ``predict.py`` can name and make DAG-consistent).
        namespace: GO namespace of the labels (``molecular_function``, …) or ``None``.
        label_names: Label -> human-readable name where the source gives one.
        source: What was read (for messages).
        report: What was left out, one line each.
    """

    kind: TaskKind
    labels: list[str]
    targets: dict[str, Any]
    splits: dict[str, list[str]] | None = None
    sequences: dict[str, str] = field(default_factory=dict)
    label_kind: Literal["go", "ec", "generic"] = "generic"
    namespace: str | None = None
    label_names: dict[str, str] = field(default_factory=dict)
    source: str = ""
    report: list[str] = field(default_factory=list)


def read_labels(config: Any, key: str = "data.labels") -> LabelTable:
    """The :class:`LabelTable` of a ``data.labels`` section."""
    from engine.builders import resolve_path

    if isinstance(config, NrpdbECLabels):
        return _nrpdb_ec(resolve_path(config.folder, f"{key}.folder"), config.test_cutoff)
    if isinstance(config, NrpdbGOLabels):
        return _nrpdb_go(resolve_path(config.folder, f"{key}.folder"), config.branch, config.test_cutoff)
    if isinstance(config, CafaTermsLabels):
        obo = resolve_path(config.obo, f"{key}.obo") if config.obo else None
        if config.propagate and obo is None:
            raise DataError(f"{key}.propagate: true-path propagation needs {key}.obo (a GO OBO file)")
        return _cafa(resolve_path(config.terms, f"{key}.terms"), config, obo)
    return _table(resolve_path(config.path, f"{key}.path"), config)


def _need(path: Path, what: str) -> None:
    if not path.exists():
        raise DataError(f"{what}: {path}: no such file or directory")


def _nrpdb_ec(folder: Path, cutoff: float) -> LabelTable:
    from prottasks.data import load_nrpdb_ec

    _need(folder, "data.labels.folder")
    bench = load_nrpdb_ec(folder)
    splits = {s: bench.split_ids(s) for s in ("train", "valid")}
    splits["test"] = bench.split_ids("test", test_cutoff=cutoff)
    report = [bench.report.summary()] if bench.report.unassigned or bench.report.extra_sequences else []
    return LabelTable(
        kind="multi_label",
        labels=list(bench.vocabulary.labels),
        targets={c: tuple(ecs) for c, ecs in bench.annotations.items()},
        splits=splits,
        label_kind="ec",
        namespace="enzyme_commission",
        source=str(folder),
        report=report,
    )


def read_nrpdb_go_annotations(
    path: Path,
) -> tuple[dict[str, list[str]], dict[str, list[str]], dict[str, dict[str, tuple[str, ...]]]]:
    """DeepFRI's ``nrPDB-GO_*_annot.tsv``: for MF, BP and CC a header line, the terms, a header line and the names;
    a header line; then ``chain<TAB>MF terms<TAB>BP terms<TAB>CC terms`` (comma-separated).

    Returns:
        ``(terms, names, annotations)``: terms / names per branch (``MF``, ``BP``, ``CC``) in file order, and
        chain -> branch -> its terms.
    """
    _need(path, "data.labels.folder")
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle, delimiter="\t"))
    if len(rows) < 13:
        raise DataError(
            f"{path}: expected 12 header lines (terms and names of MF, BP, CC) and a column header"
        )
    terms: dict[str, list[str]] = {}
    names: dict[str, list[str]] = {}
    for k, branch in enumerate(GO_BRANCHES):
        header, term_row, _, name_row = rows[4 * k : 4 * k + 4]
        if not header or not header[0].startswith("#"):
            raise DataError(f"{path}, line {4 * k + 1}: expected a '### GO-terms' header, got {header[:1]!r}")
        terms[branch] = [t.strip() for t in term_row if t.strip()]
        names[branch] = [n.strip() for n in name_row][: len(terms[branch])]
        if len(names[branch]) != len(terms[branch]):
            raise DataError(
                f"{path}, line {4 * k + 4}: {len(names[branch])} names for {len(terms[branch])} {branch} terms"
            )
    known = {b: set(t) for b, t in terms.items()}
    annotations: dict[str, dict[str, tuple[str, ...]]] = {}
    for lineno, row in enumerate(rows[13:], start=14):
        if not row or not row[0].strip():
            continue
        if len(row) > 4:
            raise DataError(
                f"{path}, line {lineno}: expected a chain and 3 term lists, got {len(row)} fields"
            )
        row = row + [""] * (4 - len(row))
        chain = row[0].strip()
        entry = {}
        for branch, cell in zip(GO_BRANCHES, row[1:4]):
            ids = tuple(t.strip() for t in cell.split(",") if t.strip())
            bad = [t for t in ids if t not in known[branch]]
            if bad:
                raise DataError(f"{path}, line {lineno}: {chain}: {bad[0]} is not one of the {branch} terms")
            entry[branch] = ids
        annotations[chain] = entry
    return terms, names, annotations


def _nrpdb_go(folder: Path, branch: str, cutoff: float) -> LabelTable:
    from prottasks.data import load_nrpdb_go_splits

    _need(folder, "data.labels.folder")
    terms, names, annotations = read_nrpdb_go_annotations(folder / f"{GO_PREFIX}_annot.tsv")
    splits_data = load_nrpdb_go_splits(folder)
    splits = {s: splits_data.split_ids(s) for s in ("train", "valid")}
    splits["test"] = splits_data.split_ids("test", test_cutoff=cutoff)
    missing = [c for ids in splits.values() for c in ids if c not in annotations]
    if missing:
        raise DataError(f"{folder}: {len(missing)} split chains have no annotation line (e.g. {missing[0]})")
    return LabelTable(
        kind="multi_label",
        labels=terms[branch],
        targets={c: a[branch] for c, a in annotations.items()},
        splits=splits,
        label_kind="go",
        namespace=GO_BRANCHES[branch],
        label_names=dict(zip(terms[branch], names[branch])),
        source=str(folder),
    )


def _cafa(path: Path, config: CafaTermsLabels, obo: Path | None) -> LabelTable:
    from prottasks.go import GeneOntology, namespace_of_aspect, propagate_terms, read_cafa_terms

    _need(path, "data.labels.terms")
    annotations = read_cafa_terms(path)
    namespace = namespace_of_aspect(config.aspect)
    report: list[str] = []
    ontology = None
    if obo is not None:
        _need(obo, "data.labels.obo")
        ontology = GeneOntology.from_obo(obo)
        annotations, normalization = annotations.normalized(ontology)
        if normalization.num_unresolved or normalization.mapped:
            report.append(normalization.summary().splitlines()[0])
    targets: dict[str, tuple[str, ...]] = {}
    for protein in annotations.proteins(config.aspect):
        terms = annotations.terms[protein].get(namespace, [])
        if ontology is not None and config.propagate:
            closed = propagate_terms(ontology, terms)
            ordered = list(dict.fromkeys([*terms, *sorted(closed - set(terms))]))
            terms = [t for t in ordered if ontology.namespace(t) == namespace]
        targets[protein] = tuple(terms)
    counts: dict[str, int] = {}
    for terms in targets.values():
        for t in terms:
            counts[t] = counts.get(t, 0) + 1
    labels = [t for t in counts if counts[t] >= config.min_count]
    if len(labels) < len(counts):
        report.append(
            f"{len(counts) - len(labels)} terms annotated to fewer than {config.min_count} proteins left out"
        )
    if not labels:
        raise DataError(f"data.labels.terms: {path}: no {config.aspect} term in the file")
    names = {t: ontology.name(t) for t in labels} if ontology is not None else {}
    return LabelTable(
        kind="multi_label",
        labels=labels,
        targets=targets,
        label_kind="go",
        namespace=namespace,
        label_names=names,
        source=str(path),
        report=report,
    )


def _delimiter(path: Path) -> str:
    name = path.name.lower().removesuffix(".gz")
    return "\t" if name.endswith((".tsv", ".tab", ".txt")) else ","


def read_table(path: Path, columns: list[str]) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """Rows of a CSV / TSV as ``(line, {column: text})``; the named ``columns`` must exist (a UTF-8 BOM is
    ignored). Raises :class:`DataError` naming the file and the missing column."""
    _need(path, "table")
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, delimiter=_delimiter(path))
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise DataError(f"{path}: empty file") from None
        for c in columns:
            if c not in header:
                raise DataError(f"{path}: no column {c!r} (columns: {', '.join(header[:12])})")
        rows = []
        for lineno, row in enumerate(reader, start=2):
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise DataError(f"{path}, line {lineno}: {len(row)} fields, the header has {len(header)}")
            rows.append((lineno, dict(zip(header, row))))
    return header, rows


def _table(path: Path, config: TableLabels) -> LabelTable:
    columns = [config.id_column, config.label_column] + (
        [config.sequence_column] if config.sequence_column else []
    )
    _, rows = read_table(path, columns)
    targets: dict[str, Any] = {}
    sequences: dict[str, str] = {}
    report: list[str] = []
    unlabelled = 0
    for lineno, row in rows:
        pid = row[config.id_column].strip()
        text = row[config.label_column].strip()
        if not pid:
            raise DataError(f"{path}, line {lineno}: empty {config.id_column!r}")
        if pid in targets:
            raise DataError(f"{path}, line {lineno}: protein {pid!r} appears twice")
        if not text:
            unlabelled += 1
            continue
        if config.task == "regression":
            try:
                value = float(text)
            except ValueError:
                raise DataError(
                    f"{path}, line {lineno}: {config.label_column} {text!r} is not a number"
                ) from None
            if not math.isfinite(value):
                raise DataError(f"{path}, line {lineno}: {config.label_column} is {text}")
            targets[pid] = value
        elif config.task == "multi_label":
            targets[pid] = tuple(t.strip() for t in text.split(config.label_separator) if t.strip())
        else:
            targets[pid] = text
        if config.sequence_column:
            seq = row[config.sequence_column].strip()
            if not seq:
                raise DataError(f"{path}, line {lineno}: empty {config.sequence_column!r}")
            sequences[pid] = seq
    if unlabelled:
        report.append(f"{unlabelled} rows of {path.name} without a label left out")
    if not targets:
        raise DataError(f"data.labels.path: {path}: no labelled row")
    if config.task == "regression":
        labels: list[str] = []
    elif config.classes is not None:
        labels = list(config.classes)
        if config.task == "multi_label":
            known = set(labels)
            outside = sorted({t for ts in targets.values() for t in ts if t not in known})
            if outside:
                report.append(
                    f"{len(outside)} labels of {path.name} not in data.labels.classes left out (e.g. {outside[0]})"
                )
    elif config.task == "multi_label":
        labels = sorted({t for ts in targets.values() for t in ts})
    else:
        labels = sorted(set(targets.values()))
    if config.task == "single_label" and len(labels) < 2:
        raise DataError(
            f"data.labels.path: {path}: single-label classification needs >= 2 classes, found {labels}"
        )
    return LabelTable(
        kind=config.task,
        labels=labels,
        targets=targets,
        sequences=sequences,
        source=str(path),
        report=report,
    )
