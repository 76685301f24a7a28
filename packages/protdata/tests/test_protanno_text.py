"""ProtCLIP's text building and its four-way property split (diaoshaoyou/ProtCLIP)."""

from __future__ import annotations

import itertools

import pytest

from protdata.protanno import PROPERTY_MARKERS, build_text, parse_properties, read_uniprot, split_text
from protdata.testing import shared_data


@pytest.fixture(scope="module")
def columns() -> tuple[str, str, str, str]:
    """Name and the three columns of a real Swiss-Prot entry that has all of them (CRU4_ARATH)."""
    entry = read_uniprot(shared_data("function", "uniprot_swissprot_sample.dat"))[0]
    values = (
        entry.protein_names,
        entry.comment_column("FUNCTION"),
        entry.comment_column("SUBCELLULAR LOCATION"),
        entry.comment_column("SIMILARITY"),
    )
    assert all(values)
    return values  # type: ignore[return-value]


def test_build_text_is_protclips_concatenation(columns: tuple[str, str, str, str]) -> None:
    name, function, location, similarity = columns
    assert function.startswith("FUNCTION: ") and location.startswith("SUBCELLULAR LOCATION: ")
    assert build_text(name, function, location, similarity) == (
        "PROTEIN NAME: " + name + "." + " " + function + " " + location + " " + similarity
    )
    assert build_text(name) == "PROTEIN NAME: " + name + "."
    assert build_text(name, "", None, similarity) == "PROTEIN NAME: " + name + ". " + similarity


@pytest.mark.parametrize("present", list(itertools.product([True, False], repeat=3)))
def test_split_of_every_presence_pattern(
    columns: tuple[str, str, str, str], present: tuple[bool, ...]
) -> None:
    name, *cols = columns
    kept = [c if p else None for c, p in zip(cols, present)]
    text = build_text(name, *kept)
    parts = split_text(text)
    # ProtCLIP slices verbatim: each present part runs up to (and keeps) the space before the next marker.
    present_parts = ["PROTEIN NAME: " + name + "."] + [c for c in kept if c]
    expected_present = [p + " " for p in present_parts[:-1]] + [present_parts[-1]]
    got_present = [parts[0]] + [parts[k + 1] for k in range(3) if present[k]]
    assert got_present == expected_present
    for k in range(3):
        if not present[k]:
            assert parts[k + 1] == PROPERTY_MARKERS[k + 1] + ":"
    props = parse_properties(text)
    assert props == {
        "protein_name": name,
        "function": kept[0],
        "subcellular_location": kept[1],
        "similarity": kept[2],
    }


def test_split_quirks_match_protclip() -> None:
    # The first occurrence of a marker anywhere counts, even inside the name (ProtCLIP uses str.find).
    text = "PROTEIN NAME: FUNCTION-less protein. SIMILARITY: Belongs to X."
    assert split_text(text) == (
        "PROTEIN NAME: ",
        "FUNCTION-less protein. ",
        "SUBCELLULAR LOCATION:",
        "SIMILARITY: Belongs to X.",
    )
    # Markers are case-sensitive: "(By similarity)" is not a marker.
    text = "PROTEIN NAME: P. FUNCTION: Binds (By similarity)."
    assert split_text(text) == (
        "PROTEIN NAME: P. ",
        "FUNCTION: Binds (By similarity).",
        "SUBCELLULAR LOCATION:",
        "SIMILARITY:",
    )
    # Out-of-order markers: a slice runs from its marker to the next *found* marker in marker order, so
    # FUNCTION (at 18) gets text[18:3] == "" and SIMILARITY (at 3) runs to the end.
    text = "A. SIMILARITY: s. FUNCTION: f."
    assert split_text(text) == (
        "A. SIMILARITY: s. ",
        "",
        "SUBCELLULAR LOCATION:",
        "SIMILARITY: s. FUNCTION: f.",
    )
    # No marker at all: everything is the name part; a text without the name prefix has no protein name.
    assert split_text("free text") == ("free text", "FUNCTION:", "SUBCELLULAR LOCATION:", "SIMILARITY:")
    assert parse_properties("free text")["protein_name"] is None
