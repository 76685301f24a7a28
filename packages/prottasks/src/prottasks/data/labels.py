"""A task's label vocabulary: label ↔ column, and k-hot / class-id encoding with explicit bad-input policies.

Bad input never disappears silently: a label outside the vocabulary and an empty label set are errors naming
the protein (and file / line when given) by default; ``on_unknown="skip"`` / ``on_empty="keep"`` /
``on_empty="drop"`` opt into skipping, and the :class:`EncodingReport` says what was skipped and why.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from prottasks.errors import LabelError


@dataclass
class EncodingReport:
    """What :meth:`LabelVocabulary.encode` left out.

    Attributes:
        unknown: ``{protein: [labels outside the vocabulary]}`` (``on_unknown="skip"``).
        empty: Proteins whose label set was empty (after skipping unknown labels).
        dropped: Proteins left out of the matrix (``on_empty="drop"``).
    """

    unknown: dict[str, list[str]] = field(default_factory=dict)
    empty: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    def summary(self) -> str:
        n_unknown = sum(len(v) for v in self.unknown.values())
        return (
            f"{n_unknown} unknown labels in {len(self.unknown)} proteins skipped; {len(self.empty)} empty label sets; "
            f"{len(self.dropped)} proteins dropped"
        )


class LabelVocabulary:
    """An ordered set of labels (EC numbers, GO ids, class names); ``index[label]`` is its column."""

    def __init__(self, labels: Iterable[str], *, name: str = "labels") -> None:
        self.labels: tuple[str, ...] = tuple(labels)
        self.name = name
        self.index: dict[str, int] = {}
        for i, label in enumerate(self.labels):
            if not isinstance(label, str) or not label:
                raise LabelError(name, f"label {i} is {label!r}; labels must be non-empty strings")
            if label in self.index:
                raise LabelError(
                    name, f"label {label!r} appears twice (positions {self.index[label]} and {i})"
                )
            self.index[label] = i

    def __len__(self) -> int:
        return len(self.labels)

    def __contains__(self, label: object) -> bool:
        return label in self.index

    def __repr__(self) -> str:
        return f"LabelVocabulary({self.name!r}, {len(self)} labels)"

    def column(self, label: str, *, protein: str | None = None) -> int:
        """The column of ``label``; :class:`LabelError` naming the protein if it is not in the vocabulary."""
        try:
            return self.index[label]
        except KeyError:
            who = f" of {protein}" if protein else ""
            raise LabelError(
                self.name, f"label {label!r}{who} is not in the vocabulary ({len(self)} labels)"
            ) from None

    def encode(
        self,
        label_sets: Sequence[Iterable[str]],
        *,
        ids: Sequence[str] | None = None,
        on_unknown: Literal["error", "skip"] = "error",
        on_empty: Literal["error", "keep", "drop"] = "error",
    ) -> tuple[np.ndarray, list[int], EncodingReport]:
        """k-hot ``(N, C)`` float32 matrix of ``label_sets`` (multi-label tasks: EC, GO).

        Args:
            label_sets: One iterable of labels per protein.
            ids: Protein names for messages and the report (default ``"protein <i>"``).
            on_unknown: ``"error"`` (default) or ``"skip"`` labels outside the vocabulary.
            on_empty: An empty label set is an ``"error"`` (default), kept as an all-zero row (``"keep"``) or left
                out (``"drop"``).

        Returns:
            ``(matrix, rows, report)``: ``rows[k]`` is the input position of matrix row ``k``.
        """
        if ids is not None and len(ids) != len(label_sets):
            raise LabelError(self.name, f"{len(ids)} ids for {len(label_sets)} label sets")
        report = EncodingReport()
        rows, columns = [], []
        for i, labels in enumerate(label_sets):
            protein = ids[i] if ids is not None else f"protein {i}"
            if isinstance(labels, str):
                raise LabelError(
                    self.name, f"labels of {protein} must be a collection of labels, not a string"
                )
            cols = []
            for label in labels:
                if label in self.index:
                    cols.append(self.index[label])
                elif on_unknown == "skip":
                    report.unknown.setdefault(protein, []).append(label)
                else:
                    self.column(label, protein=protein)
            if not cols:
                report.empty.append(protein)
                if on_empty == "error":
                    raise LabelError(self.name, f"{protein} has an empty label set")
                if on_empty == "drop":
                    report.dropped.append(protein)
                    continue
            rows.append(i)
            columns.append(cols)
        matrix = np.zeros((len(rows), len(self)), dtype=np.float32)
        for k, cols in enumerate(columns):
            matrix[k, cols] = 1.0
        return matrix, rows, report

    def encode_classes(self, labels: Sequence[str], *, ids: Sequence[str] | None = None) -> np.ndarray:
        """Class ids ``(N,)`` int64 of single labels (single-label tasks); unknown labels are errors."""
        out = np.empty(len(labels), dtype=np.int64)
        for i, label in enumerate(labels):
            out[i] = self.column(label, protein=ids[i] if ids is not None else f"protein {i}")
        return out

    def decode(self, row: Sequence[float] | np.ndarray, threshold: float = 0.5) -> list[str]:
        """Labels whose value in ``row`` is ``≥ threshold``."""
        values = np.asarray(row)
        if values.shape != (len(self),):
            raise LabelError(self.name, f"expected a row of {len(self)} values, got shape {values.shape}")
        return [self.labels[j] for j in np.flatnonzero(values >= threshold)]
