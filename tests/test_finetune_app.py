"""apps/finetune.py end to end on the real nrPDB-EC files (a handful of chains, a few steps, CPU): validation metrics
logged and recomputed independently on the exported best model (Fmax by a brute-force CAFA loop and by
prottasks.metrics.fmax, AUPR by scikit-learn, BCE by torch), the best export is the checkpoint of the selected step
and holds what predict needs, an exact resume, and every kind of bad input as one ``error:`` line, exit status 2 and
nothing written."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

ROOT = Path(__file__).resolve().parents[1]
APPS = ROOT / "apps"
if str(APPS) not in sys.path:
    sys.path.insert(0, str(APPS))

import finetune  # noqa: E402
from engine.checkpoint import restricted_torch_load  # noqa: E402
from engine.finetuning import FinetuneConfig, build_task_model  # noqa: E402

from protdata import Protein, ProteinBatch  # noqa: E402
from protdata.testing import fasta_by_hand, shared_data  # noqa: E402
from prottasks.data import LabelTable  # noqa: E402
from prottasks.metrics import fmax as prottasks_fmax  # noqa: E402

TINY_ESM = "{num_layers: 2, embed_dim: 16, attention_heads: 2}"


def cafa_fmax(scores: np.ndarray, labels: np.ndarray) -> float:
    """Protein-centric Fmax (CAFA; Radivojac et al. 2013) by brute force over every distinct score: precision over
    proteins with a prediction >= t, recall over all proteins with a true label."""
    keep = labels.sum(1) > 0
    s, y = scores[keep], labels[keep].astype(bool)
    best = 0.0
    for t in np.unique(s):
        pred = s >= t
        has = pred.any(1)
        tp = (pred & y).sum(1)
        precision = (tp[has] / pred[has].sum(1)).mean()
        recall = (tp / y.sum(1)).mean()
        if precision + recall > 0:
            best = max(best, 2 * precision * recall / (precision + recall))
    return float(best)


@pytest.fixture(scope="module")
def ec_files() -> dict[str, Path]:
    folder = shared_data("ec_go_benchmark", "deepfri")
    return {"folder": folder, "fasta": folder / "nrPDB-EC_2020.04_test_sequences.fasta"}


@pytest.fixture(scope="module")
def ec_annotations(ec_files) -> tuple[list[str], dict[str, list[str]]]:
    with (ec_files["folder"] / "nrPDB-EC_2020.04_annot.tsv").open() as f:
        rows = list(csv.reader(f, delimiter="\t"))
    return rows[1], {r[0]: r[1].split(",") for r in rows[3:] if r}


def write_config(tmp: Path, ec_files, splits: dict[str, list[str]], **extra: str) -> Path:
    """A tiny EC fine-tune: random ESM-2 (2 × 16), the seed's multi-label head, validation every 3 steps."""
    for name, ids in splits.items():
        (tmp / f"{name}.txt").write_text("\n".join(ids) + "\n")
    text = f"""
name: ec-tiny
encoder:
  type: esm2
  architecture: {TINY_ESM}
head: {{type: multi_label, num_mlp_layer: 3}}
data:
  labels: {{type: nrpdb_ec, folder: {ec_files["folder"]}}}
  sequences: [{ec_files["fasta"]}]
  splits: {{train: {tmp}/train.txt, valid: {tmp}/valid.txt, test: {tmp}/test.txt}}
  transform: {{type: truncate, max_length: 550}}
  batch_size: 4
optimizer: {{type: adam, lr: 3.0e-3}}
evaluation: {{every_steps: 3}}
train: {{max_steps: 6, log_every: 1, checkpoint_every: 3, keep_checkpoints: 3, num_threads: 1}}
"""
    path = tmp / "ec.yaml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def ec_run(tmp_path_factory, ec_files, ec_annotations) -> dict:
    tmp = tmp_path_factory.mktemp("ec")
    _, annotations = ec_annotations
    chains = [c for c in fasta_by_hand(ec_files["fasta"]) if c in annotations]
    splits = {"train": chains[:16], "valid": chains[16:26], "test": chains[26:30]}
    config = write_config(tmp, ec_files, splits)
    out = tmp / "runs"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert finetune.main(["--config", str(config), f"output_root={out}", "--no-progress"]) == 0
    (run_dir,) = out.glob("ec-tiny-*")
    return {"dir": run_dir, "config": config, "splits": splits, "tmp": tmp, "stdout": printed.getvalue()}


def _records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_help_and_print_config(capsys: pytest.CaptureFixture[str], ec_run) -> None:
    with pytest.raises(SystemExit) as info:
        finetune.main(["--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert all(k in text for k in ("--config", "--resume", "--print-config", "KEY=VALUE", "presets"))
    assert finetune.main(["--config", str(ec_run["config"]), "--print-config", "optimizer.lr=5e-4"]) == 0
    printed = capsys.readouterr().out
    assert "lr: 0.0005" in printed and "plateau:" in printed and "nrpdb_ec" in printed


def test_validation_logged_and_best_model_exported(ec_run, ec_annotations) -> None:
    run_dir = ec_run["dir"]
    records = _records(run_dir)
    valid = [r for r in records if "valid_fmax" in r]
    assert [r["step"] for r in valid] == [3, 6]
    for r in valid:
        assert 0 < r["valid_fmax"] <= 1 and 0 < r["valid_auprc_micro"] <= 1 and "test_fmax" in r
    best = max(valid, key=lambda r: r["valid_fmax"])  # ties: the earlier step is kept
    exported = json.loads((run_dir / "best" / "config.json").read_text())
    assert (
        exported["selected"]["step"] == best["step"] and exported["selected"]["value"] == best["valid_fmax"]
    )
    assert exported["step"] == best["step"]
    # the final lines: every metric at the best step per split, then the selection with the test score there
    lines = ec_run["stdout"].strip().splitlines()
    assert lines[-1] == (
        f"best: valid_fmax {best['valid_fmax']:.4f} at step {best['step']}; test_fmax {best['test_fmax']:.4f} at "
        f"that step -> {run_dir / 'best'}/"
    )
    table = {
        line.split()[0]: line.split()[1:]
        for line in lines[lines.index(next(x for x in lines if x.startswith("metric "))) : -1]
    }
    assert table["metric"] == ["valid", "test"]
    assert table["fmax"] == [f"{best['valid_fmax']:.4f}", f"{best['test_fmax']:.4f}"]
    assert table["auprc_micro"][0] == f"{best['valid_auprc_micro']:.4f}"
    weights = load_file(str(run_dir / "best" / "model.safetensors"))
    with restricted_torch_load():
        states = torch.load(
            run_dir / "checkpoints" / f"step_{best['step']:07d}" / "mp_rank_00_model_states.pt"
        )
    assert weights.keys() == states["module"].keys()
    for k, v in states["module"].items():
        torch.testing.assert_close(weights[k], v, rtol=0, atol=0)
    # a protstack task model (encoder + head + labels + truncation) and what predict needs besides it
    assert exported["format"] == "protstack" and exported["type"] == "task"
    model_config, task = exported["config"], exported["task"]
    vocabulary, _ = ec_annotations
    assert model_config["labels"] == vocabulary and model_config["max_length"] == 550
    assert task["labels"] == vocabulary and task["kind"] == "multi_label" and task["label_kind"] == "ec"
    assert model_config["head"]["num_labels"] == 538 and model_config["encoder"]["type"] == "esm2"
    assert model_config["encoder"]["checkpoint"] is None  # the weights are in model.safetensors
    assert task["transform"] == {"type": "truncate", "max_length": 550, "random": False}
    last = json.loads((run_dir / "config.json").read_text())
    assert last["step"] == 6 and last["task"] == task and (run_dir / "model.safetensors").is_file()


#: Bound, in float32 spacings at the largest |logit|, on how far the app's float32 logits (batched, this CPU's
#: kernels) lie from float64 ones.
FLOAT32_ULPS = 16


def _rounding_spread(metric, scores: np.ndarray, labels: np.ndarray, delta: float, draws: int = 8) -> float:
    """How far ``metric`` moves when every score moves by up to ``delta`` (seeded draws): Fmax and AUPRC are step
    functions of the scores' order, and these scores lie closer together (down to 2e-9) than float32 resolves."""
    rng = np.random.default_rng(0)
    base = metric(scores, labels)
    moved = (metric(scores + rng.uniform(-delta, delta, scores.shape), labels) for _ in range(draws))
    return max(abs(m - base) for m in moved)


@pytest.mark.numerics
def test_logged_fmax_equals_an_independent_recomputation(ec_run, ec_files, ec_annotations) -> None:
    """Rebuild the best model from its config.json, score the validation chains one by one in float64, and
    recompute the metrics the app logged for that step, up to what float32 rounding of the app's logits can
    change (measured by moving the scores within that rounding)."""
    from sklearn.metrics import average_precision_score

    run_dir = ec_run["dir"]
    exported = json.loads((run_dir / "best" / "config.json").read_text())
    config = FinetuneConfig.model_validate(exported["run_config"])
    table = LabelTable(kind="multi_label", labels=exported["task"]["labels"], targets={})
    model = build_task_model(config, table)
    model.load_state_dict(load_file(str(run_dir / "best" / "model.safetensors")))
    model.double().eval()
    sequences = fasta_by_hand(ec_files["fasta"])
    vocabulary, annotations = ec_annotations
    ids = ec_run["splits"]["valid"]
    labels = np.zeros((len(ids), len(vocabulary)))
    for row, chain in enumerate(ids):
        labels[row, [vocabulary.index(ec) for ec in annotations[chain]]] = 1
    with torch.no_grad():
        logits = torch.stack(
            [
                model(ProteinBatch.collate([Protein.from_sequence(c, sequences[c][:550])])).output[0]
                for c in ids
            ]
        )
    scores = torch.sigmoid(logits).numpy()
    # sigmoid' <= 1/4: a logit off by FLOAT32_ULPS spacings moves its score by at most a quarter of that
    delta = FLOAT32_ULPS * float(np.spacing(np.float32(logits.abs().max()))) / 4

    def auprc(s: np.ndarray, y: np.ndarray) -> float:
        return float(average_precision_score(y.ravel(), s.ravel()))

    logged = next(r for r in _records(run_dir) if r.get("step") == exported["step"] and "valid_fmax" in r)
    fmax = prottasks_fmax(scores, labels)
    assert cafa_fmax(scores, labels) == pytest.approx(fmax, abs=1e-12)  # both float64, same scores
    tol = 2 * _rounding_spread(prottasks_fmax, scores, labels, delta) + 1e-9
    assert logged["valid_fmax"] == pytest.approx(fmax, abs=tol)
    tol = 2 * _rounding_spread(auprc, scores, labels, delta) + 1e-9
    assert logged["valid_auprc_micro"] == pytest.approx(auprc(scores, labels), abs=tol)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.from_numpy(labels))
    assert logged["valid_loss"] == pytest.approx(float(bce), rel=1e-5)


def test_resume_continues_exactly(ec_run, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    copy = tmp_path / "run"
    shutil.copytree(ec_run["dir"], copy)
    shutil.rmtree(copy / "checkpoints" / "step_0000006")
    (copy / "checkpoints" / "latest").write_text("step_0000003\n")
    assert finetune.main(["--resume", str(copy), "--no-progress"]) == 0
    out = capsys.readouterr()
    assert "done: steps 4-6 of 6" in out.out and "resuming from" in out.err
    a, b = _records(ec_run["dir"]), _records(copy)
    assert [r["step"] for r in a] == [r["step"] for r in b]
    for x, y in zip(a, b):
        for key in ("loss", "lr", "valid_fmax", "valid_loss", "test_fmax", "best_valid_fmax"):
            if key in x:
                assert y[key] == pytest.approx(x[key], rel=1e-6), (x["step"], key)


def test_init_from_a_pretraining_export_loads_the_encoder(ec_run, tmp_path: Path) -> None:
    """``init_from`` = a pretraining export (the encoder as a protstack model, the objective's heads beside it), as
    the run directory or its ``model.safetensors``: its encoder tensors, and only those, start the task model; the
    head keeps its fresh initialisation."""
    from engine.pretraining import PretrainConfig, build_pretraining_model

    from prottasks.export import export_model
    from prottasks.objectives import pretrained_encoder

    torch.manual_seed(5)
    pretrained = build_pretraining_model(PretrainConfig(encoder={"type": "gearnet", "hidden_dims": [16, 16]}))
    export_model(
        pretrained, pretrained.state_dict(), tmp_path / "pretrain", {"app": "pretrain"}, pretrained_encoder
    )
    weights = tmp_path / "pretrain" / "model.safetensors"
    assert (tmp_path / "pretrain" / "objective.safetensors").is_file()
    for init_from in (weights, tmp_path / "pretrain"):
        args = finetune.build_parser().parse_intermixed_args(
            [
                "--config",
                str(ec_run["config"]),
                "encoder={type: gearnet, hidden_dims: [16, 16]}",
                f"init_from={init_from}",
            ]
        )
        checked = finetune.check_inputs(args)
        assert re.fullmatch(rf"loaded \d+ tensors from {weights}", checked.init_message), checked.init_message
    source = load_file(str(weights))
    for name, value in checked.model.encoder.state_dict().items():
        torch.testing.assert_close(value, source[name], rtol=0, atol=0)
    fresh = finetune.check_inputs(
        finetune.build_parser().parse_intermixed_args(
            ["--config", str(ec_run["config"]), "encoder={type: gearnet, hidden_dims: [16, 16]}"]
        )
    )
    head, fresh_head = checked.model.head.mlp, fresh.model.head.mlp
    for (name, a), b in zip(head.state_dict().items(), fresh_head.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)  # same seed, head untouched by init_from


# ------------------------------------------------------------------------------------------------ bad input
def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


def _bad(args: list[str], root: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """Run the app in-process on bad input: exit status 2, one ``error:`` line, nothing written under ``root``."""
    before = _snapshot(root)
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        finetune.main([*args, "--no-progress"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert _snapshot(root) == before, "a failed start wrote files"
    return err[0]


@pytest.fixture()
def bad_root(ec_run, tmp_path: Path) -> Path:
    """A directory with the run's config, an empty data folder and bad weight files; runs would go to runs/."""
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "README.txt").write_text("no structures")
    (tmp_path / "garbage.safetensors").write_bytes(os.urandom(300))
    torch.manual_seed(0)
    from protenc_seq import ESM2Config, ESM2Encoder

    wider = ESM2Encoder(ESM2Config(num_layers=2, embed_dim=24, attention_heads=2))
    save_file(
        {f"encoder.{k}": v.contiguous() for k, v in wider.state_dict().items()},
        str(tmp_path / "wider.safetensors"),
    )
    return tmp_path


CASES = [
    (["--config", "{root}/missing.yaml"], r"missing\.yaml: no such config file"),
    ([], r"--config: give a fine-tuning config file"),
    (["train.max_step=5"], r"train\.max_step: unknown key \(did you mean 'max_steps'\?\)"),
    (["optimizer.lr=fast"], r"optimizer\.lr: Input should be a valid number.*'fast'"),
    (["data.sequences=[{root}/missing.fasta]"], r"data\.sequences: .*missing\.fasta: no such file"),
    (
        ["encoder={{type: gearnet, hidden_dims: [8]}}", "data.structures=[{root}/empty]"],
        r"data\.structures: no structure files in .*empty \(1 non-structure files ignored\)",
    ),
    (["data.labels.folder={root}/nowhere"], r"data\.labels\.folder: .*nowhere: no such file or directory"),
    (["head.num_labels=10"], r"head\.num_labels: 10, but data\.labels \(.*\) has 538 labels"),
    (
        ["evaluation.metric=valid_accuracy"],
        r"evaluation\.metric: 'valid_accuracy' is not logged for a multi_label task",
    ),
    (
        ["encoder.checkpoint=${{PROTSTACK_UNSET_VAR}}"],
        r"encoder\.checkpoint: environment variable PROTSTACK_UNSET_VAR is not set",
    ),
    (["init_from={root}/missing.safetensors"], r"init_from: .*missing\.safetensors: no such weights file"),
    (
        ["init_from={root}/garbage.safetensors"],
        r"init_from: .*garbage\.safetensors: not a readable safetensors file",
    ),
    (
        ["init_from={root}/wider.safetensors"],
        r"init_from: .*wider\.safetensors: wrong-size weights: encoder\.model\.embed_tokens\.weight has shape "
        r"\(33, 24\) in the file but \(33, 16\) in the model",
    ),
    (
        ["init_from={root}/wider.safetensors", "init_target=encoder.structure"],
        r"init_target: the task model has no module 'encoder\.structure'",
    ),
]


@pytest.mark.parametrize(("args", "expected"), CASES, ids=[re.sub(r"\W+", "_", c[1])[:40] for c in CASES])
def test_bad_input_is_one_line_and_writes_nothing(
    args: list[str], expected: str, ec_run, bad_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = [] if args[:1] == ["--config"] or not args else ["--config", str(ec_run["config"])]
    if not args:
        config = []
    argv = [*config, *[a.format(root=bad_root) for a in args], f"output_root={bad_root}/runs"]
    line = _bad(argv, bad_root, capsys)
    assert re.search(expected, line), line


def test_bad_checkpoints_are_one_line_and_touch_nothing(
    ec_run, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    shutil.copytree(ec_run["dir"], run)
    step = run / "checkpoints" / "step_0000006"
    line = _bad(["--resume", str(run)], tmp_path, capsys)
    assert f"train.max_steps: {step} is at step 6 and the run ends at step 6" in line
    line = _bad(
        ["--resume", str(run), "train.max_steps=9", "encoder.architecture.embed_dim=32"], tmp_path, capsys
    )
    assert "wrong-size checkpoint" in line and str(step) in line
    states = step / "mp_rank_00_model_states.pt"
    data = bytearray(states.read_bytes())
    data[len(data) // 2] ^= 0xFF
    states.write_bytes(bytes(data))
    line = _bad(["--resume", str(run), "train.max_steps=9"], tmp_path, capsys)
    assert f"{states}: corrupted checkpoint file (sha256 differs from the manifest)" in line
    (step / "manifest.json").unlink()
    line = _bad(["--resume", str(run), "train.max_steps=9"], tmp_path, capsys)
    assert f"{step}: incomplete checkpoint" in line
    line = _bad(["--config", str(ec_run["config"]), f"output_dir={run}"], tmp_path, capsys)
    assert f"output_dir: {run} already holds a run with checkpoints" in line


@pytest.mark.slow
def test_bad_input_exit_status_of_the_real_process(ec_run, tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(APPS / "finetune.py"),
            "--config",
            str(ec_run["config"]),
            "head.dropout=2",
            f"output_root={tmp_path}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: {ec_run['config']} + 2 overrides: head.dropout: Input should be less than 1 (got 2)"
    ]
    assert not any(tmp_path.iterdir())
