"""Facts about the workspace that cross-package tests check: packages, their internal dependencies, the DAG."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES_DIR = ROOT / "packages"

#: package folder (``packages/<folder>``) -> import name. Tests key everything by folder name.
IMPORT_NAMES: dict[str, str] = {
    "protdata": "protdata",
    "protenc-seq": "protenc_seq",
    "protenc-struct": "protenc_struct",
    "protfusion": "protfusion",
    "protalign": "protalign",
    "prottasks": "prottasks",
}

#: The one-way import DAG of DESIGN.md: which of our packages each package may import.
ALLOWED_INTERNAL: dict[str, set[str]] = {
    "protdata": set(),
    "protenc-seq": {"protdata"},
    "protenc-struct": {"protdata"},
    "protfusion": {"protdata", "protenc-seq", "protenc-struct"},
    "protalign": {"protdata"},
    "prottasks": {"protdata"},
}

#: Heavy stacks a package must not pull in unless it declares them (checked in a fresh venv).
FORBIDDEN: dict[str, set[str]] = {
    "protdata": {"transformers", "deepspeed", "fair-esm", "torch-geometric"},
    "protenc-seq": {"transformers", "deepspeed", "fair-esm", "torch-geometric"},
    "protenc-struct": {"transformers", "deepspeed", "fair-esm"},
    "protfusion": {"transformers", "deepspeed", "fair-esm"},
    "protalign": {"deepspeed", "fair-esm", "torch-geometric"},
    "prottasks": {"transformers", "deepspeed", "fair-esm", "torch-geometric"},
}


#: Distribution names on an index are ours alone: an unrelated ``protdata`` (proteomics) exists on PyPI, so every
#: distribution carries the ``protstack-`` prefix while folders and import names stay short.
DIST_PREFIX = "protstack-"


def dist_name(folder: str) -> str:
    """The distribution name of ``packages/<folder>`` (``protdata`` -> ``protstack-protdata``)."""
    return DIST_PREFIX + folder


def pyproject(dist: str) -> dict:
    return tomllib.loads((PACKAGES_DIR / dist / "pyproject.toml").read_text())


def declared_internal(dist: str) -> set[str]:
    """Our packages (folder names) that ``packages/<dist>`` declares as dependencies."""
    deps = pyproject(dist)["project"]["dependencies"]
    names = {d.split(";")[0].split("[")[0].split("=")[0].split(">")[0].split("<")[0].strip() for d in deps}
    by_dist = {dist_name(folder): folder for folder in IMPORT_NAMES}
    return {by_dist[name] for name in names if name in by_dist}


def internal_closure(dist: str) -> list[str]:
    """``dist`` and every internal package it depends on, transitively (dependencies first)."""
    seen: list[str] = []

    def visit(name: str) -> None:
        for dep in sorted(declared_internal(name)):
            visit(dep)
        if name not in seen:
            seen.append(name)

    visit(dist)
    return seen
