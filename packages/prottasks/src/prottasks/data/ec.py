"""The nrPDB-EC benchmark of DeepFRI (Gligorijević et al. 2021) — the labels behind the 538-class EC task of
GearNet / ESM-GearNet / ProtCLIP (TorchDrug ``EnzymeCommission``).

Files (``ec_go_benchmark/deepfri/`` of the shared data, from the DeepFRI repository):

* ``nrPDB-EC_2020.04_annot.tsv`` — line 1 ``### EC-numbers``, line 2 the 538 EC numbers (tab-separated; their
  order is the label order), line 3 ``### PDB-chain<TAB>EC-numbers``, then ``<chain><TAB><EC>,<EC>,…``.
* ``nrPDB-EC_2020.04_{train,valid,test}.txt`` — the official splits, one chain per line.
* ``nrPDB-EC_2020.04_test.csv`` — per test chain, 0/1 flags ``<30%,<40%,<50%,<70%,<95%``: sequence identity to the
  training set below the cutoff (TorchDrug's ``test_cutoff=0.95`` keeps the ``<95%`` chains).
* ``nrPDB-EC_2020.04_test_sequences.fasta`` — the test chains' sequences.

Every EC number of an annotation must be in the vocabulary and every split chain must be annotated
(:class:`~prottasks.errors.LabelError` naming file and line); annotated chains in no split and sequences of
chains outside the test split are reported in :attr:`ECBenchmark.report`.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

import numpy as np

from prottasks.data.labels import LabelVocabulary
from prottasks.errors import LabelError

EC_PREFIX = "nrPDB-EC_2020.04"
SPLITS = ("train", "valid", "test")
IDENTITY_CUTOFFS = (0.3, 0.4, 0.5, 0.7, 0.95)


@dataclass
class BenchmarkReport:
    """Chains present in one file but not where they were expected (nothing is dropped silently)."""

    unassigned: list[str] = field(default_factory=list)  # annotated, but in no split
    extra_sequences: list[str] = field(default_factory=list)  # in the test FASTA, not in the test split

    def summary(self) -> str:
        return (
            f"{len(self.unassigned)} annotated chains in no split ({', '.join(self.unassigned[:5])}); "
            f"{len(self.extra_sequences)} test sequences of chains outside the test split "
            f"({', '.join(self.extra_sequences[:5])})"
        )


@dataclass
class ECBenchmark:
    """nrPDB-EC: vocabulary, annotations, official splits, test identity flags and test sequences."""

    vocabulary: LabelVocabulary
    annotations: dict[str, tuple[str, ...]]
    splits: dict[str, list[str]]
    test_identity: dict[str, dict[float, bool]]
    test_sequences: dict[str, str]
    report: BenchmarkReport

    def split_ids(self, split: str, *, test_cutoff: float | None = None) -> list[str]:
        """Chains of ``split``; for the test split, ``test_cutoff`` (e.g. 0.95, 0.3) keeps the chains whose
        identity to the training set is below it."""
        if split not in self.splits:
            raise LabelError(None, f"unknown split {split!r}; expected one of {SPLITS}")
        ids = self.splits[split]
        if test_cutoff is None:
            return list(ids)
        if split != "test":
            raise LabelError(None, "test_cutoff applies to the test split only")
        if test_cutoff not in IDENTITY_CUTOFFS:
            raise LabelError(None, f"test_cutoff must be one of {IDENTITY_CUTOFFS}, got {test_cutoff}")
        return [c for c in ids if self.test_identity[c][test_cutoff]]

    def labels(self, split: str, *, test_cutoff: float | None = None) -> tuple[list[str], np.ndarray]:
        """``(chains, k-hot (N, 538) float32)`` of a split."""
        ids = self.split_ids(split, test_cutoff=test_cutoff)
        matrix, _, _ = self.vocabulary.encode([self.annotations[c] for c in ids], ids=ids)
        return ids, matrix


def _read_annotations(path: Path) -> tuple[LabelVocabulary, dict[str, tuple[str, ...]]]:
    with path.open(encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    if (
        len(lines) < 3
        or not lines[0].startswith("### EC-numbers")
        or not lines[2].startswith("### PDB-chain")
    ):
        raise LabelError(path, "expected '### EC-numbers', the EC list and '### PDB-chain' on lines 1-3")
    vocabulary = LabelVocabulary([e.strip() for e in lines[1].split("\t") if e.strip()], name=str(path))
    annotations: dict[str, tuple[str, ...]] = {}
    for lineno, line in enumerate(lines[3:], start=4):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 2:
            raise LabelError(path, f"expected '<chain><TAB><EC>,<EC>,…', got {line!r}", line=lineno)
        chain, ecs = fields[0].strip(), [e.strip() for e in fields[1].split(",") if e.strip()]
        if not ecs:
            raise LabelError(path, f"chain {chain} has an empty EC label set", line=lineno)
        for ec in ecs:
            if ec not in vocabulary:
                raise LabelError(path, f"EC {ec!r} of chain {chain} is not among the {len(vocabulary)} EC classes",
                                 line=lineno)  # fmt: skip
        if chain in annotations:
            raise LabelError(path, f"chain {chain} is annotated twice", line=lineno)
        annotations[chain] = tuple(dict.fromkeys(ecs))
    return vocabulary, annotations


def read_split(path: Path, annotated: dict[str, object] | None = None) -> list[str]:
    """Chain ids of a split file; each must appear once (and be annotated, when ``annotated`` is given)."""
    ids: list[str] = []
    seen: set[str] = set()
    with path.open(encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            chain = line.strip()
            if not chain:
                continue
            if annotated is not None and chain not in annotated:
                raise LabelError(path, f"chain {chain} has no annotation", line=lineno)
            if chain in seen:
                raise LabelError(path, f"chain {chain} is listed twice", line=lineno)
            seen.add(chain)
            ids.append(chain)
    return ids


def read_test_identity(path: Path) -> dict[str, dict[float, bool]]:
    """``{chain: {0.3: bool, …, 0.95: bool}}`` from a ``*_test.csv`` file."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    expected = ["PDB-chain", "<30%", "<40%", "<50%", "<70%", "<95%"]
    if not rows or [h.strip() for h in rows[0]] != expected:
        raise LabelError(path, f"expected the header {','.join(expected)}", line=1)
    out: dict[str, dict[float, bool]] = {}
    for lineno, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != 6 or any(v.strip() not in ("0", "1") for v in row[1:]):
            raise LabelError(path, f"expected a chain and five 0/1 flags, got {row!r}", line=lineno)
        out[row[0].strip()] = {c: v.strip() == "1" for c, v in zip(IDENTITY_CUTOFFS, row[1:])}
    return out


def read_sequences(path: Path) -> dict[str, str]:
    """Sequences of a FASTA file by record id (``protdata.read_fasta_records``)."""
    from protdata import read_fasta_records

    return {r.id: r.sequence for r in read_fasta_records(path)}


def load_nrpdb_ec(folder: str | PathLike[str], prefix: str = EC_PREFIX) -> ECBenchmark:
    """Read the nrPDB-EC benchmark from ``folder`` (module docstring)."""
    folder = Path(folder)
    vocabulary, annotations = _read_annotations(folder / f"{prefix}_annot.tsv")
    splits = {s: read_split(folder / f"{prefix}_{s}.txt", annotations) for s in SPLITS}
    owner: dict[str, str] = {}
    for split, ids in splits.items():
        for chain in ids:
            if chain in owner:
                raise LabelError(folder, f"chain {chain} is in both the {owner[chain]} and the {split} split")
            owner[chain] = split
    identity = read_test_identity(folder / f"{prefix}_test.csv")
    missing = [c for c in splits["test"] if c not in identity]
    if missing:
        raise LabelError(folder / f"{prefix}_test.csv", f"no identity flags for test chains {missing[:5]}")
    sequences = read_sequences(folder / f"{prefix}_test_sequences.fasta")
    report = BenchmarkReport(
        unassigned=[c for c in annotations if c not in owner],
        extra_sequences=[c for c in sequences if owner.get(c) != "test"],
    )
    absent = [c for c in splits["test"] if c not in sequences]
    if absent:
        raise LabelError(folder, f"test chains without a sequence: {absent[:5]}")
    return ECBenchmark(vocabulary, annotations, splits, identity, sequences, report)
