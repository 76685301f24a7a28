"""End-to-end pretraining throughput (residues/s) and the share of time spent waiting for data (target < 5 %).

Three loops train the same model (the embedded default: GearNet 6 × 128 + residue-type prediction, random crops of
100 residues, 8 proteins per micro-batch) from the same initialisation on the structures the repository ships:

* ``engine``   — ``apps/engine``: DeepSpeed (ZeRO from ``--zero``), the preprocessed cache, the planned
  micro-batches, the DataLoader (``--workers``), metrics and checkpointing as in ``apps/pretrain.py``.
* ``plain``    — a bare torch loop (``torch.optim.Adam``, no DeepSpeed, no DataLoader) over batches made from the
  same cache: the floor the engine's overhead is measured against.
* ``reparse``  — the reference data path of the seeds (TorchDrug datasets re-read every structure file when a
  batch is built, torchdrug #144 / #182): each batch parses its PDB files again, then crops and collates.

Printed: residues/s of each, the ratios engine / plain and engine / reparse, and the data-wait share (engine: time
blocked on the DataLoader; reparse: time parsing + collating). A GPU section (skipped without CUDA) runs the
seed-size GearNet (6 × 512) in bf16 through the engine and reports residues/s and model FLOP utilisation
(MFU); the ESM-2 650M + GearNet fusion waits for protfusion's serial fusion model.

A CPU bf16 section trains the default model and the seed-size GearNet (6 × 512) in fp32 and with
``deepspeed.precision=bf16`` (bf16 autocast on the CPU) and prints residues/s and the bf16 / fp32 ratio, with the
bf16 ISA detected and the float32 linear kernels chosen on this CPU; then where an fp32 step's time goes (dense
GEMMs, sparse products, the rest; ``torch.profiler``) and the most bf16 GEMMs could give by Amdahl's law.

    uv run python benchmarks/bench_pretrain.py [--steps 150] [--threads 1] [--workers 0] [--zero 0] [--bf16-steps 40]
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "apps"))

from engine.config import expand_path  # noqa: E402
from engine.data import prepare_training_data  # noqa: E402
from engine.distributed import setup_distributed  # noqa: E402
from engine.pretraining import PretrainConfig, build_pretraining_model  # noqa: E402
from engine.trainer import Trainer, seed_micro_batch  # noqa: E402

from protdata import ProteinBatch, load_chains  # noqa: E402
from protdata.configfile import load_config  # noqa: E402
from protdata.device import bf16_gemm_speedup, cpu_bf16_support  # noqa: E402
from protdata.kernels import cpu_linear_backend  # noqa: E402
from protdata.transforms import build_transform  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from _profile import describe_shares, time_shares  # noqa: E402

DEFAULT = ROOT / "apps" / "configs" / "default_pretrain.yaml"


def engine_run(config: PretrainConfig, steps: int, workers: int, out: Path) -> tuple[float, float]:
    """``(residues/s, data-wait share)`` of the engine (steady state: the first 10 % of steps excluded)."""
    dist = setup_distributed(config.train.device)
    data = prepare_training_data(config.data.model_copy(update={"num_workers": workers}), out / "cache", config.seed,
                                 [expand_path(s) for s in config.data.sources])  # fmt: skip
    torch.manual_seed(config.seed)
    model = build_pretraining_model(config)
    trainer = Trainer(
        model,
        data,
        optimizer=config.optimizer,
        scheduler=config.scheduler,
        deepspeed=config.deepspeed,
        train=config.train.model_copy(update={"max_steps": steps, "log_every": max(1, steps // 10)}),
        seed=config.seed,
        run_dir=out / "run",
        dist=dist,
        export_config={},
        progress=False,
    )
    result = trainer.fit()
    steady = result.history[1:]  # drop the first window (warm-up, worker start)
    residues = sum(r["residues_per_s"] for r in steady) / len(steady)
    wait = sum(r["data_wait"] for r in steady) / len(steady)
    return residues, wait


def plain_run(config: PretrainConfig, steps: int, reparse: bool) -> tuple[float, float]:
    """``(residues/s, data share)`` of a bare torch loop; ``reparse``: batches re-read their PDB files."""
    return plain_loop(config, steps, reparse)()


def plain_loop(config: PretrainConfig, steps: int, reparse: bool) -> Callable[[], tuple[float, float]]:
    """The bare torch loop of :func:`plain_run`, built (data, model, optimizer) and ready to run."""
    data = prepare_training_data(config.data.model_copy(update={"num_workers": 0}), None, config.seed,
                                 [expand_path(s) for s in config.data.sources])  # fmt: skip
    transform = build_transform(config.data.transform)
    torch.manual_seed(config.seed)
    model = build_pretraining_model(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.optimizer.lr)
    model.train()
    return lambda: _loop(config, data, transform, model, optimizer, steps, reparse)


def _loop(
    config: PretrainConfig, data: Any, transform: Any, model: Any, optimizer: Any, steps: int, reparse: bool
) -> tuple[float, float]:
    """The timed steps of :func:`plain_loop`: ``(residues/s, data share)``, the first 10 % excluded."""
    residues, data_time, total = 0, 0.0, 0.0
    warm = max(1, steps // 10)
    for k in range(steps):
        t0 = time.perf_counter()
        _, index = data.plan.locate(k)
        proteins = []
        for i in index.tolist():
            protein = load_chains(data.packed.sources[i])[0] if reparse else data.packed.protein(i)
            proteins.append(
                transform(protein, seed_micro_batch(config.seed, k, torch.device("cpu")).seed() % 2**32)
            )
        batch = ProteinBatch.collate(proteins)
        t1 = time.perf_counter()
        generator = seed_micro_batch(config.seed, k, torch.device("cpu"))
        out = model(batch, generator=generator)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.deepspeed.gradient_clipping)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        t2 = time.perf_counter()
        if k >= warm:
            residues += batch.num_residues
            data_time += t1 - t0
            total += t2 - t0
    return residues / total, data_time / total


def cpu_bf16_section(args: argparse.Namespace, out: Path) -> None:
    """fp32 vs bf16 (autocast on the CPU, ``engine.trainer.cpu_autocast``) through the engine: the default model
    and the seed-size GearNet (6 × 512), alternating precisions round by round; best residues/s of each."""
    print(f"CPU bf16: {cpu_bf16_support().describe()}; {cpu_linear_backend().describe()}")
    speedup = bf16_gemm_speedup()
    models = {"default 6 x 128": [], "seed 6 x 512": ["encoder.hidden_dims=[512,512,512,512,512,512]"]}
    for label, dims in models.items():
        best = {"fp32": 0.0, "bf16": 0.0}
        for round_ in range(args.rounds):
            for prec in best:
                overrides = [
                    f"train.num_threads={args.threads}",
                    "train.device=cpu",
                    f"deepspeed.precision={prec}",
                ]
                config = load_config(PretrainConfig, DEFAULT, [*overrides, *dims])
                rate, _ = engine_run(config, args.bf16_steps, 0, out / f"bf16-{label[:7]}-{prec}-{round_}")
                best[prec] = max(best[prec], rate)
        print(
            f"  {label}: fp32 {best['fp32']:8,.0f}  bf16 {best['bf16']:8,.0f} residues/s   "
            f"bf16 / fp32 = {best['bf16'] / best['fp32']:.2f}x (target >= 2x on a CPU with native bf16)"
        )
        config = load_config(PretrainConfig, DEFAULT, ["train.device=cpu", *dims])
        loop = plain_loop(config, 12, reparse=False)
        loop()  # warm-up
        shares = time_shares(loop)
        gemm = shares["gemm"]
        print(
            f"    fp32 step ({describe_shares(shares)}): bf16 GEMMs alone give at most "
            f"{1 / (1 - gemm + gemm / speedup):.2f}x at the measured {speedup:.1f}x bf16 GEMM speed-up, "
            f"{1 / (1 - gemm):.2f}x with free GEMMs (Amdahl)"
        )


def gpu_section(args: argparse.Namespace, out: Path) -> None:
    if not torch.cuda.is_available():
        print("GPU: skipped (no CUDA device)")
        return
    overrides = [
        "encoder.hidden_dims=[512,512,512,512,512,512]",  # the seed's GearNet
        "deepspeed.precision=bf16",
        "data.batch_size=32",
        "data.num_workers=4",
        "train.num_threads=4",
    ]
    config = load_config(PretrainConfig, DEFAULT, overrides)
    residues, wait = engine_run(config, args.steps, 4, out / "gpu")
    # GearNet FLOPs per residue and step: per layer the relational linear (7·d_in → d_out) and the self loop
    # (d_in → d_out), 2 FLOPs per multiply-add, × 3 for forward + backward (message aggregation is sparse, ignored).
    dims = [21, *config.encoder.hidden_dims]
    flops = sum(3 * 2 * 8 * a * b for a, b in itertools.pairwise(dims))
    peak = {"H100": 989e12, "H200": 989e12, "A100": 312e12}
    name = torch.cuda.get_device_name()
    peak_flops = next((v for k, v in peak.items() if k in name), None)
    mfu = f"{100 * residues * flops / peak_flops:.2f} %" if peak_flops else "n/a (unknown peak)"
    print(
        f"GPU ({name}, bf16, GearNet 6 x 512): {residues:,.0f} residues/s, data wait {100 * wait:.1f} %, MFU {mfu}"
    )
    print("GPU: ESM-2 650M + GearNet needs protfusion's serial fusion model (not built yet): not measured")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--zero", type=int, default=0, choices=[0, 1, 2, 3])
    parser.add_argument(
        "--bf16-steps", type=int, default=40, help="steps per run of the CPU bf16 section (0: skip)"
    )
    parser.add_argument("--rounds", type=int, default=2, help="fp32 / bf16 rounds of the CPU bf16 section")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    overrides = [f"train.num_threads={args.threads}", f"deepspeed.zero_stage={args.zero}", "train.device=cpu"]
    config = load_config(PretrainConfig, DEFAULT, overrides)
    print(
        f"model: GearNet {config.encoder.hidden_dims} + {config.objective.type}; batch {config.data.batch_size} "
        f"proteins cropped to 100; {args.steps} steps; {args.threads} thread(s); {args.workers} DataLoader worker(s)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        eng, wait = engine_run(config, args.steps, args.workers, out)
        plain, _ = plain_run(config, args.steps, reparse=False)
        reparse, parse_share = plain_run(config, args.steps, reparse=True)
        print(
            f"engine  (DeepSpeed ZeRO {args.zero}, cache, DataLoader): {eng:10,.0f} residues/s   data wait {100 * wait:5.1f} %"
        )
        print(f"plain   (torch loop on the same cached batches):      {plain:10,.0f} residues/s")
        print(
            f"reparse (TorchDrug-style: parse PDB files per batch):  {reparse:10,.0f} residues/s   data share {100 * parse_share:5.1f} %"
        )
        print(f"ratio engine / plain = {eng / plain:.2f}   engine / reparse = {eng / reparse:.2f}")
        print(f"data wait {100 * wait:.1f} % (target < 5 %): {'ok' if wait < 0.05 else 'ABOVE TARGET'}")
        if args.bf16_steps:
            cpu_bf16_section(args, out)
        gpu_section(args, out)


if __name__ == "__main__":
    main()
