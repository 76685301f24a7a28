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
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.alignment import AlignConfig, build_alignment_model, check_config, text_encoder
from engine.app import run_main, training_parser
from engine.config import APPS_DIR

from protdata.configfile import dump_yaml, load_config

if TYPE_CHECKING:
    from engine.distributed import DistContext

    from protalign import ProtCLIP
    from protalign.pair_files import PairTable
    from protalign.pair_loading import PairTrainingData

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
    return training_parser(
        "align.py",
        __doc__,
        EXAMPLES,
        config_source="default: apps/configs/align/protclip.yaml",
        config_help="config file (default: the ProtCLIP preset)",
        override_example="optimizer.lr=2e-5",
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (bad input: one ``error:`` line and status 2)."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # tokenisation runs in DataLoader workers
    return run_main(build_parser(), argv, run, "align")


def check_inputs(
    args: argparse.Namespace,
) -> tuple[AlignConfig, PairTable, ProtCLIP, Path | None, Any] | None:
    """Resolve the config, read the pairs, load the text encoder, build the model, verify the checkpoint to resume;
    raise on any bad input before anything is written. ``(config, pairs, model, step_dir, state)``, or ``None``
    when there is nothing to train (``--print-config``)."""
    from engine.app import check_resume_state, resolve_run_config

    config, step_dir = resolve_run_config(
        args, lambda path, overrides: load_config(AlignConfig, path or DEFAULT_CONFIG, overrides)
    )
    if args.print_config:
        print(dump_yaml(config), end="")
        return None
    from engine.builders import load_encoder_weights, resolve_path  # heavy: only once the config is good
    from engine.distributed import choose_device
    from engine.trainer import preflight

    from protalign.pair_files import load_pairs

    check_config(config)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Loading weights" bars: the app prints its own one-line description
    text_encoder(config, load=False)  # cheap checks first: a bad path must not wait for the pairs to be read
    pairs = load_pairs(config.data, key="data.sources", resolve=resolve_path)
    model = build_alignment_model(config, text_encoder(config))
    device = choose_device(config.train.device)
    preflight(model, config.optimizer, config.scheduler, config.deepspeed, config.train, device)
    state = check_resume_state(config, model, step_dir)
    if step_dir is None and config.init_from:
        load_encoder_weights(model.protein_encoder, resolve_path(config.init_from, "init_from"))
    return config, pairs, model, step_dir, state


def run(args: argparse.Namespace) -> None:
    checked = check_inputs(args)  # heavy imports only after the config is known to be good
    if checked is None:
        return
    from engine.app import distributed, make_trainer, open_run_dir
    from engine.stopping import ignore_stop_signals
    from engine.validation import alignment_validation

    from protalign.pair_loading import prepare_pair_data

    config, pairs, model, step_dir, state = checked
    # ---- processes, batches, run directory: only now is anything written
    with distributed(config.train.device) as dist:
        tokenizer = model.text_encoder.tokenizer
        pairs, validation = alignment_validation(config, pairs, tokenizer, dist)  # held-out pairs
        data = prepare_pair_data(
            pairs,
            config.model,
            tokenizer,
            config.seed,
            worker_init=ignore_stop_signals,
            **config.data.batching(),
        )
        run_dir = open_run_dir(config, dist, step_dir, args)
        if dist.is_main:
            for line in pairs.warnings():
                print(f"warning: {line}", file=sys.stderr, flush=True)
            print(_describe(config, data, model, dist, step_dir), file=sys.stderr, flush=True)
        trainer = make_trainer(
            config,
            model,
            data,  # PairTrainingData has what the trainer uses of TrainingData
            run_dir=run_dir,
            dist=dist,
            export_config={"app": "align", "run_config": config.model_dump(mode="json")},
            progress=not args.no_progress,
            validation=validation,
        )
        trainer.scheduler_config = config.scheduler.resolved(trainer.total_steps())  # warm-up ratio -> steps
        result = trainer.fit(state)
        if dist.is_main:
            print(result.summary(), flush=True)


def _describe(
    config: AlignConfig, data: PairTrainingData, model: ProtCLIP, dist: DistContext, step_dir: Path | None
) -> str:
    """One line on what is about to run."""
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
