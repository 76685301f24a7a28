"""Letter-for-letter parity with strings written by Foldseek itself.

Truths: ``shared/data/foldseek/foldseek_3di.fasta`` (``foldseek createdb --chain-name-mode 1`` + ``convert2fasta``
on the 12 PDB entries of ``foldseek/structures/``), ``mini3di_suite_3di.fasta`` (mini3di's test suite, Foldseek
output for ``structures/experimental_mini3di/``), and the Foldseek 9-427df8a string for 1xso chain A quoted in
foldseek issue #336. Structures go through ``protdata.load_chains`` (Foldseek's reader rules) and
``encode_3di``; every chain of every model must match, and no expected entry may be missing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from protdata import load_chains
from protdata.errors import NoProteinChainError
from protdata.foldseek import encode_3di
from protdata.testing import fasta_by_hand, shared_data

pytestmark = pytest.mark.numerics

#: foldseek 9-427df8a on 1xso chain A, quoted in https://github.com/steineggerlab/foldseek/issues/336
ISSUE_336_1XSO_A = (
    "DKKKWWKDFPDPKTKIKIWDDDDLFKIKIWMKIFQADFDKKWKWWACAQDCPVHVVVSHFGAAPPDFWDFAQPDPRHGLTGDFIFGDDPRMTTDMDIHNSAGC"
    "DDPNRQQRIKMFIANAGQCGLPPPDPVSRGTSPRDDTRIMTGMHDDD"
)


def foldseek_entries(path: Path) -> list[tuple[str, object]]:
    """Every chain of every model with the entry name ``createdb --chain-name-mode 1`` gives it (spec §1):
    file name without its last extension, ``_MODEL_<n>`` only for multi-model files, ``_<chain>``; entries
    of 3 or fewer residues, or only 'X', are skipped as createdb does."""
    try:
        proteins = load_chains(path, model="all")
    except NoProteinChainError:
        return []
    stem = path.name.rsplit(".", 1)[0]
    multi = len({p.model for p in proteins}) > 1
    out = []
    for p in proteins:
        if len(p) <= 3 or set(p.sequence) == {"X"}:
            continue
        name = f"{stem}_MODEL_{p.model}_{p.chain_id}" if multi else f"{stem}_{p.chain_id}"
        out.append((name, p))
    return out


def check_parity(structures: list[Path], expected: dict[str, str]) -> None:
    entries = [e for f in structures for e in foldseek_entries(f)]
    names = [n for n, _ in entries]
    got = dict(zip(names, encode_3di([p for _, p in entries])))
    assert len(set(names)) == len(names)
    missing = sorted(set(expected) - set(got))
    assert not missing, f"chains Foldseek encoded but load_chains did not yield: {missing}"
    wrong = {
        n: sum(a != b for a, b in zip(expected[n], got[n])) if len(expected[n]) == len(got[n]) else "length"
        for n in expected
        if got[n] != expected[n]
    }
    assert not wrong, f"entries differing from Foldseek (name: letters or length): {wrong}"


def test_every_chain_every_model_matches_foldseek() -> None:
    folder = shared_data("foldseek", "structures")
    expected = fasta_by_hand(shared_data("foldseek", "foldseek_3di.fasta"))
    assert len(expected) == 82
    check_parity(sorted(folder.glob("*.cif")), expected)


def test_mini3di_suite_matches_foldseek() -> None:
    folder = shared_data("structures", "experimental_mini3di")
    expected = fasta_by_hand(shared_data("foldseek", "mini3di_suite_3di.fasta"))
    files = [folder / f"{name}.pdb" for name in ("3bww", "3bww.masked", "8crb")]
    check_parity(files, expected)


def test_1xso_altlocs_match_foldseek_issue_336() -> None:
    """1xso has alternate locations; Foldseek takes the last atom in file order (mini3di's default differs)."""
    (chain_a,) = [
        p
        for p in load_chains(shared_data("structures", "experimental_mini3di", "1xso.pdb"))
        if p.chain_id == "A"
    ]
    assert encode_3di([chain_a]) == [ISSUE_336_1XSO_A]


@pytest.mark.parametrize("entry", ["3o5r_A", "4i39_A", "1dix_A"])
def test_biotite_known_failures_are_matched(entry: str) -> None:
    """The three chains biotite's to_3di gets wrong (spec §3: altlocs, split chain) are exact here."""
    stem = entry.split("_")[0]
    expected = fasta_by_hand(shared_data("foldseek", "foldseek_3di.fasta"))[entry]
    (protein,) = load_chains(shared_data("foldseek", "structures", f"{stem}.cif"))
    assert encode_3di([protein]) == [expected]
