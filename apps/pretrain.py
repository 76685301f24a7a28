"""Pretrain any protstack encoder with a self-supervised objective of the seeds, on DeepSpeed.

With no arguments, ``uv run apps/pretrain.py`` trains the embedded default — a small ESM-GearNet-style model
(GearNet structure encoder, residue-type prediction) on the 50 PDB chains the repository ships in
``apps/data/demo_structures`` — on the CPU in a few minutes, and writes ``model.safetensors`` + ``config.json``,
``metrics.jsonl``, TensorBoard events, ``curves.png`` and resumable checkpoints under ``runs/<name>-<time>/``.

``--config apps/configs/pretrain/…`` runs a seed's pretraining: ESM-GearNet (serial / parallel / cross fusion)
with each of its six objectives, GearNet-Edge, FusionProt, SaProt MLM (``engine.pretraining`` says which
objective fits which encoder). Local weights and data are named by environment variables (``${ESM2_650M}``,
``${AFDB_DIR}``); nothing is downloaded. The exported ``model.safetensors`` loads into the encoder alone
(``engine.builders.load_encoder_weights``), which is how ``apps/finetune.py`` starts from it.

The same script runs on N GPUs under a launcher: ``torchrun --nproc_per_node N apps/pretrain.py --config …`` or
``deepspeed apps/pretrain.py --config …`` (ZeRO stage, precision and accumulation from the config).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from engine.builders import resolve_path
from engine.checkpoint import check_parameter_shapes, resolve_checkpoint, verify_checkpoint
from engine.config import APPS_DIR, dump_yaml, expand_path, load_config
from engine.data import TrainingData, list_structure_files, prepare_training_data
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
from engine.pretraining import (
    PretrainConfig,
    build_pretraining_model,
    check_combination,
    load_initial_weights,
    needs_3di,
    pretrained_encoder,
)
from engine.runs import latest_run, new_run_dir
from engine.trainer import Trainer, preflight

DEFAULT_CONFIG = APPS_DIR / "configs" / "default_pretrain.yaml"

EXAMPLES = """\
examples:
  uv run apps/pretrain.py                                     # the embedded default (CPU, minutes)
  uv run apps/pretrain.py train.max_steps=50 optimizer.lr=1e-3
  uv run apps/pretrain.py --config my.yaml data.sources=[/data/afdb/] encoder.hidden_dims=[512,512,512]
  ESM2_650M=~/weights/esm2_t33_650M_UR50D.pt AFDB_DIR=/data/afdb \
    uv run apps/pretrain.py --config apps/configs/pretrain/esm_gearnet/serial/mc.yaml
  SAPROT_650M_AF2=~/weights/SaProt_650M_AF2 AF2_UNIREF50_DIR=/data/af2 \
    uv run apps/pretrain.py --config apps/configs/pretrain/saprot/mlm_650m.yaml
  uv run apps/pretrain.py --resume                            # the latest run of this name, from its checkpoint
  uv run apps/pretrain.py --resume runs/pretrain-demo-20250101-120000 train.max_steps=600
  torchrun --nproc_per_node 4 apps/pretrain.py --config my.yaml deepspeed.zero_stage=2
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pretrain.py",
        description=__doc__.split("\n\n")[0]
        + " Settings come from a YAML config (default: apps/configs/default_pretrain.yaml) and key=value "
        "overrides with dotted keys; unknown keys and wrong types are errors that name the key.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. optimizer.lr=2e-4"
    )
    parser.add_argument(
        "--config", type=Path, metavar="FILE.yaml", help="config file (default: the embedded demo)"
    )
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
        hint = f"; continue with: uv run apps/pretrain.py --resume {where}" if where else ""
        print(f"interrupted{hint}", file=sys.stderr, flush=True)
        return 130
    return 0


@dataclass
class Checked:
    """Everything :func:`check_inputs` validated: nothing has been written yet."""

    config: PretrainConfig
    sources: list[Path]
    model: torch.nn.Module
    step_dir: Path | None
    state: dict[str, Any] | None
    notes: list[str]


def check_inputs(args: argparse.Namespace) -> Checked | None:
    """Resolve the config, the data sources, the model and the checkpoint to resume; raise on any bad input.
    ``None`` when there is nothing to train (``--print-config``)."""
    step_dir = None
    config_path = args.config
    if args.resume not in (None, "latest"):
        step_dir = resolve_checkpoint(args.resume)
        saved = step_dir.parent.parent / "config.yaml"
        if config_path is None and saved.is_file():
            config_path = saved  # a resumed run keeps its config (overrides still apply)
    config = load_config(PretrainConfig, config_path or DEFAULT_CONFIG, args.overrides)
    if args.resume == "latest":
        step_dir = resolve_checkpoint(latest_run(expand_path(config.output_root), config.name))
        saved = step_dir.parent.parent / "config.yaml"
        if args.config is None and saved.is_file():
            config = load_config(PretrainConfig, saved, args.overrides)
    check_combination(config)
    if args.print_config:
        print(dump_yaml(config), end="")
        return None
    sources = [resolve_path(s, "data.sources") for s in config.data.sources]
    list_structure_files(sources)
    torch.manual_seed(config.seed)
    # a resumed run or init_from brings every encoder weight: the sequence checkpoint is then not read
    model = build_pretraining_model(config, load_checkpoint=step_dir is None and not config.init_from)
    notes: list[str] = []
    device = choose_device(config.train.device)
    preflight(model, config.optimizer, config.scheduler, config.deepspeed, config.train, device)
    state = None
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
            notes.append(load_initial_weights(model, resolve_path(config.init_from, "init_from")))
    return Checked(config, sources, model, step_dir, state, notes)


def run(args: argparse.Namespace) -> None:
    checked = check_inputs(args)
    if checked is None:
        return
    config, model, step_dir = checked.config, checked.model, checked.step_dir
    # ---- processes, data, run directory: only now is anything written
    dist = setup_distributed(config.train.device)
    try:
        data = _training_data(config, dist, checked.sources)
        if step_dir is not None:
            run_dir = step_dir.parent.parent
        else:
            exact = expand_path(config.output_dir) if config.output_dir else None
            run_dir = new_run_dir(expand_path(config.output_root), config.name, dist, exact)
        args.run_dir = run_dir
        if dist.is_main:
            write_text_atomic(run_dir / "config.yaml", dump_yaml(config))
            print(_describe(config, data, model, dist, step_dir), file=sys.stderr, flush=True)
            for note in checked.notes:
                print(note, file=sys.stderr, flush=True)
        trainer = Trainer(
            model,
            data,
            optimizer=config.optimizer,
            scheduler=config.scheduler,
            deepspeed=config.deepspeed,
            train=config.train,
            seed=config.seed,
            run_dir=run_dir,
            dist=dist,
            export_config={"app": "pretrain", "config": config.model_dump(mode="json")},
            progress=not args.no_progress,
        )
        result = trainer.fit(checked.state)
        if dist.is_main:
            print(result.summary(), flush=True)
    finally:
        teardown_distributed()


def _training_data(config: PretrainConfig, dist: DistContext, sources: list[Path]) -> TrainingData:
    """Rank 0 builds (or reuses) the structure cache first, then the other ranks read it; a data error on rank 0
    is raised on every rank (so no rank waits forever)."""
    output_root = expand_path(config.output_root)
    cache_dir = expand_path(config.data.cache_dir) if config.data.cache_dir else output_root / ".cache"
    encode_3di = needs_3di(config)  # SaProt reads Foldseek 3Di strings: computed once, kept in the cache
    data, failure = None, None
    if dist.is_main:
        try:
            data = prepare_training_data(config.data, cache_dir, config.seed, sources, encode_3di=encode_3di)
        except DataError as exc:
            failure = str(exc)
    failure = broadcast_object(failure)
    if failure is not None:
        raise DataError(failure)
    if data is not None:
        return data
    return prepare_training_data(config.data, cache_dir, config.seed, sources, encode_3di=encode_3di)


def _describe(
    config: PretrainConfig, data: TrainingData, model: Any, dist: DistContext, step_dir: Path | None
) -> str:
    """One line on what is about to run."""
    encoder = type(pretrained_encoder(model)).__name__
    n_params = sum(p.numel() for p in model.parameters())
    cache = "cached" if data.cached else "cache written"
    line = (
        f"data: {len(data.packed)} proteins, {data.packed.num_residues:,} residues ({data.report['summary']}; "
        f"{cache} in {data.seconds:.1f} s); model: {type(model).__name__}({encoder}) {n_params:,} parameters; "
        f"{dist.world_size} process(es) on {dist.device.type}, ZeRO {config.deepspeed.zero_stage}"
    )
    return line + (f"; resuming from {step_dir}" if step_dir is not None else "")


if __name__ == "__main__":
    sys.exit(main())
