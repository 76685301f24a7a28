"""Fine-tune a protein encoder with a task head on labelled proteins (EC, GO, classes or values), on DeepSpeed.

``uv run apps/finetune.py --config apps/configs/finetune/esm_gearnet/serial_ec.yaml`` trains the config's encoder
(any protstack encoder: ESM-2 / SaProt, GearNet / GVP / CDConv, serial / parallel / cross / FusionProt fusion;
``init_from`` = a pretraining export) under its prottasks head (multi-label EC / GO, single-label, regression,
the ESM2 Function Caller's ``<cls>`` head), evaluates the validation split every epoch (Fmax, AUPR, accuracy,
Spearman, …), keeps the best model, reduces the learning rate on a plateau, and writes ``model.safetensors`` +
``config.json`` (the last model) and ``best/`` (the selected one) — what ``apps/predict.py`` reads — with
``metrics.jsonl``, TensorBoard events, ``curves.png`` and resumable checkpoints under ``runs/<name>-<time>/``.

The same script runs on N GPUs under a launcher: ``torchrun --nproc_per_node N apps/finetune.py --config …``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from engine.builders import load_encoder_weights, needs_structures, resolve_path, vocabulary
from engine.checkpoint import check_parameter_shapes, resolve_checkpoint, verify_checkpoint
from engine.config import APPS_DIR, dump_yaml, expand_path, load_config
from engine.distributed import (
    DistContext,
    broadcast_object,
    choose_device,
    env_rank,
    setup_distributed,
    teardown_distributed,
)
from engine.errors import ConfigError, DataError, error_boundary
from engine.files import write_text_atomic
from engine.finetuning import (
    TASK_KEY,
    FinetuneConfig,
    build_task_model,
    export_task,
    fit_head,
    make_evaluate,
    selection,
    task_kind,
)
from engine.labelled import LabelledTrainingData, prepare_labelled_data
from engine.labels import LabelTable, read_labels
from engine.runs import latest_run, new_run_dir
from engine.trainer import Trainer, preflight
from engine.validation import BEST_DIR, Validation

PRESETS = APPS_DIR / "configs" / "finetune"

EXAMPLES = """\
examples:
  uv run apps/finetune.py --config apps/configs/finetune/esm_gearnet/serial_ec.yaml
  uv run apps/finetune.py --config apps/configs/finetune/function_caller/go_bp.yaml train.epochs=5 optimizer.lr=1e-4
  uv run apps/finetune.py --config my.yaml init_from=runs/pretrain-mc/model.safetensors
  uv run apps/finetune.py --config my.yaml --print-config          # every key, defaults included
  uv run apps/finetune.py --config my.yaml --resume                # the latest run of this name
  uv run apps/finetune.py --resume runs/ec-serial-20250101-120000 train.epochs=60
  torchrun --nproc_per_node 4 apps/finetune.py --config apps/configs/finetune/esm_gearnet/serial_go_mf.yaml

presets: apps/configs/finetune/{esm_gearnet,fusionprot,function_caller,saprot}/*.yaml (pretrained weights and
data folders come from environment variables such as ESM2_650M and NRPDB_EC; nothing is downloaded).
outputs: <run>/model.safetensors + config.json (last step), <run>/best/ (best validation metric), metrics.jsonl,
tensorboard/, curves.png, checkpoints/; predict with: uv run apps/predict.py --model <run>/best -i proteins.fasta
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="finetune.py",
        description=__doc__.split("\n\n")[0]
        + " Settings come from a YAML config (--config; presets in apps/configs/finetune/) and key=value "
        "overrides with dotted keys; unknown keys and wrong types are errors that name the key.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. optimizer.lr=2e-5"
    )
    parser.add_argument("--config", type=Path, metavar="FILE.yaml", help="config file (e.g. a preset)")
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


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (bad input: one ``error:`` line and status 2)."""
    args = build_parser().parse_intermixed_args(argv)
    if args.resume not in (None, "latest") and "=" in args.resume and not Path(args.resume).exists():
        args.overrides.insert(0, args.resume)  # `--resume key=value`: the value is an override
        args.resume = "latest"
    rank, world = env_rank()
    try:
        with error_boundary(rank, world):
            run(args)
    except KeyboardInterrupt:
        where = getattr(args, "run_dir", None)
        hint = f"; continue with: uv run apps/finetune.py --resume {where}" if where else ""
        print(f"interrupted{hint}", file=sys.stderr, flush=True)
        return 130
    return 0


@dataclass
class Checked:
    """Everything :func:`check_inputs` validated: nothing has been written yet."""

    config: FinetuneConfig
    table: LabelTable
    model: torch.nn.Module
    monitor: tuple[str, str]
    step_dir: Path | None
    state: dict[str, Any] | None
    init_message: str | None = None


def _load(path: Path | None, overrides: list[str]) -> FinetuneConfig:
    if path is None:
        raise ConfigError(
            f"--config: give a fine-tuning config file (presets: {PRESETS}/*/*.yaml), or --resume a run"
        )
    return load_config(FinetuneConfig, path, overrides)


def check_inputs(args: argparse.Namespace) -> Checked | None:
    """Resolve the config, the labels, the model, its initial weights and the checkpoint to resume; raise on any
    bad input. ``None`` when there is nothing to train (``--print-config``)."""
    step_dir = None
    config_path = args.config
    if args.resume not in (None, "latest"):
        step_dir = resolve_checkpoint(args.resume)
        saved = step_dir.parent.parent / "config.yaml"
        if config_path is None and saved.is_file():
            config_path = saved  # a resumed run keeps its config (overrides still apply)
    config = _load(config_path, args.overrides)
    if args.resume == "latest":
        step_dir = resolve_checkpoint(latest_run(expand_path(config.output_root), config.name))
        saved = step_dir.parent.parent / "config.yaml"
        if args.config is None and saved.is_file():
            config = _load(saved, args.overrides)
    if args.print_config:
        print(dump_yaml(config), end="")
        return None
    monitor = selection(config)
    table = read_labels(config.data.labels)
    torch.manual_seed(config.seed)
    # a resumed run takes every weight from its checkpoint: the sequence checkpoint is not read again
    model = build_task_model(config, table, load_checkpoint=step_dir is None)
    device = choose_device(config.train.device)
    preflight(model, config.optimizer, config.scheduler, config.deepspeed, config.train, device)
    state, init_message = None, None
    if step_dir is not None:
        state = verify_checkpoint(step_dir)
        check_parameter_shapes(state, model, str(step_dir))
        if config.train.max_steps is not None and state["step"] >= config.train.max_steps:
            raise ConfigError(
                f"train.max_steps: {step_dir} is at step {state['step']} and the run ends at step "
                f"{config.train.max_steps}; raise train.max_steps to train longer"
            )
    else:
        if config.output_dir and (expand_path(config.output_dir) / "checkpoints").exists():
            raise ConfigError(
                f"output_dir: {expand_path(config.output_dir)} already holds a run with checkpoints; continue it "
                "with --resume, or choose another output_dir"
            )
        if config.init_from:
            try:
                target = model.get_submodule(config.init_target)
            except AttributeError:
                raise ConfigError(
                    f"init_target: the task model has no module {config.init_target!r} (e.g. encoder, "
                    "encoder.sequence, encoder.structure)"
                ) from None
            init_message = load_encoder_weights(target, resolve_path(config.init_from, "init_from"))
    return Checked(config, table, model, monitor, step_dir, state, init_message)


def run(args: argparse.Namespace) -> None:
    checked = check_inputs(args)
    if checked is None:
        return
    config, model, step_dir = checked.config, checked.model, checked.step_dir
    # ---- processes, data, run directory: only now is anything written
    dist = setup_distributed(config.train.device)
    try:
        data = _labelled_data(config, checked.table, dist)
        if step_dir is None:
            fit_head(model, data.train.targets)  # regression: target normalisation from the training split
        if step_dir is not None:
            run_dir = step_dir.parent.parent
        else:
            exact = expand_path(config.output_dir) if config.output_dir else None
            run_dir = new_run_dir(expand_path(config.output_root), config.name, dist, exact)
        args.run_dir = run_dir
        if dist.is_main:
            write_text_atomic(run_dir / "config.yaml", dump_yaml(config))
            print(_describe(checked, data, dist), file=sys.stderr, flush=True)
        kind = task_kind(config.head)
        splits = dict(data.evaluation)
        if not config.evaluation.test:
            splits.pop("test", None)
        metric, mode = checked.monitor
        validation = Validation(
            make_evaluate(splits, kind, dist.device, dist.rank, dist.world_size),
            monitor=metric,
            mode=mode,  # type: ignore[arg-type]
            every_epochs=config.evaluation.every_epochs,
            every_steps=config.evaluation.every_steps,
            plateau=config.plateau,
            export_best=config.evaluation.export_best,
        )
        export = {
            "app": "finetune",
            "config": config.model_dump(mode="json"),
            TASK_KEY: export_task(config, checked.table),
        }
        trainer = Trainer(
            model,
            data,  # type: ignore[arg-type]
            optimizer=config.optimizer,
            scheduler=config.scheduler,
            deepspeed=config.deepspeed,
            train=config.train,
            seed=config.seed,
            run_dir=run_dir,
            dist=dist,
            export_config=export,
            progress=not args.no_progress,
            validation=validation,
        )
        result = trainer.fit(checked.state)
        if dist.is_main:
            print(result.summary(), flush=True)
            if validation.best is not None:
                where = f" -> {run_dir / BEST_DIR}/" if config.evaluation.export_best else ""
                print(
                    f"best: {metric} {validation.best:.4f} at step {validation.best_step}{where}", flush=True
                )
            else:
                print(
                    f"best: {metric} was never finite: no best model (the last is in {run_dir}/)", flush=True
                )
    finally:
        teardown_distributed()


def _labelled_data(config: FinetuneConfig, table: LabelTable, dist: DistContext) -> LabelledTrainingData:
    """Rank 0 builds (or reuses) the structure cache first, then the other ranks read it; a data error on rank 0
    is raised on every rank (so no rank waits forever)."""
    output_root = expand_path(config.output_root)
    cache_dir = expand_path(config.data.cache_dir) if config.data.cache_dir else output_root / ".cache"

    def prepare() -> LabelledTrainingData:
        return prepare_labelled_data(
            config.data,
            table,
            needs_structures=needs_structures(config.encoder),
            encode_3di=vocabulary(config.encoder) == "saprot",
            cache_dir=cache_dir,
            seed=config.seed,
            resolve=resolve_path,
        )

    data, failure = None, None
    if dist.is_main:
        try:
            data = prepare()
        except DataError as exc:
            failure = str(exc)
    failure = broadcast_object(failure)
    if failure is not None:
        raise DataError(failure)
    return data if data is not None else prepare()


def _describe(checked: Checked, data: LabelledTrainingData, dist: DistContext) -> str:
    """What is about to run: data, labels, model, selection, processes (then what the data report left out)."""
    config, table, model = checked.config, checked.table, checked.model
    encoder = type(getattr(model, "encoder", model)).__name__
    n_params = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    labels = f"{len(table.labels)} {table.label_kind} labels" if table.labels else "regression targets"
    structures = data.report.get("structures")
    cache = f"; structures {'cached' if data.cached else 'cache written'}: {structures}" if structures else ""
    plateau = f", plateau x{config.plateau.factor} after {config.plateau.patience}" if config.plateau else ""
    lines = [
        f"data: {data.report['summary']} proteins, {labels} ({table.kind}){cache}; model: "
        f"{type(model).__name__}({encoder}) {n_params:,} parameters ({trainable:,} trainable); selection: "
        f"{checked.monitor[0]} ({checked.monitor[1]}){plateau}; {dist.world_size} process(es) on "
        f"{dist.device.type}, ZeRO {config.deepspeed.zero_stage}"
    ]
    if checked.init_message:
        lines.append(f"init_from: {checked.init_message}")
    if checked.step_dir is not None:
        lines.append(f"resuming from {checked.step_dir}")
    lines += [f"note: {line}" for line in data.report.get("labels", [])]
    skipped = data.report.get("skipped") or []
    if skipped:
        source, error, reason = skipped[0]
        lines.append(f"note: {len(skipped)} structure files skipped (first: {source}: {error}: {reason})")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
