"""Pairs from protdata's ProtAnno records: clear errors naming file and line / record, documented skips."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from protalign.pairs import ProteinTextPairs
from protdata.errors import RecordError
from protdata.protanno import ProtAnnoRecord, SkipReport
from protdata.protanno.jsonl import iter_json_lines, json_object

GOOD = {"seq": "MKVLAAGIVGLLLAQ", "text": "PROTEIN NAME: Test protein. FUNCTION: Binds things."}
BAD = [
    ({"seq": "MKVLA"}, "missing key 'text'"),
    ({"seq": "MKVLA", "text": "   "}, "text is empty"),
    ({"seq": "MK1LA", "text": "PROTEIN NAME: x."}, "non-protein letter '1'"),
    ({"seq": "ACGT" * 10, "text": "PROTEIN NAME: x."}, "non-protein sequence"),
    ({"seq": "X" * 12 + "MKV", "text": "PROTEIN NAME: x."}, "unknown residues"),
    ("MKVLA", "not a record"),
]


def test_swissprot_records_become_pairs(swissprot_records: list[ProtAnnoRecord]) -> None:
    pairs = ProteinTextPairs.from_records(swissprot_records, source="uniprot_swissprot_sample.dat")
    assert len(pairs) == 100 and pairs.report.count == 0 and pairs.report.total == 100
    for pair, record in zip(pairs, swissprot_records):
        assert pair.text == record.text and pair.protein.id == record.id
        assert len(pair.protein) == len(record.seq)
        assert all(a == b or b in "BZJUO" for a, b in zip(pair.protein.sequence, record.seq))


@pytest.mark.parametrize(("record", "message"), BAD)
def test_bad_record_raises_with_number(record: object, message: str) -> None:
    with pytest.raises(RecordError, match=rf"my\.jsonl: record 2: .*{message}"):
        ProteinTextPairs.from_records([GOOD, record], source="my.jsonl")


def test_bad_records_are_skipped_and_counted() -> None:
    records = [GOOD] + [bad for bad, _ in BAD] + [GOOD]
    pairs = ProteinTextPairs.from_records(records, on_error="skip", source="mixed")
    assert len(pairs) == 2 and pairs.report.total == 8 and pairs.report.count == 6
    kinds = pairs.report.reasons()
    assert (
        kinds["non-protein sequence"] == 1 and kinds["unknown residues"] == 1 and kinds["invalid record"] == 3
    )
    assert "skipped 6 of 8" in pairs.report.summary()


def test_jsonl_skip_and_raise(tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    lines = [
        json.dumps(GOOD),
        "{not json",
        json.dumps({"seq": "MKV"}),
        "",
        json.dumps({**GOOD, "seq": "ACGU" * 6}),
    ]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(RecordError, match=r"pairs\.jsonl, line 2: invalid JSON"):
        ProteinTextPairs.from_jsonl(path)
    pairs = ProteinTextPairs.from_jsonl(path, on_error="skip")
    assert len(pairs) == 1 and pairs.report.total == 4 and pairs.report.count == 3
    assert [line for line, _ in pairs.report.skipped] == [
        2,
        3,
        5,
    ]  # line numbers of the file (line 4 is blank)
    assert pairs.report.reasons()["non-protein sequence"] == 1
    path.write_text("\n".join([lines[0], lines[4]]) + "\n")
    with pytest.raises(
        RecordError, match=r"pairs\.jsonl, line 2: non-protein sequence: line2 has only nucleotide"
    ):
        ProteinTextPairs.from_jsonl(path)


def test_one_json_lines_reader_counts_skips_and_leaves_out(tmp_path: Path) -> None:
    """iter_json_lines: gzip read, blank lines not records, ``None`` from ``parse`` left out without counting as
    skipped, a rejected line raised as ``<file>, line <n>: <reason>`` or skipped and counted."""
    import gzip

    path = tmp_path / "rows.jsonl.gz"
    with gzip.open(path, "wt") as handle:
        handle.write('{"n": 1}\n\n{"n": 2}\n{"m": 3}\n[4]\n{"n": 5}\n')

    def parse(line: str, lineno: int) -> int | None:
        obj = json_object(line)
        if "n" not in obj:
            raise ValueError("missing key 'n'")
        return None if obj["n"] == 2 else obj["n"] * 10 + lineno

    report = SkipReport()
    rows = list(iter_json_lines(path, parse, on_error="skip", report=report))
    assert rows == [(1, 11), (6, 56)]
    assert report.total == 5 and report.source == str(path)
    assert report.skipped == [(4, "missing key 'n'"), (5, "not a JSON object: list")]
    with pytest.raises(RecordError, match=r"rows\.jsonl\.gz, line 4: missing key 'n'$"):
        list(iter_json_lines(path, parse))
    with pytest.raises(ValueError, match="on_error must be"):
        list(iter_json_lines(path, parse, on_error="ignore"))  # type: ignore[arg-type]
