"""The root README's Python examples run as written, in order, in the development environment (fast check; the
same blocks in a fresh venv holding only the six packages: ``tests/test_readme_packages.py``)."""

from __future__ import annotations

import sys

from readme_blocks import README, check_report, python_blocks, run_readme


def test_readme_python_blocks_run_in_the_dev_environment() -> None:
    blocks = python_blocks(README.read_text())
    assert blocks, "the README has no Python example"
    check_report(run_readme(sys.executable), blocks=blocks)
