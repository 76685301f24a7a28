"""protdata.atom3d against the ``atom3d`` package's own reader (``LMDBDataset``) on LMDBs written by its own
writer (``make_lmdb_dataset``) from real structures (tests/atom3d_lmdb.py): coordinates, residues, ids, scores,
labels; pkl refusal, corrupt entries, split folders."""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import atom3d_lmdb

from protdata.constants import THREE_TO_ONE
from protdata.errors import DatasetError, ProtdataError
from protdata.testing import shared_data

pytest.importorskip("lmdb")
da = pytest.importorskip("atom3d.datasets.datasets")

from protdata.atom3d import (  # noqa: E402
    Atom3DDataset,
    Atom3DEntryError,
    Atom3DLmdb,
    read_msp,
    read_psr,
    split_dirs,
)


@pytest.fixture(scope="module")
def structures() -> Path:
    return shared_data("structures", "experimental_mdanalysis_dssp")


@pytest.fixture(scope="module", params=["json", "msgpack"])
def written(
    request: pytest.FixtureRequest, structures: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict:
    root = tmp_path_factory.mktemp(f"atom3d_{request.param}")
    atom3d_lmdb.write_psr(structures, root / "psr", fmt=request.param)
    atom3d_lmdb.write_msp(structures, root / "msp", fmt=request.param)
    return {"psr": root / "psr", "msp": root / "msp", "fmt": request.param}


def _ca_rows(df):  # the reference: atom3d's own table, standard residues, their CA atoms in file order
    std = df[df["hetero"] == " "]
    return std[std["name"] == "CA"]


def _check_protein(protein, df) -> None:
    ca = _ca_rows(df)
    assert len(protein) == len(ca)
    np.testing.assert_allclose(
        protein.coords[:, 1].astype(np.float64), ca[["x", "y", "z"]].to_numpy(np.float64), atol=1e-4
    )
    assert protein.sequence == "".join(THREE_TO_ONE.get(r, "X") for r in ca["resname"])
    assert protein.residue_number.tolist() == ca["residue"].astype(int).tolist()
    assert list(protein.chain_ids) == list(dict.fromkeys(ca["chain"]))
    n_rows = df[(df["hetero"] == " ") & (df["name"] == "N")]
    n_by_res = {
        (c, r): xyz for c, r, *xyz in n_rows[["chain", "residue", "x", "y", "z"]].itertuples(index=False)
    }
    for i, (c, r) in enumerate(zip(ca["chain"], ca["residue"])):
        if (c, r) in n_by_res:
            np.testing.assert_allclose(protein.coords[i, 0], n_by_res[(c, r)], atol=1e-4)
            assert protein.atom_mask[i, 0]


def test_psr_matches_atom3d_reader(written: dict) -> None:
    dirs = split_dirs(written["psr"])
    assert sorted(dirs) == ["test", "train", "valid"] and dirs["valid"].name == "val"
    for split, path in dirs.items():
        reference = list(da.LMDBDataset(str(path)))  # read, then closed (one env per file)
        records = read_psr(path)
        assert (
            len(records) == len(reference) == len(atom3d_lmdb.PSR_SPLITS[{"valid": "val"}.get(split, split)])
        )
        for rec, item in zip(records, reference):
            target, decoy = eval(item["id"])  # atom3d's own id format, str((target, decoy)); test only
            assert (rec.target, rec.decoy) == (target, decoy)
            assert rec.protein.id == f"{target}/{decoy}"
            scores = item["scores"]
            if isinstance(scores, dict) and "index" in scores:  # a Series, as atom3d's json writer stores it
                scores = dict(zip(scores["index"], scores["data"]))
            assert rec.scores.keys() == scores.keys()
            for k, v in scores.items():
                assert rec.scores[k] == pytest.approx(float(v), abs=1e-12)
            _check_protein(rec.protein, item["atoms"])


def test_msp_matches_atom3d_reader(written: dict) -> None:
    for split, path in split_dirs(written["msp"]).items():
        reference = list(da.LMDBDataset(str(path)))  # read, then closed (one env per file)
        records = read_msp(path)
        pairs = atom3d_lmdb.MSP_SPLITS[{"valid": "val"}.get(split, split)]
        assert len(records) == len(reference) == len(pairs)
        for rec, item, (_, k, new, label) in zip(records, reference, pairs):
            assert rec.id == item["id"] and rec.label == int(item["label"]) == int(label)
            _check_protein(rec.wild_type, item["original_atoms"])
            _check_protein(rec.mutant, item["mutated_atoms"])
            assert rec.positions.tolist() == [k]
            assert rec.mutant.sequence[k] == THREE_TO_ONE[new]
            assert rec.mutation == item["id"].split("_")[-1]
            assert np.isnan(rec.mutant.coords[k, 4]).all() == (new == "GLY")  # GLY: no CB kept


def test_pkl_lmdb_is_refused_without_unpickling(
    structures: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pickle

    path = tmp_path / "pkl"
    da.make_lmdb_dataset(da.PDBDataset([structures / "3a4rA.pdb.gz"]), str(path), serialization_format="pkl")

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("unpickled")

    monkeypatch.setattr(pickle, "loads", boom)
    with pytest.raises(DatasetError, match=r"pkl.*refused") as err:
        Atom3DLmdb(path)
    assert str(path) in str(err.value)


def test_corrupt_entry_names_file_and_index_and_is_skipped_and_counted(written: dict, tmp_path: Path) -> None:
    import shutil

    import lmdb

    path = tmp_path / "train"
    shutil.copytree(split_dirs(written["psr"])["train"], path)
    env = lmdb.open(str(path), map_size=1 << 26)
    with env.begin(write=True) as txn:
        txn.put(b"1", b"not gzip at all")
        entry = {"id": "('T1', 'd')", "scores": {"gdt_ts": 0.5}}  # no atoms
        txn.put(b"2", gzip.compress(da.serialize(entry, written["fmt"])))
    env.close()
    ds = Atom3DDataset(path, "psr")
    with pytest.raises(Atom3DEntryError, match=r"\[entry 1\]: corrupt entry") as err:
        ds[1]
    assert str(path) in str(err.value) and isinstance(err.value, ProtdataError)
    with pytest.raises(Atom3DEntryError, match=r"\[entry 2\]: PSR entry without 'atoms'"):
        ds[2]
    records, skipped = ds.records()
    assert len(records) == len(ds) - 2 and len(skipped) == 2 and "[entry 1]" in skipped[0]


def test_split_dirs_errors(written: dict, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no ATOM3D split"):
        split_dirs(tmp_path)
    with pytest.raises(DatasetError, match="no such"):
        split_dirs(tmp_path / "missing")
    both = tmp_path / "both"
    both.mkdir()
    (both / "a").symlink_to(written["psr"] / "split-by-year")
    (both / "b").symlink_to(written["msp"] / "split-by-sequence-identity-30")
    with pytest.raises(DatasetError, match="several ATOM3D splits"):
        split_dirs(both)
    assert split_dirs(both, "b")["train"] == both / "b" / "data" / "train"
    assert split_dirs(written["msp"] / "split-by-sequence-identity-30" / "data")["test"].name == "test"


def test_not_an_lmdb(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"no data\.mdb"):
        Atom3DLmdb(tmp_path)
