"""protdata.packed: PackedProteins packs proteins into flat arrays and stores them as safetensors + JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from protdata import Protein, load_chains
from protdata.errors import DatasetError, ProtdataError
from protdata.packed import PackedProteins
from protdata.testing import shared_data


def _chains(n: int) -> list[Protein]:
    files = sorted(shared_data("structures", "experimental_mdanalysis_dssp").glob("*.pdb.gz"))[:n]
    return [p for f in files for p in load_chains(f)]


def _assert_same(p: Protein, truth: Protein) -> None:
    assert p.id == truth.id and p.sequence == truth.sequence and p.chain_ids == truth.chain_ids
    assert p.source == truth.source and p.structure_tokens == truth.structure_tokens
    np.testing.assert_array_equal(p.coords, truth.coords)
    np.testing.assert_array_equal(p.atom_mask, truth.atom_mask)
    np.testing.assert_array_equal(p.residue_number, truth.residue_number)
    np.testing.assert_array_equal(p.insertion_code, truth.insertion_code)
    np.testing.assert_array_equal(p.chain_index, truth.chain_index)
    if truth.plddt is None:
        assert p.plddt is None
    else:
        np.testing.assert_array_equal(p.plddt, truth.plddt)


def test_packed_proteins_equal_the_loader_in_memory_and_after_a_round_trip(tmp_path: Path) -> None:
    proteins = _chains(4)
    afdb = load_chains(shared_data("structures", "alphafold_db", "graphein__P04629.pdb"))
    assert afdb[0].plddt is not None  # a protein with pLDDT, one with 3Di letters
    proteins += [afdb[0], proteins[0].replace(id="tokens", structure_tokens="d" * len(proteins[0]))]
    packed = PackedProteins.from_proteins(proteins, metadata={"origin": "test"})
    assert len(packed) == len(proteins)
    assert packed.lengths.tolist() == [len(p) for p in proteins]
    assert packed.num_residues == sum(len(p) for p in proteins)
    packed.save(tmp_path / "set")
    assert sorted(f.name for f in (tmp_path / "set").iterdir()) == ["arrays.safetensors", "index.json"]
    again = PackedProteins.load(tmp_path / "set")
    assert again.metadata == {"origin": "test"} and again.ids == packed.ids
    for i, truth in enumerate(proteins):  # the loader's proteins are the reference
        _assert_same(packed[i], truth)
        _assert_same(again[i], truth)
    _assert_same(again[-1], proteins[-1])
    with pytest.raises(IndexError, match="protein index 6 out of range for 6"):
        again[6]


def test_sequence_only_proteins_cannot_be_packed() -> None:
    with pytest.raises(DatasetError, match=r"^seq\.fasta: protein 'x' has no coordinates$"):
        PackedProteins.from_proteins([Protein.from_sequence("x", "ACDE", source="seq.fasta")])


def test_bad_saved_sets_are_refused_in_one_line(tmp_path: Path) -> None:
    packed = PackedProteins.from_proteins(_chains(2))
    entry = packed.save(tmp_path / "set")
    index = json.loads((entry / "index.json").read_text())
    (entry / "index.json").write_text(json.dumps({**index, "format": 1}))
    with pytest.raises(DatasetError, match=r"index\.json: format 1 is not packed-proteins format 2$"):
        PackedProteins.load(entry)
    (entry / "index.json").write_text(json.dumps({**index, "ids": index["ids"][:1]}))
    with pytest.raises(DatasetError, match=r"arrays\.safetensors: 'offsets' is not 0, …, N for 1 proteins"):
        PackedProteins.load(entry)
    (entry / "index.json").write_text(json.dumps(index))
    (entry / "arrays.safetensors").write_bytes(b"\x00" * 20)
    with pytest.raises(ProtdataError, match=r"arrays\.safetensors: cannot read the arrays"):
        PackedProteins.load(entry)
    with pytest.raises(DatasetError, match=r"nowhere.index\.json: cannot read the packed-proteins index"):
        PackedProteins.load(tmp_path / "nowhere")
