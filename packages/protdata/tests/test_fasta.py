"""FASTA reading against biotite's FASTA parser on real files, and the documented letter policy."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pytest
from biotite.sequence.io.fasta import FastaFile

from protdata.errors import ProtdataError, SequenceError
from protdata.fasta import FastaPolicy, iter_fasta, read_fasta, read_fasta_records
from protdata.testing import shared_data

REAL_FILES = [
    ("function", "cafa_like_sequences.fasta"),
    ("ec_go_benchmark", "deepfri", "nrPDB-EC_2020.04_test_sequences.fasta"),
    ("ec_go_benchmark", "deepfri", "nrPDB-GO_2019.06.18_test_sequences.fasta"),
]


_TO_X = str.maketrans("BZJUO", "XXXXX")  # the documented policy: ambiguous / rare IUPAC letters become X


def _biotite(path: Path) -> list[tuple[str, str]]:
    """(header, sequence) pairs as biotite reads them, with the documented B/Z/J/U/O -> X mapping applied."""
    return [(header, sequence.translate(_TO_X)) for header, sequence in FastaFile.read(str(path)).items()]


@pytest.fixture
def cafa() -> Path:
    return shared_data("function", "cafa_like_sequences.fasta")


@pytest.mark.parametrize("parts", REAL_FILES, ids=lambda p: p[-1])
def test_real_files_match_biotite(parts: tuple[str, ...]) -> None:
    path = shared_data(*parts)
    reference = _biotite(path)
    records = read_fasta_records(path)
    assert len(records) == len(reference) > 100
    for record, (header, sequence) in zip(records, reference):
        words = header.split(maxsplit=1)
        assert record.id == words[0]
        assert record.description == (words[1] if len(words) > 1 else "")
        assert record.sequence == sequence
    proteins = read_fasta(path)
    assert [(p.id, p.sequence, p.source) for p in proteins] == [
        (r.id, r.sequence, str(path)) for r in records
    ]
    assert all(not p.has_structure for p in proteins)


def test_real_file_ambiguous_letters_are_mapped(cafa: Path) -> None:
    raw = dict(FastaFile.read(str(cafa)).items())
    ambiguous = {k: v for k, v in raw.items() if set(v) & set("BZJUO")}
    assert ambiguous, "the CAFA-like file has B/Z letters (e.g. P35707)"
    got = {r.id: r.sequence for r in read_fasta_records(cafa)}
    for pid, sequence in ambiguous.items():
        assert got[pid] == "".join("X" if c in "BZJUO" else c for c in sequence)


def test_gzip_by_content_not_name(cafa: Path, tmp_path: Path) -> None:
    expected = [(p.id, p.sequence) for p in read_fasta(cafa)]
    packed = gzip.compress(cafa.read_bytes())
    for name in ("seqs.fasta.gz", "seqs.fasta"):  # a gzip file without the .gz suffix is still recognised
        (tmp_path / name).write_bytes(packed)
        assert [(p.id, p.sequence) for p in read_fasta(tmp_path / name)] == expected
    stream = io.BytesIO(packed)
    assert [(p.id, p.sequence) for p in read_fasta(stream)] == expected
    assert not stream.closed  # a caller's stream is left open
    with cafa.open() as text:
        assert [(p.id, p.sequence) for p in read_fasta(text)] == expected


def test_truncated_gzip_is_a_clear_error(cafa: Path, tmp_path: Path) -> None:
    path = tmp_path / "cut.fasta.gz"
    path.write_bytes(gzip.compress(cafa.read_bytes())[:5000])
    with pytest.raises(SequenceError, match=r"cut\.fasta\.gz, line \d+: cannot read \(corrupt or truncated"):
        read_fasta(path)


def test_streaming_yields_records_before_a_later_error(cafa: Path, tmp_path: Path) -> None:
    text = cafa.read_text()
    second = text.index(">", 1)
    path = tmp_path / "bad_second.fasta"
    path.write_text(text[:second] + ">broken\nMK1V\n")
    stream = iter_fasta(path)
    first = next(stream)
    assert first.id == _biotite(cafa)[0][0].split()[0]
    with pytest.raises(SequenceError, match=r"bad_second\.fasta, line \d+: record 'broken': digit '1'"):
        next(stream)


def test_crlf_and_blank_lines(cafa: Path) -> None:
    text = cafa.read_text()
    crlf = text.replace("\n", "\r\n\r\n")
    assert [(p.id, p.sequence) for p in read_fasta(io.StringIO(crlf))] == [
        (h.split()[0], s) for h, s in _biotite(cafa)
    ]


# --------------------------------------------------------------------------------------- letter policy
def _first_record_lines(path: Path) -> tuple[str, list[str]]:
    header, sequence = _biotite(path)[0]
    return header, [sequence[i : i + 60] for i in range(0, len(sequence), 60)]


def _fasta(header: str, lines: list[str]) -> io.StringIO:
    stream = io.StringIO(">" + header + "\n" + "\n".join(lines) + "\n")
    stream.name = "test.fasta"
    return stream


def test_lowercase_is_upper_cased_or_rejected(cafa: Path) -> None:
    header, lines = _first_record_lines(cafa)
    mixed = [line.lower() if i % 2 else line for i, line in enumerate(lines)]
    assert read_fasta(_fasta(header, mixed))[0].sequence == "".join(lines)
    with pytest.raises(SequenceError, match=r"test\.fasta, line 3: record 'P15455': lower-case letter"):
        read_fasta(_fasta(header, mixed), FastaPolicy(uppercase=False))


def test_trailing_stop_is_stripped_inner_stop_rejected(cafa: Path) -> None:
    header, lines = _first_record_lines(cafa)
    assert read_fasta(_fasta(header, [*lines, "*"]))[0].sequence == "".join(lines)
    assert read_fasta(_fasta(header, [*lines[:-1], lines[-1] + "*"]))[0].sequence == "".join(lines)
    broken = [lines[0], lines[1][:10] + "*" + lines[1][10:], *lines[2:]]
    with pytest.raises(SequenceError, match=r"line 3: record 'P15455': stop '\*' inside .* at column 11"):
        read_fasta(_fasta(header, broken))
    with pytest.raises(SequenceError, match=r"stop '\*' inside"):
        read_fasta(_fasta(header, [*lines, "**"]))


def test_gaps_rejected_unless_removed(cafa: Path) -> None:
    header, lines = _first_record_lines(cafa)
    gapped = [line[:5] + "--" + line[5:20] + "." + line[20:] for line in lines]
    with pytest.raises(SequenceError, match=r"line 2: record 'P15455': gap '-' .* at column 6"):
        read_fasta(_fasta(header, gapped))
    assert read_fasta(_fasta(header, gapped), FastaPolicy(remove_gaps=True))[0].sequence == "".join(lines)


def test_ambiguous_letters_become_x() -> None:
    assert read_fasta(io.StringIO(">a\nMBZJUOXK\nbzjuo\n"))[0].sequence == "MXXXXXXKXXXXX"
    with pytest.raises(SequenceError, match=r"line 2: record 'a': ambiguous letter 'U' .* at column 5"):
        read_fasta(io.StringIO(">a\nMKLVUOXK\n"), FastaPolicy(ambiguous_to_x=False, uppercase=True))
    # with ambiguous_to_x=False, B/Z/J would pass the Protein alphabet check only as X, so they are errors too
    with pytest.raises(SequenceError, match=r"ambiguous letter 'B'"):
        read_fasta(io.StringIO(">a\nMB\n"), FastaPolicy(ambiguous_to_x=False))


@pytest.mark.parametrize(
    ("body", "pattern"),
    [
        ("MKV\n12 MKV\n", r"line 3: record 'x': digit '1' in a sequence line at column 1"),
        ("MKV\nMK VL\n", r"line 3: record 'x': whitespace inside a sequence line at column 3"),
        ("MKV\nMK;L\n", r"line 3: record 'x': invalid character ';' at column 3"),
        ("MKV\nMKé\n", r"line 3: record 'x': invalid character 'é' at column 3"),
    ],
)
def test_bad_characters_name_file_line_record(body: str, pattern: str) -> None:
    stream = io.StringIO(">x desc\n" + body)
    stream.name = "bad.fasta"
    with pytest.raises(SequenceError, match="bad\\.fasta, " + pattern) as info:
        read_fasta(stream)
    assert isinstance(info.value, ProtdataError) and info.value.line is not None


def test_structure_errors(tmp_path: Path) -> None:
    cases = {
        "empty.fasta": ("", r"empty\.fasta: no FASTA records \(empty file\)"),
        "blank.fasta": ("\n\n  \n", r"no FASTA records \(only blank lines\)"),
        "noheader.fasta": ("MKVL\n>a\nMK\n", r"noheader\.fasta, line 1: sequence data before the first '>'"),
        "emptyrec.fasta": (">a\n>b\nMK\n", r"emptyrec\.fasta, line 1: record 'a' has no sequence"),
        "dup.fasta": (
            ">a\nMK\n>b\nMK\n>a x\nMV\n",
            r"dup\.fasta, line 5: duplicate id 'a' \(first seen at line 1\)",
        ),
        "noid.fasta": (">\nMK\n", r"noid\.fasta, line 1: header '>' without an id"),
    }
    for name, (text, pattern) in cases.items():
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(SequenceError, match=pattern):
            read_fasta(path)
    with pytest.raises(SequenceError, match=r"missing\.fasta: cannot open"):
        read_fasta(tmp_path / "missing.fasta")


def test_policy_switches_keep_empty_and_duplicate_records() -> None:
    records = read_fasta_records(
        io.StringIO(">a\n>b\nMK\n>b\nMV\n"), FastaPolicy(allow_empty=True, allow_duplicate_ids=True)
    )
    assert [(r.id, r.sequence, r.line) for r in records] == [("a", "", 1), ("b", "MK", 2), ("b", "MV", 4)]
    with pytest.raises(ValueError, match="extra"):
        FastaPolicy(remove_gap=True)  # type: ignore[call-arg]


def test_non_utf8_bytes_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.fasta"
    path.write_bytes(b">a\nMKV\n>b \xe9t\xe9\nMK\n")
    with pytest.raises(
        SequenceError, match=r"latin1\.fasta, line 3: not UTF-8 text \(byte 0xe9 at column 4\)"
    ):
        read_fasta(path)


# ------------------------------------------------------------------------------------- lenient reading (issue 11)
def _corrupted_copy(cafa: Path, tmp_path: Path) -> tuple[Path, list[tuple[str, str]], list[tuple[int, str]]]:
    """The real CAFA-like file rewritten one record per two lines, with three records broken: a digit in record 2's
    sequence, no id in record 5's header, record 7 reusing record 0's id. Returns the file, the (id, sequence) pairs
    biotite reads from the original minus the broken three, and the expected (line, reason fragment) of each skip."""
    reference = [(h.split()[0], s) for h, s in _biotite(cafa)]
    lines, expected = [], []
    for k, (pid, seq) in enumerate(reference):
        header, body = f">{pid}", seq
        if k == 2:
            body = seq[:10] + "7" + seq[11:]
            expected.append((2 * k + 2, f"record {pid!r}: digit '7' in a sequence line at column 11"))
        elif k == 5:
            header = ">  "
            expected.append((2 * k + 1, "header '>' without an id"))
        elif k == 7:
            header = f">{reference[0][0]} copy"
            expected.append((2 * k + 1, f"duplicate id {reference[0][0]!r} (first seen at line 1)"))
        lines += [header, body]
    path = tmp_path / "corrupted.fasta"
    path.write_text("\n".join(lines) + "\n")
    kept = [r for k, r in enumerate(reference) if k not in (2, 5, 7)]
    return path, kept, expected


def test_lenient_reading_skips_bad_records_not_the_file(cafa: Path, tmp_path: Path) -> None:
    from protdata.fasta import FastaReport

    path, kept, expected = _corrupted_copy(cafa, tmp_path)
    report = FastaReport()
    proteins = read_fasta(path, strict=False, report=report)
    assert [(p.id, p.sequence) for p in proteins] == kept  # every good record, in order
    assert report.n_records == len(kept) == 144 and report.n_skipped == 3
    assert [(s.source, s.line) for s in report.skipped] == [(str(path), line) for line, _ in expected]
    for skip, (line, reason) in zip(report.skipped, expected):
        assert skip.reason == reason and str(skip) == f"{path}, line {line}: {reason}"
    ids = [h.split()[0] for h, _ in _biotite(cafa)]
    assert [s.record for s in report.skipped] == [
        ids[2],
        None,
        ids[0],
    ]  # None: no id; ids[0]: the repeated id
    assert f"skipped 3 bad records (first: {path}, line {expected[0][0]}" in report.summary()
    # The same file read strictly (the default) stops at the first bad record, naming it.
    with pytest.raises(SequenceError, match=rf"corrupted\.fasta, line {expected[0][0]}: record"):
        read_fasta(path)


def test_lenient_reading_needs_a_report_and_keeps_file_errors(tmp_path: Path) -> None:
    from protdata.fasta import FastaReport

    path = tmp_path / "a.fasta"
    path.write_text(">a\nMK1\n>b\n>\nMKV\n")
    with pytest.raises(TypeError, match="FastaReport"):
        read_fasta(path, strict=False)  # skipping without a report would drop records silently
    report = FastaReport()
    assert read_fasta(path, strict=False, report=report) == []  # every record bad: none, no exception
    assert [(s.line, s.record) for s in report.skipped] == [(2, "a"), (3, "b"), (4, None)]
    for name, text in {"noheader.fasta": "MKVL\n>a\nMK\n", "empty.fasta": ""}.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(SequenceError):  # not a FASTA file at all: an error in both modes
            read_fasta(tmp_path / name, strict=False, report=FastaReport())
