"""gemmi structure → one :class:`~protdata.Protein` per Foldseek chain entry (Foldseek ``createdb``).

Mirrors ``GemmiWrapper::updateStructure`` (Foldseek GemmiWrapper.cpp:795-912 at d5b1d3d4, and its pre-b43e63d7
version) and the chain filters of ``writeStructureEntry`` (structcreatedb.cpp:289-320):

1. Every chain part of the model (a new part whenever the chain name changes between consecutive atoms) is an
   entry named ``{file stem}_{author chain id}``.
2. Residues are walked like gemmi's ``first_conformer()``: a residue whose sequence number and insertion code
   (case-insensitive) equal those of the residue just before it is skipped.
3. A residue is kept if it passes the residue rule (:mod:`protdata.io.residue_rules`) and has an atom named CA.
4. Atoms N, CA, C, O, CB: ``altloc="last"`` takes the last atom of each name in file order, as Foldseek does
   (GemmiWrapper.cpp:844-869); ``"first"`` / ``"occupancy"`` keep, per residue, atoms without altloc plus those of
   the first altloc / the altloc with the largest summed occupancy (ties: alphabetical), as biotite's
   ``filter_first_altloc`` / ``filter_highest_occupancy_altloc`` do, then the first atom of each name.
5. Entries with 3 or fewer residues, or whose residues are all 'X', are dropped (Foldseek's ``tooShort`` /
   ``notProtein`` filters).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import gemmi
import numpy as np

from protdata.constants import NUM_ATOMS
from protdata.errors import InvalidCoordinatesError
from protdata.io.entity_types import POLYMER, UNKNOWN
from protdata.io.gemmi_reader import ParsedStructure
from protdata.io.residue_rules import LEGACY_NAMES, ResidueRule, foldseek_letter, sequence_letter
from protdata.protein import Protein

AltlocRule = Literal["last", "first", "occupancy"]
ALTLOC_RULES: tuple[str, ...] = ("last", "first", "occupancy")
ATOMS: tuple[str, ...] = ("N", "CA", "C", "O", "CB")
#: Foldseek skips entries with this many residues or fewer (structcreatedb.cpp ``chainLen <= 3``).
MAX_SKIPPED_LENGTH = 3

_NAN3 = [math.nan, math.nan, math.nan]


@dataclass
class ModelResult:
    """The proteins of one model plus what was dropped and why (for error messages and reports)."""

    number: int
    proteins: list[Protein] = field(default_factory=list)
    #: chain parts with >= 4 amino-acid residues that passed the residue rule without a CA atom, and at most 3 with
    chains_without_ca: list[tuple[str, int]] = field(default_factory=list)
    #: chain parts dropped by Foldseek's filters: (chain, kept residues, reason)
    dropped: list[tuple[str, int, str]] = field(default_factory=list)
    n_atoms: int = 0


def walk_model(
    parsed: ParsedStructure,
    model_index: int,
    *,
    rule: ResidueRule,
    altloc: AltlocRule,
    with_plddt: bool,
) -> ModelResult:
    """Foldseek's chain entries of model ``model_index`` (position in the file, 0-based)."""
    model = parsed.structure[model_index]
    result = ModelResult(number=model.num, n_atoms=model.count_atom_sites())
    stem = parsed.raw.stem
    legacy = rule == "foldseek-legacy"
    select = _select_last if altloc == "last" else _select_by_conformer
    for chain_index, chain in enumerate(model):
        residues = list(chain)
        etypes = parsed.chain_types(model_index, chain_index, residues)
        xyz: list[float] = []
        present: list[bool] = []
        names: list[str] = []
        numbers: list[int] = []
        icodes: list[str] = []
        bfactors: list[float] = []
        aa_without_ca = 0
        prev_key = None
        for res, etype in zip(residues, etypes):
            seqid = res.seqid
            num = seqid.num
            icode = seqid.icode
            key = (num, icode.lower())
            if key == prev_key:  # gemmi first_conformer(): microheterogeneity, the first listed residue wins
                continue
            prev_key = key
            het = res.het_flag
            name = res.name
            if legacy:
                if het == "H":
                    if name not in LEGACY_NAMES or etype != POLYMER:
                        continue
                elif het != "A":
                    continue
            elif (etype != POLYMER and etype != UNKNOWN) or (het != "A" and het != "H"):
                continue
            atoms = select(res, altloc)
            if atoms is None:  # no CA: dropped, as in Foldseek
                if foldseek_letter(name, rule) != "X":
                    aa_without_ca += 1
                continue
            for atom in atoms:
                if atom is None:
                    xyz += _NAN3
                    present.append(False)
                else:
                    xyz += atom.pos.tolist()
                    present.append(True)
            names.append(name)
            numbers.append(num if num is not None else 0)
            icodes.append(icode)
            bfactors.append(atoms[1].b_iso)
        n = len(names)
        if n <= MAX_SKIPPED_LENGTH < aa_without_ca:  # an amino-acid chain that lost (almost) all its CA atoms
            result.chains_without_ca.append((chain.name, aa_without_ca))
            continue
        if n == 0:
            continue
        if n <= MAX_SKIPPED_LENGTH:
            result.dropped.append((chain.name, n, f"{n} residue(s) (Foldseek skips chains of 3 or fewer)"))
            continue
        if all(foldseek_letter(x, rule) == "X" for x in names):
            result.dropped.append((chain.name, n, "all residues unknown ('X')"))
            continue
        coords = np.array(xyz, dtype=np.float32).reshape(n, NUM_ATOMS, 3)
        mask = np.asarray(present, dtype=bool).reshape(n, NUM_ATOMS)
        _check_finite(coords, mask, chain.name, numbers, icodes, parsed.raw.source)
        b_factor = np.asarray(bfactors, dtype=np.float32)
        result.proteins.append(
            Protein(
                id=f"{stem}_{chain.name}",
                sequence="".join([sequence_letter(x, rule) for x in names]),
                coords=coords,
                atom_mask=mask,
                residue_number=np.asarray(numbers, dtype=np.int32),
                insertion_code=np.asarray(icodes, dtype="<U1"),
                chain_ids=(chain.name,),
                plddt=b_factor.copy() if with_plddt else None,
                b_factor=b_factor,
                source=parsed.raw.source,
                model=model.num,
            )
        )
    return result


def _check_finite(
    coords: np.ndarray, mask: np.ndarray, chain: str, numbers: list[int], icodes: list[str], source: str
) -> None:
    """gemmi reads a non-numeric mmCIF coordinate as NaN: a garbled file, reported with the residue and atom."""
    bad = ~np.isfinite(coords).all(axis=-1) & mask
    if bad.any():
        r, k = (int(i) for i in np.argwhere(bad)[0])
        where = f"chain {chain} residue {numbers[r]}{icodes[r].strip()} atom {ATOMS[k]}"
        raise InvalidCoordinatesError(source, f"{where}: coordinate is not a finite number (garbled file?)")


def _select_last(res: gemmi.Residue, _altloc: str) -> list[gemmi.Atom | None] | None:
    """Foldseek: the last atom of each name in file order (None if the residue has no CA)."""
    if res.find_atom("CA", "*") is None:
        return None
    out: list[gemmi.Atom | None] = []
    for name in ATOMS:
        atom = res.find_atom(name, "*")  # the first atom of that name, any altloc
        if atom is not None:
            group = res[name]
            k = len(group)
            if k > 1:  # alternate locations (or duplicated atoms): the last one wins
                atom = group[k - 1]
        out.append(atom)
    return out


def _select_by_conformer(res: gemmi.Residue, altloc: str) -> list[gemmi.Atom | None] | None:
    """biotite's altloc="first" / "occupancy" per residue, then the first atom of each name."""
    atoms = list(res)
    alts = [a.altloc for a in atoms]
    ids = [c for c in alts if c != "\x00"]
    chosen = None
    if ids:
        if altloc == "first":
            chosen = ids[0]
        else:
            best = -1.0
            for alt_id in sorted(set(ids)):
                total = sum(a.occ for a, c in zip(atoms, alts) if c == alt_id)
                if total > best:
                    best, chosen = total, alt_id
    out: list[gemmi.Atom | None] = [None] * NUM_ATOMS
    for atom, alt in zip(atoms, alts):
        if alt != "\x00" and alt != chosen:
            continue
        try:
            k = ATOMS.index(atom.name)
        except ValueError:
            continue
        if out[k] is None:
            out[k] = atom
    return out if out[1] is not None else None
