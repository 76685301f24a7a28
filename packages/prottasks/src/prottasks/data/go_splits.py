"""The nrPDB-GO splits of DeepFRI (the chains behind the GO-MF/BP/CC tasks of GearNet / ESM-GearNet / ProtCLIP,
TorchDrug ``GeneOntology``).

Files in ``ec_go_benchmark/deepfri/``: ``nrPDB-GO_2019.06.18_{train,valid,test}.txt`` (one chain per line),
``nrPDB-GO_2019.06.18_test.csv`` (identity-to-train flags, as for EC) and
``nrPDB-GO_2019.06.18_test_sequences.fasta``. The GO annotation file (``nrPDB-GO_2019.06.18_annot.tsv``; not in
the shared data) is read by :func:`read_nrpdb_go_annotations` (DeepFRI ``load_GO_annot``'s layout).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

from prottasks.data.ec import SPLITS, read_sequences, read_split, read_test_identity
from prottasks.errors import LabelError

GO_PREFIX = "nrPDB-GO_2019.06.18"
#: The nrPDB-GO branches (columns of the annotation file) and their GO namespaces.
GO_BRANCHES = {"MF": "molecular_function", "BP": "biological_process", "CC": "cellular_component"}


@dataclass
class GOSplits:
    """nrPDB-GO: official splits, test identity flags, test sequences."""

    splits: dict[str, list[str]]
    test_identity: dict[str, dict[float, bool]]
    test_sequences: dict[str, str]
    extra_sequences: list[str]

    def split_ids(self, split: str, *, test_cutoff: float | None = None) -> list[str]:
        """Chains of ``split`` (``test_cutoff`` as :meth:`prottasks.data.ec.ECBenchmark.split_ids`)."""
        if split not in self.splits:
            raise LabelError(None, f"unknown split {split!r}; expected one of {SPLITS}")
        if test_cutoff is None:
            return list(self.splits[split])
        if split != "test":
            raise LabelError(None, "test_cutoff applies to the test split only")
        return [c for c in self.splits["test"] if self.test_identity[c][test_cutoff]]


def load_nrpdb_go_splits(folder: str | PathLike[str], prefix: str = GO_PREFIX) -> GOSplits:
    """Read the nrPDB-GO split files from ``folder``; a chain in two splits or a test chain without identity flags
    or sequence is a :class:`~prottasks.errors.LabelError`."""
    folder = Path(folder)
    splits = {s: read_split(folder / f"{prefix}_{s}.txt") for s in SPLITS}
    owner: dict[str, str] = {}
    for split, ids in splits.items():
        for chain in ids:
            if chain in owner:
                raise LabelError(folder, f"chain {chain} is in both the {owner[chain]} and the {split} split")
            owner[chain] = split
    identity = read_test_identity(folder / f"{prefix}_test.csv")
    sequences = read_sequences(folder / f"{prefix}_test_sequences.fasta")
    for name, table in (("identity flags", identity), ("sequence", sequences)):
        absent = [c for c in splits["test"] if c not in table]
        if absent:
            raise LabelError(folder, f"test chains without {name}: {absent[:5]}")
    extra = [c for c in sequences if owner.get(c) != "test"]
    return GOSplits(splits, identity, sequences, extra)


def read_nrpdb_go_annotations(
    path: str | PathLike[str],
) -> tuple[dict[str, list[str]], dict[str, list[str]], dict[str, dict[str, tuple[str, ...]]]]:
    """DeepFRI's ``nrPDB-GO_*_annot.tsv``: for MF, BP and CC a header line, the terms, a header line and the names;
    a header line; then ``chain<TAB>MF terms<TAB>BP terms<TAB>CC terms`` (comma-separated).

    Returns:
        ``(terms, names, annotations)``: terms / names per branch (``MF``, ``BP``, ``CC``) in file order, and
        chain -> branch -> its terms.

    Raises:
        LabelError: a missing header, names not matching the terms, a row with too many fields or a term outside
            its branch's list (file and line).
    """
    path = Path(path)
    if not path.is_file():
        raise LabelError(path, "no such file")
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle, delimiter="\t"))
    if len(rows) < 13:
        raise LabelError(path, "expected 12 header lines (terms and names of MF, BP, CC) and a column header")
    terms: dict[str, list[str]] = {}
    names: dict[str, list[str]] = {}
    for k, branch in enumerate(GO_BRANCHES):
        header, term_row, _, name_row = rows[4 * k : 4 * k + 4]
        if not header or not header[0].startswith("#"):
            raise LabelError(path, f"expected a '### GO-terms' header, got {header[:1]!r}", line=4 * k + 1)
        terms[branch] = [t.strip() for t in term_row if t.strip()]
        names[branch] = [n.strip() for n in name_row][: len(terms[branch])]
        if len(names[branch]) != len(terms[branch]):
            reason = f"{len(names[branch])} names for {len(terms[branch])} {branch} terms"
            raise LabelError(path, reason, line=4 * k + 4)
    known = {b: set(t) for b, t in terms.items()}
    annotations: dict[str, dict[str, tuple[str, ...]]] = {}
    for lineno, row in enumerate(rows[13:], start=14):
        if not row or not row[0].strip():
            continue
        if len(row) > 4:
            raise LabelError(path, f"expected a chain and 3 term lists, got {len(row)} fields", line=lineno)
        row = row + [""] * (4 - len(row))
        chain = row[0].strip()
        entry = {}
        for branch, cell in zip(GO_BRANCHES, row[1:4]):
            ids = tuple(t.strip() for t in cell.split(",") if t.strip())
            bad = [t for t in ids if t not in known[branch]]
            if bad:
                raise LabelError(path, f"{chain}: {bad[0]} is not one of the {branch} terms", line=lineno)
            entry[branch] = ids
        annotations[chain] = entry
    return terms, names, annotations
