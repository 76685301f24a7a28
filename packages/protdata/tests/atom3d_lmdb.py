"""ATOM3D LMDB datasets written by the ``atom3d`` package itself (its PDB reader ``PDBDataset`` and its writer
``make_lmdb_dataset``) from shared structures: PSR-like decoy sets (``id`` = ``str((target, decoy))`` and
``scores`` as ``atom3d/datasets/psr/prepare_lmdb.py`` makes them) and MSP-like pairs (``original_atoms`` /
``mutated_atoms`` / ``label`` as ``atom3d/datasets/msp/prepare_lmdb.py`` makes them; the mutant is the wild type
with one residue renamed and its side chain cut to Cβ, none for glycine). Scores and labels are made up; the structures are real."""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: Small single-chain PDB entries of the shared data (``structures/experimental_mdanalysis_dssp``).
STRUCTURES = ["3a4rA", "2cviA", "2xcjA", "1lpbA", "1i8nA", "2xdgA", "1mr1D", "2va0A"]
#: split -> [(target, structure), ...] (decoys of a made-up target)
PSR_SPLITS = {
    "train": [("T0001", s) for s in STRUCTURES[:3]] + [("T0002", s) for s in STRUCTURES[3:6]],
    "val": [("T0003", s) for s in STRUCTURES[5:8]],
    "test": [("T0004", s) for s in STRUCTURES[:3]],
}
#: split -> [(structure, residue index to mutate, new residue name, label), ...]
MSP_SPLITS = {
    "train": [
        ("3a4rA", 10, "ALA", "0"),
        ("2cviA", 20, "GLY", "1"),
        ("2xcjA", 5, "ALA", "1"),
        ("1lpbA", 30, "TRP", "0"),
    ],
    "val": [("1i8nA", 12, "ALA", "0"), ("2xdgA", 7, "GLY", "1")],
    "test": [("1mr1D", 3, "ALA", "1"), ("2va0A", 9, "ALA", "0")],
}
BACKBONE = {"N", "CA", "C", "O", "CB"}


def _pdb(folder: Path, name: str) -> Path:
    return folder / f"{name}.pdb.gz"


def psr_score(target: str, decoy: str) -> dict[str, float]:
    """Made-up scores of a decoy (deterministic)."""
    h = sum(ord(c) * (i + 1) for i, c in enumerate(target + decoy))
    return {
        "gdt_ts": (h % 97) / 97.0,
        "gdt_ha": (h % 89) / 89.0,
        "rmsd": 1.0 + (h % 13),
        "tm": (h % 71) / 71.0,
    }


class _Items:
    """A torch-style dataset of prepared entries (what ``make_lmdb_dataset`` iterates)."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return dict(self.items[i])

    def __iter__(self):  # type: ignore[no-untyped-def]
        return (self[i] for i in range(len(self)))


def write_psr(structures: Path, out: Path, fmt: str = "json", series_scores: bool = True) -> Path:
    """``out/split-by-year/data/{train,val,test}`` PSR LMDBs; ``scores`` a pandas Series (as ATOM3D's PSR
    ``Scores`` transform sets it) or, for msgpack (whose ATOM3D writer cannot store a Series), a dict."""
    import atom3d.datasets.datasets as da
    import pandas as pd

    for split, decoys in PSR_SPLITS.items():
        files = da.PDBDataset([_pdb(structures, s) for _, s in decoys])
        items = []
        for (target, decoy), item in zip(decoys, files):
            scores = psr_score(target, decoy)
            item["id"] = str((target, decoy))
            item["scores"] = pd.Series(scores) if series_scores and fmt == "json" else scores
            items.append(item)
        path = out / "split-by-year" / "data" / split
        path.mkdir(parents=True)
        da.make_lmdb_dataset(_Items(items), str(path), serialization_format=fmt)
    return out


def write_msp(structures: Path, out: Path, fmt: str = "json") -> Path:
    """``out/split-by-sequence-identity-30/data/{train,val,test}`` MSP LMDBs (module docstring)."""
    import atom3d.datasets.datasets as da

    for split, pairs in MSP_SPLITS.items():
        files = da.PDBDataset([_pdb(structures, s) for s, *_ in pairs])
        items = []
        for (name, k, new, label), item in zip(pairs, files):
            atoms = item["atoms"]
            keys = list(dict.fromkeys(zip(atoms["chain"], atoms["residue"], atoms["insertion_code"])))
            protein = atoms[atoms["hetero"] == " "]
            chain, number, icode = [
                key
                for key in keys
                if key in set(zip(protein["chain"], protein["residue"], protein["insertion_code"]))
            ][k]
            at = (atoms["chain"] == chain) & (atoms["residue"] == number) & (atoms["insertion_code"] == icode)
            wt_name = atoms.loc[at, "resname"].iloc[0]
            kept = BACKBONE - ({"CB"} if new == "GLY" else set())
            mutated = atoms[~at | atoms["name"].isin(kept)].copy()
            mutated.loc[at, "resname"] = new
            mutated = mutated.reset_index(drop=True)
            one = {"ALA": "A", "GLY": "G", "TRP": "W"}
            pdb = name[:4].upper()
            items.append(
                {
                    "id": f"{pdb}_{chain}_{chain}_{wt_name[:1]}{chain}{number}{one[new]}",
                    "original_atoms": atoms,
                    "mutated_atoms": mutated,
                    "label": label,
                    "file_path": item["file_path"],
                }
            )
        path = out / "split-by-sequence-identity-30" / "data" / split
        path.mkdir(parents=True)
        da.make_lmdb_dataset(_Items(items), str(path), serialization_format=fmt)
    return out
