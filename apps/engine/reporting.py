"""What a person sees: a progress bar (loss, throughput, ETA), a JSON-lines metrics log, TensorBoard scalars, a PNG
of the curves at the end and a one-line summary of where everything was written. Only rank 0 reports."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from protdata.atomic import atomic_path, write_text_atomic

METRICS_FILE = "metrics.jsonl"
PLOT_FILE = "curves.png"
TENSORBOARD_DIR = "tensorboard"


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The records of a metrics log (a torn last line — a killed run — is ignored)."""
    if not path.is_file():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            break
    return records


class Reporter:
    """Progress bar + metrics log + TensorBoard of one run (a no-op on ranks other than 0).

    Args:
        run_dir: The run's output directory.
        total_steps: Optimizer steps of the whole run (for the bar and the ETA).
        start_step: First step of this process (> 0 when resuming: the log keeps the records up to it, TensorBoard
            purges later events).
        enabled: False on ranks other than 0.
        progress: Show the progress bar.
    """

    def __init__(
        self,
        run_dir: Path,
        total_steps: int,
        start_step: int = 0,
        enabled: bool = True,
        progress: bool = True,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.enabled = enabled
        self.history: list[dict[str, Any]] = []
        self._bar = None
        self._tb = None
        self._log = None
        if not enabled:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.run_dir / METRICS_FILE
        kept = [r for r in read_metrics(log_path) if r.get("step", 0) <= start_step]
        if log_path.exists():  # resume: drop what the interrupted run logged after its checkpoint
            write_text_atomic(log_path, "".join(json.dumps(r) + "\n" for r in kept))
        self.history = kept
        self._log = open(log_path, "a")  # noqa: SIM115 - closed in close()
        from torch.utils.tensorboard import SummaryWriter

        self._tb = SummaryWriter(
            str(self.run_dir / TENSORBOARD_DIR), purge_step=start_step + 1 if start_step else None
        )
        if progress:
            from tqdm.auto import tqdm

            self._bar = tqdm(
                total=total_steps,
                initial=start_step,
                unit="step",
                dynamic_ncols=True,
                file=sys.stderr,
                mininterval=1.0,
                smoothing=0.1,
            )

    def step(self, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def log(self, record: Mapping[str, Any]) -> None:
        """Append one record (``step`` plus scalars) to the log, TensorBoard and the bar's postfix."""
        if not self.enabled:
            return
        record = dict(record)
        self.history.append(record)
        assert self._log is not None
        self._log.write(json.dumps(record) + "\n")
        self._log.flush()
        step = int(record["step"])
        if self._tb is not None:
            for key, value in record.items():
                if key != "step" and isinstance(value, int | float) and math.isfinite(value):
                    self._tb.add_scalar(_tb_name(key), value, step)
            self._tb.flush()
        if self._bar is not None:
            if "loss" in record:
                post = {"loss": f"{record['loss']:.4f}"}
                if "residues_per_s" in record:
                    post["res/s"] = f"{record['residues_per_s']:,.0f}"
                self._bar.set_postfix(post, refresh=False)
            else:  # a validation record (engine.validation): one line above the bar
                shown = [
                    f"{k} {v:.4f}" for k, v in record.items() if k not in _SKIP_PLOT and isinstance(v, float)
                ]
                self._bar.write(f"step {step}: " + ", ".join(shown), file=sys.stderr)

    def write(self, message: str) -> None:
        """A line that does not break the progress bar."""
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.write(message, file=sys.stderr)
        else:
            print(message, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if self._tb is not None:
            self._tb.close()
            self._tb = None
        if self._log is not None:
            self._log.close()
            self._log = None


def _tb_name(key: str) -> str:
    split, _, name = key.partition("_")
    if split in ("valid", "test") and name:
        return f"{split}/{name}"
    if key in {"lr", "grad_norm", "residues_per_s", "proteins_per_s", "data_wait", "epoch"}:
        return f"train/{key}"
    return f"metrics/{key}"


_SKIP_PLOT = {"step", "epoch", "time", "proteins", "residues", "eval_seconds"}


def plot_curves(history: Sequence[Mapping[str, Any]], path: Path, title: str = "") -> Path | None:
    """One panel per scalar (loss first) against the step, saved as a PNG (atomically); None without data."""
    if not history:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = list(
        dict.fromkeys(
            k for r in history for k, v in r.items() if k not in _SKIP_PLOT and isinstance(v, int | float)
        )
    )
    keys.sort(key=lambda k: (k != "loss", k not in {"accuracy", "lr"}, k))
    cols = min(3, len(keys))
    rows = math.ceil(len(keys) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False)
    steps = [r["step"] for r in history]
    for ax, key in zip(axes.flat, keys):
        points = [(s, r[key]) for s, r in zip(steps, history) if key in r]  # validation: its own steps
        ax.plot(
            [s for s, _ in points], [v for _, v in points], lw=1.4, marker="o" if len(points) < 30 else None
        )
        ax.set_title(key)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(keys) :]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path


def format_seconds(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, s = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{s:02d}s"
    hours, m = divmod(minutes, 60)
    return f"{hours}h{m:02d}m"


@contextlib.contextmanager
def quiet_logger(name: str) -> Iterator[None]:
    """Only errors from the logger ``name`` while the block runs (its level is restored afterwards)."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
