"""The command-line skeleton the apps share.

Training apps (``apps/pretrain.py``, ``apps/finetune.py``, ``apps/align.py``): :func:`training_parser`,
:func:`run_main` (one ``error:`` line and status 2 for bad input; ``128 + signal`` for a run stopped by a signal,
with the ``--resume`` command), :func:`resolve_run_config` / :func:`check_resume_state` (``--resume`` keeps the
run's config and learning-rate schedule), then :func:`distributed`, :func:`main_rank_first`,
:func:`open_run_dir` and :func:`make_trainer` for the run itself. One-shot apps (``apps/embed.py``,
``apps/predict.py``, ``apps/score.py``): :func:`inference_parser` and :func:`run_config_main`.

Nothing here imports torch at module level: ``--help`` and config errors answer before torch loads.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from engine.config import expand_path
from engine.errors import ConfigError, DataError, error_boundary
from engine.runs import latest_run, new_run_dir, resolve_checkpoint
from engine.stopping import Interrupted
from protdata.atomic import write_text_atomic
from protdata.configfile import dump_yaml, load_config

if TYPE_CHECKING:  # torch, DeepSpeed and the trainer load inside the run: --help and config errors stay fast
    from torch import nn

    from engine.distributed import DistContext
    from engine.trainer import Trainer

C = TypeVar("C")
M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


# ------------------------------------------------------------------------------------------ training apps
def _parser(
    prog: str, doc: str, examples: str, source: str, config_help: str, override_example: str
) -> argparse.ArgumentParser:
    """A parser with the overrides and ``--config``; the description is the first paragraph of ``doc`` and
    where settings come from (``source``)."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description=doc.split("\n\n")[0]
        + f" Settings come from {source} and key=value overrides with dotted "
        "keys; unknown keys and wrong types are errors that name the key.",
        epilog=examples,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "overrides", nargs="*", metavar="KEY=VALUE", help=f"config overrides, e.g. {override_example}"
    )
    parser.add_argument("--config", type=Path, metavar="FILE.yaml", help=config_help)
    # the deepspeed launcher appends --local_rank=N (torch.distributed.launch: --local-rank N); LOCAL_RANK in the
    # environment is the source of truth (engine.distributed.detect_launch)
    parser.add_argument("--local_rank", "--local-rank", type=int, dest="local_rank", help=argparse.SUPPRESS)
    return parser


def training_parser(
    prog: str, doc: str, examples: str, *, config_source: str, config_help: str, override_example: str
) -> argparse.ArgumentParser:
    """The training apps' parser: overrides, ``--config``, ``--resume``, ``--print-config``, ``--no-progress``;
    the description is the first paragraph of the app's ``doc`` and where its settings come from."""
    parser = _parser(prog, doc, examples, f"a YAML config ({config_source})", config_help, override_example)
    parser.add_argument(
        "--resume",
        nargs="?",
        const="latest",
        metavar="DIR",
        help="continue a run from its checkpoint: a run directory, its checkpoints/ or one checkpoint "
        "(no DIR: the latest run of this config's name)",
    )
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (logs still written)")
    return parser


def run_main(
    parser: argparse.ArgumentParser,
    argv: list[str] | None,
    run: Callable[[argparse.Namespace], None],
    app: str,
) -> int:
    """Parse ``argv`` and ``run`` it; returns the exit status (bad input: one ``error:`` line and status 2;
    stopped by a signal: ``128 + signal`` (Ctrl-C: 130, SIGTERM: 143), with the command that continues the run
    once ``run`` has set ``args.run_dir``)."""
    args = parser.parse_intermixed_args(argv)
    if args.resume not in (None, "latest") and "=" in args.resume and not Path(args.resume).exists():
        args.overrides.insert(0, args.resume)  # `--resume key=value`: the value is an override
        args.resume = "latest"
    from protdata.distributed import LaunchError, env_rank

    try:
        rank, world = env_rank()
    except LaunchError:  # a malformed launcher variable: setup_distributed reports it inside the boundary
        rank, world = 0, 1
    try:
        with error_boundary(rank, world):
            _run_reporting_startup_failure(run, args)
    except Interrupted as stop:
        if rank == 0:
            print(
                f"{stop}: checkpoint {stop.checkpoint}; continue with: uv run apps/{app}.py --resume "
                f"{getattr(args, 'run_dir', stop.checkpoint)}",
                file=sys.stderr,
                flush=True,
            )
        return stop.exit_status
    except KeyboardInterrupt:
        where = getattr(args, "run_dir", None)
        hint = f"; continue with: uv run apps/{app}.py --resume {where}" if where else ""
        print(f"interrupted{hint}", file=sys.stderr, flush=True)
        return 130
    return 0


def _run_reporting_startup_failure(
    run: Callable[[argparse.Namespace], None], args: argparse.Namespace
) -> None:
    """``run(args)``; an error before the process group exists (a missing dataset on this rank only, a config
    error) is first sent to the other ranks of a launched run, which wait for this rank in the start-up handshake
    (:func:`engine.distributed.report_startup_failure`): every rank then stops with one line, none times out."""
    try:
        run(args)
    except Exception as exc:
        from protdata.distributed import LaunchError, launched_by_launcher

        with contextlib.suppress(LaunchError):  # a malformed launcher variable: nobody to tell
            if (
                launched_by_launcher()
            ):  # else nobody waits: no torch import for a plain process's config error
                from engine.distributed import report_startup_failure
                from engine.errors import input_error_types, one_line

                what = str(exc) if isinstance(exc, input_error_types()) else f"{type(exc).__name__}: {exc}"
                report_startup_failure(one_line(what))
        raise


def resolve_run_config(
    args: argparse.Namespace, load: Callable[[Path | None, list[str]], C]
) -> tuple[C, Path | None]:
    """``(config, checkpoint step directory to resume or None)`` of ``--config`` / ``--resume`` and the overrides;
    ``load(path, overrides)`` reads a config file (``path`` is ``None`` when no ``--config`` was given)."""
    step_dir = None
    config_path = args.config
    if args.resume not in (None, "latest"):
        step_dir = resolve_checkpoint(args.resume)
        saved = step_dir.parent.parent / "config.yaml"
        if config_path is None and saved.is_file():
            config_path = saved  # a resumed run keeps its config (overrides still apply)
    config = load(config_path, args.overrides)
    if args.resume == "latest":
        step_dir = resolve_checkpoint(latest_run(expand_path(config.output_root), config.name))
        saved = step_dir.parent.parent / "config.yaml"
        if args.config is None and saved.is_file():
            config = load(saved, args.overrides)
    return config, step_dir


def check_resume_state(
    config: Any, model: nn.Module, step_dir: Path | None, data: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """The verified checkpoint state of ``step_dir`` (its tensors fit ``model``; same schedule and micro-batches
    per step; same ``data`` facts — :func:`engine.data.data_facts` — when given; it has steps left before
    ``train.max_steps``), or ``None`` for a fresh run, whose ``output_dir`` must not hold checkpoints already."""
    from engine.checkpoint import check_parameter_shapes, verify_checkpoint

    if step_dir is not None:
        state = verify_checkpoint(step_dir)
        check_parameter_shapes(state, model, str(step_dir))
        check_same_schedule(config, state, step_dir)
        if data is not None:
            check_same_data(data, state, step_dir)
        if config.train.max_steps is not None and state["step"] >= config.train.max_steps:
            raise ConfigError(
                f"train.max_steps: {step_dir} is at step {state['step']} and the run ends at step "
                f"{config.train.max_steps}: it is finished; to train further start a new run from its weights "
                f"(init_from={step_dir.parent.parent / 'model.safetensors'})"
            )
        return state
    if config.output_dir and (expand_path(config.output_dir) / "checkpoints").exists():
        raise ConfigError(
            f"output_dir: {expand_path(config.output_dir)} already holds a run with checkpoints; continue it "
            "with --resume, or choose another output_dir"
        )
    return None


def check_same_schedule(config: Any, state: dict[str, Any], step_dir: Path) -> None:
    """Refuse to resume with settings that change the run's learning-rate schedule
    (:func:`~engine.config.schedule_settings`), or the micro-batches per optimizer step (processes × accumulation).

    Raises:
        ConfigError: naming the first changed key and both values (old → new), and what to do instead.
    """
    advice = (
        "--resume continues a run on its own learning-rate schedule: drop the change, or start a new run "
        "(init_from=<run>/model.safetensors starts from a finished run's weights)"
    )
    from engine.config import schedule_settings
    from protdata.distributed import env_rank

    saved: dict[str, Any] | None = state.get("schedule")
    current = json.loads(
        json.dumps(
            schedule_settings(
                config.optimizer, config.scheduler, config.train, getattr(config, "plateau", None)
            )
        )
    )
    if saved is None:  # a checkpoint written before the schedule was stored: its step count at least
        saved = {"train.max_steps": state.get("total_steps")} if config.train.max_steps is not None else {}
    for key in [*current, *(k for k in saved if k not in current)]:
        if key in saved:
            _refuse_change(key, saved[key], current.get(key), step_dir, advice)
    _, world = env_rank()
    old_w, old_g = int(state.get("world_size", world)), int(state.get("gradient_accumulation_steps", 1))
    new_g = config.deepspeed.gradient_accumulation_steps
    if old_w * old_g != world * new_g:
        raise ConfigError(
            f"deepspeed.gradient_accumulation_steps: {step_dir} was trained with {old_w} process(es) × {old_g} "
            f"micro-batch(es) per step, this run has {world} × {new_g} ({old_w * old_g} → {world * new_g} per "
            f"step); {advice}"
        )


def check_same_data(data: dict[str, Any], state: dict[str, Any], step_dir: Path) -> None:
    """Refuse to resume on other data: a changed dataset fingerprint (``data.dataset`` content, or the structure
    cache key of ``data.sources``) or micro-batch plan parameter would continue the run on another order of
    proteins. ``data`` is this run's :func:`engine.data.data_facts`; a checkpoint without them is not checked.

    Raises:
        ConfigError: naming what changed (old → new) and how to proceed.
    """
    saved: dict[str, Any] | None = state.get("data")
    if not saved:
        return
    advice = (
        "--resume continues a run on its own data and batches: resume with the original data and settings, or "
        "start a new run (init_from=<run>/model.safetensors starts from this run's weights)"
    )
    old_fp, new_fp = saved.get("fingerprint"), data.get("fingerprint")
    if old_fp is not None and old_fp != new_fp:
        raise ConfigError(
            f"data: {step_dir} was trained on data with fingerprint {old_fp}, this run's data has {new_fp} "
            f"(the dataset, or the files of data.sources, changed); {advice}"
        )
    for key in sorted(k for k in saved if k != "fingerprint" and k in data):
        _refuse_change(f"data.{key}", saved[key], data[key], step_dir, advice)


def _refuse_change(key: str, old: Any, new: Any, step_dir: Path, advice: str) -> None:
    """A :class:`ConfigError` when the checkpoint's ``old`` value of ``key`` differs from this run's ``new``."""
    if old != new:
        shown = ["unset" if v is None else json.dumps(v) for v in (old, new)]
        raise ConfigError(
            f"{key}: {step_dir} was trained with {shown[0]}, this run asks for {shown[1]} ({shown[0]} → "
            f"{shown[1]}); {advice}"
        )


@contextlib.contextmanager
def distributed(device: str) -> Iterator[DistContext]:
    """The process group of a run (:func:`~engine.distributed.setup_distributed`), torn down however it ends."""
    from engine.distributed import setup_distributed, teardown_distributed

    dist = setup_distributed(device)
    try:
        yield dist
    finally:
        teardown_distributed()


def main_rank_first(prepare: Callable[[], T], dist: DistContext) -> T:
    """``prepare()`` on rank 0 first (it builds or reuses the caches), then on the other ranks (they read them);
    a bad-input error on rank 0, or any error on another rank, is a :class:`DataError` on every rank, naming the
    rank (:func:`protdata.distributed.main_rank_first`)."""
    from engine.errors import input_error_types
    from protdata.distributed import main_rank_first as first

    return first(prepare, input_errors=input_error_types(), error=DataError)


def open_run_dir(config: Any, dist: DistContext, step_dir: Path | None, args: argparse.Namespace) -> Path:
    """The run directory: the resumed run's, else a new one (``output_dir``, or ``<output_root>/<name>-<time>``);
    noted in ``args.run_dir`` (for the Ctrl-C hint); checked to be the same directory on every rank
    (:func:`~engine.distributed.check_shared_directory`); rank 0 writes the resolved ``config.yaml`` into it."""
    if step_dir is not None:
        run_dir = step_dir.parent.parent
    else:
        exact = expand_path(config.output_dir) if config.output_dir else None
        run_dir = new_run_dir(expand_path(config.output_root), config.name, dist, exact)
    args.run_dir = run_dir
    from protdata.distributed import check_shared_directory

    check_shared_directory(
        run_dir
    )  # every rank must see it (checkpoints, export): else one line on every rank
    if dist.is_main:
        write_text_atomic(run_dir / "config.yaml", dump_yaml(config))
    return run_dir


def make_trainer(
    config: Any,
    model: nn.Module,
    data: Any,
    *,
    run_dir: Path,
    dist: DistContext,
    export_config: dict[str, Any],
    progress: bool,
    **extra: Any,
) -> Trainer:
    """A :class:`~engine.trainer.Trainer` with the config's optimizer, scheduler, DeepSpeed and train sections."""
    from engine.trainer import Trainer

    return Trainer(
        model,
        data,
        optimizer=config.optimizer,
        scheduler=config.scheduler,
        deepspeed=config.deepspeed,
        train=config.train,
        seed=config.seed,
        run_dir=run_dir,
        dist=dist,
        export_config=export_config,
        progress=progress,
        **extra,
    )


# ------------------------------------------------------------------------------------------ one-shot apps
def inference_parser(
    prog: str,
    doc: str,
    examples: str,
    *,
    config_help: str,
    override_example: str,
    output_metavar: str,
    output_help: str,
    inputs: bool = False,
) -> argparse.ArgumentParser:
    """The one-shot apps' parser: overrides, ``--config``, (``--input``,) ``--output``, ``--device``, ``--strict``,
    ``--print-config``; the description is the first paragraph of the app's ``doc`` and where settings come from."""
    parser = _parser(prog, doc, examples, "a YAML config", config_help, override_example)
    if inputs:
        parser.add_argument(
            "--input",
            "-i",
            action="append",
            metavar="PATH",
            help="input file / directory / glob (repeatable)",
        )
    parser.add_argument("--output", "-o", metavar=output_metavar, help=output_help)
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), help="where to run (default: auto)")
    parser.add_argument(
        "--strict",
        action="store_true",
        help="any skipped input (bad file, FASTA record, protein, row) is an error (exit 2) instead of a warning",
    )
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    return parser


def run_config_main(
    parser: argparse.ArgumentParser, argv: list[str] | None, config_cls: type[M], run: Callable[[M], Any]
) -> int:
    """Parse ``argv`` (a parser of :func:`inference_parser`), load ``config_cls`` from ``--config`` + overrides
    (``--input`` / ``--output`` / ``--device`` / ``--strict`` become overrides too), print it (``--print-config``)
    or ``run`` it; returns the exit status (bad input: one ``error:`` line and status 2)."""
    args = parser.parse_intermixed_args(argv)
    overrides = list(args.overrides)
    if getattr(args, "input", None):
        overrides.append("inputs=" + json.dumps(args.input))
    if args.output:
        overrides.append("output=" + json.dumps(args.output))
    if args.device:
        overrides.append(f"device={args.device}")
    if getattr(args, "strict", False):
        overrides.append("strict=true")
    return load_and_run(config_cls, args.config, overrides, args.print_config, run)


def load_and_run(config_cls: Any, path: Any, overrides: list[str], print_config: bool, run: Any) -> int:
    """The one-shot apps' tail: validate the config (one ``error:`` line on bad input), print it with
    ``--print-config``, else ``run(config)``; returns the exit status."""
    with error_boundary():
        config = load_config(config_cls, path, overrides)
        if print_config:
            print(dump_yaml(config), end="")
            return 0
        run(config)
    return 0
