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
from engine.app import (
    check_resume_state,
    distributed,
    main_rank_first,
    make_trainer,
    open_run_dir,
    resolve_run_config,
    run_main,
    training_parser,
)
from engine.builders import load_encoder_weights, needs_structures, resolve_path, vocabulary
from engine.config import APPS_DIR, dump_yaml, expand_path, load_config
from engine.distributed import DistContext, choose_device
from engine.errors import ConfigError
from engine.finetuning import (
    TASK_KEY,
    FinetuneConfig,
    build_task_model,
    check_window,
    export_task,
    fit_head,
    make_evaluate,
    selection,
    task_kind,
)
from engine.labelled import LabelledTrainingData, prepare_labelled_data
from engine.labels import LabelTable, read_labels
from engine.trainer import preflight
from engine.validation import BEST_DIR, Validation

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
    config, step_dir = resolve_run_config(args, _load)
    if args.print_config:
        print(dump_yaml(config), end="")
        return None
    monitor = selection(config)
    check_window(config)  # before the labels (an ontology can take seconds to read)
    table = read_labels(config.data.labels)
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
    config, model, step_dir = checked.config, checked.model, checked.step_dir
    # ---- processes, data, run directory: only now is anything written
    with distributed(config.train.device) as dist:
        data = _labelled_data(config, checked.table, dist)
        if step_dir is None:
            fit_head(model, data.train.targets)  # regression: target normalisation from the training split
        run_dir = open_run_dir(config, dist, step_dir, args)
        if dist.is_main:
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
            "run_config": config.model_dump(mode="json"),
            TASK_KEY: export_task(config, checked.table),
        }
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

    return main_rank_first(prepare, dist)


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
