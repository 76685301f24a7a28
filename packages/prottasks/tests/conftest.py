"""Shared fixtures: real structures from ``../shared/data`` (via ``protdata.load_chains``), the Gene Ontology
release of the shared data (read once per session), and the tiny test encoders (``prottasks_tiny``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from protdata import Protein, ProteinBatch, load_chains
from protdata.testing import shared_data

sys.path.insert(0, str(Path(__file__).parent))  # prottasks_tiny

GLOBINS = ("d1asha_", "d1b0ba_", "d1cg5a_", "d1mbaa_")


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny models on a shared 2-core machine: one intra-op thread is ~100x faster than two contended ones."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def globins() -> list[Protein]:
    """Four SCOPe globin domains (141-153 residues)."""
    folder = shared_data("structures", "scop_globins")
    return [p for name in GLOBINS for p in load_chains(folder / name, format="pdb")]


@pytest.fixture(scope="session")
def cropped_globins(globins: list[Protein]) -> list[Protein]:
    """The globins cut to their first 60 residues (the seeds crop pretraining proteins to 50-150)."""
    return [p.select(slice(0, 60)) for p in globins]


@pytest.fixture()
def batch(cropped_globins: list[Protein]) -> ProteinBatch:
    return ProteinBatch.collate(cropped_globins)


@pytest.fixture(scope="session")
def go_obo() -> Path:
    return shared_data("go", "go-basic_2021-12-15.obo")


@pytest.fixture(scope="session")
def ontology(go_obo: Path):
    from prottasks.go import GeneOntology

    return GeneOntology.from_obo(go_obo)
