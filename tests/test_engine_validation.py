"""apps/engine/validation.py inside the real DeepSpeed loop (engine.trainer.Trainer) on real GB1 ddG data with a
tiny ESM-2 regression model: validation records at the right steps, their metrics equal SciPy / NumPy recomputed on
the checkpointed models, the best model exported is the checkpoint of the best step, ReduceLROnPlateau gives the
learning rates torch's own scheduler gives for the same values, and a resumed run repeats the uninterrupted one
(prottasks.optim.plateau_step alone: packages/prottasks/tests/test_optim.py)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

APPS = Path(__file__).resolve().parents[1] / "apps"
if str(APPS) not in sys.path:
    sys.path.insert(0, str(APPS))

from engine.builders import build_encoder  # noqa: E402
from engine.checkpoint import restricted_torch_load, verify_checkpoint  # noqa: E402
from engine.config import DeepSpeedConfig, TrainConfig  # noqa: E402
from engine.distributed import setup_distributed  # noqa: E402
from engine.finetuning import PlateauConfig  # noqa: E402
from engine.trainer import Trainer  # noqa: E402
from engine.validation import BEST_DIR, Validation  # noqa: E402

from protdata import Protein, ProteinBatch  # noqa: E402
from protdata.testing import shared_data  # noqa: E402
from protfusion import SequenceEncoderConfig  # noqa: E402
from prottasks import TaskModel  # noqa: E402
from prottasks.data import (  # noqa: E402
    LabelledDataConfig,
    TableLabels,
    evaluate_splits,
    prepare_labelled_data,
    read_labels,
)
from prottasks.heads import RegressionHeadConfig  # noqa: E402
from prottasks.optim import OptimizerConfig, SchedulerConfig  # noqa: E402

#: The monitored score of each evaluation (scripted, so that selection and the plateau are known in advance).
SCORES = [0.3, 0.5, 0.4, 0.45]
LR = 1e-3


@pytest.fixture(scope="module")
def gb1():
    path = shared_data("dms", "mavenn_nisthal_gb1_data.csv")
    table = read_labels(
        TableLabels(
            path=str(path), task="regression", id_column="name", label_column="y", sequence_column="x"
        )
    )
    config = LabelledDataConfig(
        labels=TableLabels(path="unused"), splits={"valid_fraction": 0.03, "seed": 4}, batch_size=16
    )
    data = prepare_labelled_data(
        config, table, needs_structures=False, encode_3di=False, cache_dir=None, seed=7
    )
    return table, data


def _model(data) -> torch.nn.Module:
    torch.manual_seed(0)
    encoder = SequenceEncoderConfig(
        type="esm2", architecture={"num_layers": 2, "embed_dim": 16, "attention_heads": 2}
    )
    model = TaskModel.from_encoder(build_encoder(encoder), RegressionHeadConfig())
    return model.fit(data.train.targets)


def _fit(run_dir: Path, data, model, start: int = 0, resume=None) -> Validation:
    dist = setup_distributed("cpu")
    calls = iter(range(start, len(SCORES)))
    splits = {"valid": data.evaluation["valid"]}

    def evaluate(forward):
        real = evaluate_splits(forward, splits, "regression", dist.device, dist.rank, dist.world_size)
        return {**real, "valid_score": SCORES[next(calls)]}

    validation = Validation(
        evaluate,
        monitor="valid_score",
        mode="max",
        every_steps=2,
        plateau=PlateauConfig(mode="max", patience=0, factor=0.5),
    )
    trainer = Trainer(
        model,
        data,
        optimizer=OptimizerConfig(type="adam", lr=LR),
        scheduler=SchedulerConfig(),
        deepspeed=DeepSpeedConfig(),
        train=TrainConfig(max_steps=8, log_every=1, checkpoint_every=2, keep_checkpoints=4, num_threads=1),
        seed=3,
        run_dir=run_dir,
        dist=dist,
        export_config={"app": "test"},
        progress=False,
        validation=validation,
    )
    trainer.fit(resume)
    return validation


@pytest.fixture(scope="module")
def run(gb1, tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("validation") / "run"
    _fit(run_dir, gb1[1], _model(gb1[1]))
    return run_dir


def _records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


#: Bound, in units of float32 spacing at the largest |prediction|, on how far the app's float32 predictions
#: (batched, whatever kernels this CPU picks: AVX2, AVX-512, AMX) may lie from float64 ones. Measured: < 1.2.
FLOAT32_ULPS = 16


def _float64_predictions(model: torch.nn.Module, proteins: list[Protein]) -> np.ndarray:
    """The model's predictions in float64, one protein at a time: independent of the app's batches and ISA."""
    model.double().eval()
    with torch.no_grad():
        return np.array([float(model(ProteinBatch.collate([p])).output[0]) for p in proteins])


def _pearson_tolerance(pred: np.ndarray) -> float:
    """How far Pearson's r can move when every prediction moves by ``FLOAT32_ULPS`` float32 spacings.

    ``|∇r| = sqrt(1 − r²) / ‖p − p̄‖ ≤ 1 / ‖p − p̄‖``, so ``|Δr| ≤ ‖δ‖ / ‖p − p̄‖``: the tolerance scales with the
    predictions' magnitude over their spread (≈ 0.35 / 0.003 here: one float32 spacing alone moves r by ~1e-5).
    """
    delta = FLOAT32_ULPS * float(np.spacing(np.float32(np.abs(pred).max())))
    return delta * np.sqrt(len(pred)) / float(np.linalg.norm(pred - pred.mean()))


@pytest.mark.numerics
def test_validation_records_equal_metrics_recomputed_on_the_checkpoints(run: Path, gb1) -> None:
    import scipy.stats

    table, data = gb1
    valid = [r for r in _records(run) if "valid_score" in r]
    assert [r["step"] for r in valid] == [2, 4, 6, 8] and [r["valid_score"] for r in valid] == SCORES
    split = data.evaluation["valid"]
    truth = np.array([table.targets[i] for i in split.ids])
    proteins = [Protein.from_sequence(i, table.sequences[i]) for i in split.ids]
    pearsons, tols = [], []
    for record in valid:
        model = _model(data)
        with restricted_torch_load():
            state = torch.load(
                run / "checkpoints" / f"step_{record['step']:07d}" / "mp_rank_00_model_states.pt"
            )
        model.load_state_dict(state["module"])
        pred = _float64_predictions(model, proteins)
        tol = _pearson_tolerance(pred)
        pearson = scipy.stats.pearsonr(pred, truth)[0]
        assert record["valid_pearson"] == pytest.approx(pearson, abs=tol), record["step"]
        pearsons.append(pearson)
        tols.append(tol)
        # Float32 error (< tol·spread) cannot reorder predictions this far apart: the ranks are exact.
        assert np.diff(np.sort(pred)).min() > 2 * FLOAT32_ULPS * np.spacing(np.float32(np.abs(pred).max()))
        assert record["valid_spearman"] == pytest.approx(scipy.stats.spearmanr(pred, truth)[0], abs=1e-9)
        assert record["valid_mae"] == pytest.approx(np.abs(pred - truth).mean(), rel=1e-5)
        assert record["valid_loss"] == pytest.approx(((pred - truth) ** 2).mean(), rel=1e-5)
    # The tolerance still tells the checkpoints apart: each record matches its own step's model only.
    gaps = np.abs(np.subtract.outer(pearsons, pearsons))[~np.eye(len(pearsons), dtype=bool)]
    assert gaps.min() > 10 * max(tols), (pearsons, tols)


def test_best_model_is_the_checkpoint_of_the_best_step(run: Path) -> None:
    best = json.loads((run / BEST_DIR / "config.json").read_text())
    assert best["selected"] == {"metric": "valid_score", "value": 0.5, "step": 4, "mode": "max"}
    weights = load_file(str(run / BEST_DIR / "model.safetensors"))
    with restricted_torch_load():
        state = torch.load(run / "checkpoints" / "step_0000004" / "mp_rank_00_model_states.pt")["module"]
        later = torch.load(run / "checkpoints" / "step_0000008" / "mp_rank_00_model_states.pt")["module"]
    assert weights.keys() == state.keys()
    for k in weights:
        torch.testing.assert_close(weights[k], state[k], rtol=0, atol=0)
    assert any(not torch.equal(weights[k], later[k]) for k in weights)  # the last model is another one
    assert [r["best_valid_score"] for r in _records(run) if "valid_score" in r] == [0.3, 0.5, 0.5, 0.5]


def test_plateau_learning_rates_equal_torch(run: Path) -> None:
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=LR)
    ref = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=0.5, patience=0)
    expected = {}
    for step, score in zip([2, 4, 6, 8], SCORES):
        ref.step(score)
        expected[step] = opt.param_groups[0]["lr"]
    logged = {r["step"]: r["lr"] for r in _records(run) if "loss" in r}  # lr of each optimizer step
    for step in range(1, 9):
        before = max([s for s in expected if s < step], default=None)
        assert logged[step] == pytest.approx(expected[before] if before else LR, rel=1e-12), step
    assert [r.get("plateau_lr") for r in _records(run) if "valid_score" in r] == [None, None, LR / 2, LR / 4]


def test_resume_repeats_the_uninterrupted_run(run: Path, gb1, tmp_path: Path) -> None:
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    for step in (6, 8):
        shutil.rmtree(copy / "checkpoints" / f"step_{step:07d}")
    (copy / "checkpoints" / "latest").write_text("step_0000004\n")
    state = verify_checkpoint(copy / "checkpoints" / "step_0000004")
    validation = _fit(copy, gb1[1], _model(gb1[1]), start=2, resume=state)
    assert (validation.best, validation.best_step) == (0.5, 4) and validation.reductions == 2
    a, b = _records(run), _records(copy)
    assert [r["step"] for r in a] == [r["step"] for r in b]
    for x, y in zip(a, b):
        for key in ("loss", "lr", "valid_spearman", "valid_loss", "best_valid_score", "plateau_lr"):
            if key in x:
                assert y[key] == pytest.approx(x[key], rel=1e-6, abs=1e-9), (x["step"], key)


@pytest.mark.parametrize(
    ("scores", "patience", "min_delta", "stop"),
    [
        (
            [0.3, 0.5, 0.4, 0.45, 0.9, 0.9, 0.9, 0.9],
            2,
            0.0,
            8,
        ),  # 0.4, 0.45: two evaluations without a new best
        ([0.3, 0.5, 0.4, 0.45, 0.9, 0.9, 0.9, 0.9], 2, 0.25, 6),  # 0.5 beats 0.3 by less than min_delta
        ([0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1], 1, 0.0, None),  # always improving: runs to the end
    ],
)
def test_early_stopping_ends_the_run_after_patience_evaluations(
    gb1, tmp_path: Path, scores: list[float], patience: int, min_delta: float, stop: int | None
) -> None:
    """Stops at the evaluation where ``patience`` evaluations in a row failed to improve the best by more than
    ``min_delta`` (transformers' EarlyStoppingCallback rule), checkpoints and exports that step, and keeps the
    metrics of the best step for the summary table."""
    data = gb1[1]
    dist = setup_distributed("cpu")
    calls = iter(scores)
    validation = Validation(
        lambda forward: {"valid_score": next(calls), "test_score": 0.25},
        monitor="valid_score", mode="max", every_steps=2, patience=patience, min_delta=min_delta,
    )  # fmt: skip
    run_dir = tmp_path / "run"
    trainer = Trainer(
        _model(data), data, optimizer=OptimizerConfig(type="adam", lr=LR), scheduler=SchedulerConfig(),
        deepspeed=DeepSpeedConfig(), train=TrainConfig(max_steps=16, log_every=1, checkpoint_every=100, num_threads=1),
        seed=3, run_dir=run_dir, dist=dist, export_config={"app": "test"}, progress=False, validation=validation,
    )  # fmt: skip
    result = trainer.fit()
    end = stop or 16
    assert result.stopped_early == stop
    assert max(r["step"] for r in _records(run_dir)) == end
    assert json.loads((run_dir / "config.json").read_text())["step"] == end
    assert (run_dir / "checkpoints" / f"step_{end:07d}").is_dir()
    best = max(scores[: end // 2])
    assert validation.best == best and validation.best_step == 2 * (scores.index(best) + 1)
    assert validation.best_record == {"valid_score": best, "test_score": 0.25}
    assert validation.best_table().splitlines()[1].split() == ["score", f"{best:.4f}", "0.2500"]
    assert ("stopped early" in result.summary()) == (stop is not None)
