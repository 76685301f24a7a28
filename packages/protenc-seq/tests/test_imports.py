"""The package's runtime code imports with its declared dependencies only (no fair-esm, no transformers)."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import importlib, importlib.abc, pkgutil, sys

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in {"esm", "transformers", "huggingface_hub", "scipy", "sklearn"}:
            raise ImportError("blocked: " + name)

sys.meta_path.insert(0, Block())
import protenc_seq
for module in pkgutil.walk_packages(protenc_seq.__path__, "protenc_seq."):
    importlib.import_module(module.name)
enc = protenc_seq.ESM2Encoder(protenc_seq.ESM2Config(num_layers=1, embed_dim=16, attention_heads=2))
print(protenc_seq.embed(enc, ["MKV"])[0].shape)
"""


def test_runtime_imports_without_references() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "torch.Size([16])"
