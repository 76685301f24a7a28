"""The nrPDB-GO splits of DeepFRI (the chains behind the GO-MF/BP/CC tasks of GearNet / ESM-GearNet / ProtCLIP,
TorchDrug ``GeneOntology``).

Files in ``ec_go_benchmark/deepfri/``: ``nrPDB-GO_2019.06.18_{train,valid,test}.txt`` (one chain per line),
``nrPDB-GO_2019.06.18_test.csv`` (identity-to-train flags, as for EC) and
``nrPDB-GO_2019.06.18_test_sequences.fasta``. The GO annotation file (``nrPDB-GO_2019.06.18_annot.tsv``) is not in
the shared data, so this loader gives the official splits, the test identity flags and the test sequences; GO
labels come from :mod:`prottasks.go` and a label vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass
from os import PathLike
from pathlib import Path

from prottasks.data.ec import SPLITS, read_sequences, read_split, read_test_identity
from prottasks.errors import LabelError

GO_PREFIX = "nrPDB-GO_2019.06.18"


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
