"""Shared fixtures: real structures from ``../shared/data`` (via ``protdata.load_chains``) and the golden file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from protdata import Protein, ProteinBatch, load_chains
from protdata.errors import ProtdataError
from protdata.testing import shared_data

STRUCTURE_SUFFIXES = (".pdb", ".pdb.gz", ".cif", ".cif.gz", ".bcif")
GOLDEN_DOMAINS = ("d1asha_", "d1b0ba_", "d1cg5a_")


def _structure_files(folder: Path) -> list[Path]:
    files = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        # SCOPe domain files have no extension (d1asha_); everything else is named by format.
        if path.name.endswith(STRUCTURE_SUFFIXES) or (
            path.parent.name == "scop_globins" and "." not in path.name
        ):
            files.append(path)
    return files


def _load_all(folders: list[Path]) -> list[Protein]:
    proteins = []
    for folder in folders:
        for path in _structure_files(folder):
            try:
                proteins.extend(load_chains(path))
            except ProtdataError:
                continue  # files without a protein chain (4gxy: DNA only; a hydrogen-only edge case)
    return proteins


@pytest.fixture(scope="session")
def real_proteins() -> list[Protein]:
    """Every protein chain of ``shared/data/structures`` and ``shared/data/foldseek/structures``."""
    proteins = _load_all([shared_data("structures"), shared_data("foldseek", "structures")])
    assert len(proteins) > 100
    return proteins


@pytest.fixture(scope="session")
def globins() -> list[Protein]:
    """The 26 SCOPe globin domains (one chain each)."""
    folder = shared_data("structures", "scop_globins")
    return [p for path in sorted(folder.glob("d*")) for p in load_chains(path)]


@pytest.fixture(scope="session")
def golden() -> dict[str, torch.Tensor]:
    """TorchDrug 0.2.1's GearNet on three globin domains (``shared/data/golden/gearnet_torchdrug.*``)."""
    from safetensors.torch import load_file

    return load_file(shared_data("golden", "gearnet_torchdrug.safetensors"))


@pytest.fixture(scope="session")
def golden_proteins() -> list[Protein]:
    folder = shared_data("structures", "scop_globins")
    return [load_chains(folder / name)[0] for name in GOLDEN_DOMAINS]


@pytest.fixture(scope="session")
def helpers():
    """The helper functions below, for tests (conftest is not importable under ``--import-mode=importlib``)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        make_complex=make_complex,
        random_rotation=random_rotation,
        transformed=transformed,
        with_dtype=with_dtype,
    )


def make_complex(chains: list[Protein], id: str = "complex") -> Protein:
    """One multi-chain ``Protein`` from single-chain proteins (concatenated arrays, ``chain_index`` per chain)."""
    return Protein(
        id=id,
        sequence="".join(p.sequence for p in chains),
        coords=np.concatenate([p.coords for p in chains]),
        atom_mask=np.concatenate([p.atom_mask for p in chains]),
        residue_number=np.concatenate([p.residue_number for p in chains]),
        chain_index=np.concatenate([np.full(len(p), i, dtype=np.int16) for i, p in enumerate(chains)]),
        chain_ids=tuple(p.chain_ids[0] for p in chains),
    )


def random_rotation(seed: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """A uniformly random proper rotation ``(3, 3)`` (QR of a Gaussian matrix, sign-fixed, det +1)."""
    g = torch.Generator().manual_seed(seed)
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=g, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r))
    if torch.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q.to(dtype)


def transformed(batch: ProteinBatch, rotation: torch.Tensor, translation: torch.Tensor) -> ProteinBatch:
    """``batch`` with every coordinate mapped to ``x R^T + t`` (in the rotation's dtype)."""
    coords = batch.coords.to(rotation.dtype) @ rotation.T + translation
    return _with_coords(batch, coords)


def with_dtype(batch: ProteinBatch, dtype: torch.dtype) -> ProteinBatch:
    return _with_coords(batch, batch.coords.to(dtype))


def _with_coords(batch: ProteinBatch, coords: torch.Tensor) -> ProteinBatch:
    from dataclasses import replace

    return replace(batch, coords=coords)
