"""Each package installs into a fresh virtual environment with only its declared dependencies (and our internal
packages it declares), and then every one of its modules imports.

Internal dependencies are installed from the checkout, never from PyPI. An unrelated project called ``protdata``
exists there, so every distribution is named ``protstack-<folder>`` (import names stay short): a dependency that is
not installed from the checkout then fails to resolve instead of silently pulling in somebody else's package.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from workspace import (
    DIST_PREFIX,
    FORBIDDEN,
    IMPORT_NAMES,
    PACKAGES_DIR,
    dist_name,
    internal_closure,
    pyproject,
)

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
ours = ("protdata", "protenc_seq", "protenc_struct", "protfusion", "protalign", "prottasks")
modules = {n: getattr(m, "__file__", None) or "" for n, m in list(sys.modules.items()) if n.split(".")[0] in ours}
print(json.dumps({"file": pkg.__file__, "failed": failed, "modules": modules}))
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
    # non-editable, like a user's `pip install packages/<name>`; --no-sources: ignore the workspace's
    # `[tool.uv.sources]`, which would otherwise install internal dependencies editable from the checkout
    _run([uv_bin, "pip", "install", "--quiet", "--no-sources", "--python", str(python), *local])
    listed = json.loads(_run([uv_bin, "pip", "list", "--python", str(python), "--format", "json"]).stdout)
    installed = {row["name"].lower().replace("_", "-") for row in listed}
    leaked = installed & FORBIDDEN[dist]
    assert not leaked, f"{dist} pulls in {sorted(leaked)}"
    others = {dist_name(name) for name in set(IMPORT_NAMES) - set(internal_closure(dist))}
    assert dist_name(dist) in installed, f"{dist_name(dist)} is not what packages/{dist} installs"
    assert not installed & others, (
        f"{dist} installs undeclared internal packages {sorted(installed & others)}"
    )
    report = json.loads(_run([str(python), "-c", IMPORT_ALL, IMPORT_NAMES[dist]], cwd=tmp_path).stdout)
    assert str(venv) in report["file"], f"imported {report['file']} instead of the fresh install"
    outside = {m: f for m, f in report["modules"].items() if str(venv) not in f}
    assert not outside, f"internal dependencies imported from outside the fresh venv: {outside}"
    assert not report["failed"], (
        f"modules of {dist} fail to import with only its declared deps: {report['failed']}"
    )


@pytest.mark.parametrize("dist", sorted(IMPORT_NAMES))
def test_distribution_names_are_prefixed_and_dependencies_use_them(dist: str) -> None:
    """Every distribution and every internal dependency carries the ``protstack-`` prefix (no bare ``protdata``)."""
    project = pyproject(dist)["project"]
    assert project["name"] == dist_name(dist)
    bare = {f'"{name}"' for name in IMPORT_NAMES} | set(IMPORT_NAMES)
    for dep in project["dependencies"]:
        name = dep.split(";")[0].split("[")[0].split("=")[0].split(">")[0].split("<")[0].strip()
        assert name not in bare, f"packages/{dist} depends on the bare name {name!r}; use {DIST_PREFIX}{name}"
