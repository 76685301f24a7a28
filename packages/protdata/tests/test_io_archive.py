"""Streaming tar reader (AlphaFold DB bulk format) on archives built here from the shared AlphaFold DB models.

Truth: loading each model file directly; the tar layout and attacks are built with Python's tarfile.
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile

import numpy as np
import pytest

from protdata import load_chains
from protdata.errors import StructureParseError, UnsafeArchiveError
from protdata.io import LoadReport, iter_archive, load_archive, load_many
from protdata.testing import shared_data

AF_FILES = (
    "chainsaw__AF-A0A1W2PQ64-F1-model_v4.pdb",
    "dpam__O05012.cif",
    "merizo__AF-Q96HM7-F1-model_v4.pdb",
    "dpam__O05023.cif",
)


def _add(tar: tarfile.TarFile, name: str, data: bytes, **attrs) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for key, value in attrs.items():
        setattr(info, key, value)
    tar.addfile(info, io.BytesIO(data) if info.isfile() else None)


def _afdb_tar(path, mode: str = "w", extra: list[tuple[str, bytes, dict]] | None = None) -> list[str]:
    names = []
    with tarfile.open(path, mode) as tar:
        for fname in AF_FILES:
            member = fname.split("__")[1] + ".gz"
            _add(tar, member, gzip.compress(shared_data("structures", "alphafold_db", fname).read_bytes()))
            names.append(member)
        _add(tar, "O05012.json", b'{"pae": []}')
        for name, data, attrs in extra or []:
            _add(tar, name, data, **attrs)
    return names


def _direct() -> list:
    out = []
    for fname in AF_FILES:
        out += load_chains(shared_data("structures", "alphafold_db", fname))
    return out


@pytest.mark.parametrize("mode", ["w", "w:gz"])
def test_archive_gives_the_same_proteins_as_the_files(tmp_path, mode: str) -> None:
    archive = tmp_path / ("afdb.tar" if mode == "w" else "afdb.tar.gz")
    members = _afdb_tar(archive, mode)
    report = LoadReport()
    proteins = list(iter_archive(archive, report=report))
    direct = _direct()
    assert [p.id.split("__")[-1] for p in direct] == [p.id for p in proteins]
    for p, q in zip(proteins, direct):
        assert p.sequence == q.sequence and p.source == f"{archive}::{members[proteins.index(p)]}"
        np.testing.assert_array_equal(p.coords, q.coords)
        np.testing.assert_array_equal(p.plddt, q.plddt)
    assert (report.n_sources, report.n_loaded, report.n_skipped) == (4, 4, 0)
    assert report.ignored == [f"{archive}::O05012.json"]


def test_streams_from_a_non_seekable_file_object_without_touching_disk(tmp_path, monkeypatch) -> None:
    archive = tmp_path / "afdb.tar"
    _afdb_tar(archive)

    class Pipe:  # read() only: no seek/tell, like a socket or a pipe
        def __init__(self, data: bytes) -> None:
            self._buf = io.BytesIO(data)

        def read(self, n: int = -1) -> bytes:
            return self._buf.read(n)

    def forbidden(*_args, **_kwargs):
        raise AssertionError("the archive must not be extracted")

    monkeypatch.setattr(tarfile.TarFile, "extract", forbidden)
    monkeypatch.setattr(tarfile.TarFile, "extractall", forbidden)
    before = sorted(os.listdir(tmp_path))
    proteins = list(iter_archive(Pipe(archive.read_bytes())))
    assert len(proteins) == 4
    assert sorted(os.listdir(tmp_path)) == before


@pytest.mark.parametrize(
    ("name", "attrs", "reason"),
    [
        ("../../evil.pdb", {}, "contains '..'"),
        ("/etc/evil.pdb", {}, "absolute path"),
        ("models/../../evil.pdb", {}, "contains '..'"),
        ("link.pdb", {"type": tarfile.SYMTYPE, "linkname": "/etc/passwd"}, "symbolic link"),
        ("hard.pdb", {"type": tarfile.LNKTYPE, "linkname": "../outside.pdb"}, "hard link"),
        ("dev.pdb", {"type": tarfile.CHRTYPE}, "device or FIFO"),
        ("fifo.pdb", {"type": tarfile.FIFOTYPE}, "device or FIFO"),
    ],
)
def test_members_escaping_the_archive_are_refused(tmp_path, name: str, attrs: dict, reason: str) -> None:
    archive = tmp_path / "evil.tar"
    data = b"" if attrs else shared_data("structures", "experimental_mini3di", "8crb.pdb").read_bytes()
    _afdb_tar(archive, extra=[(name, data, attrs)])
    with pytest.raises(UnsafeArchiveError, match=reason) as info:
        list(iter_archive(archive))
    assert f"{archive}::{name}" in str(info.value)
    proteins, report = load_archive(archive, on_unsafe="skip")
    assert len(proteins) == 4
    assert [(s.source, s.error) for s in report.skipped] == [(f"{archive}::{name}", "UnsafeArchiveError")]
    many = load_many([archive])  # a batch reader refuses only the member, not the whole archive
    assert [p.id for p in many.proteins] == [p.id for p in proteins]
    assert [(s.source, s.error) for s in many.report.skipped] == [
        (f"{archive}::{name}", "UnsafeArchiveError")
    ]


def test_bad_members_are_skipped_and_reported(tmp_path) -> None:
    archive = tmp_path / "mixed.tar"
    garbled = gzip.compress(
        b"ATOM      1  N   MET A   1     -11.3x2 -12.112  22.813  1.00 80.94           N\n"
    )
    _afdb_tar(archive, extra=[("bad.pdb.gz", garbled, {}), ("empty.cif", b"", {}), ("late.pdb", b"", {})])
    proteins, report = load_archive(archive)
    assert len(proteins) == 4
    assert report.n_sources == 7 and report.n_skipped == 3
    assert {s.source.split("::")[1] for s in report.skipped} == {"bad.pdb.gz", "empty.cif", "late.pdb"}
    assert "skipped 3" in report.summary()


def test_truncated_archive_raises_after_the_good_members(tmp_path) -> None:
    archive = tmp_path / "cut.tar"
    _afdb_tar(archive)
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    seen = []
    with pytest.raises(StructureParseError, match="corrupt or truncated tar archive"):
        for protein in iter_archive(archive):
            seen.append(protein)
    assert 0 < len(seen) < 4


def test_batch_loader_reads_archives_in_directories(tmp_path) -> None:
    _afdb_tar(tmp_path / "afdb.tar")
    proteins, report = load_many(tmp_path)
    assert len(proteins) == 4 and report.n_loaded == 4
