"""protdata.open_dataset: lazy memory-mapped reading, pickling by path, and clear errors for broken datasets.

Truth: protdata.load_chains of the shared structure files; the safetensors library's own reader for the shard
files; the manifest's recorded sizes and digests.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

import protdata
from protdata import load_chains
from protdata.dataset import ManifestError, ShardedDataset, ShardError, preprocess
from protdata.dataset.manifest import FORMAT_VERSION
from protdata.errors import DatasetError, ProtdataError
from protdata.testing import shared_data

FILES = ("1aki.cif", "1l2y.cif", "2axd.cif", "1gya.cif")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ds") / "ds"
    preprocess([shared_data("foldseek", "structures", f) for f in FILES], out, shard_residues=200)
    return out


def copy(built: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(built, tmp_path / "copy"))


def test_open_dataset_is_exported_and_lazy(built: Path) -> None:
    ds = protdata.open_dataset(built)
    assert isinstance(ds, ShardedDataset)
    assert not ds._shards  # nothing mapped before the first access
    want = [p for f in FILES for p in load_chains(shared_data("foldseek", "structures", f))]
    assert len(ds) == len(want)
    np.testing.assert_array_equal(ds.lengths, [len(p) for p in want])
    assert ds.lengths.dtype == np.int64
    assert list(ds.ids) == [p.id for p in want]
    assert ds[-1].id == want[-1].id and [p.id for p in ds[1:3]] == [p.id for p in want[1:3]]
    with pytest.raises(IndexError):
        ds[len(ds)]
    assert not ds[0].coords.flags.writeable  # a view into the read-only map


def test_shards_are_valid_safetensors(built: Path) -> None:
    from safetensors.numpy import load_file

    ds = protdata.open_dataset(built)
    first = ds.manifest["shards"][0]
    arrays = load_file(str(built / first["name"]))
    n = int(arrays["offsets"][-1])
    assert n == first["residues"] and len(arrays["offsets"]) == first["proteins"] + 1
    np.testing.assert_array_equal(arrays["coords"][: len(ds[0])], ds[0].coords)
    assert bytes(arrays["digest"][0]).hex() == ds.digest(0)


def test_pickle_carries_the_path_only(built: Path) -> None:
    ds = protdata.open_dataset(built)
    ds[0]  # map a shard
    blob = pickle.dumps(ds)
    assert len(blob) < 500
    again = pickle.loads(blob)
    assert again.fingerprint == ds.fingerprint and len(again) == len(ds)
    np.testing.assert_array_equal(again[2].coords, ds[2].coords)


def test_fingerprint_is_the_hash_of_protein_digests(built: Path) -> None:
    ds = protdata.open_dataset(built)
    h = hashlib.sha256(b"".join(bytes.fromhex(ds.digest(i)) for i in range(len(ds))))
    assert ds.fingerprint == "sha256:" + h.hexdigest()


def test_missing_directory_and_manifest(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="no such dataset directory"):
        protdata.open_dataset(tmp_path / "nope")
    with pytest.raises(ManifestError, match="no manifest"):
        protdata.open_dataset(tmp_path)
    assert issubclass(ManifestError, DatasetError) and issubclass(ShardError, ProtdataError)


def test_other_format_version(built: Path, tmp_path: Path) -> None:
    path = copy(built, tmp_path)
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["format_version"] = FORMAT_VERSION + 1
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ManifestError, match=f"format version {FORMAT_VERSION + 1}"):
        protdata.open_dataset(path)


def test_truncated_missing_and_corrupted_shards(built: Path, tmp_path: Path) -> None:
    path = copy(built, tmp_path)
    name = json.loads((path / "manifest.json").read_text())["shards"][1]["name"]
    shard = path / name
    data = shard.read_bytes()
    shard.write_bytes(data[:-10])
    with pytest.raises(ShardError, match=f"{name}.*bytes"):
        protdata.open_dataset(path)
    corrupted = bytearray(data)
    corrupted[-5] ^= 0xFF
    shard.write_bytes(bytes(corrupted))
    protdata.open_dataset(path)  # same size: only the digest check sees it
    with pytest.raises(ShardError, match=f"{name}.*digest"):
        protdata.open_dataset(path, verify="full")
    shard.unlink()
    with pytest.raises(ShardError, match=f"{name}.*missing"):
        protdata.open_dataset(path)
