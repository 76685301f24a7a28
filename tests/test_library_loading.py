"""Issue 12: a run directory of the real apps loads with the packages alone, in one call, and reproduces the apps.

Tiny runs of ``apps/finetune.py`` (the ESM2 Function Caller head on CAFA-like GO data; a GearNet on real enzyme
structures), ``apps/pretrain.py`` (GearNet residue-type prediction) and ``apps/align.py`` (ProtCLIP on Swiss-Prot
pairs) are loaded in a fresh interpreter that imports only the packages (``apps/`` is not on its path:
``engine`` cannot be imported there) with ``protdata.pretrained.load_pretrained(run_dir)``. The task models'
``predict`` equals what ``apps/predict.py`` wrote (every label, no propagation) within 1e-6, and the encoders'
protein features equal what ``apps/embed.py`` wrote within 1e-6 — the independent truth is the apps' own output
files, produced in other processes.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open

ROOT = Path(__file__).resolve().parents[1]
APPS = ROOT / "apps"
if str(APPS) not in sys.path:
    sys.path.insert(0, str(APPS))

import align  # noqa: E402
import pretrain  # noqa: E402
from test_align_app import TINY as ALIGN_TINY  # noqa: E402
from test_align_app import env, minilm_dir  # noqa: E402, F401  (fixtures: tiny ESM-2, MiniLM, Swiss-Prot)
from test_predict_app import EC_FILES, SPLITS, TINY_ESM, _finetune  # noqa: E402

from protdata.testing import shared_data  # noqa: E402

pytestmark = pytest.mark.slow
TOL = 1e-6

#: Run in a fresh interpreter from an empty directory: the packages only (no apps/, no tests/ on sys.path).
LIBRARY_SCRIPT = textwrap.dedent(
    """
    import importlib.util, json, sys
    import numpy as np, torch
    assert importlib.util.find_spec("engine") is None, "apps/engine must not be importable here"
    from protdata import ProteinBatch, read_fasta
    from protdata.io import load_many
    from protdata.pretrained import load_pretrained

    jobs = json.loads(open(sys.argv[1]).read())
    out = {}
    for name, job in jobs.items():
        model = load_pretrained(job["model"])
        if job["inputs_kind"] == "fasta":
            proteins = list(read_fasta(job["inputs"]))
        else:
            proteins = load_many(job["inputs"]).proteins
        ids = [p.id for p in proteins]
        if job["what"] == "predict":
            scores = model.predict(proteins)
            out[name] = {"ids": ids, "labels": model.labels, "scores": scores.tolist(), "type": type(model).__name__}
        else:
            encoder = model.protein_encoder if job.get("part") == "protein_encoder" else model
            with torch.no_grad():
                rows = [encoder(ProteinBatch.collate([p])).protein[0].double().numpy() for p in proteins]
            out[name] = {"ids": ids, "embeddings": np.stack(rows).tolist(), "type": type(model).__name__}
    print(json.dumps(out))
    """
)


def _library(jobs: dict, tmp: Path) -> dict:
    """``LIBRARY_SCRIPT`` on ``jobs`` in a fresh interpreter without apps/ on its path."""
    work = tmp / "library"
    work.mkdir()
    (work / "jobs.json").write_text(json.dumps(jobs))
    (work / "run.py").write_text(LIBRARY_SCRIPT)
    environ = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, str(work / "run.py"), str(work / "jobs.json")],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=600,
        env={**environ, "PYTHONWARNINGS": "ignore", "HF_HUB_OFFLINE": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _app(script: str, *args: str) -> None:
    proc = subprocess.run(
        [sys.executable, str(APPS / script), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]


def _predictions(path: Path) -> dict[tuple[str, str], float]:
    with path.open() as f:
        return {(r["protein"], r["label"]): float(r["score"]) for r in csv.DictReader(f, delimiter="\t")}


def _embeddings(path: Path) -> dict[str, np.ndarray]:
    with safe_open(str(path), framework="np") as f:
        ids = json.loads(f.metadata()["protein_ids"])
        return dict(zip(ids, f.get_tensor("protein").astype(np.float64)))


@pytest.fixture(scope="module")
def structures(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("structures")
    for parts in EC_FILES:
        shutil.copy(shared_data(*parts), folder / parts[-1])
    return folder


@pytest.fixture(scope="module")
def runs(
    tmp_path_factory: pytest.TempPathFactory, structures: Path, request: pytest.FixtureRequest
) -> dict[str, Path]:
    """The four tiny runs (their exported model directories)."""
    request.getfixturevalue("env")  # the align preset's tiny ESM-2, MiniLM and Swiss-Prot (test_align_app)
    go = tmp_path_factory.mktemp("go")
    caller = _finetune(
        go,
        f"""
name: go-caller
encoder: {{type: esm2, architecture: {TINY_ESM}}}
head: {{type: function_caller, unfreeze_last_k_layers: 1}}
data:
  labels: {{type: cafa_terms, terms: {shared_data("function", "cafa_like_terms.tsv")}, aspect: MFO, propagate: false}}
  sequences: [{shared_data("function", "cafa_like_sequences.fasta")}]
  splits: {{valid_fraction: 0.2}}
  batch_size: 8
optimizer: {{type: adamw, lr: 1.0e-2}}
train: {{max_steps: 2, log_every: 1, num_threads: 1}}
""",
    )
    ec = tmp_path_factory.mktemp("ec")
    for name, ids in SPLITS.items():
        (ec / f"{name}.txt").write_text("\n".join(ids) + "\n")
    files = ", ".join(str(structures / p[-1]) for p in EC_FILES)
    gearnet = _finetune(
        ec,
        f"""
name: ec-gearnet
encoder: {{type: gearnet, hidden_dims: [16, 16]}}
head: {{type: function_caller, problem: multi_label, unfreeze_last_k_layers: null}}
data:
  labels: {{type: nrpdb_ec, folder: {shared_data("ec_go_benchmark", "deepfri")}}}
  structures: [{files}]
  splits: {{train: {ec}/train.txt, valid: {ec}/valid.txt, test: {ec}/test.txt}}
  batch_size: 2
optimizer: {{type: adam, lr: 1.0e-2}}
train: {{max_steps: 3, log_every: 1, num_threads: 1}}
""",
    )
    out = tmp_path_factory.mktemp("pretrain")
    assert (
        pretrain.main(
            [
                "train.max_steps=3",
                "train.num_threads=1",
                "encoder.hidden_dims=[16,16]",
                "data.batch_size=4",
                f"output_dir={out / 'run'}",
                "--no-progress",
            ]
        )
        == 0
    )
    aligned = tmp_path_factory.mktemp("align") / "run"
    few = ["train.epochs=null", "train.max_steps=2", "data.batch_size=4", "model.weights.local_contrast=0"]
    assert align.main([*ALIGN_TINY, *few, f"output_dir={aligned}", "--no-progress"]) == 0
    return {"caller": caller, "gearnet": gearnet, "pretrain": out / "run", "align": aligned}


def test_exports_load_with_the_packages_alone_and_reproduce_the_apps(
    runs: dict[str, Path], structures: Path, tmp_path: Path
) -> None:
    fasta = shared_data("function", "cafa_like_sequences.fasta")
    from protdata import read_fasta

    # ESM-2 stops on proteins past its window (on_long: error; the apps skip them): short ones only
    short = tmp_path / "short.fasta"
    records = [p for p in read_fasta(fasta) if len(p) <= 400][:24]
    short.write_text("".join(f">{p.id}\n{p.sequence}\n" for p in records))
    # the apps' own outputs, each in its own process
    _app("predict.py", "-m", str(runs["caller"]), "-i", str(short), "-o", str(tmp_path / "caller.tsv"),
         "-k", "0", "--no-propagate")  # fmt: skip
    _app("predict.py", "-m", str(runs["gearnet"]), "-i", str(structures), "-o", str(tmp_path / "gearnet.tsv"),
         "-k", "0")  # fmt: skip
    embed = ["embed.py", "--device", "cpu", "pooling=readout"]
    _app(
        *embed,
        f"export={runs['pretrain']}",
        "-i",
        str(structures),
        "-o",
        str(tmp_path / "pretrain.safetensors"),
    )
    _app(*embed, f"export={runs['align']}", "-i", str(short), "-o", str(tmp_path / "align.safetensors"))

    jobs = {
        "caller": {
            "model": str(runs["caller"]),
            "what": "predict",
            "inputs_kind": "fasta",
            "inputs": str(short),
        },
        "gearnet": {
            "model": str(runs["gearnet"]),
            "what": "predict",
            "inputs_kind": "structures",
            "inputs": [str(structures)],
        },
        "pretrain": {
            "model": str(runs["pretrain"]),
            "what": "embed",
            "inputs_kind": "structures",
            "inputs": [str(structures)],
        },
        "align": {
            "model": str(runs["align"]),
            "what": "embed",
            "part": "protein_encoder",
            "inputs_kind": "fasta",
            "inputs": str(short),
        },
    }
    got = _library(jobs, tmp_path)
    assert got["caller"]["type"] == got["gearnet"]["type"] == "TaskModel"
    assert got["pretrain"]["type"] == "GearNet" and got["align"]["type"] == "ProtCLIP"

    for name in ("caller", "gearnet"):
        app = _predictions(tmp_path / f"{name}.tsv")
        lib = got[name]
        library = {
            (pid, label): score
            for pid, row in zip(lib["ids"], lib["scores"])
            for label, score in zip(lib["labels"], row)
        }
        assert app.keys() == library.keys() and len(app) >= 100, name
        diff = max(abs(app[k] - library[k]) for k in app)
        assert diff <= TOL, (name, diff)
        spread = np.std(list(app.values()))
        assert spread > 1e-3, (name, spread)  # the scores differ between labels: the comparison can fail

    for name in ("pretrain", "align"):
        app = _embeddings(tmp_path / f"{name}.safetensors")
        lib = dict(zip(got[name]["ids"], np.asarray(got[name]["embeddings"])))
        assert app.keys() == lib.keys() and len(app) >= 5, name
        diff = max(float(np.abs(app[k] - lib[k]).max()) for k in app)
        assert diff <= TOL, (name, diff)
