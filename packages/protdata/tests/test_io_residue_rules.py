"""Residue rules and one-letter codes (protdata.io.residue_rules) against Foldseek's tables and rule change.

Truths: Foldseek's ``threeToOneAA`` / ``threeAA2oneAA`` (GemmiWrapper.cpp at b43e63d7 and b43e63d7^), gemmi's
residue table (what Foldseek's current table was adapted from), the PDB's own canonical one-letter codes, and the
rule change described in foldseek-3di.md ("Which Foldseek").
"""

from __future__ import annotations

import re

import gemmi

from protdata import load_chains
from protdata.io.residue_rules import (
    EXTRA_PARENTS,
    LEGACY_NAMES,
    foldseek_current_letter,
    foldseek_letter,
    sequence_letter,
)
from protdata.testing import shared_data

# A sample of Foldseek's own pairs (GemmiWrapper.cpp); legacy = before b43e63d7, current = d5b1d3d4.
FOLDSEEK_LEGACY_SAMPLE = {"MSE": "M", "MLY": "K", "HYP": "P", "SEC": "C", "PCA": "E", "HSK": "H", "KYN": "W"}
FOLDSEEK_CURRENT_SAMPLE = {"ORN": "A", "CGU": "E", "SEC": "C", "ASX": "B", "GLX": "Z", "PYL": "O", "B3Y": "Y"}
NOT_IN_LEGACY = ("ORN", "CGU", "ASX", "CSS", "DPN", "NEP")


def test_legacy_list_has_foldseek_size() -> None:
    # 20 standard + 53 modified + UNK (GemmiWrapper.cpp at b43e63d7^, lines 16-35; CSD is listed twice there)
    assert len(LEGACY_NAMES) == 74
    assert {"ALA", "MSE", "UNK", "SEC"} <= LEGACY_NAMES


def test_letters_match_foldseek_tables() -> None:
    for name, letter in FOLDSEEK_LEGACY_SAMPLE.items():
        assert foldseek_letter(name, "foldseek-legacy") == letter, name
    for name, letter in FOLDSEEK_CURRENT_SAMPLE.items():
        assert foldseek_letter(name, "foldseek-current") == letter, name
    for name in NOT_IN_LEGACY:
        assert foldseek_letter(name, "foldseek-legacy") == "X", name
        assert foldseek_letter(name, "foldseek-current") != "X", name
    assert foldseek_letter("ZZZ", "foldseek-current") == "X"
    assert foldseek_letter("ala", "foldseek-current") == "X"  # Foldseek compares the exact bytes
    assert foldseek_letter("GLYX", "foldseek-current") == "X"


def test_current_table_is_gemmi_amino_acids_plus_the_old_extras() -> None:
    """Foldseek's current table is 'adapted from gemmi find_tabulated_residue' plus the previous list's extras."""
    for name in ("MSE", "SEP", "TPO", "PTR", "LLP", "CSO", "KCX", "M3L", "AIB", "DAL", "NLE"):
        info = gemmi.find_tabulated_residue(name)
        assert info.is_amino_acid()
        assert foldseek_current_letter(name) == info.one_letter_code.upper()
    for name, parent in EXTRA_PARENTS.items():
        assert not gemmi.find_tabulated_residue(name).is_amino_acid()  # gemmi does not know them
        assert foldseek_current_letter(name) == sequence_letter(parent, "foldseek-current")
    assert set(EXTRA_PARENTS) <= LEGACY_NAMES


def test_sequence_letters_stay_in_protein_alphabet() -> None:
    for name in ("ASX", "GLX", "PYL"):
        assert sequence_letter(name, "foldseek-current") == "X"
    assert sequence_letter("MSE", "foldseek-legacy") == "M"


def test_letters_agree_with_pdb_canonical_codes() -> None:
    """MSE, HYP… in the shared mmCIF files: our letters equal the PDB's canonical code of each observed residue."""
    checked = 0
    for path in sorted(shared_data("foldseek", "structures").glob("*.cif")):
        block = gemmi.cif.read_file(str(path)).sole_block()
        can = {}
        for row in block.find("_entity_poly.", ["entity_id", "pdbx_seq_one_letter_code_can"]):
            can[row.str(0)] = re.sub(r"\s", "", row.str(1))
        for row in block.find("_pdbx_poly_seq_scheme.", ["entity_id", "seq_id", "mon_id"]):
            letter = can[row.str(0)][int(row.str(1)) - 1]
            ours = sequence_letter(row.str(2), "foldseek-current")
            if ours != "X":
                assert ours == letter, (path.name, row.str(2))
                checked += 1
    assert checked > 1000


def _rename_residue(text: str, chain: str, number: int, new_name: str) -> str:
    lines = []
    for line in text.splitlines(keepends=True):
        if line.startswith(("ATOM", "HETATM")) and line[21] == chain and int(line[22:26]) == number:
            line = line[:17] + new_name + line[20:]
        lines.append(line)
    return "".join(lines)


def test_unlisted_polymer_hetatm_dropped_by_legacy_kept_as_x_by_current(tmp_path) -> None:
    """foldseek-3di.md §1 / version note: an unlisted HETATM in a polymer is dropped before b43e63d7, 'X' after."""
    text = shared_data("structures", "experimental_mini3di", "3bww.pdb").read_text()
    mse = [line for line in text.splitlines() if line.startswith("HETATM") and line[17:20] == "MSE"]
    chain, number = mse[0][21], int(mse[0][22:26])
    path = tmp_path / "3bww.pdb"
    path.write_text(_rename_residue(text, chain, number, "ZZZ"))
    legacy0 = load_chains(shared_data("structures", "experimental_mini3di", "3bww.pdb"))
    current0 = load_chains(
        shared_data("structures", "experimental_mini3di", "3bww.pdb"), residue_rule="foldseek-current"
    )
    legacy = load_chains(path)
    current = load_chains(path, residue_rule="foldseek-current")
    i = [p.id for p in legacy0].index(f"3bww_{chain}")
    pos = int(next(k for k, r in enumerate(current0[i].residue_number) if r == number))
    assert legacy0[i].sequence == current0[i].sequence and current0[i].sequence[pos] == "M"
    assert len(legacy[i]) == len(legacy0[i]) - 1
    assert number not in legacy[i].residue_number
    assert len(current[i]) == len(current0[i])
    assert current[i].sequence == current0[i].sequence[:pos] + "X" + current0[i].sequence[pos + 1 :]
