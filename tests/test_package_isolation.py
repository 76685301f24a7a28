"""Each package installs into a fresh virtual environment with only its declared dependencies (and our internal
packages it declares), and then every one of its modules imports.

Internal dependencies are installed from the checkout, never from PyPI: an unrelated project called
``protdata`` exists there, so a bare ``pip install packages/protenc-seq`` must not be trusted to find ours.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from workspace import FORBIDDEN, IMPORT_NAMES, PACKAGES_DIR, internal_closure

uv = pytest.importorskip("uv", reason="the uv Python package (dev dependency) is needed to build venvs")

IMPORT_ALL = """
import importlib, json, pkgutil, sys
pkg = importlib.import_module(sys.argv[1])
failed = {}
for info in pkgutil.walk_packages(pkg.__path__, prefix=pkg.__name__ + "."):
    try:
        importlib.import_module(info.name)
    except Exception as exc:  # report every module that fails, not just the first
        failed[info.name] = f"{type(exc).__name__}: {exc}"
print(json.dumps({"file": pkg.__file__, "failed": failed}))
"""


def _run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env["UV_PYTHON_DOWNLOADS"] = "never"
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False, **kw)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}")
    return result


@pytest.mark.slow
@pytest.mark.parametrize("dist", sorted(IMPORT_NAMES))
def test_installs_alone_with_declared_dependencies(dist: str, tmp_path: Path) -> None:
    uv_bin = uv.find_uv_bin()
    venv = tmp_path / "venv"
    _run([uv_bin, "venv", "--quiet", "--python", sys.executable, str(venv)])
    python = venv / "bin" / "python"
    local = [str(PACKAGES_DIR / name) for name in internal_closure(dist)]
    # non-editable, like a user's `pip install packages/<name>`
    _run([uv_bin, "pip", "install", "--quiet", "--python", str(python), *local])
    listed = json.loads(_run([uv_bin, "pip", "list", "--python", str(python), "--format", "json"]).stdout)
    installed = {row["name"].lower().replace("_", "-") for row in listed}
    leaked = installed & FORBIDDEN[dist]
    assert not leaked, f"{dist} pulls in {sorted(leaked)}"
    others = set(IMPORT_NAMES) - set(internal_closure(dist))
    assert not installed & others, (
        f"{dist} installs undeclared internal packages {sorted(installed & others)}"
    )
    report = json.loads(_run([str(python), "-c", IMPORT_ALL, IMPORT_NAMES[dist]], cwd=tmp_path).stdout)
    assert str(venv) in report["file"], f"imported {report['file']} instead of the fresh install"
    assert not report["failed"], (
        f"modules of {dist} fail to import with only its declared deps: {report['failed']}"
    )
