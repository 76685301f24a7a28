"""Which residues Foldseek keeps, and the one-letter code it gives them (Foldseek ``createdb``).

Foldseek walks each chain with gemmi's first-conformer iterator and keeps a residue only if it passes a rule that
changed in Foldseek commit b43e63d7 (2024-11-29, ``src/strucclustutils/GemmiWrapper.cpp``):

``"foldseek-legacy"`` (before b43e63d7; the rule SaProt's 3Di tokens and the shared reference strings were made with)
    An ATOM residue is kept whatever its entity type; a HETATM residue is kept only if its name is in Foldseek's
    list of known residues (:data:`LEGACY_NAMES`) *and* it belongs to a polymer entity; anything else (no
    ATOM/HETATM flag, unlisted HETATM) is skipped. (``GemmiWrapper::updateStructure`` at b43e63d7^.)
``"foldseek-current"`` (b43e63d7 and later)
    A residue is kept if its entity type is polymer or unknown and it carries an ATOM or HETATM flag; unlisted
    names become 'X'. (``GemmiWrapper.cpp:822-830`` at d5b1d3d4.)

Under both rules the residue must also have an atom named ``CA`` (otherwise it is dropped, not turned into a gap).

One-letter codes: Foldseek's current ``threeToOneAA`` is gemmi's table of tabulated amino acids (``ResidueInfo
.one_letter_code``, upper-cased) plus the 13 names of :data:`EXTRA_PARENTS` that only the older list had, and
selenocysteine mapped to C instead of gemmi's U. The legacy table is the same mapping restricted to
:data:`LEGACY_NAMES`. Letters outside the 20 amino acids that Foldseek can emit (B for ASX, Z for GLX, O for PYL)
become X in :attr:`protdata.Protein.sequence`, whose alphabet is the 20 amino acids + X; the Foldseek letter is
still used for Foldseek's "all residues are X" chain filter.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

import gemmi

from protdata.constants import SEQUENCE_ALPHABET, THREE_TO_ONE

ResidueRule = Literal["foldseek-legacy", "foldseek-current"]
RESIDUE_RULES: tuple[str, ...] = ("foldseek-legacy", "foldseek-current")

#: Residue names in Foldseek's ``threeAA2oneAA`` map before commit b43e63d7 (GemmiWrapper.cpp at b43e63d7^,
#: lines 16-35): the 20 standard amino acids, 53 modified residues and UNK. Under the legacy rule a HETATM
#: residue is kept only if its name is in this set. Data transcribed from that source; the letters are not
#: copied but derived from gemmi's residue table (see :func:`foldseek_letter`).
LEGACY_NAMES: frozenset[str] = frozenset(
    [
        "ALA",
        "ARG",
        "ASN",
        "ASP",
        "CYS",
        "GLN",
        "GLU",
        "GLY",
        "HIS",
        "ILE",
        "LEU",
        "LYS",
        "MET",
        "PHE",
        "PRO",
        "SER",
        "THR",
        "TRP",
        "TYR",
        "VAL",
        "MSE",
        "MLY",
        "FME",
        "HYP",
        "TPO",
        "CSO",
        "SEP",
        "M3L",
        "HSK",
        "SAC",
        "PCA",
        "DAL",
        "CME",
        "CSD",
        "OCS",
        "DPR",
        "B3K",
        "ALY",
        "YCM",
        "MLZ",
        "4BF",
        "KCX",
        "B3E",
        "B3D",
        "HZP",
        "CSX",
        "BAL",
        "HIC",
        "DBZ",
        "DCY",
        "DVA",
        "NLE",
        "SMC",
        "AGM",
        "B3A",
        "DAS",
        "DLY",
        "DSN",
        "DTH",
        "GL3",
        "HY3",
        "LLP",
        "MGN",
        "MHS",
        "TRQ",
        "B3Y",
        "PHI",
        "PTR",
        "TYS",
        "IAS",
        "GPL",
        "KYN",
        "SEC",
        "UNK",
    ]
)

#: Modified residues that Foldseek maps to a parent amino acid but gemmi's residue table does not know: their
#: parent (``_chem_comp.mon_nstd_parent_comp_id`` in the PDB Chemical Component Dictionary). Foldseek keeps them
#: in its current table "added from previous FS code" (GemmiWrapper.cpp at b43e63d7).
EXTRA_PARENTS: dict[str, str] = {
    "4BF": "TYR",
    "B3A": "ALA",
    "B3D": "ASP",
    "B3K": "LYS",
    "B3Y": "TYR",
    "BAL": "ALA",
    "DBZ": "ALA",
    "GPL": "LYS",
    "HSK": "HIS",
    "HY3": "PRO",
    "HZP": "PRO",
    "KYN": "TRP",
    "MGN": "GLN",
}


@lru_cache(maxsize=4096)
def foldseek_current_letter(name: str) -> str:
    """Foldseek's one-letter code for a residue name under the current table (may be B, Z or O; 'X' if unknown).

    Exact, case-sensitive three-character names only, like Foldseek's ``threeToOneAA`` (names of another length
    give 'X').
    """
    if len(name) != 3 or name != name.upper():
        return "X"
    parent = EXTRA_PARENTS.get(name)
    if parent is not None:
        return THREE_TO_ONE[parent]
    info = gemmi.find_tabulated_residue(name)
    if info is None or not info.found() or not info.is_amino_acid():
        return "X"
    letter = info.one_letter_code.upper()
    if letter == "U":  # selenocysteine: gemmi says U, Foldseek says C
        return "C"
    return letter if letter.strip() else "X"


def foldseek_letter(name: str, rule: ResidueRule) -> str:
    """Foldseek's one-letter code for ``name`` under ``rule`` (legacy: only :data:`LEGACY_NAMES` have letters)."""
    if rule == "foldseek-legacy" and name not in LEGACY_NAMES:
        return "X"
    return foldseek_current_letter(name)


@lru_cache(maxsize=4096)
def sequence_letter(name: str, rule: ResidueRule) -> str:
    """The letter stored in ``Protein.sequence``: Foldseek's letter if it is one of the 20 amino acids, else X."""
    letter = foldseek_letter(name, rule)
    return letter if letter in SEQUENCE_ALPHABET else "X"


def check_rule(rule: str) -> ResidueRule:
    if rule not in RESIDUE_RULES:
        raise ValueError(f"residue_rule must be one of {RESIDUE_RULES}, got {rule!r}")
    return rule  # type: ignore[return-value]
