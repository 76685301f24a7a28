"""apps/pretrain.py end to end: the embedded default runs and writes its outputs; its loss goes down; every kind of
bad input is one ``error:`` line, exit status 2, and nothing written."""

from __future__ import annotations

import json
import math
import os
import shutil
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

import pretrain  # noqa: E402
from engine.checkpoint import restricted_torch_load  # noqa: E402
from engine.pretraining import PretrainConfig, build_pretraining_model  # noqa: E402

from protdata.configfile import load_config  # noqa: E402

#: A few steps of the default config on a smaller GearNet, one thread (fast and bit-reproducible).
TINY = [
    "train.max_steps=6",
    "train.log_every=1",
    "train.checkpoint_every=3",
    "train.num_threads=1",
    "encoder.hidden_dims=[32,32,32]",
    "data.batch_size=4",
]


def _cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``apps/pretrain.py`` the way a person does (a fresh interpreter of this venv)."""
    return subprocess.run(
        [sys.executable, str(APPS / "pretrain.py"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("runs")
    proc = _cli(*TINY, f"output_root={out}", "--no-progress")
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = [p for p in out.iterdir() if p.name.startswith("pretrain-demo-")]
    return run_dir, proc


@pytest.mark.slow
def test_default_app_writes_everything(tiny_run: tuple[Path, subprocess.CompletedProcess]) -> None:
    run_dir, proc = tiny_run
    summary = proc.stdout.strip().splitlines()[-1]
    assert summary.startswith("done: 6 steps in ") and str(run_dir) in summary
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3, 4, 5, 6]
    assert f"loss {records[0]['loss']:.4f} -> {records[-1]['loss']:.4f}" in summary
    for r in records:
        assert 0 < r["loss"] < 10 and 0 <= r["accuracy"] <= 1 and r["residues_per_s"] > 0

    # the run directory is the trained encoder as a protstack model, the objective's heads beside it: together
    # they fit the model rebuilt from the run config, and equal the last checkpoint's
    exported = json.loads((run_dir / "config.json").read_text())
    assert (
        exported["format"] == "protstack" and exported["type"] == "gearnet" and exported["app"] == "pretrain"
    )
    config = PretrainConfig.model_validate(exported["run_config"])
    assert config.encoder.hidden_dims == [32, 32, 32] and config.train.max_steps == 6
    model = build_pretraining_model(config)
    weights = load_file(str(run_dir / "model.safetensors"))
    heads = load_file(str(run_dir / "objective.safetensors"))
    merged = {**{"encoder." + k: v for k, v in weights.items()}, **heads}
    reference = model.state_dict()
    assert {k: tuple(v.shape) for k, v in merged.items()} == {k: tuple(v.shape) for k, v in reference.items()}
    assert heads and not any(k.startswith("encoder.") for k in heads)
    model.load_state_dict(merged)
    assert (run_dir / "checkpoints" / "latest").read_text().strip() == "step_0000006"
    with restricted_torch_load():
        states = torch.load(run_dir / "checkpoints" / "step_0000006" / "mp_rank_00_model_states.pt")
    for k, v in states["module"].items():
        torch.testing.assert_close(merged[k], v, rtol=0, atol=0)
    from protdata.pretrained import load_pretrained

    loaded = load_pretrained(run_dir)  # the encoder, in one call
    assert type(loaded) is type(model.encoder)
    for k, v in loaded.state_dict().items():
        torch.testing.assert_close(v, weights[k], rtol=0, atol=0)

    # TensorBoard holds the same losses as the metrics log (read back with TensorBoard's own reader)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / "tensorboard"))
    events.Reload()
    tb = [(e.step, e.value) for e in events.Scalars("metrics/loss")]
    assert [s for s, _ in tb] == [1, 2, 3, 4, 5, 6]
    np.testing.assert_allclose([v for _, v in tb], [r["loss"] for r in records], rtol=1e-6)

    # the curves are a real PNG
    import matplotlib.image

    image = matplotlib.image.imread(run_dir / "curves.png")
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 200
    assert (run_dir / "config.yaml").is_file()
    assert load_config(PretrainConfig, run_dir / "config.yaml") == config


@pytest.mark.slow
@pytest.mark.numerics
def test_default_demo_loss_goes_down(tmp_path: Path) -> None:
    """The embedded default (6 × 128 GearNet, residue-type prediction on the shipped chains), shortened."""
    args = [
        "train.max_steps=80",
        "train.log_every=20",
        "train.checkpoint_every=80",
        f"output_root={tmp_path}",
    ]
    assert pretrain.main([*args, "scheduler.warmup_steps=5", "--no-progress"]) == 0
    (run_dir,) = tmp_path.glob("pretrain-demo-*")
    losses = [json.loads(line)["loss"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert len(losses) == 4
    assert losses[0] > 2.8  # ~ln(20) = 3.0 at the start: 20 residue types
    assert losses[-1] < losses[0] - 0.15


def test_help_and_print_config(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as info:
        pretrain.main(["--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert "--resume" in text and "--config" in text and "KEY=VALUE" in text and "torchrun" in text
    assert pretrain.main(["--print-config", "optimizer.lr=3e-4"]) == 0
    printed = tmp_path / "printed.yaml"
    printed.write_text(capsys.readouterr().out)
    assert load_config(PretrainConfig, printed).optimizer.lr == 3e-4


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


def _bad(args: list[str], root: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """Run the app in-process on bad input; it must exit 2 with one error line and write nothing."""
    before = _snapshot(root)
    with pytest.raises(SystemExit) as info:
        pretrain.main([*args, f"output_root={root / 'out'}", "--no-progress"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert _snapshot(root) == before, "bad input must leave nothing written"
    return err[0]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--config", "{root}/missing.yaml"], r"missing\.yaml: no such config file"),
        (["train.max_step=5"], r"train\.max_step: unknown key \(did you mean 'max_steps'\?\)"),
        (["optimizer.lr=fast"], r"optimizer\.lr: Input should be a valid number.*'fast'"),
        (["data.sources=[{root}/nowhere]"], r"data\.sources: .*nowhere: no such file or directory"),
        (["data.sources=[{root}/empty]"], r"data\.sources: no structure files in .*empty"),
        (["data.sources=[{root}/broken]"], r"no usable protein in 1 structure files.*broken/x\.pdb"),
        (
            ["optimizer.lr_ratios={{encoder.sequence: 0.1}}"],
            r"optimizer\.lr_ratios: no trainable parameter .*encoder\.sequence",
        ),
        (["deepspeed.precision=fp16"], r"deepspeed\.precision: Input should be .auto., .fp32. or .bf16."),
        (["init_from={root}/missing.safetensors"], r"missing\.safetensors: no such weights file"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    args: list[str], expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if torch.cuda.is_available() and "bf16" in args[0]:
        pytest.skip("bf16 is valid on a GPU")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "README.txt").write_text("nothing to see")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "x.pdb").write_text("HEADER garbage\nEND\n")
    import re

    line = _bad([a.format(root=tmp_path) for a in args], tmp_path, capsys)
    assert re.search(expected, line), line


@pytest.mark.slow
def test_bad_checkpoints_are_one_line_and_touch_nothing(
    tiny_run: tuple[Path, subprocess.CompletedProcess], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    shutil.copytree(tiny_run[0], run)
    step = run / "checkpoints" / "step_0000006"

    line = _bad(["--resume", str(run)], tmp_path, capsys)
    assert f"train.max_steps: {step} is at step 6 and the run ends at step 6" in line

    line = _bad(["--resume", str(run), "encoder.hidden_dims=[16,16,16]"], tmp_path, capsys)
    assert "wrong-size checkpoint: encoder.layers.0.self_loop.weight has shape (32, 21)" in line
    assert str(step) in line

    weights = run / "model.safetensors"
    line = _bad(["init_from=" + str(weights), "encoder.hidden_dims=[16,16,16]"], tmp_path, capsys)
    assert f"{weights}: wrong-size weights" in line

    states = step / "mp_rank_00_model_states.pt"
    data = bytearray(states.read_bytes())
    data[len(data) // 2] ^= 0xFF
    states.write_bytes(bytes(data))
    line = _bad(["--resume", str(run)], tmp_path, capsys)
    assert f"{states}: corrupted checkpoint file (sha256 differs from the manifest)" in line

    (step / "manifest.json").unlink()
    line = _bad(["--resume", str(run)], tmp_path, capsys)
    assert f"{step}: incomplete checkpoint" in line

    line = _bad([f"output_dir={run}"], tmp_path, capsys)
    assert f"output_dir: {run} already holds a run with checkpoints" in line

    line = _bad(["--resume", str(tmp_path / "elsewhere")], tmp_path, capsys)
    assert "no such checkpoint or run directory" in line


@pytest.mark.slow
def test_bad_input_exit_status_of_the_real_process(tmp_path: Path) -> None:
    proc = _cli("train.max_steps=oops", f"output_root={tmp_path}")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: {APPS / 'configs' / 'default_pretrain.yaml'} + 2 overrides: train.max_steps: Input should be a "
        "valid integer, unable to parse string as an integer (got 'oops')"
    ]
    assert not any(tmp_path.iterdir())


# ------------------------------------------------------------------------------ any encoder, any objective
PRESETS = APPS / "configs" / "pretrain"
#: Four of the shipped PDB chains (79-85 residues): the end-to-end runs below cache only these.
FEW = [
    APPS / "data" / "demo_structures" / f
    for f in ("3a4rA.pdb.gz", "2cviA.pdb.gz", "2xcjA.pdb.gz", "1lpbA.pdb.gz")
]
TINY_SEQ = "{num_layers: 2, embed_dim: 16, attention_heads: 2%s}"


def _few_steps(tmp_path: Path) -> list[str]:
    return [
        "train.epochs=null",
        "train.max_steps=3",
        "train.log_every=1",
        "train.checkpoint_every=3",
        "train.num_threads=1",
        "data.num_workers=0",
        "data.batch_size=4",
        "data.sources=[" + ",".join(str(f) for f in FEW) + "]",
        f"data.cache_dir={tmp_path / 'cache'}",
        f"output_root={tmp_path}",
        "--no-progress",
    ]


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, torch.nn.Module]]:
    """Tiny random ESM-2 (protenc-seq safetensors) and SaProt (a Hugging Face directory) checkpoints."""
    from protenc_seq import ESM2, ESM2Config, save_huggingface, save_safetensors

    root = tmp_path_factory.mktemp("weights")
    torch.manual_seed(11)
    esm = ESM2(ESM2Config(num_layers=2, embed_dim=16, attention_heads=2))
    saprot = ESM2(ESM2Config(num_layers=2, embed_dim=16, attention_heads=2, vocab="saprot"))
    save_huggingface(saprot, root / "saprot")
    return {
        "esm": (save_safetensors(esm, root / "esm2.safetensors"), esm),
        "saprot": (root / "saprot", saprot),
    }


def _records_of(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_tiny_serial_esm_gearnet_multiview_contrast_end_to_end(
    tmp_path: Path, tiny_weights: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The serial ESM-GearNet multiview-contrast preset, shrunk: trains, keeps ESM-2 frozen (fix_sequence_model),
    and its export loads into the fused encoder alone and initialises another objective's model."""
    from engine.builders import build_encoder, load_encoder_weights

    from protfusion.encoders import without_checkpoint
    from prottasks.objectives import load_initial_weights, pretrained_encoder

    path, esm = tiny_weights["esm"]
    monkeypatch.setenv("ESM2_650M", str(path))
    preset = PRESETS / "esm_gearnet" / "serial" / "mc.yaml"
    tiny = [
        "encoder.sequence.preset=null",
        "encoder.sequence.architecture=" + TINY_SEQ % "",
        "encoder.structure.hidden_dims=[16,16]",
    ]
    assert pretrain.main(["--config", str(preset), *tiny, *_few_steps(tmp_path)]) == 0
    (run_dir,) = tmp_path.glob("esm-gearnet-serial-mc-*")
    records = _records_of(run_dir)
    assert [r["step"] for r in records] == [1, 2, 3]
    for r in records:  # InfoNCE over a batch of 4: 0 <= loss, accuracy of the diagonal in [0, 1]
        assert math.isfinite(r["loss"]) and r["loss"] >= 0 and 0 <= r["accuracy"] <= 1

    config = PretrainConfig.model_validate(json.loads((run_dir / "config.json").read_text())["run_config"])
    assert config.encoder.type == "serial" and config.objective.type == "multiview_contrast"
    assert load_config(PretrainConfig, run_dir / "config.yaml") == config  # what --resume reads
    weights = load_file(str(run_dir / "model.safetensors"))
    # the app's initial model, rebuilt the way check_inputs builds it (same seed, same checkpoint)
    torch.manual_seed(config.seed)
    initial = build_pretraining_model(config).state_dict()
    sequence = [k for k in weights if k.startswith("sequence.")]
    moved = [
        k
        for k in weights
        if k.startswith("structure.") and not torch.equal(weights[k], initial["encoder." + k])
    ]
    assert sequence and moved, "GearNet must train"
    for k, v in esm.state_dict().items():  # ESM-2 frozen: its weights are the checkpoint's, bit for bit
        assert torch.equal(weights["sequence.model." + k], v), k

    encoder = build_encoder(without_checkpoint(config.encoder), load_checkpoint=False)
    note = load_encoder_weights(
        encoder, run_dir
    )  # the run directory: its model.safetensors, the encoder alone
    assert "under" not in note and "others ignored" not in note, note  # the contrast head is not in it
    for k, v in encoder.state_dict().items():
        assert torch.equal(v, weights[k]), k

    # init_from: the export starts residue-type pretraining of the same encoder (its head starts fresh)
    attr = load_config(PretrainConfig, PRESETS / "esm_gearnet" / "serial" / "attr.yaml", tiny)
    model = build_pretraining_model(attr, load_checkpoint=False)
    assert "heads start fresh" in load_initial_weights(model, run_dir / "model.safetensors")
    for k, v in pretrained_encoder(model).state_dict().items():
        assert torch.equal(v, weights[k]), k
    # ... and the same objective again: its heads come back from objective.safetensors
    again = build_pretraining_model(config, load_checkpoint=False)
    assert "head tensors from" in load_initial_weights(again, run_dir)
    heads = load_file(str(run_dir / "objective.safetensors"))
    for k, v in again.state_dict().items():
        assert torch.equal(v, heads[k] if k in heads else weights[k.removeprefix("encoder.")]), k


def test_tiny_saprot_mlm_end_to_end(
    tmp_path: Path, tiny_weights: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SaProt MLM preset, shrunk, on real chains: the cache holds Foldseek 3Di strings (protdata's encoder is
    the truth), SaProt reads them, the loss goes down, and the export loads into a SaProt encoder."""
    from engine.builders import build_encoder, load_encoder_weights

    from protdata.foldseek import encode_3di
    from protdata.io import load_many
    from protdata.packed import PackedProteins
    from protfusion.encoders import without_checkpoint
    from prottasks.objectives import load_initial_weights

    path, saprot = tiny_weights["saprot"]
    monkeypatch.setenv("SAPROT_650M_AF2", str(path))
    preset = PRESETS / "saprot" / "mlm_650m.yaml"
    tiny = ["encoder.preset=null", "encoder.architecture=" + TINY_SEQ % ", vocab: saprot"]
    assert (
        pretrain.main(["--config", str(preset), *tiny, "scheduler.warmup_steps=1", *_few_steps(tmp_path)])
        == 0
    )
    (run_dir,) = tmp_path.glob("saprot-650m-mlm-*")
    records = _records_of(run_dir)
    assert [r["step"] for r in records] == [1, 2, 3]
    # 446-way cross-entropy at >= 1 selected token per protein (SaProt redraws empty selections); it learns
    assert all(math.isfinite(r["loss"]) and r["loss"] > 0 and r["num_selected"] >= 1 for r in records)
    assert records[-1]["loss"] < records[0]["loss"]

    (entry,) = [p for p in (tmp_path / "cache").iterdir() if (p / "index.json").is_file()]
    packed = PackedProteins.load(entry)
    chains = load_many([str(f) for f in FEW]).proteins
    truth = dict(zip([p.id for p in chains], encode_3di(chains)))
    assert bool(packed.has_tokens.all()) and len(packed) == len(truth)
    for i in range(len(packed)):
        assert packed.protein(i).structure_tokens == truth[packed.ids[i]]

    config = PretrainConfig.model_validate(json.loads((run_dir / "config.json").read_text())["run_config"])
    model = build_pretraining_model(config, load_checkpoint=False)
    from protdata import ProteinBatch

    tokens = model.model.tokenize(ProteinBatch.collate([packed.protein(0)])).tokens[0, 1:-1]  # residues only
    struct = (tokens - 5) % 21  # SaProt id = 5 + 21 * aa + 3Di (seed-systems.md §5.1)
    assert bool((struct != 20).all()), "SaProt must read the 3Di letters, not '#'"

    weights = load_file(str(run_dir / "model.safetensors"))
    encoder = build_encoder(without_checkpoint(config.encoder), load_checkpoint=False)
    assert "under" not in load_encoder_weights(encoder, run_dir / "model.safetensors")
    for k, v in encoder.state_dict().items():
        assert torch.equal(v, weights[k]), k
    assert not torch.equal(weights["model.lm_head.dense.weight"], saprot.state_dict()["lm_head.dense.weight"])
    # init_from with the run: every tensor (LM head included: it is the encoder's) is loaded
    assert load_initial_weights(model, run_dir).startswith("init_from: loaded ")
    for k, v in model.state_dict().items():
        assert torch.equal(v, weights[k.removeprefix("model.encoder.")]), k


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["objective={type: mlm}"],
            r"objective\.type=mlm with encoder\.type=gearnet: mlm trains a masked language model, which needs an "
            r"esm2 or saprot encoder",
        ),
        (
            [
                "encoder={type: esm2, architecture: {num_layers: 1, embed_dim: 16, attention_heads: 2}}",
                "objective={type: distance_prediction}",
            ],
            r"objective\.type=distance_prediction with encoder\.type=esm2: distance_prediction learns 3D structure "
            r"from a residue graph, but a esm2 encoder reads only the sequence",
        ),
        (
            [
                "encoder={type: saprot, architecture: {num_layers: 1, embed_dim: 16, attention_heads: 2, "
                "vocab: saprot}}",
                "objective={type: siamdiff}",
            ],
            r"objective\.type=siamdiff with encoder\.type=saprot",
        ),
        (
            [
                "encoder={type: cdconv, hidden_dims: [16], cutoffs: [8.0]}",
                "objective={type: angle_prediction}",
            ],
            r"objective\.type=angle_prediction with encoder\.type=cdconv: angle_prediction removes the sampled "
            r"edges .* cdconv builds its graphs inside forward",
        ),
        (
            ["encoder={type: parallel, structure: {type: cdconv}}", "objective={type: dihedral_prediction}"],
            r"objective\.type=dihedral_prediction with encoder\.type=parallel: .* encoder\.structure\.type=cdconv",
        ),
        (
            ["--config", "{presets}/esm_gearnet/serial/mc.yaml"],
            r"data\.sources: environment variable AFDB_DIR is not set",
        ),
        (
            ["--config", "{presets}/esm_gearnet/serial/mc.yaml", "data.sources=[{demo}]"],
            r"encoder\.sequence\.checkpoint: environment variable ESM2_650M is not set",
        ),
    ],
)
def test_bad_combinations_are_one_line_and_write_nothing(
    args: list[str],
    expected: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import re

    monkeypatch.delenv("AFDB_DIR", raising=False)
    monkeypatch.delenv("ESM2_650M", raising=False)
    demo = APPS / "data" / "demo_structures"
    line = _bad(
        [a.replace("{presets}", str(PRESETS)).replace("{demo}", str(demo)) for a in args], tmp_path, capsys
    )
    assert re.search(expected, line), line


# ------------------------------------------------------------------------------ a preprocessed dataset
def _dataset_steps(dataset: Path, root: Path) -> list[str]:
    return [
        "data.sources=null",
        f"data.dataset={dataset}",
        "train.max_steps=2",
        "train.log_every=1",
        "train.checkpoint_every=1",
        "train.num_threads=1",
        "encoder.hidden_dims=[16,16]",
        "data.num_workers=0",
        "data.batch_size=2",
        f"output_root={root}",
        "--no-progress",
    ]


@pytest.fixture(scope="module")
def dataset_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path, list[dict]]:
    """``(run cut back to its step-1 checkpoint, its dataset, another dataset, the uninterrupted records)``: 2
    steps on the 4 FEW chains preprocessed into a sharded dataset (the other: 3 of them)."""
    from protdata.dataset import preprocess

    root = tmp_path_factory.mktemp("dataset_run")
    dataset, other = root / "few4", root / "few3"
    preprocess([str(f) for f in FEW], dataset, rank=0, world_size=1)
    preprocess([str(f) for f in FEW[:3]], other, rank=0, world_size=1)
    run = root / "run"
    assert pretrain.main([*_dataset_steps(dataset, root), f"output_dir={run}"]) == 0
    full = _records_of(run)
    shutil.rmtree(run / "checkpoints" / "step_0000002")
    (run / "checkpoints" / "latest").write_text("step_0000001\n")
    return run, dataset, other, full


def test_pretraining_on_a_dataset_records_its_fingerprint_and_resumes(
    dataset_run: tuple[Path, Path, Path, list[dict]], tmp_path: Path
) -> None:
    from protdata import open_dataset

    run, dataset, _, full = dataset_run
    assert [r["step"] for r in full] == [1, 2] and all(math.isfinite(r["loss"]) for r in full)
    state = json.loads((run / "checkpoints" / "step_0000001" / "trainer_state.json").read_text())
    assert state["data"] == {
        "fingerprint": open_dataset(dataset).fingerprint,
        "min_length": 1,
        "batch_size": 2,
        "max_tokens": None,
        "bucket_window": 100,
    }
    saved = load_config(PretrainConfig, run / "config.yaml")
    assert saved.data.dataset == str(dataset) and saved.data.sources is None
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    assert pretrain.main(["--resume", str(copy), "--no-progress"]) == 0
    got = _records_of(copy)
    assert [r["step"] for r in got] == [1, 2] and got[1]["loss"] == full[1]["loss"]  # the same micro-batch


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        (
            "data.dataset={other}",
            r"data: {step} was trained on data with fingerprint sha256:\w+, this run's data "
            r"has sha256:\w+ \(the dataset, or the files of data\.sources, changed\)",
        ),
        (
            "deepspeed.gradient_accumulation_steps=2",
            r"deepspeed\.gradient_accumulation_steps: {step} .*\(1 → 2 per "
            r"step\)",
        ),
        ("data.batch_size=3", r"data\.batch_size: {step} was trained with 2, this run asks for 3 \(2 → 3\)"),
    ],
)
def test_resume_on_other_data_or_micro_batches_is_refused(
    dataset_run: tuple[Path, Path, Path, list[dict]],
    override: str,
    expected: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import re

    run, _, other, _ = dataset_run
    step = run / "checkpoints" / "step_0000001"
    capsys.readouterr()
    line = _bad(["--resume", str(run), override.format(other=other)], run, capsys)
    assert re.search(expected.format(step=re.escape(str(step))), line), line
    assert "start a new run" in line and "init_from=" in line, line


def test_a_missing_or_doubled_dataset_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = _bad(["data.sources=null", f"data.dataset={tmp_path / 'nowhere'}"], tmp_path, capsys)
    assert line == f"error: data.dataset: {tmp_path / 'nowhere'}: no such dataset directory"
    line = _bad([f"data.dataset={tmp_path}"], tmp_path, capsys)
    assert "data.sources and data.dataset are both set" in line
