"""Protein: validation, views and residue selection."""

from __future__ import annotations

import numpy as np
import pytest

from protdata import Protein
from protdata.constants import RESIDUE_LETTERS, ids_to_sequence, sequence_to_ids
from protdata.errors import ProtdataError, SequenceError


def test_residue_ids_follow_torchdrug_order() -> None:
    torchdrug = ["GLY", "ALA", "SER", "PRO", "VAL", "THR", "CYS", "ILE", "LEU", "ASN",
                 "ASP", "GLN", "LYS", "GLU", "MET", "HIS", "PHE", "ARG", "TYR", "TRP"]  # fmt: skip
    from protdata.constants import THREE_TO_ONE

    assert [THREE_TO_ONE[n] for n in torchdrug] == list(RESIDUE_LETTERS)
    assert sequence_to_ids("GWX").tolist() == [0, 19, 20]
    assert ids_to_sequence(sequence_to_ids("MKVX")) == "MKVX"


def test_bad_sequence_letters_name_the_protein() -> None:
    with pytest.raises(SequenceError, match=r"'p1'.*'\*'") as info:
        Protein.from_sequence("p1", "MK*V")
    assert isinstance(info.value, ProtdataError)


def test_shape_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="coords has shape"):
        Protein(id="x", sequence="MK", coords=np.zeros((3, 5, 3)), atom_mask=np.ones((3, 5), bool))


def test_select_slices_every_field() -> None:
    n = 6
    p = Protein(
        id="x",
        sequence="MKVLAG",
        coords=np.arange(n * 15, dtype=np.float32).reshape(n, 5, 3),
        atom_mask=np.ones((n, 5), bool),
        residue_number=np.arange(10, 10 + n),
        insertion_code=np.array(list("  A   ")),
        plddt=np.linspace(0, 100, n, dtype=np.float32),
        structure_tokens="DPVLAD",
    )
    q = p.select(np.array([4, 1, 2]))
    assert q.sequence == "AKV" and q.structure_tokens == "APV"
    assert q.residue_number.tolist() == [14, 11, 12]
    np.testing.assert_array_equal(q.ca, p.ca[[4, 1, 2]])
    assert p.select(slice(1, 3)).sequence == "KV"
    assert p.select(np.array([True, False] * 3)).sequence == "MVA"
