"""The root README's Python example runs as written and gives the shapes it claims."""

from __future__ import annotations

import re
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_readme_python_example_runs(monkeypatch) -> None:
    blocks = _python_blocks((ROOT / "README.md").read_text())
    assert blocks, "the README has no Python example"
    monkeypatch.chdir(ROOT)  # the example reads a shipped demo structure by a relative path
    torch.manual_seed(0)
    namespace: dict[str, object] = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    out = namespace["out"]
    proteins = namespace["proteins"]
    length = len(proteins[0])
    assert tuple(out.residue.shape) == (1, length, 64 + 2 * 64)  # ESM-2 64 ‖ GearNet concat 2 × 64
    assert tuple(out.protein.shape) == (1, 192)
    assert bool(out.mask.all()) and torch.isfinite(out.residue).all()
