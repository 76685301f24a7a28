"""Peak RSS of one training rank on 1,000 vs 20,000 structures: in-memory PackedProteins vs a memory-mapped dataset.

The training rank is a subprocess running ``apps/pretrain.py``'s ``main`` (a tiny GearNet, residue-type
prediction, a few optimizer steps on the CPU, ``data.num_workers=0`` so every protein is read in the measured
process, ``validation.fraction=0`` so both sizes do the same work) with ``data.dataset=DIR``; its peak RSS is ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` at exit (file
pages of a memory map that the rank touched count too), and ``before data`` is its RSS (psutil) when the store is
opened, after torch, DeepSpeed and the model are loaded; ``peak anon`` / ``peak file`` are the largest ``RssAnon``
(heap, tensors: what the data would cost every rank) and ``RssFile`` (mapped file pages — libraries and shards:
page cache, shared by the ranks of a node and reclaimable) sampled every 5 ms. Two stores of the same proteins:

* ``in-memory`` (the reference: what every rank did before ``data.dataset``) — ``PackedProteins.load`` of a
  structure-cache directory: every array read into RAM;
* ``mapped`` — ``protdata.open_dataset`` of a preprocessed dataset (shards read through memory maps); when
  protdata has no ``open_dataset`` yet, :func:`mapped_packed`: the same safetensors file as zero-copy views of
  one ``mmap``.

The structures are synthetic copies of the real ones in the shared data (AlphaFold DB models and PDB chains,
parsed once; ids renamed ``<id>~<copy>``), packed straight into the stores — no 20,000 files are parsed.
Prints each rank's peak RSS, what the data added to it, and the ratios 20k / 1k (target for the mapped store:
within 1.25). Run: ``uv run python benchmarks/bench_rank_memory.py [--sizes 1000,20000] [--steps 5]``.
"""

from __future__ import annotations

import argparse
import json
import mmap
import os
import platform
import resource
import struct
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
APPS = ROOT / "apps"


# ------------------------------------------------------------------------------------------ the stores
def real_proteins() -> list[Any]:
    """Every structure-bearing chain of the shared AlphaFold DB models and PDB chains (parsed once)."""
    from protdata.io import load_many
    from protdata.testing import shared_data

    sources = [
        shared_data("structures", "alphafold_db"),
        shared_data("structures", "experimental_mdanalysis_dssp"),
    ]
    proteins = [p for p in load_many([str(s) for s in sources]).proteins if p.has_structure and len(p) >= 30]
    return proteins


def synthetic_packed(base: Any, n: int) -> Any:
    """``n`` proteins cycling through the packed ``base`` (renamed ``<id>~<copy>``), built array by array."""
    from protdata.packed import PackedProteins

    reps = -(-n // len(base))
    order = np.tile(np.arange(len(base)), reps)[:n]
    lengths = base.lengths[order]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    rows = np.concatenate([np.arange(base.offsets[i], base.offsets[i + 1]) for i in order])
    residue = {
        name: getattr(base, name)[rows]
        for name in (
            "sequence",
            "coords",
            "atom_mask",
            "residue_number",
            "insertion_code",
            "chain_index",
            "plddt",
            "structure_tokens",
        )
    }
    return PackedProteins(
        offsets=offsets,
        **residue,
        has_plddt=base.has_plddt[order],
        has_tokens=base.has_tokens[order],
        ids=[f"{base.ids[i]}~{k}" for k, i in enumerate(order)],
        chain_ids=[list(base.chain_ids[i]) for i in order],
        sources=["" for _ in order],
        metadata={"synthetic": f"{n} copies of {len(base)} real chains"},
    )


def mapped_packed(directory: Path) -> Any:
    """A ``PackedProteins`` whose arrays are zero-copy views of one memory map of ``arrays.safetensors`` (the
    safetensors layout: 8-byte header length, JSON header with ``data_offsets``, data)."""
    from protdata.packed import ARRAYS_FILE, INDEX_FILE, PackedProteins

    dtypes = {
        "U8": np.uint8,
        "BOOL": np.bool_,
        "I16": np.int16,
        "I32": np.int32,
        "I64": np.int64,
        "F32": np.float32,
    }
    bools = {"atom_mask", "has_plddt", "has_tokens"}
    with open(directory / ARRAYS_FILE, "rb") as f:
        buffer = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    (size,) = struct.unpack("<Q", buffer[:8])
    header = json.loads(buffer[8 : 8 + size])
    arrays = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        lo, hi = meta["data_offsets"]
        dtype = dtypes[meta["dtype"]]
        view = np.frombuffer(
            buffer, dtype=dtype, count=(hi - lo) // np.dtype(dtype).itemsize, offset=8 + size + lo
        )
        view = view.reshape(meta["shape"])
        arrays[name] = view.view(np.bool_) if name in bools else view
    index = json.loads((directory / INDEX_FILE).read_text())
    return PackedProteins(**arrays, ids=index["ids"], chain_ids=index["chain_ids"], sources=index["sources"])


def write_packed_dataset(packed: Any, out: Path, shard_residues: int = 1 << 21) -> Path:
    """``packed`` written straight into a protdata sharded dataset in ``out`` (shards of at most
    ``shard_residues`` residues, the manifest ``apps/preprocess.py`` writes: order, digests, fingerprint)."""
    from protdata.dataset.manifest import FORMAT, FORMAT_VERSION, MANIFEST, fingerprint, write_json_atomic
    from protdata.dataset.parse import ParseOptions
    from protdata.dataset.shard import RESIDUE_ARRAYS, protein_digests, write_shard
    from protdata.packed import PackedProteins

    out.mkdir(parents=True)
    digests = protein_digests(packed)
    ends = np.cumsum(packed.lengths)
    shards, order, start = [], [], 0
    while start < len(packed):
        end = max(
            start + 1,
            int(np.searchsorted(ends, ends[start] - packed.lengths[start] + shard_residues, "right")),
        )
        lo, hi = int(packed.offsets[start]), int(packed.offsets[end])
        part = PackedProteins(
            offsets=packed.offsets[start : end + 1] - lo,
            **{name: getattr(packed, name)[lo:hi] for name in RESIDUE_ARRAYS},
            has_plddt=packed.has_plddt[start:end],
            has_tokens=packed.has_tokens[start:end],
            ids=packed.ids[start:end],
            chain_ids=packed.chain_ids[start:end],
            sources=packed.sources[start:end],
        )
        name = f"g000-r00000-{len(shards):05d}.safetensors"
        shards.append(write_shard(out / name, [part], [digests[start:end]]))
        order.append([len(shards) - 1, 0, end - start])
        start = end
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "proteins": len(packed),
        "residues": packed.num_residues,
        "bytes": sum(e["bytes"] for e in shards),
        "fingerprint": fingerprint([digests.tobytes()]),
        "options": ParseOptions().as_dict(),
        "sources": [],
        "shards": shards,
        "order": order,
        "n_skipped": 0,
        "too_short": 0,
        "ignored": 0,
        "generations": [],
        "skipped": [],
    }
    write_json_atomic(out / MANIFEST, manifest)
    return out


def write_stores(base: Any, n: int, root: Path) -> dict[str, Path]:
    """The stores of ``n`` synthetic proteins under ``root``: a structure-cache directory and (when protdata has
    ``open_dataset``) a sharded dataset."""
    packed = synthetic_packed(base, n)
    out = {"packed": packed.save(root / f"packed_{n}")}
    if _has_open_dataset():
        out["dataset"] = write_packed_dataset(packed, root / f"dataset_{n}")
    return out


def _has_open_dataset() -> bool:
    try:
        from protdata.dataset import open_dataset  # noqa: F401
    except ImportError:
        return False
    return True


# ------------------------------------------------------------------------------------------ the rank
def rank(mode: str, directory: Path, steps: int, out: Path) -> None:
    """One training rank (this process): pretrain on ``directory`` read as ``mode``; prints a JSON line."""
    import psutil

    sys.path.insert(0, str(APPS))
    import pretrain

    import protdata.loading
    from protdata.packed import PackedProteins

    opened: dict[str, Any] = {}
    open_dataset_dir = protdata.loading.open_training_dataset

    def open_store(path: Path, *, encode_3di: bool = False) -> Any:
        """First call (check_inputs: the fingerprint, before torch loads): the dataset opened (its manifest), or
        for the packed stores the fingerprint only — as the app does for data.sources (the cache key); second
        call (prepare_training_data, after torch, DeepSpeed and the model loaded): RSS noted, then the store."""
        if mode == "dataset":
            if "store" in opened:
                opened["rss_before_data"] = psutil.Process().memory_info().rss
            else:
                opened["store"] = open_dataset_dir(path, encode_3di=encode_3di)
            return opened["store"]
        if not opened:
            opened["stub"] = True
            return argparse.Namespace(fingerprint=f"{mode}:{path}")
        opened["rss_before_data"] = psutil.Process().memory_info().rss
        store = PackedProteins.load(path) if mode == "in-memory" else mapped_packed(path)
        store.fingerprint = f"{mode}:{path}"
        return store

    protdata.loading.open_training_dataset = open_store
    argv = [
        "data.sources=null",
        f"data.dataset={directory}",
        "data.num_workers=0",
        "data.batch_size=4",
        f"train.max_steps={steps}",
        f"train.log_every={steps}",
        "train.num_threads=1",
        "train.device=cpu",
        "encoder.hidden_dims=[32,32,32]",
        "validation.fraction=0",  # the same work at every size (1% of 1,000 is below validation.min_count)
        f"output_dir={out}",
        "--no-progress",
    ]
    sampler = _RssSampler()
    sampler.start()
    status = pretrain.main(argv)
    sampler.stop.set()
    sampler.join()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    record = {"status": status, "peak": peak, "before_data": opened.get("rss_before_data")}
    print(json.dumps({**record, "anon": sampler.peak["RssAnon"], "file": sampler.peak["RssFile"]}))


class _RssSampler(threading.Thread):
    """Samples ``RssAnon`` (heap, tensors) and ``RssFile`` (mapped file pages: shards, libraries) of this process
    every 5 ms from ``/proc/self/status``; ``peak`` holds each one's largest value in bytes."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.peak = {"RssAnon": 0, "RssFile": 0}

    def run(self) -> None:
        while not self.stop.wait(0.005):
            for line in Path("/proc/self/status").read_text().splitlines():
                key, _, value = line.partition(":")
                if key in self.peak:
                    self.peak[key] = max(self.peak[key], int(value.split()[0]) * 1024)


def run_rank(mode: str, directory: Path, steps: int, out: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--rank", mode, str(directory), "--steps", str(steps), "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"rank {mode} on {directory} failed:\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1])


# ------------------------------------------------------------------------------------------ main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,20000", help="dataset sizes (first: the reference size)")
    parser.add_argument("--steps", type=int, default=5, help="optimizer steps per rank")
    parser.add_argument("--workdir", type=Path, help="where the stores are written (default: a temp dir)")
    parser.add_argument("--rank", nargs=2, metavar=("MODE", "DIR"), help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rank:
        rank(args.rank[0], Path(args.rank[1]), args.steps, args.out)
        return

    from protdata.packed import PackedProteins

    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        root = Path(tmp)
        base = PackedProteins.from_proteins(real_proteins())
        print(
            f"{len(base)} real chains ({int(base.lengths.mean())} residues on average); "
            f"CPU: {_cpu()}; python {platform.python_version()}",
            flush=True,
        )
        stores = {n: write_stores(base, n, root) for n in sizes}
        mapped_mode = "dataset" if "dataset" in stores[sizes[0]] else "mapped-packed"
        results: dict[tuple[str, int], dict[str, Any]] = {}
        print(
            f"{'store':<14}{'proteins':>9}{'on disk MB':>12}{'peak RSS MB':>13}{'data MB':>9}"
            f"{'peak anon MB':>14}{'peak file MB':>14}",
            flush=True,
        )
        for mode in ("in-memory", mapped_mode):
            for n in sizes:
                directory = stores[n]["dataset" if mode == "dataset" else "packed"]
                r = run_rank(mode, directory, args.steps, root / f"run-{mode}-{n}")
                results[mode, n] = r
                disk = sum(p.stat().st_size for p in directory.rglob("*") if p.is_file()) / 2**20
                added = (r["peak"] - r["before_data"]) / 2**20 if r["before_data"] else float("nan")
                print(
                    f"{mode:<14}{n:>9}{disk:>12.1f}{r['peak'] / 2**20:>13.1f}{added:>9.1f}"
                    f"{r['anon'] / 2**20:>14.1f}{r['file'] / 2**20:>14.1f}",
                    flush=True,
                )
        small, large = sizes[0], sizes[-1]
        for mode in ("in-memory", mapped_mode):
            ratio = results[mode, large]["peak"] / results[mode, small]["peak"]
            verdict = (
                "" if mode == "in-memory" else f" (target <= 1.25: {'met' if ratio <= 1.25 else 'MISSED'})"
            )
            print(f"{mode}: peak RSS {large} / {small} structures = {ratio:.2f}x{verdict}")
        ratio = results["in-memory", large]["peak"] / results[mapped_mode, large]["peak"]
        print(f"{large} structures: in-memory / {mapped_mode} peak RSS = {ratio:.2f}x")


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip() + f" ({os.cpu_count()} cores)"
    except OSError:
        pass
    return platform.processor() or "unknown"


if __name__ == "__main__":
    main()
