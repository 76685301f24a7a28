"""Peak memory of ``apps/embed.py`` with per-residue output: Parquet parts streamed to ``--output DIR/`` vs the
whole-in-memory path of one output file (issue 13: per-residue output of about 1 GB in < 1.6 GB peak RSS).

    uv run python benchmarks/bench_embed_memory.py [--gb 1.0] [--dim 128]

The input is the real CAFA-like FASTA (``function/cafa_like_sequences.fasta`` of the shared data), each sequence cut
to 300 residues and repeated under new ids until the per-residue float32 embeddings (``residues x dim x 4`` bytes)
reach ``--gb``. The encoder is a one-layer ESM-2 of width ``--dim`` with random weights (time stays small; memory
depends on the output, not on the model). Each side runs in its own interpreter and reports its peak RSS
(``getrusage(RUSAGE_SELF).ru_maxrss``):

* ``floor``    — imports + the encoder, nothing embedded;
* ``streamed`` — ``apps/embed.py --output DIR/`` (inputs streamed, windows of 2,048 proteins, parts of 256 MB
  written in row groups of 16 MB);
* ``whole``    — the previous path (``read_inputs`` of everything, :func:`protdata.encoding.length_batches` over
  all proteins, every result kept, one ``write_embeddings`` to a ``.parquet`` file).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CROP = 300


def config_argv(fasta: Path, dim: int) -> list[str]:
    arch = f"{{num_layers: 1, embed_dim: {dim}, attention_heads: 4}}"
    return [
        "--config",
        str(ROOT / "apps" / "configs" / "embed" / "esm2.yaml"),
        "encoder.preset=null",
        "encoder.checkpoint=null",
        f"encoder.architecture={arch}",
        "--device",
        "cpu",
        "-i",
        str(fasta),
        "per_residue=true",
    ]


def write_fasta(path: Path, gb: float, dim: int) -> int:
    """Real sequences cut to :data:`CROP` residues, repeated until ``gb`` of per-residue output; returns the
    number of residues."""
    from protdata.fasta import read_fasta
    from protdata.testing import shared_data

    seqs = [p.sequence[:CROP] for p in read_fasta(shared_data("function", "cafa_like_sequences.fasta"))]
    target, residues, k = gb * 1e9 / (4 * dim), 0, 0
    with open(path, "w") as handle:
        while residues < target:
            seq = seqs[k % len(seqs)]
            handle.write(f">s{k}\n{seq}\n")
            residues, k = residues + len(seq), k + 1
    return residues


def child(mode: str, fasta: Path, out: Path, dim: int) -> None:
    """One side, in this interpreter; prints its peak RSS (bytes) as JSON."""
    sys.path.insert(0, str(ROOT / "apps"))
    argv = config_argv(fasta, dim)
    start = time.perf_counter()
    if mode == "streamed":
        import embed

        status = embed.main([*argv, "-o", f"{out}/"])
        assert status == 0, status
    else:
        import embed
        import torch
        from engine.inference import CPU_MAX_TOKENS, load_inference_encoder

        from protdata.configfile import load_config
        from protdata.embedding_io import write_embeddings
        from protdata.encoding import encode_proteins, length_batches
        from protdata.inputs import read_inputs

        config = load_config(
            embed.EmbedConfig,
            Path(argv[1]),
            [*argv[2:5], *argv[9:], f"inputs=[{fasta}]", f"output={out}.parquet"],
        )
        loaded = load_inference_encoder(config.encoder, None, device=torch.device("cpu"))
        if mode == "whole":  # the previous app path, step by step
            proteins = read_inputs([fasta]).proteins
            batches = length_batches([len(p) for p in proteins], config.batch_size, CPU_MAX_TOKENS)
            results = [None] * len(proteins)
            options = {"device": torch.device("cpu"), "per_residue": True}
            for item in encode_proteins(loaded.module, proteins, batches, **options):
                results[item.index] = item
            rows = [(p, r) for p, r in zip(proteins, results) if r is not None]
            write_embeddings(f"{out}.parquet", rows, {"pooling": "mean"}, "parquet")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    print(json.dumps({"peak": peak, "seconds": time.perf_counter() - start}))


def run_child(mode: str, fasta: Path, out: Path, dim: int) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", mode, "--fasta", str(fasta), "--out", str(out)]
    result = subprocess.run([*command, "--dim", str(dim)], capture_output=True, text=True, cwd=ROOT)
    if result.returncode != 0:
        sys.exit(f"{mode}: exit {result.returncode}\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def disk(path: Path) -> int:
    files = path.rglob("*") if path.is_dir() else [path]
    return sum(f.stat().st_size for f in files if f.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=1.0, help="per-residue float32 output, GB (default 1.0)")
    parser.add_argument("--dim", type=int, default=128, help="embedding width (default 128)")
    parser.add_argument(
        "--modes", default="floor,streamed,whole", help="which sides to run (default: all three)"
    )
    parser.add_argument("--child", choices=("floor", "streamed", "whole"), help=argparse.SUPPRESS)
    parser.add_argument("--fasta", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.fasta, args.out, args.dim)
        return
    work = Path(tempfile.mkdtemp(prefix="bench_embed_memory."))
    try:
        fasta = work / "input.fasta"
        residues = write_fasta(fasta, args.gb, args.dim)
        output = residues * args.dim * 4
        print(f"input: {residues:,} residues ({fasta.stat().st_size / 1e6:.0f} MB FASTA); per-residue output "
              f"{output / 1e9:.2f} GB (float32, {args.dim}-d)")  # fmt: skip
        cpu = next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if "model name" in line
            ),
            "?",
        )
        print(f"CPU: {cpu}, {os.cpu_count()} cores")
        results = {}
        for mode in args.modes.split(","):
            results[mode] = run_child(mode, fasta, work / mode, args.dim)
            on_disk = disk(work / "streamed") if mode == "streamed" else disk(work / f"{mode}.parquet")
            on_disk_text = f", {on_disk / 1e9:.2f} GB written" if mode != "floor" else ""
            print(f"{mode:>9}: peak RSS {results[mode]['peak'] / 1e9:.2f} GB in {results[mode]['seconds']:.0f} s"
                  f"{on_disk_text}", flush=True)  # fmt: skip
            if mode == "streamed":
                shutil.rmtree(work / "streamed")
        if len(results) < 3:
            return
        floor, streamed, whole = (results[m]["peak"] for m in ("floor", "streamed", "whole"))
        print(
            f"peak RSS streamed / whole: {streamed / whole:.2f} (whole / streamed: {whole / streamed:.1f}x)"
        )
        print(f"above the floor: streamed {(streamed - floor) / output:.2f}x the output, "
              f"whole {(whole - floor) / output:.2f}x the output")  # fmt: skip
        print(f"target: streamed peak < 1.6 GB: {'met' if streamed < 1.6e9 else 'NOT met'}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
