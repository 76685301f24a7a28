"""apps/finetune.py with ``lora:`` (prottasks.lora over PEFT) under DeepSpeed ZeRO-2 on the CPU (gloo, one process)
and the layer-wise lr ratio: a tiny fair-esm ESM-2 checkpoint fine-tuned a few steps on real nrPDB-EC chains. The
frozen weights in the run's checkpoint equal the base checkpoint's, the export holds only adapters + head and
references the base by path + sha256 (checked with hashlib), reloads (as apps/predict.py loads it) to the scores of
the trained state, equals the LoRA formula ``W + alpha / r · B A`` applied by hand, and merges to a plain model."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import shutil
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
from app_testing import fair_esm_checkpoint  # noqa: E402
from engine.checkpoint import restricted_torch_load  # noqa: E402

from protdata import read_fasta  # noqa: E402
from protdata.pretrained import build_model, load_pretrained  # noqa: E402
from protdata.testing import shared_data  # noqa: E402
from prottasks.lora import merge_pretrained  # noqa: E402
from prottasks.predictions import load_task_model  # noqa: E402
from prottasks.task_model import TaskModel  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.numerics]
pytest.importorskip("peft")

ARCH = "{num_layers: 2, embed_dim: 32, attention_heads: 4}"
ARCH_DICT = {"num_layers": 2, "embed_dim": 32, "attention_heads": 4}
STEPS = 4


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A tiny random ESM-2 (2 × 32) in fair-esm's ``.pt`` layout."""
    return fair_esm_checkpoint(tmp_path_factory, seed=11)[2]


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory, checkpoint) -> dict:
    folder = shared_data("ec_go_benchmark", "deepfri")
    fasta = folder / "nrPDB-EC_2020.04_test_sequences.fasta"
    with (folder / "nrPDB-EC_2020.04_annot.tsv").open() as f:
        annotated = {r[0] for r in list(csv.reader(f, delimiter="\t"))[3:] if r}
    chains = [p.id for p in read_fasta(fasta) if p.id in annotated]
    tmp = tmp_path_factory.mktemp("lora")
    splits = {"train": chains[:12], "valid": chains[12:18], "test": chains[18:22]}
    for name, ids in splits.items():
        (tmp / f"{name}.txt").write_text("\n".join(ids) + "\n")
    config = tmp / "lora.yaml"
    config.write_text(f"""
name: lora-tiny
encoder: {{type: esm2, architecture: {ARCH}, checkpoint: {checkpoint}}}
head: {{type: multi_label, num_mlp_layer: 2}}
lora: {{r: 4, alpha: 16, dropout: 0.0}}
data:
  labels: {{type: nrpdb_ec, folder: {folder}}}
  sequences: [{fasta}]
  splits: {{train: {tmp}/train.txt, valid: {tmp}/valid.txt, test: {tmp}/test.txt}}
  transform: {{type: truncate, max_length: 200}}
  batch_size: 4
  num_workers: 0
optimizer: {{type: adam, lr: 2.0e-2, lr_ratios: {{encoder: 0.5}}}}
deepspeed: {{zero_stage: 2}}
evaluation: {{every_steps: 2}}
train: {{max_steps: {STEPS}, log_every: 1, checkpoint_every: 2, num_threads: 1, device: cpu}}
""")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = finetune.main(["--config", str(config), f"output_root={tmp / 'runs'}", "--no-progress"])
    assert status == 0, err.getvalue()[-2000:]
    (run_dir,) = (tmp / "runs").glob("lora-tiny-*")
    proteins = [p for p in read_fasta(fasta) if p.id in splits["test"] + splits["valid"]]
    return {
        "dir": run_dir,
        "config": config,
        "checkpoint": checkpoint,
        "stderr": err.getvalue(),
        "proteins": proteins,
    }


def _trained_state(run_dir: Path) -> dict[str, torch.Tensor]:
    """The full module state of the last DeepSpeed checkpoint (independent of the export)."""
    with restricted_torch_load():
        states = torch.load(run_dir / "checkpoints" / f"step_{STEPS:07d}" / "mp_rank_00_model_states.pt")
    return states["module"]


def test_only_adapters_and_head_train(lora_run) -> None:
    state = _trained_state(lora_run["dir"])
    base = build_model({"type": "esm2", "architecture": ARCH_DICT, "checkpoint": str(lora_run["checkpoint"])})
    base = base.state_dict()
    frozen = {k: v for k, v in state.items() if k.startswith("encoder.") and ".lora_" not in k}
    assert len(frozen) == len(base)
    for name, value in frozen.items():
        torch.testing.assert_close(
            value, base[name[len("encoder.") :].replace(".base_layer", "")], rtol=0, atol=0
        )
    lora_b = [v for k, v in state.items() if ".lora_B." in k]
    assert len(lora_b) == 4 and all(v.abs().max() > 0 for v in lora_b)  # PEFT starts B at 0: it trained
    assert "trainable" in lora_run["stderr"] and "ZeRO 2" in lora_run["stderr"]


def test_export_is_small_references_the_base_and_reloads(lora_run, tmp_path) -> None:
    run_dir, checkpoint = lora_run["dir"], lora_run["checkpoint"]
    header = json.loads((run_dir / "config.json").read_text())
    base = header["config"]["base_weights"]
    assert base == {
        "module": "encoder",
        "path": str(checkpoint.resolve()),
        "sha256": hashlib.sha256(checkpoint.read_bytes()).hexdigest(),
    }
    assert header["config"]["lora"]["r"] == 4 and len(header["config"]["lora"]["modules"]) == 4
    saved = load_file(run_dir / "model.safetensors")
    assert all(".lora_" in k or k.startswith("head.") for k in saved)
    adapter_bytes = sum(v.numel() * v.element_size() for k, v in saved.items() if ".lora_" in k)
    assert 0 < adapter_bytes <= checkpoint.stat().st_size / 10

    # the export as apps/predict.py loads it = the trained state of the last checkpoint, exactly
    model, _, _ = load_task_model(run_dir)
    scores = model.predict(lora_run["proteins"])
    state = _trained_state(run_dir)
    same = TaskModel(header["config"])  # base from the referenced checkpoint, then every trained tensor
    same.load_state_dict(state)
    np.testing.assert_array_equal(same.predict(lora_run["proteins"]), scores)

    # independent: a plain task model with W + alpha / r · B @ A computed here
    plain_config = {**header["config"], "lora": None, "base_weights": None}
    plain = TaskModel(plain_config)
    scale, modules = 16 / 4, header["config"]["lora"]["modules"]
    formula = {}
    for name in plain.state_dict():
        module, _, leaf = name.rpartition(".")
        if module in modules:
            value = state[f"{module}.base_layer.{leaf}"].double()
            if leaf == "weight":
                a, b = (state[f"{module}.lora_{x}.default.weight"].double() for x in "AB")
                value = value + scale * b @ a
            formula[name] = value.float()
        else:
            formula[name] = state[name]
    plain.load_state_dict(formula)
    np.testing.assert_allclose(plain.predict(lora_run["proteins"]), scores, rtol=0, atol=1e-5)

    merge_pretrained(run_dir, tmp_path / "merged")
    merged = load_pretrained(tmp_path / "merged")
    assert (
        merged.config.lora is None and json.loads((tmp_path / "merged" / "config.json").read_text())["task"]
    )
    np.testing.assert_allclose(merged.predict(lora_run["proteins"]), scores, rtol=0, atol=1e-5)
    best = load_pretrained(run_dir / "best")  # the best export is a LoRA export too
    assert best.config.base_weights == model.config.base_weights

    # apps/predict.py on the LoRA export: its top-3 labels per protein with the library's scores
    fasta = tmp_path / "some.fasta"
    fasta.write_text("".join(f">{p.id}\n{p.sequence}\n" for p in lora_run["proteins"]))
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert (
            predict.main(["-m", str(run_dir), "-i", str(fasta), "-o", str(tmp_path / "p.tsv"), "-k", "3"])
            == 0
        )
    with (tmp_path / "p.tsv").open() as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    labels, index = model.labels, {p.id: i for i, p in enumerate(lora_run["proteins"])}
    assert len(rows) == 3 * len(index)
    for row in rows:
        want = scores[index[row["protein"]], labels.index(row["label"])]
        assert float(row["score"]) == pytest.approx(want, abs=1e-5)


def test_resume_continues_exactly(lora_run, tmp_path) -> None:
    """A LoRA run resumed from its step-2 ZeRO-2 checkpoint logs the same losses and exports the same adapters."""
    copy = tmp_path / "run"
    shutil.copytree(lora_run["dir"], copy)
    shutil.rmtree(copy / "checkpoints" / f"step_{STEPS:07d}")
    (copy / "checkpoints" / "latest").write_text("step_0000002\n")
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert finetune.main(["--resume", str(copy), "--no-progress"]) == 0
    losses = [
        [
            json.loads(line)["loss"]
            for line in (d / "metrics.jsonl").read_text().splitlines()
            if '"loss"' in line
        ]
        for d in (lora_run["dir"], copy)
    ]
    assert losses[1] == pytest.approx(losses[0], rel=1e-6)
    a, b = load_file(lora_run["dir"] / "model.safetensors"), load_file(copy / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("stage", [0, 1, 2])
def test_deepspeed_bf16_exports_fp32_adapters_without_the_base(checkpoint, stage, tmp_path) -> None:
    """DeepSpeed's bf16 mode (its CPU accelerator, gloo, one process) keeps fp32 masters of the adapters and head
    only: the export carries those masters bit for bit, and the frozen base comes back exactly from the checkpoint."""
    from deepspeed.utils import safe_get_full_fp32_param
    from engine.checkpoint import consolidated_state_dict
    from engine.distributed import import_deepspeed, setup_distributed
    from engine.trainer import reduction_dtypes

    from protdata import ProteinBatch
    from prottasks.export import export_model
    from prottasks.lora import LoraConfig, apply_lora

    encoder = build_model({"type": "esm2", "architecture": ARCH_DICT, "checkpoint": str(checkpoint)})
    torch.manual_seed(0)
    model = TaskModel.from_encoder(
        encoder, {"type": "single_label", "num_classes": 3}, labels=["a", "b", "c"]
    )
    apply_lora(model, LoraConfig(r=4, alpha=16, dropout=0.0), base=checkpoint)
    base = {k: v.clone() for k, v in model.state_dict().items() if "base_layer" in k}
    setup_distributed("cpu")
    config = {
        "train_micro_batch_size_per_gpu": 2,
        "zero_optimization": {"stage": stage},
        "bf16": {"enabled": True},
        "zero_allow_untested_optimizer": True,
        "steps_per_print": 10**9,
        **reduction_dtypes(True, stage),
    }
    trainable = [p for p in model.parameters() if p.requires_grad]
    with contextlib.redirect_stdout(io.StringIO()):
        engine, *_ = import_deepspeed("cpu").initialize(
            model=model,
            optimizer=torch.optim.Adam(trainable, lr=1e-2),
            config=config,
            dist_init_required=False,
        )
    proteins = read_fasta(shared_data("function", "cafa_like_sequences.fasta"))[:2]
    batch = ProteinBatch.collate([p.select(slice(0, 60)) for p in proteins])
    for _ in range(2):
        engine.backward(engine(batch, targets=torch.tensor([0, 2])).loss.float())
        engine.step()
    named = {n: p for n, p in engine.module.named_parameters() if p.requires_grad}
    if stage == 0:  # DeepSpeed's bf16 optimizer without ZeRO: fp32 groups beside the bf16 ones
        by_id = {id(p): n for n, p in named.items()}
        groups = zip(engine.optimizer.fp16_groups, engine.optimizer.fp32_groups, strict=True)
        masters = {by_id[id(p)]: hp.detach() for low, high in groups for p, hp in zip(low, high, strict=True)}
    else:
        masters = {n: safe_get_full_fp32_param(p) for n, p in named.items()}
    assert set(masters) == set(named)
    state = consolidated_state_dict(engine)
    assert state is not None
    export_model(engine.module, state, tmp_path, {"app": "test"})
    saved = load_file(tmp_path / "model.safetensors")
    assert set(saved) == set(masters) | {k for k in state if k.startswith("head.") and k not in masters}
    for name, value in masters.items():
        assert saved[name].dtype == torch.float32 and torch.equal(saved[name], value), name
    assert any(".lora_B." in n and v.abs().max() > 0 for n, v in saved.items())
    reloaded = load_pretrained(tmp_path)
    for name, value in reloaded.state_dict().items():
        if "base_layer" in name:
            assert torch.equal(value, base[name]), name  # fp32 from the checkpoint, not the bf16 copy


@pytest.mark.parametrize("stage", [0, 1, 2])
def test_zero_stages_step_with_the_encoder_lr_ratio(checkpoint, stage) -> None:
    """ZeRO 0 / 1 / 2 (fp32, gloo, one process) with ``lr_ratios: {encoder: 0.5}`` over a LoRA model, the optimizer
    built as the app builds it (:func:`prottasks.optim.build_optimizer`): one Adam step moves every trainable
    tensor by Adam's first step ``-lr_group · g / (|g| + eps)`` (Kingma & Ba 2015, bias-corrected ``m = g``,
    ``v = g²``), with ``g`` from plain torch on a copy and ``lr_group`` = 0.5 × lr for the encoder's adapters, lr for
    the head; the frozen base does not move."""
    import copy

    from engine.distributed import import_deepspeed, setup_distributed

    from protdata import ProteinBatch
    from prottasks.lora import LoraConfig, apply_lora
    from prottasks.optim import OptimizerConfig, build_optimizer

    lr, eps = 1e-2, 1e-8
    encoder = build_model({"type": "esm2", "architecture": ARCH_DICT, "checkpoint": str(checkpoint)})
    torch.manual_seed(0)
    model = TaskModel.from_encoder(
        encoder, {"type": "single_label", "num_classes": 3}, labels=["a", "b", "c"]
    )
    apply_lora(model, LoraConfig(r=4, alpha=16, dropout=0.0), base=checkpoint)
    with torch.no_grad():  # PEFT starts B at 0 (A would get no gradient): a random B for a non-trivial step
        for name, p in model.named_parameters():
            if ".lora_B." in name:
                p.normal_(0.0, 0.1)
    model.eval()  # no dropout: both sides see the same function
    proteins = read_fasta(shared_data("function", "cafa_like_sequences.fasta"))[:2]
    batch = ProteinBatch.collate([p.select(slice(0, 60)) for p in proteins])
    targets = torch.tensor([0, 2])

    reference = copy.deepcopy(model)
    reference(batch, targets=targets).loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in reference.named_parameters() if p.requires_grad}
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    assert any(".lora_A." in n for n in grads) and any(n.startswith("head.") for n in grads)

    optimizer = build_optimizer(
        model, OptimizerConfig(type="adam", lr=lr, eps=eps, lr_ratios={"encoder": 0.5})
    )
    assert sorted({g["lr"] for g in optimizer.param_groups}) == [0.5 * lr, lr]
    setup_distributed("cpu")
    config = {
        "train_micro_batch_size_per_gpu": 2,
        "zero_optimization": {"stage": stage},
        "zero_allow_untested_optimizer": True,
        "steps_per_print": 10**9,
    }
    with contextlib.redirect_stdout(io.StringIO()):
        engine, *_ = import_deepspeed("cpu").initialize(
            model=model, optimizer=optimizer, config=config, dist_init_required=False
        )
    engine.backward(engine(batch, targets=targets).loss)
    engine.step()
    for name, p in engine.module.named_parameters():
        delta = (p.detach() - before[name]).double()
        if name not in grads:
            assert torch.equal(delta, torch.zeros_like(delta)), name  # frozen base
            continue
        g = grads[name].double()
        group_lr = 0.5 * lr if name.startswith("encoder.") else lr
        want = -group_lr * g / (g.abs() + eps)
        clear = g.abs() > 1e-4  # |g| >> eps: the step is ±lr_group, insensitive to the rounding of g
        torch.testing.assert_close(delta[clear], want[clear], rtol=1e-4, atol=1e-7, msg=name)
        assert bool((delta.abs() <= group_lr * (1 + 1e-4)).all()), name
        assert bool(clear.any()), name


def test_lora_with_init_from_is_a_config_error(lora_run, capsys) -> None:
    """``lora`` + ``init_from``: refused as one ``error:`` line naming both keys, exit status 2, no run folder."""
    from app_testing import run_main

    out = lora_run["dir"].parent.parent / "refused"
    argv = ["--config", str(lora_run["config"]), f"init_from={lora_run['checkpoint']}", f"output_root={out}"]
    status, _, stderr = run_main(finetune.main, [*argv, "--no-progress"], capsys)
    assert status == 2, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "lora" in errors[0] and "init_from" in errors[0], stderr
    assert "Traceback" not in stderr
    assert not out.exists() or not any(out.iterdir())
