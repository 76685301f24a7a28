"""UniProt flat-file parsing, cross-checked against independent renderings of the same Swiss-Prot entries.

``uniprot_swissprot_sample.dat`` (100 entries) overlaps ``swissprot_records.jsonl`` (153 entries rendered
as JSON by another tool) and ``cafa_like_{sequences.fasta,terms.tsv}`` (CAFA-5 style files of the same
entries); the ``SQ`` lines' own CRC64 checksums are a third truth for the sequences.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

import pytest
from biotite.sequence.io.fasta import FastaFile

from protdata.errors import ProtdataError, RecordError
from protdata.protanno import SkipReport, UniProtEntry, crc64, read_uniprot
from protdata.testing import shared_data


@pytest.fixture(scope="module")
def dat() -> Path:
    return shared_data("function", "uniprot_swissprot_sample.dat")


@pytest.fixture(scope="module")
def entries(dat: Path) -> list[UniProtEntry]:
    return read_uniprot(dat)


@pytest.fixture(scope="module")
def raw_entries(dat: Path) -> list[str]:
    """The file's entries as raw text, split at ``//`` by plain string operations."""
    return [block for block in dat.read_text().split("//\n") if block.strip()]


def test_every_entry_is_read_in_order(entries: list[UniProtEntry], raw_entries: list[str]) -> None:
    assert len(entries) == len(raw_entries) == 100
    for entry, raw in zip(entries, raw_entries):
        assert entry.entry_name == re.match(r"ID   (\S+)", raw).group(1)
        accessions = re.findall(r"^AC   (.*)$", raw, re.M)
        assert entry.accessions == tuple(a for line in accessions for a in line.replace(";", " ").split())
        assert entry.existence == int(re.search(r"^PE   (\d):", raw, re.M).group(1))
        assert entry.reviewed
        for topic in ("FUNCTION", "SUBCELLULAR LOCATION", "SIMILARITY"):
            assert len(entry.comments.get(topic, ())) == raw.count(f"CC   -!- {topic}:")


def test_sequences_match_crc64_json_and_fasta(entries: list[UniProtEntry], raw_entries: list[str]) -> None:
    records = _json_records()
    fasta = dict(FastaFile.read(str(shared_data("function", "cafa_like_sequences.fasta"))).items())
    in_fasta = 0
    for entry, raw in zip(entries, raw_entries):
        checksum = re.search(r"^SQ   .* ([0-9A-F]{16}) CRC64;", raw, re.M).group(1)
        assert entry.crc64 == checksum
        assert records[entry.accession]["sequence"] == entry.sequence
        assert crc64(records[entry.accession]["sequence"]) == checksum  # the checksum of the other rendering
        if entry.accession in fasta:
            in_fasta += 1
            assert fasta[entry.accession] == entry.sequence
    assert in_fasta >= 90


def test_fields_match_the_json_rendering(entries: list[UniProtEntry]) -> None:
    records = _json_records()
    hyphen = re.compile(r"(?<=[A-Za-z0-9])- ")  # the JSON joins a word broken at its hyphen with a space
    for entry in entries:
        record = records[entry.accession]
        assert entry.entry_name == record["entry_name"]
        assert entry.organism == record["organism"]
        assert entry.description == record["description"]
        assert entry.recommended_name == re.search(r"RecName: Full=([^;]*);", record["description"]).group(1)
        assert [g.id for g in entry.go] == record["go"]
        assert [g.aspect for g in entry.go] == record["go_aspects"]
        function = " ".join(entry.comments.get("FUNCTION", ()))
        assert hyphen.sub("-", function) == hyphen.sub("-", record["function"])


def test_go_terms_match_the_cafa_terms_file(entries: list[UniProtEntry]) -> None:
    terms: dict[str, set[tuple[str, str]]] = defaultdict(set)
    lines = shared_data("function", "cafa_like_terms.tsv").read_text().splitlines()
    assert lines[0].split("\t") == ["EntryID", "term", "aspect"]
    for line in lines[1:]:
        accession, term, aspect = line.split("\t")
        terms[accession].add((term, aspect))
    aspect_name = {"C": "CCO", "F": "MFO", "P": "BPO"}
    compared = 0
    for entry in entries:
        if entry.accession in terms:
            compared += 1
            assert {(g.id, aspect_name[g.aspect]) for g in entry.go} == terms[entry.accession]
    assert compared >= 90


def test_hyphen_broken_words_are_rejoined(entries: list[UniProtEntry]) -> None:
    by_name = {e.entry_name: e for e in entries}
    function = by_name["5HT1D_TAKRU"].comments["FUNCTION"][0]
    assert function.startswith(
        "This is one of the several different receptors for 5-hydroxytryptamine (serotonin)"
    )


def test_records_follow_protclip(entries: list[UniProtEntry], raw_entries: list[str]) -> None:
    for entry, raw in zip(entries, raw_entries):
        record = entry.to_record()
        present = [t for t in ("FUNCTION", "SUBCELLULAR LOCATION", "SIMILARITY") if f"-!- {t}:" in raw]
        assert record.occupancy == 1 + len(present)
        assert record.existence == entry.existence
        assert record.text.startswith("PROTEIN NAME: " + entry.protein_names + ".")
        for topic in present:
            assert f" {topic}: " in record.text
        assert record.seq == entry.sequence and record.id == entry.accession


# -------------------------------------------------------------------------------- modern format (ECO tags)
MODERN = """\
ID   TEST_MODERN             Reviewed;          35 AA.
AC   Q00001; Q00002;
AC   Q00003;
DT   01-JUN-1994, integrated into UniProtKB/Swiss-Prot.
DE   RecName: Full=Bifunctional test protein {ECO:0000303|PubMed:123};
DE            Short=BTP;
DE            EC=3.2.2.6 {ECO:0000269|PubMed:123};
DE   AltName: Full=Second name of a test protein whose name is long enough
DE            to wrap onto a second line;
DE   AltName: CD_antigen=CD99;
DE   Includes:
DE     RecName: Full=Domain A;
DE              EC=1.1.1.1;
DE   Includes:
DE     RecName: Full=Domain B;
DE   Contains:
DE     RecName: Full=Chain one;
DE     AltName: Full=Chain 1;
DE   Flags: Precursor; Fragment;
OS   Nostoc sp. (strain
OS   MAC).
OX   NCBI_TaxID=35822 {ECO:0000312|EMBL:ABC12345.1};
CC   -!- FUNCTION: NAD(+) hydrolase that catalyzes cleavage of NAD(+) into
CC       ADP-D-ribose (PubMed:29395922). {ECO:0000269|PubMed:29395922,
CC       ECO:0000269|PubMed:36048923}.
CC   -!- FUNCTION: [Chain one]: Low-potential electron donor to a number of
CC       redox enzymes. {ECO:0000250|UniProtKB:P17763}.
CC   -!- SUBCELLULAR LOCATION: Secreted, cell wall
CC       {ECO:0000250|UniProtKB:P53753}. Note=Attached at the N-
CC       terminus.
CC   -!- SIMILARITY: Belongs to the glycosyl hydrolase 81 family.
CC       {ECO:0000255|PROSITE-ProRule:PRU01352, ECO:0000305}.
CC   ---------------------------------------------------------------------------
CC   Copyrighted by the UniProt Consortium, see https://www.uniprot.org/terms
CC   Distributed under the Creative Commons Attribution (CC BY 4.0) License
CC   ---------------------------------------------------------------------------
DR   GO; GO:0005576; C:extracellular region; IEA:UniProtKB-SubCell.
DR   GO; GO:0003953; F:NAD+ nucleosidase activity; IDA:UniProtKB.
PE   4: Predicted;
KW   Hydrolase {ECO:0000269|PubMed:123}; NAD; Reference proteome.
"""


def _real_sq_block(dat: Path) -> str:
    """The SQ block of the real 35-residue entry FLAV_NOSSM (its checksum is Swiss-Prot's)."""
    text = dat.read_text()
    start = text.index("ID   FLAV_NOSSM")
    block = text[start : text.index("//\n", start)]
    return block[block.index("SQ   ") :]


def test_modern_entry_with_evidence_tags(dat: Path, tmp_path: Path) -> None:
    path = tmp_path / "modern.dat"
    path.write_text(MODERN + _real_sq_block(dat) + "//\n")
    (entry,) = read_uniprot(path)
    assert entry.accessions == ("Q00001", "Q00002", "Q00003")
    assert entry.recommended_name == "Bifunctional test protein"
    assert entry.protein_names == (
        "Bifunctional test protein (BTP) (EC 3.2.2.6) (Second name of a test protein whose name is long enough "
        "to wrap onto a second line) (CD antigen CD99) [Includes: Domain A (EC 1.1.1.1); Domain B] "
        "[Cleaved into: Chain one (Chain 1)]"
    )
    assert entry.flags == ("Precursor", "Fragment")
    assert entry.organism == "Nostoc sp. (strain MAC)" and entry.taxon_id == 35822
    assert entry.existence == 4
    assert entry.keywords == ("Hydrolase", "NAD", "Reference proteome")
    function = (
        "FUNCTION: NAD(+) hydrolase that catalyzes cleavage of NAD(+) into ADP-D-ribose (PubMed:29395922). "
        "{ECO:0000269|PubMed:29395922, ECO:0000269|PubMed:36048923}.; FUNCTION: [Chain one]: Low-potential "
        "electron donor to a number of redox enzymes. {ECO:0000250|UniProtKB:P17763}."
    )
    location = "SUBCELLULAR LOCATION: Secreted, cell wall {ECO:0000250|UniProtKB:P53753}. Note=Attached at the N-terminus."
    similarity = "SIMILARITY: Belongs to the glycosyl hydrolase 81 family. {ECO:0000255|PROSITE-ProRule:PRU01352, ECO:0000305}."
    record = entry.to_record()
    assert (record.function, record.subcellular_location, record.similarity) == (
        function,
        location,
        similarity,
    )
    assert record.text == f"PROTEIN NAME: {entry.protein_names}. {function} {location} {similarity}"
    assert record.existence == 4 and record.occupancy == 4
    assert record.go_terms == ("GO:0005576", "GO:0003953")


# ------------------------------------------------------------------------------------------- bad input
def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_truncated_file(dat: Path, tmp_path: Path) -> None:
    text = dat.read_text()
    cut = text.index("ID   5HT1D_TAKRU") + 2000
    path = _write(tmp_path, "cut.dat", text[:cut])
    with pytest.raises(
        RecordError, match=r"cut\.dat, line \d+: entry '5HT1D_TAKRU' is not terminated by '//'"
    ):
        read_uniprot(path)


def test_corrupted_sequence_fails_the_checksum(dat: Path, tmp_path: Path) -> None:
    text = dat.read_text()
    start = text.index("ID   FLAV_NOSSM")
    line = text.count("\n", 0, start) + 1
    corrupted = text.replace("SKKIGLFYGT ZTGKTESVAE", "SKKIGLFYGT ZTGKTESVAA", 1)
    path = _write(tmp_path, "bad.dat", corrupted)
    with pytest.raises(RecordError, match=rf"bad\.dat, line {line}: entry FLAV_NOSSM: CRC64 of the sequence"):
        read_uniprot(path)
    assert len(read_uniprot(path, verify_checksum=False)) == 100
    shortened = text.replace("SKKIGLFYGT ZTGKTESVAE", "SKKIGLFYGT ZTGKTESVA", 1)
    with pytest.raises(
        RecordError, match=r"FLAV_NOSSM: sequence has 34 residues, SQ line says 35, ID line says 35"
    ):
        read_uniprot(_write(tmp_path, "short.dat", shortened))


def test_skip_and_report_bad_entries(dat: Path, tmp_path: Path) -> None:
    text = dat.read_text()
    text = text.replace("SKKIGLFYGT ZTGKTESVAE", "SKKIGLFYGT ZTGKTESVAA", 1)  # checksum
    text = text.replace("PE   1: Evidence at protein level;\n", "", 1)  # the first entry loses its PE line
    path = _write(tmp_path, "two_bad.dat", text)
    report = SkipReport()
    entries = read_uniprot(path, on_error="skip", report=report)
    assert len(entries) == 98 and report.total == 100 and report.count == 2
    reasons = " | ".join(reason for _, reason in report.skipped)
    assert "entry CRU4_ARATH: no PE (protein existence) line" in reasons
    assert "entry FLAV_NOSSM: CRC64" in reasons
    assert report.skipped[0][0] == 1  # the line of the skipped entry's ID line
    assert "skipped 2 of 100" in report.summary()
    with pytest.warns(UserWarning, match="skipped 2 of 100"):
        assert len(read_uniprot(path, on_error="skip")) == 98


def test_not_uniprot_and_empty(tmp_path: Path) -> None:
    fasta = shared_data("function", "cafa_like_sequences.fasta")
    with pytest.raises(RecordError, match=r"cafa_like_sequences\.fasta, line 1: expected an 'ID' line"):
        read_uniprot(fasta)
    with pytest.raises(RecordError, match=r"empty\.dat: no UniProt entries"):
        read_uniprot(_write(tmp_path, "empty.dat", ""))
    with pytest.raises(ProtdataError, match=r"missing\.dat: cannot open"):
        read_uniprot(tmp_path / "missing.dat")


def _json_records() -> dict[str, dict]:
    path = shared_data("function", "swissprot_records.jsonl")
    return {r["accession"]: r for r in map(json.loads, path.read_text().splitlines())}
