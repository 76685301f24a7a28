"""ProtAnnoRecord: validation, properties parsed from the text, occupancy / existence (ProtAnno)."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from protdata.protanno import EXISTENCE_LEVELS, ProtAnnoRecord, existence_level, read_uniprot
from protdata.testing import shared_data


@pytest.fixture(scope="module")
def records() -> list[ProtAnnoRecord]:
    return [e.to_record() for e in read_uniprot(shared_data("function", "uniprot_swissprot_sample.dat"))]


def test_properties_are_parsed_from_a_bare_protclip_record(records: list[ProtAnnoRecord]) -> None:
    for record in records:
        bare = ProtAnnoRecord(seq=record.seq, text=record.text)  # what ProtCLIP's JSON holds
        assert bare.protein_name == record.protein_name
        assert (bare.function, bare.subcellular_location, bare.similarity) == (
            record.function,
            record.subcellular_location,
            record.similarity,
        )
        assert bare.occupancy == record.occupancy
        assert bare.existence is None


def test_occupancy_counts_the_columns(records: list[ProtAnnoRecord]) -> None:
    counts = set()
    for record in records:
        expected = 1 + sum(
            bool(re.search(rf" {m}: ", record.text))
            for m in ("FUNCTION", "SUBCELLULAR LOCATION", "SIMILARITY")
        )
        assert record.occupancy == expected
        counts.add(expected)
    assert counts == {2, 3, 4}  # the sample covers several cells


def test_existence_levels() -> None:
    assert EXISTENCE_LEVELS == {
        "Evidence at protein level": 1,
        "Evidence at transcript level": 2,
        "Inferred from homology": 3,
        "Predicted": 4,
        "Uncertain": 5,
    }
    assert existence_level("1: Evidence at protein level;") == 1
    assert existence_level("Inferred from homology") == 3
    assert existence_level(5) == 5
    for bad in ("6: Unknown;", "Maybe", 0, "2: Evidence at protein level"):
        with pytest.raises(ValueError):
            existence_level(bad)
    assert ProtAnnoRecord(seq="MK", text="PROTEIN NAME: x.", existence="Predicted").existence == 4
    with pytest.raises(ValidationError, match="less than or equal to 5"):
        ProtAnnoRecord(seq="MK", text="PROTEIN NAME: x.", existence=6)


@pytest.mark.parametrize(
    ("fields", "pattern"),
    [
        ({"seq": "MKV1L", "text": "t"}, r"seq has a non-protein letter '1' at position 4"),
        ({"seq": "MKv", "text": "t"}, r"non-protein letter 'v' at position 3"),
        ({"seq": "MK*", "text": "t"}, r"non-protein letter '\*'"),
        ({"seq": "", "text": "t"}, r"seq is empty"),
        ({"seq": "MK", "text": "  "}, r"text is empty"),
        ({"seq": "MK"}, r"text\n  Field required"),
        ({"seq": "MK", "text": "t", "label": 1}, r"label\n  Extra inputs are not permitted"),
        ({"seq": "MK", "text": "t", "go_terms": ["GO:12"]}, r"'GO:12' is not a GO identifier"),
    ],
)
def test_invalid_records_are_clear_errors(fields: dict, pattern: str) -> None:
    with pytest.raises(ValidationError, match=pattern):
        ProtAnnoRecord(**fields)


def test_properties_must_agree_with_text(records: list[ProtAnnoRecord]) -> None:
    record = records[0]
    with pytest.raises(ValidationError, match="text does not match the properties"):
        ProtAnnoRecord(seq=record.seq, text=record.text, protein_name="Another name")
    with pytest.raises(ValidationError, match="function must start with 'FUNCTION:'"):
        ProtAnnoRecord.from_properties(record.seq, "P", function="Binds DNA.")
    rebuilt = ProtAnnoRecord.from_properties(
        record.seq, record.protein_name, record.function, record.subcellular_location, record.similarity
    )
    assert rebuilt.text == record.text


def test_to_protein_maps_rare_letters_to_x(records: list[ProtAnnoRecord]) -> None:
    with_z = next(r for r in records if "Z" in r.seq)  # FLAV_NOSSM has a Z
    protein = with_z.to_protein()
    assert protein.id == with_z.id and len(protein) == len(with_z.seq)
    assert protein.sequence == with_z.seq.replace("Z", "X")
    assert ProtAnnoRecord(seq="MUOBJ", text="t").to_protein("p").sequence == "MXXXX"
