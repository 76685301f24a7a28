"""Shared fixtures: offline Hugging Face, one torch thread, tiny BERT directories, Swiss-Prot records."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"  # text encoders load from local directories only
os.environ["TRANSFORMERS_OFFLINE"] = "1"
sys.path.insert(0, str(Path(__file__).parent))  # protalign_tiny

from protalign_tiny import make_tiny_bert

from protdata.protanno import ProtAnnoRecord, read_uniprot
from protdata.testing import shared_data


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny models on a shared 2-core machine: one intra-op thread avoids contention."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def swissprot_records() -> list[ProtAnnoRecord]:
    """The 100 real Swiss-Prot entries of the shared sample, as ProtAnno records (protdata's parser)."""
    return [e.to_record() for e in read_uniprot(shared_data("function", "uniprot_swissprot_sample.dat"))]


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory: pytest.TempPathFactory, swissprot_records: list[ProtAnnoRecord]) -> Path:
    """A random 1-layer BERT (hidden 32) whose vocabulary covers the Swiss-Prot texts."""
    return make_tiny_bert(tmp_path_factory.mktemp("tiny_bert"), [r.text for r in swissprot_records])
