"""load_chains / load_models / foldseek_entries: naming, models, chain parts, microheterogeneity, missing CA.

Truths: foldseek-3di.md §1 (each rule is stated there and was checked against Foldseek's own code), applied to
edited copies of real entries; the unedited entry gives the expected values.
"""

from __future__ import annotations

import numpy as np
import pytest

from protdata import load_chains
from protdata.io import foldseek_entries, load_models
from protdata.testing import shared_data


def _pdb(name: str):
    return shared_data("structures", "experimental_mini3di", name)


def _records(path) -> list[str]:
    return path.read_text().splitlines(keepends=True)


def test_foldseek_entry_names() -> None:
    """structcreatedb.cpp:338-351 with --chain-name-mode 1: _MODEL_<n> only when the file has several models."""
    folder = shared_data("foldseek", "structures")
    assert [h for h, _ in foldseek_entries(folder / "5zng.cif")] == ["5zng_A", "5zng_C"]
    names = [h for h, _ in foldseek_entries(folder / "2axd.cif")]
    assert names == [f"2axd_MODEL_{i}_S" for i in range(1, 13)]
    assert [h for h, _ in foldseek_entries(_pdb("3bww.masked.pdb"))] == ["3bww.masked_A"]


def test_protein_fields() -> None:
    proteins = load_chains(_pdb("8crb.pdb"))
    assert [p.id for p in proteins] == ["8crb_A", "8crb_B", "8crb_C"]
    for p in proteins:
        assert p.chain_ids == (p.chain_id,) and p.model == 1 and p.source == str(_pdb("8crb.pdb"))
        assert np.all(p.chain_index == 0)
        assert p.atom_mask[:, 1].all()  # every residue has its CA
        assert p.coords.dtype == np.float32 and p.coords.shape == (len(p), 5, 3)
        assert np.isnan(p.coords[~p.atom_mask]).all() and not np.isnan(p.coords[p.atom_mask]).any()
        assert set(p.insertion_code.tolist()) == {" "}
    gly = [i for i, c in enumerate(proteins[0].sequence) if c == "G"]
    assert gly and not proteins[0].atom_mask[gly, 4].any()  # glycine has no CB


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="residue_rule"):
        load_chains(_pdb("8crb.pdb"), residue_rule="foldseek")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="altloc"):
        load_chains(_pdb("8crb.pdb"), altloc="best")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="model"):
        load_chains(_pdb("8crb.pdb"), model="first")  # type: ignore[arg-type]


def test_load_models_every_model() -> None:
    models = load_models(shared_data("foldseek", "structures", "1gya.cif"))
    assert list(models) == list(range(1, 19))
    lengths = {len(ps[0]) for ps in models.values()}
    assert len(lengths) == 1


def test_chain_interrupted_by_another_chain_gives_two_entries(tmp_path) -> None:
    """foldseek-3di.md §1: a new entry starts whenever the chain name changes between consecutive atom rows (no
    merging of chain parts, unlike gemmi.read_structure's default)."""
    lines = _records(_pdb("8crb.pdb"))
    atoms_a = [line for line in lines if line.startswith("ATOM") and line[21] == "A"]
    atoms_b = [line for line in lines if line.startswith("ATOM") and line[21] == "B"]
    numbers = sorted({int(line[22:26]) for line in atoms_a})
    half = numbers[len(numbers) // 2]
    first = [line for line in atoms_a if int(line[22:26]) < half]
    second = [line for line in atoms_a if int(line[22:26]) >= half]
    path = tmp_path / "split.pdb"
    path.write_text("".join(first + atoms_b + second) + "END\n")
    proteins = load_chains(path)
    assert [p.id for p in proteins] == ["split_A", "split_B", "split_A"]
    (whole,) = [p for p in load_chains(_pdb("8crb.pdb")) if p.chain_id == "A"]
    assert len(proteins[0]) + len(proteins[2]) == len(whole)
    np.testing.assert_array_equal(np.concatenate([proteins[0].coords, proteins[2].coords]), whole.coords)


def test_microheterogeneity_first_listed_residue_wins(tmp_path) -> None:
    """gemmi's first-conformer walk skips a residue with the same number and insertion code as the one before."""
    lines = _records(_pdb("8crb.pdb"))
    atoms = [line for line in lines if line.startswith("ATOM") and line[21] == "A"]
    target = sorted({int(line[22:26]) for line in atoms})[20]
    block = [line for line in atoms if int(line[22:26]) == target]
    shifted = [
        line[:17] + "GLY" + line[20:30] + f"{float(line[30:38]) + 5:8.3f}" + line[38:] for line in block
    ]
    at = atoms.index(block[-1]) + 1
    path = tmp_path / "micro.pdb"
    path.write_text("".join(atoms[:at] + shifted + atoms[at:]) + "END\n")
    (p,) = load_chains(path)
    (ref,) = [q for q in load_chains(_pdb("8crb.pdb")) if q.chain_id == "A"]
    assert p.sequence == ref.sequence
    np.testing.assert_array_equal(p.coords, ref.coords)


def test_residue_without_ca_is_dropped(tmp_path) -> None:
    """foldseek-3di.md §1: a residue without an atom named CA is dropped (the chain gets shorter), not a gap."""
    lines = _records(_pdb("8crb.pdb"))
    atoms = [line for line in lines if line.startswith("ATOM") and line[21] == "A"]
    target = sorted({int(line[22:26]) for line in atoms})[30]
    path = tmp_path / "noca.pdb"
    path.write_text(
        "".join(line for line in atoms if not (int(line[22:26]) == target and line[12:16] == " CA "))
        + "END\n"
    )
    (p,) = load_chains(path)
    (ref,) = [q for q in load_chains(_pdb("8crb.pdb")) if q.chain_id == "A"]
    assert len(p) == len(ref) - 1
    assert target not in p.residue_number.tolist()
    keep = ref.residue_number != target
    np.testing.assert_array_equal(p.coords, ref.coords[keep])
