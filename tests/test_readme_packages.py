"""Every ```python block of the root README runs as written — in order, in one interpreter, the repository root as
cwd — in a fresh virtual environment holding only the six packages, installed non-editable from ``packages/*``
(what a reader gets from ``pip install packages/...``): no ``apps/``, no development dependencies."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from readme_blocks import README, check_report, python_blocks, run_readme
from test_package_isolation import _run, uv
from workspace import IMPORT_NAMES, PACKAGES_DIR, dist_name


@pytest.mark.slow
def test_readme_python_blocks_run_with_only_the_packages(tmp_path: Path) -> None:
    blocks = python_blocks(README.read_text())
    assert blocks, "the README has no Python example"
    uv_bin = uv.find_uv_bin()
    venv = tmp_path / "venv"
    _run([uv_bin, "venv", "--quiet", "--python", sys.executable, str(venv)])
    python = venv / "bin" / "python"
    # --no-sources: the packages' [tool.uv.sources] would install their internal dependencies editable from the
    # checkout; a reader's `pip install packages/...` gets copies, and so does this venv
    local = [str(PACKAGES_DIR / d) for d in IMPORT_NAMES]
    _run([uv_bin, "pip", "install", "--quiet", "--no-sources", "--python", str(python), *local])
    listed = json.loads(_run([uv_bin, "pip", "list", "--python", str(python), "--format", "json"]).stdout)
    installed = {row["name"].lower().replace("_", "-") for row in listed}
    assert {dist_name(d) for d in IMPORT_NAMES} <= installed
    assert not installed & {"pytest", "ruff", "deepspeed"}, (
        "development / app dependencies leaked into the venv"
    )

    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    report = run_readme(python, env=env)
    imported = report["package_files"]
    assert {"protdata", "protfusion", "prottasks"} <= set(imported), imported
    outside = {name: path for name, path in imported.items() if not path.startswith(str(venv))}
    assert not outside, f"imported from outside the fresh venv: {outside}; sys.path {report['sys_path']}"
    check_report(report, blocks=blocks)
