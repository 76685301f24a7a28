"""``apps/preprocess.py`` end to end on an AlphaFold-DB-style tar built from the shared AFDB models: one summary
line, skipped members counted on stderr and named in the manifest, ``--append``, one-line errors.

Truth: protdata.load_chains of the models the tar was built from; the bad members written into it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from protdata import load_chains
from protdata.dataset import open_dataset
from protdata.dataset.afdb_tar import write_afdb_style_tar
from protdata.testing import shared_data

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("chainsaw__AF-A0A1W2PQ64-F1-model_v4.pdb", "dpam__O05012.cif")


def run_app(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "apps" / "preprocess.py"), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=120,
    )


def test_preprocess_app_tar_and_append(tmp_path: Path) -> None:
    models = [shared_data("structures", "alphafold_db", m) for m in MODELS]
    tar = tmp_path / "proteome.tar"
    write_afdb_style_tar(tar, models, 10, bad_every=5)
    out = tmp_path / "ds"
    result = run_app("--input", str(tar), "--output", str(out), "--workers", "2", "chunk_members=3")
    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.splitlines()
    assert line.startswith("10 proteins, ") and "1 shards, 2 skipped" in line and "proteins/s" in line
    assert "skipped 2 members" in result.stderr
    ds = open_dataset(out)
    want = [load_chains(m)[0] for m in models]
    assert [p.sequence for p in ds] == [want[i % 2].sequence for i in range(10)]
    manifest = json.loads((out / "manifest.json").read_text())
    assert [s["member"] for s in manifest["skipped"]] == [
        "AF-BAD004001-F1-model_v4.cif.gz",
        "AF-BAD009002-F1-model_v4.pdb.gz",
    ]
    assert manifest["options"]["min_length"] == 1 and manifest["options"]["encode_3di"] is False

    extra = shared_data("foldseek", "structures", "1aki.cif")
    result = run_app("--input", str(extra), "--output", str(out), "--append")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("1 proteins, ")
    assert len(open_dataset(out)) == 11

    again = run_app("--input", str(extra), "--output", str(out), "--append")
    assert again.returncode == 2 and again.stderr.strip().startswith("error: ")
    assert "already in the dataset" in again.stderr
