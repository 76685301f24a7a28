"""Mutant strings of the real deep mutational scans of ../shared/data/dms: parsed against the wild type (BLAT_ECOLX,
offset 24, hand-checked sites) and derived from full sequences (mavenn's GB1, checked against its ``name``
column)."""

from __future__ import annotations

import csv

import pytest

from protdata.testing import shared_data
from protenc_seq import MutationError, check_mutants, derive_mutant, parse_mutant
from protenc_seq.mutations import Mutation


def test_blat_mutants_hand_checked(blat: tuple[str, list[str], int]) -> None:
    sequence, mutants, offset = blat
    assert len(sequence) == 263 and sequence.startswith("HPETL") and sequence.endswith("IKHW")
    # the file's first and last rows, and one from the middle (residue 123 of TEM-1 is an alanine: index 99)
    assert (mutants[0], mutants[-1]) == ("H24C", "W286Y")
    assert parse_mutant("H24C", sequence, offset) == (Mutation("H", 0, "C"),)
    assert parse_mutant("W286Y", sequence, offset) == (Mutation("W", 262, "Y"),)
    assert parse_mutant("A123C:H24C", sequence, offset) == (Mutation("A", 99, "C"), Mutation("H", 0, "C"))
    # every row matches with the documented offset; one off, most rows fail on their wild-type letter
    rows = check_mutants(mutants, sequence, offset)
    assert rows.bad == [] and rows.strings == mutants and len(rows.distinct) == 4996
    shifted = check_mutants(mutants, sequence, offset + 1)
    assert len(shifted.bad) > 4000 and all(shifted.strings[r] is None for r, _ in shifted.bad)
    assert sum(s is not None for s in shifted.strings) + len(shifted.bad) == 4996
    r, reason = shifted.bad[0]
    assert r == 0 and reason.startswith("mutant 'H24C': position 24 is outside the sequence")


def test_parse_errors_name_the_mutant(blat: tuple[str, list[str], int]) -> None:
    sequence, _, offset = blat
    with pytest.raises(
        MutationError, match=r"mutant 'H24C:E25G': E25G expects E at position 25 but the wild type has P"
    ):
        parse_mutant("H24C:E25G", sequence, offset)
    with pytest.raises(MutationError, match=r"position 400 is outside the sequence \(residues 24\.\.286"):
        parse_mutant("A400G", sequence, offset)
    with pytest.raises(MutationError, match="not of the form A42G"):
        parse_mutant("H24", sequence, offset)
    with pytest.raises(MutationError, match="same position twice"):
        parse_mutant("H24C:H24G", sequence, offset)
    with pytest.raises(MutationError, match="mutant residue 'B'"):
        parse_mutant("H24B", sequence, offset)
    with pytest.raises(MutationError, match="must use upper-case"):
        parse_mutant("h24C", sequence, offset)


def test_check_mutants_collects_bad_rows_in_order(blat: tuple[str, list[str], int]) -> None:
    sequence, _, offset = blat
    cells = ["H24C", "  ", "W24C", "H24", "P25A:E26K", "H24C:H24G"]
    rows = check_mutants(cells, sequence, offset)
    assert rows.strings == ["H24C", None, None, None, "P25A:E26K", None]
    assert [r for r, _ in rows.bad] == [1, 2, 3, 5]
    reasons = dict(rows.bad)
    assert "empty mutant" in reasons[1]
    assert "W24C expects W at position 24 but the wild type has H there (numbering offset 24)" in reasons[2]
    assert "not of the form A42G" in reasons[3] and "same position twice" in reasons[5]


def test_gb1_full_sequences_derive_the_named_mutants() -> None:
    """mavenn's GB1 table: 813 variants as full sequences, each with its mutation in ``name`` (``T02A``: GB1
    numbered from 2). The wild type is rebuilt from one row and its name; every derived mutant equals the name."""
    with open(shared_data("dms", "mavenn_nisthal_gb1_data.csv"), newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 813
    first = rows[0]
    pos = int(first["name"][1:-1]) - 2
    wild_type = first["x"][:pos] + first["name"][0] + first["x"][pos + 1 :]
    derived = check_mutants([r["x"] for r in rows], wild_type, 2, full_sequences=True)
    assert derived.bad == []
    last = [r["name"].split(",")[-1].strip() for r in rows]  # three names list extra notes first: "C, L07I"
    named = [f"{n[0]}{int(n[1:-1])}{n[-1]}" for n in last]
    assert derived.strings == named
    assert derive_mutant(wild_type, wild_type, 2) == ""
    with pytest.raises(MutationError, match="sequence of length 54, the wild type has 55"):
        derive_mutant(wild_type[1:], wild_type, 2)
    bad = check_mutants([wild_type[:-1] + "B", wild_type.lower()], wild_type, 2, full_sequences=True)
    assert bad.strings == [None, ""]  # lower case reads as upper case: the wild type itself
    assert bad.bad == [(0, "variant letter 'B' is not a standard amino acid")]
