"""Run the root README's ```python blocks as a reader would, and check what they print and build.

:data:`DRIVER` runs in a fresh interpreter (``python -c DRIVER README.md``, the repository root as cwd): it executes
every block in order in one namespace and prints one JSON report — each block's printed lines and a snapshot of
the names it bound (tensor / array shapes, encoder outputs, protein lengths, saved directories' files), the files
protstack's packages were imported from and any module of ``apps/`` that got imported. :func:`check_report` asserts on it.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
#: Foldseek's 3Di alphabet (20 states, written with the amino-acid letters).
ALPHABET_3DI = set("ACDEFGHIKLMNPQRSTVWY")

DRIVER = r"""
import contextlib, io, json, re, sys
from pathlib import Path

blocks = re.findall(r"```python\n(.*?)```", Path(sys.argv[1]).read_text(), flags=re.S)


def describe(value):
    shape = getattr(value, "shape", None)
    if shape is not None and not callable(shape):
        return {"shape": list(shape)}
    if type(value).__name__ == "EncoderOutput":
        return {"residue": list(value.residue.shape), "protein": list(value.protein.shape),
                "mask": list(value.mask.shape), "all_valid": bool(value.mask.all())}
    if isinstance(value, list) and value and all(type(v).__name__ == "Protein" for v in value):
        return {"protein_lengths": [len(v) for v in value]}
    if isinstance(value, Path) and value.is_dir():
        return {"files": sorted(p.name for p in value.iterdir()),
                "config": json.loads((value / "config.json").read_text()) if (value / "config.json").is_file()
                else None}
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return {"strings": value}
    return None


namespace = {"__name__": "__main__"}
report = {"blocks": []}
for number, block in enumerate(blocks, 1):
    before = dict(namespace)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(block, f"README.md python block {number}", "exec"), namespace)
    bound = {}
    for name, value in namespace.items():
        if name.startswith("__") or before.get(name) is value:
            continue
        described = describe(value)
        if described is not None:
            bound[name] = described
    report["blocks"].append({"printed": printed.getvalue().splitlines(), "bound": bound})
report["package_files"] = {
    name: module.__file__ for name, module in sys.modules.items()
    if name in ("protdata", "protenc_seq", "protenc_struct", "protfusion", "protalign", "prottasks")
}
report["sys_path"] = sys.path
report["apps_modules"] = sorted(m for m in sys.modules if m == "apps" or m.startswith(("apps.", "engine")))
print("README-REPORT " + json.dumps(report))
"""


def python_blocks(text: str) -> list[str]:
    """The ```python blocks of a Markdown text, in order."""
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def run_readme(python: str | Path, env: dict[str, str] | None = None) -> dict:
    """The driver's report for the root README, run by ``python`` with the repository root as cwd."""
    result = subprocess.run(
        [str(python), "-c", DRIVER, str(README)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"the README's python blocks fail:\n{result.stdout}\n{result.stderr}")
    lines = [line for line in result.stdout.splitlines() if line.startswith("README-REPORT ")]
    assert len(lines) == 1, f"no report from the driver:\n{result.stdout}\n{result.stderr}"
    return json.loads(lines[0].removeprefix("README-REPORT "))


def check_report(report: dict, *, blocks: Sequence[str]) -> None:
    """The values the README's blocks claim: shapes, 3Di letters, the saved directory, the reloaded labels."""
    assert len(report["blocks"]) == len(blocks) == 3, "update check_report for the README's new python blocks"
    assert not report["apps_modules"], f"the README's blocks import the apps: {report['apps_modules']}"

    # block 1 ("In Python"): 3Di of 1ahsA, a serial ESM-GearNet's output on it
    first = report["blocks"][0]
    (three_di,) = first["printed"]
    assert len(three_di) == 20 and set(three_di) <= ALPHABET_3DI, three_di
    (length,) = first["bound"]["proteins"]["protein_lengths"]  # 1ahsA has one chain
    out = first["bound"]["out"]
    assert out["residue"] == [1, length, 64 + 2 * 64]  # ESM-2 64 ‖ GearNet concat 2 × 64
    assert out["protein"] == [1, 192] and out["mask"] == [1, length] and out["all_valid"]

    # block 2 ("In Python", inputs): every demo structure read in order, one GearNet embedding per protein
    demo = sorted((ROOT / "apps" / "data" / "demo_structures").glob("*.pdb.gz"))  # one chain per file
    n = len(demo)
    assert report["blocks"][1]["printed"] == [
        f"{n} proteins from {n} files",
        f"{n} torch.Size([64])",
    ]  # 2 × 32

    # block 3 ("Use a trained model"): save, load back, predict on five demo structures
    second = report["blocks"][2]["bound"]
    labels = ["1.1.1.1", "2.7.11.1", "3.4.21.4"]
    assert second["ec_numbers"]["strings"] == labels
    assert second["scores"]["shape"] == [5, len(labels)]
    assert len(second["proteins"]["protein_lengths"]) == 5
    saved = second["saved"]
    assert saved["files"] == ["config.json", "model.safetensors"]
    config = saved["config"]
    assert config["type"] == "task" and config["config"]["labels"] == labels
    assert config["config"]["head"]["num_labels"] == len(labels)  # "auto" resolved in the saved config
    assert config["config"]["encoder"]["type"] == "serial"
    assert report["blocks"][2]["printed"] == [f"(5, {len(labels)}) {labels}"]
