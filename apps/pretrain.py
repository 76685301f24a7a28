"""Pretrain any protstack encoder with a self-supervised objective of the seeds, on DeepSpeed.

With no arguments, ``uv run apps/pretrain.py`` trains the embedded default — a small ESM-GearNet-style model
(GearNet structure encoder, residue-type prediction) on the 50 PDB chains the repository ships in
``apps/data/demo_structures`` — on the CPU in a few minutes, and writes ``model.safetensors`` + ``config.json``,
``metrics.jsonl``, TensorBoard events, ``curves.png`` and resumable checkpoints under ``runs/<name>-<time>/``.

``--config apps/configs/pretrain/…`` runs a seed's pretraining: ESM-GearNet (serial / parallel / cross fusion)
with each of its six objectives, GearNet-Edge, FusionProt, SaProt MLM (``prottasks.objectives.pretraining`` says
which objective fits which encoder). Local weights and data are named by environment variables (``${ESM2_650M}``,
``${AFDB_DIR}``); nothing is downloaded. The run directory is the trained encoder as a protstack model
(``protdata.pretrained.load_pretrained(run_dir)``; the objective's heads in ``objective.safetensors``), which is how
``apps/finetune.py`` starts from it (``init_from=<run>``).

The same script runs on N GPUs under a launcher: ``torchrun --nproc_per_node N apps/pretrain.py --config …`` or
``deepspeed apps/pretrain.py --config …`` (ZeRO stage, precision and accumulation from the config).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.app import run_main, training_parser
from engine.config import APPS_DIR, expand_path
from engine.pretraining import PretrainConfig

from protdata.configfile import dump_yaml, load_config

DEFAULT_CONFIG = APPS_DIR / "configs" / "default_pretrain.yaml"

EXAMPLES = """\
examples:
  uv run apps/pretrain.py                                     # the embedded default (CPU, minutes)
  uv run apps/pretrain.py train.max_steps=50 optimizer.lr=1e-3
  uv run apps/pretrain.py --config my.yaml data.sources=[/data/afdb/] encoder.hidden_dims=[512,512,512]
  uv run apps/preprocess.py --input /data/afdb/*.tar --output /data/afdb_ds --workers 8
  uv run apps/pretrain.py data.sources=null data.dataset=/data/afdb_ds    # memory-mapped: flat memory per rank
  ESM2_650M=~/weights/esm2_t33_650M_UR50D.pt AFDB_DIR=/data/afdb \
    uv run apps/pretrain.py --config apps/configs/pretrain/esm_gearnet/serial/mc.yaml
  SAPROT_650M_AF2=~/weights/SaProt_650M_AF2 AF2_UNIREF50_DIR=/data/af2 \
    uv run apps/pretrain.py --config apps/configs/pretrain/saprot/mlm_650m.yaml
  uv run apps/pretrain.py --resume                            # the latest run of this name, from its checkpoint
  uv run apps/pretrain.py --resume runs/pretrain-demo-20250101-120000 data.num_workers=8  # same schedule
  torchrun --nproc_per_node 4 apps/pretrain.py --config my.yaml deepspeed.zero_stage=2
"""


def build_parser() -> argparse.ArgumentParser:
    return training_parser(
        "pretrain.py",
        __doc__,
        EXAMPLES,
        config_source="default: apps/configs/default_pretrain.yaml",
        config_help="config file (default: the embedded demo)",
        override_example="optimizer.lr=2e-4",
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (bad input: one ``error:`` line and status 2)."""
    return run_main(build_parser(), argv, run, "pretrain")


@dataclass
class Checked:
    """Everything :func:`check_inputs` validated: nothing has been written yet."""

    config: PretrainConfig
    sources: list[Path] | None  # data.sources resolved (None: data.dataset)
    dataset: Path | None  # data.dataset resolved
    model: Any  # the pretraining model (torch.nn.Module)
    step_dir: Path | None
    state: dict[str, Any] | None
    notes: list[str]


def check_inputs(args: argparse.Namespace) -> Checked | None:
    """Resolve the config, the data sources, the model and the checkpoint to resume; raise on any bad input.
    ``None`` when there is nothing to train (``--print-config``)."""
    from engine.app import resolve_run_config
    from engine.builders import resolve_path

    from prottasks.objectives import check_combination

    config, step_dir = resolve_run_config(
        args, lambda path, overrides: load_config(PretrainConfig, path or DEFAULT_CONFIG, overrides)
    )
    check_combination(config.encoder, config.objective)
    if args.print_config:
        print(dump_yaml(config), end="")
        return None
    from engine.data import data_facts, data_fingerprint

    from protfusion.encoders import needs_3di

    # the data is checked on every rank before any collective: a missing input is one line, never a timeout
    sources = [resolve_path(s, "data.sources") for s in config.data.sources] if config.data.sources else None
    dataset = resolve_path(config.data.dataset, "data.dataset") if config.data.dataset else None
    fingerprint = data_fingerprint(
        config.data, sources, dataset=dataset, encode_3di=needs_3di(config.encoder)
    )
    import torch
    from engine.app import check_resume_state
    from engine.distributed import choose_device
    from engine.pretraining import build_pretraining_model
    from engine.trainer import preflight

    from prottasks.objectives import load_initial_weights

    torch.manual_seed(config.seed)
    # a resumed run or init_from brings every encoder weight: the sequence checkpoint is then not read
    model = build_pretraining_model(config, load_checkpoint=step_dir is None and not config.init_from)
    notes: list[str] = []
    device = choose_device(config.train.device)
    preflight(model, config.optimizer, config.scheduler, config.deepspeed, config.train, device)
    state = check_resume_state(config, model, step_dir, data_facts(config.data, fingerprint))
    if step_dir is None and config.init_from:
        notes.append(load_initial_weights(model, resolve_path(config.init_from, "init_from")))
    return Checked(config, sources, dataset, model, step_dir, state, notes)


def run(args: argparse.Namespace) -> None:
    """Check everything, then train on every rank and export the encoder (module docstring)."""
    checked = check_inputs(args)
    if checked is None:
        return
    from engine.app import distributed, make_trainer, open_run_dir
    from engine.validation import pretraining_validation

    from prottasks.objectives import pretrained_encoder

    config, model, step_dir = checked.config, checked.model, checked.step_dir
    # ---- processes, data, run directory: only now is anything written
    with distributed(config.train.device) as dist:
        data = _training_data(config, dist, checked.sources, checked.dataset)
        data, validation = pretraining_validation(config, data, dist, pretrained_encoder)  # held-out proteins
        run_dir = open_run_dir(config, dist, step_dir, args)
        if dist.is_main:
            print(_describe(config, data, model, dist, step_dir), file=sys.stderr, flush=True)
            for note in checked.notes:
                print(note, file=sys.stderr, flush=True)
        trainer = make_trainer(
            config,
            model,
            data,
            run_dir=run_dir,
            dist=dist,
            export_config={"app": "pretrain", "run_config": config.model_dump(mode="json")},
            export_select=pretrained_encoder,
            progress=not args.no_progress,
            validation=validation,
        )
        result = trainer.fit(checked.state)
        if dist.is_main:
            print(result.summary(), flush=True)


def _training_data(
    config: PretrainConfig, dist: Any, sources: list[Path] | None, dataset: Path | None
) -> Any:
    """Rank 0 builds (or reuses) the structure cache (or opens the dataset) first, then the other ranks read it; a
    data error on rank 0 is raised on every rank (so no rank waits forever)."""
    from engine.app import main_rank_first
    from engine.data import prepare_training_data

    from protfusion.encoders import needs_3di

    output_root = expand_path(config.output_root)
    cache_dir = expand_path(config.data.cache_dir) if config.data.cache_dir else output_root / ".cache"
    encode_3di = needs_3di(config.encoder)  # SaProt reads 3Di strings: computed once, kept in the cache
    return main_rank_first(
        lambda: prepare_training_data(
            config.data, cache_dir, config.seed, sources, encode_3di=encode_3di, dataset=dataset
        ),
        dist,
    )


def _describe(config: PretrainConfig, data: Any, model: Any, dist: Any, step_dir: Path | None) -> str:
    """One line on what is about to run."""
    from prottasks.objectives import pretrained_encoder

    encoder = type(pretrained_encoder(model)).__name__
    n_params = sum(p.numel() for p in model.parameters())
    if config.data.dataset is not None:
        prepared = f"dataset opened in {data.seconds:.1f} s"
    else:
        prepared = f"{'cached' if data.cached else 'cache written'} in {data.seconds:.1f} s"
    line = (
        f"data: {len(data.store)} proteins, {data.num_residues:,} residues ({data.report['summary']}; "
        f"{prepared}); model: {type(model).__name__}({encoder}) {n_params:,} parameters; "
        f"{dist.world_size} process(es) on {dist.device.type}, ZeRO {config.deepspeed.zero_stage}"
    )
    return line + (f"; resuming from {step_dir}" if step_dir is not None else "")


if __name__ == "__main__":
    sys.exit(main())
