"""Contact labels from real PDB chains (Cβ, Cα for Gly, < 8 Å; Rives et al. 2021 / CASP) against a double loop
over residue pairs on coordinates read independently with gemmi; the range precisions against
:func:`precision_at_l_counts` one range at a time; the sequence-separation baseline against its definition."""

from __future__ import annotations

import math

import numpy as np
import pytest

from protdata import load_chains
from protdata.testing import shared_data
from prottasks.errors import MetricInputError
from prottasks.metrics import (
    contact_coords,
    contact_labels,
    contact_pair_mask,
    contact_precisions,
    precision_at_l_counts,
    sequence_separation_scores,
)

pytestmark = pytest.mark.numerics

gemmi = pytest.importorskip("gemmi")

CHAINS = ("1ahsA", "1i8nA", "2xr6A", "3a4rA")  # 1i8nA and 2xr6A lack one Cβ each


def gemmi_atoms(path) -> dict[tuple[int, str], tuple[str, np.ndarray | None]]:
    """(residue number, insertion code) -> (residue name, Cβ / Cα-for-Gly coordinates or None), first model."""
    structure = gemmi.read_structure(str(path))
    out = {}
    for residue in structure[0][0]:
        if residue.het_flag == "H" and residue.name != "MSE":
            continue
        name = "CA" if residue.name == "GLY" else "CB"
        atom = residue.find_atom(name, "*")
        key = (residue.seqid.num, residue.seqid.icode.strip())
        out[key] = (residue.name, None if atom is None else np.array(atom.pos.tolist(), dtype=np.float64))
    return out


@pytest.fixture(scope="module", params=CHAINS)
def chain(request):
    path = shared_data("structures", "experimental_mdanalysis_dssp", f"{request.param}.pdb.gz")
    (protein,) = load_chains(path, format="pdb")
    return protein, gemmi_atoms(path)


def test_labels_match_brute_force_double_loop(chain):
    protein, atoms = chain
    contacts, valid = contact_labels(protein)
    keys = [
        (int(n), str(c).strip()) for n, c in zip(protein.residue_number, protein.insertion_code, strict=True)
    ]
    ref = [atoms[k][1] for k in keys]
    assert [r is not None for r in ref] == valid.tolist()
    length = len(protein)
    expected = np.zeros((length, length), dtype=bool)
    for i in range(length):
        for j in range(length):
            if ref[i] is not None and ref[j] is not None:
                expected[i, j] = math.dist(ref[i], ref[j]) < 8.0
    assert np.array_equal(contacts, expected)
    assert contacts.sum() > 2 * length  # a real structure: more than the diagonal and its neighbours


def test_contact_coords_uses_calpha_for_glycine(chain):
    protein, _ = chain
    x, valid = contact_coords(protein.coords, protein.sequence, protein.atom_mask)
    gly = np.array([c == "G" for c in protein.sequence])
    assert gly.any() and np.array_equal(x[gly], protein.coords[gly, 1].astype(np.float64))
    rest = ~gly & valid
    assert np.array_equal(x[rest], protein.coords[rest, 4].astype(np.float64))
    assert np.isnan(x[~valid]).all()


def test_pair_mask_and_range_precisions(chain):
    protein, _ = chain
    contacts, valid = contact_labels(protein)
    mask = contact_pair_mask(valid)
    length = len(protein)
    for i in range(length):
        for j in range(length):
            assert mask[i, j] == (bool(valid[i]) and bool(valid[j]) and abs(i - j) >= 6)
    scores = sequence_separation_scores(length)
    assert scores[3, 10] == -7.0 and np.array_equal(scores, scores.T)
    rng = np.random.default_rng(0)
    probs = np.clip(contacts + rng.normal(scale=0.7, size=contacts.shape), 0, 1)
    table = contact_precisions([(probs, contacts, valid)])
    assert len(table) == 9
    for seq_range in ("short", "medium", "long"):
        for fraction, suffix in ((1, ""), (2, "/2"), (5, "/5")):
            a, b = precision_at_l_counts(probs, contacts, fraction=fraction, seq_range=seq_range, valid=valid)
            assert table[f"{seq_range}_P@L{suffix}"] == a / b


def test_label_errors(chain):
    protein, _ = chain
    with pytest.raises(MetricInputError, match="no coordinates"):
        contact_labels(protein.from_sequence("x", protein.sequence))
    with pytest.raises(MetricInputError, match="sequence"):
        contact_coords(protein.coords, protein.sequence[:-1])
    with pytest.raises(MetricInputError, match="valid"):
        precision_at_l_counts(np.zeros((5, 5)), np.zeros((5, 5)), valid=np.ones(4, dtype=bool))
