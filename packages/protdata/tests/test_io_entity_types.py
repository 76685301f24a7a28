"""Entity types as Foldseek's gemmi 0.5.1 assigns them, on edited copies of real entries.

Truths: foldseek-3di.md §1 (TER semantics; "with no TER, a calcium ion (atom named CA) is appended as an extra 'X'
residue"; an unlisted/unknown-entity HETATM under the legacy rule), gemmi 0.5.1's source (pdb.hpp TER handling;
mmcif.hpp ``fill_residue_entity_type``), and the independent biotite-based reader, which implements the same
rules on biotite's parse.
"""

from __future__ import annotations

import gemmi
import numpy as np
import pytest

from protdata import load_chains
from protdata.io.biotite_reader import load_chains_biotite
from protdata.io.entity_types import has_ter_record
from protdata.testing import shared_data


def _chain_a_pdb_of_1f2n() -> list[str]:
    """1f2n chain A as PDB records (polymer, TER, then chain A's ligands incl. the Ca²⁺ 'CA' ion), via gemmi."""
    st = gemmi.read_structure(str(shared_data("foldseek", "structures", "1f2n.cif")))
    st.setup_entities()
    lines = [line for line in st.make_pdb_string().splitlines() if line.startswith(("ATOM", "HETATM", "TER"))]
    return [line for line in lines if line[21] == "A" or (line.startswith("TER") and line[21:22] == "A")]


@pytest.mark.parametrize("rule", ["foldseek-legacy", "foldseek-current"])
def test_ion_after_ter_is_not_a_residue(tmp_path, rule: str) -> None:
    lines = _chain_a_pdb_of_1f2n()
    assert any(line.startswith("TER") for line in lines)
    path = tmp_path / "a.pdb"
    path.write_text("\n".join(lines) + "\nEND\n")
    (p,) = load_chains(path, residue_rule=rule)
    (ref,) = [q for q in load_chains(shared_data("foldseek", "structures", "1f2n.cif")) if q.chain_id == "A"]
    assert p.sequence == ref.sequence
    np.testing.assert_allclose(p.coords, ref.coords, atol=1e-3)


def test_ion_without_ter_becomes_x_under_current_rule_only(tmp_path) -> None:
    """foldseek-3di.md §1 [E]: without any TER a Ca²⁺ (atom 'CA') is appended as an extra 'X' (current rule);
    the legacy rule drops it (a HETATM whose name is not in Foldseek's list)."""
    lines = [line for line in _chain_a_pdb_of_1f2n() if not line.startswith("TER")]
    ions = [line for line in lines if line.startswith("HETATM") and line[17:20].strip() == "CA"]
    assert len(ions) == 1
    path = tmp_path / "a.pdb"
    path.write_text("\n".join(lines) + "\nEND\n")
    assert not has_ter_record(path.read_bytes())
    (legacy,) = load_chains(path)
    (current,) = load_chains(path, residue_rule="foldseek-current")
    assert len(current) == len(legacy) + 1
    assert current.sequence == legacy.sequence + "X"
    assert current.residue_number[-1] == int(ions[0][22:26])


def _insert_ter_after_residue(text: str, chain: str, number: int) -> str:
    out, inserted = [], False
    lines = text.splitlines(keepends=True)
    for i, line in enumerate(lines):
        out.append(line)
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if (
            not inserted
            and line.startswith(("ATOM", "HETATM"))
            and line[21] == chain
            and int(line[22:26]) == number
            and not (nxt.startswith(("ATOM", "HETATM")) and int(nxt[22:26]) == number)
        ):
            out.append(f"TER   {int(line[6:11]) + 1:5d}      {line[17:20]} {chain}{number:4d}\n")
            inserted = True
    return "".join(out)


def test_second_ter_in_a_chain_follows_gemmi_0_5_1(tmp_path) -> None:
    """A TER inside chain A (then the file's own TER): gemmi 0.5.1 marks residues up to the first TER polymer and
    later ones non-polymer (gemmi 0.7.5 would reset every entity type to unknown instead)."""
    src = shared_data("structures", "experimental_mini3di", "3bww.pdb")
    path = tmp_path / "3bww.pdb"
    path.write_text(_insert_ter_after_residue(src.read_text(), "A", 30))
    (orig_a,) = [p for p in load_chains(src, residue_rule="foldseek-current") if p.chain_id == "A"]
    (cur_a,) = [p for p in load_chains(path, residue_rule="foldseek-current") if p.chain_id == "A"]
    # current rule: non-polymer residues are dropped, so the chain ends at residue 30
    assert cur_a.residue_number[-1] == 30
    np.testing.assert_array_equal(cur_a.coords, orig_a.coords[: len(cur_a)])
    # legacy rule: ATOM residues stay whatever their entity, HETATM MSE after the TER (39, …) is dropped
    (leg_a,) = [p for p in load_chains(path) if p.chain_id == "A"]
    (leg_orig,) = [p for p in load_chains(src) if p.chain_id == "A"]
    dropped = set(leg_orig.residue_number.tolist()) - set(leg_a.residue_number.tolist())
    assert dropped and min(dropped) > 30
    assert all(leg_orig.sequence[list(leg_orig.residue_number).index(n)] == "M" for n in dropped)
    # the independent biotite reader agrees residue for residue
    (bio_a,) = [p for p in load_chains_biotite(path) if p.chain_id == "A"]
    np.testing.assert_array_equal(bio_a.residue_number, leg_a.residue_number)


def test_anisou_out_of_place_is_ignored_like_gemmi_0_5_1(tmp_path) -> None:
    """gemmi 0.7.5 rejects an ANISOU record that does not follow its atom; 0.5.1 (Foldseek) ignores ANISOU."""
    src = shared_data("structures", "experimental_mini3di", "8crb.pdb")
    text = src.read_text()
    anisou = "ANISOU    1  N   ALA A   1     4000   4000   4000      0      0      0       N\n"
    first_atom = text.index("\nATOM") + 1
    path = tmp_path / "8crb.pdb"
    path.write_text(text[:first_atom] + anisou + text[first_atom:])
    with pytest.raises(RuntimeError, match="ANISOU"):
        gemmi.read_pdb_string(path.read_text())
    got, ref = load_chains(path), load_chains(src)
    assert [p.id for p in got] == [p.id for p in ref]
    for a, b in zip(got, ref):
        np.testing.assert_array_equal(a.coords, b.coords)


def _edit_1f2n(dst, strip: tuple[str, ...]) -> None:
    """1f2n with chain A's Ca²⁺ row moved right after chain A's last polymer atom (same chain part), and the
    given categories removed."""
    doc = gemmi.cif.read_file(str(shared_data("foldseek", "structures", "1f2n.cif")))
    block = doc.sole_block()
    table = block.find("_atom_site.", ["label_asym_id", "auth_asym_id", "label_comp_id"])
    rows = [(r.str(0), r.str(1), r.str(2)) for r in table]
    ion = next(i for i, (_, auth, comp) in enumerate(rows) if auth == "A" and comp == "CA")
    last_a = max(i for i, (label, _, _) in enumerate(rows) if label == "A")
    table.move_row(ion, last_a + 1)
    for name in strip:
        category = block.find_mmcif_category(name)
        assert category, name
        category.erase()
    doc.write_file(str(dst))


@pytest.mark.parametrize("rule", ["foldseek-legacy", "foldseek-current"])
def test_mmcif_without_entities_uses_0_5_1_guess(tmp_path, rule: str) -> None:
    """Without _entity/_struct_asym, gemmi 0.5.1 calls a one-residue subchain non-polymer and a longer one polymer,
    so a Ca²⁺ ion inside chain A's atom run stays out (gemmi 0.7.5 alone would call it 'unknown' and the current
    rule would append an 'X')."""
    ref = load_chains(shared_data("foldseek", "structures", "1f2n.cif"), residue_rule=rule)
    for strip in ((), ("_entity.", "_struct_asym.")):
        path = tmp_path / "1f2n.cif"
        _edit_1f2n(path, strip)
        got = load_chains(path, residue_rule=rule)
        assert [(p.id, p.sequence) for p in got] == [(p.id, p.sequence) for p in ref]
        assert [(p.id, p.sequence) for p in load_chains_biotite(path)] == [(p.id, p.sequence) for p in ref]


def test_pdb_without_ter_legacy_drops_hetatm_mse(tmp_path) -> None:
    """Without TER every residue's entity is unknown (gemmi pdb.hpp): the legacy rule then drops HETATM residues
    even if listed (they need a polymer entity), the current rule keeps them (unknown entities are allowed)."""
    src = shared_data("structures", "experimental_mini3di", "3bww.pdb")
    path = tmp_path / "3bww.pdb"
    path.write_text("".join(line for line in src.read_text().splitlines(True) if not line.startswith("TER")))
    (with_ter,) = load_chains(src)
    (legacy,) = load_chains(path)
    (current,) = load_chains(path, residue_rule="foldseek-current")
    assert current.sequence == with_ter.sequence
    mse = {
        int(line[22:26])
        for line in src.read_text().splitlines()
        if line.startswith("HETATM") and "MSE" in line
    }
    assert mse and mse.isdisjoint(legacy.residue_number.tolist())
    assert len(legacy) == len(with_ter) - len(mse & set(with_ter.residue_number.tolist()))
