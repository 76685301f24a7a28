"""Fine-tune a protein encoder with a task head on labelled proteins (EC, GO, classes or values), on DeepSpeed.

``uv run apps/finetune.py --config apps/configs/finetune/esm_gearnet/serial_ec.yaml`` trains the config's encoder
(any protstack encoder; ``init_from`` = a pretraining export) under its prottasks head (multi-label EC / GO,
single-label, regression, the ESM2 Function Caller's ``<cls>`` head), evaluates the validation split every epoch
(Fmax, AUPR, accuracy, Spearman, …), keeps the best model, reduces the learning rate on a plateau, and writes the
last model and ``best/`` (what ``apps/predict.py`` reads), ``metrics.jsonl``, TensorBoard events, ``curves.png`` and
resumable checkpoints under ``runs/<name>-<time>/``. On N GPUs: ``torchrun --nproc_per_node N apps/finetune.py …``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.app import resolve_run_config, run_main, training_parser
from engine.config import APPS_DIR
from engine.errors import ConfigError
from engine.finetuning import FinetuneConfig, check_window, selection

from protdata.configfile import dump_yaml, load_config

PRESETS = APPS_DIR / "configs" / "finetune"

EXAMPLES = """\
examples:
  uv run apps/finetune.py --config apps/configs/finetune/esm_gearnet/serial_ec.yaml
  uv run apps/finetune.py --config apps/configs/finetune/function_caller/go_bp.yaml train.epochs=5 optimizer.lr=1e-4
  uv run apps/finetune.py --config my.yaml init_from=runs/pretrain-mc/model.safetensors
  uv run apps/finetune.py --config my.yaml --print-config          # every key, defaults included
  uv run apps/finetune.py --config my.yaml --resume                # the latest run of this name
  uv run apps/finetune.py --resume runs/ec-serial-20250101-120000 data.num_workers=4    # same schedule
  torchrun --nproc_per_node 4 apps/finetune.py --config apps/configs/finetune/esm_gearnet/serial_go_mf.yaml

presets: apps/configs/finetune/{esm_gearnet,fusionprot,function_caller,saprot}/*.yaml (pretrained weights and
data folders come from environment variables such as ESM2_650M and NRPDB_EC; nothing is downloaded).
outputs: <run>/model.safetensors + config.json (last step), <run>/best/ (best validation metric), metrics.jsonl,
tensorboard/, curves.png, checkpoints/; predict with: uv run apps/predict.py --model <run>/best -i proteins.fasta
"""


def build_parser() -> argparse.ArgumentParser:
    return training_parser(
        "finetune.py",
        __doc__,
        EXAMPLES,
        config_source="--config; presets in apps/configs/finetune/",
        config_help="config file (e.g. a preset)",
        override_example="optimizer.lr=2e-5",
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (bad input: one ``error:`` line and status 2)."""
    return run_main(build_parser(), argv, run, "finetune")


@dataclass
class Checked:
    """Everything :func:`check_inputs` validated: nothing has been written yet."""

    config: FinetuneConfig
    table: Any  # prottasks.data.LabelTable
    model: Any  # prottasks.TaskModel
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
    config, step_dir = resolve_run_config(args, _load)
    if args.print_config:
        print(dump_yaml(config), end="")
        return None
    monitor = selection(config)
    check_window(config)  # before the labels (an ontology can take seconds to read)
    import torch
    from engine.app import check_resume_state
    from engine.builders import load_encoder_weights, resolve_path
    from engine.distributed import choose_device
    from engine.finetuning import build_task_model
    from engine.trainer import preflight

    from prottasks.data import read_labels

    table = read_labels(config.data.labels, resolve=resolve_path, key="data.labels")
    torch.manual_seed(config.seed)
    # a resumed run takes every weight from its checkpoint: the sequence checkpoint is not read again
    model = build_task_model(config, table, load_checkpoint=step_dir is None)
    device = choose_device(config.train.device)
    preflight(model, config.optimizer, config.scheduler, config.deepspeed, config.train, device)
    state, init_message = check_resume_state(config, model, step_dir), None
    if step_dir is None and config.init_from:
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
    from engine.app import distributed, make_trainer, open_run_dir
    from engine.finetuning import TASK_KEY, export_task, labelled_data
    from engine.validation import BEST_DIR, Validation

    from prottasks.data import evaluate_splits
    from prottasks.heads.configs import head_kind

    config, model, step_dir = checked.config, checked.model, checked.step_dir
    with distributed(
        config.train.device
    ) as dist:  # processes, data, run directory: only now is anything written
        data = labelled_data(config, checked.table, dist)
        if step_dir is None:
            model.fit(data.train.targets)  # regression: target normalisation from the training split
        run_dir = open_run_dir(config, dist, step_dir, args)
        if dist.is_main:
            print(_describe(checked, data, dist), file=sys.stderr, flush=True)
        splits = {k: v for k, v in data.evaluation.items() if config.evaluation.test or k != "test"}
        metric, mode = checked.monitor
        kind, rank, world = head_kind(config.head), dist.rank, dist.world_size
        validation = Validation(
            lambda forward: evaluate_splits(forward, splits, kind, dist.device, rank, world),
            monitor=metric,
            mode=mode,  # type: ignore[arg-type]
            plateau=config.plateau,
            **config.evaluation.model_dump(
                include={"every_epochs", "every_steps", "export_best", "patience", "min_delta"}
            ),
        )
        run_config = config.model_dump(mode="json")
        export = {"app": "finetune", "run_config": run_config, TASK_KEY: export_task(config, checked.table)}
        trainer = make_trainer(
            config,
            model,
            data,
            run_dir=run_dir,
            dist=dist,
            export_config=export,
            progress=not args.no_progress,
            validation=validation,
        )
        result = trainer.fit(checked.state)
        where = f" -> {run_dir / BEST_DIR}/" if config.evaluation.export_best else ""
        test_key = "test_" + metric.partition("_")[2]
        test = validation.best_record.get(test_key) if metric.startswith("valid_") else None
        at_best = f"; {test_key} {test:.4f} at that step" if test is not None else ""
        best = f"{validation.best or 0:.4f} at step {validation.best_step}{at_best}{where}"
        never = f"was never finite: no best model (the last is in {run_dir}/)"
        if dist.is_main:
            table = validation.best_table()
            print(
                f"{result.summary()}\n{table + chr(10) if table else ''}"
                f"best: {metric} {never if validation.best is None else best}",
                flush=True,
            )


def _describe(checked: Checked, data: Any, dist: Any) -> str:
    """What is about to run: data, labels, model, selection, processes (then what the data report left out)."""
    config, table, model = checked.config, checked.table, checked.model
    n_params = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    labels = f"{len(table.labels)} {table.label_kind} labels" if table.labels else f"{table.kind} targets"
    structures = data.report.get("structures")
    cache = f"; structures {'cached' if data.cached else 'cache written'}: {structures}" if structures else ""
    plateau = f", plateau x{config.plateau.factor} after {config.plateau.patience}" if config.plateau else ""
    lines = [
        f"data: {data.report['summary']} proteins, {labels} ({table.kind}){cache}; model: "
        f"TaskModel({type(model.encoder).__name__}) {n_params:,} parameters ({trainable:,} trainable); "
        f"selection: {checked.monitor[0]} ({checked.monitor[1]}){plateau}; {dist.world_size} process(es) on "
        f"{dist.device.type}, ZeRO {config.deepspeed.zero_stage}"
    ]
    lines += [f"init_from: {checked.init_message}"] if checked.init_message else []
    lines += [f"resuming from {checked.step_dir}"] if checked.step_dir is not None else []
    lines += [f"note: {line}" for line in data.report.get("labels", [])]
    if skipped := data.report.get("skipped"):
        lines.append(f"note: {len(skipped)} structure files skipped (first: {': '.join(skipped[0])})")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
