"""ProtAnno JSON Lines: round trips, ProtCLIP's two-key format, line-numbered errors, skip-and-report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from protdata.errors import RecordError
from protdata.protanno import ProtAnnoRecord, SkipReport, read_jsonl, read_uniprot, write_jsonl
from protdata.testing import shared_data


@pytest.fixture(scope="module")
def records() -> list[ProtAnnoRecord]:
    return [e.to_record() for e in read_uniprot(shared_data("function", "uniprot_swissprot_sample.dat"))]


@pytest.mark.parametrize("name", ["records.jsonl", "records.jsonl.gz"])
def test_round_trip(records: list[ProtAnnoRecord], tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    assert write_jsonl(records, path) == len(records)
    assert read_jsonl(path) == records


def test_protclip_format_has_exactly_seq_and_text(records: list[ProtAnnoRecord], tmp_path: Path) -> None:
    path = tmp_path / "protclip.json"
    write_jsonl(records, path, protclip_only=True)
    lines = path.read_text().splitlines()
    assert len(lines) == len(records)
    for line, record in zip(lines, records):
        obj = json.loads(line)
        assert list(obj) == ["seq", "text"] and obj == {"seq": record.seq, "text": record.text}
    back = read_jsonl(path)  # properties re-parsed from the text
    assert [(r.protein_name, r.function, r.subcellular_location, r.similarity) for r in back] == [
        (r.protein_name, r.function, r.subcellular_location, r.similarity) for r in records
    ]
    assert [r.occupancy for r in back] == [r.occupancy for r in records]


def _bad_file(records: list[ProtAnnoRecord], tmp_path: Path) -> Path:
    good = [json.dumps({"seq": r.seq, "text": r.text}) for r in records[:6]]
    lines = [
        good[0],
        "",  # blank lines are not records
        good[1],
        '{"seq": "MKV", "text": "PROTEIN NAME: x."',  # line 4: truncated JSON
        good[2],
        '{"seq": "MK1V", "text": "PROTEIN NAME: x."}',  # line 6: digit in seq
        '["MKV", "text"]',  # line 7: not an object
        '{"seq": "MKV"}',  # line 8: no text
        good[3],
        '{"seq": "MKV", "text": "x", "labels": [1]}',  # line 10: unknown key
        good[4],
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_first_bad_line_raises_with_its_number(records: list[ProtAnnoRecord], tmp_path: Path) -> None:
    path = _bad_file(records, tmp_path)
    with pytest.raises(RecordError, match=r"mixed\.jsonl, line 4: invalid JSON: Expecting ',' delimiter"):
        read_jsonl(path)


def test_skip_and_report(records: list[ProtAnnoRecord], tmp_path: Path) -> None:
    path = _bad_file(records, tmp_path)
    report = SkipReport()
    kept = read_jsonl(path, on_error="skip", report=report)
    assert [r.seq for r in kept] == [r.seq for r in records[:5]]
    assert report.total == 10 and report.count == 5 and report.kept == 5
    assert [line for line, _ in report.skipped] == [4, 6, 7, 8, 10]
    reasons = [reason for _, reason in report.skipped]
    assert (
        reasons[1]
        == "seq: seq has a non-protein letter '1' at position 3 (expected upper-case amino-acid letters)"
    )
    assert reasons[2] == "not a JSON object: list"
    assert reasons[3] == "missing key 'text'"
    assert reasons[4] == "unknown key 'labels'"
    assert "skipped 5 of 10" in report.summary()
    with pytest.warns(UserWarning, match=r"mixed\.jsonl: skipped 5 of 10"):
        read_jsonl(path, on_error="skip")


def test_real_non_protanno_jsonl_is_rejected_by_line() -> None:
    path = shared_data("function", "swissprot_records.jsonl")  # Swiss-Prot entries, not seq/text pairs
    with pytest.raises(
        RecordError,
        match=r"swissprot_records\.jsonl, line 1: missing key 'seq'; missing key 'text'; .* more problems",
    ):
        read_jsonl(path)
    report = SkipReport()
    assert read_jsonl(path, on_error="skip", report=report) == []
    assert report.count == report.total == 153
