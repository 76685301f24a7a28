"""Every app answers ``--help`` and a config error without importing torch, torch_geometric or DeepSpeed (issue
12: both must answer in < 3 s, and torch alone takes about that long to import). The timing itself is
benchmarks/bench_startup.py; here the truth is Python's own import log (``-X importtime``) of a real run."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "torch_geometric", "deepspeed")
#: app -> the arguments of a config error (an unknown key, over the app's default config or a preset)
BAD_CONFIG = {
    "align": ["bogus_key=1"],
    "embed": ["bogus_key=1"],
    "finetune": ["--config", "apps/configs/finetune/function_caller/go_bp.yaml", "bogus_key=1"],
    "predict": ["bogus_key=1"],
    "preprocess": ["bogus_key=1"],
    "pretrain": ["bogus_key=1"],
    "score": ["bogus_key=1"],
    "semantic_similarity": ["bogus_key=1"],
}


def run_app(app: str, args: list[str]) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run ``apps/<app>.py args`` with ``-X importtime``; the result and the top-level modules it imported."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", str(ROOT / "apps" / f"{app}.py"), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=120,
    )
    imported = {m.split(".")[0] for m in re.findall(r"^import time:.*\|\s+(\S+)$", result.stderr, re.M)}
    return result, imported


def test_every_app_is_covered() -> None:
    assert sorted(BAD_CONFIG) == sorted(p.stem for p in (ROOT / "apps").glob("*.py"))


@pytest.mark.slow
@pytest.mark.parametrize("app", sorted(BAD_CONFIG))
def test_help_imports_no_heavy_module(app: str) -> None:
    result, imported = run_app(app, ["--help"])
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("usage:")
    assert "pydantic" in imported or "argparse" in imported  # the import log was read
    assert not imported & set(HEAVY), f"apps/{app}.py --help imports {sorted(imported & set(HEAVY))}"


@pytest.mark.slow
@pytest.mark.parametrize("app", sorted(BAD_CONFIG))
def test_config_error_names_the_key_without_heavy_imports(app: str) -> None:
    result, imported = run_app(app, BAD_CONFIG[app])
    errors = [line for line in result.stderr.splitlines() if not line.startswith("import time:")]
    assert result.returncode == 2, "\n".join(errors[-20:])
    assert len(errors) == 1 and errors[0].startswith("error: "), errors[-20:]
    assert "bogus_key: unknown key" in errors[0]
    assert not imported & set(HEAVY), f"apps/{app}.py's config error imports {sorted(imported & set(HEAVY))}"
