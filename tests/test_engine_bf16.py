"""bf16 training keeps gradients and the export in fp32 (issue 13): the DeepSpeed config reduces and accumulates
gradients in fp32, and the export holds the optimizer's fp32 master weights, not the module's bf16 copy. DeepSpeed's
CPU accelerator trains bf16 here (the engine is built on CPU, gloo, one process); the app-level run in DeepSpeed's
bf16 mode needs a GPU and is skipped without one (on the CPU the apps train bf16 with autocast around fp32 DeepSpeed:
tests/test_engine_cpu_bf16.py)."""

from __future__ import annotations

import contextlib
import io
import json
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[1]
APPS = ROOT / "apps"
if str(APPS) not in sys.path:
    sys.path.insert(0, str(APPS))

from engine.checkpoint import consolidated_state_dict  # noqa: E402
from engine.distributed import import_deepspeed, setup_distributed  # noqa: E402
from engine.trainer import reduction_dtypes  # noqa: E402

from prottasks.export import export_model  # noqa: E402


def _engine(model: torch.nn.Module, stage: int, lr: float = 1e-2):
    setup_distributed("cpu")
    deepspeed = import_deepspeed("cpu")
    config = {
        "train_micro_batch_size_per_gpu": 4,
        "gradient_accumulation_steps": 2,
        "train_batch_size": 8,
        "zero_optimization": {"stage": stage},
        "bf16": {"enabled": True},
        "zero_allow_untested_optimizer": True,
        "steps_per_print": 10**9,
        **reduction_dtypes(True, stage),
    }
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    with contextlib.redirect_stdout(io.StringIO()):
        engine, *_ = deepspeed.initialize(
            model=model, optimizer=optimizer, config=config, dist_init_required=False
        )
    return engine


def _bf16_copy(engine) -> dict[str, torch.Tensor]:
    """The module's own (bf16) parameters, gathered under ZeRO-3."""
    import deepspeed

    params = list(engine.module.parameters())
    with (
        deepspeed.zero.GatheredParameters(params)
        if engine.zero_optimization_stage() == 3
        else contextlib.nullcontext()
    ):
        return {k: p.detach().clone() for k, p in engine.module.named_parameters()}


def test_reduction_dtypes() -> None:
    assert reduction_dtypes(False, 2) == {}
    assert reduction_dtypes(True, 0) == {"communication_data_type": "fp32"}
    for stage in (1, 2, 3):
        assert reduction_dtypes(True, stage) == {
            "communication_data_type": "fp32",
            "data_types": {"grad_accum_dtype": "fp32"},
        }


@pytest.mark.parametrize("stage", [0, 1, 2, 3])
def test_bf16_training_exports_the_fp32_master_weights(stage: int) -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.LayerNorm(32), torch.nn.Linear(32, 1))
    initial = {k: v.detach().double().clone() for k, v in model.state_dict().items()}
    engine = _engine(model, stage)
    assert engine.communication_data_type == torch.float32  # gradients are all-reduced in fp32
    gen = torch.Generator().manual_seed(1)
    for _ in range(6):  # 3 optimizer steps of 2 micro-batches
        x = torch.randn(4, 8, generator=gen).bfloat16()
        engine.backward(engine(x).float().pow(2).mean())
        engine.step()
    state = consolidated_state_dict(engine)
    assert state is not None and set(state) == set(initial)
    low = _bf16_copy(engine)
    for name, weight in state.items():
        assert weight.dtype == torch.float32, name
        w = weight.double()
        assert not torch.equal(w, initial[name]), name  # trained
        # the module's bf16 copy is the master rounded to bf16 (DeepSpeed copies master -> bf16 after each step)
        assert torch.equal(weight.bfloat16(), low[name].cpu()), name
        # ... and the export is not that copy: a bf16 export would be exactly bf16-representable
        assert (w != weight.bfloat16().double()).float().mean() > 0.5, name


@pytest.mark.parametrize("stage", [0, 2, 3])
def test_export_model_writes_master_weights_of_a_protstack_model(stage: int, tmp_path: Path) -> None:
    from deepspeed.utils import safe_set_full_fp32_param
    from engine.config import APPS_DIR
    from engine.pretraining import PretrainConfig, build_pretraining_model

    from protdata.configfile import load_config
    from protdata.pretrained import load_pretrained
    from prottasks.objectives import pretrained_encoder

    config = load_config(
        PretrainConfig, APPS_DIR / "configs" / "default_pretrain.yaml", ["encoder.hidden_dims=[16,16]"]
    )
    torch.manual_seed(0)
    engine = _engine(build_pretraining_model(config), stage)
    # master weights that bf16 cannot hold: the export must carry them bit for bit
    gen = torch.Generator().manual_seed(2)
    masters: dict[str, torch.Tensor] = {}
    params = dict(engine.module.named_parameters())
    if stage == 0:
        for low, high in zip(engine.optimizer.fp16_groups, engine.optimizer.fp32_groups, strict=True):
            for p, hp in zip(low, high, strict=True):
                hp.data.copy_(torch.randn(hp.shape, generator=gen))
                masters[next(k for k, q in params.items() if q is p)] = hp.detach().clone()
    else:
        for name, p in params.items():
            shape = p.ds_shape if hasattr(p, "ds_shape") else p.shape
            value = torch.randn(shape, generator=gen)
            safe_set_full_fp32_param(p, value)
            masters[name] = value
    state = consolidated_state_dict(engine)
    assert state is not None
    export_model(engine.module, state, tmp_path, {"app": "test"}, pretrained_encoder)
    encoder = load_pretrained(tmp_path)
    heads = load_file(tmp_path / "objective.safetensors")
    prefix = next(n for n, m in engine.module.named_modules() if m is pretrained_encoder(engine.module)) + "."
    exported = {prefix + k: v for k, v in encoder.state_dict().items()} | heads
    for name, value in masters.items():
        assert exported[name].dtype == torch.float32
        assert torch.equal(exported[name], value), name
    assert json.loads((tmp_path / "config.json").read_text())["app"] == "test"


@pytest.mark.slow
@pytest.mark.skipif(not torch.cuda.is_available(), reason="the apps train bf16 on a GPU only")
def test_bf16_pretraining_on_gpu_exports_fp32_master_weights(tmp_path: Path) -> None:
    import pretrain

    args = [
        "train.max_steps=4",
        "train.device=cuda",
        "deepspeed.precision=bf16",
        "deepspeed.zero_stage=2",
        "encoder.hidden_dims=[32,32]",
        "data.batch_size=4",
        "optimizer.lr=1e-3",
        f"output_dir={tmp_path / 'run'}",
        f"output_root={tmp_path}",
        "--no-progress",
    ]
    assert pretrain.main(args) == 0
    weights = load_file(tmp_path / "run" / "model.safetensors")
    trained = [v for v in weights.values() if v.is_floating_point() and v.numel() > 16]
    assert trained and all(v.dtype == torch.float32 for v in trained)
    # a bf16 copy would be bf16-representable throughout; fp32 master weights after Adam steps are not
    off = sum(int((v.double() != v.bfloat16().double()).sum()) for v in trained)
    assert off > 0.5 * sum(v.numel() for v in trained)
