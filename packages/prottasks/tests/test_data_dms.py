"""Deep-mutational-scan tables: the real BLAT_ECOLX scan of ../shared/data/dms (CSV with a BOM, fair-esm) read
as-is and as TSV; malformed rows are one-line errors naming the file and line."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
from pydantic import ValidationError

from protdata.testing import shared_data
from prottasks import TableError
from prottasks.data.dms import DMSTableConfig, read_dms_table, read_wild_type

BLAT = shared_data("dms", "BLAT_ECOLX_Ranganathan2015.csv")
BLAT_WT = shared_data("dms", "BLAT_ECOLX_wildtype.txt")


def test_blat_table_hand_checked() -> None:
    table = read_dms_table(BLAT)
    assert table.header[:3] == ["", "mutant", "0"] and len(table.header) == 29  # the BOM is not in the header
    assert (len(table.rows), table.total_rows) == (4996, 4996)
    assert table.lines[:2] == [2, 3] and table.lines[-1] == 4997
    mutants = table.values("mutant")
    assert (mutants[0], mutants[1], mutants[-1]) == ("H24C", "H24E", "W286Y")
    fitness = table.numbers("2500")
    assert fitness[0] == -0.418259925 and fitness[1] == -0.279024169
    # empty cells are NaN: the count agrees with the csv module
    with open(BLAT, newline="", encoding="utf-8-sig") as handle:
        empty = sum(1 for row in csv.DictReader(handle) if not row["cefotaxime"].strip())
    assert empty > 0 and sum(math.isnan(v) for v in table.numbers("cefotaxime")) == empty
    head = read_dms_table(BLAT, limit=5)
    assert (len(head.rows), head.total_rows) == (5, 4996)


def test_tsv_reads_the_same(tmp_path: Path) -> None:
    with open(BLAT, newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))[:40]
    tsv = tmp_path / "blat.tsv"
    with open(tsv, "w", newline="") as handle:
        csv.writer(handle, delimiter="\t", lineterminator="\n").writerows(rows)
    assert read_dms_table(tsv).rows == read_dms_table(BLAT, limit=39).rows


def test_bad_rows_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "scan.csv"
    path.write_text("mutant,score\nH24C,0.5\n\nH24E\nH24D,high\n")
    table = read_dms_table(path)
    assert table.lines == [2, 4, 5]  # the blank line is skipped, not renumbered
    with pytest.raises(TableError, match=rf"^{path}, line 4: 1 fields, no value for column 'score'$"):
        table.numbers("score")
    path.write_text("mutant,score\nH24C,0.5\nH24D,high\n")
    with pytest.raises(TableError, match=rf"^{path}, line 3: column 'score': 'high' is not a number$"):
        read_dms_table(path).numbers("score")
    with pytest.raises(TableError, match=r"no column 'fitness' \(columns: 'mutant', 'score'\)"):
        read_dms_table(path).column("fitness")
    path.write_text('mutant,score\nH24C,0.5\n"H24D,0.1\n')
    with pytest.raises(TableError, match=rf"^{path}, line \d+: "):  # an unterminated quote
        read_dms_table(path)
    for text, reason in (("", "empty file"), ("mutant,score\n\n", "no data rows")):
        path.write_text(text)
        with pytest.raises(TableError, match=reason):
            read_dms_table(path)
    with pytest.raises(TableError, match=r"nope\.csv: no such file"):
        read_dms_table(tmp_path / "nope.csv")


def test_to_csv_appends_columns(tmp_path: Path) -> None:
    table = read_dms_table(BLAT, limit=3)
    text = table.to_csv({"score": ["1.5", "", "-2.0"]})
    rows = list(csv.reader(text.splitlines()))
    assert rows[0] == [*table.header, "score"] and rows[1] == [*table.rows[0], "1.5"] and rows[2][-1] == ""
    with pytest.raises(TableError, match="column 'mutant' already exists"):
        table.to_csv({"mutant": ["", "", ""]})


def test_wild_type_files(tmp_path: Path) -> None:
    sequence = read_wild_type(BLAT_WT)  # a '#' comment line, then the sequence
    assert len(sequence) == 263 and sequence.startswith("HPETLVKV") and sequence.endswith("IKHW")
    fasta = tmp_path / "wt.fasta"
    fasta.write_text(f">tem1\n{sequence[:100]}\n{sequence[100:]}\n")
    assert read_wild_type(fasta) == sequence == read_wild_type(sequence)
    fasta.write_text(">a\nMKV\n>b\nMKL\n")
    with pytest.raises(TableError, match=r"expected one FASTA record .* found 2"):
        read_wild_type(fasta)
    text = tmp_path / "wt.txt"
    text.write_text("MKV-LL\n")
    with pytest.raises(TableError, match=r"not a protein sequence \(character '-'"):
        read_wild_type(text)
    with pytest.raises(TableError, match=r"missing\.txt: no such file"):
        read_wild_type(str(tmp_path / "missing.txt"))


def test_table_config() -> None:
    config = DMSTableConfig.model_validate({"csv": "x.csv", "label_column": 2500})
    assert config.label_column == "2500" and config.variant_column == ("mutant_column", "mutant")
    full = DMSTableConfig(csv="x.csv", sequence_column="x")
    assert full.variant_column == ("sequence_column", "x")
    with pytest.raises(ValidationError, match="give mutant_column"):
        DMSTableConfig(csv="x.csv", mutant_column=None)
    with pytest.raises(ValidationError, match="ofset"):
        DMSTableConfig.model_validate({"csv": "x.csv", "ofset": 3})
