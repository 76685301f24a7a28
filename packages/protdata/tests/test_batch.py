"""ProteinBatch: flat and padded views agree, collate order, devices."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from protdata import Protein, ProteinBatch
from protdata.constants import ATOM_CA


def _protein(pid: str, sequence: str, seed: int, *, plddt: bool = False) -> Protein:
    rng = np.random.default_rng(seed)
    n = len(sequence)
    coords = rng.normal(size=(n, 5, 3)).astype(np.float32)
    mask = np.ones((n, 5), dtype=bool)
    mask[:, 4] = [c != "G" for c in sequence]
    coords[~mask] = np.nan
    return Protein(
        id=pid,
        sequence=sequence,
        coords=coords,
        atom_mask=mask,
        residue_number=np.arange(1, n + 1, dtype=np.int32),
        plddt=rng.uniform(0, 100, n).astype(np.float32) if plddt else None,
    )


@pytest.fixture
def proteins() -> list[Protein]:
    return [_protein("a", "MKVLG", 0, plddt=True), _protein("b", "GA", 1), _protein("c", "WYXHHKD", 2)]


def test_collate_flat_order(proteins: list[Protein]) -> None:
    batch = ProteinBatch.collate(proteins)
    assert batch.num_residues == 14 and len(batch) == 3 and batch.max_length == 7
    assert batch.lengths.tolist() == [5, 2, 7]
    assert batch.batch.tolist() == [0] * 5 + [1] * 2 + [2] * 7
    assert batch.position.tolist() == [*range(5), *range(2), *range(7)]
    expected_ca = np.concatenate([p.ca for p in proteins])
    np.testing.assert_array_equal(batch.ca.numpy(), expected_ca)
    # residue types follow TorchDrug's residue2id (G=0, A=1, ..., W=19, X=20)
    assert batch.residue_type[5:7].tolist() == [0, 1]
    assert batch.residue_type[7:10].tolist() == [19, 18, 20]


def test_padded_roundtrip(proteins: list[Protein]) -> None:
    batch = ProteinBatch.collate(proteins)
    feats = torch.randn(batch.num_residues, 4)
    padded = batch.to_padded(feats)
    assert padded.shape == (3, 7, 4)
    assert torch.equal(batch.to_flat(padded), feats)
    assert torch.equal(padded[~batch.mask], torch.zeros(int((~batch.mask).sum()), 4))
    assert batch.mask.sum(1).tolist() == [5, 2, 7]
    for i, p in enumerate(proteins):
        ca = batch.to_padded(batch.coords[:, ATOM_CA])[i, : len(p)]
        np.testing.assert_array_equal(ca.numpy(), p.ca)


def test_plddt_missing_is_nan(proteins: list[Protein]) -> None:
    batch = ProteinBatch.collate(proteins)
    assert batch.plddt is not None
    assert torch.isnan(batch.plddt[5:]).all() and not torch.isnan(batch.plddt[:5]).any()
    assert ProteinBatch.collate(proteins[1:]).plddt is None


def test_sequence_only_and_structure_mixed() -> None:
    batch = ProteinBatch.collate([Protein.from_sequence("s", "MKV"), _protein("t", "AA", 3)])
    assert not batch.atom_mask[:3].any() and batch.atom_mask[3:, :4].all()
    assert torch.isnan(batch.coords[:3]).all()
    assert batch.residue_number[:3].tolist() == [0, 1, 2]


def test_to_device_and_select(proteins: list[Protein]) -> None:
    batch = ProteinBatch.collate(proteins)
    moved = batch.to("cpu")
    assert torch.equal(moved.coords.nan_to_num(), batch.coords.nan_to_num())
    sub = batch.select([2, 0])
    assert sub.ids == ["c", "a"] and sub.lengths.tolist() == [7, 5] and sub.max_length == 7
    assert torch.equal(sub.residue_type, torch.cat([batch.residue_type[7:], batch.residue_type[:5]]))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_to_cuda(proteins: list[Protein]) -> None:
    batch = ProteinBatch.collate(proteins).pin_memory().to("cuda", non_blocking=True)
    assert batch.mask.device.type == "cuda" and batch.batch.device.type == "cuda"


def test_collate_empty_raises() -> None:
    with pytest.raises(ValueError, match="no proteins"):
        ProteinBatch.collate([])
