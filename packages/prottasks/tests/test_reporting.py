"""prottasks.reporting: a window's record is the mean over its micro-batches (formula), the metrics log of a resumed
run is cut back to the checkpoint's step, TensorBoard names and the curves PNG."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from prottasks.reporting import (
    METRICS_FILE,
    MetricsWindow,
    Reporter,
    curve_panels,
    format_seconds,
    plot_curves,
    read_metrics,
    split_table,
)


def test_window_record_is_the_mean_per_micro_batch() -> None:
    losses = [2.5, 1.25, 0.5]
    accuracy = [0.1, 0.4, 0.7]
    window = MetricsWindow(epoch=1)
    for loss, acc in zip(losses, accuracy):
        window.add(loss, {"accuracy": acc}, residues=100, proteins=4)
    record = window.reduce(7, lr=1e-3, grad_norm=float("nan"), device=torch.device("cpu"))
    assert record["step"] == 7 and record["epoch"] == 1 and record["lr"] == 1e-3
    np.testing.assert_allclose(record["loss"], np.mean(np.asarray(losses, np.float64)), rtol=1e-12)
    np.testing.assert_allclose(record["accuracy"], np.mean(np.asarray(accuracy, np.float64)), rtol=1e-12)
    assert "grad_norm" not in record  # not finite: left out
    # throughput: the window's residues over its seconds
    np.testing.assert_allclose(record["residues_per_s"] * window.seconds, 300.0, rtol=1e-9)
    totals = MetricsWindow()
    totals.merge(window)
    totals.merge(window)
    assert totals.residues_global == 600.0 and totals.proteins_global == 24.0
    assert window.reduce(8, 0.0, 2.0, torch.device("cpu"))["grad_norm"] == 2.0


def test_resumed_log_is_cut_back_to_the_checkpoint(tmp_path: Path) -> None:
    log = tmp_path / METRICS_FILE
    log.write_text(
        "".join(json.dumps({"step": s, "loss": 1.0 / s}) + "\n" for s in (1, 2, 3, 4)) + '{"step": 5, "lo'
    )
    assert [r["step"] for r in read_metrics(log)] == [1, 2, 3, 4]  # a torn last line is ignored
    reporter = Reporter(tmp_path, total_steps=6, start_step=2, progress=False)
    try:
        reporter.log({"step": 3, "loss": 0.25, "val_loss": 0.5})
    finally:
        reporter.close()
    assert [r["step"] for r in read_metrics(log)] == [1, 2, 3]
    assert reporter.history[-1]["loss"] == 0.25
    disabled = Reporter(tmp_path / "rank1", total_steps=6, enabled=False)
    disabled.log({"step": 1, "loss": 1.0})
    assert not (tmp_path / "rank1").exists() and disabled.history == []


def test_curves_and_seconds(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    history = [{"step": s, "loss": 1.0 / s, "lr": 0.1} for s in range(1, 6)] + [{"step": 5, "val_loss": 0.3}]
    path = plot_curves(history, tmp_path / "curves.png", title="run")
    assert path is not None and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plot_curves([], tmp_path / "none.png") is None
    assert [format_seconds(x) for x in (59.4, 125, 3 * 3600 + 61)] == ["59s", "2m05s", "3h01m"]


def test_training_and_evaluation_values_share_a_panel() -> None:
    """Fine-tuning logs ``loss`` per step and ``valid_loss`` / ``test_loss`` / ``valid_fmax`` per evaluation: the
    losses are drawn in one panel; a metric without a training counterpart gets its own; best markers none."""
    history = [{"step": s, "loss": 1.0 / s, "lr": 0.1, "accuracy": 0.5} for s in range(1, 4)]
    history += [{"step": 3, "valid_loss": 0.4, "test_loss": 0.5, "valid_fmax": 0.6, "best_valid_fmax": 0.6}]
    history += [{"step": 3, "val_accuracy": 0.55}]
    assert curve_panels(history) == {
        "loss": ["loss", "valid_loss", "test_loss"],
        "lr": ["lr"],
        "accuracy": ["accuracy", "val_accuracy"],
        "valid_fmax": ["valid_fmax"],
    }


def test_split_table_has_a_row_per_metric_and_a_column_per_split() -> None:
    record = {"step": 6, "valid_fmax": 0.61234, "valid_loss": 0.5, "test_fmax": 0.58, "lr": 1e-3}
    assert split_table(record).splitlines() == [
        "metric     valid      test",
        "fmax      0.6123    0.5800",
        "loss      0.5000         -",
    ]
    assert split_table({"loss": 1.0}) == ""
