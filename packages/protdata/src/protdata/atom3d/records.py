"""ATOM3D's protein tasks as records: PSR (protein structure ranking) and MSP (mutation stability prediction),
read from their LMDB datasets (:class:`~protdata.atom3d.lmdb_file.Atom3DLmdb`) and split folders.

* PSR entry (drorlab/atom3d ``atom3d/datasets/psr/prepare_lmdb.py``): ``atoms`` (the decoy), ``id`` =
  ``str((target, decoy))``, ``scores`` = the decoy's scores (``gdt_ts``, ``gdt_ha``, ``rmsd``, ``tm``, …; a dict,
  or a pandas Series stored as ``{index, data}``) -> :class:`PSRRecord`.
* MSP entry (``atom3d/datasets/msp/prepare_lmdb.py``): ``original_atoms`` (wild type), ``mutated_atoms``,
  ``id`` = ``<PDB>_<chains>_<chains>_<mutation>`` (SKEMPI's mutation, e.g. ``LI45G``: wild-type letter, chain,
  residue number, mutant letter), ``label`` ``"0"`` / ``"1"`` (1: the mutant binds better) -> :class:`MSPRecord`,
  whose ``positions`` are the residues whose type differs (the seed's ``gearnet/task.py::MSP``).

Split folders (Zenodo 4915648 PSR ``split-by-year``, 4962515 MSP ``split-by-sequence-identity-30``):
``<root>/[<split name>/]data/{train,val,test}`` (:func:`split_dirs`).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from protdata.atom3d.atoms import atoms_to_protein
from protdata.atom3d.lmdb_file import Atom3DEntryError, Atom3DLmdb
from protdata.errors import DatasetError
from protdata.protein import Protein

#: ATOM3D's split folder names -> protstack split names.
SPLIT_FOLDERS = {"train": "train", "val": "valid", "test": "test"}


@dataclass
class PSRRecord:
    """One PSR decoy: its structure, target (CASP target id), decoy name and scores."""

    protein: Protein
    target: str
    decoy: str
    scores: dict[str, float]


@dataclass
class MSPRecord:
    """One MSP pair: wild type and mutant (same residues), the mutated positions (indices into both), the label."""

    id: str
    wild_type: Protein
    mutant: Protein
    positions: np.ndarray  # (K,) int64 residue indices where the residue types differ
    label: int
    mutation: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _psr_id(raw: Any, where: str) -> tuple[str, str]:
    if isinstance(raw, (list, tuple)) and len(raw) == 2:
        return str(raw[0]), str(raw[1])
    try:
        value = ast.literal_eval(str(raw))  # "('T0759', '3D-JIGSAW_SL1_TS1')": literals only, never code
    except (ValueError, SyntaxError):
        value = None
    if not (isinstance(value, tuple) and len(value) == 2):
        raise Atom3DEntryError(where, f"id {raw!r} is not ATOM3D's PSR id str((target, decoy))")
    return str(value[0]), str(value[1])


def _scores(raw: Any, where: str) -> dict[str, float]:
    if isinstance(raw, dict) and "index" in raw and "data" in raw and "columns" not in raw:
        raw = dict(zip(raw["index"], raw["data"]))  # a pandas Series as stored by ATOM3D's json writer
    if not isinstance(raw, dict) or not raw:
        raise Atom3DEntryError(where, f"scores is {type(raw).__name__}, not a dict of numbers")
    out = {}
    for key, value in raw.items():
        try:
            out[str(key)] = float(value)
        except (TypeError, ValueError):
            continue  # non-numeric bookkeeping columns
    return out


def psr_record(item: dict[str, Any], where: str) -> PSRRecord:
    """A PSR entry as a :class:`PSRRecord` (protein id ``<target>/<decoy>``)."""
    for key in ("atoms", "id", "scores"):
        if key not in item:
            raise Atom3DEntryError(where, f"PSR entry without {key!r} (keys: {', '.join(sorted(item))})")
    target, decoy = _psr_id(item["id"], where)
    protein = atoms_to_protein(item["atoms"], f"{target}/{decoy}", where)
    return PSRRecord(protein, target, decoy, _scores(item["scores"], where))


def _label(raw: Any, where: str) -> int:
    text = str(raw).strip()
    if text in ("0", "1", "True", "False"):
        return int(text in ("1", "True"))
    raise Atom3DEntryError(where, f"label {raw!r} is not 0 or 1")


def msp_record(item: dict[str, Any], where: str) -> MSPRecord:
    """An MSP entry as an :class:`MSPRecord`.

    Raises:
        Atom3DEntryError: a missing key, wild type and mutant with different residues (chain, number, insertion
            code), no residue that differs, a label other than 0 / 1.
    """
    for key in ("original_atoms", "mutated_atoms", "id", "label"):
        if key not in item:
            raise Atom3DEntryError(where, f"MSP entry without {key!r} (keys: {', '.join(sorted(item))})")
    pid = str(item["id"])
    wt = atoms_to_protein(item["original_atoms"], f"{pid}/wt", where + " original_atoms")
    mt = atoms_to_protein(item["mutated_atoms"], f"{pid}/mt", where + " mutated_atoms")

    def keys(p: Protein) -> list[tuple[str, int, str]]:
        chains = [p.chain_ids[c] for c in p.chain_index]  # type: ignore[union-attr]
        return list(zip(chains, p.residue_number.tolist(), p.insertion_code.tolist()))  # type: ignore[union-attr]

    if keys(wt) != keys(mt):
        raise Atom3DEntryError(
            where, f"wild type ({len(wt)} residues) and mutant ({len(mt)}) do not have the same residues"
        )
    positions = np.flatnonzero(
        np.frombuffer(wt.sequence.encode(), "u1") != np.frombuffer(mt.sequence.encode(), "u1")
    )
    if positions.size == 0:
        raise Atom3DEntryError(where, "the mutant has the same residue types as the wild type")
    parts = pid.split("_")
    mutation = parts[-1] if len(parts) > 3 else ""
    return MSPRecord(pid, wt, mt, positions.astype(np.int64), _label(item["label"], where), mutation)


class Atom3DDataset:
    """``dataset[i]`` -> the :class:`PSRRecord` / :class:`MSPRecord` of LMDB entry ``i`` (read on access)."""

    def __init__(self, path: str | PathLike[str], task: str) -> None:
        if task not in ("psr", "msp"):
            raise ValueError(f"task must be 'psr' or 'msp', not {task!r}")
        self.lmdb = Atom3DLmdb(path)
        self.task = task

    def __len__(self) -> int:
        return len(self.lmdb)

    def __getitem__(self, index: int) -> Any:
        item = self.lmdb.entry(index)
        where = self.lmdb.where(index)
        return psr_record(item, where) if self.task == "psr" else msp_record(item, where)

    def records(self) -> tuple[list[Any], list[str]]:
        """Every readable record, and one line per entry left out (``<lmdb> [entry i]: why``): skip and count."""
        out, skipped = [], []
        for i in range(len(self)):
            try:
                out.append(self[i])
            except Atom3DEntryError as exc:
                skipped.append(str(exc))
        return out, skipped


def read_psr(path: str | PathLike[str]) -> list[PSRRecord]:
    """Every PSR record of one LMDB directory (a bad entry raises :class:`Atom3DEntryError`)."""
    ds = Atom3DDataset(path, "psr")
    return [ds[i] for i in range(len(ds))]


def read_msp(path: str | PathLike[str]) -> list[MSPRecord]:
    """Every MSP record of one LMDB directory (a bad entry raises :class:`Atom3DEntryError`)."""
    ds = Atom3DDataset(path, "msp")
    return [ds[i] for i in range(len(ds))]


def split_dirs(root: str | PathLike[str], split: str | None = None) -> dict[str, Path]:
    """``{"train", "valid", "test"}`` -> LMDB directories under an ATOM3D split root: ``root`` itself, ``root/data``,
    ``root/<split>/data`` or ``root/*/<split>/data`` (the Zenodo archives' layout) holding ``train``, ``val`` and
    (optionally) ``test`` LMDBs. ``split`` picks the split folder (``split-by-year``) when several are there.

    Raises:
        DatasetError: no such folder, no train / val LMDB, several split folders and no ``split``.
    """
    base = Path(root)
    if not base.is_dir():
        raise DatasetError(str(base), "no such ATOM3D split directory")
    name = split or "*"
    candidates = [
        base,
        base / "data",
        *sorted(base.glob(f"{name}/data")),
        *sorted(base.glob(f"*/{name}/data")),
    ]
    found = [
        d for d in dict.fromkeys(candidates) if all((d / s / "data.mdb").is_file() for s in ("train", "val"))
    ]
    if split is not None:
        found = [d for d in found if split in d.parts] or found
    if not found:
        raise DatasetError(
            str(base),
            "no ATOM3D split here: expected [<split name>/]data/{train,val,test}/data.mdb LMDB folders",
        )
    if len(found) > 1:
        raise DatasetError(
            str(base), f"several ATOM3D splits ({', '.join(str(d) for d in found)}): choose one with split"
        )
    return {
        ours: found[0] / theirs
        for theirs, ours in SPLIT_FOLDERS.items()
        if (found[0] / theirs / "data.mdb").is_file()
    }
