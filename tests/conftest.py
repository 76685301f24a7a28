"""Cross-package tests: make ``tests/workspace.py`` and prottasks' test helpers (``go_obo_text``) importable; the
fixtures several test files share."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.append(str(Path(__file__).resolve().parents[1] / "packages" / "prottasks" / "tests"))  # go_obo_text


@pytest.fixture(scope="session")
def esmc_hf_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    """A random transformers ``EsmcForMaskedLM`` (2 blocks × 32, 4 heads, non-trivial norms) and the directory
    ``save_pretrained`` wrote (``config.json`` ``model_type: esmc`` + ``model.safetensors``): the ESM C weights of
    the app tests (tests/test_esmc_stack.py, tests/test_esmc_apps.py)."""
    import torch
    import transformers

    config = transformers.EsmcConfig(
        vocab_size=64, hidden_size=32, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4
    )
    saved = torch.random.get_rng_state()
    torch.manual_seed(7)
    hf = transformers.EsmcForMaskedLM(config).eval()
    with torch.no_grad():
        for name, p in hf.named_parameters():
            if "norm" in name:
                p.add_(0.2 * torch.randn_like(p))
    torch.random.set_rng_state(saved)
    directory = tmp_path_factory.mktemp("esmc_hf")
    hf.save_pretrained(directory)
    return hf, directory
