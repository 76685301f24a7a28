"""What a person sees of a training run: a progress bar (loss, throughput, ETA), a JSON-lines metrics log
(``metrics.jsonl``, cut back to the checkpoint on resume), TensorBoard scalars, a PNG of the curves at the end
(:func:`plot_curves`). Only rank 0 reports (:class:`Reporter` is a no-op elsewhere). :class:`MetricsWindow` sums
one logging window's losses and metrics on each rank and reduces them over the ranks into one record.

TensorBoard (``torch.utils.tensorboard``), tqdm and matplotlib are imported when a :class:`Reporter` is enabled /
:func:`plot_curves` is called: the training apps depend on them, this module imports without them."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from protdata.atomic import atomic_path, write_text_atomic

if TYPE_CHECKING:
    import torch

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


@dataclass
class MetricsWindow:
    """Sums over the micro-batches of one logging window (this rank); after :meth:`reduce`, the window's global
    totals (all ranks), which :meth:`merge` adds into a run's totals."""

    loss_sum: float = 0.0
    count: int = 0
    residues: int = 0
    proteins: int = 0
    metric_sums: dict[str, float] = field(default_factory=dict)
    wait: float = 0.0
    epoch: int = 0
    t0: float = field(default_factory=time.perf_counter)
    residues_global: float = 0.0
    proteins_global: float = 0.0
    seconds: float = 0.0
    wait_max: float = 0.0

    def add(self, loss: float, metrics: Mapping[str, float], residues: int, proteins: int) -> None:
        """One micro-batch's loss, metrics and sizes."""
        self.loss_sum += loss
        self.count += 1
        self.residues += residues
        self.proteins += proteins
        for key, v in metrics.items():
            self.metric_sums[key] = self.metric_sums.get(key, 0.0) + float(v)

    def merge(self, other: MetricsWindow) -> None:
        """Add ``other``'s global totals (after its :meth:`reduce`) to this one's."""
        self.residues_global += other.residues_global
        self.proteins_global += other.proteins_global
        self.seconds += other.seconds
        self.wait_max += other.wait_max

    def reduce(self, step: int, lr: float, grad_norm: float | None, device: torch.device) -> dict[str, Any]:
        """The window's record over all ranks (a collective: sums on ``device``): mean loss and metrics per
        micro-batch, ``lr``, ``grad_norm`` (when finite), throughput (residues / proteins per second of the window)
        and ``data_wait`` (the slowest rank's fraction of the window spent waiting for data)."""
        from protdata.distributed import all_reduce_max, all_reduce_sum

        keys = sorted(self.metric_sums)
        sums = [self.loss_sum, float(self.count), float(self.residues), float(self.proteins)]
        reduced = all_reduce_sum([*sums, *[self.metric_sums[k] for k in keys]], device)
        elapsed = max(time.perf_counter() - self.t0, 1e-9)
        wait = all_reduce_max(self.wait, device)
        count = max(reduced[1], 1.0)
        record: dict[str, Any] = {"step": step, "epoch": self.epoch, "loss": reduced[0] / count}
        record.update({k: v / count for k, v in zip(keys, reduced[4:])})
        record["lr"] = lr
        if grad_norm is not None and math.isfinite(float(grad_norm)):
            record["grad_norm"] = float(grad_norm)
        record["residues_per_s"] = reduced[2] / elapsed
        record["proteins_per_s"] = reduced[3] / elapsed
        record["data_wait"] = wait / elapsed
        self.residues_global, self.proteins_global = reduced[2], reduced[3]
        self.seconds, self.wait_max = elapsed, wait
        return record


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


#: Prefixes of evaluation records (``val_``: pretraining / alignment; ``valid_`` / ``test_``: fine-tuning).
_SPLITS = ("val", "valid", "test")


def _tb_name(key: str) -> str:
    split, _, name = key.partition("_")
    if split in _SPLITS and name:
        return f"{split}/{name}"
    if key in {"lr", "grad_norm", "residues_per_s", "proteins_per_s", "data_wait", "epoch"}:
        return f"train/{key}"
    return f"metrics/{key}"


_SKIP_PLOT = {"step", "epoch", "time", "proteins", "residues", "eval_seconds", "best_step"}


def _panel(key: str, keys: Sequence[str]) -> str:
    """The panel of ``key``: an evaluation value (``val_loss``) shares its training value's (``loss``)."""
    split, _, name = key.partition("_")
    return name if split in _SPLITS and name in keys else key


def split_table(record: Mapping[str, float]) -> str:
    """Evaluation metrics ``<split>_<metric>`` (``valid_fmax``, ``test_fmax``, ...) as a table, one row per metric
    and one column per split, in the order logged; other keys are left out; ``""`` when there are none::

        metric        valid      test
        fmax         0.6123    0.5870
    """
    splits: dict[str, dict[str, float]] = {}
    for key, value in record.items():
        split, _, name = key.partition("_")
        if name and split in _SPLITS:
            splits.setdefault(split, {})[name] = float(value)
    if not splits:
        return ""
    names = list(dict.fromkeys(n for metrics in splits.values() for n in metrics))
    width = max(len("metric"), *(len(n) for n in names))
    lines = [f"{'metric':<{width}}" + "".join(f"{split:>10}" for split in splits)]
    for name in names:
        cells = "".join(f"{splits[s][name]:10.4f}" if name in splits[s] else f"{'-':>10}" for s in splits)
        lines.append(f"{name:<{width}}{cells}")
    return "\n".join(lines)


def curve_panels(history: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    """``{panel: [keys drawn in it]}`` of :func:`plot_curves`: one panel per logged scalar, an evaluation value
    sharing its training value's panel (``loss``, ``val_loss``, ``valid_loss``, ``test_loss`` in ``loss``)."""
    keys = list(
        dict.fromkeys(
            k
            for r in history
            for k, v in r.items()
            if k not in _SKIP_PLOT and not k.startswith("best_") and isinstance(v, int | float)
        )
    )
    panels: dict[str, list[str]] = {}
    for key in keys:
        panels.setdefault(_panel(key, keys), []).append(key)
    return panels


def plot_curves(history: Sequence[Mapping[str, Any]], path: Path, title: str = "") -> Path | None:
    """One panel per training scalar (loss first) against the step, its evaluation values (``val_loss``,
    ``valid_…``) drawn in the same panel, the selected best (``best_<key>``) starred; saved as a PNG (atomically);
    None without data."""
    if not history:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = curve_panels(history)
    names = sorted(panels, key=lambda k: (k != "loss", k not in {"accuracy", "lr"}, k))
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        for key in panels[name]:
            points = [(r["step"], r[key]) for r in history if key in r]  # evaluation: its own steps
            marker = "o" if len(points) < 30 or key != name else None
            ax.plot([s for s, _ in points], [v for _, v in points], lw=1.4, marker=marker, ms=3.5, label=key)
            best = [r for r in history if isinstance(r.get("best_" + key), int | float)]
            if best and isinstance(best[-1].get("best_step"), int):
                ax.plot([best[-1]["best_step"]], [best[-1]["best_" + key]], "*", ms=12, label="best")
        ax.set_title(name)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        if len(panels[name]) > 1:
            ax.legend(fontsize="small")
    for ax in list(axes.flat)[len(names) :]:
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
