"""The one-way import DAG of DESIGN.md holds in the source: no package imports upwards or sideways."""

from __future__ import annotations

import ast

import pytest
from workspace import ALLOWED_INTERNAL, IMPORT_NAMES, PACKAGES_DIR, declared_internal

MODULE_TO_DIST = {v: k for k, v in IMPORT_NAMES.items()}


def _imported_internal(dist: str) -> dict[str, set[str]]:
    """Map each of our packages imported by ``dist``'s sources to the files that import it."""
    src = PACKAGES_DIR / dist / "src" / IMPORT_NAMES[dist]
    found: dict[str, set[str]] = {}
    for path in src.rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top in MODULE_TO_DIST and MODULE_TO_DIST[top] != dist:
                    found.setdefault(MODULE_TO_DIST[top], set()).add(str(path.relative_to(PACKAGES_DIR)))
    return found


@pytest.mark.parametrize("dist", sorted(IMPORT_NAMES))
def test_imports_follow_the_dag(dist: str) -> None:
    imported = _imported_internal(dist)
    illegal = {k: v for k, v in imported.items() if k not in ALLOWED_INTERNAL[dist]}
    assert not illegal, f"{dist} imports packages above it in the DAG: {illegal}"
    undeclared = set(imported) - declared_internal(dist)
    assert not undeclared, f"{dist} imports {sorted(undeclared)} without declaring them in its pyproject.toml"


def test_declared_internal_dependencies_follow_the_dag() -> None:
    for dist in IMPORT_NAMES:
        assert declared_internal(dist) <= ALLOWED_INTERNAL[dist], dist
