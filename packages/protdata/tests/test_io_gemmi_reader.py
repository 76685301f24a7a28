"""The gemmi reader's residues, numbering, chain ids, atoms and altlocs against independent truths.

Truths: the PDB's own residue mapping ``_pdbx_poly_seq_scheme`` and canonical sequence
``_entity_poly.pdbx_seq_one_letter_code_can``, biotite's atom tables (``altloc="all" / "first" / "occupancy"``),
and the behaviour foldseek-3di.md §1 documents (with the entries it names).
"""

from __future__ import annotations

import re

import gemmi
import numpy as np
import pytest

from protdata import load_chains
from protdata.io import load_models
from protdata.testing import shared_data


def _cif(name: str):
    return shared_data("foldseek", "structures", f"{name}.cif")


def _scheme_residues(block: gemmi.cif.Block) -> dict[str, list[tuple[int, str, str]]]:
    """Per author chain: observed polymer residues that have a CA atom in model 1, as (number, icode, letter)."""
    with_ca = set()
    model_one = None
    for row in block.find(
        "_atom_site.",
        ["auth_asym_id", "auth_seq_id", "pdbx_PDB_ins_code", "label_atom_id", "pdbx_PDB_model_num"],
    ):
        model_one = model_one or row.str(4)
        if row.str(4) == model_one and row.str(3) == "CA":
            with_ca.add((row.str(0), int(row.str(1)), row.str(2) or " "))
    can = {
        row.str(0): re.sub(r"\s", "", row.str(1))
        for row in block.find("_entity_poly.", ["entity_id", "pdbx_seq_one_letter_code_can"])
    }
    out: dict[str, list[tuple[int, str, str]]] = {}
    table = block.find(
        "_pdbx_poly_seq_scheme.", ["entity_id", "seq_id", "auth_seq_num", "pdb_ins_code", "pdb_strand_id"]
    )
    for row in table:
        if gemmi.cif.is_null(row[2]):
            continue  # not observed
        key = (row.str(4), int(row.str(2)), row.str(3) or " ")
        if key in with_ca:
            out.setdefault(row.str(4), []).append((key[1], key[2], can[row.str(0)][int(row.str(1)) - 1]))
    return out


@pytest.mark.parametrize(
    "name", ["1aki", "1dix", "1f2n", "1gya", "1igy", "1l2y", "2axd", "3o5r", "4i39", "5h73", "5zng"]
)
def test_residues_numbers_icodes_letters_match_pdb_scheme(name: str) -> None:
    block = gemmi.cif.read_file(str(_cif(name))).sole_block()
    truth = _scheme_residues(block)
    proteins = load_chains(_cif(name))
    assert sorted(p.chain_id for p in proteins) == sorted(truth)
    for p in proteins:
        expected = truth[p.chain_id]
        assert list(p.residue_number) == [n for n, _, _ in expected]
        assert list(p.insertion_code) == [i for _, i, _ in expected]
        # letters: the PDB's canonical code, except residues Foldseek does not know (ours: X)
        assert all(a in (b, "X") for a, (_, _, b) in zip(p.sequence, expected))


def test_insertion_codes_1dix_and_1igy() -> None:
    """foldseek-3di.md §1: insertion codes give separate residues; 1dix starts 1X…4X then 2, 3, …"""
    (p,) = load_chains(_cif("1dix"))
    start = list(zip(p.residue_number[:7].tolist(), p.insertion_code[:7].tolist()))
    assert start == [(1, "X"), (2, "X"), (3, "X"), (4, "X"), (2, " "), (3, " "), (4, " ")]
    igy = load_chains(_cif("1igy"))
    assert any((p.insertion_code != " ").sum() > 0 for p in igy)
    for p in igy:  # numbering (number, icode) never repeats within a chain
        keys = list(zip(p.residue_number.tolist(), p.insertion_code.tolist()))
        assert len(set(keys)) == len(keys)


def test_author_chain_ids_not_label_ids() -> None:
    """foldseek-3di.md §1: 2axd gives _S (label A) and 5zng gives _C (label B)."""
    assert {p.chain_id for p in load_chains(_cif("2axd"))} == {"S"}
    assert {p.id for p in load_chains(_cif("5zng"))} == {"5zng_A", "5zng_C"}


def test_models_and_model_numbers() -> None:
    models = load_models(_cif("1l2y"))
    assert list(models) == list(range(1, 39))
    assert all(len(ps) == 1 and ps[0].model == m and ps[0].id == "1l2y_A" for m, ps in models.items())
    (p7,) = load_chains(_cif("1l2y"), model=7)
    assert p7.model == 7
    np.testing.assert_array_equal(p7.coords, models[7][0].coords)
    assert not np.array_equal(models[1][0].coords, p7.coords)
    assert load_chains(_cif("1l2y"))[0].model == 1
    assert len(load_chains(_cif("1l2y"), model="all")) == 38


def test_missing_model_number_is_an_error() -> None:
    from protdata.errors import ProtdataError

    with pytest.raises(ProtdataError, match=r"1l2y.cif.*model 99 not in the file"):
        load_chains(_cif("1l2y"), model=99)


def test_calcium_ion_named_ca_is_not_a_residue() -> None:
    """1f2n's Ca²⁺ ions (atom 'CA', non-polymer entity) are not residues (foldseek-3di.md §3: mini3di adds them)."""
    ions = {1001, 1002, 1003}  # HETATM CA CA D/E/F 1001-1003 in 1f2n.cif
    for p in load_chains(_cif("1f2n")):
        assert not ions & set(p.residue_number.tolist())
    proteins = load_chains(_cif("1f2n"), residue_rule="foldseek-current")
    assert all(not ions & set(p.residue_number.tolist()) for p in proteins)


def test_glycans_and_waters_are_not_residues() -> None:
    """1gya/1igy: branched glycans are dropped (their entity is not polymer)."""
    for p in load_chains(_cif("1igy")):
        assert "X" not in p.sequence


def _biotite_atoms(path, altloc: str):
    from biotite.structure.io import pdbx

    cif = pdbx.CIFFile.read(str(path))
    return pdbx.get_structure(cif, model=1, altloc=altloc, extra_fields=["occupancy"], use_author_fields=True)


def _coords_from_biotite(atoms, protein, pick_last: bool) -> np.ndarray:
    out = np.full(protein.coords.shape, np.nan, dtype=np.float32)
    index = {}
    for i in range(atoms.array_length()):
        key = (atoms.chain_id[i], int(atoms.res_id[i]), atoms.ins_code[i] or " ", atoms.atom_name[i])
        if pick_last or key not in index:
            index[key] = i
    for r, (num, ic) in enumerate(zip(protein.residue_number, protein.insertion_code)):
        for k, name in enumerate(("N", "CA", "C", "O", "CB")):
            i = index.get((protein.chain_id, int(num), str(ic), name))
            if i is not None:
                out[r, k] = atoms.coord[i]
    return out


@pytest.mark.parametrize("name", ["3o5r", "4i39"])
@pytest.mark.parametrize("altloc", ["last", "first", "occupancy"])
def test_altloc_choice_against_biotite(name: str, altloc: str) -> None:
    """'last' = the last atom of each name in file order (Foldseek); 'first'/'occupancy' = biotite's choice."""
    (protein,) = load_chains(_cif(name), altloc=altloc)
    if altloc == "last":
        truth = _coords_from_biotite(_biotite_atoms(_cif(name), "all"), protein, pick_last=True)
    else:
        truth = _coords_from_biotite(_biotite_atoms(_cif(name), altloc), protein, pick_last=False)
    np.testing.assert_array_equal(protein.atom_mask, ~np.isnan(truth[..., 0]))
    np.testing.assert_allclose(protein.coords, truth, atol=1e-3)


def test_altloc_rules_differ_where_foldseek_says() -> None:
    """foldseek-3di.md §1: in 3o5r, GLU 20 uses altloc B (occupancy 0.25) because B is listed last."""
    last, first, occ = (load_chains(_cif("3o5r"), altloc=a)[0] for a in ("last", "first", "occupancy"))
    r = int(np.flatnonzero(last.residue_number == 20)[0])
    atoms = _biotite_atoms(_cif("3o5r"), "all")
    sel = (atoms.res_id == 20) & (atoms.atom_name == "CB")
    cb_b = atoms.coord[sel & (atoms.altloc_id == "B")][0]
    cb_a = atoms.coord[sel & (atoms.altloc_id == "A")][0]
    np.testing.assert_allclose(last.coords[r, 4], cb_b, atol=1e-3)
    np.testing.assert_allclose(first.coords[r, 4], cb_a, atol=1e-3)
    np.testing.assert_allclose(occ.coords[r, 4], cb_a, atol=1e-3)
    assert atoms.occupancy[sel & (atoms.altloc_id == "B")][0] == pytest.approx(0.25)


def test_b_factor_is_the_selected_ca_b_factor() -> None:
    (p,) = load_chains(_cif("1aki"))
    block = gemmi.cif.read_file(str(_cif("1aki"))).sole_block()
    b = {
        int(r.str(1)): float(r.str(2))
        for r in block.find("_atom_site.", ["label_atom_id", "auth_seq_id", "B_iso_or_equiv"])
        if r.str(0) == "CA"
    }
    np.testing.assert_allclose(p.b_factor, [b[int(n)] for n in p.residue_number], rtol=1e-6)
    assert p.plddt is None  # an X-ray structure is not a predicted model
    assert p.source.endswith("1aki.cif")
