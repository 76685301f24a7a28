"""protdata.structure_cache: structure files parsed once into PackedProteins, reused until a file changes."""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

import protdata.structure_cache as structure_cache
from protdata import load_chains
from protdata.errors import DatasetError
from protdata.foldseek import encode_3di
from protdata.structure_cache import build_structure_cache
from protdata.testing import shared_data


def _files(n: int) -> list[Path]:
    return sorted(shared_data("structures", "experimental_mdanalysis_dssp").glob("*.pdb.gz"))[:n]


def test_cache_round_trip_equals_the_loader(tmp_path: Path) -> None:
    files = _files(6)
    packed, report, cached = build_structure_cache(files, tmp_path)
    assert not cached and report["files"] == 6 and "loaded 6 proteins" in report["summary"]
    again, report_again, cached = build_structure_cache(files, tmp_path)
    assert cached and report_again == report
    for i, f in enumerate(files):
        (truth,) = load_chains(f)  # the loader itself is the reference
        for p in (packed[i], again[i]):
            assert p.id == truth.id and p.sequence == truth.sequence and p.chain_ids == truth.chain_ids
            np.testing.assert_array_equal(p.coords, truth.coords)
            np.testing.assert_array_equal(p.atom_mask, truth.atom_mask)
            np.testing.assert_array_equal(p.residue_number, truth.residue_number)
            np.testing.assert_array_equal(p.insertion_code, truth.insertion_code)
            np.testing.assert_array_equal(p.chain_index, truth.chain_index)
            assert p.plddt is None and truth.plddt is None


def test_cached_data_is_never_parsed_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    build_structure_cache(_files(3), tmp_path)

    def no_parsing(*args: object, **kwargs: object) -> None:
        raise AssertionError("structure files parsed although the cache is valid")

    monkeypatch.setattr(structure_cache, "load_many", no_parsing)
    packed, _, cached = build_structure_cache(_files(3), tmp_path)
    assert cached and len(packed) == 3


def test_changed_or_corrupted_entries_are_rebuilt(tmp_path: Path) -> None:
    files = _files(3)
    src = tmp_path / "src"
    src.mkdir()
    for f in files[:2]:
        shutil.copy(f, src / f.name)
    build_structure_cache([src], tmp_path / "cache")
    before = set((tmp_path / "cache").iterdir())
    shutil.copy(files[2], src / files[0].name)  # same name, other content
    st = (src / files[0].name).stat()
    os.utime(src / files[0].name, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    packed, _, cached = build_structure_cache([src], tmp_path / "cache")
    assert not cached
    assert packed[0].sequence == load_chains(files[2])[0].sequence
    (entry,) = set((tmp_path / "cache").iterdir()) - before
    (entry / "arrays.safetensors").write_bytes(b"garbage")
    rebuilt, _, cached = build_structure_cache([src], tmp_path / "cache")
    assert not cached and rebuilt.ids == packed.ids


def test_bad_files_are_skipped_and_reported(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(_files(1)[0], src / _files(1)[0].name)
    (src / "broken.pdb").write_text("ATOM      1  N   ALA A   1    garbage\n")
    packed, report, _ = build_structure_cache([src], None)
    assert len(packed) == 1
    assert [s[0] for s in report["skipped"]] == [str(src / "broken.pdb")]
    assert "skipped 1" in report["summary"]


def test_errors_start_with_the_key_and_name_the_source(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"^data\.sources: .*nowhere: no such file or directory$"):
        build_structure_cache([tmp_path / "nowhere"], None, key="data.sources")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no structures here")
    with pytest.raises(
        DatasetError, match=r"^sources: no structure files in .*empty \(1 non-structure files"
    ):
        build_structure_cache([empty], None)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.pdb").write_text("HEADER nothing\nEND\n")
    with pytest.raises(
        DatasetError, match=r"no usable protein in 1 structure files.*first failure: .*x\.pdb"
    ):
        build_structure_cache([bad], None)
    with pytest.raises(
        DatasetError, match=r"no usable protein in 2 structure files.*2 shorter than min_length"
    ):
        build_structure_cache(_files(2), None, min_length=100_000)


def test_3di_strings_are_foldseeks_and_a_chain_it_rejects_is_reported(tmp_path: Path) -> None:
    files = _files(3)
    ca_only = tmp_path / "ca_only.pdb"
    lines = gzip.decompress(files[0].read_bytes()).decode().splitlines()
    ca_only.write_text("\n".join(x for x in lines if x.startswith("ATOM") and x[12:16] == " CA ") + "\nEND\n")
    packed, report, _ = build_structure_cache([*files, ca_only], tmp_path, encode_3di=True)
    truth = [p for f in files for p in load_chains(f)]
    assert packed.ids == [p.id for p in truth]  # the Cα-only chain is left out ...
    assert [p.structure_tokens for p in packed] == encode_3di(truth)
    assert [s[:2] for s in report["skipped"]] == [[str(ca_only), "MissingAtomsError"]]  # ... and reported
    assert report["skipped"][0][2].startswith("Cα-only chain")
    plain, _, cached = build_structure_cache(files, tmp_path)
    assert not cached and all(p.structure_tokens is None for p in plain)  # another cache entry


def test_parallel_parsing_gives_the_same_cache() -> None:
    files = _files(12)
    serial, report1, _ = build_structure_cache(files, None, parse_workers=1)
    parallel, report2, _ = build_structure_cache(files, None, parse_workers=2)
    assert parallel.ids == serial.ids and parallel.sources == serial.sources
    np.testing.assert_array_equal(parallel.offsets, serial.offsets)
    np.testing.assert_array_equal(parallel.coords, serial.coords)
    assert report1["summary"] == report2["summary"]
