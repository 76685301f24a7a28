"""Label tables: which proteins carry which targets, the label vocabulary and (benchmarks) the official splits.

* :func:`nrpdb_ec_table` — DeepFRI's nrPDB-EC (538 EC numbers, official splits; TorchDrug ``EnzymeCommission``,
  the EC task of ESM-GearNet / FusionProt / ProtCLIP); the test split keeps the chains below ``test_cutoff``
  identity (seed: 0.95).
* :func:`nrpdb_go_table` — DeepFRI's nrPDB-GO, one ``branch`` (MF / BP / CC: 489 / 1,943 / 320 terms; TorchDrug
  ``GeneOntology``). Chains without a term of the branch keep an all-zero row, as in TorchDrug.
* :func:`cafa_table` — a CAFA-5 style ``EntryID term aspect`` file (the ESM2 Function Caller's data): terms of one
  aspect resolved against an OBO file (alt / replaced ids), true-path propagated
  (:meth:`prottasks.go.Annotations.propagated`), label vocabulary = every term seen (first-seen order; the seed)
  kept if annotated to ``min_count`` proteins. Proteins without a term of the aspect are not in the task.
* :func:`column_table` — a CSV / TSV with an id column and a label column: ``single_label`` (class names),
  ``multi_label`` (labels joined by a separator) or ``regression`` (numbers); optionally a sequence column.

Every reader raises a one-line :class:`~prottasks.errors.LabelError` naming the file, line and problem; nothing is
dropped silently (what is left out is counted in :attr:`LabelTable.report`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any, Literal

from prottasks.data.csv_table import read_csv_table
from prottasks.data.go_splits import GO_BRANCHES, GO_PREFIX, read_nrpdb_go_annotations
from prottasks.errors import LabelError

TaskKind = Literal["multi_label", "single_label", "regression", "contact", "msp"]


@dataclass
class LabelTable:
    """Targets by protein id, the label vocabulary and (benchmarks) the official splits.

    Attributes:
        kind: ``multi_label`` (``targets[id]`` = tuple of labels), ``single_label`` (a label), ``regression``
            (a float) or ``contact`` (the structure's own contact map: ``targets[id]`` is a placeholder 0.0,
            :mod:`prottasks.data.contacts`).
        labels: The label vocabulary (column order), ``[]`` for regression.
        targets: Protein id -> target, in source order.
        splits: Official ``train`` / ``valid`` / ``test`` ids, or ``None``.
        sequences: Sequences the label source itself carries (a table's sequence column).
        label_kind: ``go``, ``ec`` or ``generic`` (what a predictor can name and make DAG-consistent).
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

    def metadata(self) -> dict[str, Any]:
        """What a predictor needs to name and check the score columns: ``kind``, ``labels``, ``label_kind``,
        ``namespace`` and ``label_names`` (of the vocabulary's labels)."""
        names = {k: self.label_names[k] for k in self.labels if k in self.label_names}
        return {
            "kind": self.kind,
            "labels": list(self.labels),
            "label_kind": self.label_kind,
            "namespace": self.namespace,
            "label_names": names,
        }

    def encode(self, ids: Sequence[str]) -> Any:
        """Targets of ``ids`` (:class:`~prottasks.data.labels.LabelVocabulary`): ``(N, C)`` float32 k-hot (labels
        outside the vocabulary are left out; a row may end empty), ``(N,)`` int64 class ids or ``(N,)`` float32
        values.

        Raises:
            LabelError: a single-label class outside the vocabulary (naming the protein).
        """
        import numpy as np

        from prottasks.data.labels import LabelVocabulary

        if self.kind in ("regression", "contact", "msp"):  # msp: 0 / 1 (prottasks.data.atom3d)
            return np.array([self.targets[i] for i in ids], dtype=np.float32)
        vocabulary = LabelVocabulary(self.labels, name=self.source or "labels")
        values = [self.targets[i] for i in ids]
        if self.kind == "single_label":
            return vocabulary.encode_classes(values, ids=ids)
        return vocabulary.encode(values, ids=ids, on_unknown="skip", on_empty="keep")[0]


def _need(path: Path) -> Path:
    if not path.exists():
        raise LabelError(path, "no such file or directory")
    return path


def nrpdb_ec_table(folder: str | PathLike[str], *, test_cutoff: float = 0.95) -> LabelTable:
    """The nrPDB-EC benchmark in ``folder`` (:func:`prottasks.data.load_nrpdb_ec`) as a label table."""
    from prottasks.data.ec import load_nrpdb_ec

    folder = _need(Path(folder))
    bench = load_nrpdb_ec(folder)
    splits = {s: bench.split_ids(s) for s in ("train", "valid")}
    splits["test"] = bench.split_ids("test", test_cutoff=test_cutoff)
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


def nrpdb_go_table(
    folder: str | PathLike[str], branch: Literal["MF", "BP", "CC"], *, test_cutoff: float = 0.95
) -> LabelTable:
    """One branch of the nrPDB-GO benchmark in ``folder`` (annotation file and official splits).

    Raises:
        LabelError: a malformed annotation file, or split chains without an annotation line.
    """
    from prottasks.data.go_splits import load_nrpdb_go_splits

    folder = _need(Path(folder))
    terms, names, annotations = read_nrpdb_go_annotations(folder / f"{GO_PREFIX}_annot.tsv")
    official = load_nrpdb_go_splits(folder)
    splits = {s: official.split_ids(s) for s in ("train", "valid")}
    splits["test"] = official.split_ids("test", test_cutoff=test_cutoff)
    missing = [c for ids in splits.values() for c in ids if c not in annotations]
    if missing:
        raise LabelError(folder, f"{len(missing)} split chains have no annotation line (e.g. {missing[0]})")
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


def cafa_table(
    path: str | PathLike[str],
    aspect: Literal["MFO", "BPO", "CCO"],
    *,
    obo: str | PathLike[str] | None = None,
    propagate: bool = True,
    min_count: int = 1,
) -> LabelTable:
    """The ``aspect`` terms of a CAFA-5 style annotation file (module docstring); with ``obo``, ids are resolved
    and (``propagate``) true-path propagated.

    Raises:
        LabelError: a malformed file, ``propagate`` without an ontology, or no term of the aspect.
    """
    from prottasks.go import GeneOntology, namespace_of_aspect, read_cafa_terms

    path = _need(Path(path))
    if propagate and obo is None:
        raise LabelError(path, "true-path propagation needs a GO OBO file")
    annotations = read_cafa_terms(path)
    namespace = namespace_of_aspect(aspect)
    report: list[str] = []
    ontology = None
    if obo is not None:
        ontology = GeneOntology.from_obo(_need(Path(obo)))
        annotations, normalization = annotations.normalized(ontology)
        if normalization.num_unresolved or normalization.mapped:
            report.append(normalization.summary().splitlines()[0])
        if propagate:
            annotations = annotations.propagated(ontology)
    targets = {p: tuple(annotations.terms[p].get(namespace, [])) for p in annotations.proteins(aspect)}
    counts: dict[str, int] = {}
    for terms in targets.values():
        for t in terms:
            counts[t] = counts.get(t, 0) + 1
    labels = [t for t in counts if counts[t] >= min_count]
    if len(labels) < len(counts):
        report.append(
            f"{len(counts) - len(labels)} terms annotated to fewer than {min_count} proteins left out"
        )
    if not labels:
        raise LabelError(path, f"no {aspect} term in the file")
    return LabelTable(
        kind="multi_label",
        labels=labels,
        targets=targets,
        label_kind="go",
        namespace=namespace,
        label_names={t: ontology.name(t) for t in labels} if ontology is not None else {},
        source=str(path),
        report=report,
    )


def read_table(
    path: str | PathLike[str], columns: Sequence[str]
) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """Rows of a CSV / TSV as ``(line, {column: text})`` (:func:`prottasks.data.csv_table.read_csv_table`:
    tab-delimited for ``.tsv`` / ``.tab`` / ``.txt``, else comma). The named ``columns`` must exist.

    Raises:
        LabelError: a missing or empty file, a missing column, a row with another number of fields than the header.
    """
    table = read_csv_table(path, error=LabelError)
    return table.header, table.records(columns)


def _target(path: Path, lineno: int, column: str, text: str, task: TaskKind, separator: str) -> Any:
    if task == "multi_label":
        return tuple(t.strip() for t in text.split(separator) if t.strip())
    if task == "single_label":
        return text
    try:
        value = float(text)
    except ValueError:
        raise LabelError(path, f"{column} {text!r} is not a number", line=lineno) from None
    if not math.isfinite(value):
        raise LabelError(path, f"{column} is {text}", line=lineno)
    return value


def column_table(
    path: str | PathLike[str],
    *,
    task: TaskKind = "single_label",
    id_column: str = "id",
    label_column: str = "label",
    sequence_column: str | None = None,
    label_separator: str = ";",
    classes: Sequence[str] | None = None,
) -> LabelTable:
    """A CSV / TSV of labels (:func:`read_table`): ``id_column`` -> ``label_column`` (module docstring). Rows
    without a label are left out (counted in the report); ``classes`` fixes the label order (default: the sorted
    labels seen); multi-label labels outside ``classes`` are left out and counted.

    Raises:
        LabelError: an empty or repeated id, a non-numeric regression target, an empty sequence, no labelled row,
            fewer than 2 classes for single-label classification (file and line).
    """
    path = Path(path)
    _, rows = read_table(path, [id_column, label_column] + ([sequence_column] if sequence_column else []))
    targets: dict[str, Any] = {}
    sequences: dict[str, str] = {}
    report: list[str] = []
    unlabelled = 0
    for lineno, row in rows:
        pid = row[id_column].strip()
        text = row[label_column].strip()
        if not pid:
            raise LabelError(path, f"empty {id_column!r}", line=lineno)
        if pid in targets:
            raise LabelError(path, f"protein {pid!r} appears twice", line=lineno)
        if not text:
            unlabelled += 1
            continue
        targets[pid] = _target(path, lineno, label_column, text, task, label_separator)
        if sequence_column:
            seq = row[sequence_column].strip()
            if not seq:
                raise LabelError(path, f"empty {sequence_column!r}", line=lineno)
            sequences[pid] = seq
    if unlabelled:
        report.append(f"{unlabelled} rows of {path.name} without a label left out")
    if not targets:
        raise LabelError(path, "no labelled row")
    if task == "regression":
        labels: list[str] = []
    elif classes is not None:
        labels = list(classes)
        if task == "multi_label":
            outside = sorted({t for ts in targets.values() for t in ts} - set(labels))
            if outside:
                report.append(
                    f"{len(outside)} labels of {path.name} not in the classes left out (e.g. {outside[0]})"
                )
    elif task == "multi_label":
        labels = sorted({t for ts in targets.values() for t in ts})
    else:
        labels = sorted(set(targets.values()))
    if task == "single_label" and len(labels) < 2:
        raise LabelError(path, f"single-label classification needs >= 2 classes, found {labels}")
    return LabelTable(
        kind=task, labels=labels, targets=targets, sequences=sequences, source=str(path), report=report
    )
