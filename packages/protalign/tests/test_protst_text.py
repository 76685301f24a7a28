"""ProtST label tables and EC–text pairs from the shared data: consistent with each other (the pairs file was
built by joining the DeepFRI chains with ProtST's reaction descriptions), bad tables named by file and line."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from protalign.errors import LabelTableError
from protalign.protst_text import read_ec_text_pairs, read_label_table, read_prompts
from protdata.errors import RecordError
from protdata.protanno import SkipReport, split_text
from protdata.testing import shared_data

TABLES = {
    "subloc_name.tsv": 10, "subloc_template.tsv": 10, "subloc_language.tsv": 10,
    "reaction_name.tsv": 384, "reaction_template.tsv": 384, "reaction_language.tsv": 384,
    "reaction_description.tsv": 384,
}  # fmt: skip


@pytest.mark.parametrize(("name", "size"), TABLES.items())
def test_tables_read_as_csv_reads_them(name: str, size: int) -> None:
    path = shared_data("function", "protst_text", name)
    table = read_label_table(path)
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle, delimiter="\t"))[1:]
    assert len(table) == size
    by_id = {int(r[0]): r for r in rows}
    name = table.fields.index("name")
    assert table.texts(["name"]) == [by_id[i][name] for i in range(size)]
    if "description" in table.fields:
        both = table.texts(["description", "name"])  # file column order, not argument order (ProtST)
        assert both == [
            f"{by_id[i][name]} {by_id[i][table.fields.index('description')]}" for i in range(size)
        ]


def test_subcellular_templates_are_protclip_location_subtexts() -> None:
    table = read_label_table(shared_data("function", "protst_text", "subloc_template.tsv"))
    for text in table.texts(["name"]):
        parts = split_text("PROTEIN NAME: x. " + text)
        assert parts[2] == text and parts[1] == "FUNCTION:"


def test_ec_pairs_join_the_reaction_descriptions() -> None:
    description = read_label_table(shared_data("function", "protst_text", "reaction_description.tsv"))
    ec_to_id = {ec: i for i, ec in enumerate(description.column("EC_number"))}
    texts = description.texts(["name", "comment"])
    report = SkipReport()
    pairs = read_ec_text_pairs(
        shared_data("function", "ec_text_pairs_deepfri_test.jsonl"), on_error="skip", report=report
    )
    assert report.total == 1654 and report.count == 1 and len(pairs) == 1653
    assert (
        report.skipped[0][0] == 1257
        and "3J9B-B" in report.skipped[0][1]
        and "unknown (X)" in report.skipped[0][1]
    )
    for pair in pairs:
        assert pair.text == texts[ec_to_id[pair.text_ec]].strip()
        assert pair.text_ec in pair.ec and len(pair.protein) > 0
    with pytest.raises(RecordError, match=r"ec_text_pairs_deepfri_test\.jsonl, line 1257: unknown residues"):
        read_ec_text_pairs(shared_data("function", "ec_text_pairs_deepfri_test.jsonl"))


def test_prompts_file() -> None:
    prompts = read_prompts(shared_data("function", "protst_text", "t2p_prompt_go_mf.txt"))
    assert prompts and all(p.startswith("FUNCTION: ") for p in prompts)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty file"),
        ("name\tdescription\nx\ty\n", "line 1: no 'id' column"),
        ("id\tname\n0\ta\n1\n", "line 3: 1 fields, the header has 2"),
        ("id\tname\n0\ta\n0\tb\n", "line 3: id 0 appears twice"),
        ("id\tname\nzero\ta\n", "line 2: id 'zero' is not an integer"),
        ("id\tname\n0\ta\n2\tb\n", r"ids are not 0..1 \(missing \[1\]\)"),
    ],
)
def test_bad_tables(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "labels.tsv"
    path.write_text(content)
    with pytest.raises(LabelTableError, match=message):
        read_label_table(path)


def test_bad_fields_and_files(tmp_path: Path) -> None:
    path = tmp_path / "labels.tsv"
    path.write_text("id\tname\n1\tb\n0\ta\n")
    table = read_label_table(path)
    assert table.texts() == ["a", "b"]
    with pytest.raises(LabelTableError, match="no column \\['comment'\\]"):
        table.texts(["comment"])
    with pytest.raises(LabelTableError, match="cannot read"):
        read_label_table(tmp_path / "missing.tsv")
    (tmp_path / "empty.txt").write_text("\n \n")
    with pytest.raises(LabelTableError, match="no prompts"):
        read_prompts(tmp_path / "empty.txt")


def test_bad_pair_lines(tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    good = '{"chain": "1ABC-A", "sequence": "MKVL", "ec": ["1.1.1.1"], "text_ec": "1.1.1.1", "text": "x"}'
    lines = [good, "[1]", '{"chain": "a"}', good.replace('"text": "x"', '"text": ""'),
             good.replace('"text_ec": "1.1.1.1"', '"text_ec": "2.2.2.2"'), good.replace("MKVL", "MK*L")]  # fmt: skip
    path.write_text("\n".join(lines))
    report = SkipReport()
    pairs = read_ec_text_pairs(path, on_error="skip", report=report)
    assert len(pairs) == 1 and report.count == 5 and report.source == str(path)
    assert [line for line, _ in report.skipped] == [2, 3, 4, 5, 6]
    assert "missing key: sequence, ec, text_ec, text" in report.skipped[1][1]
    assert "is not among the chain's EC numbers" in report.skipped[3][1]
