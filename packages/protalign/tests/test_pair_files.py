"""protalign.pair_files: every pair-file kind read into one PairTable, against the files parsed here with ``json``
(and protdata's UniProt parser); bad lines are one RecordError naming the file, the line and the key, or are
skipped and counted per source."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from protalign.config import PairDataConfig
from protalign.errors import PairFileError
from protalign.pair_files import StringTable, detect_format, load_pairs
from protdata.errors import RecordError
from protdata.protanno import read_uniprot
from protdata.testing import shared_data

AMINO = set("ACDEFGHIKLMNPQRSTVWY")
GOOD = {"seq": "MKTAYIAKQRQISFVKSHFSRQ", "text": "PROTEIN NAME: Test protein."}


def _load(*sources: object, **kwargs: object):
    return load_pairs(PairDataConfig(sources=list(sources), **kwargs))


def test_ec_text_pairs_on_the_real_file() -> None:
    """ProtST EC–text pairs: the one mostly-unknown chain skipped and reported with its line, or raised."""
    path = shared_data("function", "ec_text_pairs_deepfri_test.jsonl")
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    bad = [
        i
        for i, o in enumerate(lines, 1)
        if sum(c not in AMINO for c in o["sequence"]) > len(o["sequence"]) / 2
    ]
    assert bad == [1257]  # 3J9B-B: mostly unknown residues
    pairs = _load(str(path), on_error="skip")
    assert len(pairs) == len(lines) - 1 and pairs.sources[0].format == "ec_text"
    assert (pairs.sources[0].records, pairs.sources[0].kept, pairs.sources[0].skipped) == (
        len(lines),
        len(pairs),
        1,
    )
    assert pairs.texts[0] == lines[0]["text"] and pairs.ids[0] == lines[0]["chain"]
    assert list(pairs.ids) == [o["chain"] for i, o in enumerate(lines, 1) if i != 1257]
    assert "line 1257" in pairs.warnings()[0] and "skipped 1 bad records" in pairs.summary()
    with pytest.raises(RecordError, match=r"ec_text_pairs_deepfri_test\.jsonl, line 1257: unknown residues"):
        _load(str(path))


def test_json_lines_with_named_keys_on_the_real_file() -> None:
    path = shared_data("function", "swissprot_records.jsonl")
    objs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    source = {"path": str(path), "format": "jsonl", "text_key": ["function"], "id_key": "accession"}
    pairs = _load(source, on_error="skip")
    with_text = [o for o in objs if o["function"].strip()]
    assert len(pairs) == len(with_text) > 0
    assert list(pairs.texts) == [o["function"].strip() for o in with_text]
    assert list(pairs.ids) == [o["accession"] for o in with_text]
    assert pairs.sources[0].skipped == len(objs) - len(with_text)


def test_uniprot_with_and_without_the_sampler() -> None:
    """Every Swiss-Prot entry is a pair; ProtCLIP's sampler (seed 0) keeps 47 of the 100."""
    path = shared_data("function", "uniprot_swissprot_sample.dat")
    entries = read_uniprot(path)
    pairs = _load(str(path))
    assert pairs.sources[0].format == "uniprot" and len(pairs) == len(entries) == 100
    assert list(pairs.ids) == [e.accession for e in entries]
    assert list(pairs.texts) == [e.to_record().text for e in entries]
    assert pairs.lengths.tolist() == [len(pairs.sequences[i]) for i in range(len(pairs))]
    sampled = _load(str(path), sampler={})
    assert len(sampled) == 47 and sampled.sources[0].sampled == 47 and sampled.sources[0].records == 100
    assert set(sampled.ids) <= set(pairs.ids) and "sampler kept 47 of 100" in sampled.summary()


def test_bad_keyed_lines_name_file_line_and_key(tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl.gz"
    rows = [
        {"sequence": "MKTAYIAKQRQ", "desc": "A kinase.", "fn": "Binds ATP.", "acc": "P1"},
        {"sequence": "MKTAYIAKQRQ", "fn": "x"},
        {"sequence": "MKTAYIAKQRQ", "desc": 3, "fn": "x"},
        "[1, 2]",
        {"sequence": "MKTAYIAKQRQ", "desc": "  ", "fn": ""},
    ]
    text = "\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n\n"
    with gzip.open(path, "wt") as handle:
        handle.write(text)
    source = {"path": str(path), "format": "jsonl", "text_key": ["desc", "fn"], "id_key": "acc"}
    with pytest.raises(RecordError, match=r"pairs\.jsonl\.gz, line 2: missing key: desc"):
        _load(source)
    pairs = _load(source, on_error="skip")
    assert list(pairs.texts) == ["A kinase. Binds ATP."] and list(pairs.ids) == ["P1"]
    skips = pairs.sources[0].skips
    assert skips.total == 5 and [line for line, _ in skips.skipped] == [2, 3, 4, 5]
    assert "desc: must hold a string, got int" in skips.skipped[1][1]
    assert "not a JSON object" in skips.skipped[2][1] and "text" in skips.skipped[3][1]


def test_sampler_needs_an_existence_level(tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    path.write_text(json.dumps(GOOD) + "\n")
    with pytest.raises(RecordError, match=r"pairs\.jsonl, line 1: no protein-existence level"):
        _load(str(path), sampler={})


def test_detected_formats_and_undetectable_files(tmp_path: Path) -> None:
    assert detect_format(shared_data("function", "uniprot_swissprot_sample.dat")) == "uniprot"
    assert detect_format(shared_data("function", "ec_text_pairs_deepfri_test.jsonl")) == "ec_text"
    (tmp_path / "p.jsonl").write_text("\n" + json.dumps(GOOD) + "\n")
    assert detect_format(tmp_path / "p.jsonl") == "protanno"
    (tmp_path / "other.jsonl").write_text(json.dumps({"sequence": "MK", "description": "x"}) + "\n")
    with pytest.raises(
        RecordError, match=r"other\.jsonl, line 1: cannot tell the pair format .*'description'"
    ):
        detect_format(tmp_path / "other.jsonl")
    (tmp_path / "table.tsv").write_text("id\tseq\n")
    with pytest.raises(RecordError, match=r"table\.tsv, line 1: not a pair file"):
        detect_format(tmp_path / "table.tsv")


def test_empty_missing_and_useless_sources(tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(RecordError, match="empty pair file"):
        _load(str(tmp_path / "empty.jsonl"))
    (tmp_path / "all_bad.jsonl").write_text('{"seq": "ACGTACGTACGTACGTACGTACGT", "text": "DNA"}\n')
    with pytest.raises(PairFileError, match=r"^sources: no protein–text pairs \(1 records read, no usable"):
        _load(str(tmp_path / "all_bad.jsonl"), on_error="skip")
    config = PairDataConfig(sources=[str(tmp_path / "all_bad.jsonl"), str(tmp_path / "missing.jsonl")])
    with pytest.raises(PairFileError, match=r"^data\.sources\[1\]: .*missing\.jsonl: no such pair file"):
        load_pairs(config.model_copy(update={"on_error": "skip"}), key="data.sources")
    with pytest.raises(PairFileError, match=r"^sources\[0\]: .* is a directory"):
        _load(str(tmp_path))


def test_paths_are_resolved_by_the_caller(tmp_path: Path) -> None:
    (tmp_path / "p.jsonl").write_text(json.dumps(GOOD) + "\n")
    seen: list[tuple[str, str]] = []

    def resolve(path: str, key: str) -> Path:
        seen.append((path, key))
        return tmp_path / path.removeprefix("${ROOT}/")

    pairs = load_pairs(PairDataConfig(sources=["${ROOT}/p.jsonl"]), key="data.sources", resolve=resolve)
    assert seen == [("${ROOT}/p.jsonl", "data.sources[0]")] and list(pairs.ids) == ["line1"]


def test_string_table_round_trips_unicode() -> None:
    strings = ["", "α-helix", "PROTEIN NAME: Kinase.", "x" * 1000]
    table = StringTable(strings)
    assert len(table) == 4 and list(table) == strings and table[1] == "α-helix"
    assert len(StringTable([])) == 0
