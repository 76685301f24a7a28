"""The reader yields exactly Foldseek's chain entries (every model) with exactly as many residues as Foldseek's 3Di
strings have letters; and the atoms it selects reproduce those strings with mini3di's independent encoder.

Truth: ``shared/data/foldseek/foldseek_3di.fasta`` (82 entries, ``foldseek createdb --chain-name-mode 1`` on 12 PDB
entries) and ``mini3di_suite_3di.fasta`` (mini3di's test suite, for ``structures/experimental_mini3di``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from protdata.errors import NoProteinChainError
from protdata.io import foldseek_entries
from protdata.testing import fasta_by_hand, shared_data

pytestmark = pytest.mark.numerics

MINI3DI_FILES = ("3bww.pdb", "3bww.masked.pdb", "8crb.pdb")


def _reference() -> tuple[dict[str, str], list[Path]]:
    expected = fasta_by_hand(shared_data("foldseek", "foldseek_3di.fasta"))
    expected.update(fasta_by_hand(shared_data("foldseek", "mini3di_suite_3di.fasta")))
    files = sorted(shared_data("foldseek", "structures").glob("*.cif"))
    files += [shared_data("structures", "experimental_mini3di", name) for name in MINI3DI_FILES]
    return expected, files


def _entries(files: list[Path], **kwargs) -> dict[str, object]:
    got = {}
    for path in files:
        try:
            entries = foldseek_entries(path, **kwargs)
        except NoProteinChainError:  # 4gxy is RNA only: Foldseek writes no entry for it either
            continue
        for header, protein in entries:
            assert header not in got, header
            got[header] = protein
    return got


@pytest.mark.parametrize("rule", ["foldseek-legacy", "foldseek-current"])
def test_same_entries_and_lengths_as_foldseek(rule: str) -> None:
    expected, files = _reference()
    assert len(expected) == 87
    got = _entries(files, residue_rule=rule)
    assert set(got) == set(expected)
    for header, string in expected.items():
        assert len(got[header]) == len(string), header


def test_rna_only_entry_has_no_protein_chain() -> None:
    with pytest.raises(NoProteinChainError, match=r"4gxy\.cif"):
        foldseek_entries(shared_data("foldseek", "structures", "4gxy.cif"))


def test_selected_atoms_reproduce_foldseek_3di_with_mini3di() -> None:
    """Every reference string, letter for letter, from the reader's N/CA/C/CB through mini3di's encoder."""
    mini3di = pytest.importorskip("mini3di")
    expected, files = _reference()
    got = _entries(files)
    encoder = mini3di.Encoder()
    wrong = []
    for header, protein in got.items():
        c = protein.coords.astype(np.float64)
        states = encoder.encode_atoms(ca=c[:, 1], cb=c[:, 4], n=c[:, 0], c=c[:, 2])
        if encoder.build_sequence(states) != expected[header]:
            wrong.append(header)
    assert wrong == []


@pytest.mark.parametrize("altloc", ["first", "occupancy"])
def test_other_altloc_rules_break_exactly_the_altloc_entries(altloc: str) -> None:
    """foldseek-3di.md §1: 3o5r and 4i39 reproduce only with the last atom in file order."""
    mini3di = pytest.importorskip("mini3di")
    expected, files = _reference()
    encoder = mini3di.Encoder()
    wrong = set()
    for header, protein in _entries(files, altloc=altloc).items():
        c = protein.coords.astype(np.float64)
        states = encoder.encode_atoms(ca=c[:, 1], cb=c[:, 4], n=c[:, 0], c=c[:, 2])
        if encoder.build_sequence(states) != expected[header]:
            wrong.add(header)
    assert wrong == {"3o5r_A", "4i39_A"}
