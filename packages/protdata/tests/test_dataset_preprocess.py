"""protdata.dataset.preprocess on real structures (shared data): files, directories, AFDB-style tars, foldcomp
databases; worker and rank splits; append; skipped members.

Truth: protdata.load_chains of the same file / member bytes (float64 compare), foldcomp's own reader
(``foldcomp.open``) for the database, and the bad members the tar was built with.
"""

from __future__ import annotations

import gzip
import json
import os
import struct
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from protdata import Protein, load_chains
from protdata.dataset import ManifestError, open_dataset, preprocess
from protdata.dataset.afdb_tar import BAD_MEMBERS, write_afdb_style_tar
from protdata.errors import DatasetError
from protdata.testing import shared_data

AF = ("chainsaw__AF-A0A1W2PQ64-F1-model_v4.pdb", "dpam__O05012.cif", "graphein__P04629.pdb")
PDB = ("1aki.cif", "1l2y.cif", "2axd.cif", "4gxy.cif")  # 4gxy: no protein chain (skipped)


def assert_same_protein(got: Protein, want: Protein) -> None:
    assert got.id == want.id
    assert got.sequence == want.sequence
    assert got.chain_ids == want.chain_ids
    np.testing.assert_allclose(
        np.asarray(got.coords, np.float64), np.asarray(want.coords, np.float64), equal_nan=True
    )
    np.testing.assert_array_equal(got.atom_mask, want.atom_mask)
    np.testing.assert_array_equal(got.residue_number, want.residue_number)
    np.testing.assert_array_equal(got.insertion_code, want.insertion_code)
    np.testing.assert_array_equal(got.chain_index, want.chain_index)
    assert (got.plddt is None) == (want.plddt is None)
    if want.plddt is not None:
        np.testing.assert_allclose(np.asarray(got.plddt, np.float64), np.asarray(want.plddt, np.float64))
    assert got.structure_tokens == want.structure_tokens


def af_files() -> list[Path]:
    return [shared_data("structures", "alphafold_db", f) for f in AF]


@pytest.fixture(scope="module")
def afdb_tar(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    path = tmp_path_factory.mktemp("tar") / "proteome.tar"
    names = write_afdb_style_tar(path, af_files(), 24, bad_every=6, json_every=10)
    return path, names


def test_round_trip_files_and_directory(tmp_path: Path) -> None:
    folder = shared_data("foldseek", "structures")
    files = [*af_files(), *(folder / f for f in PDB)]
    result = preprocess([str(f) for f in files], tmp_path / "ds", shard_residues=500)
    ds = open_dataset(tmp_path / "ds", verify="full")
    want = [p for f in files if f.name != "4gxy.cif" for p in load_chains(f)]
    assert len(ds) == len(want) == result.proteins
    for i, (got, ref) in enumerate(zip(ds, want, strict=True)):
        assert_same_protein(got, ref)
        assert got.source == str(files[[f.name for f in files].index(Path(ref.source).name)])
        assert ds.lengths[i] == len(ref)
        assert ds.ids[i] == ref.id
    manifest = ds.manifest
    assert manifest["proteins"] == len(want) and manifest["residues"] == sum(len(p) for p in want)
    assert all(s["residues"] <= 500 or s["proteins"] == 1 for s in manifest["shards"])
    assert len(manifest["shards"]) > 1
    assert manifest["n_skipped"] == 1 and manifest["skipped"][0]["source"].endswith("4gxy.cif")
    assert manifest["skipped"][0]["error"] == "NoProteinChainError"


def test_tar_members_split_over_workers(tmp_path: Path, afdb_tar: tuple[Path, list[str]]) -> None:
    tar, names = afdb_tar
    one = preprocess([tar], tmp_path / "w1", workers=1, chunk_members=3)
    two = preprocess([tar], tmp_path / "w2", workers=2, chunk_members=2, shard_residues=1500)
    ds1, ds2 = open_dataset(tmp_path / "w1"), open_dataset(tmp_path / "w2")
    assert one.fingerprint == two.fingerprint == ds1.fingerprint == ds2.fingerprint
    assert len(ds2.manifest["shards"]) > len(ds1.manifest["shards"])
    assert len(ds1) == len(ds2) == 24
    with tarfile.open(tar) as t:
        for i, name in enumerate(n for n in names if n.startswith("AF-X") and ".json" not in n):
            (want,) = load_chains(t.extractfile(name).read(), name=name)  # type: ignore[union-attr]
            assert_same_protein(ds1[i], want)
            assert_same_protein(ds2[i], want)
            assert ds2.sources[i] == f"{tar}::{name}"


def test_compressed_tar_streams_to_the_same_dataset(tmp_path: Path, afdb_tar: tuple[Path, list[str]]) -> None:
    tar, _ = afdb_tar
    tgz = tmp_path / "proteome.tar.gz"
    tgz.write_bytes(gzip.compress(tar.read_bytes()))
    plain = preprocess([tar], tmp_path / "plain", chunk_members=4)
    streamed = preprocess([tgz], tmp_path / "gz", workers=2, chunk_members=4, world_size=1, rank=0)
    assert streamed.fingerprint == plain.fingerprint
    assert open_dataset(tmp_path / "gz").manifest["n_skipped"] == 4


def test_shard_bytes_bound(tmp_path: Path, afdb_tar: tuple[Path, list[str]]) -> None:
    tar, _ = afdb_tar
    preprocess([tar], tmp_path / "ds", shard_bytes=200_000, chunk_members=4)
    ds = open_dataset(tmp_path / "ds")
    lengths = ds.lengths
    for shard in ds.manifest["shards"]:
        assert shard["residues"] * 78 <= 200_000 or shard["proteins"] == 1
    assert sum(s["residues"] for s in ds.manifest["shards"]) == lengths.sum()


def test_bad_members_are_named_in_the_manifest(tmp_path: Path, afdb_tar: tuple[Path, list[str]]) -> None:
    tar, names = afdb_tar
    preprocess([tar], tmp_path / "ds", workers=2, chunk_members=4)
    manifest = json.loads((tmp_path / "ds" / "manifest.json").read_text())
    bad = [n for n in names if "BAD" in n]
    assert manifest["n_skipped"] == len(bad) == 4
    assert [(s["source"], s["member"]) for s in manifest["skipped"]] == [(str(tar), n) for n in bad]
    errors = {s["member"].split("BAD")[0]: s["error"] for s in manifest["skipped"]}
    assert errors["../AF-"] == "UnsafeArchiveError"
    assert all(s["reason"] for s in manifest["skipped"])
    assert manifest["ignored"] == 2  # the two .json members
    assert set(BAD_MEMBERS.values())  # the kinds the tar was built with


def test_append_adds_shards_and_changes_fingerprint(tmp_path: Path, afdb_tar: tuple[Path, list[str]]) -> None:
    out = tmp_path / "ds"
    folder = shared_data("foldseek", "structures")
    preprocess([folder / "1aki.cif"], out)
    before = open_dataset(out)
    shard_bytes = {s["name"]: (out / s["name"]).read_bytes() for s in before.manifest["shards"]}
    tar, _ = afdb_tar
    preprocess([tar], out, append=True, workers=2)
    after = open_dataset(out, verify="full")
    assert len(after) == len(before) + 24
    assert after.fingerprint != before.fingerprint
    assert all((out / name).read_bytes() == data for name, data in shard_bytes.items())
    assert_same_protein(after[0], before[0])
    assert [g["generation"] for g in after.manifest["generations"]] == [0, 1]
    assert after.manifest["n_skipped"] == 4
    # the same content built in one go has the same fingerprint
    preprocess([folder / "1aki.cif", tar], tmp_path / "once")
    assert open_dataset(tmp_path / "once").fingerprint == after.fingerprint
    with pytest.raises(DatasetError, match="already in the dataset"):
        preprocess([tar], out, append=True)
    with pytest.raises(ManifestError, match="options"):
        preprocess([folder / "1l2y.cif"], out, append=True, min_length=50)
    with pytest.raises(DatasetError, match="already holds a dataset"):
        preprocess([folder / "1l2y.cif"], out)


def test_two_ranks_equal_one_rank(tmp_path: Path, afdb_tar: tuple[Path, list[str]]) -> None:
    tar, _ = afdb_tar
    one = preprocess([tar], tmp_path / "one", chunk_members=5)
    code = (
        "import sys; from protdata.dataset import preprocess; "
        "r = preprocess([sys.argv[1]], sys.argv[2], chunk_members=5, merge_timeout=60); print(r.summary())"
    )
    procs = []
    for rank in (1, 0):
        env = {
            **os.environ,
            **{"RANK": str(rank), "WORLD_SIZE": "2", "TORCHELASTIC_RUN_ID": "test-two-ranks"},
            **{"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"},  # torchrun sets all of these
        }
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", code, str(tar), str(tmp_path / "two")],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    two = open_dataset(tmp_path / "two", verify="full")
    assert two.fingerprint == one.fingerprint
    ref = open_dataset(tmp_path / "one")
    assert [p.id for p in two] == [p.id for p in ref]
    for a, b in zip(two, ref, strict=True):
        assert_same_protein(a, b)
    assert {s["name"].split("-")[1] for s in two.manifest["shards"]} == {"r00000", "r00001"}
    assert two.manifest["n_skipped"] == 4 and two.manifest["generations"][0]["world_size"] == 2
    assert not (tmp_path / "two" / ".parts").exists()


def test_missing_rank_is_a_clear_error(tmp_path: Path) -> None:
    f = shared_data("foldseek", "structures", "1aki.cif")
    with pytest.raises(DatasetError, match=r"ranks \[1, 2\] of 3 wrote no partial manifest"):
        preprocess([f], tmp_path / "ds", rank=0, world_size=3, merge_timeout=1, run_id="x")


def write_foldcomp_db(path: Path, files: list[Path]) -> None:
    """A foldcomp database in the MMseqs2 layout foldcomp's own writer uses (src/database_writer.cpp): entries
    NUL-terminated in ``path``, ``key\\toffset\\tlength`` in ``.index``, ``key\\tname\\t0`` in ``.lookup``."""
    foldcomp = pytest.importorskip("foldcomp")
    data, index, lookup = b"", [], []
    for key, f in enumerate(files):
        text = gzip.decompress(f.read_bytes()).decode() if f.suffix == ".gz" else f.read_text()
        fcz = foldcomp.compress(f.name.split(".")[0], text)
        index.append(f"{key}\t{len(data)}\t{len(fcz) + 1}\n")
        lookup.append(f"{key}\t{f.name.split('.')[0]}\t0\n")
        data += fcz + b"\0"
    path.write_bytes(data)
    Path(f"{path}.index").write_text("".join(index))
    Path(f"{path}.lookup").write_text("".join(lookup))
    Path(f"{path}.dbtype").write_bytes(struct.pack("<i", 12))


def test_foldcomp_database_reads_what_foldcomp_reads(tmp_path: Path) -> None:
    foldcomp = pytest.importorskip("foldcomp")
    files = [*af_files()[::2], shared_data("structures", "alphafold_db", "foldcomp__test_af.pdb")]
    files = [f for f in files if f.suffix == ".pdb"]
    (tmp_path / "db").mkdir()
    db = tmp_path / "db" / "afdb"
    write_foldcomp_db(db, files)
    preprocess([tmp_path / "db"], tmp_path / "ds", workers=2, chunk_members=1)  # the directory holds the DB
    ds = open_dataset(tmp_path / "ds")
    with foldcomp.open(str(db)) as reader:
        entries = list(reader)
    assert len(entries) == len(files) == len(ds)
    for got, (name, pdb) in zip(ds, entries, strict=True):
        (want,) = load_chains(pdb.encode(), name=name + ".pdb")
        assert_same_protein(got, want)
        assert got.source == f"{db}::{name}"
    assert ds.manifest["sources"][0]["kind"] == "directory"


def test_corrupt_foldcomp_entry_is_skipped_and_named(tmp_path: Path) -> None:
    files = [shared_data("structures", "alphafold_db", "foldcomp__test_af.pdb")] * 2
    db = tmp_path / "afdb"
    write_foldcomp_db(db, files)
    index = Path(f"{db}.index").read_text().splitlines()
    offset, length = (int(v) for v in index[1].split("\t")[1:])
    data = bytearray(db.read_bytes())
    data[offset : offset + length - 1] = b"x" * (length - 1)  # entry 1 garbled, same size
    db.write_bytes(bytes(data))
    preprocess([db], tmp_path / "ds")
    ds = open_dataset(tmp_path / "ds")
    assert len(ds) == 1
    (skip,) = ds.manifest["skipped"]
    assert (skip["source"], skip["member"], skip["error"]) == (
        str(db),
        "foldcomp__test_af",
        "StructureParseError",
    )
