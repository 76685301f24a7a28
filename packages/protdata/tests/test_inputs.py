"""protdata.inputs.read_inputs: the one reader of FASTA files, structure files, directories, globs and tars.

Truths: biotite's independent structure reader (:func:`protdata.io.biotite_reader.load_chains_biotite`) on the
same real files, a plain string parse of the real CAFA-like FASTA, Foldseek's own 3Di string of 1aki chain A
(``foldseek/foldseek_3di.fasta``), and the files the test writes (which are bad, and where).
"""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest

from protdata.inputs import InputError, SkippedInputsError, is_fasta, read_inputs
from protdata.io.biotite_reader import load_chains_biotite
from protdata.testing import shared_data

PDB = ("structures", "alphafold_db", "merizo__AF-Q96HM7-F1-model_v4.pdb")
PDB_GZ = ("structures", "experimental_mdanalysis_dssp", "1ahsA.pdb.gz")
CIF = ("foldseek", "structures", "1aki.cif")


def fasta_records(path: Path, n: int) -> list[tuple[str, str]]:
    """The first ``n`` records of a FASTA file, parsed with plain string operations."""
    records: list[tuple[str, str]] = []
    for line in path.read_text().splitlines():
        if line.startswith(">"):
            records.append((line[1:].split()[0], ""))
        elif line.strip():
            records[-1] = (records[-1][0], records[-1][1] + line.strip())
    return records[:n]


def write_fasta(path: Path, records: list[tuple[str, str]]) -> Path:
    path.write_text("".join(f">{pid}\n{seq}\n" for pid, seq in records))
    return path


@pytest.fixture
def mixed(tmp_path: Path) -> tuple[Path, list[tuple[str, str]]]:
    """A directory: a real PDB, a real gzipped PDB, a FASTA with a bad third record, a garbled PDB, notes."""
    root = tmp_path / "inputs"
    (root / "sub").mkdir(parents=True)
    shutil.copy(shared_data(*PDB), root / "a.pdb")
    shutil.copy(shared_data(*PDB_GZ), root / "sub" / "b.pdb.gz")
    records = fasta_records(shared_data("function", "cafa_like_sequences.fasta"), 4)
    bad = [*records[:2], (records[2][0], records[2][1][:10] + "1" + records[2][1][10:]), records[3]]
    write_fasta(root / "c.fasta", bad)
    (root / "d_garbled.pdb").write_text("ATOM      1  CA  ALA A   1    garbage\n")
    (root / "notes.txt").write_text("not an input\n")
    return root, records


def test_directory_matches_biotite_and_a_plain_fasta_parse(mixed) -> None:
    root, records = mixed
    got = read_inputs([root])
    structures = [*load_chains_biotite(root / "a.pdb"), *load_chains_biotite(root / "sub" / "b.pdb.gz")]
    # os.walk order: the files of the directory (sorted), then its subdirectories
    fasta_kept = [records[k] for k in (0, 1, 3)]
    expected_ids = [structures[0].id, *(pid for pid, _ in fasta_kept), structures[1].id]
    assert [p.id for p in got.proteins] == expected_ids
    by_id = {p.id: p for p in got.proteins}
    for ref in structures:
        mine = by_id[ref.id]
        assert mine.sequence == ref.sequence and mine.has_structure
        np.testing.assert_allclose(mine.coords, ref.coords, equal_nan=True)
    for pid, seq in fasta_kept:
        assert by_id[pid].sequence == seq and not by_id[pid].has_structure
        assert by_id[pid].source == str(root / "c.fasta")
    report = got.report
    assert report.files == 4 and report.ignored == [str(root / "notes.txt")]
    sources = [s.source for s in report.skipped]
    assert sources == [f"{root / 'c.fasta'}, line 6", str(root / "d_garbled.pdb")]
    assert report.skipped[0].error == "SequenceError" and "digit '1'" in report.skipped[0].reason
    assert report.items()[0][1].startswith("SequenceError: record ")
    assert "5 proteins from 4 files; 2 skipped" in got.summary()


def test_strict_names_the_first_skipped_item_in_one_line(mixed) -> None:
    root, _ = mixed
    with pytest.raises(SkippedInputsError) as info:
        read_inputs([root], strict=True, strict_option="--strict")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("inputs: 2 input(s) skipped and --strict is set: ")
    assert f"{root / 'c.fasta'}, line 6: SequenceError: record " in message and "(and 1 more)" in message
    assert len(info.value.skipped) == 2


def test_structures_only_skips_fasta_and_tars_are_read(mixed, tmp_path: Path) -> None:
    root, _ = mixed
    archive = tmp_path / "two.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(root / "a.pdb", arcname="a.pdb")
        tar.add(shared_data(*CIF), arcname="1aki.cif")
        tar.add(root / "d_garbled.pdb", arcname="bad.pdb")
    got = read_inputs([archive, root / "c.fasta"], needs_structures=True)
    expected = [*load_chains_biotite(root / "a.pdb"), *load_chains_biotite(shared_data(*CIF))]
    assert [p.id for p in got.proteins] == [p.id for p in expected]
    assert [p.sequence for p in got.proteins] == [p.sequence for p in expected]
    assert got.report.files == 4  # three archive members and the FASTA file
    reasons = {s.source: s.reason for s in got.report.skipped}
    assert reasons[str(root / "c.fasta")].startswith("a FASTA file has no 3D structure")
    assert any(source.endswith("bad.pdb") for source in reasons)


def test_structure_tokens_are_foldseeks(tmp_path: Path) -> None:
    from protdata.fasta import read_fasta

    fasta = write_fasta(tmp_path / "seq.fasta", [("plain", "MKTAYIAKQRQISFVKSHFSRQ")])
    got = read_inputs([shared_data(*CIF), fasta], structure_tokens=True)
    reference = {p.id: p.sequence for p in read_fasta(shared_data("foldseek", "foldseek_3di.fasta"))}
    structured, plain = got.proteins
    assert structured.structure_tokens == reference["1aki_A"]
    assert plain.structure_tokens is None
    assert got.report.notes == ["1 protein(s) without structure: SaProt sees '#' for their 3Di tokens"]


def test_duplicate_ids_and_empty_records_are_skipped_not_dropped(tmp_path: Path) -> None:
    one = write_fasta(tmp_path / "one.fa", [("x", "MKV"), ("y", "MKTA")])
    two = write_fasta(tmp_path / "two.faa", [("x", "MKVL")])
    got = read_inputs([one, two])
    assert [(p.id, p.sequence) for p in got.proteins] == [("x", "MKV"), ("y", "MKTA")]
    (skip,) = got.report.skipped
    assert skip.source == f"{two}: x" and skip.reason == f"duplicate id (already read from {one})"


def test_bad_inputs_are_one_line_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.md").write_text("nothing\n")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.pdb").write_text("garbage\n")
    broken_tar = tmp_path / "broken.tar"
    broken_tar.write_bytes(b"not a tar archive at all" * 40)
    all_bad = write_fasta(tmp_path / "all_bad.fasta", [("a", "MK1"), ("b", "M2V")])
    cases = [
        ([tmp_path / "nope.fasta"], f"inputs: {tmp_path / 'nope.fasta'}: no such file or directory"),
        ([str(tmp_path / "*.pdb")], f"inputs: {tmp_path / '*.pdb'}: no file matches this pattern"),
        ([tmp_path / "empty"], "no FASTA or structure files in them (1 other files ignored)"),
        (
            [broken_tar],
            f"every input was skipped (1): no usable protein in 1 files ({broken_tar}); first: {broken_tar}: ",
        ),
        (
            [bad],
            f"every input was skipped (1): no usable protein in 1 files ({bad}); first: {bad / 'x.pdb'}: ",
        ),
        (
            [all_bad],
            f"every input was skipped (2): no usable protein in 1 files ({all_bad}); first: {all_bad}, line 2: ",
        ),
    ]
    for sources, needle in cases:
        with pytest.raises(InputError) as info:
            read_inputs(sources)
        assert "\n" not in str(info.value) and needle in str(info.value), str(info.value)


def test_is_fasta() -> None:
    assert is_fasta("a.fasta") and is_fasta("b.FA.gz") and is_fasta("c.faa") and is_fasta("d.seq")
    assert not is_fasta("a.pdb") and not is_fasta("fasta") and not is_fasta("a.fasta.tar")


def test_iter_inputs_streams_file_by_file(mixed, tmp_path: Path) -> None:
    """The first protein comes before later files are opened: a file removed after it is reported as skipped
    (read_inputs reads the same way, then lists them)."""
    from protdata.inputs import InputReport, iter_inputs

    root, records = mixed
    later = write_fasta(tmp_path / "later.fasta", records[:1])
    report = InputReport()
    stream = iter_inputs([root / "a.pdb", later], report=report)
    first = next(stream)
    assert first.id == load_chains_biotite(root / "a.pdb")[0].id and report.files == 1
    later.unlink()
    rest = list(stream)
    assert rest == [] and report.files == 2
    (skip,) = report.skipped
    assert skip.source == str(later) and "cannot open" in skip.reason


def test_iter_inputs_keep_splits_by_position_and_3di_in_chunks(monkeypatch, tmp_path: Path) -> None:
    """``keep(i % 3 == r)`` over three ranks: each protein once, in its position's share; 3Di strings computed in
    chunks of one equal Foldseek's own (1aki chain A) and are computed only for kept proteins."""
    import protdata.inputs as inputs
    from protdata.fasta import read_fasta

    monkeypatch.setattr(inputs, "TOKEN_CHUNK", 1)
    fasta = write_fasta(tmp_path / "seq.fasta", [("p1", "MKTAYIAKQR"), ("p2", "MKV"), ("p3", "MKTA")])
    sources = [shared_data(*CIF), fasta, shared_data(*PDB_GZ)]
    everything = read_inputs(sources, structure_tokens=True).proteins
    reference = {p.id: p.sequence for p in read_fasta(shared_data("foldseek", "foldseek_3di.fasta"))}
    assert everything[0].structure_tokens == reference["1aki_A"]
    shares = [
        list(inputs.iter_inputs(sources, structure_tokens=True, keep=lambda i, p, r=r: i % 3 == r))
        for r in range(3)
    ]
    for r, share in enumerate(shares):
        assert [p.id for p in share] == [p.id for p in everything[r::3]]
        assert [p.structure_tokens for p in share] == [p.structure_tokens for p in everything[r::3]]
    none = list(inputs.iter_inputs(sources, structure_tokens=True, keep=lambda i, p: False))
    assert none == []  # nothing kept is not "no usable protein"
