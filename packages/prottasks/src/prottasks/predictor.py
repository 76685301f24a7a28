"""A fine-tuned model ready to rank labels: batch tables, one sequence, or an interactive prompt.

:class:`Predictor` is what ``apps/predict.py`` runs: a saved :class:`~prottasks.TaskModel`
(:func:`~prottasks.predictions.load_task_model`) with its label names (a names table, else the GO ontology's, else
the export's own), the GO max-propagation that makes its scores DAG-consistent (:class:`prottasks.go.GoPropagation`)
and the ranking settings (``top_k``, ``threshold``).

* :meth:`Predictor.table` — the rows of the prediction table (``protein, rank, label, name, score``; regression:
  ``protein, prediction``).
* :meth:`Predictor.interactive` — the ESM2 Function Caller's ``predict-rank.py`` (andrewdalpino/
  esm2-function-classifier): ``Enter a sequence:``, then the top-k terms one per line as ``0.6195: cellular
  anatomical entity`` (score with 4 decimals, then the name), until an empty line or the end of the input.
* :func:`sequence_protein` / :func:`read_fasta_stream` — proteins from a raw sequence or a FASTA stream (stdin).
* :func:`check_label_names` — a names table must name at least one of the model's labels (else an error, not a
  column of empty names).
* :func:`saprot_sequence_note` — what a SaProt model reads for a protein without structure: ``#`` for every 3Di
  token (SaProt's sequence-only input, westlake-repl/SaProt ``utils/foldseek_util.py``: ``"#"`` = unknown 3Di).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from protdata.errors import ProtdataError
from protdata.protein import Protein
from prottasks.errors import TableError, TaskInputError

__all__ = [
    "Predictor",
    "check_label_names",
    "read_fasta_stream",
    "saprot_sequence_note",
    "sequence_protein",
]

#: The seed's prompt (predict-rank.py: ``input("Enter a sequence: ")``).
PROMPT = "Enter a sequence: "


def sequence_protein(sequence: str, pid: str = "sequence") -> Protein:
    """A sequence-only protein from a raw sequence (upper-cased; B/Z/J/U/O → X; a trailing ``*`` dropped).

    Raises:
        SequenceError: a character that is not an amino acid (names its column), or an empty sequence.
    """
    from protdata.errors import SequenceError
    from protdata.fasta import clean_sequence

    cleaned = clean_sequence("".join(sequence.split()), source="sequence", record=pid)
    if not cleaned:
        raise SequenceError("sequence", "empty sequence")
    return Protein.from_sequence(pid, cleaned, source="sequence")


def read_fasta_stream(stream: TextIO, skipped: list[tuple[str, str]], name: str = "<stdin>") -> list[Protein]:
    """The records of a FASTA stream (e.g. ``sys.stdin``); a bad record is appended to ``skipped`` as
    ``("<stdin>, line N", reason)`` and the others are kept (:func:`protdata.fasta.iter_fasta`).

    Raises:
        SequenceError: no FASTA record at all (an empty stream, text before the first ``>``).
    """
    from protdata.fasta import FastaReport, iter_fasta

    report = FastaReport()
    proteins = [p.replace(source=name) for p in iter_fasta(stream, strict=False, report=report)]
    skipped.extend((name if s.line is None else f"{name}, line {s.line}", s.reason) for s in report.skipped)
    if not proteins:
        raise TaskInputError(name, f"every FASTA record was skipped ({len(report.skipped)})")
    return proteins


def check_label_names(
    names: Mapping[str, str], labels: Sequence[str], source: str | os.PathLike[str]
) -> None:
    """A names table (:func:`~prottasks.predictions.read_label_names`) must name at least one label (a model
    without labels, e.g. a regression, ignores it).

    Raises:
        TableError: none of its ids is one of ``labels`` (shows an id of each side).
    """
    if names and labels and not any(label in names for label in labels):
        first = next(iter(names))
        raise TableError(
            Path(source),
            f"names table: none of its {len(names)} ids is a label of the model (its ids look like {first!r}, "
            f"the model's {len(labels)} labels like {labels[0]!r}); give the table of this model's labels",
        )


def saprot_sequence_note(proteins: Sequence[Protein]) -> str | None:
    """The one note for proteins without a 3Di string given to a SaProt model (None when every one has one)."""
    flat = [p for p in proteins if not p.structure_tokens]
    if not flat:
        return None
    seq = flat[0].sequence[:6]
    example = "".join(f"{aa}#" for aa in seq)
    return (
        f"{len(flat)} protein(s) without structure: this SaProt model reads '#' (unknown) for every 3Di token "
        f"(e.g. {seq}… -> {example}…); give PDB / mmCIF files for structure-aware predictions"
    )


@dataclass
class Predictor:
    """A task model with names, GO propagation and ranking settings (module docstring).

    Attributes:
        model: The :class:`~prottasks.TaskModel` (eval mode). directory: Its export directory. meta: Its
            ``config.json``. names: Label → name. propagation: The GO labels' ontology
            (:class:`~prottasks.go.GoPropagation`; None: not a GO model). propagate: Max-propagate GO scores.
        top_k: Labels per protein (0: all). threshold: Keep scores at least this. batch_size, device: Inference.
    """

    model: Any
    directory: Path
    meta: dict[str, Any]
    names: dict[str, str] = field(default_factory=dict)
    propagation: Any = None
    propagate: bool = True
    top_k: int = 10
    threshold: float = 0.0
    batch_size: int = 8
    device: Any = "cpu"

    @classmethod
    def load(
        cls,
        model: str | os.PathLike[str],
        *,
        obo: str | os.PathLike[str] | None = None,
        names: str | os.PathLike[str] | None = None,
        propagate: bool = True,
        **settings: Any,
    ) -> Predictor:
        """Load the export at ``model``, its names (``names`` table, else the OBO's, else the export's) and, for a
        GO model, the ontology of ``obo`` (default: the one it was trained with) when ``propagate`` or ``obo``.

        Raises:
            TaskInputError: ``model: …`` (not a fine-tuned model, weights that do not fit); ``obo: …`` (a GO model
                without an ontology, a missing file). TableError: an unreadable names table, or one naming none
                of the labels.
        """
        from prottasks.predictions import load_task_model, read_label_names

        try:
            loaded, directory, meta = load_task_model(model)
        except ProtdataError as exc:
            raise TaskInputError("model", " ".join(str(exc).split())) from None
        task = meta.get("task") or {}
        table = read_label_names(names) if names else {}
        if names:
            check_label_names(table, loaded.labels, names)
        go = loaded.kind == "multi_label" and task.get("label_kind") == "go"
        propagation = _go_propagation(obo, task) if go and (propagate or obo) else None
        named = {
            **(task.get("label_names") or {}),
            **(propagation.names(loaded.labels) if propagation else {}),
        }
        named.update(table)
        return cls(
            loaded, directory, meta, named, propagation, propagate and propagation is not None, **settings
        )

    @property
    def task(self) -> dict[str, Any]:
        return self.meta.get("task") or {}

    @property
    def kind(self) -> str:
        return str(self.model.kind)

    @property
    def saprot(self) -> bool:
        """The model reads SaProt's structure-aware tokens."""
        return self.task.get("vocabulary") == "saprot"

    @property
    def needs_structures(self) -> bool:
        return bool(self.task.get("needs_structures"))

    def read_proteins(
        self,
        sources: Sequence[str | os.PathLike[str]],
        *,
        sequence: str | None = None,
        strict: bool = False,
        stdin: TextIO | None = None,
    ) -> tuple[list[Protein], list[tuple[str, str]], list[str]]:
        """``(proteins, skipped (source, reason), notes)`` of ``sequence`` (a raw sequence), of FASTA on ``stdin``
        (``sources == ["-"]``) or of files / directories / globs / tars (:func:`protdata.inputs.read_inputs`;
        SaProt models get 3Di strings for structures). A SaProt model given sequences gets one note.

        Raises:
            InputError / SequenceError / TaskInputError: no usable protein, a bad sequence, ``-`` among files, a
                structure model given sequences, or (``strict``) anything skipped.
        """
        from protdata.inputs import read_inputs

        skipped: list[tuple[str, str]] = []
        if sequence is not None or list(map(os.fspath, sources)) == ["-"]:
            if self.needs_structures:
                raise TaskInputError(
                    "inputs", "this model reads 3D structures; a sequence has none (give files)"
                )
            if sequence is not None:
                proteins = [sequence_protein(sequence)]
            else:
                proteins = read_fasta_stream(stdin if stdin is not None else sys.stdin, skipped)
            note = saprot_sequence_note(proteins) if self.saprot else None
            return proteins, skipped, [note] if note else []
        if "-" in map(os.fspath, sources):
            raise TaskInputError("inputs", "'-' (FASTA on standard input) cannot be mixed with files")
        found = read_inputs(
            sources,
            needs_structures=self.needs_structures,
            structure_tokens=self.saprot,
            strict=strict,
            strict_option="--strict",
        )
        return found.proteins, found.report.items(), list(found.report.notes)

    def scores(self, proteins: Sequence[Protein], skipped: list[tuple[str, str]] | None = None) -> Any:
        """:class:`~prottasks.predictions.Predictions` of ``proteins`` (GO: max-propagated when enabled)."""
        from prottasks.predictions import predict_scores

        found = predict_scores(
            self.model, proteins, batch_size=self.batch_size, device=self.device, skipped=skipped
        )
        if self.propagate:
            found.scores = self.propagation(found.scores)  # (N, C)
        return found

    def table(self, ids: Sequence[str], scores: np.ndarray) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
        """``(header, rows)`` of the prediction table for ``scores`` ``(N, C)`` (regression ``(N,)``)."""
        from prottasks.predictions import ranked_rows

        if self.kind == "regression":
            return ("protein", "prediction"), [(pid, float(v)) for pid, v in zip(ids, scores)]
        rows = ranked_rows(
            ids, scores, self.model.labels, self.names, top_k=self.top_k, threshold=self.threshold
        )
        return ("protein", "rank", "label", "name", "score"), rows

    def describe(self) -> str:
        """What the table holds, e.g. ``top 10, score >= 0, DAG-consistent GO scores``."""
        if self.kind == "regression":
            return "one prediction per protein"
        limit = f"top {self.top_k}" if self.top_k else "all labels"
        limit += f", score >= {self.threshold:g}"
        return limit + (", DAG-consistent GO scores" if self.propagate else "")

    def warnings(self) -> list[str]:
        """GO labels the ontology does not have (their scores are not propagated)."""
        if self.propagation is None or not self.propagation.unresolved:
            return []
        bad, obo = self.propagation.unresolved, self.propagation.ontology.source
        return [f"{len(bad)} GO labels are not in {obo} (e.g. {bad[0]}): their scores are not propagated"]

    def top_lines(self, scores: np.ndarray) -> list[str]:
        """One protein's ranking as predict-rank.py prints it: ``0.6195: cellular anatomical entity`` per label
        (the label itself when it has no name); regression: ``prediction: 1.2345``."""
        if self.kind == "regression":
            return [f"prediction: {float(scores):.4f}"]
        rows = self.table(["?"], np.asarray(scores)[None])[1]
        return [f"{score:.4f}: {name or label}" for _, _, label, name, score in rows]

    def interactive(
        self, stdin: TextIO | None = None, stdout: TextIO | None = None, stderr: TextIO | None = None
    ) -> int:
        """Ask for sequences until an empty line or the end of ``stdin``; print each one's top labels to
        ``stdout`` (a bad sequence: ``error: …`` on ``stderr`` and the next prompt; streams default to ``sys``'s
        at call time). Returns how many sequences were ranked.

        Raises:
            TaskInputError: the model reads 3D structures (a sequence cannot be ranked).
        """
        stdin, stdout, stderr = stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr
        if self.needs_structures:
            raise TaskInputError("interactive", "this model reads 3D structures; give files with -i instead")
        what = "GO Terms" if self.task.get("label_kind") == "go" else "labels"
        answered, noted = 0, False
        while True:
            stdout.write(PROMPT)
            stdout.flush()
            line = stdin.readline()
            if not line.strip():  # EOF ("") or an empty line
                stdout.write("\n" if not line else "")
                return answered
            try:
                protein = sequence_protein(line.strip(), f"sequence{answered + 1}")
                if self.saprot and not noted:
                    print(f"note: {saprot_sequence_note([protein])}", file=stderr, flush=True)
                    noted = True
                found = self.scores([protein])
            except ProtdataError as exc:
                print(f"error: {' '.join(str(exc).split())}", file=stderr, flush=True)
                continue
            if found.cropped:  # the truncation the model was validated with (max_length)
                window = self.model.config.max_length
                print(
                    f"note: cropped to the first {window} of {len(protein)} residues", file=stderr, flush=True
                )
            lines = self.top_lines(found.scores[0])
            head = f"Top {len(lines)} {what}:" if self.kind != "regression" else ""
            stdout.write("\n" + "".join(f"{s}\n" for s in ([head] if head else []) + lines) + "\n")
            stdout.flush()
            answered += 1


def _go_propagation(obo: str | os.PathLike[str] | None, task: dict[str, Any]) -> Any:
    """The GO max-propagation over the model's labels, from ``obo`` or the ontology the model was trained with."""
    from prottasks.go import GeneOntology, GoPropagation

    path = Path(obo) if obo else (Path(task["obo"]) if task.get("obo") else None)
    if path is None:
        hint = "to make its scores DAG-consistent and name them, or --no-propagate"
        raise TaskInputError(
            "obo", f"this model predicts GO terms; give the ontology (--obo go-basic.obo) {hint}"
        )
    if not path.is_file():
        raise TaskInputError("obo", f"{path}: no such file")
    return GoPropagation(GeneOntology.from_obo(path), task["labels"])
