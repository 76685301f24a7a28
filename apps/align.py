"""Align a protein encoder with a text encoder on protein–text pairs (ProtCLIP pretraining), on DeepSpeed.

``uv run apps/align.py`` trains ProtCLIP as the seed does (apps/configs/align/protclip.yaml: ESM-2 650M + frozen
PubMedBERT, global CLIP contrast all-gathered across ranks + protein MLM + text-to-protein fragment MLM +
prototype-guided local contrast) on pair files — UniProt flat files (optionally through ProtCLIP's property-driven
sampler), ProtAnno JSON lines, ProtST EC–text pairs — and writes ``model.safetensors`` + ``config.json`` +
``text_encoder/``, ``metrics.jsonl``, TensorBoard events, ``curves.png`` and resumable checkpoints under
``runs/<name>-<time>/``. Local weights only: the preset names them with ``${ESM2_650M}`` and ``${PUBMEDBERT_DIR}``.

On N GPUs: ``torchrun --nproc_per_node N apps/align.py …`` or ``deepspeed apps/align.py …``.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from engine.alignment import (
    AlignConfig,
    AlignmentModel,
    build_alignment_model,
    check_config,
    check_text_encoder_dir,
    load_text_encoder,
    save_text_encoder_files,
)
from engine.builders import load_encoder_weights, resolve_path
from engine.checkpoint import check_parameter_shapes, resolve_checkpoint, verify_checkpoint
from engine.config import APPS_DIR, dump_yaml, expand_path, load_config
from engine.distributed import DistContext, choose_device, env_rank, setup_distributed, teardown_distributed
from engine.errors import ConfigError, error_boundary
from engine.files import write_text_atomic
from engine.pair_data import PairTable, PairTrainingData, load_pairs, prepare_pair_data
from engine.runs import latest_run, new_run_dir
from engine.trainer import Trainer, preflight

DEFAULT_CONFIG = APPS_DIR / "configs" / "align" / "protclip.yaml"

EXAMPLES = """\
examples:
  ESM2_650M=/models/esm2_t33_650M_UR50D.pt PUBMEDBERT_DIR=/models/pubmedbert PROTANNO_TRAIN=/data/train_new.json \\
    uv run apps/align.py                                      # the seed's run (apps/configs/align/protclip.yaml)
  uv run apps/align.py data.sources=[uniprot_sprot.dat.gz] data.sampler={} train.epochs=1
  uv run apps/align.py model.weights.local_contrast=0 data.max_tokens=32768
  uv run apps/align.py --resume                               # the latest run of this name, from its checkpoint
  torchrun --nproc_per_node 8 apps/align.py deepspeed.zero_stage=1
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="align.py",
        description=__doc__.split("\n\n")[0]
        + " Settings come from a YAML config (default: apps/configs/align/protclip.yaml) and key=value overrides "
        "with dotted keys; unknown keys and wrong types are errors that name the key.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. optimizer.lr=2e-5"
    )
    parser.add_argument(
        "--config", type=Path, metavar="FILE.yaml", help="config file (default: the ProtCLIP preset)"
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
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # tokenisation runs in DataLoader workers
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Loading weights" bars: the app prints its own one-line description
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
        hint = f"; continue with: uv run apps/align.py --resume {where}" if where else ""
        print(f"interrupted{hint}", file=sys.stderr, flush=True)
        return 130
    return 0


@dataclass
class Checked:
    """Everything :func:`check_inputs` validated: nothing has been written yet."""

    config: AlignConfig
    pairs: PairTable
    model: AlignmentModel
    step_dir: Path | None
    state: dict[str, Any] | None


def check_inputs(args: argparse.Namespace) -> Checked | None:
    """Resolve the config, read the pairs, load the text encoder, build the model, verify the checkpoint to resume;
    raise on any bad input. ``None`` when there is nothing to train (``--print-config``)."""
    step_dir = None
    config_path = args.config
    if args.resume not in (None, "latest"):
        step_dir = resolve_checkpoint(args.resume)
        saved = step_dir.parent.parent / "config.yaml"
        if config_path is None and saved.is_file():
            config_path = saved  # a resumed run keeps its config (overrides still apply)
    config = load_config(AlignConfig, config_path or DEFAULT_CONFIG, args.overrides)
    if args.resume == "latest":
        step_dir = resolve_checkpoint(latest_run(expand_path(config.output_root), config.name))
        saved = step_dir.parent.parent / "config.yaml"
        if args.config is None and saved.is_file():
            config = load_config(AlignConfig, saved, args.overrides)
    if args.print_config:
        print(dump_yaml(config), end="")
        return None
    check_config(config)
    check_text_encoder_dir(config)  # cheap checks first: a bad path must not wait for the pairs to be read
    pairs = load_pairs(config.data)
    text_encoder = load_text_encoder(config)
    model = build_alignment_model(config, text_encoder)
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
            load_encoder_weights(model.protein_encoder, resolve_path(config.init_from, "init_from"))
    return Checked(config, pairs, model, step_dir, state)


def run(args: argparse.Namespace) -> None:
    checked = check_inputs(args)
    if checked is None:
        return
    config, model, step_dir = checked.config, checked.model, checked.step_dir
    # ---- processes, batches, run directory: only now is anything written
    dist = setup_distributed(config.train.device)
    try:
        data = prepare_pair_data(
            checked.pairs, config.data, config.model, model.text_encoder.tokenizer, config.seed
        )
        if step_dir is not None:
            run_dir = step_dir.parent.parent
        else:
            exact = expand_path(config.output_dir) if config.output_dir else None
            run_dir = new_run_dir(expand_path(config.output_root), config.name, dist, exact)
        args.run_dir = run_dir
        if dist.is_main:
            write_text_atomic(run_dir / "config.yaml", dump_yaml(config))
            save_text_encoder_files(model.text_encoder, run_dir)
            for line in checked.pairs.report["skipped"]:
                print(f"warning: {line}", file=sys.stderr, flush=True)
            print(_describe(config, data, model, dist, step_dir), file=sys.stderr, flush=True)
        trainer = Trainer(
            model,
            data,  # type: ignore[arg-type]  # PairTrainingData has what the trainer uses of TrainingData
            optimizer=config.optimizer,
            scheduler=config.scheduler,
            deepspeed=config.deepspeed,
            train=config.train,
            seed=config.seed,
            run_dir=run_dir,
            dist=dist,
            export_config={"app": "align", "config": config.model_dump(mode="json")},
            progress=not args.no_progress,
        )
        trainer.scheduler_config = config.scheduler.resolved(trainer.total_steps())  # warm-up ratio -> steps
        result = trainer.fit(checked.state)
        if dist.is_main:
            print(result.summary(), flush=True)
    finally:
        teardown_distributed()


def _describe(
    config: AlignConfig,
    data: PairTrainingData,
    model: torch.nn.Module,
    dist: DistContext,
    step_dir: Path | None,
) -> str:
    """One line on what is about to run."""
    assert isinstance(model, AlignmentModel)
    n_params = sum(p.numel() for p in model.parameters())
    n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
    encoders = f"{type(model.protein_encoder).__name__} + {type(model.text_encoder.model).__name__}"
    on = [k for k, w in config.model.weights.model_dump().items() if w > 0]
    line = (
        f"data: {data.pairs.summary()}; {data.plan.micro_batches_per_epoch()} micro-batches per epoch; "
        f"model: ProtCLIP({encoders}) {n_train:,} trainable of {n_params:,} parameters, objectives "
        f"{' + '.join(on)}; {dist.world_size} process(es) on {dist.device.type}, ZeRO {config.deepspeed.zero_stage}"
    )
    return line + (f"; resuming from {step_dir}" if step_dir is not None else "")


if __name__ == "__main__":
    sys.exit(main())
