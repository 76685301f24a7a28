"""Structure files → batched GearNet graphs (proteins/s): protenc-struct vs a per-protein reference, same process.

Pipeline timed end to end, from the file on disk to GearNet's 7-relation graph:
``protdata.load_chains`` → ``ProteinBatch.collate`` → graph. Three ways, interleaved round by round:

* ``reference``: the straightforward per-protein implementation (``protenc_struct.graph.reference``: one protein
  at a time, full L × L NumPy distance matrix and sorts), one process;
* ``ours, 1 process``: ``protenc_struct.build_gearnet_graph`` on one batch of all proteins;
* ``ours, N workers``: the same inside a ``torch.utils.data.DataLoader`` with ``--workers`` processes (each
  builds the graph of its batch of files — the way a training job feeds the model), single-threaded workers.

Both graphs are checked to be identical before timing. TorchDrug 0.2.1 (the seeds' stack, with torch-cluster)
cannot be installed here (compiled extensions); its rate on these machines and files, quoted in issue 4, is
15 proteins/s (and it drops one of the 26 files RDKit cannot read); the ratio to that figure is printed too.

    uv run python benchmarks/bench_graph.py [--repeat 10] [--workers 2] [--threads 1] [files or folders ...]

Default input: the 26 SCOPe globin domains in ../shared/data/structures/scop_globins.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from protdata import Protein, ProteinBatch, load_chains
from protdata.errors import ProtdataError
from protdata.testing import find_shared_data
from protenc_struct import ResidueGraph, build_gearnet_graph
from protenc_struct.graph.reference import reference_gearnet_edges

TORCHDRUG_PROTEINS_PER_S = 15.0  # issue 4: TorchDrug 0.2.1 + torch-cluster on these machines, these 26 files


def default_files() -> list[Path]:
    root = find_shared_data()
    if root is None:
        sys.exit("shared data not found: set $PROTSTACK_SHARED_DATA or pass files")
    return sorted((root / "structures" / "scop_globins").glob("d*"))


def expand(paths: list[str]) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        out.extend(sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p])
    return out


def read(path: Path) -> list[Protein]:
    try:
        return load_chains(path)
    except ProtdataError as err:
        print(f"skipped {path.name}: {err.reason}", file=sys.stderr)
        return []


# ------------------------------------------------------------------ the three pipelines
def reference_pipeline(files: list[Path]) -> list[np.ndarray]:
    """File by file, protein by protein: NumPy brute force, edges as (source, target, relation) rows."""
    return [reference_gearnet_edges(p.ca, p.chain_index) for path in files for p in read(path)]


def ours_pipeline(files: list[Path]) -> tuple[ProteinBatch, ResidueGraph]:
    batch = ProteinBatch.collate([p for path in files for p in read(path)])
    return batch, build_gearnet_graph(batch)


class StructureFiles(Dataset):
    def __init__(self, files: list[Path]) -> None:
        self.files = files

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> list[Protein]:
        return read(self.files[i])


def collate_graph(items: list[list[Protein]]) -> tuple[ProteinBatch, ResidueGraph]:
    batch = ProteinBatch.collate([p for proteins in items for p in proteins])
    return batch, build_gearnet_graph(batch)


def make_loader(files: list[Path], workers: int) -> DataLoader:
    batch_size = max(1, -(-len(files) // max(workers, 1)))  # one batch per worker and epoch
    return DataLoader(
        StructureFiles(files),
        batch_size=batch_size,
        num_workers=workers,
        collate_fn=collate_graph,
        persistent_workers=workers > 0,
        prefetch_factor=2 if workers > 0 else None,
    )


def loader_pipeline(loader: DataLoader) -> int:
    return sum(len(batch) for batch, _graph in loader)


# ------------------------------------------------------------------------------ checks
def check_identical(files: list[Path]) -> int:
    batch, graph = ours_pipeline(files)
    reference = reference_pipeline(files)
    offsets = batch.offsets.tolist()
    ours = torch.cat([graph.edge_index.t(), graph.relation[:, None]], dim=1).numpy()
    owner = np.searchsorted(offsets, ours[:, 1], side="right") - 1
    for b, ref in enumerate(reference):
        mine = ours[owner == b].copy()
        mine[:, :2] -= offsets[b]
        key = lambda rows: np.sort((rows[:, 0] * 1_000_003 + rows[:, 1]) * 64 + rows[:, 2])  # noqa: E731
        if not np.array_equal(key(mine), key(ref)):
            sys.exit(f"graphs differ for {batch.ids[b]}")
    return len(batch)


def best_times(fns: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Best-of-``repeat`` seconds per function, interleaved round by round (fairer on a busy machine)."""
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeat):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs="*", help="structure files or folders (default: the SCOPe globins)")
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2, help="DataLoader worker processes (the 2 cores)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads in this process")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    files = expand(args.paths) if args.paths else default_files()

    n = check_identical(files)
    print(
        f"{len(files)} files -> {n} proteins (none dropped: {n >= len(files)}); graphs identical to the reference"
    )
    loader = make_loader(files, args.workers)
    loader_pipeline(loader)  # start the workers
    times = best_times(
        {
            "reference (per protein, NumPy), 1 process": lambda: reference_pipeline(files),
            "ours (batched torch), 1 process": lambda: ours_pipeline(files),
            f"ours (batched torch), DataLoader {args.workers} workers": lambda: loader_pipeline(loader),
        },
        args.repeat,
    )
    reference = times["reference (per protein, NumPy), 1 process"]
    print(f"{'pipeline':<55} {'ms':>8} {'proteins/s':>11} {'vs reference':>13} {'vs TorchDrug':>13}")
    for name, seconds in times.items():
        rate = n / seconds
        print(
            f"{name:<55} {seconds * 1e3:8.1f} {rate:11.0f} {reference / seconds:12.1f}x "
            f"{rate / TORCHDRUG_PROTEINS_PER_S:12.0f}x"
        )
    proteins = [p for path in files for p in read(path)]
    parts = best_times(
        {
            "parse": lambda: [read(path) for path in files],
            "reference graphs": lambda: [reference_gearnet_edges(p.ca, p.chain_index) for p in proteins],
            "ours": lambda: build_gearnet_graph(ProteinBatch.collate(proteins)),
        },
        args.repeat,
    )
    print(
        f"breakdown (1 process): parsing {parts['parse'] * 1e3:.1f} ms; graphs only (parsed proteins → graphs): "
        f"reference {parts['reference graphs'] * 1e3:.1f} ms, ours (collate + batched graph) "
        f"{parts['ours'] * 1e3:.1f} ms = {parts['reference graphs'] / parts['ours']:.1f}x "
        f"({sum(len(p) for p in proteins)} residues)"
    )


if __name__ == "__main__":
    main()
