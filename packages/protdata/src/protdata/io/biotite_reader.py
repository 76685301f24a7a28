"""A second, independent reader built on biotite: the cross-check and benchmark baseline for the gemmi reader.

It implements the same Foldseek rules (Foldseek ``createdb``, steineggerlab/foldseek;
``residue_rule="foldseek-legacy"``, ``altloc="last"``) from biotite's parsed columns with NumPy instead of
gemmi's object model, so the two readers share no parsing code: tests assert that both give identical proteins
on the shared structures, and ``benchmarks/bench_parse.py`` times one against the other. Not the production
path: gemmi's merging of a residue whose atoms are not consecutive is not reproduced, and ``plddt`` is not
filled.
"""

from __future__ import annotations

import io
import warnings

import numpy as np

from protdata.constants import NUM_ATOMS
from protdata.errors import NoProteinChainError
from protdata.io.chain_walk import ATOMS, MAX_SKIPPED_LENGTH
from protdata.io.entity_types import is_water
from protdata.io.formats import Source, open_structure
from protdata.io.residue_rules import LEGACY_NAMES, foldseek_letter, sequence_letter
from protdata.protein import Protein

_POLYMER, _NONPOLYMER, _WATER, _UNKNOWN, _OTHER = 0, 1, 2, 3, 4
_ENTITY_CODES = {"polymer": _POLYMER, "non-polymer": _NONPOLYMER, "water": _WATER, "branched": _OTHER}
_SLOT = {name: i for i, name in enumerate(ATOMS)}


def load_chains_biotite(
    source: Source, model: int | str | None = None, *, name: str | None = None
) -> list[Protein]:
    """Foldseek's chain entries of one model (``None``: the first; ``"all"``: every model) read with biotite."""
    raw = open_structure(source, name=name)
    if raw.format == "pdb":
        models = _pdb_models(raw.data)
    else:
        models = _cif_models(raw.data, binary=raw.format == "bcif")
    if model is None:
        models = models[:1]
    elif model != "all":
        models = [m for m in models if m[0] == model]
    proteins = [p for number, cols in models for p in _chains(cols, number, raw.stem, raw.source)]
    if not proteins:
        raise NoProteinChainError(raw.source, "no protein chain (biotite reader)")
    return proteins


def _cif_models(data: bytes, *, binary: bool) -> list[tuple[int, dict[str, np.ndarray]]]:
    from biotite.structure.io import pdbx

    cif = (
        pdbx.BinaryCIFFile.read(io.BytesIO(data)) if binary else pdbx.CIFFile.read(io.StringIO(data.decode()))
    )
    block = cif.block
    site = block["atom_site"]

    def col(*names: str, dtype=str) -> np.ndarray | None:
        for n in names:
            if n in site:
                return site[n].as_array(dtype)
        return None

    n = site.row_count
    cols = {
        "chain": col("auth_asym_id", "label_asym_id"),
        "sub": col("label_asym_id"),
        "comp": col("auth_comp_id", "label_comp_id"),
        "seq": col("auth_seq_id", "label_seq_id", dtype=np.int64),
        "icode": col("pdbx_PDB_ins_code"),
        "het": col("group_PDB"),
        "atom": col("auth_atom_id", "label_atom_id"),
        "x": col("Cartn_x", dtype=np.float64),
        "y": col("Cartn_y", dtype=np.float64),
        "z": col("Cartn_z", dtype=np.float64),
        "b": col("B_iso_or_equiv", dtype=np.float64),
    }
    icode = cols["icode"] if cols["icode"] is not None else np.full(n, " ")
    cols["icode"] = np.where(np.isin(icode, [".", "?", ""]), " ", icode)
    het = cols["het"] if cols["het"] is not None else np.full(n, "")
    cols["het"] = np.char.upper(np.char.strip(het, "\"'")).astype("<U1")
    types = {}
    if "entity" in block:
        ent = block["entity"]
        types = dict(zip(ent["id"].as_array(str), ent["type"].as_array(str)))
    entity_of: dict[str, str] = {}
    if "struct_asym" in block:
        asym = block["struct_asym"]
        for sub, ent_id in zip(asym["id"].as_array(str), asym["entity_id"].as_array(str)):
            if ent_id in types:
                entity_of.setdefault(sub, ent_id)
    elif "label_entity_id" in site:
        for sub, ent_id in zip(cols["sub"], site["label_entity_id"].as_array(str)):
            if ent_id in types:
                entity_of.setdefault(sub, ent_id)
    sub_type = {s: _ENTITY_CODES.get(types[e], _UNKNOWN) for s, e in entity_of.items()}
    cols["sub_type"] = np.array([sub_type.get(s, _UNKNOWN) for s in cols["sub"]], dtype=np.int8)
    model_num = col("pdbx_PDB_model_num", dtype=np.int64)
    model_num = np.ones(n, dtype=np.int64) if model_num is None else model_num
    order = list(dict.fromkeys(model_num.tolist()))
    return [(m, {k: v[model_num == m] for k, v in cols.items()}) for m in order]


def _pdb_models(data: bytes) -> list[tuple[int, dict[str, np.ndarray]]]:
    from biotite.structure.io import pdb

    text = data.decode("latin-1")
    pdb_file = pdb.PDBFile.read(io.StringIO(text))
    lines = text.splitlines()
    ter_types = _pdb_ter_types(lines)
    numbers = [int(line[6:14]) for line in lines if line.startswith("MODEL ") and line[6:14].strip()]
    out = []
    for m in range(1, pdb_file.get_model_count() + 1):
        with warnings.catch_warnings():  # "elements were guessed from atom name": elements are not used
            warnings.simplefilter("ignore", UserWarning)
            atoms = pdb_file.get_structure(model=m, altloc="all", extra_fields=["b_factor"])
        etype = ter_types[m - 1] if m - 1 < len(ter_types) else np.full(len(atoms), _UNKNOWN, np.int8)
        out.append(
            (
                numbers[m - 1] if len(numbers) == pdb_file.get_model_count() else m,
                {
                    "chain": atoms.chain_id,
                    "comp": atoms.res_name,
                    "seq": atoms.res_id.astype(np.int64),
                    "icode": np.where(atoms.ins_code == "", " ", atoms.ins_code),
                    "het": np.where(atoms.hetero, "H", "A"),
                    "atom": atoms.atom_name,
                    "x": atoms.coord[:, 0].astype(np.float64),
                    "y": atoms.coord[:, 1].astype(np.float64),
                    "z": atoms.coord[:, 2].astype(np.float64),
                    "b": atoms.b_factor.astype(np.float64),
                    "atom_type": etype,
                },
            )
        )
    return out


def _pdb_ter_types(lines: list[str]) -> list[np.ndarray]:
    """Per model, per ATOM/HETATM record, the entity type TER records give it in gemmi's PDB reader: polymer up to
    the TER that closes its chain part, non-polymer after it (and in later parts of a chain closed by TER),
    unknown in a chain part without TER."""
    models: list[list[int]] = []
    atoms: list[int] | None = None
    parts: list[list] = []  # [name, start index, starts after TER, closed by TER]
    part: list | None = None
    for line in lines:
        rec = line[:6].upper()
        if rec.startswith(("ATOM", "HETA")):
            if atoms is None:
                atoms, parts, part = [], [], None
                models.append(atoms)
            name = line[20:22].strip()
            if part is None or name != part[0]:
                prev = next((q for q in parts if q[0] == name), None)
                part = [name, len(atoms), prev is not None and prev[3] and not prev[2], False]
                parts.append(part)
            atoms.append(_NONPOLYMER if part[2] or part[3] else _UNKNOWN)
        elif rec[:3] == "TER" and rec[3:4] in ("", " ") and part is not None and not (part[2] or part[3]):
            atoms[part[1] :] = [_POLYMER] * (len(atoms) - part[1])
            part[3] = True
        elif rec == "ENDMDL":
            atoms, part = None, None
        elif rec[:3] == "END" and rec[3:4] in ("", " "):
            break
    return [np.asarray(m, dtype=np.int8) for m in models]


def _chains(cols: dict[str, np.ndarray], number: int, stem: str, source: str) -> list[Protein]:
    n = len(cols["chain"])
    if n == 0:
        return []
    chain, comp, seq, icode = cols["chain"], cols["comp"], cols["seq"], cols["icode"]
    new_part = np.ones(n, dtype=bool)
    new_part[1:] = chain[1:] != chain[:-1]
    part = np.cumsum(new_part) - 1
    new_res = new_part.copy()
    new_res[1:] |= (comp[1:] != comp[:-1]) | (seq[1:] != seq[:-1]) | (icode[1:] != icode[:-1])
    res = np.cumsum(new_res) - 1
    first = np.flatnonzero(new_res)
    r_part, r_seq, r_icode = part[first], seq[first], np.char.lower(icode[first])
    r_comp, r_het = comp[first], cols["het"][first]
    # gemmi first_conformer(): skip a residue with the same number + icode as the residue before
    skip = np.zeros(len(first), dtype=bool)
    skip[1:] = (r_part[1:] == r_part[:-1]) & (r_seq[1:] == r_seq[:-1]) & (r_icode[1:] == r_icode[:-1])
    r_type = _residue_types(cols, first, r_part, r_comp)
    listed = np.isin(r_comp, list(LEGACY_NAMES))
    keep = ~skip & ((r_het == "A") | ((r_het == "H") & listed & (r_type == _POLYMER)))
    slot = np.array([_SLOT.get(a, -1) for a in cols["atom"]], dtype=np.int64)
    pick = np.full((len(first), NUM_ATOMS), -1, dtype=np.int64)
    sel = slot >= 0
    np.maximum.at(pick, (res[sel], slot[sel]), np.flatnonzero(sel))  # the last atom of each name wins
    keep &= pick[:, 1] >= 0
    xyz = np.stack([cols["x"], cols["y"], cols["z"]], axis=1)
    proteins = []
    for p in np.unique(r_part[keep]):
        idx = np.flatnonzero(keep & (r_part == p))
        names = r_comp[idx].tolist()
        if len(idx) <= MAX_SKIPPED_LENGTH or all(foldseek_letter(x, "foldseek-legacy") == "X" for x in names):
            continue
        rows = pick[idx]
        coords = np.where((rows >= 0)[..., None], xyz[np.maximum(rows, 0)], np.nan)
        chain_id = str(chain[first[idx[0]]])
        proteins.append(
            Protein(
                id=f"{stem}_{chain_id}",
                sequence="".join(sequence_letter(x, "foldseek-legacy") for x in names),
                coords=coords.astype(np.float32),
                atom_mask=rows >= 0,
                residue_number=r_seq[idx].astype(np.int32),
                insertion_code=icode[first[idx]].astype("<U1"),
                chain_ids=(chain_id,),
                b_factor=cols["b"][rows[:, 1]].astype(np.float32),
                source=source,
                model=number,
            )
        )
    return proteins


def _residue_types(cols: dict[str, np.ndarray], first: np.ndarray, r_part: np.ndarray, r_comp: np.ndarray):
    """Entity type of each residue (gemmi 0.5.1): PDB from TER records, mmCIF per label_asym_id subchain."""
    if "atom_type" in cols:
        r_type = cols["atom_type"][first].copy()
        water = np.array([is_water(c) for c in r_comp], dtype=bool)
        r_type[(r_type == _NONPOLYMER) & water] = _WATER
        return r_type
    r_sub = cols["sub"][first]
    new_span = np.ones(len(first), dtype=bool)
    new_span[1:] = (r_part[1:] != r_part[:-1]) | (r_sub[1:] != r_sub[:-1])
    span = np.cumsum(new_span) - 1
    span_len = np.bincount(span)
    r_type = cols["sub_type"][first].copy()
    unknown = r_type == _UNKNOWN
    span_first = np.flatnonzero(new_span)
    span_water = np.array([is_water(c) for c in r_comp[span_first]], dtype=bool)[span]
    guess = np.where(span_water, _WATER, np.where(span_len[span] > 1, _POLYMER, _NONPOLYMER))
    r_type[unknown] = guess[unknown]
    return r_type
