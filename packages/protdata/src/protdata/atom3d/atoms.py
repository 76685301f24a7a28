"""An ATOM3D atom table (``atom3d.util.formats.bp_to_df`` columns: ``model``, ``chain``, ``hetero``,
``insertion_code``, ``residue``, ``resname``, ``name``, ``x``, ``y``, ``z``, ``bfactor``, …) -> one
:class:`~protdata.Protein` over all its chains.

Rules, following the seed's reader (DeepGraphLearning/ESM-GearNet ``gearnet/dataset.py``
``Atom3DDataset.protein_from_data_frame``, then TorchDrug's ``AlphaCarbonNode``): rows of the first model; a new
residue starts where (chain, residue number, insertion code, residue name) changes; standard residues (``hetero``
blank) and HETATM residues with a known amino-acid name (MSE, …; :data:`protdata.io.residue_rules.LEGACY_NAMES`)
are kept if they have a Cα; waters and ligands are dropped. N, CA, C, O, CB go to ``Protein.coords`` (first atom of
a name wins); an unknown residue name is ``X`` (the seed: glycine). The chains stay one protein (``chain_index``),
as in the seed, where a mutation may sit at an interface.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from protdata.atom3d.lmdb_file import Atom3DEntryError, table_columns
from protdata.constants import ATOM_NAMES, NUM_ATOMS
from protdata.io.residue_rules import LEGACY_NAMES, sequence_letter
from protdata.protein import Protein

REQUIRED = ("chain", "residue", "resname", "name", "x", "y", "z")
_SLOT = {name: i for i, name in enumerate(ATOM_NAMES)}


def atoms_to_protein(frame: Any, pid: str, where: str) -> Protein:
    """The protein of an ATOM3D atom table (a stored ``orient="split"`` dict or a ``{column: values}`` dict).

    Raises:
        Atom3DEntryError: a missing column, non-finite coordinates, no residue with a Cα (names ``where``).
    """
    cols = frame if "data" not in frame else table_columns(frame, where)
    missing = [c for c in REQUIRED if c not in cols]
    if missing:
        raise Atom3DEntryError(where, f"atom table lacks column(s) {', '.join(missing)}")
    n = len(cols["name"])
    if n == 0:
        raise Atom3DEntryError(where, "empty atom table")
    keep = np.ones(n, dtype=bool)
    if "model" in cols:
        model = np.asarray(cols["model"])
        keep &= model == model[0]
    chain = np.asarray([str(c) for c in cols["chain"]])[keep]
    number = np.asarray(cols["residue"], dtype=np.int64)[keep]
    icode_raw = cols.get("insertion_code", [" "] * n)
    icode = np.asarray([(str(c) or " ")[:1] for c in icode_raw])[keep]
    resname = np.asarray([str(r).strip() for r in cols["resname"]])[keep]
    hetero = np.asarray([str(h).strip() for h in cols.get("hetero", [""] * n)])[keep]
    names = np.asarray([str(a).strip() for a in cols["name"]])[keep]
    try:
        xyz = np.stack([np.asarray(cols[c], dtype=np.float64)[keep] for c in ("x", "y", "z")], axis=1)
    except (TypeError, ValueError) as exc:
        raise Atom3DEntryError(where, f"non-numeric coordinates: {exc}") from None
    bfac = np.asarray(cols["bfactor"], dtype=np.float64)[keep] if "bfactor" in cols else np.zeros(len(names))
    m = len(names)
    new = np.ones(m, dtype=bool)
    new[1:] = (chain[1:] != chain[:-1]) | (number[1:] != number[:-1]) | (icode[1:] != icode[:-1])
    new[1:] |= resname[1:] != resname[:-1]
    res = np.cumsum(new) - 1  # (M,) residue of each atom
    first = np.flatnonzero(new)
    slot = np.array([_SLOT.get(a, -1) for a in names], dtype=np.int64)
    pick = np.full((len(first), NUM_ATOMS), m, dtype=np.int64)
    sel = np.flatnonzero(slot >= 0)
    np.minimum.at(pick, (res[sel], slot[sel]), sel)  # the first atom of each name wins
    present = pick < m
    r_name, r_het = resname[first], hetero[first]
    standard = (r_het == "") | np.isin(r_name, list(LEGACY_NAMES)) & np.char.startswith(r_het, "H")
    ok = standard & present[:, 1]
    if not ok.any():
        raise Atom3DEntryError(where, "no amino-acid residue with a CA atom")
    idx = np.flatnonzero(ok)
    rows, mask = pick[idx], present[idx]
    coords = np.where(mask[..., None], xyz[np.minimum(rows, m - 1)], np.nan)  # (L, 5, 3)
    if not np.isfinite(coords[mask]).all():
        raise Atom3DEntryError(where, "non-finite atom coordinates")
    r_chain = chain[first[idx]]
    chain_ids = tuple(dict.fromkeys(r_chain.tolist()))
    order = {c: k for k, c in enumerate(chain_ids)}
    return Protein(
        id=pid,
        sequence="".join(sequence_letter(x, "foldseek-legacy") for x in r_name[idx]),
        coords=coords.astype(np.float32),
        atom_mask=mask,
        residue_number=number[first[idx]].astype(np.int32),
        insertion_code=icode[first[idx]].astype("<U1"),
        chain_index=np.array([order[c] for c in r_chain], dtype=np.int16),
        chain_ids=chain_ids,
        b_factor=bfac[rows[:, 1]].astype(np.float32),
        source=where,
    )
