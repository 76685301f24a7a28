"""Cross-package tests: make ``tests/workspace.py`` and prottasks' test helpers (``go_obo_text``) importable."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.append(str(Path(__file__).resolve().parents[1] / "packages" / "prottasks" / "tests"))  # go_obo_text
