"""apps/predict.py on real files: its scores equal the Python API's (the model rebuilt in-process from the export's
config.json with the training-side builder, proteins read with protdata's own loaders, one forward pass) within
1e-5; GO scores are DAG-consistent and equal a brute-force max over each term's descendants in an independent
reading of the real OBO, with the OBO's names; EC names come from ProtST's table; bad files are skipped and counted;
bad input is one ``error:`` line, exit status 2, no output file."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[1]
APPS = ROOT / "apps"
if str(APPS) not in sys.path:
    sys.path.insert(0, str(APPS))

import finetune  # noqa: E402
import predict  # noqa: E402
from app_testing import corrupted_cafa, run_main  # noqa: E402
from engine.finetuning import FinetuneConfig, build_task_model  # noqa: E402
from go_obo_text import read_obo_text  # noqa: E402

from protdata import Protein, ProteinBatch  # noqa: E402
from protdata.io import load_chains  # noqa: E402
from protdata.testing import shared_data  # noqa: E402
from prottasks.data import LabelTable  # noqa: E402

TINY_ESM = "{num_layers: 2, embed_dim: 16, attention_heads: 2}"
TINY_SAPROT = "{num_layers: 2, embed_dim: 16, attention_heads: 2, vocab: saprot}"
#: nrPDB-EC chains with structures in the shared data (train 5 / valid 2 / test 1 here).
EC_FILES = [
    ("structures", "experimental_mdanalysis_dssp", "1bvyF.pdb.gz"),
    ("foldseek", "structures", "1dix.cif"),
    ("structures", "experimental_mdanalysis_dssp", "2fvvA.pdb.gz"),
    ("structures", "experimental_mdanalysis_dssp", "3gwiA.pdb.gz"),
    ("structures", "experimental_mdanalysis_dssp", "3nbkA.pdb.gz"),
    ("structures", "experimental_mini3di", "1xso.pdb"),
    ("structures", "experimental_mdanalysis_dssp", "2va0A.pdb.gz"),
    ("structures", "experimental_mdanalysis_dssp", "3hklA.pdb.gz"),
]
SPLITS = {
    "train": ["1BVY-F", "1DIX-A", "2FVV-A", "3GWI-A", "3NBK-A"],
    "valid": ["1XSO-A", "2VA0-A"],
    "test": ["3HKL-A"],
}


def _finetune(tmp: Path, body: str) -> Path:
    """Fine-tune in-process with a config written here; returns the best export's directory."""
    (tmp / "config.yaml").write_text(body)
    out = tmp / "runs"
    assert finetune.main(["--config", str(tmp / "config.yaml"), f"output_root={out}", "--no-progress"]) == 0
    (run,) = [p for p in out.iterdir() if not p.name.startswith(".")]  # (.cache: the structure cache)
    return run / "best"


@pytest.fixture(scope="module")
def ec_model(tmp_path_factory) -> Path:
    """A tiny GearNet fine-tuned on 5 real enzyme structures (3 steps)."""
    tmp = tmp_path_factory.mktemp("ec")
    for name, ids in SPLITS.items():
        (tmp / f"{name}.txt").write_text("\n".join(ids) + "\n")
    files = ", ".join(str(shared_data(*p)) for p in EC_FILES)
    return _finetune(
        tmp,
        f"""
name: ec-gearnet
encoder: {{type: gearnet, hidden_dims: [16, 16]}}
head: {{type: multi_label}}
data:
  labels: {{type: nrpdb_ec, folder: {shared_data("ec_go_benchmark", "deepfri")}}}
  structures: [{files}]
  splits: {{train: {tmp}/train.txt, valid: {tmp}/valid.txt, test: {tmp}/test.txt}}
  batch_size: 2
optimizer: {{type: adam, lr: 1.0e-2}}
train: {{max_steps: 3, log_every: 1, num_threads: 1}}
""",
    )


@pytest.fixture(scope="module")
def go_model(tmp_path_factory) -> Path:
    """The ESM2 Function Caller head on a tiny ESM-2, on the CAFA-like GO-MF annotations (labels as given)."""
    tmp = tmp_path_factory.mktemp("go")
    return _finetune(
        tmp,
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


@pytest.fixture(scope="module")
def obo():
    return read_obo_text(shared_data("go", "go-basic_2021-12-15.obo"))


def api_model(export: Path) -> tuple[torch.nn.Module, dict]:
    """The model rebuilt from config.json with the fine-tuning app's own builder (not predict's loader)."""
    meta = json.loads((export / "config.json").read_text())
    config = FinetuneConfig.model_validate(meta["run_config"])
    table = LabelTable(kind=meta["task"]["kind"], labels=meta["task"]["labels"], targets={})
    model = build_task_model(config, table, load_checkpoint=False)
    model.load_state_dict(load_file(str(export / "model.safetensors")))
    return model.eval(), meta


def structures_in_directory_order() -> list[Protein]:
    """The chains of the eight files, read with protdata's loader, in the order of a sorted directory walk."""
    return [p for parts in sorted(EC_FILES, key=lambda x: x[-1]) for p in load_chains(shared_data(*parts))]


def read_tsv(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f, delimiter="\t" if path.suffix == ".tsv" else ","))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """The eight structure files, a broken PDB, a FASTA file (no structure: skipped for GearNet) and a note."""
    folder = tmp_path_factory.mktemp("inputs")
    for parts in EC_FILES:
        (folder / parts[-1]).symlink_to(shared_data(*parts))
    (folder / "broken.pdb").write_text("HEADER    NOT A STRUCTURE\nEND\n")
    (folder / "extra.fasta").write_text(">x\nMKV\n")
    (folder / "notes.txt").write_text("not an input")
    return folder


def test_structure_predictions_equal_the_python_api(
    ec_model: Path, inputs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    names = shared_data("function", "protst_text", "reaction_description.tsv")
    out = tmp_path / "ec.tsv"
    assert (
        predict.main(
            ["-m", str(ec_model), "-i", str(inputs), "-o", str(out), "-k", "0", "--names", str(names)]
        )
        == 0
    )
    captured = capsys.readouterr()
    assert "predicted 9 proteins" in captured.out and "(2 inputs skipped)" in captured.out
    assert re.search(r"warning: 2 inputs skipped \(first: .*broken\.pdb", captured.err)
    rows = read_tsv(out)

    model, meta = api_model(ec_model)
    labels = meta["task"]["labels"]
    proteins = structures_in_directory_order()
    with torch.no_grad():
        scores = torch.sigmoid(model(ProteinBatch.collate(proteins)).output.double()).numpy()
    assert [p.id for p in proteins] == list(dict.fromkeys(r["protein"] for r in rows))  # input order
    assert len(rows) == len(proteins) * len(labels) == 9 * 538  # -k 0: every label
    column = {label: j for j, label in enumerate(labels)}
    for i, p in enumerate(proteins):
        mine = [r for r in rows if r["protein"] == p.id]
        assert [int(r["rank"]) for r in mine] == list(range(1, 539))
        got = np.array([float(r["score"]) for r in mine])
        want = np.array([scores[i, column[r["label"]]] for r in mine])
        np.testing.assert_allclose(got, want, atol=1e-5)
        assert np.all(np.diff(got) <= 0)  # best first
    # EC names: full numbers from ProtST's name column, classes from its hierarchy columns
    with names.open() as f:
        table = list(csv.DictReader(f, delimiter="\t"))
    known = {r["EC_number"]: r["name"].strip().rstrip(".") for r in table}
    for r in table:  # EC classes a.b.c.-, a.b.-.-, a.-.-.- are named by the hierarchy columns
        ec = r["EC_number"].split(".")
        for depth, column_name in ((3, "hier3"), (2, "hier2"), (1, "hier1")):
            known.setdefault(".".join(ec[:depth] + ["-"] * (4 - depth)), r[column_name].strip().rstrip("."))
    named = {r["label"]: r["name"] for r in rows}
    assert named["1.15.1.1"] == "superoxide dismutase" and named["2.7.7.-"] == "Nucleotidyltransferases"
    assert all(named[label] == known.get(label, "") for label in labels)
    assert sum(1 for label in labels if named[label]) > 350


@pytest.mark.slow
def test_go_predictions_are_dag_consistent_with_obo_names(go_model: Path, obo, tmp_path: Path) -> None:
    fasta = shared_data("function", "cafa_like_sequences.fasta")
    obo_path = shared_data("go", "go-basic_2021-12-15.obo")
    out = tmp_path / "go.tsv"
    assert (
        predict.main(
            ["-m", str(go_model), "-i", str(fasta), "-o", str(out), "-k", "0", "--obo", str(obo_path)]
        )
        == 0
    )
    rows = read_tsv(out)
    model, meta = api_model(go_model)
    labels = meta["task"]["labels"]
    assert meta["task"]["label_kind"] == "go" and meta["config"]["head"]["type"] == "function_caller"
    from protdata import read_fasta

    assert meta["task"]["transform"] == {"type": "truncate", "max_length": 550, "random": False}
    proteins = [
        Protein.from_sequence(p.id, p.sequence[:550]) for p in read_fasta(fasta)
    ]  # the prefix, as trained
    with torch.no_grad():
        raw = torch.sigmoid(model(ProteinBatch.collate(proteins)).output.double()).numpy()
    # brute force: a label scores the max over every label whose term is it or one of its descendants
    current = [obo.current(t) for t in labels]
    assert (
        sum(c is None for c in current) <= 5
        and sum(c is not None and c != t for c, t in zip(current, labels)) >= 1
    )
    below = {
        j: [k for k, ck in enumerate(current) if ck is not None and (ck == cj or cj in obo.ancestors(ck))]
        for j, cj in enumerate(current)
        if cj is not None
    }
    expected = raw.copy()
    for j, ks in below.items():
        expected[:, j] = raw[:, ks].max(axis=1)
    got = np.full_like(raw, np.nan)
    index = {p.id: i for i, p in enumerate(proteins)}
    column = {t: j for j, t in enumerate(labels)}
    for r in rows:
        got[index[r["protein"]], column[r["label"]]] = float(r["score"])
    assert not np.isnan(got).any()  # every (protein, label) written
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert (expected > raw + 1e-3).any()  # propagation changed something: the check is not vacuous
    # DAG consistency straight from the OBO: a parent never scores below its child
    pairs = [(j, k) for j, ks in below.items() for k in ks if current[k] != current[j]]
    assert len(pairs) > 100
    for j, k in pairs:
        assert np.all(got[:, j] >= got[:, k] - 1e-9)
    for r in rows[: 3 * len(labels)]:  # names of current terms from the OBO; none for terms it no longer has
        term = obo.current(r["label"])
        assert r["name"] == (obo.names[term] if term else "")


@pytest.mark.slow
def test_threshold_and_top_k_in_the_real_process(ec_model: Path, inputs: Path, tmp_path: Path) -> None:
    out = tmp_path / "top.csv"
    proc = subprocess.run(
        [sys.executable, str(APPS / "predict.py"), "-m", str(ec_model / "config.json"), "-i", str(inputs),
         "-o", str(out), "--top-k", "3", "--threshold", "0.5"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("warning: 2 inputs skipped (first: ")
    rows = read_tsv(out)
    model, meta = api_model(ec_model)
    proteins = structures_in_directory_order()
    with torch.no_grad():
        scores = torch.sigmoid(model(ProteinBatch.collate(proteins)).output.double()).numpy()
    labels = meta["task"]["labels"]
    for i, p in enumerate(proteins):
        order = np.argsort(-scores[i], kind="stable")[:3]
        want = [(labels[j], scores[i, j]) for j in order if scores[i, j] >= 0.5]
        mine = [(r["label"], float(r["score"])) for r in rows if r["protein"] == p.id]
        assert [m[0] for m in mine] == [w[0] for w in want]
        np.testing.assert_allclose([m[1] for m in mine], [w[1] for w in want], atol=1e-5)
    assert rows and all(float(r["score"]) >= 0.5 for r in rows)


def test_regression_predictions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """GB1 ddG (a CSV with sequences): the app fits the target normalisation on the training split; predict writes
    one value per protein, equal to the API's."""
    gb1 = shared_data("dms", "mavenn_nisthal_gb1_data.csv")
    export = _finetune(
        tmp_path,
        f"""
name: gb1
encoder: {{type: esm2, architecture: {TINY_ESM}}}
head: {{type: regression}}
data:
  labels: {{type: table, path: {gb1}, task: regression, id_column: name, label_column: y, sequence_column: x}}
  splits: {{valid_fraction: 0.1, seed: 1}}
  batch_size: 16
train: {{max_steps: 2, log_every: 1, num_threads: 1}}
""",
    )
    with gb1.open() as f:
        table = [r for r in csv.DictReader(f) if r["y"].strip()]
    weights = load_file(str(export / "model.safetensors"))
    y = np.array([float(r["y"]) for r in table])
    rng_split = np.random.default_rng(1).permutation(
        len(table)
    )  # assign_splits: seeded permutation, valid first
    train = y[np.sort(rng_split[round(0.1 * len(table)) :])]
    assert float(weights["head.shift"]) == pytest.approx(train.mean(), rel=1e-6)
    assert float(weights["head.scale"]) == pytest.approx(train.std(ddof=1), rel=1e-6)
    table = [r for r in table if re.fullmatch(r"\w+", r["name"])]  # (one row is named "WT, WT , T02Q")
    fasta = tmp_path / "gb1.fasta"
    fasta.write_text("".join(f">{r['name']}\n{r['x']}\n" for r in table[:20]))
    out = tmp_path / "gb1.tsv"
    assert predict.main(["-m", str(export), "-i", str(fasta), "-o", str(out)]) == 0
    rows = read_tsv(out)
    model, _ = api_model(export)
    with torch.no_grad():
        want = model(
            ProteinBatch.collate([Protein.from_sequence(r["name"], r["x"]) for r in table[:20]])
        ).output
    assert [r["protein"] for r in rows] == [r["name"] for r in table[:20]]
    np.testing.assert_allclose(
        [float(r["prediction"]) for r in rows], want.double().numpy(), atol=1e-5, rtol=1e-5
    )


def test_help_and_print_config(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as info:
        predict.main(["--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert all(
        k in text for k in ("--model", "--input", "--top-k", "--threshold", "--obo", "KEY=VALUE", "--config")
    )
    (tmp_path / "p.yaml").write_text("model: runs/x/best\ninputs: [a.fasta]\ntop_k: 3\n")
    assert (
        predict.main(["--config", str(tmp_path / "p.yaml"), "-k", "5", "threshold=0.4", "--print-config"])
        == 0
    )
    printed = capsys.readouterr().out
    assert "top_k: 5" in printed and "threshold: 0.4" in printed and "model: runs/x/best" in printed


# ------------------------------------------------------------------------------ bad records, --strict (issue 11)
def test_bad_fasta_record_skipped_not_the_file(
    go_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real CAFA-like FASTA with record 10 corrupted: the other 146 proteins are predicted (scores = the Python
    API), the bad record is named with file, line and reason; the inference truncation to 550 residues is reported
    once with its total; ``--strict`` is exit 2 and writes nothing; a file of bad records only is exit 2."""
    fasta, records = corrupted_cafa(tmp_path, {10})
    kept = [r for k, r in enumerate(records) if k != 10]
    out = tmp_path / "go.tsv"
    args = ["-m", str(go_model), "-i", str(fasta), "--no-propagate", "-k", "0"]
    status, stdout, stderr = run_main(predict.main, [*args, "-o", str(out)], capsys)
    assert status == 0, stderr
    rows = read_tsv(out)
    assert list(dict.fromkeys(r["protein"] for r in rows)) == [pid for pid, _ in kept]
    reason = f"SequenceError: record {records[10][0]!r}: digit '1' in a sequence line at column 5"
    assert f"skipped {fasta}, line 22: {reason}" in stderr.splitlines()
    assert "(1 inputs skipped)" in stdout
    n_long = sum(len(seq) > 550 for _, seq in kept)
    assert n_long > 10
    crop_lines = [line for line in stderr.splitlines() if "cropped" in line]
    assert crop_lines == [f"note: cropped {n_long} proteins longer than 550 residues to 550"], stderr
    model, meta = api_model(go_model)  # the record after the bad one, through the API
    with torch.no_grad():
        expected = torch.sigmoid(
            model(
                ProteinBatch.collate([Protein.from_sequence(records[11][0], records[11][1][:550])])
            ).output.double()
        )[0].numpy()
    got = {r["label"]: float(r["score"]) for r in rows if r["protein"] == records[11][0]}
    np.testing.assert_allclose([got[t] for t in meta["task"]["labels"]], expected, atol=1e-5)

    strict = _bad([*args, "-o", str(tmp_path / "strict.tsv"), "--strict"], tmp_path, capsys)
    assert strict.startswith("error: inputs: 1 input(s) skipped and --strict is set: ")
    assert f"{fasta}, line 22: {reason}" in strict
    bad_dir = tmp_path / "all_bad"
    bad_dir.mkdir()
    all_bad, _ = corrupted_cafa(bad_dir, set(range(len(records))))
    line = _bad(["-m", str(go_model), "-i", str(all_bad), "--no-propagate", "-o", str(out)], tmp_path, capsys)
    assert f"every input was skipped ({len(records)})" in line and "line 2:" in line


def test_cuda_on_a_cpu_machine_names_the_device_option(
    go_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 11: ``--device cuda`` without CUDA names predict's ``--device`` (predict has no ``train.device``)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    fasta = shared_data("function", "cafa_like_sequences.fasta")
    args = ["-m", str(go_model), "-i", str(fasta), "--no-propagate", "-o", str(tmp_path / "p.tsv")]
    line = _bad([*args, "--device", "cuda"], tmp_path, capsys)
    assert line.startswith("error: --device cuda") and "CUDA is not available" in line, line
    assert "train.device" not in line


# ------------------------------------------------------------------------------------------------ bad input
def _bad(args: list[str], root: Path, capsys: pytest.CaptureFixture[str]) -> str:
    before = sorted(p.name for p in root.rglob("*"))
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        predict.main(args)
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert sorted(p.name for p in root.rglob("*")) == before, "a failed prediction wrote files"
    return err[0]


def test_bad_input_is_one_line_and_writes_nothing(
    ec_model: Path, go_model: Path, inputs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "out.tsv")
    fasta = str(shared_data("function", "cafa_like_sequences.fasta"))
    (tmp_path / "empty").mkdir()
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.pdb").write_text("garbage\n")
    cases = [
        (
            ["-m", str(tmp_path / "nowhere"), "-i", fasta, "-o", out],
            r"model: .*nowhere: no such export directory",
        ),
        (
            ["-m", str(ec_model), "-i", str(tmp_path / "missing.pdb"), "-o", out],
            r"inputs: .*missing\.pdb: no such file or directory",
        ),
        (
            ["-m", str(ec_model), "-i", str(tmp_path / "empty"), "-o", out],
            r"inputs: no usable protein in .*empty",
        ),
        (
            ["-m", str(ec_model), "-i", str(tmp_path / "bad"), "-o", out],
            r"every input was skipped \(1\): no usable protein in 1 files .*; first: .*x\.pdb",
        ),
        (["-m", str(ec_model), "-i", fasta, "-o", out], r"a FASTA file has no 3D structure"),
        (
            ["-m", str(go_model), "-i", fasta, "-o", out],
            r"obo: this model predicts GO terms; give the ontology",
        ),
        (
            ["-m", str(ec_model), "-i", fasta, "-o", out, "top_kk=3"],
            r"top_kk: unknown key \(did you mean 'top_k'\?\)",
        ),
        (
            ["-m", str(ec_model), "-i", fasta, "-o", out, "--threshold", "2"],
            r"threshold: Input should be less than or equal to 1",
        ),
        (
            ["-m", str(ec_model), "-i", fasta, "-o", str(tmp_path / "no" / "out.tsv")],
            r"output: .*/no: no such directory",
        ),
        (["-i", fasta], r"model: required key is missing"),
    ]
    for args, expected in cases:
        line = _bad(args, tmp_path, capsys)
        assert re.search(expected, line), (args, line)
    assert not Path(out).exists()

    # a broken export: corrupted weights, weights of another width, a pretraining export's config.json
    broken = tmp_path / "broken"
    broken.mkdir()
    meta = json.loads((ec_model / "config.json").read_text())
    (broken / "config.json").write_text(json.dumps(meta))
    data = bytearray((ec_model / "model.safetensors").read_bytes())
    (broken / "model.safetensors").write_bytes(bytes(data[: len(data) // 2]))
    line = _bad(["-m", str(broken), "-i", str(inputs), "-o", out], tmp_path, capsys)
    assert re.search(r"model: .*broken/model\.safetensors: not a readable safetensors file", line), line
    meta["config"]["encoder"]["hidden_dims"] = [8, 8]
    (broken / "config.json").write_text(json.dumps(meta))
    (broken / "model.safetensors").write_bytes(bytes(data))
    line = _bad(["-m", str(broken), "-i", str(inputs), "-o", out], tmp_path, capsys)
    assert re.search(
        r"weights do not fit .*encoder\.layers\.0\.\S+: copying a param with shape torch\.Size\(\[16, .*"
        r"torch\.Size\(\[8, ",
        line,
    ), line
    pretrain = {
        "format": "protstack",
        "format_version": 1,
        "type": "gearnet",
        "config": {},
        "app": "pretrain",
    }
    (broken / "config.json").write_text(json.dumps(pretrain))
    line = _bad(["-m", str(broken / "config.json"), "-i", str(inputs), "-o", out], tmp_path, capsys)
    assert "an export of apps/pretrain.py, not a fine-tuned model" in line
    # an export of the older layout: the one-line error names the converter
    old = {"app": "finetune", "config": {}, "task": {"kind": "multi_label"}, "format": "protstack-checkpoint"}
    (broken / "config.json").write_text(json.dumps(old))
    line = _bad(["-m", str(broken), "-i", str(inputs), "-o", out], tmp_path, capsys)
    assert "prottasks.convert_finetune_export(old_dir, new_dir)" in line, line


# ------------------------------------------------- predict-rank: --interactive, -i -, --sequence, -o - (issue 16)
def _api_top(export: Path, sequences: list[str], k: int) -> list[list[tuple[float, str]]]:
    """Per sequence the ``k`` best (raw sigmoid score, label), best first, from the model rebuilt with the
    fine-tuning app's builder (the prefix of 550 residues, as trained)."""
    model, meta = api_model(export)
    labels = meta["task"]["labels"]
    batch = ProteinBatch.collate([Protein.from_sequence(f"s{i}", s[:550]) for i, s in enumerate(sequences)])
    with torch.no_grad():
        scores = torch.sigmoid(model(batch).output.double()).numpy()
    return [[(float(row[j]), labels[j]) for j in np.argsort(-row, kind="stable")[:k]] for row in scores]


def _cafa_records(n: int) -> list[tuple[str, str]]:
    from protdata import read_fasta

    return [(p.id, p.sequence) for p in read_fasta(shared_data("function", "cafa_like_sequences.fasta"))[:n]]


def test_interactive_ranks_each_sequence_like_predict_rank(go_model: Path, obo) -> None:
    """The seed's predict-rank.py dialogue in a real process: ``Enter a sequence:`` per sequence, then the top-k
    lines ``0.1234: name`` (4 decimals, OBO names; a term without a name: its id), equal to the API's ranking; a
    bad sequence is an ``error:`` line and the next prompt; an empty line ends it, and so does EOF."""
    records = _cafa_records(2)
    obo_path = shared_data("go", "go-basic_2021-12-15.obo")
    args = [sys.executable, str(APPS / "predict.py"), "-m", str(go_model), "--interactive", "-k", "4",
            "--obo", str(obo_path), "--no-propagate"]  # fmt: skip
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    text = f"{records[0][1]}\nMK1V\n{records[1][1].lower()}\n\nnever read\n"
    proc = subprocess.run(args, input=text, cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("Enter a sequence: ") == 4  # 2 answered, 1 bad, then the empty line
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "digit '1'" in errors[0], proc.stderr
    answers = [
        re.findall(r"^(\d\.\d{4}): (.+)$", block, flags=re.M)
        for block in proc.stdout.split("Top 4 GO Terms:")[1:]
    ]
    want = _api_top(go_model, [records[0][1], records[1][1].upper()], 4)
    assert [len(a) for a in answers] == [4, 4]
    for got, expected in zip(answers, want):
        np.testing.assert_allclose([float(s) for s, _ in got], [s for s, _ in expected], atol=6e-5)
        names = []
        for _, label in expected:
            term = obo.current(label)
            names.append(obo.names[term] if term else label)
        assert [name for _, name in got] == names
    # EOF instead of an empty line also ends the dialogue (exit 0, one answer)
    proc = subprocess.run(
        args, input=records[0][1], cwd=ROOT, capture_output=True, text=True, timeout=300, env=env
    )
    assert proc.returncode == 0 and proc.stdout.count("Top 4 GO Terms:") == 1, proc.stderr


def test_stdin_fasta_and_raw_sequence_to_stdout(
    go_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``-i -`` reads FASTA from stdin and ``-o -`` writes the table to stdout (the summary goes to stderr): the
    same table as a file of the same records; ``--sequence`` ranks one raw sequence like the API."""
    import io

    records = _cafa_records(3)
    fasta = tmp_path / "three.fasta"
    fasta.write_text("".join(f">{pid}\n{seq}\n" for pid, seq in records))
    common = ["-m", str(go_model), "--no-propagate", "-k", "3"]
    assert predict.main([*common, "-i", str(fasta), "-o", str(tmp_path / "file.tsv")]) == 0
    capsys.readouterr()
    monkeypatch.setattr(sys, "stdin", io.StringIO(fasta.read_text()))
    status, stdout, stderr = run_main(predict.main, [*common, "-i", "-", "-o", "-"], capsys)
    assert status == 0, stderr
    assert stdout == (tmp_path / "file.tsv").read_text()
    assert "predicted 3 proteins" in stderr and "-> stdout" in stderr
    status, stdout, stderr = run_main(predict.main, [*common, "--sequence", records[1][1], "-o", "-"], capsys)
    assert status == 0, stderr
    rows = list(csv.DictReader(io.StringIO(stdout), delimiter="\t"))
    (want,) = _api_top(go_model, [records[1][1]], 3)
    assert [r["label"] for r in rows] == [label for _, label in want]
    assert {r["protein"] for r in rows} == {"sequence"}
    np.testing.assert_allclose([float(r["score"]) for r in rows], [s for s, _ in want], atol=1e-5)


def test_names_matching_no_label_and_missing_source_are_errors(
    ec_model: Path, go_model: Path, inputs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A names table whose ids are none of the model's labels (ProtST's EC table for a GO model) is one error line;
    so is a structure model given a raw sequence, and no proteins at all."""
    ec_names = shared_data("function", "protst_text", "reaction_description.tsv")
    out = str(tmp_path / "o.tsv")
    line = _bad(
        ["-m", str(go_model), "--sequence", "MKV", "--names", str(ec_names), "-o", out], tmp_path, capsys
    )
    assert "reaction_description.tsv: names table: none of its" in line and "like 'GO:" in line, line
    line = _bad(["-m", str(ec_model), "--sequence", "MKVLA", "-o", out], tmp_path, capsys)
    assert "reads 3D structures" in line, line
    line = _bad(["-m", str(go_model), "-o", out], tmp_path, capsys)
    assert "give one of inputs" in line, line


@pytest.fixture(scope="module")
def saprot_model(tmp_path_factory) -> Path:
    """A tiny SaProt fine-tuned on the CAFA-like sequences (no structures: '#' 3Di tokens)."""
    tmp = tmp_path_factory.mktemp("saprot")
    return _finetune(
        tmp,
        f"""
name: go-saprot
encoder: {{type: saprot, architecture: {TINY_SAPROT}}}
head: {{type: multi_label}}
data:
  labels: {{type: cafa_terms, terms: {shared_data("function", "cafa_like_terms.tsv")}, aspect: MFO, propagate: false}}
  sequences: [{shared_data("function", "cafa_like_sequences.fasta")}]
  splits: {{valid_fraction: 0.2}}
  batch_size: 8
train: {{max_steps: 1, log_every: 1, num_threads: 1}}
""",
    )


def test_saprot_without_structure_says_so_once(
    saprot_model: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A SaProt model given sequences (stdin FASTA, interactive) notes once which 3Di tokens it reads ('#')."""
    import io

    records = _cafa_records(3)
    monkeypatch.setattr(sys, "stdin", io.StringIO("".join(f">{p}\n{s}\n" for p, s in records)))
    args = ["-m", str(saprot_model), "--no-propagate", "-o", "-"]
    status, stdout, stderr = run_main(predict.main, [*args, "-i", "-"], capsys)
    assert status == 0, stderr
    notes = [line for line in stderr.splitlines() if "without structure" in line]
    assert len(notes) == 1 and "3 protein(s)" in notes[0] and "'#'" in notes[0], stderr
    seq = records[0][1][:6]
    assert f"{seq}… -> {''.join(c + '#' for c in seq)}…" in notes[0]
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{records[0][1]}\n{records[1][1]}\n"))
    status, stdout, stderr = run_main(predict.main, [*args, "--interactive"], capsys)
    assert status == 0, stderr
    assert stdout.count("Top 10 GO Terms:") == 2
    assert sum("without structure" in line for line in stderr.splitlines()) == 1, stderr
