"""Overhead of each fusion over its sequence encoder alone (FusionProt reports ~2-5 % for its token fusion).

Side by side in one process, on the same real structures (chains of ``shared/data/structures/scop_globins``:
1tim / 8tim and the SCOPe globin domains) and the same sequence-encoder weights:

* the reference: the sequence encoder alone (protenc-seq ESM-2, random weights of a published architecture);
* ESM-GearNet's serial, parallel and cross fusion and FusionProt's token fusion with the seeds' GearNet
  (6 × 512, 7 relations; serial / token: input = the sequence width), all built by protfusion;
* GearNet alone, for context.

Timed: inference (eval, no gradients) over all batches, graphs built inside ``forward`` as in use; with ``--train``
also one training step (forward + backward of Σ protein features). Variants are interleaved in every repeat and
the median is reported, as ms per 1,000 residues and as a ratio to the sequence encoder alone. The analytic
forward FLOPs of each fusion relative to its sequence encoder are printed for the benchmarked size and for the
seeds' (ESM-2-650M + GearNet 6 × 512): GearNet's share shrinks as the sequence encoder grows, which is where
FusionProt's 2-5 % comes from. On a CUDA machine the same comparison runs for ESM-2-650M (bf16 autocast).

    uv run python benchmarks/bench_fusion.py [--size 35M] [--proteins 16] [--batch-size 4] [--repeat 3] [--threads 2]
                                            [--train]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from collections.abc import Callable

import torch
from torch import nn

from protdata import ProteinBatch, load_chains
from protdata.testing import find_shared_data
from protenc_seq import ESM2Config, ESM2Encoder
from protenc_struct import GearNet, GearNetConfig, build_gearnet_graph
from protfusion import CrossFusion, ParallelFusion, SerialFusion, TokenFusion, injection_layers, token_gearnet

GEARNET = GearNetConfig()  # ESM-GearNet / FusionProt: 6 × 512, 7 relations, concat hidden, sum readout


def load_batches(batch_size: int, count: int) -> list[ProteinBatch]:
    """The first ``count`` chains of the globin folder (1tim / 8tim first: 247 residues; then 131-169)."""
    root = find_shared_data()
    if root is None:
        sys.exit("shared/data not found (set $PROTSTACK_SHARED_DATA)")
    folder = root / "structures" / "scop_globins"
    proteins = [p for path in sorted(folder.iterdir()) for p in load_chains(path)][:count]
    return [ProteinBatch.collate(proteins[i : i + batch_size]) for i in range(0, len(proteins), batch_size)]


def variants(size: str, device: str) -> dict[str, nn.Module]:
    torch.manual_seed(0)
    seq = ESM2Encoder(ESM2Config.preset(size))
    d = seq.output_dim
    out: dict[str, nn.Module] = {
        "sequence alone": seq,
        "serial": SerialFusion(seq, GearNet(GearNetConfig(input_dim=d))),
        "parallel": ParallelFusion(seq, GearNet(GEARNET)),
        "cross": CrossFusion(seq, GearNet(GEARNET)),  # cross_dim 512, 8 heads
        "token": TokenFusion(seq, token_gearnet(GEARNET, d)),
        "GearNet alone": GearNet(GEARNET),
    }
    return {k: v.to(device).eval() for k, v in out.items()}


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def time_variants(
    models: dict[str, nn.Module], batches: list[ProteinBatch], repeat: int, device: str, train: bool
) -> dict[str, float]:
    """Median seconds over ``repeat`` passes over all batches, variants interleaved (one warm-up pass)."""

    def one_pass(model: nn.Module) -> Callable[[], None]:
        def run() -> None:
            for batch in batches:
                if train:
                    model.zero_grad(set_to_none=True)
                    model(batch).protein.sum().backward()
                else:
                    with torch.no_grad():
                        model(batch)

        return run

    runs = {name: one_pass(m.train() if train else m.eval()) for name, m in models.items()}
    for run in runs.values():
        run()  # warm-up
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeat):
        for name, run in runs.items():
            sync(device)
            start = time.perf_counter()
            run()
            sync(device)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


# ------------------------------------------------------------------------------------------ analytic FLOPs
def esm_flops(config: ESM2Config, length: int, extra_tokens: int = 0) -> float:
    """Forward FLOPs of one protein: per layer 2·(4d² projections + 2·d·ffn) per token plus 4·T·d attention."""
    t = length + 2 + extra_tokens
    d, f = config.embed_dim, config.ffn
    return config.num_layers * t * (2 * (4 * d * d + 2 * d * f) + 4 * t * d)


def gearnet_flops(dims: list[int], relations: int, nodes: int, edges: int) -> float:
    """Per layer: relational linear + self loop (2·(R + 1)·d_in·d_out per node) and the neighbour sums (E·d_in)."""
    return sum(nodes * 2 * (relations + 1) * a * b + edges * a for a, b in itertools.pairwise(dims))


def fusion_flops(config: ESM2Config, length: int, edges: int) -> dict[str, float]:
    d, hidden = config.embed_dim, GEARNET.hidden_dims
    seq = esm_flops(config, length)
    one_hot = gearnet_flops([21, *hidden], 7, length, edges)
    cross_extra = length * 2 * (d * 512 + sum(hidden) * 512) + 2 * length * (
        14 * 512 * 512 + 4 * 2 * length * 512
    )
    token_extra = (
        esm_flops(config, length, 1)
        - seq
        + gearnet_flops([d, *hidden], 8, length + 1, edges + 2 * length)
        + length * 2 * 21 * d
    )
    return {
        "serial": (seq + gearnet_flops([d, *hidden], 7, length, edges)) / seq,
        "parallel": (seq + one_hot) / seq,
        "cross": (seq + one_hot + cross_extra) / seq,
        "token": (seq + token_extra) / seq,
    }


def report(size: str, device: str, batches: list[ProteinBatch], repeat: int, train: bool) -> None:
    models = variants(size, device)
    batches = [b.to(device) for b in batches]
    residues = sum(b.num_residues for b in batches)
    config = ESM2Config.preset(size)
    schedule = injection_layers(config.num_layers, len(GEARNET.hidden_dims))
    print(f"\n== {config.name} ({config.num_layers} × {config.embed_dim}) + GearNet 6 × 512 on {device}; "
          f"{len(batches)} batches, {residues} residues; token schedule: after sequence layers {schedule}")  # fmt: skip
    graphs = [build_gearnet_graph(b) for b in batches]
    edges = sum(g.num_edges for g in graphs) / residues
    flops = fusion_flops(config, round(residues / sum(len(b) for b in batches)), round(edges * residues / sum(len(b) for b in batches)))  # fmt: skip
    modes = [False, True] if train else [False]
    for mode in modes:
        seconds = time_variants(models, batches, repeat, device, mode)
        base = seconds["sequence alone"]
        print(f"-- {'training step' if mode else 'inference'} (median of {repeat})")
        print(f"{'variant':<16}{'ms / 1k residues':>18}{'× sequence':>12}{'overhead':>10}{'FLOPs ×':>10}")
        for name, s in seconds.items():
            ratio = s / base
            analytic = (
                f"{flops[name]:.3f}" if name in flops else ("1.000" if name == "sequence alone" else "")
            )
            overhead = (
                f"{100 * (ratio - 1):+.1f} %" if name not in ("sequence alone", "GearNet alone") else ""
            )
            print(f"{name:<16}{1000 * s / residues * 1000:>18.1f}{ratio:>12.3f}{overhead:>10}{analytic:>10}")
    print(f"   ({edges:.1f} edges per residue; graph construction is included in every structure variant)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", default="35M", help="CPU sequence architecture (8M, 35M, 150M, 650M)")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--proteins", type=int, default=16, help="chains to encode per pass (of 30)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--train", action="store_true", help="also time a training step")
    parser.add_argument("--no-cuda", action="store_true")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    batches = load_batches(args.batch_size, args.proteins)

    seed = ESM2Config.preset("650M")
    lengths = [b.lengths.float().mean().item() for b in batches]
    length = round(sum(lengths) / len(lengths))
    print(f"Analytic forward FLOPs at the seeds' sizes (ESM-2-650M + GearNet 6 × 512, L = {length}, ~16 edges "
          "per residue), relative to ESM-2-650M alone:")  # fmt: skip
    for name, ratio in fusion_flops(seed, length, 16 * length).items():
        print(f"   {name:<9} {ratio:.3f}  ({100 * (ratio - 1):+.1f} %)")

    report(args.size, "cpu", batches, args.repeat, args.train)
    if torch.cuda.is_available() and not args.no_cuda:
        report("650M", "cuda", load_batches(8, 30), args.repeat, args.train)
    else:
        print("\n(no CUDA device: GPU section skipped)")


if __name__ == "__main__":
    main()
